//! The model list: every connection's models merged (the "base" list,
//! cached), workspace models laid over them, filtered by access per caller.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::connections::{self, ollama_connections, openai_connections, Conn};
use super::http::{auth_headers, client, model_list_timeout};
use super::{ModelTarget, Provider, ResolvedModel};
use crate::access::{bypass_admin_access, group_ids};
use crate::auth::Caller;
use crate::db::{access_grants, models as model_rows};
use crate::error::{ApiError, ApiResult};
use crate::settings::env_bool;
use crate::state::AppState;

const CACHE_KEY: &str = "llm:models:base";
/// Ids on api.openai.com that are not chat models.
const UNSUPPORTED_OPENAI: &[&str] = &[
    "babbage",
    "dall-e",
    "davinci",
    "embedding",
    "tts",
    "whisper",
];

#[derive(Serialize, Deserialize)]
struct Cached {
    sig: String,
    at_ms: u64,
    models: Vec<Value>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How long a fetched list counts as fresh (`MODELS_CACHE_TTL`, seconds,
/// default 1; empty = until the connections change). A stale list is still
/// served while a background fetch replaces it.
fn fresh_for() -> Option<Duration> {
    static T: OnceLock<Option<Duration>> = OnceLock::new();
    *T.get_or_init(|| match std::env::var("MODELS_CACHE_TTL") {
        Ok(v) if v.trim().is_empty() => None,
        Ok(v) => Some(Duration::from_secs(v.trim().parse().unwrap_or(1))),
        Err(_) => Some(Duration::from_secs(1)),
    })
}

pub(crate) fn bypass_model_access() -> bool {
    static B: OnceLock<bool> = OnceLock::new();
    *B.get_or_init(|| env_bool("BYPASS_MODEL_ACCESS_CONTROL", false))
}

/// Drops the cached model list; the next request fetches it again. Call it
/// whenever a connection setting changes.
pub fn invalidate(state: &AppState) {
    if let Err(e) = state.cache.remove(CACHE_KEY) {
        tracing::warn!(error = %e, "could not drop the cached model list");
    }
}

/// One fetch at a time per data folder (tests run several servers in one process).
fn fetch_lock(state: &AppState) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    map.entry(state.settings.data_dir.clone())
        .or_default()
        .clone()
}

fn read_cache(state: &AppState, sig: &str) -> Option<Cached> {
    match state.cache.get::<Cached>(CACHE_KEY) {
        Ok(Some(c)) if c.sig == sig => Some(c),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the cached model list");
            None
        }
    }
}

fn is_stale(state: &AppState, c: &Cached) -> bool {
    if state.config.get_bool("models.base_models_cache") {
        return false;
    }
    match fresh_for() {
        Some(ttl) => now_ms().saturating_sub(c.at_ms) >= ttl.as_millis() as u64,
        None => false,
    }
}

/// Every connection's models, merged: OpenAI's first, then Ollama's.
/// `refresh` skips the cache.
pub(crate) async fn base_models(state: &AppState, refresh: bool) -> Vec<Value> {
    let sig = connections::signature(state);
    if !refresh {
        if let Some(c) = read_cache(state, &sig) {
            if is_stale(state, &c) {
                spawn_refresh(state);
            }
            return c.models;
        }
    }
    let lock = fetch_lock(state);
    let _guard = lock.lock().await;
    if !refresh {
        // Another request may have fetched while this one waited.
        if let Some(c) = read_cache(state, &sig) {
            return c.models;
        }
    }
    fetch_and_store(state, &sig).await
}

fn spawn_refresh(state: &AppState) {
    let Ok(guard) = fetch_lock(state).try_lock_owned() else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let sig = connections::signature(&state);
        fetch_and_store(&state, &sig).await;
    });
}

async fn fetch_and_store(state: &AppState, sig: &str) -> Vec<Value> {
    let mut models = fetch_all(state).await;
    if models.is_empty() {
        // Every connection failing at once is more likely a blip than an
        // empty installation: keep showing what was there.
        if let Ok(Some(prev)) = state.cache.get::<Cached>(CACHE_KEY) {
            if prev.sig == sig {
                models = prev.models;
            }
        }
    }
    let entry = Cached {
        sig: sig.to_string(),
        at_ms: now_ms(),
        models: models.clone(),
    };
    let cache = state.cache.clone();
    let stored = tokio::task::spawn_blocking(move || {
        cache.put(CACHE_KEY, &entry, Some(Duration::from_secs(86_400)))
    })
    .await;
    if let Ok(Err(e)) = stored {
        tracing::warn!(error = %e, "could not cache the model list");
    }
    models
}

