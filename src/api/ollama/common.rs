//! What the sections of the Ollama router share: refusals, the enabled
//! connections, which server hosts a model, relaying a request to it, reading
//! the JSON body, the models a user may read.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::messages::ACCESS_PROHIBITED;
use crate::error::{ApiError, ApiResult};
use crate::llm::{self, Conn};
use crate::state::AppState;

pub(super) type Idx = Option<Path<usize>>;

fn disabled() -> ApiError {
    ApiError::Unavailable(
        "The Ollama API is disabled. Please enable it to use this feature.".into(),
    )
}

fn prohibited() -> ApiError {
    ApiError::forbidden(ACCESS_PROHIBITED)
}

/// Asking one provider server by its index is for admins (401 otherwise);
/// everyone may ask all of them at once.
pub(crate) fn server_choice(caller: &Caller, idx: &Option<Path<usize>>) -> ApiResult<()> {
    if idx.is_some() && !caller.is_admin() {
        return Err(ApiError::unauthorized(ACCESS_PROHIBITED));
    }
    Ok(())
}

pub(super) fn model_not_found(m: &str) -> ApiError {
    ApiError::bad_request(format!("Model '{m}' was not found"))
}

pub(super) fn enabled_conns(state: &AppState) -> ApiResult<Vec<Conn>> {
    let (on, conns) = llm::ollama_connections(state);
    if on {
        Ok(conns)
    } else {
        Err(disabled())
    }
}

pub(super) fn conn_at(conns: &[Conn], idx: usize) -> ApiResult<Conn> {
    conns
        .get(idx)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Connection not found"))
}

/// Ollama models of the merged list, by id (`prefix.model:tag`).
pub(super) async fn ollama_models(state: &AppState, refresh: bool) -> Vec<Value> {
    llm::base_models(state, refresh)
        .await
        .into_iter()
        .filter(|m| m["owned_by"] == "ollama")
        .collect()
}

/// The server for a model: the one asked for (which must host it unless the
/// caller is an admin) or one of those hosting it, picked at random.
pub(super) async fn server_for(
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
                .map(|m| crate::llm::ollama_url_indexes(&m))
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
    let urls = crate::llm::ollama_url_indexes(&m);
    use rand::seq::SliceRandom;
    let i = *urls
        .choose(&mut rand::thread_rng())
        .ok_or_else(|| model_not_found(model))?;
    conn_at(&conns, i)
}

pub(super) async fn find_model(state: &AppState, model: &str) -> Option<Value> {
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

pub(super) fn request(conn: &Conn, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let url = format!("{}{}", conn.url, path);
    llm::client()
        .request(method, &url)
        .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url))
}

pub(super) async fn relay(
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

pub(super) fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
    }
}

pub(super) fn model_field(o: &Map<String, Value>) -> Option<String> {
    o.get("model")
        .or_else(|| o.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub(super) fn without_nulls(mut o: Map<String, Value>) -> Map<String, Value> {
    o.retain(|_, v| !v.is_null());
    o
}

/// Models with a workspace row the user owns or may read.
pub(super) async fn readable_ids(state: &AppState, caller: &Caller) -> ApiResult<HashSet<String>> {
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
