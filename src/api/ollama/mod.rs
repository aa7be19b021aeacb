//! Routes of upstream's `ollama` router (`/ollama/*`): the Ollama
//! connections' settings and Ollama's own API relayed to the server that
//! hosts the requested model. Streams are copied through unbuffered.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::llm::{self, Conn};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ollama/", get(status).head(status))
        .route("/ollama/verify", post(verify))
        .route("/ollama/config", get(get_config))
        .route("/ollama/config/update", post(update_config))
        .route("/ollama/api/tags", get(tags))
        .route("/ollama/api/tags/{url_idx}", get(tags))
        .route("/ollama/api/ps", get(ps))
        .route("/ollama/api/version", get(version))
        .route("/ollama/api/version/{url_idx}", get(version))
        .route("/ollama/api/unload", post(unload))
        .route("/ollama/api/pull", post(pull))
        .route("/ollama/api/pull/{url_idx}", post(pull))
        .route("/ollama/api/push", axum::routing::delete(push))
        .route("/ollama/api/push/{url_idx}", axum::routing::delete(push))
        .route("/ollama/api/create", post(create))
        .route("/ollama/api/create/{url_idx}", post(create))
        .route("/ollama/api/copy", post(copy))
        .route("/ollama/api/copy/{url_idx}", post(copy))
        .route("/ollama/api/delete", axum::routing::delete(delete_model))
        .route(
            "/ollama/api/delete/{url_idx}",
            axum::routing::delete(delete_model),
        )
        .route("/ollama/api/show", post(show))
        .route("/ollama/api/embed", post(embed))
        .route("/ollama/api/embed/{url_idx}", post(embed))
        .route("/ollama/api/embeddings", post(embeddings))
        .route("/ollama/api/embeddings/{url_idx}", post(embeddings))
        .route("/ollama/api/generate", post(generate))
        .route("/ollama/api/generate/{url_idx}", post(generate))
        .route("/ollama/api/chat", post(chat))
        .route("/ollama/api/chat/{url_idx}", post(chat))
        .route("/ollama/v1/completions", post(v1_completions))
        .route("/ollama/v1/completions/{url_idx}", post(v1_completions))
        .route("/ollama/v1/embeddings", post(v1_embeddings))
        .route("/ollama/v1/embeddings/{url_idx}", post(v1_embeddings))
        .route("/ollama/v1/chat/completions", post(v1_chat))
        .route("/ollama/v1/chat/completions/{url_idx}", post(v1_chat))
        .route("/ollama/v1/messages", post(v1_messages))
        .route("/ollama/v1/messages/{url_idx}", post(v1_messages))
        .route("/ollama/v1/responses", post(v1_responses))
        .route("/ollama/v1/responses/{url_idx}", post(v1_responses))
        .route("/ollama/v1/models", get(v1_models))
        .route("/ollama/v1/models/{url_idx}", get(v1_models))
        .route("/ollama/models/download", post(not_supported))
        .route("/ollama/models/download/{url_idx}", post(not_supported))
        .route("/ollama/models/upload", post(not_supported))
        .route("/ollama/models/upload/{url_idx}", post(not_supported))
}

type Idx = Option<Path<usize>>;

fn disabled() -> ApiError {
    ApiError::Unavailable(
        "The Ollama API is disabled. Please enable it to use this feature.".into(),
    )
}

fn prohibited() -> ApiError {
    ApiError::forbidden(
        "You do not have permission to access this resource. Please contact your administrator for assistance.",
    )
}

fn model_not_found(m: &str) -> ApiError {
    ApiError::bad_request(format!("Model '{m}' was not found"))
}

fn enabled_conns(state: &AppState) -> ApiResult<Vec<Conn>> {
    let (on, conns) = llm::ollama_connections(state);
    if on {
        Ok(conns)
    } else {
        Err(disabled())
    }
}

fn conn_at(conns: &[Conn], idx: usize) -> ApiResult<Conn> {
    conns
        .get(idx)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Connection not found"))
}

