//! An MCP `tools/call` result as the text the model reads, following how
//! Open WebUI turns one into a tool result:
//!
//! - `isError`: the texts of its content, as `{"error": …}`;
//! - each text block is read as JSON when it is JSON, else kept as text;
//!   embedded resources give their text (or their URI);
//! - `structuredContent` is added as one more block unless a text block
//!   already says the same (also FastMCP's `{"result": …}` wrapping);
//! - one block alone is the result; several become `{"results": [...]}`;
//!   JSON is pretty-printed with two spaces.
//!
//! Pictures (image blocks and image resources) go to the model beside the
//! text ([`images`]); audio and other binary resources are not shown to it.
//! A short note in the text says what was returned.

use serde_json::{json, Value};

fn texts(content: &[Value]) -> Vec<&str> {
    content
        .iter()
        .filter(|c| c["type"] == "text")
        .filter_map(|c| c["text"].as_str())
        .collect()
}

/// A text read as JSON when it is JSON.
fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Whether the structured content only repeats what the text blocks say.
fn repeats_texts(structured: &Value, texts: &[&str]) -> bool {
    let values: Vec<Value> = texts.iter().map(|t| parsed(t)).collect();
    if values.iter().any(|v| v == structured) {
        return true;
    }
    let Some(wrapped) = structured
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("result"))
    else {
        return false;
    };
    if values.len() == 1 && &values[0] == wrapped {
        return true;
    }
    let items: Vec<&Value> = match wrapped {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    !texts.is_empty()
        && texts.len() == items.len()
        && texts
            .iter()
            .zip(&values)
            .zip(items)
            .all(|((t, v), item)| item.as_str() == Some(t) || v == item)
}

fn note(tool: &str, what: &str, mime: &str) -> Value {
    Value::String(format!(
        "{tool}: the tool returned {what} ({mime}); it is not shown to the model."
    ))
}

/// The model's view of one content block, if it has one.
fn block(tool: &str, item: &Value) -> Option<Value> {
    let mime = item["mimeType"].as_str().unwrap_or("unknown type");
    match item["type"].as_str()? {
        "text" => item["text"].as_str().map(parsed),
        "image" => Some(Value::String(format!(
            "{tool}: the tool returned an image ({mime}), attached to this result."
        ))),
        "audio" => Some(note(tool, "audio", mime)),
        "resource" => {
            let r = &item["resource"];
            if let Some(t) = r["text"].as_str().filter(|t| !t.is_empty()) {
                return Some(parsed(t));
            }
            let uri = r["uri"].as_str().unwrap_or("resource");
            if r["blob"].as_str().is_some_and(|b| !b.is_empty()) {
                let mime = r["mimeType"].as_str().unwrap_or("application/octet-stream");
                if mime.starts_with("image/") {
                    return Some(Value::String(format!(
                        "{tool}: the tool returned the image {uri} ({mime}), attached to this result."
                    )));
                }
                return Some(note(tool, &format!("the binary resource {uri}"), mime));
            }
            r["uri"].as_str().map(|u| Value::String(u.to_string()))
        }
        _ => None,
    }
}

/// A picture a tool returned: its content type and base64 data.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub mime: String,
    pub base64: String,
}

/// The pictures of a successful result: image blocks and resources whose
/// blob is an image.
pub fn images(result: &Value) -> Vec<Picture> {
    if result["isError"] == json!(true) {
        return Vec::new();
    }
    let content = result["content"].as_array().cloned().unwrap_or_default();
    content
        .iter()
        .filter_map(|c| {
            let (mime, data) = match c["type"].as_str()? {
                "image" => (c["mimeType"].as_str()?, c["data"].as_str()?),
                "resource" => (
                    c["resource"]["mimeType"].as_str()?,
                    c["resource"]["blob"].as_str()?,
                ),
                _ => return None,
            };
            (mime.starts_with("image/") && !data.is_empty()).then(|| Picture {
                mime: mime.to_string(),
                base64: data.to_string(),
            })
        })
        .collect()
}

