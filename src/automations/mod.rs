//! Automations: running a scheduled prompt, and the background scheduler
//! that runs the due ones (and sends calendar alerts, see [`alerts`]).
//!
//! A run creates a chat holding the prompt and an assistant reply, asks the
//! automation's model through the completion pipeline (non-streaming), stores
//! the answer (or the error) in that reply, and records an `automation_run`.
//! An automation aimed at a channel posts there instead ([`channel`]).
//! The schedule lives in the database (`next_run_at`), so a restart picks up
//! where it left off; an automation missed while the server was down runs
//! once at the next poll and is then rescheduled.

pub mod alerts;
pub mod channel;
pub mod rrule;
pub mod tz;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::auth::permissions;
use crate::auth::Caller;
use crate::chat::complete::Answer;
use crate::db::automations::{self as store, AutomationRow};
use crate::db::{self, chats, folders, users};
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::state::AppState;

/// How many automations may run at the same time.
const MAX_CONCURRENT_RUNS: usize = 4;
/// How many due automations one poll claims.
const CLAIM_BATCH: i64 = 10;
/// Error texts are cut to this length, as upstream stores them.
const MAX_ERROR_CHARS: usize = 4000;

/// Seconds between polls: `SCHEDULER_POLL_INTERVAL` (upstream's variable),
/// default 10, never more than 30.
fn poll_interval() -> Duration {
    let secs = std::env::var("SCHEDULER_POLL_INTERVAL")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(10)
        .clamp(1, 30);
    Duration::from_secs(secs)
}

/// A config value that may be a number, a numeric string or empty.
fn config_int(state: &AppState, key: &str) -> Option<i64> {
    match state.config.get(key) {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
}

/// `automations.max_count` (create only) and `automations.min_interval`;
/// admins are exempt.
pub async fn check_limits(
    state: &AppState,
    caller: &Caller,
    rule: &str,
    creating: bool,
) -> ApiResult<()> {
    if caller.is_admin() {
        return Ok(());
    }
    if creating {
        if let Some(max) = config_int(state, "automations.max_count") {
            let uid = caller.id().to_string();
            let count = state
                .db
                .read(move |c| store::count_by_user(c, &uid))
                .await?;
            if count >= max {
                return Err(ApiError::forbidden(format!(
                    "Automation limit reached ({max})"
                )));
            }
        }
    }
    if let Some(min) = config_int(state, "automations.min_interval") {
        if rrule::interval_seconds(rule).is_some_and(|s| s < min) {
            return Err(ApiError::bad_request(format!(
                "Schedule too frequent. Minimum interval is {min} seconds."
            )));
        }
    }
    Ok(())
}

/// Stops the scheduler when dropped.
pub struct SchedulerGuard(tokio::task::JoinHandle<()>);

impl Drop for SchedulerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the background scheduler; it runs until the guard is dropped.
pub fn start(state: AppState) -> SchedulerGuard {
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_RUNS));
    SchedulerGuard(tokio::spawn(async move {
        let interval = poll_interval();
        loop {
            if state.config.get_bool("automations.enable") {
                if let Err(e) = poll_once(&state, &slots).await {
                    tracing::warn!(error = ?e, "automation scheduler poll failed");
                }
            }
            if state.config.get_bool("calendar.enable") {
                let grace = (interval.as_secs() as i64 + 5) * 1_000_000_000;
                if let Err(e) = alerts::check(&state, grace).await {
                    tracing::warn!(error = ?e, "calendar alert poll failed");
                }
            }
            tokio::time::sleep(interval).await;
        }
    }))
}

/// Claims the due automations (moving each `next_run_at` on first, so no
/// automation runs twice for one slot) and starts them, bounded by `slots`.
async fn poll_once(state: &AppState, slots: &Arc<Semaphore>) -> anyhow::Result<()> {
    // Only claim what can start now; the rest stays due for the next poll.
    let free = slots.available_permits().min(CLAIM_BATCH as usize) as i64;
    if free == 0 {
        return Ok(());
    }
    let now = db::now_nanos();
    let claimed = state
        .db
        .write(move |c| {
            let mut out = vec![];
            for a in store::due(c, now, free)? {
                let owner_tz = users::get(c, &a.user_id)?.and_then(|u| u.timezone);
                let zone = tz::of_user(owner_tz.as_deref());
                let next = rrule::next_run_ns(&a.rrule(), zone.as_ref());
                let seen = a.next_run_at.unwrap_or_default();
                if store::claim(c, &a.id, seen, next, now)? {
                    out.push(a);
                }
            }
            Ok(out)
        })
        .await?;
    for automation in claimed {
        let permit = slots.clone().acquire_owned().await?;
        let state = state.clone();
        tokio::spawn(async move {
            execute(&state, &automation).await;
            drop(permit);
        });
    }
    Ok(())
}

/// Runs an automation once and records the outcome.
pub async fn execute(state: &AppState, automation: &AutomationRow) {
    let mut chat_id = None;
    let mut message_id = None;
    let outcome = run(state, automation, &mut chat_id, &mut message_id).await;
    let (status, error) = match &outcome {
        Ok(()) => ("success", None),
        Err(e) => {
            tracing::warn!(automation = %automation.id, error = %e, "automation run failed");
            let text: String = e.to_string().chars().take(MAX_ERROR_CHARS).collect();
            ("error", Some(text))
        }
    };
    let id = automation.id.clone();
    let run_chat = chat_id.clone();
    let now = db::now_nanos();
    if let Err(e) = state
        .db
        .write(move |c| {
            store::insert_run(c, &id, status, run_chat.as_deref(), error.as_deref(), now)
        })
        .await
    {
        tracing::error!(error = ?e, "cannot record automation run");
    }
    if outcome.is_ok() {
        let mut result = json!({
            "automation_id": automation.id,
            "name": automation.name,
            "chat_id": chat_id,
            "status": "success",
        });
        if let Some(mid) = message_id {
            result["message_id"] = json!(mid);
        }
        events::to_user(state, &automation.user_id, "automation:result", &result).await;
    }
}

