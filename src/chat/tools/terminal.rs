//! The terminal the browser selected for the turn (`terminal_id`) as tools:
//! its operations under their own names, run on the terminal server, with
//! a `terminal:*` event to the user's tab after calls that change what the
//! file viewer shows.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{free_name, Selected, Tool, ToolCx};
use crate::chat::turn::Turn;
use crate::llm::model_capability;
use crate::state::AppState;
use crate::terminals::tools::{self as terminal_tools, ChatTerminal};

/// One operation of the turn's terminal.
pub(super) struct TerminalTool {
    pub name: String,
    pub operation: String,
    pub spec: Value,
    pub terminal: Arc<ChatTerminal>,
}

/// Adds the terminal's tools and system prompt to `out` when the request
/// names a configured terminal and the model may use terminals.
pub(super) async fn add(state: &AppState, turn: &Turn, model: &Value, out: &mut Selected) {
    let Some(id) = turn.body.get("terminal_id").and_then(Value::as_str) else {
        return;
    };
    if id.is_empty()
        || !model_capability(model, "terminal")
        || !terminal_tools::configured(state, id)
    {
        return;
    }
    let terminal = match terminal_tools::for_chat(state, &turn.caller, id, &turn.chat_id).await {
        Ok(Some(t)) => Arc::new(t),
        Ok(None) => return,
        Err(why) => {
            tracing::warn!(terminal = %id, error = %why, "terminal left out of the turn");
            out.unreachable.push(format!(
                "The terminal \"{id}\" is not available for this chat; its tools are left out."
            ));
            return;
        }
    };
    if let Some(prompt) = &terminal.system_prompt {
        out.instructions.push(prompt.clone());
    }
    for spec in &terminal.server.specs {
        let operation = spec["name"].as_str().unwrap_or_default().to_string();
        let name = free_name(&out.tools, id, operation.clone());
        let mut spec = spec.clone();
        spec["name"] = json!(name);
        out.tools.push(Tool::Terminal(TerminalTool {
            name,
            operation,
            spec,
            terminal: terminal.clone(),
        }));
    }
}

/// Runs one call on the terminal and tells the user's tab what changed.
pub(super) async fn run(cx: &ToolCx<'_>, tool: &TerminalTool, args: &Map<String, Value>) -> String {
    let mut sent = args.clone();
    if tool.operation == "display_file" {
        // The page is for the viewer, not the terminal.
        sent.remove("page");
    }
    let t = &tool.terminal;
    let text = crate::toolserver::call(&t.server, &tool.operation, &sent, t.headers.clone()).await;
    let args = Value::Object(args.clone());
    if let Some((kind, data)) = terminal_tools::event_after(&tool.operation, &args, &text) {
        let payload = json!({
            "chat_id": cx.chat_id,
            "message_id": cx.message_id,
            "data": {"type": kind, "data": data},
        });
        crate::events::to_user(cx.state, cx.caller.id(), "events", &payload).await;
    }
    text
}
