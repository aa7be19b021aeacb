//! Title, tags and follow-up suggestions, generated after (or beside) the answer
//! with our prompt templates and the task model.

use serde_json::{json, Map, Value};

use super::events::Emitter;
use super::turn::{Turn, TASK_TIMEOUT};
use super::{history, persist, prompts};
use crate::auth::Caller;
use crate::llm;
use crate::state::AppState;

/// The browser asked for the task and the admin has not switched it off.
pub fn wanted(state: &AppState, body: &Map<String, Value>, flag: &str, config_key: &str) -> bool {
    let asked = body
        .get("background_tasks")
        .and_then(|b| b.get(flag))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    asked && state.config.get_bool(config_key)
}

/// The configured task model if it resolves for this user, else the chat's model.
async fn task_model(
    state: &AppState,
    caller: &Caller,
    chat_model: &str,
) -> Option<llm::ResolvedModel> {
    for key in ["task.model.external", "task.model.default"] {
        let id = state.config.get_str(key);
        if !id.is_empty() {
            if let Ok(m) = llm::resolve(state, caller, &id).await {
                return Some(m);
            }
        }
    }
    llm::resolve(state, caller, chat_model).await.ok()
}

fn template(state: &AppState, key: &str, ours: &str) -> String {
    let t = state.config.get_str(key);
    if t.trim().is_empty() {
        ours.to_string()
    } else {
        t
    }
}

/// Runs one task prompt (`task` names it, as upstream's task names do:
/// `title_generation`, …); `None` when the model fails or answers nonsense.
pub async fn run_task(
    state: &AppState,
    caller: &Caller,
    chat_model: &str,
    task: &str,
    prompt: String,
) -> Option<Value> {
    let messages = json!([{"role": "user", "content": prompt}]);
    run_task_messages(state, caller, chat_model, task, messages).await
}

/// Runs a task conversation on the task model, through the pipelines'
/// inlet filters (told the task's name in `metadata.task`); the JSON object
/// its answer holds, or `None` when the model fails or answers nonsense.
pub async fn run_task_messages(
    state: &AppState,
    caller: &Caller,
    chat_model: &str,
    task: &str,
    messages: Value,
) -> Option<Value> {
    let model = task_model(state, caller, chat_model).await?;
    let body = json!({
        "model": model.target.upstream_id,
        "messages": messages,
        "stream": false,
        "max_tokens": 1000,
    });
    let metadata = json!({"user_id": caller.user.id, "task": task});
    let body = super::pipeline_filters::inlet(state, caller, &model, metadata, body)
        .await
        .ok()?;
    let done = tokio::time::timeout(TASK_TIMEOUT, llm::complete(&model.target, body))
        .await
        .ok()?
        .ok()?;
    prompts::extract_json(&done.content)
}

fn clean_title(s: &str) -> String {
    let t = s.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    t.chars().take(120).collect()
}

pub async fn title(
    state: &AppState,
    turn: &Turn,
    emitter: &Emitter,
    model: &str,
) -> Option<String> {
    let text = turn
        .body
        .get("user_message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let transcript = vec![("user".to_string(), text)];
    let prompt = prompts::render(
        &template(state, "task.title.prompt_template", prompts::TITLE),
        &transcript,
        &turn.caller.user.name,
    );
    let answer = run_task(state, &turn.caller, model, "title_generation", prompt).await?;
    let title = clean_title(answer.get("title")?.as_str()?);
    if title.is_empty() {
        return None;
    }
    let (cid, t, now) = (turn.chat_id.clone(), title.clone(), crate::db::now_secs());
    if let Err(e) = state
        .db
        .write(move |tx| crate::db::chats::set_title(tx, &cid, &t, now))
        .await
    {
        tracing::warn!(error = %e, "could not save the chat title");
        return None;
    }
    emitter.emit("chat:title", json!(title)).await;
    Some(title)
}

fn string_list(v: Option<&Value>, max: usize) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .take(max)
                .collect()
        })
        .unwrap_or_default()
}

pub async fn follow_ups(state: &AppState, turn: &Turn, emitter: &Emitter, model: &str) {
    let path = persist::conversation(state, turn, emitter.message_id()).await;
    let transcript = history::transcript(&path);
    let prompt = prompts::render(
        &template(state, "task.follow_up.prompt_template", prompts::FOLLOW_UPS),
        &transcript,
        &turn.caller.user.name,
    );
    let Some(answer) = run_task(state, &turn.caller, model, "follow_up_generation", prompt).await
    else {
        return;
    };
    let list = string_list(answer.get("follow_ups"), 5);
    if list.is_empty() {
        return;
    }
    if turn.persist {
        let _ = persist::save_message(
            state,
            &turn.chat_id,
            emitter.message_id(),
            json!({"followUps": list}),
            false,
        )
        .await;
    }
    emitter
        .emit("chat:message:follow_ups", json!({"follow_ups": list}))
        .await;
}

pub async fn tags(state: &AppState, turn: &Turn, emitter: &Emitter, model: &str) {
    let path = persist::path_to(state, &turn.chat_id, emitter.message_id()).await;
    let transcript = history::transcript(&path);
    let prompt = prompts::render(
        &template(state, "task.tags.prompt_template", prompts::TAGS),
        &transcript,
        &turn.caller.user.name,
    );
    let Some(answer) = run_task(state, &turn.caller, model, "tags_generation", prompt).await else {
        return;
    };
    let names = string_list(answer.get("tags"), 5);
    if names.is_empty() {
        return;
    }
    let (cid, uid, n) = (
        turn.chat_id.clone(),
        turn.caller.user.id.clone(),
        names.clone(),
    );
    if state
        .db
        .write(move |tx| crate::db::chats::set_tags(tx, &cid, &uid, &n))
        .await
        .is_ok()
    {
        emitter.emit("chat:tags", json!(names)).await;
    }
}
