//! API clients' streamed answers from providers that do not speak OpenAI's
//! format (Ollama): the normalised events re-sent as OpenAI
//! `chat.completion.chunk` server-sent events.

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::llm::{self, ResolvedModel, StreamEvent};

/// Streams normalised provider events as OpenAI `chat.completion.chunk` SSE
/// (used for Ollama targets so API clients see one format).
pub(super) async fn sse_from_events(
    resolved: &ResolvedModel,
    body: Value,
) -> ApiResult<llm::Relay> {
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
