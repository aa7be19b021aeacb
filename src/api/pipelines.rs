//! `/api/v1/pipelines/*`: the admin's Pipelines settings page, relayed to
//! the pipelines server at the OpenAI connection `urlIdx`
//! (`crate::pipelines::admin`). Every route is for admins only.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::form::{query_error, query_opt_int, validation};
use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::pipelines::{self, admin};
use crate::state::AppState;

/// The largest pipeline file an upload may carry.
const MAX_PIPELINE_FILE: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/pipelines/list", get(servers))
        .route("/api/v1/pipelines/upload", post(upload))
        .route("/api/v1/pipelines/add", post(add))
        .route("/api/v1/pipelines/delete", delete(remove))
        .route("/api/v1/pipelines/", get(list))
        .route("/api/v1/pipelines/{pipeline_id}/valves", get(valves))
        .route(
            "/api/v1/pipelines/{pipeline_id}/valves/spec",
            get(valves_spec),
        )
        .route(
            "/api/v1/pipelines/{pipeline_id}/valves/update",
            post(update_valves),
        )
}

/// `urlIdx` of a JSON body: an integer, or a string holding one (the
/// settings page sends the index as text).
fn body_idx(body: &Value) -> ApiResult<i64> {
    match body.get("urlIdx") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| validation("urlIdx", "Input should be a valid integer")),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| {
            validation(
                "urlIdx",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        }),
        None | Some(Value::Null) => Err(validation("urlIdx", "Field required")),
        Some(_) => Err(validation("urlIdx", "Input should be a valid integer")),
    }
}

fn body_str<'a>(body: &'a Value, field: &str) -> ApiResult<&'a str> {
    super::form::req_str(body, field)
}

/// `urlIdx` of the query, which the valves routes require.
fn required_idx(q: &HashMap<String, String>) -> ApiResult<i64> {
    query_opt_int(q, "urlIdx")?.ok_or_else(|| query_error("urlIdx", "Field required", "missing"))
}

async fn servers(AdminUser(_): AdminUser, State(state): State<AppState>) -> Json<Value> {
    Json(admin::servers(&state).await)
}

async fn list(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let server = pipelines::server(&state, query_opt_int(&q, "urlIdx")?)?;
    Ok(Json(admin::list(&server).await?))
}

async fn add(
    AdminUser(caller): AdminUser,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let source = body_str(&body, "url")?;
    let server = pipelines::server(&state, Some(body_idx(&body)?))?;
    Ok(Json(admin::add(&state, &caller, &server, source).await?))
}

async fn remove(
    AdminUser(caller): AdminUser,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = body_str(&body, "id")?;
    let server = pipelines::server(&state, Some(body_idx(&body)?))?;
    Ok(Json(admin::delete(&state, &caller, &server, id).await?))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("The upload is too large.".into())
    } else {
        ApiError::bad_request("The upload could not be read as a multipart form.")
    }
}

/// The form's `urlIdx` text and its `file` (name and bytes).
async fn read_upload(mut mp: Multipart) -> ApiResult<(Option<String>, Option<(String, Vec<u8>)>)> {
    let (mut idx, mut file) = (None, None);
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if name != "urlIdx" && name != "file" {
            continue;
        }
        let file_name = field.file_name().unwrap_or("").to_string();
        let mut data = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if data.len() + chunk.len() > MAX_PIPELINE_FILE {
                return Err(ApiError::PayloadTooLarge(
                    "A pipeline file may be at most 4 MiB.".into(),
                ));
            }
            data.extend_from_slice(&chunk);
        }
        if name == "file" {
            file = Some((file_name, data));
        } else {
            idx = Some(String::from_utf8_lossy(&data).into_owned());
        }
    }
    Ok((idx, file))
}

async fn upload(
    AdminUser(caller): AdminUser,
    State(state): State<AppState>,
    mp: Multipart,
) -> ApiResult<Json<Value>> {
    let (idx, file) = read_upload(mp).await?;
    let form_error = |field: &str, msg: &str| {
        ApiError::Validation(json!([{"loc": ["body", field], "msg": msg, "type": "missing"}]))
    };
    let idx = idx.ok_or_else(|| form_error("urlIdx", "Field required"))?;
    let (name, content) = file.ok_or_else(|| form_error("file", "Field required"))?;
    let idx: i64 = idx.trim().parse().map_err(|_| {
        validation(
            "urlIdx",
            "Input should be a valid integer, unable to parse string as an integer",
        )
    })?;
    let name = admin::python_file_name(&name)?;
    let server = pipelines::server(&state, Some(idx))?;
    Ok(Json(
        admin::upload(&state, &caller, &server, &name, content).await?,
    ))
}

async fn valves(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    Path(pipeline_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    valves_of(&state, &pipeline_id, &q, false).await
}

async fn valves_spec(
    AdminUser(_): AdminUser,
    State(state): State<AppState>,
    Path(pipeline_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    valves_of(&state, &pipeline_id, &q, true).await
}

/// A pipeline's valve values, or (`spec`) their schema.
async fn valves_of(
    state: &AppState,
    pipeline_id: &str,
    q: &HashMap<String, String>,
    spec: bool,
) -> ApiResult<Json<Value>> {
    let server = pipelines::server(state, Some(required_idx(q)?))?;
    Ok(Json(admin::valves(&server, pipeline_id, spec).await?))
}

async fn update_valves(
    AdminUser(caller): AdminUser,
    State(state): State<AppState>,
    Path(pipeline_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(values): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let idx = required_idx(&q)?;
    if !values.is_object() {
        return Err(ApiError::Validation(json!([{"loc": ["body"],
            "msg": "Input should be a valid dictionary", "type": "dict_type"}])));
    }
    let server = pipelines::server(&state, Some(idx))?;
    let answer = admin::update_valves(&state, &caller, &server, &pipeline_id, &values).await?;
    Ok(Json(answer))
}
