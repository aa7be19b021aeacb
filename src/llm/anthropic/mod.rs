//! The Anthropic Messages API spoken on top of our OpenAI-shaped pipeline
//! (`/api/v1/messages`): a Messages request becomes a chat completion request
//! ([`to_openai`]), and the answer goes back as a Messages reply
//! ([`reply::to_anthropic`]) or event stream ([`stream::Converter`]).
//! Connections that speak Messages natively (Anthropic's own API, LiteLLM)
//! are forwarded as they are ([`is_native`]).

pub mod models;
pub mod reply;
pub mod stream;

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{auth_headers, title_case_client, ModelTarget};

/// The `anthropic-version` header sent to Anthropic's own API.
pub const API_VERSION: &str = "2023-06-01";

/// Request fields the conversion maps itself; any other field reaches the
/// provider only when the connection's `passthrough_params` names it.
const MAPPED: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
    "service_tier",
    "tools",
    "tool_choice",
    "reasoning_effort",
];

/// Fields copied under the same name (`stop_sequences` becomes `stop`).
const COPIED: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "metadata",
    "service_tier",
];

/// Whether a connection takes Messages requests natively.
pub fn is_native(url: &str, api_config: &Value) -> bool {
    let provider = api_config
        .get("provider")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    is_anthropic_url(url) || provider == "litellm"
}

pub fn is_anthropic_url(url: &str) -> bool {
    url.contains("api.anthropic.com")
}

/// The request headers for a native Messages call (and token counting):
/// the connection's auth, with Anthropic's own API getting its key in
/// `x-api-key` and a version header.
pub fn native_headers(target: &ModelTarget) -> reqwest::header::HeaderMap {
    let mut h = auth_headers(
        target.api_key.as_deref(),
        &target.api_config,
        &target.base_url,
    );
    if is_anthropic_url(&target.base_url) {
        h.entry("anthropic-version")
            .or_insert(reqwest::header::HeaderValue::from_static(API_VERSION));
        let bearer = matches!(
            target.api_config.get("auth_type").and_then(Value::as_str),
            None | Some("bearer")
        );
        if bearer {
            h.remove(reqwest::header::AUTHORIZATION);
            if let Some(v) = target
                .api_key
                .as_deref()
                .and_then(|k| reqwest::header::HeaderValue::from_str(k).ok())
            {
                h.entry("x-api-key").or_insert(v);
            }
        }
    }
    h
}

/// The Messages request as the connection should receive it: the model
/// named by its upstream id.
pub fn native_payload(body: &Map<String, Value>, target: &ModelTarget) -> Value {
    let mut p = body.clone();
    p.insert("model".into(), json!(target.upstream_id));
    Value::Object(p)
}

/// Asks the connection how many input tokens the request has
/// (`POST {url}/messages/count_tokens`). `None` when it cannot say.
pub async fn count_tokens(target: &ModelTarget, body: &Map<String, Value>) -> Result<i64, String> {
    let url = format!("{}/messages/count_tokens", target.base_url);
    let resp = title_case_client()
        .post(&url)
        .headers(native_headers(target))
        .timeout(Duration::from_secs(60))
        .json(&native_payload(body, target))
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    let status = resp.status();
    let answer: Value = resp
        .json()
        .await
        .map_err(|e| format!("unreadable token count from {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    match answer.get("input_tokens") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) && n.is_i64() => {
            Ok(n.as_i64().unwrap_or(0))
        }
        _ => Err(format!("{url} sent no valid input_tokens")),
    }
}

/// Keeps a block's `cache_control` hint on the converted part.
fn with_cache(source: &Value, mut part: Value) -> Value {
    if let (Some(cc), Some(o)) = (source.get("cache_control"), part.as_object_mut()) {
        o.insert("cache_control".into(), cc.clone());
    }
    part
}

fn has_cache(parts: &[Value]) -> bool {
    parts.iter().any(|p| p.get("cache_control").is_some())
}

