//! Turning upstream's env vars into config values.
//!
//! The type of each value follows its default: booleans accept `true`/`false`,
//! numbers parse, lists accept JSON or a `;`-separated list (upstream's
//! separator for URL lists), objects accept JSON.

use std::collections::HashMap;

use serde_json::Value;

use super::DEFS;

/// Env vars that feed a key under another name, tried after the key's own.
const ALIASES: &[(&str, &[&str])] = &[
    ("openai.api_base_urls", &["OPENAI_API_BASE_URL"]),
    ("openai.api_keys", &["OPENAI_API_KEY"]),
    (
        "ollama.base_urls",
        &["OLLAMA_BASE_URL", "OLLAMA_API_BASE_URL"],
    ),
    ("oauth.group_claim", &["OAUTH_GROUP_CLAIM"]),
];

pub fn parse_as(default: &Value, raw: &str) -> Option<Value> {
    match default {
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Some(Value::Bool(false)),
            _ => None,
        },
        Value::Number(n) => {
            let t = raw.trim();
            if n.is_f64() {
                t.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            } else {
                t.parse::<i64>().ok().map(Value::from).or_else(|| {
                    t.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                })
            }
        }
        Value::Array(_) => {
            if let Ok(v @ Value::Array(_)) = serde_json::from_str::<Value>(raw) {
                return Some(v);
            }
            let sep = if raw.contains(';') { ';' } else { ',' };
            Some(Value::Array(
                raw.split(sep)
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ))
        }
        Value::Object(_) => serde_json::from_str::<Value>(raw)
            .ok()
            .filter(Value::is_object),
        // Strings and nulls (optional strings) take the text as it is.
        _ => Some(Value::String(raw.to_string())),
    }
}

fn lookup(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    std::env::var(name).ok()
}

/// Every key whose env var (or alias) is set, with its parsed value.
pub fn resolve_all() -> HashMap<&'static str, Value> {
    let mut out = HashMap::new();
    for def in DEFS {
        let default: Value = serde_json::from_str(def.default).unwrap_or(Value::Null);
        let alias = ALIASES
            .iter()
            .find(|(k, _)| *k == def.key)
            .map(|(_, a)| *a)
            .unwrap_or(&[]);
        let raw = lookup(def.env).or_else(|| alias.iter().find_map(|a| lookup(a)));
        let Some(raw) = raw else { continue };
        match parse_as(&default, &raw) {
            Some(v) => {
                out.insert(def.key, v);
            }
            None => tracing::warn!(
                env = def.env,
                key = def.key,
                "ignoring unparsable value {raw:?}"
            ),
        }
    }
    // One key per URL: pad or trim the key list to the URL list.
    if let Some(Value::Array(urls)) = out.get("openai.api_base_urls").cloned() {
        let mut keys = match out.get("openai.api_keys") {
            Some(Value::Array(k)) => k.clone(),
            _ => vec![],
        };
        keys.resize(urls.len(), Value::String(String::new()));
        out.insert("openai.api_keys", Value::Array(keys));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_by_default_type() {
        assert_eq!(parse_as(&json!(false), "True"), Some(json!(true)));
        assert_eq!(parse_as(&json!(false), "maybe"), None);
        assert_eq!(parse_as(&json!(3), "10"), Some(json!(10)));
        assert_eq!(parse_as(&json!(0.5), "0.25"), Some(json!(0.25)));
        assert_eq!(
            parse_as(&json!([]), "http://a;http://b"),
            Some(json!(["http://a", "http://b"]))
        );
        assert_eq!(parse_as(&json!([]), "[\"x\"]"), Some(json!(["x"])));
        assert_eq!(parse_as(&json!({}), "{\"a\":1}"), Some(json!({"a": 1})));
        assert_eq!(parse_as(&json!("pending"), "user"), Some(json!("user")));
    }

    #[test]
    fn every_default_is_valid_json_and_keys_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in DEFS {
            serde_json::from_str::<Value>(d.default).unwrap();
            assert!(seen.insert(d.key), "duplicate key {}", d.key);
        }
        assert_eq!(DEFS.len(), 408);
    }
}
