//! `/api/v1/apps`: the admin's registry of external apps (manifest preview,
//! create, read, update, connect, uninstall), the list users see, and a
//! user's press on an app message's button. The work is in `crate::apps`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::api::extract::{AdminUser, VerifiedUser};
use crate::apps::{self, manifest};
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/apps", get(list).post(create))
        .route("/api/v1/apps/manifest/preview", post(preview))
        .route(
            "/api/v1/apps/{app_id}",
            get(details).patch(update).delete(uninstall),
        )
        .route("/api/v1/apps/{app_id}/connect", post(connect))
        .route("/api/v1/apps/{app_id}/interactions", post(interaction))
}

async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(apps::list(&state, &caller).await?))
}

async fn preview(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(apps::preview(&state, manifest::parse(body)?).await?))
}

async fn create(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        apps::create(&state, &caller, manifest::parse(body)?).await?,
    ))
}

async fn details(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(apps::details(&state, &app_id).await?))
}

async fn update(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(app_id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        apps::update(&state, &app_id, manifest::parse(body)?).await?,
    ))
}

async fn connect(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(app_id): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Value>> {
    let body = body
        .map(|Json(b)| b)
        .unwrap_or_else(|| serde_json::json!({}));
    Ok(Json(
        apps::connect(&state, &app_id, manifest::parse(body)?).await?,
    ))
}

async fn uninstall(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(apps::uninstall(&state, &app_id).await?))
}

async fn interaction(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(app_id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let form: manifest::InteractionForm = manifest::parse(body)?;
    Ok(Json(
        apps::ops::interaction(&state, &caller, &app_id, &form.message_id, &form.action_id).await?,
    ))
}
