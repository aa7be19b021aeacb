//! A workspace model's version history: listing, reading, deleting entries
//! and going back to a version.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::common::{load, load_wire, IdQuery};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::auth::Caller;
use crate::db::models::{self as rows, ModelRow};
use crate::db::now_secs;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

/// History is for those who may edit the model.
async fn editable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ModelRow> {
    let Some((m, g)) = load(state, id).await? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    if access::allows(
        state,
        caller,
        access::admin_bypass(caller),
        &m.user_id,
        &g,
        "write",
    )
    .await?
    {
        Ok(m)
    } else {
        Err(ApiError::forbidden(ACCESS_PROHIBITED))
    }
}

#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    id: String,
    page: Option<i64>,
}

pub(super) async fn history(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    editable(&state, &caller, &q.id).await?;
    let page = crate::limits::page(q.page.unwrap_or(1));
    let id = q.id.clone();
    let list = state
        .db
        .read(move |c| rows::list_history(c, &id, page))
        .await?;
    Ok(Json(Value::Array(
        list.iter().map(|h| h.wire(false)).collect(),
    )))
}

pub(super) async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(history_id): Path<String>,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<Value>> {
    editable(&state, &caller, &q.id).await?;
    let id = q.id.clone();
    let entry = state
        .db
        .read(move |c| rows::get_history(c, &id, &history_id))
        .await?;
    entry
        .map(|h| Json(h.wire(true)))
        .ok_or_else(|| ApiError::not_found("Model version not found"))
}

pub(super) async fn delete_history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(history_id): Path<String>,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<bool>> {
    let current = editable(&state, &caller, &q.id).await?;
    if current.version_id.as_deref() == Some(history_id.as_str()) {
        return Err(ApiError::bad_request("Cannot delete the current version"));
    }
    let id = q.id.clone();
    let done = state
        .db
        .write(move |tx| rows::delete_history(tx, &id, &history_id))
        .await?;
    if done {
        Ok(Json(true))
    } else {
        Err(ApiError::not_found("Model version not found"))
    }
}

#[derive(Deserialize)]
pub(super) struct VersionForm {
    version_id: String,
}

pub(super) async fn set_version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
    JsonBody(form): JsonBody<VersionForm>,
) -> ApiResult<Json<Value>> {
    let current = editable(&state, &caller, &q.id).await?;
    let (id, vid) = (q.id.clone(), form.version_id.clone());
    let entry = state
        .db
        .read(move |c| rows::get_history(c, &id, &vid))
        .await?
        .ok_or_else(|| ApiError::not_found("Model version not found"))?;
    let snap_base = entry
        .snapshot
        .get("base_model_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if !caller.is_admin() && current.base_model_id.is_some() && snap_base.is_none() {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    if let Some(base) = snap_base {
        let all = llm::all_models(&state, false).await?;
        if !all.iter().any(|m| m["id"] == base) {
            return Err(ApiError::bad_request("The base model is unavailable."));
        }
    }
    let now = now_secs();
    let vid = form.version_id.clone();
    let ok = state
        .db
        .write(move |tx| rows::set_version(tx, &current, &vid, now))
        .await?;
    if !ok {
        return Err(ApiError::not_found("Model version not found"));
    }
    Ok(Json(load_wire(&state, &q.id).await?))
}
