//! The events of a streamed Responses API answer as [`StreamEvent`]s: each
//! `response.*` event is handed on whole ([`StreamEvent::Responses`], folded
//! into the reply's items by [`super::reduce`]); `response.completed` also
//! yields the usage and the end of the answer, and a failure ends it with
//! the provider's message.

use serde_json::Value;

use crate::llm::http::error_message;
use crate::llm::{LlmError, StreamEvent};

/// Reads one Responses stream.
#[derive(Debug, Default)]
pub struct Mapper {
    /// A function call item has been seen, so the answer ends in tool calls.
    calls: bool,
    /// `response.completed` has been seen.
    pub finished: bool,
}

fn is_call(item: Option<&Value>) -> bool {
    item.and_then(|i| i.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "function_call")
}

/// The text to show for a provider's error object.
pub fn error_text(error: &Value) -> String {
    match error {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.get("message").is_some_and(Value::is_string) => {
            o["message"].as_str().unwrap_or_default().to_string()
        }
        other => error_message(other).unwrap_or_else(|| other.to_string()),
    }
}

impl Mapper {
    /// The events for one decoded SSE event.
    pub fn map(&mut self, ev: Value) -> Vec<Result<StreamEvent, LlmError>> {
        let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "error" => vec![Err(LlmError::Upstream(error_text(&ev)))],
            "response.failed" => {
                let error = ev.pointer("/response/error").unwrap_or(&Value::Null);
                let text = if error.is_null() {
                    "the response failed".to_string()
                } else {
                    error_text(error)
                };
                vec![Err(LlmError::Upstream(text))]
            }
            "response.completed" => {
                let response = ev.get("response").unwrap_or(&Value::Null);
                self.calls |= response
                    .get("output")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|i| is_call(Some(i))));
                let usage = response.get("usage").filter(|u| u.is_object()).cloned();
                self.finished = true;
                let mut out = vec![Ok(StreamEvent::Responses(ev))];
                if let Some(u) = usage {
                    out.push(Ok(StreamEvent::Usage(u)));
                }
                out.push(Ok(self.finish()));
                out
            }
            k if k.starts_with("response.") => {
                self.calls |= is_call(ev.get("item"));
                vec![Ok(StreamEvent::Responses(ev))]
            }
            _ => Vec::new(),
        }
    }

    /// The end of the answer.
    pub fn finish(&self) -> StreamEvent {
        let reason = if self.calls { "tool_calls" } else { "stop" };
        StreamEvent::Finish {
            reason: Some(reason.to_string()),
            last_chunk: Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn completion_usage_and_failures() {
        let mut m = Mapper::default();
        assert!(m.map(json!({"type": "ping"})).is_empty());
        let added = m.map(json!({"type": "response.output_item.added",
            "item": {"type": "function_call", "call_id": "c"}}));
        assert!(matches!(added[0], Ok(StreamEvent::Responses(_))));
        let done = m.map(json!({"type": "response.completed",
            "response": {"usage": {"total_tokens": 2}}}));
        assert_eq!(done.len(), 3);
        assert!(matches!(&done[1], Ok(StreamEvent::Usage(u)) if u["total_tokens"] == 2));
        assert!(
            matches!(&done[2], Ok(StreamEvent::Finish { reason: Some(r), .. }) if r == "tool_calls")
        );
        let failed = m.map(json!({"type": "response.failed",
            "response": {"error": {"code": "x", "message": "quota exceeded"}}}));
        assert!(matches!(&failed[0], Err(LlmError::Upstream(t)) if t == "quota exceeded"));
        let error = m.map(json!({"type": "error", "code": "x", "message": "exploded"}));
        assert!(matches!(&error[0], Err(LlmError::Upstream(t)) if t == "exploded"));
    }
}
