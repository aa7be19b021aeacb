//! One-shot timers a model sets with the `timer` tool. Each is an internal
//! chat (`meta.type` = `timer`, hidden from every list) holding the prompt
//! and what the turn that set it ran with (`meta.run`); `timer_at` holds the
//! due time while it waits. A poll every second claims the due ones
//! (`pending` → `running`); when one fires, its prompt and an empty reply are
//! added to the chat it was set in, under the newest finished reply, and a
//! turn answers it there. A timer whose turn cannot start (its model is gone)
//! leaves that reply finished with the error, and the timer in `error`.
//! A timer may also be cancelled before it fires, when the chat is read or
//! the user writes in it (`cancel_on`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::launch::{self, Launch};
use crate::auth::Caller;
use crate::db::{self, chats, chats::timers as store, users};
use crate::events;
use crate::state::AppState;

/// The events that may cancel a timer before it fires.
pub const CANCEL_EVENTS: [&str; 2] = ["chat.read", "chat.user_message"];
/// Due timers one poll claims.
const CLAIM_BATCH: i64 = 10;
/// Errors are kept on the timer at this length.
const MAX_ERROR_CHARS: usize = 500;

/// Seconds between polls: `TIMER_POLL_INTERVAL` (upstream's variable),
/// default 1, at least 1.
fn poll_interval() -> Duration {
    let secs = std::env::var("TIMER_POLL_INTERVAL")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 3600);
    Duration::from_secs(secs)
}

/// When `at` falls: a relative time (`10s`, `5 min`, `in 2 hours`, `+1d`)
/// or an RFC 3339 time with its offset, in Unix nanoseconds; it must be
/// later than `now_ns`.
pub fn parse_at(at: &str, now_ns: i64) -> Result<i64, String> {
    let raw = at.trim();
    if let Some(offset) = relative_ns(&raw.to_lowercase()) {
        return match offset {
            Some(ns) if ns > 0 => Ok(now_ns.saturating_add(ns)),
            _ => Err("the time must lie in the future.".into()),
        };
    }
    let shape =
        regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
            .expect("valid pattern");
    let when = shape
        .is_match(raw)
        .then(|| DateTime::parse_from_rfc3339(raw).ok())
        .flatten()
        .ok_or_else(|| {
            "use a relative time such as 30s, 10m or in 2 hours, or an RFC 3339 time with \
             its offset (2030-01-31T09:00:00+01:00)."
                .to_string()
        })?;
    let due = when
        .timestamp_nanos_opt()
        .ok_or("that time is out of range.")?;
    if due <= now_ns {
        return Err("the time must lie in the future.".into());
    }
    Ok(due)
}

/// A relative time in nanoseconds: `Some(None)` for one that overflows.
fn relative_ns(text: &str) -> Option<Option<i64>> {
    let shape = regex::Regex::new(
        r"^(?:\+|in\s+)?(\d+)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hour|hours|d|day|days)$",
    )
    .expect("valid pattern");
    let caps = shape.captures(text)?;
    let count: i64 = match caps[1].parse() {
        Ok(n) => n,
        Err(_) => return Some(None),
    };
    let unit: i64 = match &caps[2][..1] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 86_400,
    };
    Some(count.checked_mul(unit * 1_000_000_000))
}

/// UTC in ISO 8601 with a `Z`, microseconds when there are any.
fn iso_utc(ns: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_nanos(ns);
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// What the `timer` tool was asked for, and the turn it was asked in.
pub struct NewTimer<'a> {
    pub user_id: &'a str,
    pub chat_id: &'a str,
    pub message_id: &'a str,
    pub model_id: &'a str,
    pub prompt: &'a str,
    pub at: &'a str,
    pub cancel_on: Vec<String>,
    /// What the turn ran with (`model_id`, `session_id`, `tool_ids`,
    /// `chat_context`, …), for the turn the timer starts.
    pub run: Value,
}

