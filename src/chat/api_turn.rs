//! An API client's turn that turns built-in features on (`features` with
//! `memory`, `web_search`, …, from a browser session): the server offers the
//! built-in tools, runs the calls the model makes and answers with the
//! final reply as an OpenAI `chat.completion` (or one SSE chunk and
//! `[DONE]` when the client asked for a stream). Nothing is stored; the
//! turn runs as a temporary chat would.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::pipeline::{generate, resolve_for_chat, Answer};
use super::turn::{Target, Turn};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::llm::{Relay, RelayBody};
use crate::state::AppState;

/// Whether the request turns on a feature the built-in tools serve and
/// brings no tools of its own.
pub fn wanted(body: &Map<String, Value>) -> bool {
    let on = body
        .get("features")
        .and_then(Value::as_object)
        .is_some_and(|f| f.values().any(|v| v == &Value::Bool(true)));
    on && !body.contains_key("tools")
}

/// Runs the turn to its end and shapes the answer.
pub async fn run(
    state: AppState,
    caller: Caller,
    body: Map<String, Value>,
    model: String,
    session_id: Option<String>,
) -> ApiResult<Answer> {
    let resolved = resolve_for_chat(&state, &caller, &model, &body).await?;
    let task_id = crate::db::new_id();
    let message_id = crate::db::new_id();
    let chat_id = format!("local:api-{}", crate::db::new_id());
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let (cancel, progress) =
        state
            .tasks
            .register(&task_id, Some(&chat_id), &caller.user.id, Some(&message_id));
    let _guard = state.tasks.guard(&task_id);
    let user_id = caller.user.id.clone();
    let turn = Turn {
        caller,
        chat_id,
        persist: false,
        new_chat: false,
        folder_id: None,
        session_id,
        user_message_id: None,
        body,
        resumed: Vec::new(),
        internal: false,
        max_rounds: None,
    };
    let target = Target {
        model_id: model,
        message_id,
        model_idx: None,
    };
    let finished = generate(state.clone(), turn, target, cancel, progress).await;
    if let Some(why) = finished.failure {
        tracing::info!(user = %user_id, "an API client's tool turn failed: {why}");
        return Err(ApiError::bad_request(why));
    }
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = crate::db::now_secs();
    let usage = finished.usage.unwrap_or(Value::Null);
    if !stream {
        return Ok(Answer::Completion(json!({
            "id": id, "object": "chat.completion", "created": created, "model": resolved.id,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": finished.content}}],
            "usage": usage,
        })));
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created,
               "model": resolved.id,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let text = format!(
        "data: {}\n\ndata: {}\n\ndata: {}\n\n",
        chunk(
            json!({"role": "assistant", "content": finished.content}),
            Value::Null
        ),
        chunk(json!({}), json!("stop")),
        crate::frontend_texts::SSE_DONE
    );
    let once =
        futures::stream::once(async move { Ok::<_, crate::llm::BoxError>(Bytes::from(text)) });
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(Answer::Relay(Relay {
        status: reqwest::StatusCode::OK,
        headers,
        body: RelayBody::Stream(Box::pin(once)),
    }))
}
