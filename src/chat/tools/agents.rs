//! `timer` and `delegate_task`: work that goes on outside the turn that asked
//! for it. A timer brings a prompt back into the chat later
//! ([`crate::chat::timers`]); a sub-agent answers a task in a chat of its own
//! ([`crate::chat::subagents`]). Both are offered behind `ENABLE_SUBAGENTS`,
//! in stored chats, and never to a sub-agent itself.

use serde_json::{json, Map, Value};

use super::{arg_str, params, ToolCx};
use crate::chat::timers;
use crate::chat::turn::Turn;
use crate::state::AppState;

pub const NAMES: [&str; 2] = ["delegate_task", "timer"];

/// Whether the tools are offered: the model's `subagents` category is on,
/// the server has `ENABLE_SUBAGENTS`, the chat is stored and the turn is
/// neither a sub-agent's nor a direct connection's. `Some(background)`:
/// offered, and whether background sub-agents are on.
pub fn offered(state: &AppState, turn: &Turn, model: &Value) -> Option<bool> {
    let on = crate::llm::builtin_category_on(model, "subagents")
        && state.config.get_bool("subagents.enable")
        && !turn.internal
        && !direct_connection(&turn.body)
        && super::is_saved_chat_id(&turn.chat_id);
    on.then(|| state.config.get_bool("subagents.background_enabled"))
}

/// The tools of this family the turn gets: `background` of `delegate_task`
/// only when background sub-agents are switched on.
pub fn spec(name: &str, background: bool) -> Value {
    let string = |d: &str| json!({"type": "string", "description": d});
    let (description, parameters) = match name {
        "timer" => (
            "Bring a prompt back into this chat later, once: when the time comes it is sent here as a new message and you answer it then.",
            params(
                json!({
                    "prompt": string("What to send into this chat when the timer fires."),
                    "at": string("When: a relative time such as 30s, 10m, 2h or 1d, or an RFC 3339 time with its offset."),
                    "cancel_on": {
                        "type": "array",
                        "description": "Events that call the timer off before it fires: chat.read (the user opens the chat), chat.user_message (the user writes in it).",
                        "items": {"type": "string", "enum": timers::CANCEL_EVENTS},
                    },
                }),
                &["prompt", "at"],
            ),
        ),
        _ => {
            let mut props = json!({
                "task": string("The task, stated so that someone without this conversation can do it."),
                "context": string("What the helper needs to know: decisions made, names, paths."),
                "file_ids": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Ids of files attached to this chat that the helper needs (images too); naming them in context is not enough.",
                },
            });
            if background {
                props["background"] = json!({
                    "type": "boolean",
                    "description": "Answer at once and let the helper report into this chat when it is done, instead of waiting for it.",
                });
            }
            (
                "Hand a focused piece of work to a helper that uses this model and its tools in a separate chat, and get its report.",
                params(props, &["task"]),
            )
        }
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> String {
    if cx.internal {
        return "Error: a sub-agent cannot start timers or other sub-agents.".into();
    }
    if direct_connection(cx.body) {
        return "Error: not available for models of a direct connection.".into();
    }
    match name {
        "timer" => {
            let cancel_on = args
                .get("cancel_on")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .map(|e| e.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            let new = timers::NewTimer {
                user_id: cx.caller.id(),
                chat_id: cx.chat_id,
                message_id: cx.message_id,
                model_id: cx.model_id,
                prompt: arg_str(args, "prompt").unwrap_or(""),
                at: arg_str(args, "at").unwrap_or(""),
                cancel_on,
                run: run_context(cx),
            };
            timers::create(cx.state, new).await
        }
        _ => "Error: unknown tool.".into(),
    }
}

fn direct_connection(body: &Map<String, Value>) -> bool {
    body.get("model_item")
        .and_then(|m| m.get("direct"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// What the turn ran with, for a turn started later on its behalf: the
/// model, the browser tab, the selected tools and skills, the features,
/// files and variables, and the chat's own system messages (`chat_context`)
/// so that turn's prompt is built the same way.
pub fn run_context(cx: &ToolCx<'_>) -> Value {
    let body = cx.body;
    let list = |k: &str| {
        body.get(k)
            .filter(|v| v.is_array())
            .cloned()
            .unwrap_or(json!([]))
    };
    let object = |k: &str| {
        body.get(k)
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or(json!({}))
    };
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
    json!({
        "model_id": cx.model_id,
        "session_id": cx.session_id,
        "tool_ids": list("tool_ids"),
        "skill_ids": list("skill_ids"),
        "chat_context": {"messages": system, "params": own_params},
        "filter_ids": list("filter_ids"),
        "terminal_id": body.get("terminal_id").cloned().unwrap_or(Value::Null),
        "features": object("features"),
        "files": list("files"),
        "variables": object("variables"),
    })
}
