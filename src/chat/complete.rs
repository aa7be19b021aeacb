//! Where a chat completion request starts (`POST /api/chat/completions`,
//! automations, channel mentions, the Messages API): it is sorted into a
//! browser turn that streams to the user's sockets, an API client's turn in
//! a saved chat, an API client's turn with the built-in tools, or a plain
//! pass-through to the provider.

use serde_json::Value;

use super::persist;
pub use super::pipeline::Answer;
use super::pipeline::{start_in_background, str_field, targets_of, Run};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Answers one completion request; see the module's text for the kinds.
pub async fn handle(state: AppState, caller: Caller, body: Value) -> ApiResult<Answer> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let Some(model) = str_field(&body, "model").map(str::to_string) else {
        return Err(ApiError::bad_request("`model` is required."));
    };
    // Workspace tools are Python: refuse clearly rather than answer without them.
    if body.get("tool_ids").is_some() {
        crate::workspace::tools::reject_python_tools(&Value::Object(body.clone()))?;
    }
    let session_id = str_field(&body, "session_id").map(str::to_string);
    let chat_id = str_field(&body, "chat_id").map(str::to_string);
    if let Some(channel_id) = chat_id.as_deref().and_then(|c| c.strip_prefix("channel:")) {
        let ids = targets_of(&body, &model)?
            .into_iter()
            .map(|t| t.message_id)
            .collect();
        persist::check_channel_targets(&state, &caller, channel_id, ids).await?;
    }
    let wants_new_chat = body.get("parent_id") == Some(&Value::Null) && chat_id.is_none();
    if session_id.is_some() && (chat_id.is_some() || wants_new_chat) {
        let run = Run::default();
        return start_in_background(state, caller, body, model, chat_id, session_id, run).await;
    }
    // An API client of a browser session that turns features on: the
    // server runs the built-in tools and answers with the final reply.
    if session_id.is_some() && chat_id.is_none() && super::api_turn::wanted(&body) {
        return super::api_turn::run(state, caller, body, model, session_id).await;
    }
    // An API client naming a saved chat (no socket to stream to): the turn
    // runs like the browser's and the call returns once it is stored.
    if chat_id.as_deref().is_some_and(|c| !c.contains(':')) {
        let run = Run {
            wait: true,
            ..Run::default()
        };
        return start_in_background(state, caller, body, model, chat_id, None, run).await;
    }
    super::passthrough::direct(state, caller, body, &model).await
}
