//! Notes rules shared by the HTTP routes (src/api/notes.rs) and the live
//! editing socket (src/socket/notes.rs): who may read or write a note, and
//! which files an editor may attach.

use std::collections::HashSet;

use serde_json::Value;

use crate::access;
use crate::db::notes::{self, NoteRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The generic refusal the notes routes answer with (as the chat routes do).
const DEFAULT_ERROR: &str = crate::error::messages::DEFAULT;

/// The socket room of a note's live editors and viewers.
pub fn room(note_id: &str) -> String {
    format!("note:{note_id}")
}

/// Whether the user may `permission` ("read"/"write") the note: admins and
/// the owner always, others through a grant.
pub fn may(
    c: &rusqlite::Connection,
    user_id: &str,
    admin: bool,
    note: &NoteRow,
    permission: &str,
) -> rusqlite::Result<bool> {
    access::stored_allows(
        c,
        user_id,
        admin,
        &note.user_id,
        notes::RESOURCE,
        &note.id,
        permission,
    )
}

/// Newly attached files must be the editor's own (admins may attach any).
/// Files that are already on the note may stay whoever uploaded them.
pub async fn check_files(
    state: &AppState,
    user_id: &str,
    admin: bool,
    note: &NoteRow,
    files: &Value,
) -> ApiResult<()> {
    let ids_of = |v: Option<&Value>| -> HashSet<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|f| f.get("type").and_then(Value::as_str) == Some("file"))
                    .filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if !files.is_array() && !files.is_null() {
        return Err(ApiError::forbidden(DEFAULT_ERROR));
    }
    let added: Vec<String> = ids_of(Some(files))
        .difference(&ids_of(note.data.get("files")))
        .cloned()
        .collect();
    if added.is_empty() || admin {
        return Ok(());
    }
    let uid = user_id.to_string();
    let ok = state
        .db
        .read(move |c| {
            for f in &added {
                if !notes::owns_file(c, f, &uid)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await?;
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(DEFAULT_ERROR))
    }
}
