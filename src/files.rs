//! The file store: where uploads live on disk and under which names, the
//! upload size and type settings, who may open a file, and removing a file
//! everywhere (its bytes, its vectors and its rows).
//!
//! Uploads are written to `DATA_DIR/uploads/<id>_<name>`; the row keeps the
//! absolute path, as upstream writes it. A file's own chunks live in the
//! collection `file-<id>` (see [`collection_of`]).

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::auth::Caller;
use crate::db::files::{self, FileRow, NewFile};
use crate::db::{access_grants, knowledge, now_secs};
use crate::error::{ApiError, ApiResult};
// Until the access room collects the copies of this lookup.
use crate::access::group_ids;
use crate::state::AppState;

pub fn uploads_dir(state: &AppState) -> PathBuf {
    state.settings.data_dir.join("uploads")
}

/// The vector collection holding a file's own chunks.
pub fn collection_of(file_id: &str) -> String {
    format!("file-{file_id}")
}

/// The last path component of a client-supplied name, without control
/// characters; never `.`/`..`/empty. Storage names can then not escape the
/// uploads folder.
pub fn sanitize_filename(raw: &str) -> String {
    let last = raw
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>();
    let trimmed = last.trim().to_string();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        "file".to_string()
    } else {
        trimmed
    }
}

/// `<id>_<name>`, or `<id>.<ext>` when that is too long for a file system.
pub fn storage_name(id: &str, name: &str) -> String {
    let full = format!("{id}_{name}");
    if full.len() <= 255 {
        return full;
    }
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    if ext.is_empty() {
        id.to_string()
    } else {
        format!("{id}.{ext}")
    }
}

/// Where a file's bytes are: the stored path if it exists, else the same
/// name in our uploads folder (data folders moved from another machine or
/// container store absolute paths of that machine).
pub fn resolve_path(state: &AppState, file: &FileRow) -> Option<PathBuf> {
    let stored = file.path.as_deref().filter(|p| !p.is_empty())?;
    if stored.contains("://") {
        return None;
    }
    let p = PathBuf::from(stored);
    let uploads = uploads_dir(state);
    if p.is_file() && p.starts_with(&uploads) {
        return Some(p);
    }
    let base = p.file_name()?;
    let local = uploads.join(base);
    local.is_file().then_some(local)
}

fn config_int(state: &AppState, key: &str) -> Option<u64> {
    match state.config.get(key) {
        Value::Number(n) => n.as_f64().filter(|v| *v > 0.0).map(|v| v as u64),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0)
            .map(|v| v as u64),
        _ => None,
    }
}

/// `rag.file.max_size` in bytes (the setting is in MB), if set.
pub fn max_file_bytes(state: &AppState) -> Option<u64> {
    config_int(state, "rag.file.max_size").map(|mb| mb * 1024 * 1024)
}

/// The upload size cap: `rag.file.max_size` when set, else
/// [`crate::limits::DEFAULT_UPLOAD_BYTES`].
pub fn upload_cap(state: &AppState) -> u64 {
    max_file_bytes(state).unwrap_or(crate::limits::DEFAULT_UPLOAD_BYTES)
}

/// `rag.file.allowed_extensions`, lower case without dots; empty = any.
pub fn allowed_extensions(state: &AppState) -> Vec<String> {
    match state.config.get("rag.file.allowed_extensions") {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => vec![],
    }
}

/// Upstream's `has_access_to_file` (minus channels, notes and models, which
/// this server does not share files through): owner, admin, or a knowledge
/// base containing the file that the caller may read (write: whose owner
/// also owns the file).
pub async fn can_access_file(
    state: &AppState,
    caller: &Caller,
    file: &FileRow,
    perm: &str,
) -> ApiResult<bool> {
    if file.user_id == caller.id() || caller.is_admin() {
        return Ok(true);
    }
    let groups = group_ids(state, caller.id()).await?;
    let (fid, uid, perm_s, owner) = (
        file.id.clone(),
        caller.id().to_string(),
        perm.to_string(),
        file.user_id.clone(),
    );
    Ok(state
        .db
        .read(move |c| {
            for kb in knowledge::by_file(c, &fid)? {
                let ok = kb.user_id == uid
                    || access_grants::has_access(
                        c,
                        &uid,
                        &groups,
                        knowledge::RESOURCE,
                        &kb.id,
                        &perm_s,
                    )?;
                if ok && (perm_s == "read" || kb.user_id == owner) {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await?)
}

/// Removes a file everywhere: knowledge links and their chunks, its own
/// collection, the row and the stored bytes.
pub async fn delete_file_everywhere(state: &AppState, file: &FileRow) -> ApiResult<()> {
    let fid = file.id.clone();
    let kbs = state.db.read(move |c| knowledge::by_file(c, &fid)).await?;
    for kb in kbs {
        if let Err(e) = state.rag.delete_where(&kb.id, "file_id", &file.id).await {
            tracing::debug!(error = %e, "knowledge chunk cleanup");
        }
    }
    let fid = file.id.clone();
    state.db.write(move |c| files::delete(c, &fid)).await?;
    if let Some(p) = resolve_path(state, file) {
        let _ = tokio::fs::remove_file(p).await;
    }
    if let Err(e) = state.rag.delete_collection(&collection_of(&file.id)).await {
        tracing::debug!(error = %e, "file collection cleanup");
    }
    Ok(())
}

/// Empties the uploads folder (files and sub-folders); what cannot be
/// removed is logged and left.
pub async fn clear_uploads(state: &AppState) {
    let dir = uploads_dir(state);
    if let Ok(mut rd) = tokio::fs::read_dir(&dir).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            let p = e.path();
            let r = if p.is_dir() {
                tokio::fs::remove_dir_all(&p).await
            } else {
                tokio::fs::remove_file(&p).await
            };
            if let Err(e) = r {
                tracing::warn!(path = %p.display(), error = %e, "cannot delete upload");
            }
        }
    }
}

// ------------------------------------------------------------------ uploads

/// The answer to an upload over the size cap.
pub fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "File size exceeds the maximum allowed size of {} MB.",
        max / (1024 * 1024)
    ))
}

