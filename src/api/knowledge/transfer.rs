//! Export as a zip, sync with a local folder (diff and cleanup), and the
//! external connection routes this server does not support.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{writable_403, EXTERNAL_READ_ONLY};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::knowledge;
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::rag::knowledge as kbs;
use crate::state::AppState;

/// External knowledge connections (remote retrieval services) are not
/// supported by this server.
/// The admin's Integrations tab lists external knowledge connections on load.
/// None can be created here, but a data folder from Python Open WebUI may hold
/// some: list them as upstream does, without their credentials.
pub(super) async fn external_list(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    let stored = state.config.get("external_knowledge.connections");
    let items: Vec<Value> = stored
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|c| {
            let mut c = c.clone();
            let configured = c
                .remove("auth_config")
                .is_some_and(|a| !a.is_null() && a != json!({}) && a != json!(""));
            c.insert("auth_configured".into(), json!(configured));
            Value::Object(c)
        })
        .collect();
    Ok(Json(json!({"total": items.len(), "items": items})))
}

pub(super) async fn external(AdminUser(_): AdminUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(
        "External knowledge connections are not supported by this server.".into(),
    ))
}

/// A zip of the knowledge base's extracted texts, one `.txt` per file.
pub(super) async fn export(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let kid = id.clone();
    let (kb, files) = state
        .db
        .read(move |c| Ok((knowledge::get(c, &kid)?, knowledge::files_of(c, &kid)?)))
        .await?;
    let kb = kb.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if kb.is_external() {
        return Err(ApiError::bad_request(EXTERNAL_READ_ONLY));
    }
    let bytes = kbs::zip_texts(files).await?;
    let safe: String = kb
        .name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        crate::api::files::rfc5987(&format!("{safe}.zip"))
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct SyncDiffForm {
    manifest: Vec<kbs::ManifestEntry>,
}

/// Compares a local folder's manifest with the knowledge base: what to
/// upload, replace, delete, and which directories to create or remove.
pub(super) async fn sync_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<SyncDiffForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    let plan = kbs::sync_plan(&state, &id, &form.manifest).await?;
    let added: Vec<Value> = plan
        .added
        .iter()
        .map(|(filename, path)| json!({"filename": filename, "path": path}))
        .collect();
    let modified: Vec<Value> = plan
        .modified
        .iter()
        .map(|(filename, path, fid)| {
            json!({"filename": filename, "path": path, "stale_file_id": fid})
        })
        .collect();
    let deleted: Vec<Value> = plan
        .deleted
        .iter()
        .map(|(fid, filename)| json!({"file_id": fid, "filename": filename}))
        .collect();
    Ok(Json(json!({
        "added": added,
        "modified": modified,
        "deleted": deleted,
        "mkdir": plan.mkdir,
        "rmdir": plan.rmdir,
        "unmodified_count": plan.unmodified,
        "directory_map": plan.directory_map,
    })))
}

#[derive(Deserialize)]
pub(super) struct SyncCleanupForm {
    file_ids: Vec<String>,
    #[serde(default)]
    dir_ids: Vec<String>,
}

/// Removes the files and directories a sync found gone.
pub(super) async fn sync_cleanup(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<SyncCleanupForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    kbs::sync_cleanup(&state, &caller, &id, &form.file_ids, &form.dir_ids).await?;
    Ok(Json(json!({"status": true})))
}
