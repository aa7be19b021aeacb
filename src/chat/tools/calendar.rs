//! The calendar tools: find, add, change and delete events in the calendars
//! the user may use. Times are read and shown in the user's time zone
//! ("2026-04-20 09:00"); changing an event needs write access to its
//! calendar, as the calendar routes require.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};
use serde_json::{json, Map, Value};

use super::{arg_int, arg_str, params, ToolCx};
use crate::access;
use crate::automations::tz::{self, Zone};
use crate::db;
use crate::db::calendars::{self as store, CalendarRow, EventRow, EventUpdate, NewEvent};

pub const NAMES: [&str; 4] = [
    "search_calendar_events",
    "create_calendar_event",
    "update_calendar_event",
    "delete_calendar_event",
];

const HOUR_NS: i64 = 3_600_000_000_000;
const DEFAULT_REMINDER: i64 = 10;
const MAX_TEXT_CHARS: usize = 10_000;

pub fn spec(name: &str) -> Value {
    let int = |d: &str| json!({"type": "integer", "description": d});
    let string = |d: &str| json!({"type": "string", "description": d});
    let boolean = |d: &str| json!({"type": "boolean", "description": d});
    let reminder =
        "Minutes before the start to notify the user (default 10); 0 at the start, -1 not at all.";
    let (description, parameters) = match name {
        "search_calendar_events" => (
            "Find events and reminders in the user's calendars by words (title, description, place) and/or by when they start.",
            params(
                json!({
                    "query": string("Words to look for."),
                    "start": string("Only events starting at or after this local time, e.g. \"2026-04-20 00:00\"."),
                    "end": string("Only events starting before this local time."),
                    "count": int("How many at most (default 10)."),
                }),
                &[],
            ),
        ),
        "create_calendar_event" => (
            "Add an event, reminder or alarm to the user's calendar (\"remind me…\", \"put … in my calendar\"). For a plain reminder leave out the end and set reminder_minutes to 0.",
            params(
                json!({
                    "title": string("What it is."),
                    "start": string("When it starts, in the user's local time, e.g. \"2026-04-20 09:00\"."),
                    "end": string("When it ends, local time (one hour after the start when left out)."),
                    "description": string("Notes."),
                    "calendar_id": string("Which calendar (the user's default when left out)."),
                    "all_day": boolean("A whole-day event (default false)."),
                    "location": string("Where."),
                    "reminder_minutes": int(reminder),
                }),
                &["title", "start"],
            ),
        ),
        "update_calendar_event" => (
            "Change an event; fields left out stay as they are.",
            params(
                json!({
                    "event_id": string("The event's id."),
                    "title": string("A new title."),
                    "description": string("New notes."),
                    "start": string("A new start, local time."),
                    "end": string("A new end, local time."),
                    "all_day": boolean("Whether it takes the whole day."),
                    "location": string("A new place."),
                    "is_cancelled": boolean("True cancels the event."),
                    "reminder_minutes": int(reminder),
                }),
                &["event_id"],
            ),
        ),
        _ => (
            "Delete an event for good.",
            params(json!({"event_id": string("The event's id.")}), &["event_id"]),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    match name {
        "search_calendar_events" => search(cx, args).await,
        "create_calendar_event" => create(cx, args).await,
        "update_calendar_event" => update(cx, args).await,
        _ => delete(cx, args).await,
    }
}

fn zone(cx: &ToolCx<'_>) -> Option<Zone> {
    tz::of_user(cx.caller.user.timezone.as_deref())
}

/// A time the model wrote: with an offset it is exact, without one it is
/// read in the user's zone. Nanoseconds, on a whole millisecond.
fn to_ns(text: &str, zone: Option<&Zone>) -> Option<i64> {
    let t = text.trim();
    if let Ok(exact) = DateTime::parse_from_rfc3339(t) {
        return exact.timestamp_millis().checked_mul(1_000_000);
    }
    let local = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    // Years a calendar can hold (and zone arithmetic cannot overflow on).
    .filter(|l| (1..=9999).contains(&l.year()))?;
    tz::to_utc(zone, local)
        .and_utc()
        .timestamp_millis()
        .checked_mul(1_000_000)
}

fn parsed(text: &str, zone: Option<&Zone>, what: &str) -> anyhow::Result<i64> {
    to_ns(text, zone).ok_or_else(|| {
        anyhow::anyhow!("The {what} time is not readable; write it like \"2026-04-20 09:00\".")
    })
}

fn local_text(ns: i64, zone: Option<&Zone>) -> String {
    let utc = DateTime::from_timestamp(ns.div_euclid(1_000_000_000), 0)
        .unwrap_or_default()
        .naive_utc();
    tz::to_local(zone, utc).format("%Y-%m-%d %H:%M").to_string()
}

fn event_json(e: &EventRow, zone: Option<&Zone>) -> Value {
    let reminder = e
        .meta
        .as_ref()
        .and_then(|m| m.get("alert_minutes"))
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or(json!(DEFAULT_REMINDER));
    json!({
        "id": e.id, "calendar_id": e.calendar_id, "title": e.title,
        "description": e.description.clone().unwrap_or_default(),
        "start": local_text(e.start_at, zone),
        "end": e.end_at.map(|t| local_text(t, zone)),
        "all_day": e.all_day, "location": e.location.clone().unwrap_or_default(),
        "reminder_minutes": reminder, "color": e.color, "is_cancelled": e.is_cancelled,
    })
}

/// A bounded optional text argument.
fn text(args: &Map<String, Value>, key: &str) -> anyhow::Result<Option<String>> {
    match arg_str(args, key) {
        Some(s) if s.chars().count() > MAX_TEXT_CHARS => {
            anyhow::bail!("The {key} is too long (at most {MAX_TEXT_CHARS} characters).")
        }
        other => Ok(other.map(str::to_string)),
    }
}

fn flag(args: &Map<String, Value>, key: &str) -> Option<bool> {
    match args.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(matches!(s.to_lowercase().as_str(), "true" | "1" | "yes")),
        _ => None,
    }
}

async fn search(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let zone = zone(cx);
    let count = arg_int(args, "count").unwrap_or(10).clamp(1, 100);
    let query = arg_str(args, "query")
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    let (start, end) = (
        arg_str(args, "start").filter(|s| !s.is_empty()),
        arg_str(args, "end").filter(|s| !s.is_empty()),
    );
    let uid = cx.caller.id().to_string();
    if start.is_none() && end.is_none() {
        let (rows, total) = cx
            .state
            .db
            .read(move |c| {
                let ids = store::readable_ids(c, &uid)?;
                store::search_events(c, &ids, query.as_deref(), 0, count)
            })
            .await?;
        let events: Vec<Value> = rows.iter().map(|e| event_json(e, zone.as_ref())).collect();
        return Ok(json!({"events": events, "total": total}));
    }
    let from = start
        .map(|s| parsed(s, zone.as_ref(), "start"))
        .transpose()?
        .unwrap_or(0);
    let until = end
        .map(|s| parsed(s, zone.as_ref(), "end"))
        .transpose()?
        .unwrap_or(i64::MAX);
    let rows = cx
        .state
        .db
        .read(move |c| {
            let ids = store::readable_ids(c, &uid)?;
            store::events_in_range(c, &uid, &ids, from, until)
        })
        .await?;
    let hits: Vec<&EventRow> = rows
        .iter()
        .filter(|e| {
            query.as_deref().is_none_or(|q| {
                [Some(&e.title), e.description.as_ref(), e.location.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|t| t.to_lowercase().contains(q))
            })
        })
        .collect();
    let events: Vec<Value> = hits
        .iter()
        .take(count as usize)
        .map(|e| event_json(e, zone.as_ref()))
        .collect();
    Ok(json!({"events": events, "total": hits.len()}))
}

/// The calendar, when the caller may write to it.
async fn writable(cx: &ToolCx<'_>, calendar_id: &str) -> anyhow::Result<CalendarRow> {
    match access::calendar(cx.state, cx.caller, calendar_id, "write").await {
        Ok(cal) => Ok(cal),
        Err(crate::error::ApiError::NotFound(_)) => anyhow::bail!("No calendar has that id."),
        Err(crate::error::ApiError::Forbidden(_)) => {
            anyhow::bail!("You may not change that calendar.")
        }
        Err(e) => Err(e.into()),
    }
}

/// The user's default calendar (made when they have none yet).
async fn default_calendar(cx: &ToolCx<'_>) -> anyhow::Result<String> {
    let (uid, now) = (cx.caller.id().to_string(), db::now_nanos());
    let calendars = cx
        .state
        .db
        .write(move |c| store::list_for_user(c, &uid, now))
        .await?;
    let own: Vec<&CalendarRow> = calendars
        .iter()
        .filter(|c| c.user_id == cx.caller.id())
        .collect();
    own.iter()
        .find(|c| c.is_default)
        .or(own.first())
        .or(calendars.iter().find(|c| c.is_default).as_ref())
        .map(|c| c.id.clone())
        .ok_or_else(|| anyhow::anyhow!("You have no calendar to add the event to."))
}

fn reminder(args: &Map<String, Value>) -> Option<i64> {
    arg_int(args, "reminder_minutes").map(|m| m.clamp(-1, 525_600))
}

async fn create(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let title = text(args, "title")?.filter(|t| !t.trim().is_empty());
    let Some(title) = title else {
        anyhow::bail!("The event needs a title.");
    };
    let calendar_id = match arg_str(args, "calendar_id").filter(|s| !s.is_empty()) {
        Some(id) => id.to_string(),
        None => default_calendar(cx).await?,
    };
    writable(cx, &calendar_id).await?;
    let zone = zone(cx);
    let all_day = flag(args, "all_day").unwrap_or(false);
    let start = parsed(arg_str(args, "start").unwrap_or(""), zone.as_ref(), "start")?;
    let end = match arg_str(args, "end").filter(|s| !s.is_empty()) {
        Some(e) => Some(parsed(e, zone.as_ref(), "end")?),
        None if !all_day => Some(start.saturating_add(HOUR_NS)),
        None => None,
    };
    let new = NewEvent {
        calendar_id,
        title,
        description: text(args, "description")?,
        start_at: start,
        end_at: end,
        all_day,
        rrule: None,
        color: None,
        location: text(args, "location")?,
        data: None,
        meta: Some(json!({"alert_minutes": reminder(args).unwrap_or(DEFAULT_REMINDER)})),
    };
    let (uid, now) = (cx.caller.id().to_string(), db::now_nanos());
    let event = cx
        .state
        .db
        .write(move |c| store::insert_event(c, &uid, &new, now))
        .await?;
    let mut out = json!({"status": "success"});
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), event_json(&event, zone.as_ref())) {
        o.extend(e);
    }
    Ok(out)
}