/// Ollama models of the merged list, by id (`prefix.model:tag`).
async fn ollama_models(state: &AppState, refresh: bool) -> Vec<Value> {
    llm::base_models(state, refresh)
        .await
        .into_iter()
        .filter(|m| m["owned_by"] == "ollama")
        .collect()
}

fn urls_of(m: &Value) -> Vec<usize> {
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

/// The server for a model: the one asked for (which must host it unless the
/// caller is an admin) or one of those hosting it, picked at random.
async fn server_for(
    state: &AppState,
    caller: &Caller,
    model: &str,
    idx: Option<usize>,
) -> ApiResult<Conn> {
    let conns = enabled_conns(state)?;
    if let Some(i) = idx {
        if !caller.is_admin() {
            let hosted = find_model(state, model)
                .await
                .map(|m| urls_of(&m))
                .unwrap_or_default();
            if !hosted.contains(&i) {
                return Err(prohibited());
            }
        }
        return conn_at(&conns, i);
    }
    let m = find_model(state, model)
        .await
        .ok_or_else(|| model_not_found(model))?;
    let urls = urls_of(&m);
    use rand::seq::SliceRandom;
    let i = *urls
        .choose(&mut rand::thread_rng())
        .ok_or_else(|| model_not_found(model))?;
    conn_at(&conns, i)
}

async fn find_model(state: &AppState, model: &str) -> Option<Value> {
    if let Some(m) = ollama_models(state, false)
        .await
        .into_iter()
        .find(|m| m["id"] == model)
    {
        return Some(m);
    }
    ollama_models(state, true)
        .await
        .into_iter()
        .find(|m| m["id"] == model)
}

fn request(conn: &Conn, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let url = format!("{}{}", conn.url, path);
    llm::client()
        .request(method, &url)
        .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url))
}

async fn relay(
    conn: &Conn,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    stream: bool,
) -> Response {
    let mut req = request(conn, method, path);
    if let Some(b) = body {
        req = req.json(b);
    }
    let timeout = (!stream).then_some(Duration::from_secs(300));
    llm::forward(req, &conn.url, stream, timeout)
        .await
        .into_response()
}

fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
    }
}

