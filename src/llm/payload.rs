//! Shaping request bodies: model params and system prompts, provider URLs,
//! and the OpenAI → Ollama `/api/chat` translation.

use serde_json::{json, Map, Value};

use super::http::{azure_deployment_url, is_azure};
use super::{LlmError, ModelTarget};

/// Params that steer Open WebUI itself and never go to a provider.
const OWN_PARAMS: &[&str] = &[
    "stream_response",
    "stream_delta_chunk_size",
    "function_calling",
    "reasoning_tags",
    "compact_token_threshold",
    "system",
    "note_id",
    "tool_approval_mode",
    "model_controls",
];

fn deep_update(target: &mut Value, src: &Value) {
    match (target, src) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                if v.is_object() {
                    let slot = t.entry(k.clone()).or_insert_with(|| json!({}));
                    if !slot.is_object() {
                        *slot = json!({});
                    }
                    deep_update(slot, v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        (t, s) => *t = s.clone(),
    }
}

/// Params without Open WebUI's own keys, with `custom_params` (JSON text
/// values parsed when they parse) merged in.
fn provider_params(params: &Value) -> Map<String, Value> {
    let mut p = params.as_object().cloned().unwrap_or_default();
    for k in OWN_PARAMS {
        p.remove(*k);
    }
    if let Some(Value::Object(custom)) = p.remove("custom_params") {
        let parsed: Map<String, Value> = custom
            .into_iter()
            .map(|(k, v)| {
                let v = match &v {
                    Value::String(s) => serde_json::from_str(s).unwrap_or(v),
                    _ => v,
                };
                (k, v)
            })
            .collect();
        let mut merged = Value::Object(p);
        deep_update(&mut merged, &Value::Object(parsed));
        p = match merged {
            Value::Object(o) => o,
            _ => Map::new(),
        };
    }
    p
}

fn as_f64(v: &Value) -> Option<Value> {
    match v {
        Value::Number(_) => Some(v.clone()),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| json!(f)),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(|i| json!(i)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| json!(f as i64)),
        _ => None,
    }
}

/// `stop` sequences as typed in the UI carry escapes like `\n`.
fn unescape_stops(v: &Value) -> Option<Value> {
    let list: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => return None,
    };
    Some(Value::Array(
        list.into_iter()
            .map(|s| {
                Value::String(
                    s.replace("\\n", "\n")
                        .replace("\\t", "\t")
                        .replace("\\r", "\r"),
                )
            })
            .collect(),
    ))
}

fn cast(key: &str, v: &Value, ollama: bool) -> Option<Value> {
    match key {
        "temperature" | "top_p" | "min_p" | "frequency_penalty" | "presence_penalty"
        | "mirostat_eta" | "mirostat_tau" | "repeat_penalty" => as_f64(v),
        "max_tokens" | "mirostat" | "num_ctx" | "num_batch" | "num_keep" | "num_predict"
        | "repeat_last_n" | "top_k" | "num_gpu" | "num_thread" => as_i64(v),
        "stop" => unescape_stops(v),
        "use_mmap" | "use_mlock" => v.as_bool().map(Value::Bool),
        "reasoning_effort" if !ollama => v.as_str().map(|s| json!(s)),
        _ => Some(v.clone()),
    }
}

/// Fills a request body with a workspace model's params where the request
/// does not set them already (the chat's own params win). For Ollama the
/// params go to `options`, except `format`, `keep_alive` and `think`.
pub fn apply_model_params(params: &Value, body: &mut Value, ollama: bool) {
    let p = provider_params(params);
    if p.is_empty() {
        return;
    }
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    if !ollama {
        for (k, v) in p {
            if v.is_null() || obj.contains_key(&k) {
                continue;
            }
            if let Some(v) = cast(&k, &v, false) {
                obj.insert(k, v);
            }
        }
        return;
    }
    let mut p = p;
    if let Some(v) = p.remove("max_tokens") {
        p.entry("num_predict").or_insert(v);
    }
    for root in ["format", "keep_alive", "think"] {
        if let Some(v) = p.remove(root) {
            if v.is_null() || obj.contains_key(root) {
                continue;
            }
            let v = match &v {
                Value::String(s) if root != "think" => serde_json::from_str(s).unwrap_or(v),
                _ => v,
            };
            obj.insert(root.to_string(), v);
        }
    }
    let options = obj.entry("options").or_insert_with(|| json!({}));
    if !options.is_object() {
        *options = json!({});
    }
    let options = options.as_object_mut().expect("just made an object");
    for (k, v) in p {
        if v.is_null() || options.contains_key(&k) {
            continue;
        }
        if let Some(v) = cast(&k, &v, true) {
            options.insert(k, v);
        }
    }
}

