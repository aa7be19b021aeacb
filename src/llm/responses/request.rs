//! A chat completion request rewritten for the Responses API: the system
//! prompt becomes `instructions`, the messages (and the tool calls and
//! results among them) become `input` items, and the fields the two APIs
//! name differently are renamed.

use serde_json::{json, Map, Value};

/// Chat Completions fields the Responses API does not take.
const DROPPED: &[&str] = &[
    "stream_options",
    "logit_bias",
    "frequency_penalty",
    "presence_penalty",
    "stop",
];

/// The fields an `input` item of a known kind may carry when an earlier
/// reply's stored `output` is replayed (the rest is bookkeeping).
fn replayable_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "message" => &["type", "role", "content"],
        "function_call" => &["type", "call_id", "name", "arguments", "id"],
        "function_call_output" => &["type", "call_id", "output"],
        "reasoning" => &["type", "id", "summary", "encrypted_content", "content"],
        _ => return None,
    })
}

fn stored_item(item: &Value) -> Value {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
    match (replayable_fields(kind), item.as_object()) {
        (Some(keep), Some(o)) => Value::Object(
            o.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => item.clone(),
    }
}

/// The text parts of a content list joined by new lines (or the text itself).
fn joined_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .map(|p| p.get("text").and_then(Value::as_str).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn content_parts(content: &Value, text_type: &str) -> Vec<Value> {
    let text = |t: &str| json!({"type": text_type, "text": t});
    let Value::Array(parts) = content else {
        return vec![text(&match content {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })];
    };
    let mut out = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => out.push(text(part.get("text").and_then(Value::as_str).unwrap_or(""))),
            Some("image_url") => {
                let (url, detail) = match part.get("image_url") {
                    Some(Value::Object(o)) => (
                        o.get("url").and_then(Value::as_str).unwrap_or(""),
                        o.get("detail")
                            .and_then(Value::as_str)
                            .filter(|d| !d.is_empty())
                            .unwrap_or("auto"),
                    ),
                    Some(Value::String(s)) => (s.as_str(), "auto"),
                    _ => ("", "auto"),
                };
                out.push(json!({"type": "input_image", "image_url": url, "detail": detail}));
            }
            Some("file") => {
                let Some(file) = part.get("file").and_then(Value::as_object) else {
                    continue;
                };
                let mut f: Map<String, Value> = ["file_id", "file_data", "filename"]
                    .iter()
                    .filter_map(|k| file.get(*k).map(|v| (k.to_string(), v.clone())))
                    .collect();
                if f.contains_key("file_id") || f.contains_key("file_data") {
                    f.insert("type".into(), json!("input_file"));
                    out.push(Value::Object(f));
                }
            }
            _ => {}
        }
    }
    out
}

/// The `input` items and `instructions` of a message list.
fn input_items(messages: &[Value]) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut instructions = String::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        let content = m.get("content").unwrap_or(&Value::Null);
        if let Some(stored) = m
            .get("output")
            .and_then(Value::as_array)
            .filter(|o| !o.is_empty())
        {
            items.extend(stored.iter().map(stored_item));
            continue;
        }
        if role == "system" {
            instructions = joined_text(content);
            continue;
        }
        if let Some(calls) = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .filter(|c| role == "assistant" && !c.is_empty())
        {
            let said = joined_text(content);
            if !said.trim().is_empty() {
                items.push(json!({"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": said}]}));
            }
            for call in calls {
                let f = call.get("function").unwrap_or(&Value::Null);
                items.push(json!({
                    "type": "function_call",
                    "call_id": call.get("id").cloned().unwrap_or(json!("")),
                    "name": f.get("name").cloned().unwrap_or(json!("")),
                    "arguments": f.get("arguments").cloned().unwrap_or(json!("{}")),
                }));
            }
            continue;
        }
        if role == "tool" {
            items.push(json!({
                "type": "function_call_output",
                "call_id": m.get("tool_call_id").cloned().unwrap_or(json!("")),
                "output": content.clone(),
            }));
            continue;
        }
        let text_type = if role == "assistant" {
            "output_text"
        } else {
            "input_text"
        };
        items.push(json!({"type": "message", "role": role,
            "content": content_parts(content, text_type)}));
    }
    (items, instructions)
}

