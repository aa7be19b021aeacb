//! Routes of upstream's `openai` router (`/openai/*`): the OpenAI-compatible
//! connections' settings, their model lists, and requests relayed to them.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Digest;

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::permissions;
use crate::error::messages::ACCESS_PROHIBITED;
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openai/config", get(get_config))
        .route("/openai/config/update", post(update_config))
        .route("/openai/verify", post(verify))
        .route("/openai/models", get(models))
        .route(
            "/openai/models/{url_idx}",
            get(models).delete(delete_provider_model),
        )
        .route("/openai/models/{url_idx}/catalog", get(catalog))
        .route("/openai/models/{url_idx}/download", post(download))
        .route(
            "/openai/models/{url_idx}/download/status/{job_id}",
            get(download_status),
        )
        .route("/openai/models/{url_idx}/load", post(load))
        .route("/openai/models/{url_idx}/unload", post(unload))
        .route("/openai/models/{url_idx}/sse", get(sse))
        .route("/openai/chat/completions", post(chat_completions))
        .route("/openai/responses", post(responses))
        .route("/openai/audio/speech", post(speech))
        .route(
            "/openai/{*path}",
            get(passthrough)
                .post(passthrough)
                .put(passthrough)
                .delete(passthrough),
        )
}

fn disabled() -> ApiError {
    ApiError::Unavailable("OpenAI API is disabled".into())
}

fn config_json(state: &AppState) -> Value {
    let c = &state.config;
    json!({
        "ENABLE_OPENAI_API": c.get("openai.enable"),
        "OPENAI_API_BASE_URLS": c.get("openai.api_base_urls"),
        "OPENAI_API_KEYS": c.get("openai.api_keys"),
        "OPENAI_API_CONFIGS": c.get("openai.api_configs"),
    })
}

async fn get_config(State(state): State<AppState>, AdminUser(_c): AdminUser) -> Json<Value> {
    Json(config_json(&state))
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct ConfigForm {
    #[serde(default)]
    ENABLE_OPENAI_API: Option<bool>,
    OPENAI_API_BASE_URLS: Vec<String>,
    OPENAI_API_KEYS: Vec<String>,
    OPENAI_API_CONFIGS: Map<String, Value>,
}

async fn update_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<ConfigForm>,
) -> ApiResult<Json<Value>> {
    let n = form.OPENAI_API_BASE_URLS.len();
    // One key per URL, and settings only for URLs that exist.
    let mut keys = form.OPENAI_API_KEYS;
    keys.resize(n, String::new());
    let configs = llm::configs_for_urls(form.OPENAI_API_CONFIGS, n);
    state
        .config
        .set_many(vec![
            ("openai.enable", json!(form.ENABLE_OPENAI_API)),
            ("openai.api_base_urls", json!(form.OPENAI_API_BASE_URLS)),
            ("openai.api_keys", json!(keys)),
            ("openai.api_configs", Value::Object(configs)),
        ])
        .await?;
    llm::invalidate(&state);
    Ok(Json(config_json(&state)))
}

#[derive(Deserialize)]
struct VerifyForm {
    url: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    config: Option<Value>,
}

/// The URL a connection lists its models at.
fn models_url(url: &str, config: &Value) -> String {
    let url = url.trim_end_matches('/');
    let azure = llm::is_azure(config);
    if azure && !url.contains("/openai/v1") {
        let version = config
            .get("api_version")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .unwrap_or("2023-03-15-preview");
        format!("{url}/openai/models?api-version={version}")
    } else {
        format!("{url}/models")
    }
}