/// OpenAI message content from converted parts: one plain text part without
/// cache hints becomes a string.
fn content_of(parts: Vec<Value>) -> Value {
    match parts.as_slice() {
        [] => json!(""),
        [only]
            if only.get("type").and_then(Value::as_str) == Some("text") && !has_cache(&parts) =>
        {
            only.get("text").cloned().unwrap_or(json!(""))
        }
        _ => Value::Array(parts),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An Anthropic image block as an OpenAI `image_url` part.
fn image_part(block: &Value) -> Option<Value> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let url = match str_of(source, "type") {
        "base64" => {
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("image/png");
            format!("data:{media};base64,{}", str_of(source, "data"))
        }
        "url" => str_of(source, "url").to_string(),
        _ => return None,
    };
    Some(with_cache(
        block,
        json!({"type": "image_url", "image_url": {"url": url}}),
    ))
}

fn text_part(block: &Value) -> Value {
    with_cache(
        block,
        json!({"type": "text", "text": str_of(block, "text")}),
    )
}

/// The content of a `tool_result` block as a tool message's content.
fn tool_result_content(block: &Value) -> Value {
    let mut content = match block.get("content") {
        Some(Value::String(s)) => json!(s),
        Some(Value::Array(items)) => {
            let mut parts = Vec::new();
            for item in items.iter().filter(|i| i.is_object()) {
                match item.get("type").and_then(Value::as_str).unwrap_or("text") {
                    "text" => parts.push(text_part(item)),
                    "image" => parts.extend(image_part(item)),
                    "document" => parts.push(json!({"type": "text", "text": document_text(item)})),
                    "search_result" => {
                        parts.push(json!({"type": "text", "text": search_result_text(item)}))
                    }
                    _ => {}
                }
            }
            let text_only = parts
                .iter()
                .all(|p| p.get("type").and_then(Value::as_str) == Some("text"));
            if text_only && !has_cache(&parts) {
                let texts: Vec<&str> = parts.iter().map(|p| str_of(p, "text")).collect();
                json!(texts.join("\n"))
            } else {
                Value::Array(parts)
            }
        }
        _ => json!(""),
    };
    if block.get("is_error").and_then(Value::as_bool) == Some(true) {
        match &mut content {
            Value::String(s) => *s = format!("Error: {s}"),
            Value::Array(parts) => parts.insert(0, json!({"type": "text", "text": "Error: "})),
            _ => {}
        }
    }
    content
}

/// A document block has no OpenAI counterpart: its title, context and
/// plain-text source as text.
fn document_text(item: &Value) -> String {
    let title = item
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("Document");
    let mut text = format!("[Document: {title}]");
    let context = str_of(item, "context");
    if !context.is_empty() {
        text.push('\n');
        text.push_str(context);
    }
    let source = item.get("source").unwrap_or(&Value::Null);
    let data = str_of(source, "data");
    if str_of(source, "type") == "text" && !data.is_empty() {
        text.push('\n');
        text.push_str(data);
    }
    text
}

/// A search result block as text naming its source.
fn search_result_text(item: &Value) -> String {
    let mut text = format!("[Search Result: {}]", str_of(item, "title"));
    let url = str_of(item, "source");
    if !url.is_empty() {
        text.push_str("\nSource: ");
        text.push_str(url);
    }
    let body: Vec<&str> = item
        .get("content")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .map(|b| str_of(b, "text"))
                .collect()
        })
        .unwrap_or_default();
    if !body.is_empty() {
        text.push('\n');
        text.push_str(&body.join("\n"));
    }
    text
}