/// A chat tool `{type, function: {name, description, parameters, strict}}`
/// as the flat Responses tool; other shapes pass as they are.
fn flat_tool(tool: &Value) -> Value {
    let Some(f) = tool.get("function") else {
        return tool.clone();
    };
    let mut out = Map::new();
    out.insert(
        "type".into(),
        tool.get("type").cloned().unwrap_or(json!("function")),
    );
    if let Some(f) = f.as_object() {
        out.insert("name".into(), f.get("name").cloned().unwrap_or(json!("")));
        for k in ["description", "parameters"] {
            if let Some(v) = f.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        // The Responses API makes tools strict unless told otherwise.
        out.insert(
            "strict".into(),
            f.get("strict").cloned().unwrap_or(json!(false)),
        );
    }
    Value::Object(out)
}

/// Rewrites a chat completion request (as sent to the provider) for the
/// Responses API.
pub fn to_responses(body: Value) -> Value {
    let Value::Object(mut obj) = body else {
        return body;
    };
    let messages = match obj.remove("messages") {
        Some(Value::Array(m)) => m,
        _ => Vec::new(),
    };
    let (items, instructions) = input_items(&messages);
    obj.insert("input".into(), Value::Array(items));
    if obj
        .get("previous_response_id")
        .is_some_and(|v| v.is_null() || v == "")
    {
        obj.remove("previous_response_id");
    }
    if !instructions.is_empty() {
        obj.insert("instructions".into(), json!(instructions));
    }
    for k in ["max_tokens", "max_completion_tokens"] {
        if let Some(v) = obj.remove(k) {
            obj.insert("max_output_tokens".into(), v);
        }
    }
    for k in DROPPED {
        obj.remove(*k);
    }
    if let Some(Value::Array(tools)) = obj.get_mut("tools") {
        for t in tools.iter_mut() {
            *t = flat_tool(t);
        }
    }
    if let Some(name) = obj
        .get("tool_choice")
        .and_then(|c| c.get("function"))
        .filter(|f| f.is_object())
        .map(|f| f.get("name").cloned().unwrap_or(json!("")))
    {
        obj.insert(
            "tool_choice".into(),
            json!({"type": "function", "name": name}),
        );
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_instructions_and_input_items() {
        let body = json!({
            "model": "m", "stream": true, "max_tokens": 5, "stop": ["x"],
            "stream_options": {"include_usage": true},
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:a"}}]},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
                {"role": "assistant", "content": "it is 42"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        });
        let out = to_responses(body);
        assert_eq!(out["instructions"], "be brief");
        assert_eq!(out["max_output_tokens"], 5);
        for gone in ["messages", "max_tokens", "stop", "stream_options"] {
            assert!(out.get(gone).is_none(), "{gone} is left");
        }
        let input = out["input"].as_array().unwrap();
        assert_eq!(
            input[0]["content"][1],
            json!({"type": "input_image", "image_url": "data:a", "detail": "auto"})
        );
        assert_eq!(
            input[1],
            json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"})
        );
        assert_eq!(
            input[2],
            json!({"type": "function_call_output", "call_id": "c1", "output": "42"})
        );
        assert_eq!(input[3]["content"][0]["type"], "output_text");
        assert_eq!(
            out["tools"][0],
            json!({"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": false})
        );
        assert_eq!(out["tool_choice"], json!({"type": "function", "name": "f"}));
    }

    #[test]
    fn stored_output_is_replayed_without_bookkeeping() {
        let body = json!({"messages": [{"role": "assistant", "content": "x", "output": [
            {"type": "message", "id": "m", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "x"}]}]}]});
        let item = &to_responses(body)["input"][0];
        assert!(item.get("status").is_none() && item.get("id").is_none());
        assert_eq!(item["role"], "assistant");
    }
}
