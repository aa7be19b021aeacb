//! A whole OpenAI `chat.completion` as a Messages reply, and the usage block
//! both the reply and the event stream report.

use serde_json::{json, Map, Value};

/// `finish_reason` → `stop_reason`.
pub fn stop_reason(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls") => "tool_use",
        _ => "end_turn",
    }
}

/// A fresh id in Anthropic's style (`msg_…`, `toolu_…`).
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &hex[..24])
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// What a provider's usage says in Anthropic's terms. Anthropic's
/// `input_tokens` leaves out tokens read from or written to the prompt
/// cache, which OpenAI's `prompt_tokens` includes; the cache counts are
/// reported next to it. Detail fields are kept when they have the right shape.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Usage {
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cache_creation: Option<i64>,
    pub cache_read: Option<i64>,
    pub output_details: Option<Value>,
    pub server_tool_use: Option<Value>,
    pub service_tier: Option<Value>,
}

impl Usage {
    pub fn read(u: &Value) -> Usage {
        let cache_creation = int(u.get("cache_creation_input_tokens"));
        let cache_read = int(u.get("cache_read_input_tokens")).or_else(|| {
            u.get("prompt_tokens_details")
                .filter(|d| d.is_object())
                .and_then(|d| int(d.get("cached_tokens")))
        });
        let input = int(u.get("input_tokens")).or_else(|| {
            int(u.get("prompt_tokens"))
                .map(|p| (p - cache_creation.unwrap_or(0) - cache_read.unwrap_or(0)).max(0))
        });
        let output = int(u.get("output_tokens")).or_else(|| int(u.get("completion_tokens")));
        let object = |k: &str| u.get(k).filter(|v| v.is_object()).cloned();
        Usage {
            input,
            output,
            cache_creation,
            cache_read,
            output_details: object("output_tokens_details"),
            server_tool_use: object("server_tool_use"),
            service_tier: u.get("service_tier").filter(|v| !v.is_null()).cloned(),
        }
    }

    /// Later reports win field by field (streams may report usage twice).
    pub fn update(&mut self, newer: Usage) {
        fn keep<T>(old: &mut Option<T>, new: Option<T>) {
            if new.is_some() {
                *old = new;
            }
        }
        keep(&mut self.input, newer.input);
        keep(&mut self.output, newer.output);
        keep(&mut self.cache_creation, newer.cache_creation);
        keep(&mut self.cache_read, newer.cache_read);
        keep(&mut self.output_details, newer.output_details);
        keep(&mut self.server_tool_use, newer.server_tool_use);
        keep(&mut self.service_tier, newer.service_tier);
    }

    /// The optional fields, in the order Anthropic lists them.
    pub fn extras(&self, block: &mut Map<String, Value>) {
        if let Some(v) = self.cache_creation {
            block.insert("cache_creation_input_tokens".into(), json!(v));
        }
        if let Some(v) = self.cache_read {
            block.insert("cache_read_input_tokens".into(), json!(v));
        }
        for (k, v) in [
            ("output_tokens_details", &self.output_details),
            ("server_tool_use", &self.server_tool_use),
            ("service_tier", &self.service_tier),
        ] {
            if let Some(v) = v {
                block.insert(k.into(), v.clone());
            }
        }
    }
}

/// The reasoning a message carries, as thinking blocks.
fn thinking_blocks(message: &Value) -> Vec<Value> {
    let thinking = message.get("thinking");
    let listed = message
        .get("thinking_blocks")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .or_else(|| {
            thinking
                .filter(|t| t.is_object())
                .and_then(|t| t.get("blocks"))
                .and_then(Value::as_array)
        });
    let mut out = Vec::new();
    for block in listed.into_iter().flatten().filter(|b| b.is_object()) {
        if block.get("type").and_then(Value::as_str) == Some("redacted_thinking") {
            let mut kept = Map::new();
            for k in ["type", "data"] {
                if let Some(v) = block.get(k) {
                    kept.insert(k.into(), v.clone());
                }
            }
            out.push(Value::Object(kept));
            continue;
        }
        let text = ["thinking", "content", "text"]
            .iter()
            .filter_map(|k| block.get(*k).and_then(Value::as_str))
            .find(|s| !s.is_empty());
        if let Some(text) = text {
            let mut b = json!({"type": "thinking", "thinking": text});
            if let Some(sig) = block
                .get("signature")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                b["signature"] = json!(sig);
            }
            out.push(b);
        }
    }
    if out.is_empty() {
        let reasoning = ["reasoning_content", "reasoning"]
            .iter()
            .filter_map(|k| message.get(*k).and_then(Value::as_str))
            .find(|s| !s.is_empty())
            .or_else(|| thinking.and_then(Value::as_str).filter(|s| !s.is_empty()));
        if let Some(r) = reasoning {
            out.push(json!({"type": "thinking", "thinking": r}));
        }
    }
    out
}

