//! Sub-agents (`delegate_task`): a task handed to the same model in an
//! internal chat of its own (`meta.type` = `subagent`, hidden from lists),
//! run as a turn that may not delegate again, set timers or change memories.
//! In the foreground the calling tool waits for the helper's report; in the
//! background it answers at once, and the report is added to the parent chat
//! later as an internal user message that a new turn answers (right away
//! when the chat is idle, else when its running turn ends, see
//! [`after_turn`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use super::launch::{self, Launch};
use super::timers::{newest_finished_reply, place};
use crate::auth::Caller;
use crate::db::{self, chats};
use crate::events;
use crate::state::AppState;

/// The sub-agent's instructions when the admin set none
/// (`SUBAGENTS_SYSTEM_PROMPT`).
const DEFAULT_SYSTEM_PROMPT: &str = "You are a helper that another assistant handed one task to. \
Use the tools you have to do that task and nothing beyond it. \
Finish with a short report: what you did, what you changed (if anything), \
and anything left open or unclear.";

/// How long a report waits for a busy chat before it gives up being answered
/// (it stays in the chat and the chat's next finished turn answers it).
const IDLE_WAIT: Duration = Duration::from_secs(600);

/// What a turn ran with, for a turn started later on its behalf (a timer, a
/// sub-agent, a report): the model, the browser tab, the selected tools and
/// skills, the features, files and variables, and the chat's own system
/// messages (`chat_context`) so that turn's prompt is built the same way.
/// Stored with upstream's keys.
pub fn run_context(model_id: &str, session_id: Option<&str>, body: &Map<String, Value>) -> Value {
    let system: Vec<Value> = body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .cloned()
        .collect();
    let mut own_params = json!({});
    if let Some(system) = body.get("params").and_then(|p| p.get("system")) {
        own_params["system"] = system.clone();
    }
    let request = Value::Object(body.clone());
    let mut record = json!({
        "model_id": model_id,
        "session_id": session_id,
        "chat_context": {"messages": system, "params": own_params},
        "filter_ids": body.get("filter_ids").filter(|v| v.is_array()).cloned().unwrap_or(json!([])),
        "terminal_id": body.get("terminal_id").cloned().unwrap_or(Value::Null),
    });
    if let Some(r) = record.as_object_mut() {
        r.extend(super::timers::carried(&request));
    }
    record
}

/// What `delegate_task` was asked for, and the turn it was asked in.
pub struct Delegation<'a> {
    pub caller: &'a Caller,
    pub chat_id: &'a str,
    /// The reply that called the tool.
    pub message_id: &'a str,
    pub task: &'a str,
    pub context: &'a str,
    pub file_ids: Option<Vec<String>>,
    pub background: bool,
    /// [`run_context`] of the calling turn.
    pub run: Value,
}

struct Limits {
    background_on: bool,
    max_concurrent: i64,
    max_async: i64,
    max_iterations: usize,
    max_output: usize,
    system_prompt: String,
}

fn limits(state: &AppState) -> Limits {
    let int = |k: &str, default: i64| match state.config.get(k) {
        Value::Number(n) => n.as_i64().filter(|n| *n != 0).unwrap_or(default),
        Value::String(s) => s.trim().parse().ok().filter(|n| *n != 0).unwrap_or(default),
        _ => default,
    };
    let bound = |n: i64| if n == -1 { -1 } else { n.max(1) };
    let prompt = state.config.get_str("subagents.system_prompt");
    Limits {
        background_on: state.config.get_bool("subagents.background_enabled"),
        max_concurrent: bound(int("subagents.max_concurrent", 20)),
        max_async: bound(int("subagents.max_async", 20)),
        max_iterations: int("subagents.max_iterations", 30).max(1) as usize,
        max_output: int("subagents.max_output", 30_000).max(1) as usize,
        system_prompt: if prompt.trim().is_empty() {
            DEFAULT_SYSTEM_PROMPT.to_string()
        } else {
            prompt.trim().to_string()
        },
    }
}

/// Background sub-agents running now, by delegation id.
fn running_in_background() -> &'static Mutex<Vec<String>> {
    static RUNNING: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    RUNNING.get_or_init(Mutex::default)
}

/// Slots for foreground sub-agents, sized by `subagents.max_concurrent` when
/// first needed.
fn foreground_slots(size: usize) -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(size))).clone()
}

