//! Version history: the entry shape, diffs and paging the tool, function
//! and skill routers share, and the tool history routes.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::write::{load, save};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::req_str;
use crate::auth::Caller;
use crate::db::tools::ToolRow;
use crate::db::workspace_history::{self as history, HistoryRow, Kind};
use crate::error::messages::ACCESS_PROHIBITED as PROHIBITED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A history entry as the tool, function and skill routers return it.
pub(crate) fn history_wire(kind: Kind, h: &HistoryRow, with_snapshot: bool) -> Value {
    let mut v = json!({
        "id": h.id,
        kind.fk(): h.resource_id,
        "parent_id": h.parent_id,
        "user_id": h.user_id,
        "commit_message": h.commit_message,
        "created_at": h.created_at,
        "user": h.author_name.as_ref().map(|n| json!({"name": n})),
    });
    if with_snapshot {
        v["snapshot"] = h.snapshot.clone();
    }
    v
}

/// The diff of two tool or function versions (`content_diff` is one string).
pub(crate) fn code_diff(before: &HistoryRow, after: &HistoryRow) -> Value {
    let (l, r) = (&before.snapshot, &after.snapshot);
    let mut metadata = serde_json::Map::new();
    for key in ["name", "meta"] {
        if l.get(key) != r.get(key) {
            metadata.insert(
                key.into(),
                json!({"before": l.get(key), "after": r.get(key)}),
            );
        }
    }
    let old = l.get("content").and_then(Value::as_str).unwrap_or("");
    let new = r.get("content").and_then(Value::as_str).unwrap_or("");
    let patch = history::unified_diff(old, new, "selected.py", "production.py").join("\n");
    json!({
        "from_id": before.id,
        "to_id": after.id,
        "metadata": metadata,
        "content_diff": patch,
        "line_endings_only": old != new && patch.is_empty(),
    })
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    pub page: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct DiffQuery {
    pub from_id: String,
    pub to_id: String,
}

pub(crate) async fn history_page(
    state: &AppState,
    kind: Kind,
    id: &str,
    page: Option<i64>,
) -> ApiResult<Vec<Value>> {
    let offset = (page.unwrap_or(1).max(1) - 1) * 20;
    let id = id.to_string();
    let list = state
        .db
        .read(move |c| history::list(c, kind, &id, offset, 20))
        .await?;
    Ok(list.iter().map(|h| history_wire(kind, h, false)).collect())
}

pub(crate) async fn history_get(
    state: &AppState,
    kind: Kind,
    id: &str,
    history_id: &str,
) -> ApiResult<HistoryRow> {
    let (id, hid) = (id.to_string(), history_id.to_string());
    state
        .db
        .read(move |c| history::get(c, kind, &id, &hid))
        .await?
        .ok_or_else(|| ApiError::not_found("Version not found"))
}

/// Deletes an entry unless it is the live version.
pub(crate) async fn history_remove(
    state: &AppState,
    kind: Kind,
    id: &str,
    live: Option<&str>,
    history_id: &str,
) -> ApiResult<Json<bool>> {
    if live == Some(history_id) {
        return Err(ApiError::bad_request("Cannot delete the current version"));
    }
    let (id, hid) = (id.to_string(), history_id.to_string());
    let ok = state
        .db
        .write(move |c| history::delete(c, kind, &id, &hid))
        .await?;
    if !ok {
        return Err(ApiError::not_found("Version not found"));
    }
    Ok(Json(true))
}

/// History access: bypassing admin, owner or write grant.
async fn history_access(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ToolRow> {
    let (t, g) = load(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Not found"))?;
    if access::admin_bypass(caller) {
        return Ok(t);
    }
    let groups = access::group_ids(state, caller.id()).await?;
    if !access::owner_or_grant(
        caller,
        t.user_id.as_deref().unwrap_or(""),
        &g,
        &groups,
        "write",
    ) {
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
    Ok(Json(history_page(&state, Kind::Tool, &id, q.page).await?))
}

pub(super) async fn history_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    history_access(&state, &caller, &id).await?;
    let a = history_get(&state, Kind::Tool, &id, &q.from_id).await?;
    let b = history_get(&state, Kind::Tool, &id, &q.to_id).await?;
    Ok(Json(code_diff(&a, &b)))
}

pub(super) async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    history_access(&state, &caller, &id).await?;
    let h = history_get(&state, Kind::Tool, &id, &history_id).await?;
    Ok(Json(history_wire(Kind::Tool, &h, true)))
}

pub(super) async fn history_delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    let t = history_access(&state, &caller, &id).await?;
    history_remove(
        &state,
        Kind::Tool,
        &id,
        t.version_id.as_deref(),
        &history_id,
    )
    .await
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
    let (name, content, meta) = (
        h.snapshot_text("name"),
        h.snapshot_text("content"),
        h.snapshot_meta(),
    );
    save(
        &state,
        &caller,
        &id,
        name,
        content,
        meta,
        None,
        Some(h.id.clone()),
    )
    .await
}
