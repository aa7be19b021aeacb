//! Fetching the base list from the connections: OpenAI-compatible and
//! Ollama servers, with each connection's settings applied.

use std::collections::{HashMap, HashSet};

use futures::future::join_all;
use serde_json::{json, Map, Value};

use crate::llm::connections::{ollama_connections, openai_connections, Conn};
use crate::llm::http::{auth_headers, client, model_list_timeout};
use crate::state::AppState;

/// Ids on api.openai.com that are not chat models.
pub(crate) const UNSUPPORTED_OPENAI: &[&str] = &[
    "babbage",
    "dall-e",
    "davinci",
    "embedding",
    "tts",
    "whisper",
];

pub(super) async fn fetch_all(state: &AppState) -> Vec<Value> {
    let (openai_on, openai) = openai_connections(state);
    let (ollama_on, ollama) = ollama_connections(state);
    let (mut a, b) = tokio::join!(
        async {
            if openai_on {
                fetch_openai(&openai).await
            } else {
                vec![]
            }
        },
        async {
            if ollama_on {
                fetch_ollama(&ollama).await
            } else {
                vec![]
            }
        },
    );
    a.extend(b);
    a
}

async fn get_json(conn: &Conn, url: &str) -> Option<Value> {
    let timeout = model_list_timeout();
    let resp = client()
        .get(url)
        .headers(auth_headers(conn.key.as_deref(), &conn.config, url))
        .timeout(timeout)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(
                "model list: {}",
                crate::llm::http::send_error(url, e, Some(timeout))
            );
            return None;
        }
    };
    if !resp.status().is_success() {
        tracing::warn!("model list: {url} answered {}", resp.status());
        return None;
    }
    match resp.json::<Value>().await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("model list: unreadable answer from {url}: {e}");
            None
        }
    }
}

/// A connection's raw model list, with its settings applied (prefix, tags,
/// connection type, provider). `None` when disabled or unreachable.
async fn openai_list(conn: &Conn) -> Option<Vec<Value>> {
    if conn.configured && !conn.enabled() {
        return None;
    }
    let ids = conn.model_ids();
    let mut list: Vec<Value> = if conn.configured && !ids.is_empty() {
        ids.iter()
            .map(|id| json!({"id": id, "name": id, "owned_by": "openai", "openai": {"id": id}, "urlIdx": conn.idx}))
            .collect()
    } else if crate::llm::anthropic::is_anthropic_url(&conn.url) {
        crate::llm::anthropic::models::list(&conn.url, conn.key.as_deref()).await?
    } else {
        let v = get_json(conn, &format!("{}/models", conn.url)).await?;
        match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("data") {
                Some(Value::Array(a)) => a,
                _ => vec![],
            },
            _ => vec![],
        }
    };
    let connection_type = conn.connection_type().unwrap_or_else(|| "external".into());
    let provider = conn
        .config
        .get("provider")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty());
    for m in list.iter_mut() {
        let Some(o) = m.as_object_mut() else { continue };
        if o.get("name").is_some_and(Value::is_null) {
            o.remove("name");
        }
        if let Some(prefix) = conn.prefix_id() {
            let id = o
                .get("id")
                .or_else(|| o.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            o.insert("id".into(), json!(format!("{prefix}.{id}")));
        }
        label(o, conn, &connection_type);
        if let Some(p) = provider {
            o.insert("provider".into(), json!(p));
        }
    }
    Some(list)
}

/// What a connection adds to each of its listed models: its prefix before a
/// non-empty `name`, its tags and the connection type.
fn label(o: &mut Map<String, Value>, conn: &Conn, connection_type: &str) {
    if let Some(prefix) = conn.prefix_id() {
        if let Some(name) = o
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            let prefixed = format!("{prefix}.{name}");
            o.insert("name".into(), json!(prefixed));
        }
    }
    if let Some(tags) = conn.tags() {
        o.insert("tags".into(), tags);
    }
    o.insert("connection_type".into(), json!(connection_type));
}

/// Whether a llama.cpp or LM Studio model is loaded, when the provider says.
fn loaded_state(model: &Value, provider: &str, manual_ids: bool) -> Option<bool> {
    match provider {
        "lmstudio" => {
            if model
                .get("loaded_instances")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                return Some(true);
            }
            match model.get("state").and_then(Value::as_str) {
                Some("loaded") => Some(true),
                Some("not-loaded") => Some(false),
                _ => None,
            }
        }
        "llama.cpp" => {
            if let Some(v) = model
                .get("status")
                .and_then(|s| s.get("value"))
                .and_then(Value::as_str)
            {
                if matches!(v, "loaded" | "sleeping") {
                    return Some(true);
                }
                if matches!(v, "loading" | "unloaded") {
                    return Some(false);
                }
            }
            (!manual_ids && model.get("status").is_none()).then_some(true)
        }
        _ => None,
    }
}