async fn run(
    state: &AppState,
    automation: &AutomationRow,
    chat_out: &mut Option<String>,
    message_out: &mut Option<String>,
) -> anyhow::Result<()> {
    let uid = automation.user_id.clone();
    let user = state
        .db
        .read(move |c| users::get(c, &uid))
        .await?
        .ok_or_else(|| anyhow::anyhow!("User not found"))?;
    let permitted = match user.role.as_str() {
        "admin" => true,
        "user" => {
            let perms = permissions::effective(state, &user.id).await?;
            permissions::allows(&perms, "features.automations")
        }
        _ => false,
    };
    if !permitted {
        anyhow::bail!("Owner no longer permitted to run automations");
    }
    let caller = Caller {
        user,
        via_api_key: false,
        claims: None,
        token: String::new(),
    };
    let user = &caller.user;
    let prompt = automation
        .data
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .replace("{{USER_NAME}}", &user.name)
        .replace(
            "{{CURRENT_DATE}}",
            &chrono::Utc::now().format("%Y-%m-%d").to_string(),
        );
    let model_id = automation
        .data
        .get("model_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let target = automation.data.get("target").cloned().unwrap_or_default();
    if target.get("type").and_then(Value::as_str) == Some("channel") {
        let (chat, reply) =
            channel::run(state, &caller, &automation.id, &target, &prompt, &model_id).await?;
        *chat_out = Some(chat);
        *message_out = Some(reply);
        return Ok(());
    }

    // The chat the run writes into: the prompt and an unfinished reply.
    let user_msg = db::new_id();
    let reply_msg = db::new_id();
    let chat_id = db::new_id();
    let now_s = db::now_secs();
    let chat = json!({
        "title": automation.name,
        "models": [model_id],
        "history": {
            "currentId": reply_msg,
            "messages": {
                user_msg.clone(): {
                    "id": user_msg, "parentId": null, "role": "user", "content": prompt,
                    "childrenIds": [reply_msg], "timestamp": now_s, "models": [model_id],
                },
                reply_msg.clone(): {
                    "id": reply_msg, "parentId": user_msg, "role": "assistant", "content": "",
                    "done": false, "model": model_id, "childrenIds": [], "timestamp": now_s,
                },
            },
        },
        "messages": [{"role": "user", "content": prompt}],
        "meta": {"automation_id": automation.id},
    });
    let (cid, aid, uid2, folder) = (
        chat_id.clone(),
        automation.id.clone(),
        automation.user_id.clone(),
        automation.folder_id.clone(),
    );
    let folder_id = state
        .db
        .write(move |c| {
            let now = db::now_secs();
            let mut folder_id = folder;
            if let Some(f) = folder_id.as_deref() {
                if folders::get_for_user(c, f, &uid2)?.is_none() {
                    store::clear_folder(c, &aid, db::now_nanos())?;
                    folder_id = None;
                }
            }
            chats::insert_new(c, &uid2, &cid, &chat, folder_id.as_deref(), now)?;
            Ok(folder_id)
        })
        .await?;
    *chat_out = Some(chat_id.clone());
    let listed = json!({"chat_id": chat_id, "message_id": user_msg, "data": {"type": "chat:list"}});
    events::to_user(state, &automation.user_id, "events", &listed).await;

    // A run filed in a folder works under the folder's system prompt, as a
    // chat in that folder would.
    let mut messages = Vec::new();
    if let Some(fid) = folder_id.as_deref() {
        if let Some(system) = crate::chat::persist::folder_prompt(state, &caller, fid).await {
            messages.push(json!({"role": "system", "content": system}));
        }
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let body = json!({
        "model": model_id,
        "messages": messages,
        "stream": false,
    });
    let answer = ask(state, caller, body).await;
    let fields = match &answer {
        Ok(text) => json!({"content": text, "done": true}),
        Err(e) => json!({"done": true, "error": {"content": e.to_string()}}),
    };
    let (cid, mid) = (chat_id.clone(), reply_msg.clone());
    state
        .db
        .write(move |c| chats::upsert_message(c, &cid, &mid, &fields, true, db::now_secs()))
        .await?;
    answer.map(|_| ())
}

/// One non-streaming completion through the pipeline; the answer's text.
async fn ask(state: &AppState, caller: Caller, body: Value) -> anyhow::Result<String> {
    let answer = crate::chat::complete::handle(state.clone(), caller, body)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let v = match answer {
        Answer::Completion(v) => v,
        Answer::Relay(relay) => {
            let status = relay.status;
            let bytes = relay.into_bytes(16 * 1024 * 1024).await?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if !status.is_success() {
                let detail = v
                    .get("detail")
                    .or_else(|| v.pointer("/error/message"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("The model answered with status {status}"));
                anyhow::bail!(detail);
            }
            v
        }
        // Only a browser turn (with a socket session) runs in the background.
        Answer::Started { .. } | Answer::Stored => Value::Null,
    };
    if let Some(msg) = v.pointer("/error/message").and_then(Value::as_str) {
        anyhow::bail!(msg.to_string());
    }
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("The model returned no answer"))
}