/// An OpenAI completion as a Messages reply for `model` (the name the client
/// asked for). `counted` fills the input count when the provider gave none.
pub fn to_anthropic(resp: &Value, model: &str, counted: Option<i64>) -> Value {
    let choice = resp
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .cloned()
        .unwrap_or(json!({}));
    let message = choice.get("message").cloned().unwrap_or(json!({}));
    let mut content = thinking_blocks(&message);
    if let Some(text) = message
        .get("content")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = call.get("function").cloned().unwrap_or(json!({}));
        let input = f
            .get("arguments")
            .and_then(Value::as_str)
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .unwrap_or(json!({}));
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| new_id("toolu"));
        content.push(json!({
            "type": "tool_use",
            "id": id,
            "name": f.get("name").and_then(Value::as_str).unwrap_or(""),
            "input": input,
        }));
    }
    let usage = Usage::read(resp.get("usage").unwrap_or(&Value::Null));
    let mut block = Map::new();
    block.insert(
        "input_tokens".into(),
        json!(usage.input.or(counted).unwrap_or(0)),
    );
    block.insert("output_tokens".into(), json!(usage.output.unwrap_or(0)));
    usage.extras(&mut block);
    let model = if model.is_empty() {
        resp.get("model").cloned().unwrap_or(json!(""))
    } else {
        json!(model)
    };
    json!({
        "id": resp.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| new_id("msg")),
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": model,
        "stop_reason": stop_reason(choice.get("finish_reason").and_then(Value::as_str)),
        "stop_sequence": null,
        "usage": block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_tokens_leave_the_input_count() {
        let u = Usage::read(&json!({"prompt_tokens": 1000, "completion_tokens": 7,
            "cache_creation_input_tokens": 300, "cache_read_input_tokens": 200}));
        assert_eq!((u.input, u.output), (Some(500), Some(7)));
        let promoted = Usage::read(&json!({"prompt_tokens": 1000, "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 600}}));
        assert_eq!(
            (promoted.input, promoted.cache_read),
            (Some(400), Some(600))
        );
        let native = Usage::read(&json!({"input_tokens": 3, "output_tokens": 4}));
        assert_eq!((native.input, native.output), (Some(3), Some(4)));
        let bad = Usage::read(&json!({"prompt_tokens": 1, "server_tool_use": "x",
            "output_tokens_details": 5, "service_tier": null}));
        assert_eq!(bad.server_tool_use, None);
        assert_eq!(bad.output_details, None);
        assert_eq!(bad.service_tier, None);
    }

    #[test]
    fn reply_shape() {
        let r = to_anthropic(
            &json!({"id": "c1", "choices": [{"message": {"content": "hi", "reasoning_content": "hmm",
                "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                "finish_reason": "tool_calls"}], "usage": null}),
            "asked",
            Some(12),
        );
        assert_eq!(r["stop_reason"], json!("tool_use"));
        assert_eq!(r["model"], json!("asked"));
        assert_eq!(
            r["content"][0],
            json!({"type": "thinking", "thinking": "hmm"})
        );
        assert_eq!(r["content"][1], json!({"type": "text", "text": "hi"}));
        assert_eq!(r["content"][2]["input"], json!({"a": 1}));
        assert_eq!(r["usage"], json!({"input_tokens": 12, "output_tokens": 0}));
    }
}
