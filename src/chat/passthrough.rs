//! The OpenAI-compatible path for API clients: the request goes to the
//! provider with the model's defaults, variables, files and memories
//! applied, and the answer comes back as the provider gave it (OpenAI
//! connections) or as OpenAI chunks (other providers).

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use super::params;
use super::pipeline::{apply_model_defaults, ask_for_usage, resolve_for_chat, Answer};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::llm::{self, ResolvedModel, StreamEvent};
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
    if matches!(resolved.target.provider, llm::Provider::OpenAi) {
        let relay = llm::openai_passthrough(&resolved.target, request).await;
        return Ok(Answer::Relay(relay));
    }
    if stream {
        let relay = sse_from_events(&resolved, request).await?;
        return Ok(Answer::Relay(relay));
    }
    let done = llm::complete(&resolved.target, request)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Answer::Completion(done.raw))
}

/// Streams normalised provider events as OpenAI `chat.completion.chunk` SSE
/// (used for Ollama targets so API clients see one format).
async fn sse_from_events(resolved: &ResolvedModel, body: Value) -> ApiResult<llm::Relay> {
    let model = resolved.id.clone();
    let stream = match llm::stream_chat(&resolved.target, body).await {
        Ok(s) => s,
        Err(e) => return Err(ApiError::bad_request(e.to_string())),
    };
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = crate::db::now_secs();
    let chunk = move |delta: Value, finish: Option<String>, usage: Option<Value>| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(u) = usage {
            c["usage"] = u;
        }
        format!("data: {c}\n\n")
    };
    let body = stream.map(move |ev| -> Result<Bytes, llm::BoxError> {
        Ok(Bytes::from(match ev {
            Ok(StreamEvent::Content(t)) => chunk(json!({"content": t}), None, None),
            Ok(StreamEvent::Reasoning(t)) => chunk(json!({"reasoning_content": t}), None, None),
            Ok(StreamEvent::ReasoningDetails(d)) => {
                chunk(json!({"reasoning_details": d}), None, None)
            }
            Ok(StreamEvent::Responses(ev)) => format!("data: {ev}\n\n"),
            Ok(StreamEvent::Usage(u)) => chunk(json!({}), None, Some(u)),
            Ok(StreamEvent::ToolCall(d)) => {
                let mut call = json!({"index": d.index, "type": "function", "function": {}});
                if let Some(id) = d.id {
                    call["id"] = json!(id);
                }
                if let Some(n) = d.name {
                    call["function"]["name"] = json!(n);
                }
                if let Some(a) = d.arguments {
                    call["function"]["arguments"] = json!(a);
                }
                chunk(json!({"tool_calls": [call]}), None, None)
            }
            Ok(StreamEvent::Finish { reason, .. }) => {
                format!(
                    "{}data: {}\n\n",
                    chunk(json!({}), reason.or(Some("stop".into())), None),
                    crate::frontend_texts::SSE_DONE
                )
            }
            Err(e) => format!("data: {}\n\n", json!({"error": {"message": e.to_string()}})),
        }))
    });
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(llm::Relay {
        status: StatusCode::OK,
        headers,
        body: llm::RelayBody::Stream(body.boxed()),
    })
}
