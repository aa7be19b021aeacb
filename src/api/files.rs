//! `/api/v1/files`: uploads, their extracted text and processing state.
//!
//! Uploads are streamed into the file store ([`crate::files`]) and processed
//! in the background by [`crate::rag::processing`]. A file is visible to its
//! owner, to admins, and to readers of a knowledge base that contains it
//! ([`can_access_file`]).

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::form::{query_bool, query_int};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::Caller;
use crate::db::files::{self, FileRow, NewFile, PAGE_SIZE};
use crate::db::{new_id, now_secs};
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::files::{
    allowed_extensions, can_access_file, clear_uploads, commit_upload, delete_file_everywhere,
    max_file_bytes, resolve_path, sanitize_filename, storage_name, too_large, upload_cap,
    uploads_dir, PartialFile, Stored, UploadWriter,
};
use crate::state::AppState;

type Params = Query<HashMap<String, String>>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/files/",
            post(upload).get(list).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/files/search", get(search))
        .route("/api/v1/files/user/search", get(search_user))
        .route("/api/v1/files/count", get(count))
        .route("/api/v1/files/user/count", get(count_user))
        .route("/api/v1/files/all", delete(delete_all))
        .route("/api/v1/files/{id}", get(get_one).delete(delete_one))
        .route("/api/v1/files/{id}/process/status", get(process_status))
        .route("/api/v1/files/{id}/data/content", get(data_content))
        .route(
            "/api/v1/files/{id}/data/content/update",
            post(update_data_content),
        )
        .route("/api/v1/files/{id}/content", get(content))
        .route("/api/v1/files/{id}/content/html", get(content_html))
        .route("/api/v1/files/{id}/content/{file_name}", get(content_named))
        .route("/api/v1/files/{id}/rename", post(rename))
}

async fn load(state: &AppState, id: &str) -> ApiResult<Option<FileRow>> {
    let id = id.to_string();
    Ok(state.db.read(move |c| files::get(c, &id)).await?)
}

/// The file if the caller may `perm` it; upstream answers 404 otherwise.
async fn load_for(state: &AppState, caller: &Caller, id: &str, perm: &str) -> ApiResult<FileRow> {
    let file = load(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if !can_access_file(state, caller, &file, perm).await? {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    Ok(file)
}

fn field_error(e: axum::extract::multipart::MultipartError, max: u64) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        ApiError::bad_request(format!("Error uploading file: {}", e.body_text()))
    }
}

/// Streams a multipart field to `path`, enforcing the size limit. On any
/// error, or if this future is dropped, nothing is left at `path`.
async fn store_field(
    field: &mut axum::extract::multipart::Field<'_>,
    path: &FsPath,
    max: u64,
) -> ApiResult<(Stored, PartialFile)> {
    let mut writer = UploadWriter::create(path, max).await?;
    while let Some(chunk) = field.chunk().await.map_err(|e| field_error(e, max))? {
        writer.write(&chunk).await?;
    }
    Ok(writer.finish().await)
}

/// Reads the small `metadata` part, refusing more than
/// [`crate::limits::UPLOAD_METADATA_BYTES`].
async fn read_metadata(field: &mut axum::extract::multipart::Field<'_>) -> ApiResult<String> {
    let max = crate::limits::UPLOAD_METADATA_BYTES;
    let mut buf = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| field_error(e, max as u64))?
    {
        if buf.len() + chunk.len() > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "The upload metadata is larger than {} KiB.",
                max / 1024
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf)
        .map_err(|_| ApiError::bad_request("Something went wrong :/\nInvalid metadata format"))
}

