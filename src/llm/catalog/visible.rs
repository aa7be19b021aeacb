//! Which models a caller sees, and how `/api/models` shows and orders them.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use super::merge::all_models;
use crate::access::{bypass_admin_access, grants_from_json, group_ids};
use crate::auth::Caller;
use crate::db::{access_grants, models as model_rows};
use crate::error::ApiResult;
use crate::settings::env_bool;
use crate::state::AppState;

pub(crate) fn bypass_model_access() -> bool {
    static B: OnceLock<bool> = OnceLock::new();
    *B.get_or_init(|| env_bool("BYPASS_MODEL_ACCESS_CONTROL", false))
}

/// Whether a caller may see a model of the list.
pub(super) fn visible_to(model: &Value, caller: &Caller, groups: &HashSet<String>) -> bool {
    let admin = caller.is_admin();
    let info = model.get("info").unwrap_or(&Value::Null);
    if model.get("arena").is_some() {
        let grants = grants_from_json(&info["meta"]["access_grants"]);
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
            &grants_from_json(&info["access_grants"]),
            caller.id(),
            groups,
            "read",
        )
}

pub(super) fn needs_filter(caller: &Caller) -> bool {
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
pub(super) fn dedupe(models: Vec<Value>) -> Vec<Value> {
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
pub(super) fn order_models(models: &mut [Value], order: &Value) {
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
