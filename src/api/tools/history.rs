//! The tool history routes: listing, diffs, reading and deleting entries,
//! going back to a version.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::Value;

use super::shared::CodeForm;
use super::write::{load, save};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::req_str;
use crate::api::workspace_common::{
    code_history_diff, code_history_entry, history_get, history_page, history_remove, DiffQuery,
    PageQuery,
};
use crate::auth::Caller;
use crate::db::tools::ToolRow;
use crate::db::workspace_history::Kind;
use crate::error::messages::ACCESS_PROHIBITED as PROHIBITED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// History access: bypassing admin, owner or write grant.
async fn history_access(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ToolRow> {
    let (t, g) = load(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Not found"))?;
    let owner = t.user_id.as_deref().unwrap_or("");
    if !access::allows(
        state,
        caller,
        access::admin_bypass(caller),
        owner,
        &g,
        "write",
    )
    .await?
    {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    Ok(t)
}

pub(super) async fn history_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    history_access(&state, &caller, &id).await?;
    history_page(&state, Kind::Tool, &id, q.page).await
}

pub(super) async fn history_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    history_access(&state, &caller, &id).await?;
    code_history_diff(&state, Kind::Tool, &id, &q).await
}

pub(super) async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    history_access(&state, &caller, &id).await?;
    code_history_entry(&state, Kind::Tool, &id, &history_id).await
}

pub(super) async fn history_delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    let t = history_access(&state, &caller, &id).await?;
    let live = t.version_id.as_deref();
    history_remove(&state, Kind::Tool, &id, live, &history_id).await
}

pub(super) async fn set_version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let version = req_str(&body, "version_id")?.to_string();
    history_access(&state, &caller, &id).await?;
    let h = history_get(&state, Kind::Tool, &id, &version).await?;
    let form = CodeForm::restored(&h);
    save(&state, &caller, &id, form, Some(h.id)).await
}
