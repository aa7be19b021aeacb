//! `/api/v1/users` (the parts the page load needs: settings and profile images).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::Value;

use crate::auth::{AdminUser, VerifiedUser};
use crate::db::{self, now_secs};
use crate::error::{ApiError, ApiResult, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/", get(list_users))
        .route("/api/v1/users/user/settings", get(get_settings))
        .route("/api/v1/users/user/settings/update", post(update_settings))
        .route("/api/v1/users/user/info", get(get_info))
        .route("/api/v1/users/{user_id}/profile/image", get(profile_image))
}

async fn get_settings(VerifiedUser(caller): VerifiedUser) -> Json<Value> {
    Json(caller.user.settings.unwrap_or(Value::Null))
}

/// Stores the whole settings object, as upstream does, and echoes it.
async fn update_settings(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(settings): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !settings.is_object() {
        return Err(ApiError::bad_request("Settings must be a JSON object."));
    }
    let (id, s, now) = (caller.user.id.clone(), settings.clone(), now_secs());
    state
        .db
        .write(move |tx| db::users::update_settings(tx, &id, &s, now))
        .await?;
    Ok(Json(settings))
}

async fn get_info(VerifiedUser(caller): VerifiedUser) -> Json<Value> {
    Json(caller.user.info.unwrap_or(Value::Null))
}

fn default_image() -> Response {
    match crate::web::asset_bytes("static/user.png") {
        Some(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A data URL is decoded and served, an http(s) URL redirected to, anything else
/// (`/user.png`, empty) is the default avatar.
async fn profile_image(
    State(state): State<AppState>,
    VerifiedUser(_caller): VerifiedUser,
    Path(user_id): Path<String>,
) -> ApiResult<Response> {
    let url = state
        .db
        .read(move |c| db::users::profile_image_url(c, &user_id))
        .await?
        .ok_or_else(ApiError::not_found_default)?
        .unwrap_or_default();
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Redirect::temporary(&url).into_response());
    }
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            let mime = meta.split(';').next().unwrap_or("image/png").to_string();
            if mime.starts_with("image/") && meta.ends_with(";base64") {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) {
                    return Ok(Response::builder()
                        .header(header::CONTENT_TYPE, mime)
                        .header(header::CACHE_CONTROL, "private, max-age=60")
                        .body(Body::from(bytes))
                        .expect("valid response"));
                }
            }
        }
    }
    Ok(default_image())
}

/// Upstream's page size for the admin user list.
const USERS_PAGE: i64 = 30;

#[derive(serde::Deserialize)]
struct ListQuery {
    query: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
    page: Option<i64>,
}

async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let page = q.page.unwrap_or(1).max(1);
    let descending = q.direction.as_deref() != Some("asc");
    let (users, total, groups) = state
        .db
        .read(move |c| {
            let (users, total) = db::users::list(
                c,
                q.query.as_deref(),
                q.order_by.as_deref(),
                descending,
                USERS_PAGE,
                (page - 1) * USERS_PAGE,
            )?;
            let mut groups = Vec::with_capacity(users.len());
            for u in &users {
                groups.push(db::groups::ids_of_member(c, &u.id)?);
            }
            Ok((users, total, groups))
        })
        .await?;
    let users: Vec<Value> = users
        .iter()
        .zip(groups)
        .map(|(u, g)| {
            let mut v = crate::api::auths::user_json(u);
            v["group_ids"] = serde_json::json!(g);
            v
        })
        .collect();
    Ok(Json(serde_json::json!({"users": users, "total": total})))
}
