//! Turning uploads into searchable chunks.
//!
//! An upload is processed in the background: `data.status` goes
//! `pending → processing → completed | failed` (with `data.error`), the
//! extracted text is kept in `data.content` and its chunks land in the
//! collection `file-<id>` (and in a knowledge base's collection when the
//! upload named one in `meta.data.knowledge_id`). At most two files are
//! processed at once; files left unfinished by a restart are resumed at
//! start-up by [`resume_pending`].

use std::time::Duration;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::extract;
use super::{ChunkIn, ChunkOpts};
use crate::auth::Caller;
use crate::db::files::{self, FileRow};
use crate::db::{access_grants, knowledge, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Files processed at the same time (extraction and embedding are CPU-heavy).
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Upper bound for one file's whole processing (extraction + embedding).
const FILE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub const DUPLICATE: &str = "Duplicate content detected. Please provide unique content to proceed.";
pub const EMPTY: &str = "The content provided is empty. Please ensure that there is text or data present before proceeding.";

/// What to index, as upstream's `ProcessFileForm`.
#[derive(Debug, Clone, Default)]
pub struct IndexOpts {
    /// New text for the file (an edit); replaces `data.content`.
    pub content: Option<String>,
    /// Target collection (a knowledge base id); default `file-<id>`.
    pub collection: Option<String>,
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn set_data(state: &AppState, id: &str, patch: Value) {
    let Value::Object(patch) = patch else { return };
    let id = id.to_string();
    let now = now_secs();
    if let Err(e) = state
        .db
        .write(move |c| files::merge_data(c, &id, &patch, now))
        .await
    {
        tracing::error!(error = %e, "cannot update file state");
    }
}

async fn load(state: &AppState, id: &str) -> anyhow::Result<Option<FileRow>> {
    let id = id.to_string();
    state.db.read(move |c| files::get(c, &id)).await
}

/// Text of a file: the stored extraction if there is one, else a fresh one.
async fn file_text(state: &AppState, file: &FileRow) -> Result<String, String> {
    if !file.content().trim().is_empty() {
        return Ok(file.content().to_string());
    }
    extract_fresh(state, file).await
}

/// A fresh extraction from the file's original bytes.
async fn extract_fresh(state: &AppState, file: &FileRow) -> Result<String, String> {
    let Some(path) = crate::files::resolve_path(state, file) else {
        return Err("The uploaded file is missing from storage.".into());
    };
    extract::extract_file(
        &state.settings.extract,
        path,
        file.name().to_string(),
        file.content_type().map(str::to_string),
    )
    .await
    .map_err(|e| e.0)
}

/// Indexes a file into a knowledge base's collection (without linking it).
pub async fn index_into(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    file: &FileRow,
) -> Result<(), String> {
    index_file(
        state,
        caller,
        file,
        IndexOpts {
            collection: Some(kb_id.to_string()),
            ..Default::default()
        },
    )
    .await
}

/// Upstream's `process_file`: (re)indexes one file into `file-<id>` or, with
/// `opts.collection`, into a knowledge base. Saves the text and its hash on
/// the file row.
pub async fn index_file(
    state: &AppState,
    caller: &Caller,
    file: &FileRow,
    opts: IndexOpts,
) -> Result<(), String> {
    let file_collection = crate::files::collection_of(&file.id);
    let text = match &opts.content {
        Some(t) => t.clone(),
        None if opts.collection.is_some() => file_text(state, file).await?,
        None => extract_fresh(state, file).await?,
    };
    if text.trim().is_empty() {
        return Err(EMPTY.into());
    }
    let hash = sha256_hex(&text);
    let target = opts.collection.clone().unwrap_or(file_collection.clone());
    let bypass = state.config.get_bool("rag.bypass_embedding_and_retrieval");

    if !bypass {
        if opts.collection.is_some() {
            // A knowledge base holds each text once.
            let docs = state.rag.documents(&target).await.unwrap_or_default();
            let dup = docs.iter().any(|d| {
                d.metadata.get("hash").and_then(Value::as_str) == Some(hash.as_str())
                    && d.metadata.get("file_id").and_then(Value::as_str) != Some(file.id.as_str())
            });
            if dup {
                return Err(DUPLICATE.into());
            }
            state
                .rag
                .delete_where(&target, "file_id", &file.id)
                .await
                .map_err(internal)?;
        } else {
            state
                .rag
                .delete_collection(&target)
                .await
                .map_err(internal)?;
        }
        let chunks = chunks_for(state, caller, file, &text, &hash);
        if chunks.is_empty() {
            return Err(EMPTY.into());
        }
        state
            .rag
            .add(state, &target, chunks)
            .await
            .map_err(internal)?;
    }

    if opts.collection.is_none() || opts.content.is_some() || file.content().is_empty() {
        let id = file.id.clone();
        let now = now_secs();
        let mut patch = Map::new();
        patch.insert("content".into(), json!(text));
        let hash2 = hash.clone();
        state
            .db
            .write(move |c| {
                files::merge_data(c, &id, &patch, now)?;
                files::set_hash(c, &id, Some(&hash2), now)
            })
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// Saves and indexes an edited text of a file, then indexes it again into
/// every knowledge base holding the file. Returns the updated file.
pub async fn apply_edit(
    state: &AppState,
    caller: &Caller,
    file: &FileRow,
    content: String,
) -> ApiResult<FileRow> {
    if let Err(e) = index_file(
        state,
        caller,
        file,
        IndexOpts {
            content: Some(content),
            ..Default::default()
        },
    )
    .await
    {
        tracing::error!(error = %e, file = %file.id, "re-indexing edited text failed");
        return Err(ApiError::Internal(anyhow::anyhow!(
            "Failed to process indexed text. Your changes were not fully indexed."
        )));
    }
    let fid = file.id.clone();
    let kbs = state.db.read(move |c| knowledge::by_file(c, &fid)).await?;
    let file = load(state, &file.id).await?.unwrap_or_else(|| file.clone());
    let mut failed = false;
    for kb in kbs {
        let r = index_into(state, caller, &kb.id, &file).await;
        if let Err(e) = r {
            tracing::warn!(error = %e, knowledge = %kb.id, "knowledge re-index after edit failed");
            failed = true;
        }
    }
    if failed {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "Indexed text was saved, but some knowledge collections could not be reindexed."
        )));
    }
    Ok(file)
}

/// Indexes a file on request (upstream's `/retrieval/process/file`) and
/// records the outcome in its `data.status` / `data.error`. An indexing
/// failure is a 400 with its message; the file is returned as updated.
pub async fn process_file(
    state: &AppState,
    caller: &Caller,
    file: &FileRow,
    opts: IndexOpts,
) -> ApiResult<Option<FileRow>> {
    if let Err(e) = index_file(state, caller, file, opts).await {
        set_data(state, &file.id, json!({"status": "failed", "error": e})).await;
        return Err(ApiError::bad_request(e));
    }
    let fid = file.id.clone();
    let now = now_secs();
    let mut patch = Map::new();
    patch.insert("status".into(), json!("completed"));
    patch.insert("error".into(), Value::Null);
    Ok(state
        .db
        .write(move |c| {
            files::merge_data(c, &fid, &patch, now)?;
            files::get(c, &fid)
        })
        .await?)
}

/// Chunks and stores a text under `collection` (replacing the collection
/// when `overwrite`); `base` is every chunk's metadata. Returns how many
/// chunks were stored.
pub async fn index_text(
    state: &AppState,
    collection: &str,
    text: &str,
    base: Map<String, Value>,
    overwrite: bool,
) -> ApiResult<usize> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(EMPTY));
    }
    if overwrite {
        state.rag.delete_collection(collection).await?;
    }
    let opts = ChunkOpts::from_config(state);
    let chunks: Vec<ChunkIn> = super::chunk_detailed(text, &opts)
        .into_iter()
        .map(|c| {
            let mut m = base.clone();
            m.insert("start_index".into(), json!(c.start_index));
            for (k, v) in c.headers {
                m.insert(k, v);
            }
            ChunkIn {
                text: c.text,
                metadata: m,
            }
        })
        .collect();
    Ok(state.rag.add(state, collection, chunks).await?)
}