/// One Messages message as OpenAI messages (tool results become messages of
/// their own, placed before the message they came in).
fn convert_message(msg: &Value, out: &mut Vec<Value>) {
    let role = msg.get("role").and_then(Value::as_str).unwrap_or("user");
    let blocks = match msg.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return;
        }
        Some(Value::Array(blocks)) => blocks,
        Some(Value::Null) | None => {
            out.push(json!({"role": role, "content": ""}));
            return;
        }
        Some(other) => {
            let text = match other {
                Value::Bool(false) => String::new(),
                Value::Number(n) if n.as_f64() == Some(0.0) => String::new(),
                v => v.to_string(),
            };
            out.push(json!({"role": role, "content": text}));
            return;
        }
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str).unwrap_or("text") {
            "text" => parts.push(text_part(block)),
            // Thinking without a signature cannot be sent back upstream.
            kind @ ("thinking" | "redacted_thinking")
                if kind == "redacted_thinking" || block.get("signature").is_some_and(truthy) =>
            {
                parts.push(with_cache(block, block.clone()));
            }
            "image" => parts.extend(image_part(block)),
            "tool_use" => {
                let input = block.get("input");
                let arguments = match input {
                    Some(v @ Value::Object(_)) => v.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => "{}".into(),
                };
                calls.push(json!({
                    "id": str_of(block, "id"),
                    "type": "function",
                    "function": {"name": str_of(block, "name"), "arguments": arguments},
                }));
            }
            "tool_result" => out.push(json!({
                "role": "tool",
                "tool_call_id": str_of(block, "tool_use_id"),
                "content": tool_result_content(block),
            })),
            _ => {}
        }
    }
    if !calls.is_empty() {
        out.push(json!({"role": role, "content": content_of(parts), "tool_calls": calls}));
    } else if !parts.is_empty() || role == "assistant" {
        out.push(json!({"role": role, "content": content_of(parts)}));
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// The connection's `passthrough_params`: a list, or a comma-separated string.
pub fn passthrough_names(api_config: &Value) -> Vec<String> {
    let raw: Vec<String> = match api_config.get("passthrough_params") {
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    raw.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A Messages request as an OpenAI chat completion request.
pub fn to_openai(p: &Map<String, Value>, passthrough: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("model".into(), p.get("model").cloned().unwrap_or(json!("")));
    let mut messages = Vec::new();
    match p.get("system") {
        Some(Value::String(s)) if !s.is_empty() => {
            messages.push(json!({"role": "system", "content": s}));
        }
        Some(Value::Array(blocks)) if !blocks.is_empty() => {
            let parts: Vec<Value> = blocks
                .iter()
                .filter_map(|b| match b {
                    Value::String(s) => Some(json!({"type": "text", "text": s})),
                    b if b.get("type").and_then(Value::as_str) == Some("text") => {
                        Some(text_part(b))
                    }
                    _ => None,
                })
                .collect();
            messages.push(json!({"role": "system", "content": content_of(parts)}));
        }
        _ => {}
    }
    for msg in p
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        convert_message(msg, &mut messages);
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(v) = p.get("max_tokens") {
        out.insert("max_tokens".into(), v.clone());
    }
    let everything = passthrough.iter().any(|n| n == "*");
    for (k, v) in p {
        if !MAPPED.contains(&k.as_str()) && (everything || passthrough.contains(k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(cfg) = p.get("output_config").and_then(Value::as_object) {
        if let (Some(effort), false) = (cfg.get("effort"), p.contains_key("reasoning_effort")) {
            out.insert("reasoning_effort".into(), effort.clone());
        }
        if let Some(format) = cfg.get("format").and_then(Value::as_object) {
            match format.get("type").and_then(Value::as_str) {
                Some("json_schema") => {
                    let mut schema = Map::new();
                    schema.insert(
                        "name".into(),
                        format
                            .get("name")
                            .cloned()
                            .unwrap_or(json!("response_schema")),
                    );
                    schema.insert(
                        "schema".into(),
                        format.get("schema").cloned().unwrap_or(json!({})),
                    );
                    for k in ["description", "strict"] {
                        if let Some(v) = format.get(k) {
                            schema.insert(k.into(), v.clone());
                        }
                    }
                    out.insert(
                        "response_format".into(),
                        json!({"type": "json_schema", "json_schema": schema}),
                    );
                }
                Some("json_object") => {
                    out.insert("response_format".into(), json!({"type": "json_object"}));
                }
                _ => {}
            }
        }
    }
    if let Some(v) = p.get("reasoning_effort") {
        out.insert("reasoning_effort".into(), v.clone());
    }
    for k in COPIED {
        if let Some(v) = p.get(*k) {
            out.insert((*k).into(), v.clone());
        }
    }
    if let Some(v) = p.get("stop_sequences") {
        out.insert("stop".into(), v.clone());
    }
    if let Some(tools) = p
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    {
        let converted: Vec<Value> = tools
            .iter()
            .map(|t| {
                with_cache(
                    t,
                    json!({"type": "function", "function": {
                        "name": str_of(t, "name"),
                        "description": str_of(t, "description"),
                        "parameters": t.get("input_schema").cloned().unwrap_or(json!({})),
                    }}),
                )
            })
            .collect();
        out.insert("tools".into(), Value::Array(converted));
        if let Some(choice) = p.get("tool_choice").and_then(Value::as_object) {
            let mapped = match choice.get("type").and_then(Value::as_str).unwrap_or("auto") {
                "auto" => Some(json!("auto")),
                "any" => Some(json!("required")),
                "tool" => Some(json!({"type": "function", "function": {
                    "name": choice.get("name").and_then(Value::as_str).unwrap_or(""),
                }})),
                _ => None,
            };
            if let Some(m) = mapped {
                out.insert("tool_choice".into(), m);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(v: Value) -> Value {
        Value::Object(to_openai(v.as_object().unwrap(), &[]))
    }

    #[test]
    fn system_text_and_blocks() {
        let out = convert(json!({"model": "m", "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
            "stop_sequences": ["x"]}));
        assert_eq!(
            out["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(out["messages"][1], json!({"role": "user", "content": "hi"}));
        assert_eq!(out["max_tokens"], json!(5));
        assert_eq!(out["stop"], json!(["x"]));
        let cached = convert(json!({"system": [{"type": "text", "text": "a",
            "cache_control": {"type": "ephemeral"}}], "messages": []}));
        assert_eq!(
            cached["messages"][0]["content"],
            json!([{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}])
        );
    }

    #[test]
    fn tool_use_and_results() {
        let out = convert(json!({"messages": [
            {"role": "assistant", "content": [
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "is_error": true,
                 "content": [{"type": "text", "text": "boom"}]}]}
        ]}));
        let m = out["messages"].as_array().unwrap();
        assert_eq!(
            m[0]["tool_calls"][0]["function"]["arguments"],
            json!("{\"a\":1}")
        );
        assert_eq!(m[0]["content"], json!("calling"));
        assert_eq!(
            m[1],
            json!({"role": "tool", "tool_call_id": "t1", "content": "Error: boom"})
        );
        // The user message held only a tool result: no empty user message.
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn tools_choice_and_passthrough() {
        let p = json!({"messages": [], "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"}, "custom": 1, "other": 2});
        let out = to_openai(p.as_object().unwrap(), &["custom".into()]);
        assert_eq!(out["tool_choice"], json!("required"));
        assert_eq!(
            out["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(out.get("custom"), Some(&json!(1)));
        assert!(!out.contains_key("other"));
        let all = to_openai(p.as_object().unwrap(), &["*".into()]);
        assert_eq!(all.get("other"), Some(&json!(2)));
        // No tools: no tool_choice either.
        let none = convert(json!({"messages": [], "tools": [], "tool_choice": {"type": "auto"}}));
        assert!(none.get("tools").is_none() && none.get("tool_choice").is_none());
    }

    #[test]
    fn images_and_unsigned_thinking() {
        let out = convert(json!({"messages": [{"role": "user", "content": [
            {"type": "thinking", "thinking": "x"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAA"}},
            {"type": "text", "text": "what is it"}]}]}));
        let parts = out["messages"][0]["content"].as_array().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0]["image_url"]["url"],
            json!("data:image/jpeg;base64,AAA")
        );
    }

    #[test]
    fn native_connections() {
        assert!(is_native("https://api.anthropic.com/v1", &json!({})));
        assert!(is_native("http://x", &json!({"provider": "LiteLLM"})));
        assert!(!is_native("http://x", &json!({})));
    }
}
