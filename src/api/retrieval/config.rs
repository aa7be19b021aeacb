//! The admin "Documents" settings and the embedding settings: reading and
//! updating them.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::config_keys::{TOP, WEB};
use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `YOUTUBE_LOADER_TRANSLATION` lives in memory only, as upstream keeps it.
static YOUTUBE_TRANSLATION: std::sync::Mutex<Value> = std::sync::Mutex::new(Value::Null);

fn config_json(state: &AppState) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!(true));
    for (field, key) in TOP {
        out.insert((*field).into(), state.config.get(key));
    }
    let mut web = Map::new();
    for (field, key) in WEB {
        web.insert((*field).into(), state.config.get(key));
        if *field == "YOUTUBE_LOADER_PROXY_URL" {
            let t = YOUTUBE_TRANSLATION
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            web.insert("YOUTUBE_LOADER_TRANSLATION".into(), t);
        }
    }
    out.insert("web".into(), Value::Object(web));
    Value::Object(out)
}

pub(super) async fn get_config(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Json<Value> {
    Json(config_json(&state))
}

/// A value of the wrong JSON kind for its setting answers 422, as pydantic
/// would; `null` is accepted where the stored value may be null.
fn check_kind(state: &AppState, field: &str, key: &str, v: &Value) -> ApiResult<()> {
    let current = state.config.get(key);
    let ok = match (&current, v) {
        (_, Value::Null) => true,
        (Value::Bool(_), Value::Bool(_)) => true,
        (Value::Bool(_), _) => false,
        (Value::Number(_), Value::Number(_)) => true,
        (Value::Number(_), Value::String(s)) => s.trim().parse::<f64>().is_ok() || s.is_empty(),
        (Value::Number(_), _) => false,
        (Value::Array(_), Value::Array(_)) => true,
        (Value::Array(_), _) => false,
        (Value::Object(_), Value::Object(_)) => true,
        (Value::Object(_), _) => false,
        (Value::String(_), Value::String(_)) => true,
        (Value::String(_), Value::Number(_)) => true,
        (Value::String(_), _) => false,
        (Value::Null, _) => true,
    };
    if ok {
        if v.is_array() {
            crate::api::form::no_null_items(&["body", field], v, "string")?;
        }
        Ok(())
    } else {
        Err(ApiError::Validation(json!([{
            "type": "type_error",
            "loc": ["body", field],
            "msg": format!("Input has the wrong type for {field}"),
            "input": v,
        }])))
    }
}

pub(super) async fn update_config(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut updates: Vec<(&'static str, Value)> = vec![];
    for (field, key) in TOP {
        let Some(v) = body.get(*field) else { continue };
        let mut v = v.clone();
        if matches!(
            *field,
            "FILE_MAX_SIZE"
                | "FILE_MAX_COUNT"
                | "FILE_IMAGE_COMPRESSION_WIDTH"
                | "FILE_IMAGE_COMPRESSION_HEIGHT"
        ) && v.as_str() == Some("")
        {
            updates.push((key, Value::Null));
            continue;
        }
        if v.is_null() {
            continue;
        }
        check_kind(&state, field, key, &v)?;
        if *field == "RAG_TOKENIZER_MODEL" {
            if let Some(s) = v.as_str() {
                v = json!(s.trim());
            }
        }
        if *field == "CONTENT_EXTRACTION_ENGINE" {
            let engine = v.as_str().unwrap_or("");
            if !engine.is_empty() && engine != state.config.get_str(key) {
                return Err(ApiError::bad_request(format!(
                    "The content extraction engine '{engine}' is not supported by this server; \
                     documents are extracted by the built-in extractor (leave the engine on Default)."
                )));
            }
        }
        updates.push((key, v));
    }
    if let Some(Value::Object(web)) = body.get("web") {
        for (field, key) in WEB {
            let Some(v) = web.get(*field) else { continue };
            if *field == "BRAVE_SEARCH_CONTEXT_TOKENS" && v.is_null() {
                continue;
            }
            check_kind(&state, field, key, v)?;
            updates.push((key, v.clone()));
        }
        if let Some(t) = web.get("YOUTUBE_LOADER_TRANSLATION") {
            *YOUTUBE_TRANSLATION
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = t.clone();
        }
    }
    if !updates.is_empty() {
        state.config.set_many(updates).await?;
    }
    Ok(Json(config_json(&state)))
}

fn embedding_json(state: &AppState) -> Value {
    let c = &state.config;
    json!({
        "status": true,
        "RAG_EMBEDDING_ENGINE": c.get("rag.embedding_engine"),
        "RAG_EMBEDDING_MODEL": c.get("rag.embedding_model"),
        "RAG_EMBEDDING_BATCH_SIZE": c.get("rag.embedding_batch_size"),
        "ENABLE_ASYNC_EMBEDDING": c.get("rag.enable_async_embedding"),
        "RAG_EMBEDDING_CONCURRENT_REQUESTS": c.get("rag.embedding_concurrent_requests"),
        "openai_config": {"url": c.get("rag.openai.api_base_url"), "key": c.get("rag.openai.api_key")},
        "ollama_config": {"url": c.get("rag.ollama.base_url"), "key": c.get("rag.ollama.api_key")},
        "azure_openai_config": {
            "url": c.get("rag.azure_openai.base_url"),
            "key": c.get("rag.azure_openai.api_key"),
            "version": c.get("rag.azure_openai.api_version"),
        },
    })
}

pub(super) async fn get_embedding(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Json<Value> {
    Json(embedding_json(&state))
}

#[derive(Deserialize, Default)]
struct ConnForm {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
pub(super) struct EmbeddingForm {
    RAG_EMBEDDING_ENGINE: String,
    RAG_EMBEDDING_MODEL: String,
    #[serde(default)]
    RAG_EMBEDDING_BATCH_SIZE: Option<i64>,
    #[serde(default)]
    ENABLE_ASYNC_EMBEDDING: Option<bool>,
    #[serde(default)]
    RAG_EMBEDDING_CONCURRENT_REQUESTS: Option<i64>,
    #[serde(default)]
    openai_config: Option<ConnForm>,
    #[serde(default)]
    ollama_config: Option<ConnForm>,
    #[serde(default)]
    azure_openai_config: Option<ConnForm>,
}

pub(super) async fn update_embedding(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    JsonBody(f): JsonBody<EmbeddingForm>,
) -> ApiResult<Json<Value>> {
    let engine = f.RAG_EMBEDDING_ENGINE.trim().to_string();
    if !matches!(engine.as_str(), "" | "openai" | "ollama" | "azure_openai") {
        return Err(ApiError::bad_request(format!(
            "Unknown embedding engine '{engine}'. Use the built-in engine, openai, ollama or azure_openai."
        )));
    }
    let mut updates: Vec<(&'static str, Value)> = vec![
        ("rag.embedding_engine", json!(engine)),
        ("rag.embedding_model", json!(f.RAG_EMBEDDING_MODEL.trim())),
        (
            "rag.embedding_batch_size",
            json!(f.RAG_EMBEDDING_BATCH_SIZE.unwrap_or(1)),
        ),
        (
            "rag.enable_async_embedding",
            json!(f.ENABLE_ASYNC_EMBEDDING.unwrap_or(true)),
        ),
        (
            "rag.embedding_concurrent_requests",
            json!(f.RAG_EMBEDDING_CONCURRENT_REQUESTS.unwrap_or(0)),
        ),
    ];
    match engine.as_str() {
        "openai" => {
            if let Some(c) = f.openai_config {
                updates.push(("rag.openai.api_base_url", json!(c.url.unwrap_or_default())));
                updates.push(("rag.openai.api_key", json!(c.key.unwrap_or_default())));
            }
        }
        "ollama" => {
            if let Some(c) = f.ollama_config {
                updates.push(("rag.ollama.base_url", json!(c.url.unwrap_or_default())));
                updates.push(("rag.ollama.api_key", json!(c.key.unwrap_or_default())));
            }
        }
        "azure_openai" => {
            if let Some(c) = f.azure_openai_config {
                updates.push((
                    "rag.azure_openai.base_url",
                    json!(c.url.unwrap_or_default()),
                ));
                updates.push(("rag.azure_openai.api_key", json!(c.key.unwrap_or_default())));
                updates.push((
                    "rag.azure_openai.api_version",
                    json!(c.version.unwrap_or_default()),
                ));
            }
        }
        _ => {}
    }
    state.config.set_many(updates).await?;
    Ok(Json(embedding_json(&state)))
}
