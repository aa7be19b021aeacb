//! Calls to a model: chat, generate, show, embeddings, and the
//! OpenAI-compatible `/v1` routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::common::{
    conn_at, enabled_conns, model_field, object, ollama_models, readable_ids, relay, server_for,
    without_nulls, Idx,
};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::llm::{self, Conn};
use crate::state::AppState;

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

pub(super) async fn chat(
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

pub(super) async fn generate(
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

pub(super) async fn show(
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

/// The handler of a POST route relayed to `path` on the server hosting the
/// model once the caller may use it; `preset` as in [`prepare`]. Answers are
/// not streamed unless the body asks for it.
pub(super) fn relayed(
    path: &'static str,
    preset: Option<bool>,
) -> impl Fn(
    State<AppState>,
    VerifiedUser,
    Idx,
    JsonBody<Value>,
) -> BoxFuture<'static, ApiResult<Response>>
       + Clone
       + Send
       + Sync
       + 'static {
    move |State(state), VerifiedUser(caller), idx, JsonBody(body)| {
        Box::pin(async move { simple(&state, &caller, body, idx, path, preset, false).await })
    }
}

/// The OpenAI-style model list of the Ollama servers.
pub(super) async fn v1_models(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
) -> ApiResult<Response> {
    super::common::server_choice(&caller, &idx)?;
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