fn model_field(o: &Map<String, Value>) -> Option<String> {
    o.get("model")
        .or_else(|| o.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn without_nulls(mut o: Map<String, Value>) -> Map<String, Value> {
    o.retain(|_, v| !v.is_null());
    o
}

// ------------------------------------------------------------- settings

async fn status() -> Json<Value> {
    Json(json!({"status": true}))
}

#[derive(Deserialize)]
struct VerifyForm {
    url: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    config: Option<Value>,
}

async fn verify(
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
        .map_err(|e| ApiError::Unavailable(llm::send_error(base, e, Some(timeout)).to_string()))?;
    if !resp.status().is_success() {
        return Err(ApiError::Unavailable(
            llm::status_error(resp).await.to_string(),
        ));
    }
    let v = resp
        .json::<Value>()
        .await
        .map_err(|e| ApiError::Unavailable(format!("Unexpected error: {e}")))?;
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

async fn get_config(State(state): State<AppState>, AdminUser(_c): AdminUser) -> Json<Value> {
    Json(config_json(&state))
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct ConfigForm {
    #[serde(default)]
    ENABLE_OLLAMA_API: Option<bool>,
    OLLAMA_BASE_URLS: Vec<String>,
    OLLAMA_API_CONFIGS: Map<String, Value>,
}

async fn update_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<ConfigForm>,
) -> ApiResult<Json<Value>> {
    let n = form.OLLAMA_BASE_URLS.len();
    let configs: Map<String, Value> = form
        .OLLAMA_API_CONFIGS
        .into_iter()
        .filter(|(k, _)| {
            k.parse::<usize>()
                .is_ok_and(|i| i < n && i.to_string() == *k)
        })
        .collect();
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

// ---------------------------------------------------------------- lists

/// Models with a workspace row the user owns or may read.
async fn readable_ids(state: &AppState, caller: &Caller) -> ApiResult<HashSet<String>> {
    let groups = crate::access::group_ids(state, caller.id()).await?;
    let rows = state.db.read(crate::db::models::all_with_grants).await?;
    Ok(rows
        .into_iter()
        .filter(|(r, g)| {
            r.user_id == caller.id()
                || crate::db::access_grants::grants_allow(g, caller.id(), &groups, "read")
        })
        .map(|(r, _)| r.id)
        .collect())
}

async fn tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
) -> ApiResult<Response> {
    if idx.is_some() && !caller.is_admin() {
        return Err(ApiError::unauthorized(
            "You do not have permission to access this resource. Please contact your administrator for assistance.",
        ));
    }
    let conns = enabled_conns(&state)?;
    let mut models: Vec<Value> = match idx {
        Some(Path(i)) => {
            let conn = conn_at(&conns, i)?;
            let resp = request(&conn, reqwest::Method::GET, "/api/tags")
                .timeout(llm::model_list_timeout())
                .send()
                .await
                .map_err(|e| {
                    ApiError::Unavailable(
                        llm::send_error(&conn.url, e, Some(llm::model_list_timeout())).to_string(),
                    )
                })?;
            if !resp.status().is_success() {
                return Err(ApiError::Unavailable(
                    llm::status_error(resp).await.to_string(),
                ));
            }
            let v: Value = resp
                .json()
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            v.get("models")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        None => ollama_models(&state, false)
            .await
            .into_iter()
            .map(|m| m["ollama"].clone())
            .collect(),
    };
    if caller.user.role == "user" && !llm::bypass_model_access() {
        let ids = readable_ids(&state, &caller).await?;
        models.retain(|m| m["model"].as_str().is_some_and(|id| ids.contains(id)));
    }
    Ok(Json(json!({"models": models})).into_response())
}

async fn ps(State(state): State<AppState>, AdminUser(_c): AdminUser) -> ApiResult<Json<Value>> {
    let (on, conns) = llm::ollama_connections(&state);
    if !on {
        return Ok(Json(json!({"models": []})));
    }
    let fetches = conns.iter().map(|c| async move {
        if c.configured && !c.enabled() {
            return None;
        }
        let resp = request(c, reqwest::Method::GET, "/api/ps")
            .timeout(llm::model_list_timeout())
            .send()
            .await
            .ok()?;
        let v: Value = resp.json().await.ok()?;
        Some(
            v.get("models")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )
    });
    let lists = futures::future::join_all(fetches).await;
    let mut merged: Vec<Value> = Vec::new();
    for (conn, list) in conns.iter().zip(lists) {
        for mut m in list.unwrap_or_default() {
            if let Some(p) = conn.prefix_id() {
                let id = m["model"].as_str().unwrap_or("").to_string();
                m["model"] = json!(format!("{p}.{id}"));
            }
            match merged.iter_mut().find(|x| x["model"] == m["model"]) {
                Some(x) => {
                    if let Some(u) = x["urls"].as_array_mut() {
                        u.push(json!(conn.idx));
                    }
                }
                None => {
                    m["urls"] = json!([conn.idx]);
                    merged.push(m);
                }
            }
        }
    }
    Ok(Json(json!({"models": merged})))
}

/// The lowest version among the servers (or one server's).
async fn version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
) -> ApiResult<Response> {
    if idx.is_some() && !caller.is_admin() {
        return Err(ApiError::unauthorized(
            "You do not have permission to access this resource. Please contact your administrator for assistance.",
        ));
    }
    let (on, conns) = llm::ollama_connections(&state);
    if !on {
        return Ok(Json(json!({"version": false})).into_response());
    }
    if let Some(Path(i)) = idx {
        let conn = conn_at(&conns, i)?;
        return Ok(relay(&conn, reqwest::Method::GET, "/api/version", None, false).await);
    }
    let fetches = conns.iter().filter(|c| c.enabled()).map(|c| async move {
        let resp = request(c, reqwest::Method::GET, "/api/version")
            .timeout(llm::model_list_timeout())
            .send()
            .await
            .ok()?;
        let v: Value = resp.json().await.ok()?;
        v.get("version").and_then(Value::as_str).map(str::to_string)
    });
    let versions: Vec<String> = futures::future::join_all(fetches)
        .await
        .into_iter()
        .flatten()
        .collect();
    let key = |v: &String| -> Vec<u64> {
        let core = v.trim_start_matches('v').split('-').next().unwrap_or("");
        core.split('.').map(|p| p.parse().unwrap_or(0)).collect()
    };
    match versions.iter().min_by_key(|v| key(v)) {
        Some(v) => Ok(Json(json!({"version": v})).into_response()),
        None => Err(ApiError::Unavailable(
            "WebUI could not connect to Ollama".into(),
        )),
    }
}

// -------------------------------------------------------------- admin ops

async fn unload(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let o = object(body)?;
    let model = model_field(&o)
        .ok_or_else(|| ApiError::bad_request("Missing name of the model to unload."))?;
    let conns = enabled_conns(&state)?;
    let m = find_model(&state, &model)
        .await
        .ok_or_else(|| model_not_found(&model))?;
    let mut errors = Vec::new();
    for i in urls_of(&m) {
        let Ok(conn) = conn_at(&conns, i) else {
            continue;
        };
        let body = json!({"model": conn.strip_prefix(&model), "keep_alive": 0, "prompt": ""});
        let r = request(&conn, reqwest::Method::POST, "/api/generate")
            .timeout(Duration::from_secs(30))
            .json(&body)
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => errors.push(format!("server {i}: {}", llm::status_error(resp).await)),
            Err(e) => errors.push(format!(
                "server {i}: {}",
                llm::send_error(&conn.url, e, None)
            )),
        }
    }
    llm::invalidate(&state);
    if !errors.is_empty() {
        return Err(ApiError::Unavailable(format!(
            "Failed to unload model on {} server(s): {}",
            errors.len(),
            errors.join("; ")
        )));
    }
    Ok(Json(json!({"status": true})))
}

async fn pull(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let conns = enabled_conns(&state)?;
    let conn = conn_at(&conns, idx.map(|Path(i)| i).unwrap_or(0))?;
    let mut o = without_nulls(object(body)?);
    if let Some(m) = model_field(&o) {
        o.insert("model".into(), json!(m));
    }
    // Admins may pull from any registry.
    o.insert("insecure".into(), json!(true));
    let r = relay(
        &conn,
        reqwest::Method::POST,
        "/api/pull",
        Some(&Value::Object(o)),
        true,
    )
    .await;
    llm::invalidate(&state);
    Ok(r)
}

/// Resolves the server for admin operations on an existing model.
async fn admin_server(state: &AppState, model: &str, idx: Idx) -> ApiResult<Conn> {
    let conns = enabled_conns(state)?;
    let i = match idx {
        Some(Path(i)) => i,
        None => {
            let m = find_model(state, model)
                .await
                .ok_or_else(|| model_not_found(model))?;
            *urls_of(&m).first().ok_or_else(|| model_not_found(model))?
        }
    };
    conn_at(&conns, i)
}

async fn push(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let o = without_nulls(object(body)?);
    let model =
        model_field(&o).ok_or_else(|| ApiError::bad_request("The request needs a model."))?;
    let conn = admin_server(&state, &model, idx).await?;
    Ok(relay(
        &conn,
        reqwest::Method::POST,
        "/api/push",
        Some(&Value::Object(o)),
        true,
    )
    .await)
}

async fn create(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let conns = enabled_conns(&state)?;
    let conn = conn_at(&conns, idx.map(|Path(i)| i).unwrap_or(0))?;
    let o = without_nulls(object(body)?);
    let r = relay(
        &conn,
        reqwest::Method::POST,
        "/api/create",
        Some(&Value::Object(o)),
        true,
    )
    .await;
    llm::invalidate(&state);
    Ok(r)
}

#[derive(Deserialize)]
struct CopyForm {
    source: String,
    destination: String,
}

async fn copy(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    idx: Idx,
    JsonBody(form): JsonBody<CopyForm>,
) -> ApiResult<Json<bool>> {
    let conn = admin_server(&state, &form.source, idx).await?;
    let body = json!({"source": form.source, "destination": form.destination});
    let resp = request(&conn, reqwest::Method::POST, "/api/copy")
        .json(&body)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(llm::send_error(&conn.url, e, None).to_string()))?;
    if !resp.status().is_success() {
        return Err(llm::status_error(resp).await.into());
    }
    llm::invalidate(&state);
    Ok(Json(true))
}

async fn delete_model(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<bool>> {
    let mut o = without_nulls(object(body)?);
    let model =
        model_field(&o).ok_or_else(|| ApiError::bad_request("The request needs a model."))?;
    o.insert("model".into(), json!(model));
    let conn = admin_server(&state, &model, idx).await?;
    let resp = request(&conn, reqwest::Method::DELETE, "/api/delete")
        .json(&Value::Object(o))
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(llm::send_error(&conn.url, e, None).to_string()))?;
    if !resp.status().is_success() {
        return Err(llm::status_error(resp).await.into());
    }
    llm::invalidate(&state);
    Ok(Json(true))
}

async fn not_supported(AdminUser(_c): AdminUser) -> ApiError {
    ApiError::NotImplemented(
        "Uploading or downloading model files through Open WebUI is not supported by this server; \
         pull the model on the Ollama server instead."
            .into(),
    )
}

// ---------------------------------------------------------- model calls

/// Checks access to the requested model, then prepares the request for the
/// server hosting the model (or its base model, for presets): preset params
/// and system prompt applied when `apply_preset`, the prefix stripped.
async fn prepare(
    state: &AppState,
    caller: &Caller,
    mut o: Map<String, Value>,
    idx: Idx,
    apply_preset: Option<bool>,
) -> ApiResult<(Conn, Map<String, Value>)> {
    let requested =
        model_field(&o).ok_or_else(|| ApiError::bad_request("The request needs a model."))?;
    let lookup = requested.clone();
    let row = state
        .db
        .read(move |c| crate::db::models::get(c, &lookup))
        .await?;
    let mut model = requested.clone();
    if let Some(row) = &row {
        if let Some(base) = &row.base_model_id {
            model = base.clone();
        }
        if let Some(ollama) = apply_preset {
            let mut body = Value::Object(o);
            if let Some(system) = row
                .params
                .get("system")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                if let Some(msgs) = body.get_mut("messages").and_then(Value::as_array_mut) {
                    llm::apply_system_prompt(system, msgs);
                }
            }
            llm::apply_model_params(&row.params, &mut body, ollama);
            o = match body {
                Value::Object(o) => o,
                _ => Map::new(),
            };
        }
    }
    llm::check_access(state, caller, &json!({"id": requested})).await?;
    let conn = server_for(state, caller, &model, idx.map(|Path(i)| i)).await?;
    o.insert("model".into(), json!(conn.strip_prefix(&model)));
    Ok((conn, o))
}