/// Asks a connection for its models with the given key, answering with
/// what it says (its own status on failure).
async fn verify(
    State(_state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<VerifyForm>,
) -> ApiResult<Response> {
    let config = form.config.unwrap_or_else(|| json!({}));
    let url = models_url(&form.url, &config);
    let timeout = llm::model_list_timeout();
    let req = llm::client()
        .get(&url)
        .headers(llm::auth_headers(Some(&form.key), &config, &url))
        .timeout(timeout);
    match req.send().await {
        Ok(resp) => Ok(llm::forward_response(resp).await.into_response()),
        Err(e) => Err(ApiError::Unavailable(
            llm::send_error(&form.url, e, Some(timeout)).to_string(),
        )),
    }
}

/// `GET /openai/models`: the OpenAI connections' models (users see the ones
/// shared with them); `/openai/models/{idx}`: one connection, asked directly.
async fn models(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    url_idx: Option<Path<usize>>,
) -> ApiResult<Json<Value>> {
    crate::api::ollama::server_choice(&caller, &url_idx)?;
    let (enabled, conns) = llm::openai_connections(&state);
    if !enabled {
        return Err(disabled());
    }
    let Some(Path(idx)) = url_idx else {
        let mut data: Vec<Value> = llm::base_models(&state, false)
            .await
            .into_iter()
            .filter(|m| llm::provider_of(m) == Some(llm::Provider::OpenAi))
            .collect();
        if caller.user.role == "user" && !llm::bypass_model_access() {
            data = shared_with(&state, &caller, data).await?;
        }
        return Ok(Json(json!({"data": data})));
    };
    let conn = conns
        .get(idx)
        .ok_or_else(|| ApiError::not_found("Connection not found"))?;
    let azure = llm::is_azure(&conn.config);
    if azure {
        return Ok(Json(
            json!({"data": conn.config.get("model_ids").cloned().unwrap_or(json!([])), "object": "list"}),
        ));
    }
    let url = format!("{}/models", conn.url);
    let timeout = llm::model_list_timeout();
    let resp = llm::client()
        .get(&url)
        .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url))
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            ApiError::Unavailable(llm::send_error(&conn.url, e, Some(timeout)).to_string())
        })?;
    if !resp.status().is_success() {
        return Err(ApiError::Unavailable(
            llm::status_error(resp).await.to_string(),
        ));
    }
    let mut v: Value = resp
        .json()
        .await
        .map_err(|e| ApiError::Unavailable(format!("Unexpected error: {e}")))?;
    if conn.url.contains("api.openai.com") {
        if let Some(list) = v.get_mut("data").and_then(Value::as_array_mut) {
            list.retain(|m| {
                let id = m["id"].as_str().unwrap_or("");
                !llm::UNSUPPORTED_OPENAI.iter().any(|k| id.contains(k))
            });
        }
    }
    if caller.user.role == "user" && !llm::bypass_model_access() {
        let list = v
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        v["data"] = Value::Array(shared_with(&state, &caller, list).await?);
    }
    Ok(Json(v))
}

/// Base models a user may use directly: those with a workspace row they own
/// or that is shared with them.
async fn shared_with(
    state: &AppState,
    caller: &crate::auth::Caller,
    list: Vec<Value>,
) -> ApiResult<Vec<Value>> {
    let groups = crate::access::group_ids(state, caller.id()).await?;
    let rows = state.db.read(crate::db::models::all_with_grants).await?;
    Ok(list
        .into_iter()
        .filter(|m| {
            let id = m["id"]
                .as_str()
                .or_else(|| m["model"].as_str())
                .unwrap_or("");
            rows.iter().any(|(r, g)| {
                r.id == id
                    && (r.user_id == caller.id()
                        || crate::db::access_grants::grants_allow(g, caller.id(), &groups, "read"))
            })
        })
        .collect())
}

// ------------------------------------------------------- model management

/// Paths of the model-management API of providers that have one.
fn management_path(provider: &str, op: &str) -> Option<&'static str> {
    Some(match (provider, op) {
        ("llama.cpp", "list" | "download" | "delete") => "/models",
        ("llama.cpp", "load") => "/models/load",
        ("llama.cpp", "unload") => "/models/unload",
        ("llama.cpp", "sse") => "/models/sse",
        ("lmstudio", "list") => "/api/v1/models",
        ("lmstudio", "download") => "/api/v1/models/download",
        ("lmstudio", "download_status") => "/api/v1/models/download/status/{job_id}",
        ("lmstudio", "load") => "/api/v1/models/load",
        ("lmstudio", "unload") => "/api/v1/models/unload",
        _ => return None,
    })
}

