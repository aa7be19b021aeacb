//! The full model list: base models, arena models and workspace rows laid
//! over them, not yet filtered by access.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::cache::base_models;
use crate::db::models as model_rows;
use crate::error::ApiResult;
use crate::state::AppState;

/// What `/api/models` exposes of a workspace model's params: the model
/// controls' labels and the compaction threshold, never the system prompt.
pub(super) fn public_params(params: &Value) -> Value {
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
        crate::llm::variables::describe(&mut info, &row.params);
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

pub(super) fn apply_default_meta(model: &mut Value, defaults: &Map<String, Value>) {
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
