//! The OpenAI-compatible path for API clients: the request goes to the
//! provider with the model's defaults, variables, files and memories
//! applied, and the answer comes back as the provider gave it (OpenAI
//! connections) or as OpenAI chunks (other providers).

use serde_json::{Map, Value};

use super::params;
use super::pipeline::{apply_model_defaults, ask_for_usage, resolve_for_chat, Answer};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

/// The OpenAI-compatible path for API clients.
pub(super) async fn direct(
    state: AppState,
    caller: Caller,
    body: Map<String, Value>,
    model: &str,
) -> ApiResult<Answer> {
    let Some(messages) = body.get("messages").and_then(Value::as_array).cloned() else {
        return Err(ApiError::bad_request(
            "`messages` must be a list of messages.",
        ));
    };
    let resolved = resolve_for_chat(&state, &caller, model, &body).await?;
    let picks = params::picks_of(&body)?;
    let turn_params = params::turn_params(&resolved, body.get("params"), &picks)?;
    let mut upstream = body.clone();
    for k in [
        "session_id",
        "chat_id",
        "id",
        "parent_id",
        "model_item",
        "background_tasks",
        "features",
        "variables",
        "params",
        "tool_ids",
        "tool_servers",
        "files",
        "metadata",
    ] {
        upstream.remove(k);
    }
    let mut messages = messages;
    apply_model_defaults(&resolved, &mut messages, body.get("variables"));
    super::request_text::user_variables(&mut messages, &caller);
    upstream.insert("messages".into(), Value::Array(messages));
    upstream.insert(
        "model".into(),
        Value::String(resolved.target.upstream_id.clone()),
    );
    let stream = upstream
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // `files` (and memories) reach API clients' answers as they reach the browser's.
    let mut request = Value::Object(upstream);
    llm::apply_model_params(&turn_params, &mut request, false);
    ask_for_usage(&resolved, &mut request);
    let item = &resolved.model_item;
    crate::rag::context::apply(&state, &caller, &body, None, item, &mut request, Vec::new()).await;
    let metadata = serde_json::json!({"user_id": caller.user.id, "chat_id": body.get("chat_id"),
        "message_id": body.get("id"), "session_id": body.get("session_id")});
    let request =
        super::pipeline_filters::inlet(&state, &caller, &resolved, metadata, request).await?;
    if matches!(resolved.target.provider, llm::Provider::OpenAi) {
        let relay = llm::openai_passthrough(&resolved.target, request).await;
        return Ok(Answer::Relay(relay));
    }
    if stream {
        let relay = super::sse_relay::sse_from_events(&resolved, request).await?;
        return Ok(Answer::Relay(relay));
    }
    let done = llm::complete(&resolved.target, request)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Answer::Completion(done.raw))
}
