//! Ollama's non-streamed answers and counters in OpenAI's shapes.

use serde_json::{json, Value};

/// Ollama's counters in OpenAI's usage names, plus Ollama's own metrics.
pub(super) fn ollama_usage(v: &Value) -> Value {
    let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (prompt, completion) = (n("prompt_eval_count"), n("eval_count"));
    let rate = |count: i64, dur: i64| {
        if dur > 0 {
            json!(((count as f64) / (dur as f64 / 1e9) * 100.0).round() / 100.0)
        } else {
            json!("N/A")
        }
    };
    let total_secs = n("total_duration") / 1_000_000_000;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "response_token/s": rate(completion, n("eval_duration")),
        "prompt_token/s": rate(prompt, n("prompt_eval_duration")),
        "total_duration": n("total_duration"),
        "load_duration": n("load_duration"),
        "prompt_eval_count": prompt,
        "prompt_eval_duration": n("prompt_eval_duration"),
        "eval_count": completion,
        "eval_duration": n("eval_duration"),
        "approximate_total": format!("{}h{}m{}s", total_secs / 3600, (total_secs % 3600) / 60, total_secs % 60),
    })
}

pub(super) fn ollama_to_openai(v: &Value, model: &str) -> Value {
    if let Some(err) = v.get("error").and_then(Value::as_str) {
        return json!({"error": {"message": err}});
    }
    let msg = v.get("message").unwrap_or(&Value::Null);
    let mut message = json!({"role": "assistant", "content": msg.get("content").and_then(Value::as_str).unwrap_or("")});
    if let Some(t) = msg
        .get("thinking")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        message["reasoning_content"] = json!(t);
    }
    let tool_calls = msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    if let Some(calls) = tool_calls {
        let converted: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "index": c.get("index").cloned().unwrap_or(json!(i)),
                    "id": c.get("id").cloned().unwrap_or_else(|| json!(format!("call_{}", uuid::Uuid::new_v4().simple()))),
                    "type": "function",
                    "function": {
                        "name": c["function"]["name"].as_str().unwrap_or(""),
                        "arguments": match &c["function"]["arguments"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    },
                })
            })
            .collect();
        message["tool_calls"] = Value::Array(converted);
    }
    let reason = if tool_calls.is_some() {
        "tool_calls".to_string()
    } else {
        v.get("done_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop")
            .to_string()
    };
    json!({
        "id": format!("{}-{}", v.get("model").and_then(Value::as_str).unwrap_or(model), uuid::Uuid::new_v4()),
        "object": "chat.completion",
        "created": crate::db::now_secs(),
        "model": v.get("model").and_then(Value::as_str).unwrap_or(model),
        "choices": [{"index": 0, "logprobs": null, "finish_reason": reason, "message": message}],
        "usage": ollama_usage(v),
    })
}
