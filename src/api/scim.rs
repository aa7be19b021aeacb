//! `/api/v1/scim/v2`: SCIM 2.0 for identity providers (src/scim/). Mounted
//! only with `ENABLE_SCIM`; every route wants `Authorization: Bearer
//! <SCIM_TOKEN>`. Bodies are read as JSON whatever their content type
//! (providers send `application/scim+json`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
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

fn no_content(result: ScimResult<()>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

/// A request that carried the SCIM token; `base` is the server's URL as
/// the client reached it. Rejects with the SCIM error body (and
/// `WWW-Authenticate`) before any other part of the request is read.
struct Scim {
    base: String,
}

impl FromRequestParts<AppState> for Scim {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let auth = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        scim::authorize(&state.settings.scim, auth).map_err(error)?;
        Ok(Scim {
            base: base_url(&parts.headers),
        })
    }
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

async fn provider_config(_: Scim) -> Response {
    reply(Ok(scim::service_provider_config()), StatusCode::OK)
}

async fn resource_types(scim: Scim) -> Response {
    reply(Ok(scim::resource_types(&scim.base)), StatusCode::OK)
}

async fn schemas(_: Scim) -> Response {
    reply(Ok(scim::schemas()), StatusCode::OK)
}

async fn list_users(
    State(state): State<AppState>,
    scim: Scim,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = match list_params(&q) {
        Ok((start, count, filter)) => {
            scim::users::list(&state, &scim.base, start, count, filter.as_deref()).await
        }
        Err(e) => Err(e),
    };
    reply(r, StatusCode::OK)
}

async fn get_user(State(state): State<AppState>, scim: Scim, Path(id): Path<String>) -> Response {
    reply(
        scim::users::get(&state, &scim.base, &id).await,
        StatusCode::OK,
    )
}

async fn create_user(State(state): State<AppState>, scim: Scim, body: Bytes) -> Response {
    let r = scim::users::create(&state, &scim.base, &body).await;
    reply(r, StatusCode::CREATED)
}

async fn replace_user(
    State(state): State<AppState>,
    scim: Scim,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = scim::users::replace(&state, &scim.base, &id, &body).await;
    reply(r, StatusCode::OK)
}

async fn patch_user(
    State(state): State<AppState>,
    scim: Scim,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = scim::users::patch(&state, &scim.base, &id, &body).await;
    reply(r, StatusCode::OK)
}

async fn delete_user(State(state): State<AppState>, _: Scim, Path(id): Path<String>) -> Response {
    no_content(scim::users::delete(&state, &id).await)
}

async fn list_groups(
    State(state): State<AppState>,
    scim: Scim,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = match list_params(&q) {
        Ok((start, count, filter)) => {
            scim::groups::list(&state, &scim.base, start, count, filter.as_deref()).await
        }
        Err(e) => Err(e),
    };
    reply(r, StatusCode::OK)
}

async fn get_group(State(state): State<AppState>, scim: Scim, Path(id): Path<String>) -> Response {
    reply(
        scim::groups::get(&state, &scim.base, &id).await,
        StatusCode::OK,
    )
}

async fn create_group(State(state): State<AppState>, scim: Scim, body: Bytes) -> Response {
    let r = scim::groups::create(&state, &scim.base, &body).await;
    reply(r, StatusCode::CREATED)
}

async fn replace_group(
    State(state): State<AppState>,
    scim: Scim,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = scim::groups::replace(&state, &scim.base, &id, &body).await;
    reply(r, StatusCode::OK)
}

async fn patch_group(
    State(state): State<AppState>,
    scim: Scim,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = scim::groups::patch(&state, &scim.base, &id, &body).await;
    reply(r, StatusCode::OK)
}

async fn delete_group(State(state): State<AppState>, _: Scim, Path(id): Path<String>) -> Response {
    no_content(scim::groups::delete(&state, &id).await)
}