/// The result of a call (`CallToolResult` as JSON) as the model reads it.
pub fn answer_text(tool: &str, result: &Value) -> String {
    let mut content: Vec<Value> = result["content"].as_array().cloned().unwrap_or_default();
    let said = texts(&content);
    if result["isError"] == json!(true) {
        let message = if said.is_empty() {
            format!("the MCP tool {tool} reported an error")
        } else {
            said.join("\n")
        };
        return super::super::error_text(&message);
    }
    match result.get("structuredContent") {
        Some(s) if !s.is_null() && !repeats_texts(s, &said) => {
            content.push(json!({"type": "text", "text": s.to_string()}));
        }
        _ => {}
    }
    let mut blocks: Vec<Value> = content.iter().filter_map(|c| block(tool, c)).collect();
    let answer = if blocks.len() == 1 {
        blocks.remove(0)
    } else {
        json!({"results": blocks})
    };
    match answer {
        Value::String(s) => s,
        other => serde_json::to_string_pretty(&other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Value {
        json!({"type": "text", "text": t})
    }

    #[test]
    fn plain_and_json_texts() {
        let r = json!({"content": [text("sunny")]});
        assert_eq!(answer_text("t", &r), "sunny");
        let r = json!({"content": [text(r#"{"a":1}"#)]});
        assert_eq!(answer_text("t", &r), "{\n  \"a\": 1\n}");
        let r = json!({"content": [text("one"), text("two")]});
        let v: Value = serde_json::from_str(&answer_text("t", &r)).unwrap();
        assert_eq!(v, json!({"results": ["one", "two"]}));
    }

    #[test]
    fn errors_carry_their_texts() {
        let r = json!({"content": [text("no such city")], "isError": true});
        let v: Value = serde_json::from_str(&answer_text("t", &r)).unwrap();
        assert_eq!(v, json!({"error": "no such city"}));
        let r = json!({"content": [], "isError": true});
        assert!(answer_text("t", &r).contains("reported an error"));
    }

    #[test]
    fn structured_content_is_added_once() {
        let same = json!({"content": [text(r#"{"t": 20}"#)], "structuredContent": {"t": 20}});
        let v: Value = serde_json::from_str(&answer_text("t", &same)).unwrap();
        assert_eq!(v, json!({"t": 20}));
        let wrapped = json!({"content": [text("7")], "structuredContent": {"result": 7}});
        assert_eq!(answer_text("t", &wrapped), "7");
        let listed = json!({"content": [text("a"), text("b")],
            "structuredContent": {"result": ["a", "b"]}});
        let v: Value = serde_json::from_str(&answer_text("t", &listed)).unwrap();
        assert_eq!(v, json!({"results": ["a", "b"]}));
        let new = json!({"content": [text("see data")], "structuredContent": {"t": 21}});
        let v: Value = serde_json::from_str(&answer_text("t", &new)).unwrap();
        assert_eq!(v, json!({"results": ["see data", {"t": 21}]}));
        let only = json!({"content": [], "structuredContent": {"t": 22}});
        let v: Value = serde_json::from_str(&answer_text("t", &only)).unwrap();
        assert_eq!(v, json!({"t": 22}));
    }

    #[test]
    fn media_and_resources() {
        let r = json!({"content": [{"type": "image", "data": "AAAA", "mimeType": "image/png"}]});
        assert!(answer_text("draw", &r).contains("image/png"));
        let r = json!({"content": [{"type": "resource",
            "resource": {"uri": "file:///a.txt", "text": "hello"}}]});
        assert_eq!(answer_text("t", &r), "hello");
        let r = json!({"content": [{"type": "resource",
            "resource": {"uri": "file:///a.bin", "blob": "AAAA", "mimeType": "application/zip"}}]});
        let t = answer_text("t", &r);
        assert!(
            t.contains("file:///a.bin") && t.contains("application/zip"),
            "{t}"
        );
    }
}