async fn fetch_all(state: &AppState) -> Vec<Value> {
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
                super::http::send_error(url, e, Some(timeout))
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
        if let Some(p) = provider {
            o.insert("provider".into(), json!(p));
        }
    }
    Some(list)
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

/// What `/api/models` exposes of a workspace model's params: the model
/// controls' labels and the compaction threshold, never the system prompt.
fn public_params(params: &Value) -> Value {
    let mut out = Map::new();
    if let Some(controls) = params
        .get("model_controls")
        .and_then(Value::as_object)
        .filter(|c| !c.is_empty())
    {
        let mut pub_controls = Map::new();
        for (key, control) in controls {
            let mut c = Map::new();
            for field in ["label", "description", "default", "display"] {
                if let Some(v) = control.get(field) {
                    c.insert(field.into(), v.clone());
                }
            }
            let options: Map<String, Value> = control
                .get("options")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, opt)| {
                            (
                                k.clone(),
                                json!({"label": opt.get("label").cloned().unwrap_or(Value::Null)}),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            c.insert("options".into(), Value::Object(options));
            pub_controls.insert(key.clone(), Value::Object(c));
        }
        out.insert("model_controls".into(), Value::Object(pub_controls));
    }
    if let Some(t) = params.get("compact_token_threshold") {
        out.insert("compact_token_threshold".into(), t.clone());
    }
    Value::Object(out)
}

fn arena_models(state: &AppState) -> Vec<Value> {
    if !state.config.get_bool("evaluation.arena.enable") {
        return vec![];
    }
    let configured = state.config.get("evaluation.arena.models");
    let list: Vec<Value> = configured.as_array().cloned().unwrap_or_default();
    let list = if list.is_empty() {
        vec![json!({
            "id": "arena-model",
            "name": "Arena Model",
            "meta": {
                "profile_image_url": "/favicon.png",
                "description": "Sends each question to a model picked at random, so answers can be compared blind.",
                "model_ids": null,
            },
        })]
    } else {
        list
    };
    list.into_iter()
        .map(|m| {
            json!({
                "id": m.get("id").cloned().unwrap_or(Value::Null),
                "name": m.get("name").cloned().unwrap_or(Value::Null),
                "info": {"meta": m.get("meta").cloned().unwrap_or_else(|| json!({}))},
                "object": "model",
                "created": 0,
                "owned_by": "arena",
                "arena": true,
            })
        })
        .collect()
}

/// The full model list (upstream's `get_all_models`): base models, arena
/// models, workspace rows applied; not filtered by access.
pub(crate) async fn all_models(state: &AppState, refresh: bool) -> ApiResult<Vec<Value>> {
    let base = base_models(state, refresh).await;
    if base.is_empty() {
        return Ok(vec![]);
    }
    let mut models: Vec<Option<Value>> = base.into_iter().map(Some).collect();
    models.extend(arena_models(state).into_iter().map(Some));
    let rows = state.db.read(model_rows::all_with_grants).await?;

    // Ollama models are also found by their name without the tag; exact ids win.
    let mut lookup: HashMap<String, usize> = HashMap::new();
    for (i, m) in models.iter().enumerate() {
        let m = m.as_ref().expect("all present");
        let id = m["id"].as_str().unwrap_or("").to_string();
        if m["owned_by"] == "ollama" {
            let short = id.split(':').next().unwrap_or("").to_string();
            lookup.entry(short).or_insert(i);
        }
    }
    for (i, m) in models.iter().enumerate() {
        let id = m.as_ref().expect("all present")["id"]
            .as_str()
            .unwrap_or("")
            .to_string();
        lookup.insert(id, i);
    }
    let existing: HashSet<String> = lookup.keys().cloned().collect();

    for (row, grants) in rows {
        let mut info = model_rows::wire(&row, &grants);
        info["params"] = public_params(&row.params);
        match &row.base_model_id {
            None => {
                let Some(&i) = lookup.get(&row.id) else {
                    continue;
                };
                let Some(model) = models[i].as_mut() else {
                    continue;
                };
                if !row.is_active {
                    models[i] = None;
                    continue;
                }
                if model.get("arena").is_some() {
                    // The evaluation settings own an arena model's audience.
                    let arena_meta = model["info"]["meta"].clone();
                    for key in ["access_grants", "model_ids", "filter_mode"] {
                        if let Some(v) = arena_meta.get(key) {
                            info["meta"][key] = v.clone();
                        }
                    }
                }
                model["name"] = json!(row.name);
                model["info"] = info;
            }
            Some(base_id) if row.is_active => {
                if existing.contains(&row.id) {
                    continue;
                }
                let short = base_id.split(':').next().unwrap_or("");
                let base = lookup
                    .get(base_id)
                    .or_else(|| lookup.get(short))
                    .and_then(|&i| models[i].as_ref());
                let mut m = Map::new();
                m.insert("id".into(), json!(row.id));
                m.insert("name".into(), json!(row.name));
                m.insert("object".into(), json!("model"));
                m.insert("created".into(), json!(row.created_at));
                m.insert(
                    "owned_by".into(),
                    base.map(|b| b.get("owned_by").cloned().unwrap_or(json!("unknown")))
                        .unwrap_or(json!("openai")),
                );
                m.insert(
                    "connection_type".into(),
                    base.and_then(|b| b.get("connection_type").cloned())
                        .unwrap_or(Value::Null),
                );
                m.insert("preset".into(), json!(true));
                if let Some(b) = base {
                    if let Some(p) = b.get("pipe") {
                        m.insert("pipe".into(), p.clone());
                    }
                    if let Some(p) = b
                        .get("provider")
                        .filter(|p| p.as_str().is_some_and(|s| !s.is_empty()))
                    {
                        m.insert("provider".into(), p.clone());
                    }
                    if let Some(l) = b.get("loaded").filter(|l| !l.is_null()) {
                        m.insert("loaded".into(), l.clone());
                    }
                }
                m.insert("info".into(), info);
                models.push(Some(Value::Object(m)));
            }
            Some(_) => {}
        }
    }

    let default_meta = state.config.get("models.default_metadata");
    let default_threshold = state
        .config
        .get("models.default_params")
        .get("compact_token_threshold")
        .cloned();
    let mut out = Vec::with_capacity(models.len());
    for mut m in models.into_iter().flatten() {
        if let Some(dm) = default_meta.as_object().filter(|d| !d.is_empty()) {
            apply_default_meta(&mut m, dm);
        }
        if let Some(t) = &default_threshold {
            let info = m.get("info").cloned().unwrap_or_else(|| json!({}));
            let mut info = if info.is_object() { info } else { json!({}) };
            let mut params = Map::new();
            params.insert("compact_token_threshold".into(), t.clone());
            if let Some(p) = info.get("params").and_then(Value::as_object) {
                params.extend(p.clone());
            }
            info["params"] = Value::Object(params);
            m["info"] = info;
        }
        // Function-based actions and filters are not supported here.
        m["actions"] = json!([]);
        m["filters"] = json!([]);
        out.push(m);
    }
    Ok(out)
}

fn apply_default_meta(model: &mut Value, defaults: &Map<String, Value>) {
    if model.get("info").is_none_or(|i| !i.is_object()) {
        model["info"] = json!({"meta": defaults});
        return;
    }
    let info = &mut model["info"];
    if !info.get("meta").is_some_and(Value::is_object) {
        info["meta"] = json!({});
    }
    let meta = info["meta"].as_object_mut().expect("just made an object");
    for (k, v) in defaults {
        if k == "capabilities" {
            let mut caps = v.as_object().cloned().unwrap_or_default();
            if let Some(own) = meta.get("capabilities").and_then(Value::as_object) {
                caps.extend(own.clone());
            }
            meta.insert(k.clone(), Value::Object(caps));
        } else if meta.get(k).is_none_or(Value::is_null) {
            meta.insert(k.clone(), v.clone());
        }
    }
}

fn grants_of(v: &Value) -> Vec<access_grants::GrantRow> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| {
                    Some(access_grants::GrantRow {
                        id: g
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        resource_type: "model".into(),
                        resource_id: String::new(),
                        principal_type: g.get("principal_type")?.as_str()?.to_string(),
                        principal_id: g.get("principal_id")?.as_str()?.to_string(),
                        permission: g.get("permission")?.as_str()?.to_string(),
                        created_at: 0,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a caller may see a model of the list.
fn visible_to(model: &Value, caller: &Caller, groups: &HashSet<String>) -> bool {
    let admin = caller.is_admin();
    let info = model.get("info").unwrap_or(&Value::Null);
    if model.get("arena").is_some() {
        let grants = grants_of(&info["meta"]["access_grants"]);
        return (grants.is_empty() && admin)
            || access_grants::grants_allow(&grants, caller.id(), groups, "read");
    }
    // Only models with a workspace row can be shared; the others are admin-only.
    if info.get("id").is_none() {
        return admin;
    }
    (admin && bypass_admin_access())
        || info.get("user_id").and_then(Value::as_str) == Some(caller.id())
        || access_grants::grants_allow(
            &grants_of(&info["access_grants"]),
            caller.id(),
            groups,
            "read",
        )
}

fn needs_filter(caller: &Caller) -> bool {
    !(bypass_model_access() || (caller.is_admin() && bypass_admin_access()))
}

/// A list entry as `/api/models` shows it: no profile image inline (it has
/// its own route), tags as `[{name}]` from the workspace row and the connection.
pub(crate) fn post_process(mut model: Value) -> Value {
    let mut tags: Vec<Value> = Vec::new();
    if let Some(meta) = model
        .get_mut("info")
        .and_then(|i| i.get_mut("meta"))
        .and_then(Value::as_object_mut)
    {
        meta.remove("profile_image_url");
        if let Some(t) = meta.get("tags").cloned() {
            let n = model_rows::normalize_tags(&t);
            tags.extend(n.as_array().cloned().unwrap_or_default());
            meta.insert("tags".into(), n);
        }
    }
    tags.extend(
        model_rows::normalize_tags(model.get("tags").unwrap_or(&Value::Null))
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    let mut unique: Vec<Value> = Vec::new();
    for t in tags {
        match unique.iter_mut().find(|u| u["name"] == t["name"]) {
            Some(u) => *u = t,
            None => unique.push(t),
        }
    }
    model["tags"] = Value::Array(unique);
    model
}

/// Last entry wins for a repeated id, at the first one's position.
fn dedupe(models: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(models.len());
    let mut pos: HashMap<String, usize> = HashMap::new();
    for m in models {
        let id = m["id"].as_str().unwrap_or("").to_string();
        match pos.get(&id) {
            Some(&i) => out[i] = m,
            None => {
                pos.insert(id, out.len());
                out.push(m);
            }
        }
    }
    out
}

pub(crate) async fn visible_models(
    state: &AppState,
    caller: &Caller,
    refresh: bool,
) -> ApiResult<Vec<Value>> {
    let models = dedupe(all_models(state, refresh).await?);
    let models: Vec<Value> = if needs_filter(caller) {
        let groups = group_ids(state, caller.id()).await?;
        models
            .into_iter()
            .filter(|m| visible_to(m, caller, &groups))
            .collect()
    } else {
        models
    };
    let mut models: Vec<Value> = models
        .into_iter()
        .filter(|m| {
            m.get("pipeline")
                .and_then(|p| p.get("type"))
                .and_then(Value::as_str)
                != Some("filter")
        })
        .map(post_process)
        .collect();
    order_models(&mut models, &state.config.get("ui.model_order_list"));
    Ok(models)
}

/// Ids in `order` first, in that order; the rest after them by name.
fn order_models(models: &mut [Value], order: &Value) {
    let Some(order) = order.as_array().filter(|o| !o.is_empty()) else {
        return;
    };
    let rank: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_str().map(|s| (s, i)))
        .collect();
    let key = |m: &Value| {
        (
            rank.get(m["id"].as_str().unwrap_or(""))
                .copied()
                .unwrap_or(usize::MAX),
            m["name"].as_str().unwrap_or("").to_string(),
        )
    };
    models.sort_by_cached_key(key);
}

fn denied() -> ApiError {
    ApiError::forbidden("You do not have access to this model.")
}

/// The completion-time check: the caller must be able to read the model's
/// workspace row and every base model it builds on. Admins pass unless
/// `BYPASS_ADMIN_ACCESS_CONTROL=false`.
pub(crate) async fn check_access(
    state: &AppState,
    caller: &Caller,
    model: &Value,
) -> ApiResult<()> {
    if !needs_filter(caller) {
        return Ok(());
    }
    let groups = group_ids(state, caller.id()).await?;
    if model.get("arena").is_some() {
        return if visible_to(model, caller, &groups) {
            Ok(())
        } else {
            Err(denied())
        };
    }
    let admin = caller.is_admin();
    let mut id = model["id"].as_str().unwrap_or("").to_string();
    let mut seen = HashSet::new();
    while seen.insert(id.clone()) {
        let lookup = id.clone();
        let row = state
            .db
            .read(move |c| model_rows::get_with_grants(c, &lookup))
            .await?;
        let Some((row, grants)) = row else {
            // A model without a workspace row has no audience but admins.
            return if admin { Ok(()) } else { Err(denied()) };
        };
        if row.user_id != caller.id()
            && !access_grants::grants_allow(&grants, caller.id(), &groups, "read")
        {
            return Err(denied());
        }
        match row.base_model_id {
            Some(b) => id = b,
            None => break,
        }
    }
    Ok(())
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Model '{id}' was not found."))
}

fn find(models: &[Value], id: &str) -> Option<Value> {
    models.iter().rev().find(|m| m["id"] == id).cloned()
}

pub(crate) async fn resolve(
    state: &AppState,
    caller: &Caller,
    model_id: &str,
) -> ApiResult<ResolvedModel> {
    let mut all = all_models(state, false).await?;
    let mut item = find(&all, model_id);
    if item.is_none() {
        // New upstream model, or a connection that just came back.
        all = all_models(state, true).await?;
        item = find(&all, model_id);
    }
    let item = item.ok_or_else(|| not_found(model_id))?;
    check_access(state, caller, &item).await?;

    let mut selected = None;
    let chosen = if item.get("arena").is_some() {
        let pick = pick_arena(state, caller, &item).await?;
        check_access(state, caller, &pick).await?;
        selected = pick["id"].as_str().map(str::to_string);
        pick
    } else {
        item.clone()
    };
    let target = target_for(state, &all, &chosen)?;
    let chosen_id = chosen["id"].as_str().unwrap_or(model_id).to_string();
    let row = state
        .db
        .read(move |c| model_rows::get(c, &chosen_id))
        .await?;
    let mut params = state.config.get("models.default_params");
    if !params.is_object() {
        params = json!({});
    }
    if let Some(row) = row {
        let own = model_rows::normalize_params(&row.params);
        let custom_base = params
            .get("custom_params")
            .and_then(Value::as_object)
            .cloned();
        for (k, v) in own.as_object().cloned().unwrap_or_default() {
            params[k.as_str()] = v;
        }
        if let (Some(mut base), Some(Value::Object(own_custom))) =
            (custom_base, own.get("custom_params").cloned())
        {
            base.extend(own_custom);
            params["custom_params"] = Value::Object(base);
        }
    }
    if let Some(p) = params.as_object_mut() {
        p.remove("model_controls");
    }
    Ok(ResolvedModel {
        id: model_id.to_string(),
        target,
        model_item: post_process(item),
        params,
        selected_model_id: selected,
    })
}

async fn pick_arena(state: &AppState, caller: &Caller, arena: &Value) -> ApiResult<Value> {
    let meta = &arena["info"]["meta"];
    let listed: Vec<String> = meta
        .get("model_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let exclude = meta.get("filter_mode").and_then(Value::as_str) == Some("exclude");
    let candidates: Vec<Value> = visible_models(state, caller, false)
        .await?
        .into_iter()
        .filter(|m| m.get("arena").is_none())
        .filter(|m| {
            let id = m["id"].as_str().unwrap_or("");
            let listed_here = listed.iter().any(|l| l == id);
            if listed.is_empty() {
                true
            } else if exclude {
                !listed_here
            } else {
                listed_here
            }
        })
        .collect();
    if candidates.is_empty() {
        return Err(ApiError::not_found(
            "The arena model has no models to choose from.",
        ));
    }
    use rand::Rng;
    let i = rand::thread_rng().gen_range(0..candidates.len());
    Ok(candidates[i].clone())
}

/// The connection serving a model: presets follow their base model.
fn target_for(state: &AppState, all: &[Value], model: &Value) -> ApiResult<ModelTarget> {
    let id = model["id"].as_str().unwrap_or("").to_string();
    let mut current = model.clone();
    for _ in 0..8 {
        if let Some(t) = direct_target(state, &current)? {
            return Ok(t);
        }
        let base_id = current["info"]["base_model_id"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if base_id.is_empty() {
            break;
        }
        let next = find(all, &base_id).or_else(|| {
            // `llama3` reaches `llama3:latest` (or any tag of it).
            let ollama: Vec<&Value> = all
                .iter()
                .filter(|m| {
                    m["owned_by"] == "ollama"
                        && m["id"]
                            .as_str()
                            .is_some_and(|i| i.split(':').next() == Some(&base_id))
                })
                .collect();
            ollama
                .iter()
                .find(|m| m["id"].as_str().is_some_and(|i| i.ends_with(":latest")))
                .or(ollama.first())
                .map(|m| (*m).clone())
        });
        match next {
            Some(n) => current = n,
            None => {
                return Err(ApiError::not_found(format!(
                    "The base model '{base_id}' of '{id}' is not available from any connection."
                )))
            }
        }
    }
    Err(not_found(&id))
}

/// The target of a model that a connection serves itself, if it is one.
fn direct_target(state: &AppState, m: &Value) -> ApiResult<Option<ModelTarget>> {
    let id = m["id"].as_str().unwrap_or("");
    let gone = || {
        ApiError::not_found(format!(
            "The connection serving '{id}' is no longer configured."
        ))
    };
    if let Some(raw) = m.get("ollama") {
        let urls: Vec<usize> = raw
            .get("urls")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|u| u as usize)
                    .collect()
            })
            .unwrap_or_default();
        if urls.is_empty() {
            return Err(gone());
        }
        use rand::seq::SliceRandom;
        let idx = *urls.choose(&mut rand::thread_rng()).expect("not empty");
        let (_, conns) = ollama_connections(state);
        let conn = conns.get(idx).ok_or_else(gone)?;
        return Ok(Some(conn.target(conn.strip_prefix(id))));
    }
    if m.get("owned_by").and_then(Value::as_str) == Some("openai") {
        if let Some(idx) = m.get("urlIdx").and_then(Value::as_u64) {
            let (_, conns) = openai_connections(state);
            let conn = conns.get(idx as usize).ok_or_else(gone)?;
            return Ok(Some(conn.target(conn.strip_prefix(id))));
        }
    }
    Ok(None)
}

/// The provider of a base model entry, for the routers.
pub(crate) fn provider_of(m: &Value) -> Option<Provider> {
    match m.get("owned_by").and_then(Value::as_str) {
        Some("ollama") => Some(Provider::Ollama),
        Some("openai") if m.get("urlIdx").is_some() => Some(Provider::OpenAi),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_params_hide_the_system_prompt() {
        let p = public_params(&json!({
            "system": "secret",
            "temperature": 1,
            "model_controls": {"speed": {"label": "Speed", "options": {"fast": {"label": "Fast", "params": {"x": 1}}}}}
        }));
        assert_eq!(
            p,
            json!({"model_controls": {"speed": {"label": "Speed", "options": {"fast": {"label": "Fast"}}}}})
        );
        assert_eq!(public_params(&json!({"system": "s"})), json!({}));
    }

    #[test]
    fn tags_merge_and_profile_image_goes() {
        let m = post_process(json!({
            "id": "a",
            "tags": ["x", {"name": "y"}],
            "info": {"meta": {"tags": [{"name": "x"}, "z"], "profile_image_url": "data:…"}}
        }));
        assert_eq!(
            m["tags"],
            json!([{"name": "x"}, {"name": "z"}, {"name": "y"}])
        );
        assert!(m["info"]["meta"].get("profile_image_url").is_none());
    }

    #[test]
    fn order_list_first_then_names() {
        let mut m = vec![
            json!({"id": "c", "name": "C"}),
            json!({"id": "a", "name": "A"}),
            json!({"id": "z", "name": "Z"}),
        ];
        order_models(&mut m, &json!(["z"]));
        let ids: Vec<&str> = m.iter().map(|x| x["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["z", "a", "c"]);
        order_models(&mut m, &json!([]));
        assert_eq!(m[0]["id"], "z", "an empty order list keeps the merge order");
    }

    #[test]
    fn dedupe_keeps_first_position_last_value() {
        let out = dedupe(vec![
            json!({"id": "a", "v": 1}),
            json!({"id": "b"}),
            json!({"id": "a", "v": 2}),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["v"], 2);
    }

    #[test]
    fn default_meta_fills_gaps() {
        let mut m = json!({"id": "a", "info": {"meta": {"capabilities": {"vision": false}, "description": "own"}}});
        let d =
            json!({"capabilities": {"vision": true, "usage": true}, "description": "d", "x": 1});
        apply_default_meta(&mut m, d.as_object().unwrap());
        assert_eq!(
            m["info"]["meta"]["capabilities"],
            json!({"vision": false, "usage": true})
        );
        assert_eq!(m["info"]["meta"]["description"], "own");
        assert_eq!(m["info"]["meta"]["x"], 1);
    }
}
