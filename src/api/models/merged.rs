//! `/api/models`: the merged model list chats pick from, the base models
//! behind it, and unloading a model from its server.

use std::collections::HashSet;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct RefreshQuery {
    #[serde(default)]
    refresh: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
}

pub(super) async fn list_models(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<RefreshQuery>,
) -> ApiResult<Json<Value>> {
    let data = if truthy(&q.refresh) {
        llm::invalidate(&state);
        llm::list_models(&state, &caller).await?
    } else {
        llm::list_models(&state, &caller).await?
    };
    Ok(Json(json!({ "data": data })))
}

pub(super) async fn base_models(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<RefreshQuery>,
) -> ApiResult<Json<Value>> {
    let data = llm::base_models(&state, truthy(&q.refresh)).await;
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
pub(super) struct UnloadForm {
    model: String,
}

/// Frees a model's memory on its server: Ollama (`keep_alive: 0` on every
/// server hosting it) or llama.cpp / LM Studio's unload endpoint.
pub(super) async fn unload_model(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<UnloadForm>,
) -> ApiResult<Json<Value>> {
    let base = llm::base_models(&state, false).await;
    let all = llm::all_models(&state, false).await?;
    // A preset unloads its base model.
    let mut id = form.model.clone();
    let mut seen = HashSet::new();
    let item = loop {
        if let Some(b) = base.iter().find(|m| m["id"] == id.as_str()) {
            break b.clone();
        }
        let next = all
            .iter()
            .find(|m| m["id"] == id.as_str())
            .and_then(|m| m["info"]["base_model_id"].as_str())
            .map(str::to_string);
        match next {
            Some(n) if seen.insert(n.clone()) => id = n,
            _ => {
                return Err(ApiError::not_found(format!(
                    "Model '{}' was not found.",
                    form.model
                )))
            }
        }
    };
    match llm::provider_of(&item) {
        Some(llm::Provider::Ollama) => {
            let (_, conns) = llm::ollama_connections(&state);
            let mut errors = Vec::new();
            for idx in llm::ollama_url_indexes(&item) {
                let Some(conn) = conns.get(idx) else { continue };
                let url = format!("{}/api/generate", conn.url);
                let body = json!({"model": conn.strip_prefix(&id), "keep_alive": 0, "prompt": ""});
                let r = llm::client()
                    .post(&url)
                    .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url))
                    .timeout(std::time::Duration::from_secs(30))
                    .json(&body)
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => {
                        errors.push(format!("server {idx}: {}", llm::status_error(resp).await))
                    }
                    Err(e) => errors.push(format!(
                        "server {idx}: {}",
                        llm::send_error(&conn.url, e, None)
                    )),
                }
            }
            llm::invalidate(&state);
            if !errors.is_empty() {
                return Err(ApiError::Unavailable(format!(
                    "Could not unload the model on {} server(s): {}",
                    errors.len(),
                    errors.join("; ")
                )));
            }
            Ok(Json(json!({"status": true})))
        }
        Some(llm::Provider::OpenAi) => {
            let idx = item["urlIdx"].as_u64().unwrap_or(0) as usize;
            let (_, conns) = llm::openai_connections(&state);
            let conn = conns
                .get(idx)
                .ok_or_else(|| ApiError::not_found("Connection not found"))?;
            let provider = conn.provider_name();
            let payload = json!({"model": conn.strip_prefix(&id)});
            crate::api::openai::manage(
                &state,
                idx,
                "unload",
                reqwest::Method::POST,
                Some(payload),
                None,
                &[],
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                if provider.is_empty() {
                    ApiError::bad_request(
                        "This connection's provider does not support unloading models.",
                    )
                } else {
                    e
                }
            })?;
            Ok(Json(json!({"status": true})))
        }
        None => Err(ApiError::bad_request("This model cannot be unloaded.")),
    }
}