async fn fetch_openai(conns: &[Conn]) -> Vec<Value> {
    let lists = join_all(conns.iter().map(openai_list)).await;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (conn, list) in conns.iter().zip(lists) {
        let Some(list) = list else { continue };
        let official = conn.url.contains("://api.openai.com");
        for model in list {
            let Some(id) = model
                .get("id")
                .or_else(|| model.get("name"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
            else {
                continue;
            };
            if official && UNSUPPORTED_OPENAI.iter().any(|k| id.contains(k)) {
                continue;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            let provider = model
                .get("provider")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut merged = model.as_object().cloned().unwrap_or_default();
            merged.insert("id".into(), json!(id));
            let name = model.get("name").cloned().unwrap_or_else(|| json!(id));
            merged.insert("name".into(), name);
            merged.insert("owned_by".into(), json!("openai"));
            merged.insert("openai".into(), model.clone());
            let ct = model
                .get("connection_type")
                .cloned()
                .unwrap_or_else(|| json!("external"));
            merged.insert("connection_type".into(), ct);
            merged.insert("provider".into(), json!(provider));
            merged.insert("urlIdx".into(), json!(conn.idx));
            if let Some(l) = loaded_state(&model, &provider, !conn.model_ids().is_empty()) {
                merged.insert("loaded".into(), json!(l));
            }
            out.push(Value::Object(merged));
        }
    }
    out
}

async fn ollama_list(conn: &Conn) -> Option<Vec<Value>> {
    if conn.configured && !conn.enabled() {
        return None;
    }
    let (tags_url, ps_url) = (
        format!("{}/api/tags", conn.url),
        format!("{}/api/ps", conn.url),
    );
    let (tags, ps) = tokio::join!(get_json(conn, &tags_url), get_json(conn, &ps_url));
    let mut models = match tags?.get_mut("models").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => vec![],
    };
    let allowed = conn.model_ids();
    if !allowed.is_empty() {
        models.retain(|m| {
            m.get("model")
                .and_then(Value::as_str)
                .is_some_and(|id| allowed.iter().any(|a| a == id))
        });
    }
    let expires: HashMap<String, Value> = ps
        .and_then(|mut p| match p.get_mut("models").map(Value::take) {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            let id = m.get("model")?.as_str()?.to_string();
            let exp = m.get("expires_at")?;
            let secs = exp
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| json!(d.timestamp()))
                .unwrap_or_else(|| exp.clone());
            Some((id, secs))
        })
        .collect();
    let connection_type = conn.connection_type().unwrap_or_else(|| "local".into());
    for m in models.iter_mut() {
        let Some(o) = m.as_object_mut() else { continue };
        let raw_id = o
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(exp) = expires.get(&raw_id) {
            o.insert("expires_at".into(), exp.clone());
        }
        if let Some(prefix) = conn.prefix_id() {
            o.insert("model".into(), json!(format!("{prefix}.{raw_id}")));
        }
        label(o, conn, &connection_type);
    }
    Some(models)
}

async fn fetch_ollama(conns: &[Conn]) -> Vec<Value> {
    let lists = join_all(conns.iter().map(ollama_list)).await;
    // Several servers may host the same model; `urls` lists them all.
    let mut merged: Vec<Value> = Vec::new();
    let mut pos: HashMap<String, usize> = HashMap::new();
    for (conn, list) in conns.iter().zip(lists) {
        for mut m in list.unwrap_or_default() {
            let Some(id) = m.get("model").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            match pos.get(&id) {
                Some(&i) => {
                    if let Some(Value::Array(urls)) = merged[i].get_mut("urls") {
                        urls.push(json!(conn.idx));
                    }
                }
                None => {
                    m["urls"] = json!([conn.idx]);
                    pos.insert(id, merged.len());
                    merged.push(m);
                }
            }
        }
    }
    merged
        .into_iter()
        .map(|m| {
            let id = m["model"].clone();
            json!({
                "id": id,
                "name": m.get("name").cloned().unwrap_or_else(|| id.clone()),
                "object": "model",
                "created": 0,
                "owned_by": "ollama",
                "ollama": m,
                "loaded": m.get("expires_at").is_some(),
                "connection_type": m.get("connection_type").cloned().unwrap_or_else(|| json!("local")),
                "tags": m.get("tags").cloned().unwrap_or_else(|| json!([])),
            })
        })
        .collect()
}