/// Starts a sub-agent; the text is the tool's result.
pub async fn delegate(state: &AppState, d: Delegation<'_>) -> String {
    let task = d.task.trim().to_string();
    if task.is_empty() {
        return "Error: the task is empty; say what the helper should do.".into();
    }
    let limits = limits(state);
    if d.background && !limits.background_on {
        return "Error: background sub-agents are switched off on this server.".into();
    }
    let mut run = d.run.clone();
    let model_id = run["model_id"].as_str().unwrap_or_default().to_string();
    if model_id.is_empty() {
        return "Error: the turn names no model.".into();
    }
    if d.background
        && run["features"]["code_interpreter"] == json!(true)
        && state.config.get_str("code_interpreter.engine") != "jupyter"
    {
        // The browser's Python cannot serve a helper nobody waits for.
        run["features"]
            .as_object_mut()
            .map(|f| f.remove("code_interpreter"));
    }
    run["files"] = match pick_files(&run["files"], d.file_ids.as_deref()) {
        Ok(files) => files,
        Err(missing) => {
            return format!("Error: these file ids are not attached to the chat: {missing}.")
        }
    };

    let delegation_id = format!("deleg_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let slot = if d.background {
        let mut running = running_in_background()
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if limits.max_async != -1 && running.len() as i64 >= limits.max_async {
            return format!(
                "Error: {} background helpers are already running, the most allowed; wait for one to finish.",
                limits.max_async
            );
        }
        running.push(delegation_id.clone());
        None
    } else if limits.max_concurrent != -1 {
        let slots = foreground_slots(limits.max_concurrent as usize);
        match slots.acquire_owned().await {
            Ok(permit) => Some(permit),
            Err(_) => return "Error: sub-agents are shutting down.".into(),
        }
    } else {
        None
    };

    let child = Child::create(state, &d, &task, &model_id, &delegation_id, &run).await;
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            release(&delegation_id);
            tracing::error!(error = %e, "could not store a sub-agent's chat");
            return "Error: the helper's chat could not be stored; try again later.".into();
        }
    };
    let caller = d.caller.clone();
    if !d.background {
        let outcome = child.run(state, caller, &run, &limits).await;
        drop(slot);
        return match outcome {
            Outcome::Completed(summary) => summary,
            Outcome::Failed(why, _) => format!("Error: the helper did not finish: {why}"),
        };
    }
    let dispatched = json!({
        "status": "dispatched",
        "delegation_id": delegation_id,
        "subagent_chat_id": child.chat_id,
        "mode": "background",
        "task": task,
    });
    let state = state.clone();
    let (parent_chat, parent_message) = (d.chat_id.to_string(), d.message_id.to_string());
    let context = d.context.to_string();
    tokio::spawn(async move {
        let started = Instant::now();
        let outcome = child.run(&state, caller.clone(), &run, &limits).await;
        release(&delegation_id);
        let report = Report {
            delegation_id: &delegation_id,
            task: &task,
            context: &context,
            child_chat: &child.chat_id,
            took: started.elapsed(),
            outcome: &outcome,
        };
        let text = report.text();
        let meta = json!({"internal": true, "type": "subagent", "delegation_id": delegation_id,
            "subagent_chat_id": child.chat_id});
        add_report(
            &state,
            &caller,
            &parent_chat,
            &parent_message,
            &model_id,
            &text,
            meta,
            run,
        )
        .await;
    });
    dispatched.to_string()
}

fn release(delegation_id: &str) {
    running_in_background()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|id| id != delegation_id);
}

/// The chat's files the helper gets: those named in `file_ids` (by `id`,
/// `url` or `file.id`), none without it. `Err`: the ids not found.
fn pick_files(files: &Value, wanted: Option<&[String]>) -> Result<Value, String> {
    let Some(wanted) = wanted.filter(|w| !w.is_empty()) else {
        return Ok(json!([]));
    };
    let keys = |f: &Value| -> Vec<String> {
        [f.get("id"), f.get("url"), f.pointer("/file/id")]
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let picked: Vec<Value> = files
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| keys(f).iter().any(|k| wanted.contains(k)))
        .cloned()
        .collect();
    let found: Vec<String> = picked.iter().flat_map(keys).collect();
    let mut missing: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|w| !found.iter().any(|f| f == w))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        Ok(Value::Array(picked))
    } else {
        Err(missing.join(", "))
    }
}

enum Outcome {
    Completed(String),
    /// Why, and what the helper had written by then.
    Failed(String, String),
}

/// A sub-agent's chat: the task and the reply it is writing.
struct Child {
    chat_id: String,
    prompt_message: Value,
    reply_id: String,
    prompt: String,
    folder_id: Option<String>,
}