/// Calls a llama.cpp or LM Studio server's model-management API.
pub(crate) async fn manage(
    state: &AppState,
    idx: usize,
    op: &str,
    method: reqwest::Method,
    payload: Option<Value>,
    query: Option<(&str, String)>,
    path_params: &[(&str, &str)],
) -> ApiResult<Response> {
    let (enabled, conns) = llm::openai_connections(state);
    if !enabled {
        return Err(disabled());
    }
    let conn = conns
        .get(idx)
        .ok_or_else(|| ApiError::not_found("Connection not found"))?;
    let provider = conn.provider_name();
    if management_path(provider, "list").is_none() {
        let name = if provider.is_empty() {
            "default"
        } else {
            provider
        };
        return Err(ApiError::bad_request(format!(
            "Provider \"{name}\" does not support model management"
        )));
    }
    let mut path = management_path(provider, op)
        .ok_or_else(|| {
            ApiError::bad_request(format!("Provider \"{provider}\" does not support {op}"))
        })?
        .to_string();
    for (k, v) in path_params {
        path = path.replace(&format!("{{{k}}}"), v);
    }
    let mut root = conn.url.clone();
    for suffix in ["/api/v1", "/api/v0", "/v1"] {
        if let Some(r) = root.strip_suffix(suffix) {
            root = r.to_string();
            break;
        }
    }
    let payload = match (provider, op, payload) {
        ("lmstudio", "unload", Some(p)) => {
            Some(json!({"instance_id": p.get("instance_id").or_else(|| p.get("model")).cloned()}))
        }
        (_, _, p) => p,
    };
    let url = format!("{root}{path}");
    let mut req = llm::client()
        .request(method, &url)
        .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url));
    if let Some(p) = &payload {
        req = req.json(p);
    }
    if let Some((k, v)) = query {
        req = req.query(&[(k, v)]);
    }
    let stream = op == "sse";
    if !stream {
        req = req.timeout(Duration::from_secs(300));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(llm::send_error(&root, e, None).to_string()))?;
    if !resp.status().is_success() {
        let status = resp.status().as_u16();
        let err = llm::status_error(resp).await;
        return Err(match status {
            400 => ApiError::bad_request(err.to_string()),
            404 => ApiError::not_found(err.to_string()),
            _ => ApiError::Unavailable(err.to_string()),
        });
    }
    if stream {
        return Ok(llm::forward_response(resp).await.into_response());
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"success": true}));
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
struct ModelForm {
    model: String,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn stripped_payload(state: &AppState, idx: usize, form: ModelForm) -> Value {
    let (_, conns) = llm::openai_connections(state);
    let model = conns
        .get(idx)
        .map(|c| c.strip_prefix(&form.model).to_string())
        .unwrap_or(form.model);
    let mut o = form.rest;
    o.retain(|_, v| !v.is_null());
    o.insert("model".into(), json!(model));
    Value::Object(o)
}

async fn catalog(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(idx): Path<usize>,
) -> ApiResult<Response> {
    manage(&state, idx, "list", reqwest::Method::GET, None, None, &[]).await
}

async fn download(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(idx): Path<usize>,
    JsonBody(form): JsonBody<ModelForm>,
) -> ApiResult<Response> {
    change_models(&state, idx, form, "download").await
}

async fn download_status(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path((idx, job_id)): Path<(usize, String)>,
) -> ApiResult<Response> {
    manage(
        &state,
        idx,
        "download_status",
        reqwest::Method::GET,
        None,
        None,
        &[("job_id", &job_id)],
    )
    .await
}

/// Downloading, loading or unloading a model on the connection changes what
/// it lists.
async fn change_models(
    state: &AppState,
    idx: usize,
    form: ModelForm,
    action: &str,
) -> ApiResult<Response> {
    let payload = stripped_payload(state, idx, form);
    let r = manage(
        state,
        idx,
        action,
        reqwest::Method::POST,
        Some(payload),
        None,
        &[],
    )
    .await?;
    llm::invalidate(state);
    Ok(r)
}

async fn load(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(idx): Path<usize>,
    JsonBody(form): JsonBody<ModelForm>,
) -> ApiResult<Response> {
    change_models(&state, idx, form, "load").await
}

async fn unload(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(idx): Path<usize>,
    JsonBody(form): JsonBody<ModelForm>,
) -> ApiResult<Response> {
    change_models(&state, idx, form, "unload").await
}

async fn sse(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(idx): Path<usize>,
) -> ApiResult<Response> {
    manage(&state, idx, "sse", reqwest::Method::GET, None, None, &[]).await
}

#[derive(Deserialize)]
struct DeleteQuery {
    model: String,
}

async fn delete_provider_model(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(idx): Path<usize>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Response> {
    let (_, conns) = llm::openai_connections(&state);
    let model = conns
        .get(idx)
        .map(|c| c.strip_prefix(&q.model).to_string())
        .unwrap_or(q.model);
    let r = manage(
        &state,
        idx,
        "delete",
        reqwest::Method::DELETE,
        None,
        Some(("model", model)),
        &[],
    )
    .await?;
    llm::invalidate(&state);
    Ok(r)
}

// --------------------------------------------------------------- requests

/// An OpenAI chat request for any model of the list (presets included),
/// relayed as the provider answers: SSE unbuffered, or JSON.
async fn chat_completions(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    if !state.config.get_bool("openai.enable") {
        return Err(disabled());
    }
    let Some(mut obj) = body.as_object().cloned() else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("The request needs a model."))?
        .to_string();
    let resolved = llm::resolve(&state, &caller, &model).await?;
    obj.remove("metadata");
    let mut payload = Value::Object(obj);
    if let Some(system) = resolved
        .params
        .get("system")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        if let Some(msgs) = payload.get_mut("messages").and_then(Value::as_array_mut) {
            llm::apply_system_prompt(system, msgs);
        }
    }
    llm::apply_model_params(&resolved.params, &mut payload, false);
    Ok(llm::openai_passthrough(&resolved.target, payload)
        .await
        .into_response())
}

