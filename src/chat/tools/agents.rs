//! `timer` and `delegate_task`: work that goes on outside the turn that asked
//! for it. A timer brings a prompt back into the chat later
//! ([`crate::chat::timers`]); a sub-agent answers a task in a chat of its own
//! ([`crate::chat::subagents`]). Both are offered behind `ENABLE_SUBAGENTS`,
//! in stored chats, and never to a sub-agent itself.

use serde_json::{json, Map, Value};

use super::{arg_str, params, ToolCx};
use crate::chat::turn::Turn;
use crate::chat::{subagents, timers};
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
        _ => {
            let file_ids = args.get("file_ids").and_then(Value::as_array).map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            });
            let delegation = subagents::Delegation {
                caller: cx.caller,
                chat_id: cx.chat_id,
                message_id: cx.message_id,
                task: arg_str(args, "task").unwrap_or(""),
                context: arg_str(args, "context").unwrap_or(""),
                file_ids,
                background: args.get("background").and_then(Value::as_bool) == Some(true),
                run: run_context(cx),
            };
            subagents::delegate(cx.state, delegation).await
        }
    }
}

fn run_context(cx: &ToolCx<'_>) -> Value {
    subagents::run_context(cx.model_id, cx.session_id, cx.body)
}

fn direct_connection(body: &Map<String, Value>) -> bool {
    body.get("model_item")
        .and_then(|m| m.get("direct"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}
