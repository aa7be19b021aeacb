//! A stored assistant message's `output` items as provider messages: the
//! text it said, the tool calls it made (only those that finished and have a
//! result, so strict providers never see a call without its answer) and the
//! `tool` messages with their results.

use std::collections::HashSet;

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

/// Whether the output holds tool calls.
pub fn has_calls(output: &[Value]) -> bool {
    output
        .iter()
        .any(|i| matches!(kind(i), "function_call" | "function_call_output"))
}

/// What the model is told in front of the images its tools returned (tool
/// messages carry text only, so the images follow as a user message).
const TOOL_IMAGES_NOTE: &str = "The tools above returned these images.";

/// Reasoning details the provider can take back: all but Anthropic thinking
/// blocks without their signature, which Anthropic refuses.
fn replayable_details(item: &Value) -> Vec<Value> {
    let details = match item.get("reasoning_details") {
        Some(Value::Array(a)) => a.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        _ => return Vec::new(),
    };
    details
        .into_iter()
        .filter(|d| {
            d.is_object()
                && (d.get("format").and_then(Value::as_str) != Some("anthropic-claude-v1")
                    || d.get("signature")
                        .is_some_and(|s| !s.is_null() && s != &Value::String(String::new())))
        })
        .collect()
}

/// Where a provider takes back earlier reasoning as a top-level field of the
/// assistant message: Ollama's native `thinking`, llama.cpp's
/// `reasoning_content`. Other providers get none (strict ones refuse it).
pub fn reasoning_field(model_item: &Value) -> Option<&'static str> {
    if model_item.get("owned_by").and_then(Value::as_str) == Some("ollama") {
        Some("thinking")
    } else if model_item.get("provider").and_then(Value::as_str) == Some("llama.cpp") {
        Some("reasoning_content")
    } else {
        None
    }
}

/// The text of a `reasoning` item: its summary parts, else its content parts.
fn reasoning_text(item: &Value) -> String {
    let parts = |key: &str| {
        item.get(key)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .cloned()
    };
    parts("summary")
        .or_else(|| parts("content"))
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect()
}

#[derive(Default)]
struct Pending<'a> {
    /// The field earlier reasoning goes back in, if the provider takes it.
    field: Option<&'static str>,
    reasoning: Vec<String>,
    texts: Vec<String>,
    calls: Vec<Value>,
    details: Vec<Value>,
    results: Vec<&'a Value>,
    images: Vec<String>,
}

impl Pending<'_> {
    /// The assistant message gathered so far.
    fn flush(&mut self, out: &mut Vec<Value>) {
        if self.texts.is_empty()
            && self.calls.is_empty()
            && self.details.is_empty()
            && self.reasoning.is_empty()
        {
            return;
        }
        let mut m = json!({"role": "assistant", "content": self.texts.join("\n")});
        if let (Some(field), false) = (self.field, self.reasoning.is_empty()) {
            m[field] = json!(std::mem::take(&mut self.reasoning).join("\n"));
        }
        if !self.calls.is_empty() {
            m["tool_calls"] = Value::Array(std::mem::take(&mut self.calls));
        }
        if !self.details.is_empty() {
            m["reasoning_details"] = Value::Array(std::mem::take(&mut self.details));
        }
        self.texts.clear();
        out.push(m);
    }

    /// The results gathered so far, after the assistant message that called
    /// for them; their images wait for [`Pending::flush_images`].
    fn flush_results(&mut self, out: &mut Vec<Value>) {
        if self.results.is_empty() {
            return;
        }
        // Results in the order the calls were made, whatever order they finished in.
        let order: Vec<String> = self
            .calls
            .iter()
            .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        self.results
            .sort_by_key(|r| order.iter().position(|id| Some(id.as_str()) == call_id(r)));
        self.flush(out);
        for item in std::mem::take(&mut self.results) {
            if let Some(Value::Array(parts)) = item.get("output") {
                self.images.extend(
                    parts
                        .iter()
                        .filter(|p| p.get("type").and_then(Value::as_str) == Some("input_image"))
                        .filter_map(|p| p.get("image_url").and_then(Value::as_str))
                        .filter(|u| !u.is_empty())
                        .map(str::to_string),
                );
            }
            out.push(json!({
                "role": "tool",
                "tool_call_id": call_id(item).unwrap_or(""),
                "content": result_text(item),
            }));
        }
    }

    fn flush_images(&mut self, out: &mut Vec<Value>) {
        if self.images.is_empty() {
            return;
        }
        let mut content = vec![json!({"type": "text", "text": TOOL_IMAGES_NOTE})];
        content.extend(
            self.images
                .drain(..)
                .map(|url| json!({"type": "image_url", "image_url": {"url": url}})),
        );
        out.push(json!({"role": "user", "content": content}));
    }
}

/// Provider messages for one stored assistant turn, reasoning details left
/// out (see [`output_to_messages_with`]).
pub fn output_to_messages(output: &[Value]) -> Vec<Value> {
    output_to_messages_with(output, true)
}