async fn upload(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
    mut mp: Multipart,
) -> ApiResult<Response> {
    let process = query_bool(&p, "process", true)?;
    let in_background = query_bool(&p, "process_in_background", true)?;
    let id = new_id();
    // The guard inside removes the stored file on every early return.
    let mut stored: Option<(Stored, PartialFile, String, Option<String>)> = None;
    let mut metadata = Map::new();
    let max = upload_cap(&state);
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(field_error(e, max)),
        };
        match field.name() {
            Some("file") if stored.is_none() => {
                let name = sanitize_filename(field.file_name().unwrap_or("file"));
                let ext = FsPath::new(&name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .unwrap_or_default();
                let allowed = allowed_extensions(&state);
                if process && !allowed.is_empty() && !allowed.contains(&ext) {
                    return Err(ApiError::bad_request(format!(
                        "Something went wrong :/\nFile type {ext} is not allowed"
                    )));
                }
                let ct = field
                    .content_type()
                    .map(str::to_string)
                    .filter(|s| !s.is_empty());
                let path = uploads_dir(&state).join(storage_name(&id, &name));
                let (st, guard) = store_field(&mut field, &path, max).await?;
                stored = Some((st, guard, name, ct));
            }
            Some("metadata") => {
                let text = read_metadata(&mut field).await?;
                if text.trim().is_empty() || text.trim() == "null" {
                    continue;
                }
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(m)) => metadata = m,
                    Ok(Value::Null) => {}
                    _ => {
                        return Err(ApiError::bad_request(
                            "Something went wrong :/\nInvalid metadata format",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let Some((st, guard, name, ct)) = stored else {
        return Err(ApiError::Validation(json!([{
            "type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": null
        }])));
    };
    let file_hash = metadata
        .get("file_hash")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or(st.sha256.clone());
    let abs = std::fs::canonicalize(&st.path).unwrap_or(st.path.clone());
    let new = NewFile {
        id: id.clone(),
        user_id: caller.id().to_string(),
        filename: name.clone(),
        path: abs.to_string_lossy().into_owned(),
        data: if process {
            json!({"status": "pending"})
        } else {
            json!({})
        },
        meta: json!({
            "name": name,
            "content_type": ct,
            "size": st.size,
            "file_hash": file_hash,
            "data": Value::Object(metadata),
        }),
    };
    // From here on the file and its row are committed together.
    let row = commit_upload(&state, new, guard).await?;
    if !process {
        return Ok(Json(row.wire_listed(true)).into_response());
    }
    if in_background {
        crate::rag::processing::spawn(state.clone(), caller.clone(), row.id.clone());
    } else {
        crate::rag::processing::process_upload(&state, &caller, &row.id).await;
    }
    let row = load(&state, &id).await?.unwrap_or(row);
    let mut out = row.wire();
    out["status"] = json!(true);
    Ok(Json(out).into_response())
}

fn admin_sees_all(caller: &Caller) -> bool {
    crate::access::admin_bypass(caller)
}

async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let page = query_int(&p, "page", 1, 1, i64::MAX)?;
    let with_content = query_bool(&p, "content", true)?;
    let user = (!admin_sees_all(&caller)).then(|| caller.id().to_string());
    let (rows, total) = state
        .db
        .read(move |c| {
            files::page(
                c,
                user.as_deref(),
                crate::limits::page_offset(page, PAGE_SIZE),
                PAGE_SIZE,
            )
        })
        .await?;
    Ok(Json(json!({
        "items": rows.iter().map(|f| f.wire_listed(with_content)).collect::<Vec<_>>(),
        "total": total,
    })))
}

async fn run_search(
    state: &AppState,
    user: Option<String>,
    p: &HashMap<String, String>,
    default_content: bool,
    default_limit: i64,
    required: bool,
) -> ApiResult<Vec<Value>> {
    let glob = match p.get("filename") {
        Some(g) => g.clone(),
        None if required => {
            return Err(ApiError::Validation(json!([{
                "type": "missing", "loc": ["query", "filename"], "msg": "Field required", "input": null
            }])))
        }
        None => "*".to_string(),
    };
    let with_content = query_bool(p, "content", default_content)?;
    let skip = query_int(p, "skip", 0, 0, i64::MAX)?;
    let limit = query_int(p, "limit", default_limit, 1, 1000)?;
    let rows = state
        .db
        .read(move |c| files::search(c, user.as_deref(), &glob, skip, limit))
        .await?;
    Ok(rows.iter().map(|f| f.wire_listed(with_content)).collect())
}

async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let user = (!admin_sees_all(&caller)).then(|| caller.id().to_string());
    let items = run_search(&state, user, &p, true, 100, true).await?;
    if items.is_empty() {
        return Err(ApiError::not_found("No files found matching the pattern."));
    }
    Ok(Json(Value::Array(items)))
}

async fn search_user(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let items = run_search(&state, Some(caller.id().to_string()), &p, false, 50, false).await?;
    Ok(Json(Value::Array(items)))
}

async fn count(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    let user = (!admin_sees_all(&caller)).then(|| caller.id().to_string());
    let n = state
        .db
        .read(move |c| files::count(c, user.as_deref()))
        .await?;
    Ok(Json(json!(n)))
}

async fn count_user(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    let user = caller.id().to_string();
    let n = state.db.read(move |c| files::count(c, Some(&user))).await?;
    Ok(Json(json!(n)))
}

async fn delete_all(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    state.db.write(|c| files::delete_all(c)).await?;
    clear_uploads(&state).await;
    if let Err(e) = state.rag.reset().await {
        tracing::error!(error = %e, "cannot reset the vector store");
        return Err(ApiError::bad_request(
            "Something went wrong :/\nError deleting files",
        ));
    }
    Ok(Json(json!({"message": "All files deleted successfully"})))
}

async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let file = load_for(&state, &caller, &id, "read").await?;
    Ok(Json(file.wire()))
}

async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let file = load_for(&state, &caller, &id, "write").await?;
    delete_file_everywhere(&state, &file).await?;
    Ok(Json(json!({"message": "File deleted successfully"})))
}