fn wants_stream(o: &Map<String, Value>, default: bool) -> bool {
    o.get("stream").and_then(Value::as_bool).unwrap_or(default)
}

async fn chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    enabled_conns(&state)?;
    let mut o = object(body)?;
    o.remove("metadata");
    if !o.get("messages").is_some_and(Value::is_array) {
        return Err(ApiError::bad_request(
            "The request needs a list of messages.",
        ));
    }
    let (conn, o) = prepare(&state, &caller, without_nulls(o), idx, Some(true)).await?;
    let stream = wants_stream(&o, true);
    let mut resp = relay(
        &conn,
        reqwest::Method::POST,
        "/api/chat",
        Some(&Value::Object(o)),
        stream,
    )
    .await;
    if stream && resp.status() == StatusCode::OK {
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/x-ndjson"),
        );
    }
    Ok(resp)
}

async fn generate(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    enabled_conns(&state)?;
    let mut o = without_nulls(object(body)?);
    o.remove("metadata");
    // Upstream sends generate requests to the model itself, not a preset's base.
    let requested =
        model_field(&o).ok_or_else(|| ApiError::bad_request("The request needs a model."))?;
    llm::check_access(&state, &caller, &json!({"id": requested})).await?;
    let conn = server_for(&state, &caller, &requested, idx.map(|Path(i)| i)).await?;
    o.insert("model".into(), json!(conn.strip_prefix(&requested)));
    let stream = wants_stream(&o, true);
    Ok(relay(
        &conn,
        reqwest::Method::POST,
        "/api/generate",
        Some(&Value::Object(o)),
        stream,
    )
    .await)
}

