//! Account lifecycle that spans the database and the data folder.

use std::path::{Path, PathBuf};

use crate::db;
use crate::state::AppState;

/// Deletes a user and everything that was theirs alone: the rows upstream
/// removes (group memberships, chats, the user and auth rows, API keys) and
/// the private data it leaves behind (files and their bytes, memories, notes,
/// knowledge bases, folders, tags, feedback, automations, calendars), with
/// their vectors and BM25 entries. One transaction for the rows; the bytes and
/// the index entries go after it commits (an index entry without a row is never
/// served, and `reindex`/start-up repair drops it).
///
/// Returns false when there was no such user.
pub async fn delete_user(state: &AppState, user_id: &str) -> anyhow::Result<bool> {
    let id = user_id.to_string();
    let now = db::now_secs();
    let (deleted, leftovers) = state
        .db
        .write(move |tx| {
            let leftovers = db::users::delete_owned_content(tx, &id)?;
            db::groups::remove_user_everywhere(tx, &id, now)?;
            db::chats::delete_all_for_user(tx, &id)?;
            let deleted = db::users::delete_rows(tx, &id)?;
            Ok((deleted, leftovers))
        })
        .await?;
    if !deleted {
        return Ok(false);
    }
    let uploads = crate::files::uploads_dir(state);
    for stored in &leftovers.file_paths {
        if let Some(p) = inside(&uploads, stored) {
            if let Err(e) = tokio::fs::remove_file(&p).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove a deleted user's file");
                }
            }
        }
    }
    let mut collections: Vec<String> = leftovers
        .file_ids
        .iter()
        .map(|f| crate::files::collection_of(f))
        .collect();
    collections.extend(leftovers.knowledge_ids.iter().cloned());
    collections.push(crate::rag::memories::collection(user_id));
    for c in &collections {
        if let Err(e) = state.rag.delete_collection(c).await {
            tracing::debug!(collection = %c, error = %e, "vector cleanup");
        }
    }
    for (kb, file) in &leftovers.foreign_knowledge_links {
        if let Err(e) = state.rag.delete_where(kb, "file_id", file).await {
            tracing::debug!(knowledge = %kb, error = %e, "knowledge chunk cleanup");
        }
    }
    Ok(true)
}

/// The stored path of an upload, only if it lies inside the uploads folder
/// (a path from an old or edited row must never point the server elsewhere).
fn inside(uploads: &Path, stored: &str) -> Option<PathBuf> {
    if stored.is_empty() || stored.contains("://") {
        return None;
    }
    let p = PathBuf::from(stored);
    let candidate = if p.starts_with(uploads) {
        p
    } else {
        uploads.join(p.file_name()?)
    };
    let real = candidate.canonicalize().ok()?;
    let base = uploads.canonicalize().ok()?;
    real.starts_with(&base).then_some(real)
}
