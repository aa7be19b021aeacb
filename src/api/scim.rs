//! `/api/v1/scim/v2`: SCIM 2.0 for identity providers (src/scim/). Mounted
//! only with `ENABLE_SCIM`; every route wants `Authorization: Bearer
//! <SCIM_TOKEN>`. Bodies are read as JSON whatever their content type
//! (providers send `application/scim+json`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::scim::{self, ScimError, ScimResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/scim/v2/ServiceProviderConfig",
            get(provider_config),
        )
        .route("/api/v1/scim/v2/ResourceTypes", get(resource_types))
        .route("/api/v1/scim/v2/Schemas", get(schemas))
        .route("/api/v1/scim/v2/Users", get(list_users).post(create_user))
        .route(
            "/api/v1/scim/v2/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route(
            "/api/v1/scim/v2/Groups",
            get(list_groups).post(create_group),
        )
        .route(
            "/api/v1/scim/v2/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
}

fn reply(result: ScimResult<Value>, ok: StatusCode) -> Response {
    match result {
        Ok(v) => (ok, Json(v)).into_response(),
        Err(e) => error(e),
    }
}

fn error(e: ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, Json(e.body())).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
    }
    resp
}

fn authorized(state: &AppState, headers: &HeaderMap) -> ScimResult<()> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    scim::authorize(&state.settings.scim, auth)
}

/// The server's URL as the client reached it, ending in `/`.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}/")
}

/// `startIndex`, `count` and `filter` of a list request.
fn list_params(
    q: &HashMap<String, String>,
) -> ScimResult<(Option<i64>, Option<i64>, Option<String>)> {
    let int = |k: &str| -> ScimResult<Option<i64>> {
        match q.get(k) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                ScimError::typed(400, format!("{k} must be an integer."), "invalidValue")
            }),
        }
    };
    Ok((int("startIndex")?, int("count")?, q.get("filter").cloned()))
}

async fn provider_config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let r = authorized(&state, &headers).map(|_| scim::service_provider_config());
    reply(r, StatusCode::OK)
}

async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let r = authorized(&state, &headers).map(|_| scim::resource_types(&base_url(&headers)));
    reply(r, StatusCode::OK)
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let r = authorized(&state, &headers).map(|_| scim::schemas());
    reply(r, StatusCode::OK)
}

async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        let (start, count, filter) = list_params(&q)?;
        scim::users::list(&state, &base_url(&headers), start, count, filter.as_deref()).await
    };
    reply(r.await, StatusCode::OK)
}

async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::users::get(&state, &base_url(&headers), &id).await
    };
    reply(r.await, StatusCode::OK)
}

async fn create_user(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::users::create(&state, &base_url(&headers), &body).await
    };
    reply(r.await, StatusCode::CREATED)
}

async fn replace_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::users::replace(&state, &base_url(&headers), &id, &body).await
    };
    reply(r.await, StatusCode::OK)
}

async fn patch_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::users::patch(&state, &base_url(&headers), &id, &body).await
    };
    reply(r.await, StatusCode::OK)
}

async fn delete_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::users::delete(&state, &id).await
    };
    match r.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

async fn list_groups(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        let (start, count, filter) = list_params(&q)?;
        scim::groups::list(&state, &base_url(&headers), start, count, filter.as_deref()).await
    };
    reply(r.await, StatusCode::OK)
}

async fn get_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::groups::get(&state, &base_url(&headers), &id).await
    };
    reply(r.await, StatusCode::OK)
}

async fn create_group(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::groups::create(&state, &base_url(&headers), &body).await
    };
    reply(r.await, StatusCode::CREATED)
}

async fn replace_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::groups::replace(&state, &base_url(&headers), &id, &body).await
    };
    reply(r.await, StatusCode::OK)
}

async fn patch_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::groups::patch(&state, &base_url(&headers), &id, &body).await
    };
    reply(r.await, StatusCode::OK)
}

async fn delete_group(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        authorized(&state, &headers)?;
        scim::groups::delete(&state, &id).await
    };
    match r.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}
