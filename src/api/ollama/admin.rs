//! Admin operations on an Ollama server: unload, pull, push, create, copy,
//! delete, and model files uploaded or downloaded (`llm::ollama_files`).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{
    conn_at, enabled_conns, find_model, model_field, model_not_found, object, relay, request,
    without_nulls, Idx,
};
use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::llm::{self, ollama_files, Conn};
use crate::state::AppState;

pub(super) async fn unload(
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
    for i in crate::llm::ollama_url_indexes(&m) {
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

pub(super) async fn pull(
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
            *crate::llm::ollama_url_indexes(&m)
                .first()
                .ok_or_else(|| model_not_found(model))?
        }
    };
    conn_at(&conns, i)
}

pub(super) async fn push(
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

pub(super) async fn create(
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
pub(super) struct CopyForm {
    source: String,
    destination: String,
}

pub(super) async fn copy(
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

pub(super) async fn delete_model(
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

/// Model files as server-sent events (`data: {...}`), as the admin page reads them.
fn event_stream(events: impl futures::Stream<Item = Value> + Send + 'static) -> Response {
    use futures::StreamExt;
    let body = events.map(|ev| Ok::<_, std::convert::Infallible>(format!("data: {ev}\n\n")));
    Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "text/event-stream")
        .header(axum::http::header::CACHE_CONTROL, "no-cache")
        .body(axum::body::Body::from_stream(body))
        .expect("static headers")
}

/// An uploaded model file (`file`), pushed to the server and made a model.
pub(super) async fn upload_model(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    idx: Idx,
    mut form: axum::extract::Multipart,
) -> ApiResult<Response> {
    let conns = enabled_conns(&state)?;
    let conn = conn_at(&conns, idx.map(|Path(i)| i).unwrap_or(0))?;
    let dir = ollama_files::staging_dir(&state.settings.data_dir);
    let unreadable = |_| ApiError::bad_request("The upload could not be read.");
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = ollama_files::file_name(field.file_name().unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let mut writer = ollama_files::Writer::create(&dir, &name)
            .await
            .map_err(ApiError::internal)?;
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            writer.write(&chunk).await.map_err(ApiError::bad_request)?;
        }
        let staged = writer.finish().await.map_err(ApiError::bad_request)?;
        return Ok(event_stream(ollama_files::push(state, conn, staged)));
    }
    Err(crate::api::form::validation("file", "Field required"))
}

#[derive(Deserialize)]
pub(super) struct UrlForm {
    url: String,
}

/// A model file from Hugging Face or GitHub, downloaded, pushed and made a model.
pub(super) async fn download_model(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    idx: Idx,
    JsonBody(form): JsonBody<UrlForm>,
) -> ApiResult<Response> {
    let name = ollama_files::download_source(form.url.trim()).map_err(ApiError::bad_request)?;
    let conns = enabled_conns(&state)?;
    let conn = conn_at(&conns, idx.map(|Path(i)| i).unwrap_or(0))?;
    let dir = ollama_files::staging_dir(&state.settings.data_dir);
    let events = ollama_files::download(state, conn, form.url.trim().to_string(), name, dir);
    Ok(event_stream(events))
}
