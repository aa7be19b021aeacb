//! A skill's version history: listing, diffs (whole skill or one file),
//! reading and deleting entries, going back to a version.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{authorized, conflict, entry};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::req_str;
use crate::api::workspace_common::{history_page, history_remove, history_wire, PageQuery};
use crate::db::access_grants;
use crate::db::now_secs;
use crate::db::skills as rows;
use crate::db::workspace_history::{self as history, Kind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(super) async fn history_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    authorized(&state, &caller, &id, "read").await?;
    history_page(&state, Kind::Skill, &id, q.page).await
}

#[derive(Deserialize)]
pub(super) struct DiffQuery {
    from_id: String,
    to_id: String,
    path: Option<String>,
}

fn by_path(snapshot: &Value) -> BTreeMap<String, Value> {
    rows::files_of(snapshot)
        .into_iter()
        .filter_map(|f| Some((f.get("path")?.as_str()?.to_string(), f)))
        .collect()
}

pub(super) async fn history_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    authorized(&state, &caller, &id, "read").await?;
    let before = entry(&state, &id, &q.from_id).await?.snapshot;
    let after = entry(&state, &id, &q.to_id).await?.snapshot;
    let mut metadata = serde_json::Map::new();
    for k in ["name", "description", "meta"] {
        if before.get(k) != after.get(k) {
            metadata.insert(
                k.into(),
                json!({"before": before.get(k), "after": after.get(k)}),
            );
        }
    }
    let (a, b) = (by_path(&before), by_path(&after));
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let files: Vec<Value> = paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| {
            let status = if !a.contains_key(p) {
                "added"
            } else if !b.contains_key(p) {
                "deleted"
            } else {
                "modified"
            };
            let binary = [a.get(p), b.get(p)].iter().any(|f| {
                f.and_then(|f| f.get("encoding"))
                    .is_some_and(|e| !e.is_null())
            });
            json!({"path": p, "status": status, "binary": binary})
        })
        .collect();
    Ok(Json(json!({"metadata": metadata, "files": files})))
}

pub(super) async fn file_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let path = q.path.clone().ok_or_else(|| {
        ApiError::Validation(
            json!([{"loc": ["query", "path"], "msg": "Field required", "type": "missing"}]),
        )
    })?;
    authorized(&state, &caller, &id, "read").await?;
    let before = by_path(&entry(&state, &id, &q.from_id).await?.snapshot).remove(&path);
    let after = by_path(&entry(&state, &id, &q.to_id).await?.snapshot).remove(&path);
    if before.is_none() && after.is_none() {
        return Err(ApiError::not_found("File not found"));
    }
    if [&before, &after].iter().any(|f| {
        f.as_ref()
            .and_then(|f| f.get("encoding"))
            .is_some_and(|e| !e.is_null())
    }) {
        return Ok(Json(json!({"binary": true})));
    }
    let text = |f: &Option<Value>| {
        f.as_ref()
            .and_then(|f| f.get("content").and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    };
    let (ta, tb) = (text(&before), text(&after));
    let short = |s: &str| s.chars().take(7).collect::<String>();
    let diff = history::unified_diff(
        &ta,
        &tb,
        &format!("{}/{path}", short(&q.from_id)),
        &format!("{}/{path}", short(&q.to_id)),
    )
    .join("\n");
    Ok(Json(json!({
        "binary": false,
        "line_endings_only": diff.is_empty() && ta != tb,
        "diff": diff,
    })))
}

pub(super) async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authorized(&state, &caller, &id, "read").await?;
    let h = entry(&state, &id, &history_id).await?;
    let mut v = history_wire(Kind::Skill, &h, false);
    if let Some(o) = v.as_object_mut() {
        o.remove("user");
    }
    let mut snap = h.snapshot.clone();
    let summaries = rows::file_summaries(&rows::files_of(&h.snapshot));
    if let Some(o) = snap.as_object_mut() {
        o.insert("data".into(), json!({"files": summaries}));
    }
    v["snapshot"] = snap;
    Ok(Json(v))
}

pub(super) async fn history_delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    let (s, _) = authorized(&state, &caller, &id, "write").await?;
    let live = s.version_id.as_deref();
    history_remove(&state, Kind::Skill, &id, live, &history_id).await
}

pub(super) async fn set_version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, Response> {
    let er = |e: ApiError| e.into_response();
    let version = req_str(&body, "version_id").map_err(er)?.to_string();
    let expected = req_str(&body, "expected_version_id")
        .map_err(er)?
        .to_string();
    let (s, _) = authorized(&state, &caller, &id, "write")
        .await
        .map_err(er)?;
    if s.version_id.as_deref() != Some(expected.as_str()) {
        return Err(conflict(s.version_id.as_deref()));
    }
    let h = entry(&state, &id, &version).await.map_err(er)?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(s) = rows::set_version(c, &id, &h.snapshot, &h.id, now)? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &s.id)?;
            Ok(Some(rows::wire(&s, &g, true)))
        })
        .await
        .map_err(|e| er(ApiError::Internal(e)))?;
    v.map(Json)
        .ok_or_else(|| er(ApiError::not_found("Skill not found")))
}
