//! Models of a user's own direct connections: the server never calls the
//! provider. It asks the user's tab (`request:chat:completion` on that tab's
//! socket, with acknowledgement) to run the completion, and reads the
//! provider's stream that the tab forwards on a private channel named
//! `<user_id>:<session_id>:<request_id>`, until `{"done": true}`.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use serde_json::{json, Value};

use super::direct_channels::Open;
use crate::events::{call_tab, TabCallError};
use crate::llm::stream::{completion_events, sse_events};
use crate::llm::{LlmError, StreamEvent};
use crate::state::AppState;

/// What the tab is told when its session is gone or is not the caller's.
pub const SESSION_GONE: &str = "Client session disconnected.";

/// How long a tab may take to take the request on.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// A frame a signed-in tab sent on event `event`: kept when the event names
/// an open channel of that same user. Called in arrival order (from the
/// socket's extractor), so the frames of one stream keep their order.
pub fn deliver(state: &AppState, user_id: &str, event: &str, frame: Value) {
    if event.matches(':').count() != 2 || event.split(':').next() != Some(user_id) {
        return;
    }
    if let Some(tx) = state.direct_channels.lock().get(event) {
        let _ = tx.try_send(frame);
    }
}

/// One frame as a piece of an SSE body.
fn sse_piece(frame: &Value) -> Option<Bytes> {
    match frame {
        Value::String(s) if s.contains("data:") => Some(Bytes::from(format!("{s}\n\n"))),
        Value::String(s) => Some(Bytes::from(format!("data: {s}\n\n"))),
        Value::Null => None,
        other => Some(Bytes::from(format!("data: {other}\n\n"))),
    }
}

fn is_done(frame: &Value) -> bool {
    frame
        .get("done")
        .is_some_and(|d| d.as_bool().unwrap_or(!d.is_null()))
}

/// The tab's refusal, in its own words when it gives some.
fn refusal_text(answer: &Value) -> String {
    let err = answer.get("error").unwrap_or(answer);
    err.get("message")
        .and_then(Value::as_str)
        .or_else(|| err.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| answer.to_string())
}

/// Asks the user's tab `session_id` to run `request` for `model_item`, and
/// streams what it forwards.
pub async fn stream(
    state: &AppState,
    ids: (&str, &str, &str, Option<&str>),
    model_item: &Value,
    request: Value,
) -> Result<BoxStream<'static, Result<StreamEvent, LlmError>>, LlmError> {
    let (user_id, chat_id, message_id, session_id) = ids;
    let gone = || LlmError::Upstream(SESSION_GONE.into());
    // The channel is named after the tab asked (checked again by `call_tab`).
    let session = session_id.ok_or_else(gone)?;
    let name = format!("{user_id}:{session}:{}", uuid::Uuid::new_v4());
    // Open before asking: the tab may forward its whole stream before it
    // acknowledges the request.
    let rx = state.direct_channels.open(&name);
    let open = Open {
        channels: state.direct_channels.clone(),
        name: name.clone(),
    };
    let payload = json!({
        "chat_id": chat_id,
        "message_id": message_id,
        "data": {
            "type": "request:chat:completion",
            "data": {
                "form_data": request,
                "model": model_item,
                "channel": name,
                "session_id": session,
            },
        },
    });
    let ack = call_tab(state, user_id, session_id, &payload, ANSWER_TIMEOUT)
        .await
        .map_err(|e| match e {
            TabCallError::Timeout => LlmError::Upstream(
                "The browser tab did not take the request on in time; it may be closed or asleep."
                    .into(),
            ),
            TabCallError::Gone => gone(),
        })?;
    if ack.get("choices").is_some() {
        // A whole, non-streamed answer.
        return Ok(futures::stream::iter(completion_events(&ack)?.into_iter().map(Ok)).boxed());
    }
    let accepted = ack.get("status").is_some_and(|s| s.as_bool() == Some(true));
    if !accepted {
        return Err(LlmError::Upstream(refusal_text(&ack)));
    }
    let model = model_item
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let body = futures::stream::unfold((rx, open), |(mut rx, open)| async move {
        loop {
            let frame = rx.recv().await?;
            if is_done(&frame) {
                return None;
            }
            if let Some(piece) = sse_piece(&frame) {
                return Some((piece, (rx, open)));
            }
        }
    })
    .boxed();
    Ok(sse_events(body, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_sse_pieces() {
        assert_eq!(
            sse_piece(&json!("data: {\"a\":1}")).unwrap(),
            "data: {\"a\":1}\n\n"
        );
        assert_eq!(sse_piece(&json!("[DONE]")).unwrap(), "data: [DONE]\n\n");
        assert_eq!(sse_piece(&json!({"a": 1})).unwrap(), "data: {\"a\":1}\n\n");
        assert!(is_done(&json!({"done": true})));
        assert!(!is_done(&json!({"done": false})));
        assert_eq!(
            refusal_text(&json!({"error": {"message": "bad key"}})),
            "bad key"
        );
        assert_eq!(refusal_text(&json!({"error": "nope"})), "nope");
    }
}
