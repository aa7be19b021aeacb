//! Tool approval: with `chat.tool_permissions.enable` on, a chat whose
//! `params.tool_approval_mode` is `ask` runs no tool the user has not
//! approved. In a saved chat the reply pauses with the first call `pending`
//! (the others `queued`) and goes on when `/resolve` approves or rejects it
//! ([`super::resume`]); in a temporary chat the user's tab is asked for each
//! call and answers yes or no.

use std::time::Duration;

use serde_json::{json, Value};

use super::output::CallRequest;
use super::turn::Turn;
use crate::events::{call_tab, TabTarget};
use crate::state::AppState;

/// How the tool calls of one turn are approved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Approval {
    /// Calls run as the model makes them.
    #[default]
    Off,
    /// Saved chat: the reply pauses until the user decides.
    Pause,
    /// Temporary chat: the user's tab is asked before each call.
    AskTab,
}

/// The result a call gets when the tab did not approve it.
pub const NOT_APPROVED: &str = "Error: the user did not approve this tool call.";

/// How long a tab may take to answer a confirmation.
const CONFIRM_WAIT: Duration = Duration::from_secs(300);

/// The approval mode of a turn. Channel turns, sub-agents' internal turns
/// and calls without the mode (automations, API clients) always run their tools.
pub fn mode(state: &AppState, turn: &Turn) -> Approval {
    let asked = turn
        .body
        .get("params")
        .and_then(|p| p.get("tool_approval_mode"))
        .and_then(Value::as_str)
        == Some("ask");
    if !asked
        || turn.internal
        || turn.chat_id.starts_with("channel:")
        || !state.config.get_bool("chat.tool_permissions.enable")
    {
        Approval::Off
    } else if turn.persist {
        Approval::Pause
    } else {
        Approval::AskTab
    }
}

/// Asks the tab whether `call` may run; only a plain `true` approves it (a
/// closed tab or a timeout does not).
pub async fn confirm(state: &AppState, to: &TabTarget<'_>, call: &CallRequest) -> bool {
    let arguments: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
    let payload = json!({
        "chat_id": to.chat_id,
        "message_id": to.message_id,
        "data": {
            "type": "confirmation",
            "data": {
                "tool_call": {"id": call.call_id, "name": call.name, "arguments": arguments},
            },
        },
    });
    matches!(
        call_tab(state, to.user_id, to.session_id, &payload, CONFIRM_WAIT).await,
        Ok(Value::Bool(true))
    )
}
