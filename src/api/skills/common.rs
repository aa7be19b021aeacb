//! What the sections of the skills router share: the read / write check on
//! one skill, its snapshot at a version, the version conflict answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::access;
use crate::api::workspace_common::history_get;
use crate::auth::Caller;
use crate::db::access_grants::GrantRow;
use crate::db::skills::{self as rows, SkillRow};
use crate::db::workspace_history::{HistoryRow, Kind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(super) fn conflict(current: Option<&str>) -> Response {
    let mut detail = json!({"code": crate::frontend_texts::VERSION_CONFLICT});
    if let Some(c) = current {
        detail["current_version_id"] = json!(c);
    }
    (StatusCode::CONFLICT, Json(json!({"detail": detail}))).into_response()
}

/// A skill the caller may read (or write): 404 when missing, 403 otherwise.
pub(super) async fn authorized(
    state: &AppState,
    caller: &Caller,
    id: &str,
    perm: &str,
) -> ApiResult<(SkillRow, Vec<GrantRow>)> {
    let refuse = access::Refusals {
        missing: ApiError::not_found("Skill not found"),
        denied: ApiError::forbidden("Access denied"),
    };
    let (admin, get) = (access::admin_bypass(caller), rows::get_with_grants);
    access::load_allowed(state, caller, get, id, admin, perm, refuse).await
}

/// The live snapshot, or a history entry's.
pub(super) async fn snapshot_at(
    state: &AppState,
    s: &SkillRow,
    version: Option<&str>,
) -> ApiResult<Value> {
    match version {
        None => Ok(rows::snapshot(s)),
        Some(v) if Some(v) == s.version_id.as_deref() => Ok(rows::snapshot(s)),
        Some(v) => Ok(entry(state, &s.id, v).await?.snapshot),
    }
}

pub(super) async fn entry(state: &AppState, id: &str, version: &str) -> ApiResult<HistoryRow> {
    history_get(state, Kind::Skill, id, version).await
}
