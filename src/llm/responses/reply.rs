//! A whole (non-streamed) Responses API result in Chat Completions shape, so
//! everything downstream of a model call reads one format.

use serde_json::{json, Value};

/// The `arguments` of a function call item as the JSON text chat tools carry.
pub(crate) fn arguments_text(item: &Value) -> String {
    match item.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The text of the `output_text` parts of the `message` items.
pub(crate) fn output_text(output: &[Value]) -> String {
    output
        .iter()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("message"))
        .filter_map(|i| i.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("output_text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect()
}

/// The function call items as chat `tool_calls`.
pub(crate) fn tool_calls(output: &[Value]) -> Vec<Value> {
    output
        .iter()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("function_call"))
        .map(|i| {
            json!({
                "id": i.get("call_id").and_then(Value::as_str).unwrap_or(""),
                "type": "function",
                "function": {
                    "name": i.get("name").and_then(Value::as_str).unwrap_or(""),
                    "arguments": arguments_text(i),
                },
            })
        })
        .collect()
}

/// A Responses result (`{id, model, output, usage}`) as a `chat.completion`.
pub fn to_chat_completion(result: &Value) -> Value {
    let output = result
        .get("output")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let calls = tool_calls(output);
    let mut message = json!({"role": "assistant", "content": output_text(output)});
    let reason = if calls.is_empty() {
        "stop"
    } else {
        message["tool_calls"] = Value::Array(calls);
        "tool_calls"
    };
    json!({
        "id": result.get("id").cloned().unwrap_or(json!("")),
        "object": "chat.completion",
        "model": result.get("model").cloned().unwrap_or(json!("")),
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        "usage": result.get("usage").filter(|u| !u.is_null()).cloned().unwrap_or(json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_calls_become_one_chat_message() {
        let result = json!({"id": "r", "model": "m", "usage": {"total_tokens": 3}, "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "a"},
                                            {"type": "refusal", "refusal": "no"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": {"x": 1}},
        ]});
        let chat = to_chat_completion(&result);
        assert_eq!(chat["object"], "chat.completion");
        let choice = &chat["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "a");
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"x\":1}"
        );
        assert_eq!(chat["usage"]["total_tokens"], 3);
        let plain = to_chat_completion(&json!({"output": []}));
        assert_eq!(plain["choices"][0]["finish_reason"], "stop");
        assert!(plain["choices"][0]["message"].get("tool_calls").is_none());
    }
}
