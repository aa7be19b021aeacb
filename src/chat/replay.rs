//! A stored assistant message's `output` items as provider messages: the
//! text it said, the tool calls it made (only those that finished and have a
//! result, so strict providers never see a call without its answer) and the
//! `tool` messages with their results.

use std::collections::HashMap;

use serde_json::{json, Value};

fn kind(item: &Value) -> &str {
    item.get("type").and_then(Value::as_str).unwrap_or("")
}

fn call_id(item: &Value) -> Option<&str> {
    item.get("call_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The text of a `message` item's `output_text` parts.
fn message_item_text(item: &Value) -> String {
    item.get("content")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("output_text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The text of a `function_call_output` item, as the model reads it.
pub fn result_text(item: &Value) -> String {
    match item.get("output") {
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("input_text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Whether the output holds tool calls, so [`output_to_messages`] applies.
pub fn has_calls(output: &[Value]) -> bool {
    output
        .iter()
        .any(|i| matches!(kind(i), "function_call" | "function_call_output"))
}

struct Pending {
    text: String,
    calls: Vec<Value>,
    results: Vec<Value>,
    /// A result has come in since the last call: the next call is a new round.
    answered: bool,
}

impl Pending {
    fn flush(&mut self, out: &mut Vec<Value>) {
        if !self.calls.is_empty() {
            out.push(json!({
                "role": "assistant",
                "content": std::mem::take(&mut self.text),
                "tool_calls": std::mem::take(&mut self.calls),
            }));
            out.append(&mut self.results);
        } else if !self.text.trim().is_empty() {
            out.push(json!({"role": "assistant", "content": std::mem::take(&mut self.text)}));
        }
        self.text.clear();
        self.answered = false;
    }
}

/// Provider messages for one stored assistant turn with tool calls.
pub fn output_to_messages(output: &[Value]) -> Vec<Value> {
    let results: HashMap<&str, String> = output
        .iter()
        .filter(|i| kind(i) == "function_call_output")
        .filter_map(|i| Some((call_id(i)?, result_text(i))))
        .collect();
    let mut out = Vec::new();
    let mut pending = Pending {
        text: String::new(),
        calls: Vec::new(),
        results: Vec::new(),
        answered: false,
    };
    for item in output {
        match kind(item) {
            "message" => {
                if !pending.calls.is_empty() {
                    pending.flush(&mut out);
                }
                pending.text.push_str(&message_item_text(item));
            }
            "function_call_output" => pending.answered = true,
            "function_call" => {
                if pending.answered && !pending.calls.is_empty() {
                    pending.flush(&mut out);
                }
                let status = item.get("status").and_then(Value::as_str).unwrap_or("");
                let unresolved = matches!(status, "in_progress" | "pending");
                let Some(id) = call_id(item) else { continue };
                let Some(result) = results.get(id).filter(|_| !unresolved) else {
                    continue;
                };
                let arguments = match item.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(other) => other.to_string(),
                };
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                pending.calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }));
                pending.results.push(json!({
                    "role": "tool",
                    "tool_call_id": id,
                    "content": result,
                }));
            }
            _ => {}
        }
    }
    pending.flush(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Value {
        json!({"type": "message", "content": [{"type": "output_text", "text": t}]})
    }
    fn call(id: &str, status: &str) -> Value {
        json!({"type": "function_call", "call_id": id, "name": "f", "arguments": "{}", "status": status})
    }
    fn result(id: &str) -> Value {
        json!({"type": "function_call_output", "call_id": id,
               "output": [{"type": "input_text", "text": format!("r{id}")}], "status": "completed"})
    }

    #[test]
    fn only_finished_calls_with_results_are_replayed() {
        let m = output_to_messages(&[text("a"), call("c1", "completed"), result("c1"), text("b")]);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["tool_calls"][0]["id"], "c1");
        assert_eq!(m[0]["content"], "a");
        assert_eq!(
            m[1],
            json!({"role": "tool", "tool_call_id": "c1", "content": "rc1"})
        );
        assert_eq!(m[2]["content"], "b");

        let orphan = output_to_messages(&[text("said"), call("x", "completed")]);
        assert_eq!(
            orphan,
            vec![json!({"role": "assistant", "content": "said"})]
        );
        assert!(output_to_messages(&[call("p", "in_progress"), result("p")]).is_empty());
        let batch =
            output_to_messages(&[call("a", "completed"), call("o", "completed"), result("a")]);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0]["tool_calls"].as_array().unwrap().len(), 1);
        // Two rounds without text between them stay two assistant messages.
        let rounds = output_to_messages(&[
            call("a", "completed"),
            result("a"),
            call("b", "completed"),
            result("b"),
            text("done"),
        ]);
        let roles: Vec<&str> = rounds.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(
            roles,
            ["assistant", "tool", "assistant", "tool", "assistant"]
        );
    }
}