fn status_event(file: Option<&FileRow>) -> (Value, bool) {
    match file {
        None => (json!({"status": "not_found"}), true),
        Some(f) => match f.status() {
            None => (Value::Null, true),
            Some(s) => {
                let mut ev = json!({"status": s});
                if s == "failed" {
                    ev["error"] = f.data.get("error").cloned().unwrap_or(Value::Null);
                }
                (ev, s == "completed" || s == "failed")
            }
        },
    }
}

async fn process_status(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
) -> ApiResult<Response> {
    let file = load_for(&state, &caller, &id, "read").await?;
    if !query_bool(&p, "stream", false)? {
        return Ok(Json(json!({"status": file.status().unwrap_or("pending")})).into_response());
    }
    // Polls the row until processing ends (at most two hours), one event per poll.
    let stream = futures::stream::unfold(
        (state, id, 0u32, false),
        |(state, id, n, done)| async move {
            if done || n >= 14_400 {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let file = load(&state, &id).await.ok().flatten();
            let (ev, finished) = status_event(file.as_ref());
            if ev.is_null() {
                return None;
            }
            let line = format!("data: {ev}\n\n");
            Some((Ok::<_, std::io::Error>(line), (state, id, n + 1, finished)))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn data_content(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let file = load_for(&state, &caller, &id, "read").await?;
    Ok(Json(
        json!({"content": file.data.get("content").cloned().unwrap_or(json!(""))}),
    ))
}

#[derive(Deserialize)]
struct ContentForm {
    content: String,
}

async fn update_data_content(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<ContentForm>,
) -> ApiResult<Json<Value>> {
    let file = load_for(&state, &caller, &id, "write").await?;
    if form.content.trim().is_empty() {
        return Err(ApiError::bad_request(
            "The content provided is empty. Please ensure that there is text or data present before proceeding.",
        ));
    }
    if let Some(m) = max_file_bytes(&state) {
        if form.content.len() as u64 > m {
            return Err(ApiError::PayloadTooLarge(format!(
                "File size exceeds the maximum allowed size of {} MB.",
                m / (1024 * 1024)
            )));
        }
    }
    let file = crate::rag::processing::apply_edit(&state, &caller, &file, form.content).await?;
    Ok(Json(json!({"content": file.content()})))
}

/// RFC 5987 encoding of a header parameter (`filename*=UTF-8''…`).
pub fn rfc5987(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a user's file is served: inline only for types that cannot run script
/// (see [`crate::api::user_content::inline_file_type`]); everything else as
/// an `application/octet-stream` attachment.
fn user_file_headers(ct: &str, name: &str, want_attachment: bool) -> (String, String) {
    let enc = rfc5987(name);
    if !crate::api::user_content::inline_file_type(ct) {
        let ct = "application/octet-stream".to_string();
        return (ct, format!("attachment; filename*=UTF-8''{enc}"));
    }
    let kind = if want_attachment {
        "attachment"
    } else {
        "inline"
    };
    (ct.to_string(), format!("{kind}; filename*=UTF-8''{enc}"))
}

/// Sends a user's file with nosniff and, except for inline PDFs (browsers
/// refuse to show a PDF in a sandboxed document; their viewers run no page
/// script), the user-content CSP.
async fn send_user_file(
    path: PathBuf,
    ct: &str,
    disposition: String,
    req: &HeaderMap,
) -> ApiResult<Response> {
    let mut resp = send_file(path, ct, Some(disposition.clone()), req).await?;
    let inline_pdf = disposition.starts_with("inline") && ct == "application/pdf";
    if !inline_pdf {
        crate::api::user_content::protect(resp.headers_mut());
    }
    Ok(resp)
}

async fn send_file(
    path: PathBuf,
    content_type: &str,
    disposition: Option<String>,
    req: &HeaderMap,
) -> ApiResult<Response> {
    let f = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::not_found(NOT_FOUND))?;
    let len = f
        .metadata()
        .await
        .map(|m| m.len())
        .map_err(|_| ApiError::not_found(NOT_FOUND))?;
    let mut resp = super::ranged::respond(f, len, req)
        .await
        .map_err(|_| ApiError::not_found(NOT_FOUND))?;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(d) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

async fn content(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
    req: HeaderMap,
) -> ApiResult<Response> {
    let file = load_for(&state, &caller, &id, "read").await?;
    let attachment = query_bool(&p, "attachment", false)?;
    if file.path.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::not_found("Original file is unavailable."));
    }
    let path = resolve_path(&state, &file).ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let name = file.name().to_string();
    let mut ct = file.content_type().map(str::to_string).unwrap_or_else(|| {
        mime_guess::from_path(&name)
            .first_or_octet_stream()
            .to_string()
    });
    if name.to_ascii_lowercase().ends_with(".pdf") {
        ct = "application/pdf".into();
    }
    let (ct, disposition) = user_file_headers(&ct, &name, attachment);
    send_user_file(path, &ct, disposition, &req).await
}

async fn content_html(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    req: HeaderMap,
) -> ApiResult<Response> {
    let file = load_for(&state, &caller, &id, "read").await?;
    // Only files uploaded by an admin are served as live HTML (upstream's rule).
    let owner = file.user_id.clone();
    let owner_role = state
        .db
        .read(move |c| crate::db::users::get(c, &owner))
        .await?
        .map(|u| u.role);
    if owner_role.as_deref() != Some("admin") {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    let path = resolve_path(&state, &file).ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let ct = mime_guess::from_path(&path)
        .first_or_octet_stream()
        .to_string();
    send_file(path, &ct, None, &req).await
}

async fn content_named(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, _name)): Path<(String, String)>,
    req: HeaderMap,
) -> ApiResult<Response> {
    let file = load_for(&state, &caller, &id, "read").await?;
    if let Some(path) = resolve_path(&state, &file) {
        let ct = mime_guess::from_path(&path)
            .first_or_octet_stream()
            .to_string();
        let (ct, disposition) = user_file_headers(&ct, file.name(), true);
        return send_user_file(path, &ct, disposition, &req).await;
    }
    let disposition = format!("attachment; filename*=UTF-8''{}", rfc5987(file.name()));
    // The original is gone: the extracted text stands in for it.
    let mut resp = Response::new(Body::from(file.content().to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    crate::api::user_content::protect(resp.headers_mut());
    Ok(resp)
}

#[derive(Deserialize)]
struct RenameForm {
    filename: String,
}

async fn rename(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<RenameForm>,
) -> ApiResult<Json<Value>> {
    load_for(&state, &caller, &id, "write").await?;
    let now = now_secs();
    let (fid, name) = (id.clone(), form.filename.clone());
    state
        .db
        .write(move |c| files::rename(c, &fid, &name, now))
        .await?;
    let file = load(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(file.wire()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5987_encodes_unicode_and_quotes() {
        assert_eq!(rfc5987("naïve \"x\".txt"), "na%C3%AFve%20%22x%22.txt");
    }

    #[test]
    fn script_types_become_octet_stream_downloads() {
        let (ct, d) = user_file_headers("image/png", "a.png", false);
        assert_eq!((ct.as_str(), d.starts_with("inline")), ("image/png", true));
        let (ct, d) = user_file_headers("image/svg+xml", "a.svg", false);
        assert_eq!(ct, "application/octet-stream");
        assert!(d.starts_with("attachment"));
        let (ct, d) = user_file_headers("text/html", "a.html", false);
        assert_eq!(ct, "application/octet-stream");
        assert!(d.starts_with("attachment"));
        let (_, d) = user_file_headers("application/pdf", "a.pdf", true);
        assert!(d.starts_with("attachment"));
    }
}