/// Puts a system prompt first: merged in front of an existing leading
/// system message, or as a new one.
pub fn apply_system_prompt(system: &str, messages: &mut Vec<Value>) {
    if system.is_empty() {
        return;
    }
    if let Some(first) = messages
        .first_mut()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("system"))
    {
        match first.get_mut("content") {
            Some(Value::Array(parts)) => {
                for part in parts.iter_mut() {
                    if part.get("type").and_then(Value::as_str) == Some("text") {
                        let old = part
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        part["text"] = json!(format!("{system}\n{old}"));
                    }
                }
            }
            Some(Value::String(old)) => *old = format!("{system}\n{old}"),
            _ => first["content"] = json!(system),
        }
        return;
    }
    messages.insert(0, json!({"role": "system", "content": system}));
}

/// OpenAI's reasoning models (o-series, gpt-5 and later) take
/// `max_completion_tokens` and a `developer` message instead of `system`.
fn is_openai_reasoning_model(model: &str) -> bool {
    let lower = model.to_ascii_lowercase();
    let lower = match lower.find("openai.") {
        Some(i)
            if lower[..i]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c == '.') =>
        {
            lower[i + 7..].to_string()
        }
        _ => lower,
    };
    let b = lower.as_bytes();
    if b.len() >= 2 && b[0] == b'o' && b[1].is_ascii_digit() {
        return true;
    }
    if let Some(rest) = lower.strip_prefix("gpt-") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return digits.parse::<u32>().is_ok_and(|n| n >= 5);
    }
    false
}

/// The URL and body of an OpenAI-compatible chat request for `target`.
pub(crate) fn openai_request(
    target: &ModelTarget,
    body: Value,
    stream: bool,
) -> Result<(String, Value), LlmError> {
    let mut obj = match body {
        Value::Object(o) => o,
        _ => {
            return Err(LlmError::Decode(
                "the chat request must be a JSON object".into(),
            ))
        }
    };
    obj.remove("metadata");
    obj.insert("model".into(), json!(target.upstream_id));
    obj.insert("stream".into(), json!(stream));
    // Usage is asked for by the caller (the chat pipeline does for models
    // with the `usage` capability); a call that does not stream cannot.
    if !stream {
        obj.remove("stream_options");
    }
    let url = &target.base_url;
    if is_openai_reasoning_model(&target.upstream_id) {
        if let Some(v) = obj.remove("max_tokens") {
            obj.entry("max_completion_tokens").or_insert(v);
        }
        if let Some(Value::Array(msgs)) = obj.get_mut("messages") {
            if let Some(first) = msgs.first_mut().filter(|m| m["role"] == "system") {
                let id = target.upstream_id.to_ascii_lowercase();
                let legacy = id.starts_with("o1-mini") || id.starts_with("o1-preview");
                first["role"] = json!(if legacy { "user" } else { "developer" });
            }
        }
    } else if !url.contains("api.openai.com") {
        if let Some(v) = obj.remove("max_completion_tokens") {
            obj.insert("max_tokens".into(), v);
        }
    }
    if obj.contains_key("max_tokens") && obj.contains_key("max_completion_tokens") {
        obj.remove("max_tokens");
    }
    let request_url = if is_azure(&target.api_config) && !url.contains("/openai/v1") {
        azure_deployment_url(target, url, "chat/completions")?
    } else {
        format!("{url}/chat/completions")
    };
    Ok((request_url, Value::Object(obj)))
}