impl Child {
    async fn create(
        state: &AppState,
        d: &Delegation<'_>,
        task: &str,
        model_id: &str,
        delegation_id: &str,
        run: &Value,
    ) -> anyhow::Result<Child> {
        let prompt = if d.context.trim().is_empty() {
            task.to_string()
        } else {
            format!("{task}\n\nContext:\n{}", d.context)
        };
        let (chat_id, prompt_id, reply_id, now) =
            (db::new_id(), db::new_id(), db::new_id(), db::now_secs());
        let files = run["files"].clone();
        let mut prompt_message = json!({
            "id": prompt_id, "parentId": null, "childrenIds": [reply_id], "role": "user",
            "content": prompt, "timestamp": now, "models": [model_id],
        });
        if files.as_array().is_some_and(|f| !f.is_empty()) {
            prompt_message["files"] = files.clone();
        }
        let title: String = task.chars().take(60).collect();
        let chat = json!({
            "id": chat_id,
            "title": format!("Sub-agent: {title}"),
            "models": [model_id],
            "history": {"currentId": reply_id, "messages": {
                prompt_id.clone(): prompt_message,
                reply_id.clone(): {"id": reply_id, "parentId": prompt_id, "childrenIds": [],
                    "role": "assistant", "content": "", "done": false, "model": model_id,
                    "timestamp": now},
            }},
            "messages": [{"role": "user", "content": prompt}],
            "files": files,
        });
        let meta = json!({
            "internal": true, "type": "subagent", "parent_chat_id": d.chat_id,
            "parent_message_id": d.message_id, "delegation_id": delegation_id,
            "mode": if d.background { "background" } else { "foreground" },
        });
        let (parent, uid) = (d.chat_id.to_string(), d.caller.id().to_string());
        let new = chats::NewChat {
            id: chat_id.clone(),
            user_id: uid.clone(),
            chat,
            meta,
            ..Default::default()
        };
        let folder_id = state
            .db
            .write(move |c| {
                let folder = chats::get_for_user(c, &parent, &uid)?.and_then(|p| p.folder_id);
                chats::insert(
                    c,
                    &chats::NewChat {
                        folder_id: folder.clone(),
                        ..new
                    },
                    now,
                )?;
                Ok(folder)
            })
            .await?;
        Ok(Child {
            chat_id,
            prompt_message: json!({"id": prompt_id, "parentId": null, "role": "user",
                "content": prompt, "childrenIds": [reply_id]}),
            reply_id,
            prompt,
            folder_id,
        })
    }

    /// Runs the helper's turn to its end and reads its report.
    async fn run(&self, state: &AppState, caller: Caller, run: &Value, limits: &Limits) -> Outcome {
        let context = run.get("chat_context").cloned().unwrap_or(json!({}));
        let mut system: Vec<String> = context
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(super::history::message_text)
            .collect();
        system.push(limits.system_prompt.clone());
        let session = run["session_id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("subagent:{}", self.chat_id));
        let mut body = json!({
            "model": run["model_id"],
            "params": context.get("params").filter(|p| p.is_object()).cloned().unwrap_or(json!({})),
            "messages": [{"role": "system", "content": system.join("\n")},
                         {"role": "user", "content": self.prompt}],
            "stream": true,
            "chat_id": self.chat_id,
            "id": self.reply_id,
            "assistant_message_id": self.reply_id,
            "parent_id": null,
            "user_message": self.prompt_message,
            "session_id": session,
            "background_tasks": {},
            "folder_id": self.folder_id,
        });
        super::timers::carry_into(&mut body, run);
        let launched = launch::launch(
            state,
            Launch {
                caller,
                body,
                internal: true,
                max_rounds: Some(limits.max_iterations),
                wait: true,
            },
        )
        .await;
        if let Err(e) = launched {
            let why = e.to_string();
            let fields = json!({"done": true, "error": {"content": why}});
            let (cid, mid) = (self.chat_id.clone(), self.reply_id.clone());
            let _ = state
                .db
                .write(move |c| {
                    chats::upsert_message(c, &cid, &mid, &fields, false, db::now_secs())
                })
                .await;
            return Outcome::Failed(why, String::new());
        }
        let (cid, mid) = (self.chat_id.clone(), self.reply_id.clone());
        let reply = state
            .db
            .read(move |c| chats::get(c, &cid))
            .await
            .ok()
            .flatten()
            .and_then(|chat| chat.history_messages().and_then(|m| m.get(&mid)).cloned());
        let Some(reply) = reply else {
            return Outcome::Failed("its chat or reply is gone".into(), String::new());
        };
        let mut summary = super::history::message_text(&reply);
        if summary.chars().count() > limits.max_output {
            summary = summary.chars().take(limits.max_output).collect();
            summary.push_str("\n\n[the report was cut here]");
        }
        match reply.get("error").filter(|e| !e.is_null()) {
            Some(e) => {
                let why = e
                    .get("content")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string());
                Outcome::Failed(why, summary)
            }
            None if summary.trim().is_empty() => {
                Outcome::Completed("The helper finished without writing a report.".into())
            }
            None => Outcome::Completed(summary),
        }
    }
}

