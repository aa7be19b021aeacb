//! `/api/v1/channels/{id}/apps`: the apps in a channel; a channel manager
//! invites one or takes it out (`crate::apps::channel`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::api::extract::VerifiedUser;
use crate::apps::{channel, manifest};
use crate::error::ApiResult;
use crate::state::AppState;

pub(super) async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(channel::list(&state, &caller, &id).await?))
}

pub(super) async fn invite(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let form: manifest::Invitation = manifest::parse(body)?;
    Ok(Json(
        channel::invite(&state, &caller, &id, &form.app_id).await?,
    ))
}

pub(super) async fn remove(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, app_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(channel::remove(&state, &caller, &id, &app_id).await?))
}