fn parse_json_text(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

fn ollama_messages(messages: &Value) -> Vec<Value> {
    let Some(list) = messages.as_array() else {
        return vec![];
    };
    list.iter()
        .map(|m| {
            let mut out = Map::new();
            out.insert("role".into(), m.get("role").cloned().unwrap_or(json!("user")));
            if let Some(t) = m.get("thinking") {
                out.insert("thinking".into(), t.clone());
            } else if let Some(r) = m
                .get("reasoning_content")
                .or_else(|| m.get("reasoning"))
                .filter(|r| r.as_str().is_some_and(|s| !s.is_empty()))
            {
                out.insert("thinking".into(), r.clone());
            }
            let tool_calls = m.get("tool_calls").and_then(Value::as_array).filter(|a| !a.is_empty());
            match (m.get("content"), tool_calls) {
                (_, Some(calls)) => {
                    let converted: Vec<Value> = calls
                        .iter()
                        .map(|c| {
                            json!({
                                "index": c.get("index").cloned().unwrap_or(json!(0)),
                                "id": c.get("id").cloned().unwrap_or(Value::Null),
                                "function": {
                                    "name": c["function"]["name"].as_str().unwrap_or(""),
                                    "arguments": parse_json_text(c["function"].get("arguments").unwrap_or(&json!({}))),
                                },
                            })
                        })
                        .collect();
                    out.insert("tool_calls".into(), Value::Array(converted));
                    out.insert("content".into(), json!(""));
                }
                (Some(Value::Array(parts)), None) => {
                    let mut text = String::new();
                    let mut images = Vec::new();
                    for part in parts {
                        match part.get("type").and_then(Value::as_str) {
                            Some("text") => text.push_str(part.get("text").and_then(Value::as_str).unwrap_or("")),
                            Some("image_url") => {
                                let url = part["image_url"]["url"].as_str().unwrap_or("");
                                if !url.is_empty() {
                                    // Ollama wants bare base64, not a data URI.
                                    let data = if url.starts_with("data:") {
                                        url.rsplit(',').next().unwrap_or("")
                                    } else {
                                        url
                                    };
                                    images.push(json!(data));
                                }
                            }
                            _ => {}
                        }
                    }
                    if !text.is_empty() {
                        out.insert("content".into(), json!(text.trim()));
                    }
                    if !images.is_empty() {
                        out.insert("images".into(), Value::Array(images));
                    }
                }
                (Some(Value::String(s)), None) => {
                    out.insert("content".into(), json!(s));
                    if let Some(id) = m.get("tool_call_id") {
                        out.insert("tool_call_id".into(), id.clone());
                    }
                }
                (_, None) => {
                    out.insert("content".into(), json!(""));
                }
            }
            if let Some(imgs) = m.get("images") {
                out.entry("images").or_insert_with(|| imgs.clone());
            }
            Value::Object(out)
        })
        .collect()
}

/// Keys of an OpenAI request that Ollama takes inside `options`.
const OLLAMA_OPTION_KEYS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "repeat_penalty",
    "repeat_last_n",
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_batch",
    "num_keep",
    "num_predict",
    "num_gpu",
    "num_thread",
    "use_mmap",
    "use_mlock",
    "tfs_z",
    "typical_p",
];