/// The message a background helper's report becomes in its parent chat.
struct Report<'a> {
    delegation_id: &'a str,
    task: &'a str,
    context: &'a str,
    child_chat: &'a str,
    took: Duration,
    outcome: &'a Outcome,
}

impl Report<'_> {
    fn text(&self) -> String {
        let (status, body) = match self.outcome {
            Outcome::Completed(summary) => ("completed", summary.clone()),
            Outcome::Failed(why, partial) if partial.trim().is_empty() => {
                ("error", format!("The helper did not finish: {why}"))
            }
            Outcome::Failed(why, partial) => (
                "error",
                format!("The helper did not finish: {why}\nWhat it wrote before that:\n{partial}"),
            ),
        };
        let mut lines = vec![
            format!("[ASYNC SUBAGENT COMPLETE - {}]", self.delegation_id),
            "A helper you started in the background earlier in this chat is done. Its task is \
             repeated here; use its result if it still helps."
                .to_string(),
            String::new(),
            format!("Task: {}", self.task),
        ];
        if !self.context.trim().is_empty() {
            lines.push(format!("Context given: {}", self.context));
        }
        lines.push(format!("Helper chat: {}", self.child_chat));
        lines.push(format!(
            "Status: {status} after {:.1}s",
            self.took.as_secs_f64()
        ));
        lines.push("Result:".into());
        lines.push(body);
        lines.join("\n")
    }
}

/// One lock per parent chat, so reports and turns started for it do not
/// interleave.
fn parent_lock(chat_id: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    locks.entry(chat_id.to_string()).or_default().clone()
}

/// Adds a background helper's report to the parent chat, under the newest
/// finished reply that follows the one that delegated, and answers it when
/// the chat is idle (else it waits, `meta.status` = `pending`, for the turn
/// that runs to end).
#[allow(clippy::too_many_arguments)]
async fn add_report(
    state: &AppState,
    caller: &Caller,
    chat_id: &str,
    delegated_in: &str,
    model_id: &str,
    text: &str,
    mut meta: Value,
    run: Value,
) {
    let lock = parent_lock(chat_id);
    {
        let _held = lock.lock().await;
        let Some(chat) = own_chat(state, caller, chat_id).await else {
            return;
        };
        let empty = Map::new();
        let messages = chat.history_messages().unwrap_or(&empty);
        let follows = |id: &str| {
            !messages.contains_key(delegated_in)
                || super::history::path_to(messages, id)
                    .iter()
                    .any(|m| m.get("id").and_then(Value::as_str) == Some(delegated_in))
        };
        let parent = newest_finished_reply(messages, follows).unwrap_or(delegated_in.to_string());
        let busy = state.tasks.is_chat_active(chat_id);
        if busy {
            meta["status"] = json!("pending");
        }
        let (report_id, now) = (db::new_id(), db::now_secs());
        let message = json!({
            "id": report_id, "parentId": parent, "childrenIds": [], "role": "user",
            "content": text, "model": model_id, "meta": meta, "timestamp": now,
        });
        let (cid, rid) = (chat_id.to_string(), report_id.clone());
        let stored = state
            .db
            .write(move |c| chats::upsert_message(c, &cid, &rid, &message, false, now))
            .await;
        if let Err(e) = stored {
            tracing::error!(error = ?e, "could not store a helper's report");
            return;
        }
        if busy {
            let reload = json!({"chat_id": chat_id, "message_id": report_id,
                "data": {"type": "chat:reload"}});
            events::to_user(state, caller.id(), "events", &reload).await;
        }
    }
    answer_pending(state, caller, chat_id, run).await;
}

/// After a turn of a stored chat ends: reports that arrived while it ran
/// are answered now, if no other turn of the chat is still running.
pub async fn after_turn(state: &AppState, caller: &Caller, chat_id: &str, run: Value) {
    if !state.tasks.is_chat_active(chat_id) {
        answer_pending(state, caller, chat_id, run).await;
    }
}