async fn simple(
    state: &AppState,
    caller: &Caller,
    body: Value,
    idx: Idx,
    path: &str,
    preset: Option<bool>,
    stream_default: bool,
) -> ApiResult<Response> {
    enabled_conns(state)?;
    let mut o = object(body)?;
    o.remove("metadata");
    let (conn, o) = prepare(state, caller, without_nulls(o), idx, preset).await?;
    let stream = wants_stream(&o, stream_default);
    Ok(relay(
        &conn,
        reqwest::Method::POST,
        path,
        Some(&Value::Object(o)),
        stream,
    )
    .await)
}

async fn show(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let mut o = object(body)?;
    let model =
        model_field(&o).ok_or_else(|| ApiError::bad_request("The request needs a model."))?;
    o.insert("model".into(), json!(model));
    simple(
        &state,
        &caller,
        Value::Object(o),
        None,
        "/api/show",
        None,
        false,
    )
    .await
}

async fn embed(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    simple(&state, &caller, body, idx, "/api/embed", None, false).await
}

async fn embeddings(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    simple(&state, &caller, body, idx, "/api/embeddings", None, false).await
}

async fn v1_completions(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    simple(
        &state,
        &caller,
        body,
        idx,
        "/v1/completions",
        Some(false),
        false,
    )
    .await
}

