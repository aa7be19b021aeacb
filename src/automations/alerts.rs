//! Calendar alerts: shortly before an event starts, its creator gets a
//! `calendar:alert` event on their socket room. The alert is recorded in the
//! event's `meta.alerted_at`, so it goes out once, across restarts.

use serde_json::{json, Value};

use crate::db::{self, calendars};
use crate::events;
use crate::state::AppState;

const MINUTE_NS: i64 = 60 * 1_000_000_000;
/// The widest per-event lookahead considered (`meta.alert_minutes`).
const MAX_LOOKAHEAD_NS: i64 = 60 * MINUTE_NS;

/// Default minutes of warning: `CALENDAR_ALERT_LOOKAHEAD_MINUTES` (default 10).
fn default_lookahead_ns() -> i64 {
    std::env::var("CALENDAR_ALERT_LOOKAHEAD_MINUTES")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(10)
        * MINUTE_NS
}

/// Sends the alerts that are due now; `grace_ns` keeps "at start time"
/// alerts from being missed between two polls.
pub async fn check(state: &AppState, grace_ns: i64) -> anyhow::Result<()> {
    let now = db::now_nanos();
    let default_ns = default_lookahead_ns();
    let upper = now + default_ns.max(MAX_LOOKAHEAD_NS);
    let events = state
        .db
        .read(move |c| calendars::starting_between(c, now - grace_ns, upper))
        .await?;
    for e in events {
        let lookahead = match e.meta.as_ref().and_then(|m| m.get("alert_minutes")) {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(m) if m < 0.0 => continue,
                Some(m) => (m * MINUTE_NS as f64) as i64,
                None => default_ns,
            },
            _ => default_ns,
        };
        if e.start_at > now + lookahead {
            continue;
        }
        let (id, start) = (e.id.clone(), e.start_at);
        let fresh = state
            .db
            .write(move |c| calendars::mark_alerted(c, &id, start))
            .await?;
        if !fresh {
            continue;
        }
        let minutes_until = ((e.start_at - now) / MINUTE_NS).max(0);
        let alert = json!({"data": {"type": "calendar:alert", "data": {
            "event_id": e.id,
            "title": e.title,
            "description": e.description.clone().unwrap_or_default(),
            "start_at": e.start_at,
            "minutes_until": minutes_until,
            "calendar_id": e.calendar_id,
            "location": e.location.clone().unwrap_or_default(),
        }}});
        events::to_user(state, &e.user_id, "events", &alert).await;
    }
    Ok(())
}