/// A stored upload: where it is, its size and its SHA-256 (hex).
pub struct Stored {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// Removes a partly written upload unless [`PartialFile::keep`] is called,
/// also when the request is dropped mid-body (the client went away).
pub struct PartialFile(Option<PathBuf>);

impl PartialFile {
    pub fn keep(mut self) -> PathBuf {
        self.0.take().expect("path is set until kept")
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// An upload being written: its bytes are hashed and counted as they come,
/// and more than `max` bytes are refused. On any error, or if it is dropped
/// unfinished, nothing is left at its path.
pub struct UploadWriter {
    out: tokio::fs::File,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    max: u64,
    /// Last, so the file is closed before it is removed.
    guard: PartialFile,
}

impl UploadWriter {
    pub async fn create(path: &Path, max: u64) -> ApiResult<UploadWriter> {
        let guard = PartialFile(Some(path.to_path_buf()));
        let out = tokio::fs::File::create(path).await.map_err(|e| {
            tracing::error!(error = %e, path = %path.display(), "cannot create upload");
            ApiError::bad_request("Error uploading file")
        })?;
        Ok(UploadWriter {
            out,
            path: path.to_path_buf(),
            hasher: Sha256::new(),
            size: 0,
            max,
            guard,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> ApiResult<()> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(too_large(self.max));
        }
        self.hasher.update(chunk);
        self.out.write_all(chunk).await.map_err(|e| {
            tracing::error!(error = %e, "cannot write upload");
            ApiError::bad_request("Error uploading file")
        })
    }

    /// The written upload, still removed on drop until [`commit_upload`].
    pub async fn finish(mut self) -> (Stored, PartialFile) {
        self.out.flush().await.ok();
        let stored = Stored {
            path: self.path,
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        };
        (stored, self.guard)
    }
}

/// Saves the row of a written upload. The bytes and the row are committed
/// together in a task of their own, so a client leaving now cannot split
/// them; if the row cannot be written, the bytes are removed.
pub async fn commit_upload(
    state: &AppState,
    new: NewFile,
    partial: PartialFile,
) -> ApiResult<FileRow> {
    let path = partial.keep();
    let commit_state = state.clone();
    let row = tokio::spawn(async move {
        let now = now_secs();
        let out = commit_state
            .db
            .write(move |c| files::insert(c, &new, now))
            .await;
        if out.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        out
    })
    .await??;
    Ok(row)
}

/// Saves bytes made by the server (a generated image, a synthesised sound)
/// as a file owned by `user_id`, the way an upload without processing is
/// saved: under the uploads folder, with name, content type, size, hash and
/// the caller's `metadata` in `meta`.
pub async fn store_bytes(
    state: &AppState,
    user_id: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    metadata: Value,
) -> ApiResult<FileRow> {
    let id = crate::db::new_id();
    let name = sanitize_filename(name);
    let path = uploads_dir(state).join(storage_name(&id, &name));
    let mut writer = UploadWriter::create(&path, u64::MAX).await?;
    writer.write(bytes).await?;
    let (stored, guard) = writer.finish().await;
    let abs = std::fs::canonicalize(&stored.path).unwrap_or(stored.path.clone());
    let new = NewFile {
        id,
        user_id: user_id.to_string(),
        filename: name.clone(),
        path: abs.to_string_lossy().into_owned(),
        data: serde_json::json!({}),
        meta: serde_json::json!({
            "name": name,
            "content_type": content_type,
            "size": stored.size,
            "file_hash": stored.sha256,
            "data": metadata,
        }),
    };
    commit_upload(state, new, guard).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_uploads_folder() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("..\\..\\win.ini"), "win.ini");
        assert_eq!(sanitize_filename(".."), "file");
        assert_eq!(sanitize_filename("a/.."), "file");
        assert_eq!(sanitize_filename(""), "file");
        assert_eq!(sanitize_filename("ok\u{0}name.txt"), "okname.txt");
        assert_eq!(sanitize_filename("report (1).pdf"), "report (1).pdf");
    }

    #[test]
    fn long_names_fall_back_to_id_and_extension() {
        let long = format!("{}.pdf", "x".repeat(300));
        assert_eq!(storage_name("abc", &long), "abc.pdf");
        assert_eq!(storage_name("abc", "a.txt"), "abc_a.txt");
    }
}
