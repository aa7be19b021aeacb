//! Answers of a scripted OpenAI-compatible model for tool-calling tests: a
//! reply is `{"text": …}` or `{"calls": [[id, name, arguments], …]}`, and the
//! arguments of each call arrive in two pieces, as real providers split them.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mock-gpt",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

/// A whole (non-streamed) completion saying `answer`: what task-model calls get.
pub fn task_answer(answer: String) -> Response {
    Json(json!({"id": "t", "object": "chat.completion", "created": 1, "model": "mock-gpt",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]}))
    .into_response()
}

/// The event stream of one scripted reply.
pub fn reply_stream(reply: &Value) -> Response {
    let mut out = chunk(json!({"role": "assistant", "content": ""}), None);
    if let Some(t) = reply["text"].as_str() {
        out.push_str(&chunk(json!({"content": t}), None));
        out.push_str(&chunk(json!({}), Some("stop")));
    }
    if let Some(calls) = reply["calls"].as_array() {
        for (i, c) in calls.iter().enumerate() {
            let args = c[2].as_str().unwrap();
            let (a, b) = args.split_at(args.len() / 2);
            out.push_str(&chunk(
                json!({"tool_calls": [{"index": i, "id": c[0], "type": "function",
                    "function": {"name": c[1], "arguments": a}}]}),
                None,
            ));
            out.push_str(&chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": b}}]}),
                None,
            ));
        }
        out.push_str(&chunk(json!({}), Some("tool_calls")));
    }
    out.push_str("data: [DONE]\n\n");
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from(out))
        .unwrap()
}