/// Provider messages for one stored assistant turn: its text (one line per
/// message item), the tool calls that finished and have a result, each
/// round's results as `tool` messages with any images they returned in a
/// user message after them, and, when `with_details` (the turn was written
/// by the model now asked), the reasoning details it can take back.
pub fn output_to_messages_with(output: &[Value], with_details: bool) -> Vec<Value> {
    output_to_messages_for(output, with_details, None)
}

/// [`output_to_messages_with`], with the reasoning text given back in
/// `field` ([`reasoning_field`]) when the provider takes it.
pub fn output_to_messages_for(
    output: &[Value],
    with_details: bool,
    field: Option<&'static str>,
) -> Vec<Value> {
    let finished: HashSet<&str> = output
        .iter()
        .filter(|i| kind(i) == "function_call")
        .filter(|i| {
            matches!(
                i.get("status").and_then(Value::as_str),
                Some("completed" | "failed" | "rejected")
            )
        })
        .filter_map(call_id)
        .collect();
    let answered: HashSet<&str> = output
        .iter()
        .filter(|i| kind(i) == "function_call_output")
        .filter_map(call_id)
        .collect();
    let replayed =
        |i: &Value| call_id(i).is_some_and(|id| finished.contains(id) && answered.contains(id));
    let mut out = Vec::new();
    let mut p = Pending {
        field,
        ..Pending::default()
    };
    for item in output {
        if kind(item) != "function_call_output" {
            p.flush_results(&mut out);
            p.flush_images(&mut out);
        }
        match kind(item) {
            "message" => {
                let text = message_item_text(item);
                if !text.is_empty() {
                    p.texts.push(text);
                }
            }
            "function_call" if replayed(item) => {
                let arguments = match item.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(other) => other.to_string(),
                };
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                p.calls.push(json!({
                    "id": call_id(item).unwrap_or(""),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }));
            }
            "function_call_output" if replayed(item) => p.results.push(item),
            "reasoning" => {
                if with_details {
                    p.details.extend(replayable_details(item));
                }
                let text = reasoning_text(item);
                if field.is_some() && !text.is_empty() {
                    p.reasoning.push(text);
                }
            }
            crate::interpreter::item::ITEM_TYPE => {
                p.texts.extend(crate::interpreter::item::replay_texts(item))
            }
            _ => {}
        }
    }
    p.flush_results(&mut out);
    p.flush_images(&mut out);
    p.flush(&mut out);
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

    #[test]
    fn images_follow_results_and_waiting_calls_stay_out() {
        let with_image = json!({"type": "function_call_output", "call_id": "c",
            "output": [{"type": "input_text", "text": "drawn"},
                       {"type": "input_image", "image_url": "data:image/png;base64,AA"}]});
        let m = output_to_messages(&[call("c", "completed"), with_image, text("see")]);
        let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["assistant", "tool", "user", "assistant"]);
        assert_eq!(m[1]["content"], "drawn");
        assert_eq!(
            m[2]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AA"
        );
        assert!(output_to_messages(&[call("c", "pending"), result("c")]).is_empty());
        let lines = output_to_messages(&[text("first"), text("second")]);
        assert_eq!(
            lines,
            vec![json!({"role": "assistant", "content": "first\nsecond"})]
        );
    }

    #[test]
    fn reasoning_details_go_back_only_when_asked_and_signed() {
        let signed = json!({"format": "anthropic-claude-v1", "text": "t", "signature": "s"});
        let unsigned = json!({"format": "anthropic-claude-v1", "text": "t"});
        let other = json!({"format": "openai-responses-v1", "text": "t"});
        let reasoning =
            json!({"type": "reasoning", "reasoning_details": [signed, unsigned, other]});
        let m = output_to_messages_with(&[reasoning.clone(), text("hi")], true);
        assert_eq!(m[0]["reasoning_details"], json!([signed, other]));
        let m = output_to_messages_with(&[reasoning, text("hi")], false);
        assert_eq!(m, vec![json!({"role": "assistant", "content": "hi"})]);
    }

    #[test]
    fn reasoning_text_goes_back_only_to_providers_that_take_it() {
        let thought =
            json!({"type": "reasoning", "content": [{"type": "reasoning_text", "text": "hmm"}]});
        let items = [thought, text("hi")];
        let ollama = reasoning_field(&json!({"owned_by": "ollama"}));
        let m = output_to_messages_for(&items, false, ollama);
        assert_eq!(
            m,
            vec![json!({"role": "assistant", "content": "hi", "thinking": "hmm"})]
        );
        let llama = reasoning_field(&json!({"provider": "llama.cpp"}));
        assert_eq!(
            output_to_messages_for(&items, false, llama)[0]["reasoning_content"],
            "hmm"
        );
        let openai = reasoning_field(&json!({"owned_by": "openai"}));
        assert_eq!(
            output_to_messages_for(&items, false, openai),
            vec![json!({"role": "assistant", "content": "hi"})]
        );
    }
}