/// Stores a timer; the text is the tool's result.
pub async fn create(state: &AppState, t: NewTimer<'_>) -> String {
    let prompt = t.prompt.trim().to_string();
    if prompt.is_empty() {
        return "Error: the prompt is empty; say what should happen when the timer fires.".into();
    }
    let due = match parse_at(t.at, db::now_nanos()) {
        Ok(due) => due,
        Err(why) => return format!("Error: at: {why}"),
    };
    let mut cancel_on: Vec<String> = Vec::new();
    for event in t.cancel_on {
        if !CANCEL_EVENTS.contains(&event.as_str()) {
            return format!(
                "Error: cancel_on may name only {}.",
                CANCEL_EVENTS.join(" and ")
            );
        }
        if !cancel_on.contains(&event) {
            cancel_on.push(event);
        }
    }
    let (timer_id, prompt_id) = (db::new_id(), db::new_id());
    let now = db::now_secs();
    let title: String = prompt.chars().take(60).collect();
    let chat = json!({
        "id": timer_id,
        "title": format!("Timer: {title}"),
        "models": [t.model_id],
        "history": {
            "currentId": prompt_id,
            "messages": {prompt_id.clone(): {
                "id": prompt_id, "parentId": null, "childrenIds": [], "role": "user",
                "content": prompt, "timestamp": now, "models": [t.model_id],
            }},
        },
        "messages": [{"role": "user", "content": prompt}],
    });
    let meta = json!({
        "internal": true,
        "type": "timer",
        "parent_chat_id": t.chat_id,
        "parent_message_id": t.message_id,
        "timer_at": due,
        "status": "pending",
        "timer_model_id": t.model_id,
        "timer_task_message_id": prompt_id,
        "cancel_on": cancel_on,
        "run": t.run,
    });
    let new = chats::NewChat {
        id: timer_id.clone(),
        user_id: t.user_id.to_string(),
        chat,
        meta,
        ..Default::default()
    };
    let stored = state
        .db
        .write(move |c| {
            chats::insert(c, &new, now)?;
            store::set_timer_at(c, &new.id, Some(due))
        })
        .await;
    if let Err(e) = stored {
        tracing::error!(error = ?e, "could not store a timer");
        return "Error: the timer could not be stored; try again later.".into();
    }
    json!({"status": "set", "at": iso_utc(due), "cancel_on": cancel_on}).to_string()
}