/// Answers the reports waiting in a chat: those of the first waiting one's
/// place and model together, as one prompt, in a new turn.
async fn answer_pending(state: &AppState, caller: &Caller, chat_id: &str, run: Value) {
    let deadline = Instant::now() + IDLE_WAIT;
    while state.tasks.is_chat_active(chat_id) {
        if Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let lock = parent_lock(chat_id);
    let _held = lock.lock().await;
    if state.tasks.is_chat_active(chat_id) {
        return;
    }
    let Some(chat) = own_chat(state, caller, chat_id).await else {
        return;
    };
    let empty = Map::new();
    let messages = chat.history_messages().unwrap_or(&empty);
    let waiting = |m: &Value| {
        m.get("role").and_then(Value::as_str) == Some("user")
            && m["childrenIds"].as_array().is_none_or(Vec::is_empty)
            && m.pointer("/meta/internal") == Some(&Value::Bool(true))
            && m.pointer("/meta/type").and_then(Value::as_str) == Some("subagent")
            && m.pointer("/meta/status")
                .is_none_or(|s| s.is_null() || s == "pending")
    };
    let Some(first) = messages.values().find(|m| waiting(m)) else {
        return;
    };
    let run_model = run["model_id"].as_str().unwrap_or_default();
    let model_id = first["model"].as_str().unwrap_or(run_model).to_string();
    let parent = first["parentId"].as_str().map(str::to_string);
    let batch: Vec<&Value> = messages
        .values()
        .filter(|m| {
            waiting(m)
                && m["parentId"].as_str() == parent.as_deref()
                && m["model"].as_str().unwrap_or(run_model) == model_id
        })
        .collect();
    let combined: Vec<String> = batch
        .iter()
        .map(|m| super::history::message_text(m))
        .filter(|t| !t.is_empty())
        .collect();
    let combined = combined.join("\n\n");
    let ids: Vec<String> = batch
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    let mut meta = json!({"internal": true, "type": "subagent"});
    for (key, one, many) in [
        ("delegation_id", "delegation_id", "delegation_ids"),
        ("subagent_chat_id", "subagent_chat_id", "subagent_chat_ids"),
    ] {
        let values: Vec<Value> = batch
            .iter()
            .filter_map(|m| m.pointer(&format!("/meta/{key}")).cloned())
            .collect();
        match values.len() {
            0 => {}
            1 => meta[one] = values[0].clone(),
            _ => meta[many] = Value::Array(values),
        }
    }
    // One report that came while the chat was idle is answered where it is;
    // reports that waited give way to the one prompt that answers them all.
    let reuse = (batch.len() == 1 && first.pointer("/meta/status").is_none_or(Value::is_null))
        .then(|| ids[0].clone());
    let gone: Vec<String> = if reuse.is_some() { Vec::new() } else { ids };
    let cid = chat_id.to_string();
    let removed = state
        .db
        .write(move |c| {
            for id in &gone {
                chats::delete_message(c, &cid, id, db::now_secs())?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = removed {
        tracing::error!(error = ?e, "could not gather a chat's waiting reports");
        return;
    }
    let placed = match place(state, chat_id, parent, &combined, &model_id, meta, reuse).await {
        Ok(p) => p,
        Err(why) => {
            tracing::error!(reason = %why, "could not add a helper's report");
            return;
        }
    };
    let reload = json!({"chat_id": chat_id, "message_id": placed.reply_id,
        "data": {"type": "chat:reload"}});
    events::to_user(state, caller.id(), "events", &reload).await;
    let body = placed.request(&run, &model_id, &combined, chat_id, "subagent-result");
    // A failure is stored on the reply and shown to the user.
    let _ = placed.start(state, caller.clone(), body, chat_id).await;
}

/// The caller's own chat, if it is still there.
async fn own_chat(state: &AppState, caller: &Caller, chat_id: &str) -> Option<chats::ChatRow> {
    let (cid, uid) = (chat_id.to_string(), caller.id().to_string());
    state
        .db
        .read(move |c| chats::get_for_user(c, &cid, &uid))
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_picked_by_any_of_their_ids() {
        let files = json!([{"id": "a", "url": "/f/a"}, {"type": "file", "file": {"id": "b"}}]);
        assert_eq!(pick_files(&files, None), Ok(json!([])));
        let picked = pick_files(&files, Some(&["b".to_string()])).unwrap();
        assert_eq!(picked, json!([files[1]]));
        let picked = pick_files(&files, Some(&["/f/a".to_string()])).unwrap();
        assert_eq!(picked, json!([files[0]]));
        assert_eq!(
            pick_files(&files, Some(&["z".into(), "a".into(), "y".into()])),
            Err("y, z".to_string())
        );
    }
}