fn internal(e: impl std::fmt::Display) -> String {
    let msg = e.to_string();
    tracing::warn!(error = %msg, "indexing failed");
    msg
}

fn chunks_for(
    state: &AppState,
    caller: &Caller,
    file: &FileRow,
    text: &str,
    hash: &str,
) -> Vec<ChunkIn> {
    let opts = ChunkOpts::from_config(state);
    let engine = state.config.get_str("rag.embedding_engine");
    let model = state.config.get_str("rag.embedding_model");
    super::chunk_detailed(text, &opts)
        .into_iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("file_id".into(), json!(file.id));
            m.insert("name".into(), json!(file.name()));
            m.insert("source".into(), json!(file.name()));
            m.insert("created_by".into(), json!(caller.id()));
            m.insert("hash".into(), json!(hash));
            m.insert("start_index".into(), json!(c.start_index));
            for (k, v) in c.headers {
                m.insert(k, v);
            }
            m.insert(
                "embedding_config".into(),
                json!({"engine": engine, "model": model}),
            );
            ChunkIn {
                text: c.text,
                metadata: m,
            }
        })
        .collect()
}

/// The whole upload pipeline for one file; never fails, the outcome is in
/// the row's `data.status`.
pub async fn process_upload(state: &AppState, caller: &Caller, file_id: &str) {
    let _slot = SLOTS.acquire().await;
    set_data(state, file_id, json!({"status": "processing"})).await;
    let outcome = match tokio::time::timeout(FILE_TIMEOUT, run_upload(state, caller, file_id)).await
    {
        Ok(r) => r,
        Err(_) => Err("Processing took too long and was abandoned.".to_string()),
    };
    match outcome {
        Ok(()) => {
            set_data(
                state,
                file_id,
                json!({"status": "completed", "error": null}),
            )
            .await
        }
        Err(msg) => {
            tracing::warn!(file = file_id, error = %msg, "file processing failed");
            set_data(state, file_id, json!({"status": "failed", "error": msg})).await
        }
    }
}