/// Cancels the pending timers `user_id` set in `chat_id` that asked to be
/// cancelled by `event`.
pub async fn cancel_for_chat(state: &AppState, chat_id: &str, event: &str, user_id: &str) {
    let (cid, uid, event) = (chat_id.to_string(), user_id.to_string(), event.to_string());
    let done = state
        .db
        .write(move |c| {
            let now_ns = db::now_nanos();
            for (id, meta) in store::pending_for_parent(c, &cid, &uid)? {
                let listed = meta
                    .get("cancel_on")
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.iter().any(|e| e.as_str() == Some(event.as_str())));
                if !listed {
                    continue;
                }
                let patch = json!({
                    "status": "cancelled",
                    "timer_cancelled_at": now_ns,
                    "timer_cancelled_by": event,
                });
                store::patch_meta(c, &id, as_map(&patch), None, db::now_secs())?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = done {
        tracing::warn!(error = ?e, chat = %chat_id, "could not cancel the chat's timers");
    }
}

fn as_map(v: &Value) -> &Map<String, Value> {
    v.as_object().expect("an object literal")
}

/// Stops the poll when dropped.
pub struct PollGuard(tokio::task::JoinHandle<()>);

impl Drop for PollGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts polling for due timers.
pub fn start(state: AppState) -> PollGuard {
    PollGuard(tokio::spawn(async move {
        let interval = poll_interval();
        loop {
            match claim_due(&state).await {
                Ok(claimed) => {
                    for (id, claim) in claimed {
                        let state = state.clone();
                        tokio::spawn(async move { fire(&state, &id, &claim).await });
                    }
                }
                Err(e) => tracing::warn!(error = ?e, "timer poll failed"),
            }
            tokio::time::sleep(interval).await;
        }
    }))
}

/// Moves the due timers to `running`, each with a claim id of its own.
async fn claim_due(state: &AppState) -> anyhow::Result<Vec<(String, String)>> {
    let now_ns = db::now_nanos();
    let claimed = state
        .db
        .write(move |c| {
            let mut out = Vec::new();
            for id in store::due(c, now_ns, CLAIM_BATCH)? {
                let claim = db::new_id();
                let patch = json!({
                    "status": "running", "timer_started_at": now_ns, "timer_claim_id": claim,
                });
                store::patch_meta(c, &id, as_map(&patch), None, db::now_secs())?;
                out.push((id, claim));
            }
            Ok(out)
        })
        .await?;
    Ok(claimed)
}

async fn set_state(state: &AppState, timer_id: &str, status: &str, error: Option<&str>) {
    let mut patch = json!({"status": status});
    if let Some(e) = error {
        patch["timer_error"] = json!(e.chars().take(MAX_ERROR_CHARS).collect::<String>());
    }
    let id = timer_id.to_string();
    let done = state
        .db
        .write(move |c| store::patch_meta(c, &id, as_map(&patch), None, db::now_secs()))
        .await;
    if let Err(e) = done {
        tracing::warn!(error = ?e, timer = %timer_id, "could not record a timer's state");
    }
}

/// Runs a claimed timer.
async fn fire(state: &AppState, timer_id: &str, claim: &str) {
    if let Err(why) = try_fire(state, timer_id, claim).await {
        tracing::info!(timer = %timer_id, reason = %why, "a timer could not fire");
        set_state(state, timer_id, "error", Some(&why)).await;
    }
}

async fn try_fire(state: &AppState, timer_id: &str, claim: &str) -> Result<(), String> {
    let id = timer_id.to_string();
    let timer = state.db.read(move |c| chats::get(c, &id)).await;
    let Ok(Some(timer)) = timer else {
        return Ok(());
    };
    let meta = &timer.meta;
    let text = |k: &str| {
        meta.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if text("status") != "running" || text("timer_claim_id") != claim {
        return Ok(());
    }
    let parent_id = text("parent_chat_id");
    let owner = timer.user_id.clone();
    let (pid, uid) = (parent_id.clone(), owner.clone());
    let (parent, user) = state
        .db
        .read(move |c| Ok((chats::get_for_user(c, &pid, &uid)?, users::get(c, &uid)?)))
        .await
        .map_err(|e| format!("storage: {e}"))?;
    let parent = parent.ok_or("the chat it was set in is gone")?;
    let prompt = timer
        .history_messages()
        .and_then(|m| m.get(&text("timer_task_message_id")))
        .map(super::history::message_text)
        .ok_or("its prompt is missing")?;
    let user = user.ok_or("its owner is gone")?;
    if !matches!(user.role.as_str(), "admin" | "user") {
        return Err("its owner may no longer run timers".into());
    }
    let run = meta.get("run").cloned().unwrap_or(json!({}));
    let model_id = run
        .get("model_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| text("timer_model_id"));
    if model_id.is_empty() {
        return Err("it names no model".into());
    }
    if state.tasks.is_chat_active(&parent_id) {
        // The chat is answering; the timer waits for the next poll.
        let patch = json!({"status": "pending", "timer_claim_id": null, "timer_started_at": null});
        let (id, due) = (
            timer_id.to_string(),
            meta.get("timer_at").and_then(Value::as_i64),
        );
        let _ = state
            .db
            .write(move |c| store::patch_meta(c, &id, as_map(&patch), due, db::now_secs()))
            .await;
        return Ok(());
    }
    let fallback = text("parent_message_id");
    let placed = place_prompt(state, &parent, &prompt, &model_id, timer_id, &fallback).await?;
    set_state(state, timer_id, "completed", None).await;
    let reload = json!({"chat_id": parent_id, "message_id": placed.reply_id,
        "data": {"type": "chat:reload"}});
    events::to_user(state, &owner, "events", &reload).await;

    let body = placed.request(&run, &model_id, &prompt, &parent_id, "timer");
    let caller = Caller {
        user,
        via_api_key: false,
        claims: None,
        token: String::new(),
    };
    if let Err(detail) = placed.start(state, caller, body, &parent_id).await {
        set_state(state, timer_id, "error", Some(&detail)).await;
    }
    Ok(())
}

/// The prompt and reply an internal turn (a timer, a sub-agent's report)
/// added to a chat.
pub struct Placed {
    pub prompt_message: Value,
    pub reply_id: String,
}

impl Placed {
    /// Starts the turn that writes the reply. A turn that cannot start
    /// leaves its error on the reply (stored and shown); the error text.
    pub async fn start(
        &self,
        state: &AppState,
        caller: Caller,
        body: Value,
        chat_id: &str,
    ) -> Result<(), String> {
        let owner = caller.id().to_string();
        let launch = Launch {
            caller,
            body,
            internal: false,
            max_rounds: None,
            wait: false,
        };
        let Err(e) = launch::launch(state, launch).await else {
            return Ok(());
        };
        let detail = e.to_string();
        let error = json!({"error": {"content": detail}, "done": true});
        let (cid, mid, fields) = (chat_id.to_string(), self.reply_id.clone(), error.clone());
        let saved = state
            .db
            .write(move |c| chats::upsert_message(c, &cid, &mid, &fields, false, db::now_secs()))
            .await;
        if let Err(e) = saved {
            tracing::error!(error = ?e, "could not store the error of a turn the server started");
        }
        let event = json!({"chat_id": chat_id, "message_id": self.reply_id,
            "data": {"type": "chat:message:error", "data": error}});
        events::to_user(state, &owner, "events", &event).await;
        Err(detail)
    }
}

impl Placed {
    /// The completion request that answers the prompt, from what the turn
    /// that set it up ran with (`run`).
    pub fn request(
        &self,
        run: &Value,
        model_id: &str,
        prompt: &str,
        chat_id: &str,
        kind: &str,
    ) -> Value {
        let context = run.get("chat_context").cloned().unwrap_or(json!({}));
        let mut messages: Vec<Value> = context
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        messages.push(json!({"role": "user", "content": prompt}));
        let session = run
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind}:{chat_id}"));
        let mut body = json!({
            "model": model_id,
            "params": context.get("params").filter(|p| p.is_object()).cloned().unwrap_or(json!({})),
            "messages": messages,
            "stream": true,
            "chat_id": chat_id,
            "id": self.reply_id,
            "assistant_message_id": self.reply_id,
            "parent_id": self.prompt_message.get("parentId").cloned().unwrap_or(Value::Null),
            "user_message": self.prompt_message,
            "session_id": session,
            "background_tasks": {},
        });
        carry_into(&mut body, run);
        body
    }
}

/// The keys of a run record (or a request) that a turn started later on its
/// behalf takes over: tool and skill ids and files as lists, features and
/// variables as objects (empty when missing or of another type).
pub fn carried(from: &Value) -> Map<String, Value> {
    let kept = |k: &str, empty: Value| {
        let v = from
            .get(k)
            .filter(|v| std::mem::discriminant(*v) == std::mem::discriminant(&empty));
        (k.to_string(), v.cloned().unwrap_or(empty))
    };
    [
        kept("tool_ids", json!([])),
        kept("skill_ids", json!([])),
        kept("features", json!({})),
        kept("files", json!([])),
        kept("variables", json!({})),
    ]
    .into_iter()
    .collect()
}

/// Adds the [`carried`] keys of `run`, and its terminal when it names one,
/// to a turn's request.
pub fn carry_into(body: &mut Value, run: &Value) {
    if let Some(b) = body.as_object_mut() {
        b.extend(carried(run));
        if let Some(t) = run.get("terminal_id").filter(|t| t.is_string()) {
            b.insert("terminal_id".into(), t.clone());
        }
    }
}

/// Adds a timer's prompt and an empty reply to the chat, under its newest
/// finished reply (else under `fallback_parent`), and makes the reply current.
async fn place_prompt(
    state: &AppState,
    chat: &chats::ChatRow,
    prompt: &str,
    model_id: &str,
    timer_id: &str,
    fallback_parent: &str,
) -> Result<Placed, String> {
    let empty = Map::new();
    let messages = chat.history_messages().unwrap_or(&empty);
    let parent = newest_finished_reply(messages, |_| true)
        .or_else(|| (!fallback_parent.is_empty()).then(|| fallback_parent.to_string()));
    let meta = json!({"internal": true, "type": "timer", "timer_id": timer_id});
    place(state, &chat.id, parent, prompt, model_id, meta, None).await
}

/// The newest (by `timestamp`, the first of equals) reply that is not still
/// being written, among those `keep` accepts.
pub fn newest_finished_reply(
    messages: &Map<String, Value>,
    keep: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut best: Option<(i64, &String)> = None;
    for (id, m) in messages {
        let finished = m.get("role").and_then(Value::as_str) == Some("assistant")
            && m.get("done") != Some(&Value::Bool(false));
        if !finished || !keep(id) {
            continue;
        }
        let at = m.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
        if best.is_none_or(|(t, _)| at > t) {
            best = Some((at, id));
        }
    }
    best.map(|(_, id)| id.clone())
}

/// Writes a prompt (with its `meta`) under `parent` and an empty reply to
/// it, the reply current. `reuse`: the prompt is this message of the chat.
pub async fn place(
    state: &AppState,
    chat_id: &str,
    parent: Option<String>,
    prompt: &str,
    model_id: &str,
    meta: Value,
    reuse: Option<String>,
) -> Result<Placed, String> {
    let prompt_id = reuse.unwrap_or_else(db::new_id);
    let (reply_id, now) = (db::new_id(), db::now_secs());
    let prompt_message = json!({
        "id": prompt_id, "parentId": parent, "childrenIds": [reply_id], "role": "user",
        "content": prompt, "model": model_id, "meta": meta, "timestamp": now,
    });
    let reply = json!({
        "id": reply_id, "parentId": prompt_id, "childrenIds": [], "role": "assistant",
        "content": "", "done": false, "model": model_id, "timestamp": now,
    });
    let (cid, pm, rid) = (
        chat_id.to_string(),
        prompt_message.clone(),
        reply_id.clone(),
    );
    state
        .db
        .write(move |c| {
            chats::upsert_message(c, &cid, &prompt_id, &pm, false, now)?;
            chats::upsert_message(c, &cid, &rid, &reply, true, now)
        })
        .await
        .map_err(|e| format!("storage: {e}"))?;
    Ok(Placed {
        prompt_message,
        reply_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        let now = 1_700_000_000_000_000_000;
        let s = 1_000_000_000;
        assert_eq!(parse_at("10s", now), Ok(now + 10 * s));
        assert_eq!(parse_at(" in 5 minutes ", now), Ok(now + 300 * s));
        assert_eq!(parse_at("+2h", now), Ok(now + 7200 * s));
        assert_eq!(parse_at("1 Day", now), Ok(now + 86_400 * s));
        assert!(parse_at("0s", now).is_err());
        assert!(parse_at("soon", now).is_err());
        assert!(parse_at("2030-01-31T09:00:00", now).is_err(), "no offset");
        assert_eq!(
            parse_at("2030-01-31T09:00:00+01:00", now),
            Ok(1_896_076_800 * s)
        );
        assert!(parse_at("2020-01-01T00:00:00Z", now).is_err(), "past");
        assert_eq!(iso_utc(1_896_076_800 * s), "2030-01-31T08:00:00Z");
        assert_eq!(
            iso_utc(1_896_076_800 * s + 5_000),
            "2030-01-31T08:00:00.000005Z"
        );
    }
}