/// An OpenAI chat request as Ollama's `/api/chat` body.
pub(crate) fn ollama_request(
    target: &ModelTarget,
    body: Value,
    stream: bool,
) -> Result<Value, LlmError> {
    let obj = match body {
        Value::Object(o) => o,
        _ => {
            return Err(LlmError::Decode(
                "the chat request must be a JSON object".into(),
            ))
        }
    };
    let mut out = Map::new();
    out.insert("model".into(), json!(target.upstream_id));
    out.insert(
        "messages".into(),
        Value::Array(ollama_messages(obj.get("messages").unwrap_or(&Value::Null))),
    );
    out.insert("stream".into(), json!(stream));
    if let Some(t) = obj.get("tools").filter(|t| !t.is_null()) {
        out.insert("tools".into(), t.clone());
    }
    let mut options = obj
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for root in ["format", "keep_alive", "think"] {
        if let Some(v) = options
            .remove(root)
            .or_else(|| obj.get(root).cloned())
            .filter(|v| !v.is_null())
        {
            let v = if root == "think" {
                v
            } else {
                parse_json_text(&v)
            };
            out.insert(root.into(), v);
        }
    }
    if let Some(v) = options.remove("max_tokens") {
        options.entry("num_predict").or_insert(v);
    }
    if let Some(sys) = options.remove("system") {
        out.insert("system".into(), sys);
    }
    for key in OLLAMA_OPTION_KEYS {
        if let Some(v) = obj.get(*key).filter(|v| !v.is_null()) {
            if let Some(v) = cast(key, v, true) {
                options.entry(key.to_string()).or_insert(v);
            }
        }
    }
    if let Some(v) = obj
        .get("max_tokens")
        .or_else(|| obj.get("max_completion_tokens"))
        .and_then(as_i64)
    {
        options.insert("num_predict".into(), v);
    }
    if let Some(v) = obj.get("stop").and_then(unescape_stops) {
        options.insert("stop".into(), v);
    }
    if !options.is_empty() {
        out.insert("options".into(), Value::Object(options));
    }
    if let Some(rf) = obj.get("response_format") {
        let kind = rf.get("type").and_then(Value::as_str).unwrap_or("");
        if let Some(schema) = rf.get(kind).and_then(|s| s.get("schema")) {
            out.insert("format".into(), schema.clone());
        } else if kind == "json_object" {
            out.insert("format".into(), json!("json"));
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Provider;

    fn target(upstream: &str, url: &str) -> ModelTarget {
        ModelTarget {
            provider: Provider::OpenAi,
            base_url: url.into(),
            api_key: None,
            upstream_id: upstream.into(),
            url_idx: 0,
            api_config: json!({}),
        }
    }

    #[test]
    fn params_fill_only_missing_keys() {
        let mut body = json!({"temperature": 0.1, "messages": []});
        apply_model_params(
            &json!({"temperature": 0.9, "top_p": "0.5", "system": "s", "custom_params": {"seed": "42"}}),
            &mut body,
            false,
        );
        assert_eq!(body["temperature"], 0.1);
        assert_eq!(body["top_p"], 0.5);
        assert_eq!(body["seed"], 42);
        assert!(body.get("system").is_none());

        let mut body = json!({"messages": []});
        apply_model_params(
            &json!({"temperature": 0.7, "max_tokens": 5, "think": true}),
            &mut body,
            true,
        );
        assert_eq!(
            body["options"],
            json!({"temperature": 0.7, "num_predict": 5})
        );
        assert_eq!(body["think"], true);
    }

    #[test]
    fn system_prompt_goes_first() {
        let mut m = vec![json!({"role": "user", "content": "hi"})];
        apply_system_prompt("S", &mut m);
        assert_eq!(m[0], json!({"role": "system", "content": "S"}));
        apply_system_prompt("T", &mut m);
        assert_eq!(m[0]["content"], "T\nS");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn openai_request_shape() {
        let (url, b) = openai_request(
            &target("gpt-x", "http://h/v1"),
            json!({"messages": [], "max_completion_tokens": 9, "metadata": {}}),
            true,
        )
        .unwrap();
        assert_eq!(url, "http://h/v1/chat/completions");
        assert_eq!(b["model"], "gpt-x");
        assert!(
            b.get("stream_options").is_none(),
            "usage is asked for by the caller"
        );
        assert_eq!(b["max_tokens"], 9);
        assert!(b.get("metadata").is_none());
        let (_, b) = openai_request(
            &target("o3-mini", "https://api.openai.com/v1"),
            json!({"messages": [{"role": "system", "content": "x"}], "max_tokens": 3}),
            false,
        )
        .unwrap();
        assert_eq!(b["messages"][0]["role"], "developer");
        assert_eq!(b["max_completion_tokens"], 3);
        assert!(b.get("stream_options").is_none());
        assert!(is_openai_reasoning_model("gpt-5.1"));
        assert!(!is_openai_reasoning_model("gpt-4o"));
        assert!(is_openai_reasoning_model("us.openai.o4-mini"));
    }

    #[test]
    fn ollama_translation() {
        let b = ollama_request(
            &target("llama3:latest", "http://h"),
            json!({
                "model": "x",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "look "}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}]},
                    {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}
                ],
                "temperature": 0.2, "max_tokens": 7, "stop": ["\\n"], "stream_options": {"include_usage": true}
            }),
            true,
        )
        .unwrap();
        assert_eq!(b["model"], "llama3:latest");
        assert_eq!(b["messages"][0]["content"], "look");
        assert_eq!(b["messages"][0]["images"], json!(["QUJD"]));
        assert_eq!(
            b["messages"][1]["tool_calls"][0]["function"]["arguments"],
            json!({"a": 1})
        );
        assert_eq!(b["options"]["temperature"], 0.2);
        assert_eq!(b["options"]["num_predict"], 7);
        assert_eq!(b["options"]["stop"], json!(["\n"]));
        assert!(b.get("stream_options").is_none());
    }
}