async fn v1_embeddings(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    simple(&state, &caller, body, idx, "/v1/embeddings", None, false).await
}

async fn v1_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    simple(
        &state,
        &caller,
        body,
        idx,
        "/v1/chat/completions",
        Some(false),
        false,
    )
    .await
}

async fn v1_messages(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    simple(&state, &caller, body, idx, "/v1/messages", None, false).await
}

async fn v1_responses(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    simple(&state, &caller, body, idx, "/v1/responses", None, false).await
}

/// The OpenAI-style model list of the Ollama servers.
async fn v1_models(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
) -> ApiResult<Response> {
    if idx.is_some() && !caller.is_admin() {
        return Err(ApiError::unauthorized(
            "You do not have permission to access this resource. Please contact your administrator for assistance.",
        ));
    }
    let conns = enabled_conns(&state)?;
    if let Some(Path(i)) = idx {
        let conn = conn_at(&conns, i)?;
        return Ok(relay(&conn, reqwest::Method::GET, "/v1/models", None, false).await);
    }
    let mut models = ollama_models(&state, false).await;
    if caller.user.role == "user" && !llm::bypass_model_access() {
        let ids = readable_ids(&state, &caller).await?;
        models.retain(|m| m["id"].as_str().is_some_and(|id| ids.contains(id)));
    }
    let data: Vec<Value> = models
        .iter()
        .map(|m| {
            let modified = m["ollama"]["modified_at"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.timestamp())
                .unwrap_or(0);
            json!({"id": m["id"], "object": "model", "created": modified, "owned_by": "openai"})
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}
