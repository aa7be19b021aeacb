//! What the sections of the knowledge router share: the caller's access to
//! a knowledge base, the write checks (400 or 403 flavoured), the files
//! answer and a linked file's shape, checking that a folder belongs to the
//! knowledge base.

use std::collections::HashMap;

use axum::extract::Query;
use axum::Json;
use serde_json::{json, Value};

use crate::access::{group_ids, rights};
use crate::auth::Caller;
use crate::db::access_grants::GrantRow;
use crate::db::files::FileRow;
use crate::db::knowledge::{self, KnowledgeRow};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(super) const FILE_NOT_PROCESSED: &str = "Extracted content is not available for this file. Please ensure that the file is processed before proceeding.";
pub(super) const EXTERNAL_READ_ONLY: &str = "External knowledge bases are read-only.";

pub(super) type Params = Query<HashMap<String, String>>;

pub(super) struct Access {
    pub(super) kb: KnowledgeRow,
    pub(super) grants: Vec<GrantRow>,
    pub(super) read: bool,
    pub(super) write: bool,
}

pub(super) async fn access(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<Option<Access>> {
    let groups = group_ids(state, caller.id()).await?;
    let kid = id.to_string();
    let Some((kb, grants)) = state
        .db
        .read(move |c| knowledge::get_with_grants(c, &kid))
        .await?
    else {
        return Ok(None);
    };
    let may = rights(caller, &kb.user_id, &grants, &groups);
    Ok(Some(Access {
        kb,
        grants,
        read: may.read,
        write: may.write || caller.is_admin(),
    }))
}

/// The knowledge base if the caller may change it (400 otherwise, as upstream).
pub(super) async fn writable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Access> {
    let a = access(state, caller, id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if a.kb.is_external() {
        return Err(ApiError::bad_request(EXTERNAL_READ_ONLY));
    }
    if !a.write {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    Ok(a)
}

async fn file_metadatas(state: &AppState, id: &str) -> ApiResult<Value> {
    let kid = id.to_string();
    let rows = state.db.read(move |c| knowledge::files_of(c, &kid)).await?;
    Ok(Value::Array(
        rows.iter().map(FileRow::wire_metadata).collect(),
    ))
}

/// `KnowledgeFilesResponse` with the current files.
pub(super) async fn with_files(state: &AppState, a: &Access) -> ApiResult<Json<Value>> {
    let kid = a.kb.id.clone();
    let fresh = state
        .db
        .read(move |c| knowledge::get_with_grants(c, &kid))
        .await?;
    let (kb, grants) = fresh.unwrap_or((a.kb.clone(), a.grants.clone()));
    let mut out = kb.wire(&grants);
    out["files"] = file_metadatas(state, &kb.id).await?;
    out["write_access"] = json!(a.write);
    Ok(Json(out))
}

pub(super) async fn verify_dir(
    state: &AppState,
    kid: &str,
    dir: Option<&str>,
    detail: &str,
) -> ApiResult<()> {
    let Some(d) = dir.filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let d = d.to_string();
    let row = state.db.read(move |c| knowledge::directory(c, &d)).await?;
    match row {
        Some(r) if r.knowledge_id == kid => Ok(()),
        _ => Err(ApiError::not_found(detail)),
    }
}

/// Upstream's directory routes answer 404 / 403 instead of 400.
pub(super) async fn writable_403(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Access> {
    let a = access(state, caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if a.kb.is_external() {
        return Err(ApiError::bad_request(EXTERNAL_READ_ONLY));
    }
    if !a.write {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(a)
}

pub(super) fn linked_wire(
    f: &knowledge::LinkedFile,
    users: &HashMap<String, Value>,
    paths: &HashMap<String, String>,
) -> Value {
    let mut v = f.file.wire_listed(false);
    if let Some(o) = v.as_object_mut() {
        o.remove("data");
    }
    v["directory_id"] = json!(f.directory_id);
    v["directory_path"] = json!(f
        .directory_id
        .as_ref()
        .and_then(|d| paths.get(d))
        .cloned()
        .unwrap_or_default());
    v["has_original"] = json!(f.file.path.as_deref().is_some_and(|p| !p.is_empty()));
    v["user"] = users.get(&f.added_by).cloned().unwrap_or(Value::Null);
    v
}
