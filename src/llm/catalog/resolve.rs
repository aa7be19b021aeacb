//! From a model id to what serves it: the completion-time access check,
//! arena picks, presets following their base model, the connection target.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::merge::all_models;
use super::visible::{needs_filter, post_process, visible_models, visible_to};
use crate::access::group_ids;
use crate::auth::Caller;
use crate::db::{access_grants, models as model_rows};
use crate::error::{ApiError, ApiResult};
use crate::llm::connections::{ollama_connections, openai_connections};
use crate::llm::{ModelTarget, Provider, ResolvedModel};
use crate::state::AppState;

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
    let controls = params
        .as_object_mut()
        .and_then(|p| p.remove("model_controls"))
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    Ok(ResolvedModel {
        controls,
        id: model_id.to_string(),
        target,
        model_item: post_process(item),
        params,
        selected_model_id: selected,
        direct: false,
    })
}

async fn pick_arena(state: &AppState, caller: &Caller, arena: &Value) -> ApiResult<Value> {
    let meta = &arena["info"]["meta"];
    let listed: Vec<String> = crate::json::str_list(meta.get("model_ids"));
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

/// The indexes of the Ollama servers a merged model item says host it
/// (`ollama.urls`; empty when it names none).
pub(crate) fn ollama_url_indexes(m: &Value) -> Vec<usize> {
    m["ollama"]["urls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|u| u as usize)
                .collect()
        })
        .unwrap_or_default()
}

/// The target of a model that a connection serves itself, if it is one.
fn direct_target(state: &AppState, m: &Value) -> ApiResult<Option<ModelTarget>> {
    let id = m["id"].as_str().unwrap_or("");
    let gone = || {
        ApiError::not_found(format!(
            "The connection serving '{id}' is no longer configured."
        ))
    };
    if m.get("ollama").is_some() {
        let urls = ollama_url_indexes(m);
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
