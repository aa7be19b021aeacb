//! Ollama settings: status, verifying a connection, reading and updating
//! the config.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::error::messages::SERVER_CONNECTION_ERROR;
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

pub(super) async fn status() -> Json<Value> {
    Json(json!({"status": true}))
}

#[derive(Deserialize)]
pub(super) struct VerifyForm {
    url: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    config: Option<Value>,
}

pub(super) async fn verify(
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<VerifyForm>,
) -> ApiResult<Json<Value>> {
    let config = form.config.unwrap_or_else(|| json!({}));
    let base = form.url.trim_end_matches('/');
    let url = format!("{base}/api/version");
    let timeout = llm::model_list_timeout();
    let resp = llm::client()
        .get(&url)
        .headers(llm::auth_headers(form.key.as_deref(), &config, &url))
        .timeout(timeout)
        .send()
        .await
        .map_err(|_| ApiError::RemoteFailure(SERVER_CONNECTION_ERROR.into()))?;
    if !resp.status().is_success() {
        // The server's own `error` text when it gives one, else the status.
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let reason = match body.get("error") {
            Some(Value::String(e)) => format!("External Error: {e}"),
            Some(e) if !e.is_null() => format!("External Error: {e}"),
            _ => format!("HTTP Error: {status}"),
        };
        return Err(ApiError::RemoteFailure(format!(
            "Unexpected error: {reason}"
        )));
    }
    let v = resp
        .json::<Value>()
        .await
        .map_err(|e| ApiError::RemoteFailure(format!("Unexpected error: {e}")))?;
    Ok(Json(v))
}

fn config_json(state: &AppState) -> Value {
    let c = &state.config;
    json!({
        "ENABLE_OLLAMA_API": c.get("ollama.enable"),
        "OLLAMA_BASE_URLS": c.get("ollama.base_urls"),
        "OLLAMA_API_CONFIGS": c.get("ollama.api_configs"),
    })
}

pub(super) async fn get_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> Json<Value> {
    Json(config_json(&state))
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
pub(super) struct ConfigForm {
    #[serde(default)]
    ENABLE_OLLAMA_API: Option<bool>,
    OLLAMA_BASE_URLS: Vec<String>,
    OLLAMA_API_CONFIGS: Map<String, Value>,
}

pub(super) async fn update_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<ConfigForm>,
) -> ApiResult<Json<Value>> {
    let n = form.OLLAMA_BASE_URLS.len();
    let configs = crate::llm::configs_for_urls(form.OLLAMA_API_CONFIGS, n);
    state
        .config
        .set_many(vec![
            ("ollama.enable", json!(form.ENABLE_OLLAMA_API)),
            ("ollama.base_urls", json!(form.OLLAMA_BASE_URLS)),
            ("ollama.api_configs", Value::Object(configs)),
        ])
        .await?;
    llm::invalidate(&state);
    Ok(Json(config_json(&state)))
}
