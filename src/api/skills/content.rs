//! A skill's files: the list, and one file's content.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{authorized, snapshot_at};
use crate::api::extract::VerifiedUser;
use crate::db::skills as rows;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct FilesQuery {
    version_id: Option<String>,
    path: Option<String>,
}

pub(super) async fn files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<FilesQuery>,
) -> ApiResult<Json<Value>> {
    let (s, _) = authorized(&state, &caller, &id, "read").await?;
    let snap = snapshot_at(&state, &s, q.version_id.as_deref()).await?;
    Ok(Json(json!({
        "version_id": q.version_id.or(s.version_id),
        "files": rows::file_summaries(&rows::files_of(&snap)),
    })))
}

pub(super) async fn file_content(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<FilesQuery>,
) -> ApiResult<Response> {
    let path = q.path.ok_or_else(|| {
        ApiError::Validation(
            json!([{"loc": ["query", "path"], "msg": "Field required", "type": "missing"}]),
        )
    })?;
    let version = q.version_id.ok_or_else(|| {
        ApiError::Validation(
            json!([{"loc": ["query", "version_id"], "msg": "Field required", "type": "missing"}]),
        )
    })?;
    let (s, _) = authorized(&state, &caller, &id, "read").await?;
    let snap = snapshot_at(&state, &s, Some(&version)).await?;
    let file = rows::files_of(&snap)
        .into_iter()
        .find(|f| f.get("path").and_then(Value::as_str) == Some(path.as_str()))
        .ok_or_else(|| ApiError::not_found("File not found"))?;
    let mime = mime_guess::from_path(&path)
        .first_raw()
        .unwrap_or("application/octet-stream");
    let base = path.rsplit('/').next().unwrap_or(&path);
    let encoded: String = base
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename*=UTF-8''{encoded}"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        rows::file_bytes(&file),
    )
        .into_response())
}