/// The Responses API, relayed to the connection serving the model.
async fn responses(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let Some(mut obj) = body.as_object().cloned() else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("The request needs a model."))?
        .to_string();
    let resolved = llm::resolve(&state, &caller, &model).await?;
    let t = &resolved.target;
    if t.provider != llm::Provider::OpenAi {
        return Err(ApiError::bad_request(
            "The Responses API is only relayed to OpenAI-compatible connections.",
        ));
    }
    obj.retain(|_, v| !v.is_null());
    obj.insert("model".into(), json!(t.upstream_id));
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let relay = llm::responses::proxy(t, &Value::Object(obj), stream).await;
    Ok(relay.into_response())
}

/// Text to speech through the api.openai.com connection, cached on disk by
/// request body.
async fn speech(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    body: Bytes,
) -> ApiResult<Response> {
    if !caller.is_admin() {
        let perms = permissions::effective(&state, caller.id()).await?;
        if !permissions::allows(&perms, "chat.tts") {
            return Err(ApiError::forbidden(ACCESS_PROHIBITED));
        }
    }
    let (_, conns) = llm::openai_connections(&state);
    let conn = conns
        .iter()
        .find(|c| c.url == "https://api.openai.com/v1")
        .ok_or_else(|| ApiError::unauthorized("OpenAI API was not found"))?;
    let name = hex::encode(sha2::Sha256::digest(&body));
    let dir = state.settings.data_dir.join("cache/audio/speech");
    let file = dir.join(format!("{name}.mp3"));
    if let Ok(bytes) = tokio::fs::read(&file).await {
        return Ok(([(header::CONTENT_TYPE, "audio/mpeg")], bytes).into_response());
    }
    let url = format!("{}/audio/speech", conn.url);
    let resp = llm::client()
        .post(&url)
        .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url))
        .header(header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_secs(300))
        .body(body.clone())
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(llm::send_error(&conn.url, e, None).to_string()))?;
    if !resp.status().is_success() {
        let err = llm::status_error(resp).await;
        return Err(ApiError::Unavailable(format!("External: {err}")));
    }
    let audio = resp
        .bytes()
        .await
        .map_err(|e| ApiError::Unavailable(format!("External: {e}")))?;
    let _ = tokio::fs::create_dir_all(&dir).await;
    if tokio::fs::write(&file, &audio).await.is_ok() {
        let _ = tokio::fs::write(dir.join(format!("{name}.json")), &body).await;
    }
    Ok(([(header::CONTENT_TYPE, "audio/mpeg")], audio).into_response())
}

/// Upstream's deprecated catch-all proxy, off unless
/// `ENABLE_OPENAI_API_PASSTHROUGH=true`.
async fn passthrough(
    State(state): State<AppState>,
    VerifiedUser(_caller): VerifiedUser,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    if !crate::settings::env_bool("ENABLE_OPENAI_API_PASSTHROUGH", false) {
        return Err(ApiError::forbidden(
            "Direct API passthrough is disabled. Set ENABLE_OPENAI_API_PASSTHROUGH=True to enable.",
        ));
    }
    let (_, conns) = llm::openai_connections(&state);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut idx = 0;
    if let Some(model) = parsed
        .as_ref()
        .and_then(|p| p.get("model"))
        .and_then(Value::as_str)
    {
        if let Some(m) = llm::base_models(&state, false)
            .await
            .iter()
            .find(|m| m["id"] == model)
        {
            idx = m["urlIdx"].as_u64().unwrap_or(0) as usize;
        }
    }
    let conn = conns
        .get(idx)
        .ok_or_else(|| ApiError::not_found("Connection not found"))?;
    let stream = parsed
        .as_ref()
        .and_then(|p| p.get("stream"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut url = format!("{}/{}", conn.url, path);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url = format!("{url}?{q}");
    }
    let method =
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let req = llm::client()
        .request(method, &url)
        .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    Ok(llm::forward(
        req,
        &conn.url,
        stream,
        if stream {
            None
        } else {
            Some(Duration::from_secs(300))
        },
    )
    .await
    .into_response())
}