async fn run_upload(state: &AppState, caller: &Caller, file_id: &str) -> Result<(), String> {
    let file = load(state, file_id)
        .await
        .map_err(internal)?
        .ok_or("The file no longer exists.")?;
    let ct = file.content_type().unwrap_or("");
    let looks_media =
        ct.starts_with("image/") || ct.starts_with("video/") || ct.starts_with("audio/");
    if looks_media {
        let textual = match crate::files::resolve_path(state, &file) {
            Some(p) => tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut head = vec![0u8; 8192];
                let n = std::fs::File::open(p)
                    .and_then(|mut f| f.read(&mut head))
                    .unwrap_or(0);
                extract::looks_textual(&head[..n])
            })
            .await
            .unwrap_or(false),
            None => false,
        };
        if !textual {
            if ct.starts_with("video/") {
                // Stored as-is for multimodal use; nothing to index.
                return Ok(());
            }
            return Err(format!("File type {ct} is not supported for processing"));
        }
    }
    index_file(state, caller, &file, IndexOpts::default()).await?;

    // An upload made from a knowledge base joins it once processed.
    let meta_data = file.meta.get("data").cloned().unwrap_or(Value::Null);
    if let Some(kid) = meta_data.get("knowledge_id").and_then(Value::as_str) {
        let kid = kid.to_string();
        let dir = meta_data
            .get("directory_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let uid = caller.id().to_string();
        let admin = caller.is_admin();
        let k2 = kid.clone();
        let (kb, may_write, dir_ok) = state
            .db
            .read(move |c| {
                let kb = knowledge::get(c, &k2)?;
                let Some(kb) = kb else {
                    return Ok((None, false, false));
                };
                let groups = access_grants::group_ids_of(c, &uid)?;
                let w = admin
                    || kb.user_id == uid
                    || access_grants::has_access(
                        c,
                        &uid,
                        &groups,
                        knowledge::RESOURCE,
                        &kb.id,
                        "write",
                    )?;
                let dir_ok = match &dir {
                    Some(d) => knowledge::directory(c, d)?.is_some_and(|d| d.knowledge_id == kb.id),
                    None => true,
                };
                Ok((Some(kb), w, dir_ok))
            })
            .await
            .map_err(internal)?;
        match kb {
            Some(kb) if may_write => {
                let file = load(state, file_id)
                    .await
                    .map_err(internal)?
                    .ok_or("The file no longer exists.")?;
                index_into(state, caller, &kb.id, &file).await?;
                let dir = if dir_ok {
                    meta_data
                        .get("directory_id")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                } else {
                    None
                };
                let (fid, uid) = (file.id.clone(), caller.id().to_string());
                let now = now_secs();
                state
                    .db
                    .write(move |c| knowledge::add_file(c, &kb.id, &fid, &uid, dir.as_deref(), now))
                    .await
                    .map_err(internal)?;
            }
            Some(_) => {
                tracing::warn!(file = file_id, knowledge = %kid, "upload names a knowledge base the user cannot write; not linked");
            }
            None => {}
        }
    }
    Ok(())
}

/// The user to act as for a row they own: its owner, else the first admin
/// (`None` when there is neither).
pub(crate) async fn caller_for(state: &AppState, user_id: &str) -> Option<Caller> {
    let uid = user_id.to_string();
    let user = match state
        .db
        .read(move |c| crate::db::users::get(c, &uid))
        .await
        .ok()
        .flatten()
    {
        Some(u) => u,
        None => state
            .db
            .read(crate::db::users::first_admin)
            .await
            .ok()
            .flatten()?,
    };
    Some(Caller {
        user,
        via_api_key: false,
        claims: None,
        token: String::new(),
    })
}

/// Processes a file in the background.
pub fn spawn(state: AppState, caller: Caller, file_id: String) {
    tokio::spawn(async move {
        process_upload(&state, &caller, &file_id).await;
    });
}

/// Picks up files left `pending` or `processing` by a previous run. The
/// owner's account is used as the caller (for `created_by`).
pub fn resume_pending(state: AppState) {
    tokio::spawn(async move {
        let ids = match state.db.read(files::unfinished_ids).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot list unfinished uploads");
                return;
            }
        };
        if ids.is_empty() {
            return;
        }
        tracing::info!(count = ids.len(), "resuming unfinished file processing");
        for id in ids {
            let Ok(Some(file)) = load(&state, &id).await else {
                continue;
            };
            let uid = file.user_id.clone();
            let user = match state.db.read(move |c| crate::db::users::get(c, &uid)).await {
                Ok(Some(u)) => u,
                _ => {
                    set_data(
                        &state,
                        &id,
                        json!({"status": "failed", "error": "The file's owner no longer exists."}),
                    )
                    .await;
                    continue;
                }
            };
            let caller = Caller {
                user,
                via_api_key: false,
                claims: None,
                token: String::new(),
            };
            spawn(state.clone(), caller, id);
        }
    });
}
