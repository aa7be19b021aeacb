//! The files of a knowledge base: pending and listed files, adding,
//! updating, removing and moving one, adding a batch.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{
    access, linked_wire, verify_dir, with_files, writable, writable_403, Params, FILE_NOT_PROCESSED,
};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::{lenient_page, query_bool};
use crate::db::files::{self, FileRow};
use crate::db::knowledge::{self, DirectoryRow};
use crate::db::now_secs;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::files::can_access_file;
use crate::rag::knowledge::{self as kbs, dir_paths};
use crate::rag::processing::{index_file, IndexOpts};
use crate::state::AppState;

pub(super) async fn pending_files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
) -> ApiResult<Response> {
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if !a.read {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let fetch = |state: AppState, id: String| async move {
        state
            .db
            .read(move |c| files::pending_for_knowledge(c, &id))
            .await
            .map(|rows| rows.iter().map(|f| f.wire_listed(true)).collect::<Vec<_>>())
    };
    if !query_bool(&p, "stream", false)? {
        return Ok(Json(fetch(state.clone(), id).await?).into_response());
    }
    let stream = futures::stream::unfold(
        (state, id, 0u32, false),
        move |(state, id, n, done)| async move {
            if done || n >= 1200 {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let items = fetch(state.clone(), id.clone()).await.unwrap_or_default();
            let finished = items.is_empty();
            let line = format!("data: {}\n\n", Value::Array(items));
            Some((Ok::<_, std::io::Error>(line), (state, id, n + 1, finished)))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

pub(super) async fn list_files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if !a.read {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let page = lenient_page(&p);
    let limit = match p.get("limit").and_then(|s| s.parse::<i64>().ok()) {
        Some(l) if caller.is_admin() => crate::limits::limit(l),
        _ => knowledge::PAGE_SIZE,
    };
    let with_content = query_bool(&p, "include_content", false)?;
    let q = p
        .get("query")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    // Present = scope to that directory; empty string = the root level.
    let dir_filter: Option<Option<String>> = p
        .get("directory_id")
        .map(|d| (!d.is_empty()).then(|| d.clone()));
    let kid = id.clone();
    let (mut linked, dirs, users) = state
        .db
        .read(move |c| {
            let linked = knowledge::linked_files(c, &kid)?;
            let dirs = knowledge::directories(c, &kid)?;
            let ids: Vec<String> = linked.iter().map(|l| l.added_by.clone()).collect();
            let users = knowledge::users_brief(c, &ids)?;
            Ok((linked, dirs, users))
        })
        .await?;
    if let Some(d) = &dir_filter {
        linked.retain(|l| &l.directory_id == d);
    }
    if let Some(q) = &q {
        linked.retain(|l| {
            l.file.filename.to_lowercase().contains(q)
                || (with_content && l.file.content().to_lowercase().contains(q))
        });
    }
    match p.get("view_option").map(String::as_str) {
        Some("created") => linked.retain(|l| l.added_by == caller.id()),
        Some("shared") => linked.retain(|l| l.added_by != caller.id()),
        _ => {}
    }
    let asc = p.get("direction").map(String::as_str) == Some("asc");
    match p.get("order_by").map(String::as_str) {
        Some("name") => linked.sort_by(|a, b| {
            a.file
                .filename
                .cmp(&b.file.filename)
                .then(a.file.id.cmp(&b.file.id))
        }),
        Some("created_at") => linked.sort_by(|a, b| {
            a.file
                .created_at
                .cmp(&b.file.created_at)
                .then(a.file.id.cmp(&b.file.id))
        }),
        _ => linked.sort_by(|a, b| {
            a.file
                .updated_at
                .cmp(&b.file.updated_at)
                .then(b.file.id.cmp(&a.file.id))
        }),
    }
    if !asc {
        linked.reverse();
    }
    let total = linked.len();
    let paths = dir_paths(&dirs);
    let items: Vec<Value> = linked
        .iter()
        .skip(((page - 1) * limit) as usize)
        .take(limit as usize)
        .map(|l| linked_wire(l, &users, &paths))
        .collect();
    let current = dir_filter.clone().flatten();
    let children: Vec<Value> = dirs
        .iter()
        .filter(|d| d.parent_id == current)
        .map(DirectoryRow::wire)
        .collect();
    let mut crumbs = vec![];
    let mut cur = current.clone();
    let mut guard = 0;
    while let (Some(c), true) = (cur.clone(), guard < 64) {
        guard += 1;
        match dirs.iter().find(|d| d.id == c) {
            Some(d) => {
                crumbs.push(d.wire());
                cur = d.parent_id.clone();
            }
            None => break,
        }
    }
    crumbs.reverse();
    Ok(Json(json!({
        "items": items,
        "directories": children,
        "breadcrumbs": crumbs,
        "total": total,
    })))
}

#[derive(Deserialize)]
pub(super) struct FileIdForm {
    file_id: String,
    #[serde(default)]
    directory_id: Option<String>,
}

async fn load_file(state: &AppState, id: &str) -> ApiResult<Option<FileRow>> {
    let id = id.to_string();
    Ok(state.db.read(move |c| files::get(c, &id)).await?)
}

pub(super) async fn add_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<FileIdForm>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    verify_dir(
        &state,
        &id,
        form.directory_id.as_deref(),
        "Target directory not found.",
    )
    .await?;
    let file = load_file(&state, &form.file_id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if file.data.as_object().is_none_or(|d| d.is_empty()) {
        return Err(ApiError::bad_request(FILE_NOT_PROCESSED));
    }
    if !can_access_file(&state, &caller, &file, "read").await? {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    kbs::add_file(&state, &caller, &id, &file, form.directory_id.clone()).await?;
    with_files(&state, &a).await
}

pub(super) async fn update_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<FileIdForm>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    let file = load_file(&state, &form.file_id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    let (kid, fid) = (id.clone(), file.id.clone());
    if !state
        .db
        .read(move |c| knowledge::has_file(c, &kid, &fid))
        .await?
    {
        return Err(ApiError::bad_request(NOT_FOUND));
    }
    index_file(
        &state,
        &caller,
        &file,
        IndexOpts {
            collection: Some(id.clone()),
            ..Default::default()
        },
    )
    .await
    .map_err(ApiError::bad_request)?;
    with_files(&state, &a).await
}

pub(super) async fn remove_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
    JsonBody(form): JsonBody<FileIdForm>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    let delete_file = query_bool(&p, "delete_file", true)?;
    let file = load_file(&state, &form.file_id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if !kbs::remove_file(&state, &caller, &id, &file, delete_file).await? {
        return Err(ApiError::bad_request(NOT_FOUND));
    }
    with_files(&state, &a).await
}

#[derive(Deserialize)]
pub(super) struct MoveForm {
    file_id: String,
    #[serde(default)]
    directory_id: Option<String>,
}

pub(super) async fn move_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<MoveForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    let (kid, fid) = (id.clone(), form.file_id.clone());
    if !state
        .db
        .read(move |c| knowledge::has_file(c, &kid, &fid))
        .await?
    {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    verify_dir(
        &state,
        &id,
        form.directory_id.as_deref(),
        "Target directory not found.",
    )
    .await?;
    let now = now_secs();
    let dir = form.directory_id.filter(|d| !d.is_empty());
    state
        .db
        .write(move |c| knowledge::move_file(c, &id, &form.file_id, dir.as_deref(), now))
        .await?;
    Ok(Json(json!({"status": true})))
}

pub(super) async fn add_files_batch(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(forms): JsonBody<Vec<FileIdForm>>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    for d in forms.iter().filter_map(|f| f.directory_id.as_deref()) {
        verify_dir(&state, &id, Some(d), "Target directory not found.").await?;
    }
    let ids: Vec<String> = forms.iter().map(|f| f.file_id.clone()).collect();
    let found = state.db.read(move |c| files::get_many(c, &ids)).await?;
    for f in &forms {
        if !found.iter().any(|r| r.id == f.file_id) {
            return Err(ApiError::bad_request(format!(
                "File {} not found",
                f.file_id
            )));
        }
    }
    for f in &found {
        if !can_access_file(&state, &caller, f, "read").await? {
            return Err(ApiError::forbidden(ACCESS_PROHIBITED));
        }
    }
    let items: Vec<(&FileRow, Option<String>)> = forms
        .iter()
        .filter_map(|form| {
            let file = found.iter().find(|r| r.id == form.file_id)?;
            Some((file, form.directory_id.clone()))
        })
        .collect();
    let errors = kbs::add_files(&state, &caller, &id, &items).await?;
    let Json(mut out) = with_files(&state, &a).await?;
    if !errors.is_empty() {
        out["warnings"] = json!({"message": "Some files failed to process", "errors": errors});
    }
    Ok(Json(out))
}