/// The event, when the caller may write to its calendar.
async fn writable_event(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<EventRow> {
    let id = arg_str(args, "event_id").unwrap_or("").to_string();
    let Some(event) = cx.state.db.read(move |c| store::get_event(c, &id)).await? else {
        anyhow::bail!("No event has that id.");
    };
    writable(cx, &event.calendar_id)
        .await
        .map_err(|_| anyhow::anyhow!("No event you may change has that id."))?;
    Ok(event)
}

async fn update(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let event = writable_event(cx, args).await?;
    let zone = zone(cx);
    let time = |k: &str| -> anyhow::Result<Option<i64>> {
        arg_str(args, k)
            .map(|t| parsed(t, zone.as_ref(), k))
            .transpose()
    };
    let change = EventUpdate {
        title: text(args, "title")?,
        description: text(args, "description")?.map(Some),
        start_at: time("start")?,
        end_at: time("end")?.map(Some),
        all_day: flag(args, "all_day"),
        location: text(args, "location")?.map(Some),
        is_cancelled: flag(args, "is_cancelled"),
        meta: reminder(args).map(|m| json!({"alert_minutes": m})),
        ..Default::default()
    };
    let (id, now) = (event.id.clone(), db::now_nanos());
    let Some(updated) = cx
        .state
        .db
        .write(move |c| store::update_event(c, &id, &change, now))
        .await?
    else {
        anyhow::bail!("No event has that id.");
    };
    let mut out = json!({"status": "success"});
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), event_json(&updated, zone.as_ref()))
    {
        o.extend(e);
    }
    Ok(out)
}

async fn delete(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let event = writable_event(cx, args).await?;
    let id = event.id.clone();
    cx.state
        .db
        .write(move |c| store::delete_event(c, &id))
        .await?;
    Ok(json!({
        "status": "success",
        "message": format!("The event \"{}\" was deleted.", event.title),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_leniently_and_never_overflow() {
        let at = |t: &str| to_ns(t, None);
        assert_eq!(at("1970-01-01 00:01"), Some(60_000_000_000));
        assert_eq!(at("1970-01-01T00:01:00"), Some(60_000_000_000));
        assert_eq!(at("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(at("1970-01-01T01:00:00+01:00"), Some(0));
        for bad in ["soon", "", "+262143-01-01 00:00", "99999-01-01 00:00"] {
            assert_eq!(at(bad), None, "{bad}");
        }
        assert_eq!(local_text(60_000_000_000, None), "1970-01-01 00:01");
    }
}
