//! The folders of a knowledge base: create, update, delete.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{verify_dir, writable_403, Params};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::query_bool;
use crate::db::knowledge::DirectoryRow;
use crate::db::{new_id, now_secs};
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::rag::knowledge as kbs;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct DirCreateForm {
    name: String,
    #[serde(default)]
    parent_id: Option<String>,
}

fn clean_dir_name(name: &str) -> ApiResult<String> {
    let n = name.trim();
    if n.is_empty() || n == "." || n == ".." || n.contains('/') || n.contains('\\') {
        return Err(ApiError::bad_request("Invalid directory name."));
    }
    crate::limits::check_name("name", n)?;
    Ok(n.to_string())
}

pub(super) async fn create_dir(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<DirCreateForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    let parent = form.parent_id.filter(|p| !p.is_empty());
    verify_dir(
        &state,
        &id,
        parent.as_deref(),
        "Parent directory not found.",
    )
    .await?;
    let now = now_secs();
    let d = DirectoryRow {
        id: new_id(),
        knowledge_id: id.clone(),
        parent_id: parent,
        name: clean_dir_name(&form.name)?,
        user_id: caller.id().to_string(),
        created_at: now,
        updated_at: now,
    };
    if !kbs::create_directory(&state, d.clone()).await? {
        return Err(ApiError::bad_request(
            "Failed to create directory. A directory with this name may already exist at this level.",
        ));
    }
    Ok(Json(d.wire()))
}

#[derive(Deserialize)]
pub(super) struct DirUpdateForm {
    #[serde(default)]
    name: Option<String>,
    /// `"__unset__"` (or absent) keeps the parent; null moves to the root.
    #[serde(default = "unset")]
    parent_id: Option<String>,
}

fn unset() -> Option<String> {
    Some("__unset__".into())
}

pub(super) async fn update_dir(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, dir_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<DirUpdateForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    verify_dir(&state, &id, Some(&dir_id), NOT_FOUND).await?;
    let keep_parent = form.parent_id.as_deref() == Some("__unset__");
    let new_parent = if keep_parent {
        None
    } else {
        form.parent_id.clone().filter(|p| !p.is_empty())
    };
    if !keep_parent {
        verify_dir(
            &state,
            &id,
            new_parent.as_deref(),
            "Parent directory not found.",
        )
        .await?;
    }
    let name = match &form.name {
        Some(n) => Some(clean_dir_name(n)?),
        None => None,
    };
    let parent_change = (!keep_parent).then_some(new_parent);
    let out = kbs::update_directory(&state, &id, &dir_id, name, parent_change).await?;
    match out {
        Some(d) => Ok(Json(d.wire())),
        None => Err(ApiError::bad_request(
            "Failed to update directory. This may be caused by a naming conflict or circular move.",
        )),
    }
}

pub(super) async fn delete_dir(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, dir_id)): Path<(String, String)>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    verify_dir(&state, &id, Some(&dir_id), NOT_FOUND).await?;
    let move_files = query_bool(&p, "move_files", true)?;
    let removed = kbs::delete_directory(&state, &caller, &id, &dir_id, move_files).await?;
    Ok(Json(json!({"status": true, "file_ids": removed})))
}
