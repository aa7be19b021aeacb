//! Reading the configured connections.
//!
//! `openai.api_base_urls[i]` pairs with `openai.api_keys[i]` and
//! `openai.api_configs["i"]` (older installs keyed configs by URL, which is
//! still honoured). Ollama keeps its key inside the config entry.

use serde_json::{json, Map, Value};

use super::Provider;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub provider: Provider,
    pub idx: usize,
    /// Base URL without a trailing slash.
    pub url: String,
    pub key: Option<String>,
    /// The `api_configs` entry, `{}` when there is none.
    pub config: Value,
    /// Whether an entry exists at all (a missing one means "enabled, all models").
    pub configured: bool,
}

/// Of the `api_configs` a settings form sends, the entries of connections
/// that exist: keys `"0"` to `"n-1"`, written plainly.
pub(crate) fn configs_for_urls(configs: Map<String, Value>, n: usize) -> Map<String, Value> {
    configs
        .into_iter()
        .filter(|(k, _)| {
            k.parse::<usize>()
                .is_ok_and(|i| i < n && i.to_string() == *k)
        })
        .collect()
}

impl Conn {
    /// The `provider` the connection's settings name (`""` when none).
    pub fn provider_name(&self) -> &str {
        self.config
            .get("provider")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn enabled(&self) -> bool {
        self.config
            .get("enable")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }

    pub fn prefix_id(&self) -> Option<&str> {
        self.config
            .get("prefix_id")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
    }

    pub fn model_ids(&self) -> Vec<String> {
        crate::json::str_list(self.config.get("model_ids"))
    }

    pub fn tags(&self) -> Option<Value> {
        self.config
            .get("tags")
            .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
            .cloned()
    }

    pub fn connection_type(&self) -> Option<String> {
        self.config
            .get("connection_type")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// `prefix.id` → `id` for the upstream.
    pub fn strip_prefix<'a>(&self, model_id: &'a str) -> &'a str {
        match self.prefix_id() {
            Some(p) => model_id
                .strip_prefix(p)
                .and_then(|r| r.strip_prefix('.'))
                .unwrap_or(model_id),
            None => model_id,
        }
    }

    pub fn target(&self, upstream_id: &str) -> super::ModelTarget {
        super::ModelTarget {
            provider: self.provider,
            base_url: self.url.clone(),
            api_key: self.key.clone().filter(|k| !k.is_empty()),
            upstream_id: upstream_id.to_string(),
            url_idx: self.idx,
            api_config: self.config.clone(),
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) if !s.is_empty() => s.split(';').map(|p| p.trim().to_string()).collect(),
        _ => vec![],
    }
}

fn configs(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

fn lookup<'a>(configs: &'a Map<String, Value>, idx: usize, keys: &[&str]) -> Option<&'a Value> {
    configs
        .get(&idx.to_string())
        .or_else(|| keys.iter().find_map(|k| configs.get(*k)))
        .filter(|v| v.is_object())
}

pub(crate) fn trim_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// Whether the OpenAI API is on, and its connections.
pub(crate) fn openai_connections(state: &AppState) -> (bool, Vec<Conn>) {
    let c = &state.config;
    let urls = strings(&c.get("openai.api_base_urls"));
    let keys = strings(&c.get("openai.api_keys"));
    let cfgs = configs(c.get("openai.api_configs"));
    let conns = urls
        .iter()
        .enumerate()
        .map(|(idx, url)| {
            let found = lookup(&cfgs, idx, &[url.as_str()]);
            Conn {
                provider: Provider::OpenAi,
                idx,
                url: trim_url(url),
                key: keys.get(idx).cloned(),
                config: found.cloned().unwrap_or_else(|| json!({})),
                configured: found.is_some(),
            }
        })
        .collect();
    (c.get_bool("openai.enable"), conns)
}

/// Whether the Ollama API is on, and its connections.
pub(crate) fn ollama_connections(state: &AppState) -> (bool, Vec<Conn>) {
    let c = &state.config;
    let urls = strings(&c.get("ollama.base_urls"));
    let cfgs = configs(c.get("ollama.api_configs"));
    let conns = urls
        .iter()
        .enumerate()
        .map(|(idx, url)| {
            let origin = origin_of(url);
            let found = lookup(&cfgs, idx, &[url.as_str(), origin.as_str()]);
            let config = found.cloned().unwrap_or_else(|| json!({}));
            let key = config
                .get("key")
                .and_then(Value::as_str)
                .map(str::to_string);
            Conn {
                provider: Provider::Ollama,
                idx,
                url: trim_url(url),
                key,
                config,
                configured: found.is_some(),
            }
        })
        .collect();
    (c.get_bool("ollama.enable"), conns)
}

/// `scheme://host:port` of a URL (older Ollama configs were keyed by it).
fn origin_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let end = rest.find('/').unwrap_or(rest.len());
            format!("{}{}", &url[..i + 3], &rest[..end])
        }
        None => url.to_string(),
    }
}

/// Everything the merged model list depends on; a cached list made under
/// another signature is stale.
pub(crate) fn signature(state: &AppState) -> String {
    let c = &state.config;
    json!([
        c.get("openai.enable"),
        c.get("openai.api_base_urls"),
        c.get("openai.api_keys"),
        c.get("openai.api_configs"),
        c.get("ollama.enable"),
        c.get("ollama.base_urls"),
        c.get("ollama.api_configs"),
    ])
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(config: Value) -> Conn {
        Conn {
            provider: Provider::OpenAi,
            idx: 0,
            url: "http://x/v1".into(),
            key: None,
            config,
            configured: true,
        }
    }

    #[test]
    fn prefix_stripping() {
        let c = conn(json!({"prefix_id": "p"}));
        assert_eq!(c.strip_prefix("p.gpt"), "gpt");
        assert_eq!(c.strip_prefix("pgpt"), "pgpt");
        assert_eq!(conn(json!({})).strip_prefix("p.gpt"), "p.gpt");
    }

    #[test]
    fn origins_and_lists() {
        assert_eq!(origin_of("http://h:11434/x"), "http://h:11434");
        assert_eq!(
            strings(&json!(["a", null])),
            vec!["a".to_string(), String::new()]
        );
        assert!(!conn(json!({"enable": false})).enabled());
        assert!(conn(json!({})).enabled());
    }
}
