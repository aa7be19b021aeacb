//! Creating chats and importing them (also what clones go through).

use axum::extract::State;
use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::common::{require_creation, require_import, set_message_authors, who, Who};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::chat::history;
use crate::db::chats::{self, ChatRow, NewChat};
use crate::db::{self, folders, now_secs, tags};
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct ChatForm {
    pub(super) chat: Map<String, Value>,
    #[serde(default)]
    pub(super) variables: Option<Map<String, Value>>,
    #[serde(default)]
    pub(super) folder_id: Option<String>,
}

/// Refuses a chat whose title or tag names are longer than the limits.
pub(super) fn check_chat_fields(chat: &Map<String, Value>) -> ApiResult<()> {
    if let Some(t) = chat.get("title").and_then(Value::as_str) {
        crate::limits::check_title("title", t)?;
    }
    for tag in chat
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        crate::limits::check_name("tags", tag)?;
    }
    Ok(())
}

pub(super) async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ChatForm>,
) -> ApiResult<Json<Value>> {
    require_creation(&state, &caller).await?;
    check_chat_fields(&form.chat)?;
    let w = who(&state, &caller);
    let row = state
        .db
        .write(move |tx| {
            if let Some(fid) = form.folder_id.as_deref() {
                if !folders::has_write_access(tx, &w.id, fid)? {
                    return Ok(None);
                }
            }
            let mut chat = Value::Object(form.chat);
            set_message_authors(&mut chat, &w);
            let n = NewChat {
                id: db::new_id(),
                user_id: w.id.clone(),
                chat,
                folder_id: form.folder_id,
                meta: json!({}),
                variables: form.variables.map(Value::Object).unwrap_or(json!({})),
                ..Default::default()
            };
            chats::insert(tx, &n, now_secs()).map(Some)
        })
        .await?;
    match row {
        Some(r) => Ok(Json(chats::response(&r))),
        None => Err(ApiError::not_found(NOT_FOUND)),
    }
}

#[derive(Deserialize)]
pub(super) struct ImportForm {
    pub(super) chat: Map<String, Value>,
    #[serde(default)]
    pub(super) variables: Option<Map<String, Value>>,
    #[serde(default)]
    pub(super) folder_id: Option<String>,
    #[serde(default)]
    pub(super) meta: Option<Map<String, Value>>,
    #[serde(default)]
    pub(super) pinned: Option<bool>,
    #[serde(default)]
    pub(super) archived: Option<bool>,
    #[serde(default)]
    pub(super) current_message_id: Option<String>,
    #[serde(default)]
    pub(super) created_at: Option<i64>,
    #[serde(default)]
    pub(super) updated_at: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct ImportBody {
    chats: Vec<ImportForm>,
}

/// Inserts imported chats for `w`: folders the caller cannot write are
/// dropped, every message gets an author, tag rows are created.
pub(super) fn import_rows(
    c: &Connection,
    w: &Who,
    forms: Vec<ImportForm>,
    now: i64,
) -> rusqlite::Result<Vec<ChatRow>> {
    let mut out = Vec::new();
    let mut tag_ids: Vec<String> = Vec::new();
    for f in forms {
        let folder_id = match f.folder_id {
            Some(fid) if folders::has_write_access(c, &w.id, &fid)? => Some(fid),
            _ => None,
        };
        let mut chat = Value::Object(f.chat);
        history::fill_message_authors(&mut chat, &w.id);
        let meta = f.meta.map(Value::Object).unwrap_or(json!({}));
        for t in meta
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = t.as_str() {
                if !tag_ids.iter().any(|x| x == t) {
                    tag_ids.push(t.to_string());
                }
            }
        }
        let n = NewChat {
            id: db::new_id(),
            user_id: w.id.clone(),
            chat,
            folder_id,
            meta,
            variables: f.variables.map(Value::Object).unwrap_or(json!({})),
            pinned: f.pinned.unwrap_or(false),
            archived: f.archived.unwrap_or(false),
            current_message_id: f.current_message_id.filter(|s| !s.is_empty()),
            created_at: f.created_at,
            updated_at: f.updated_at,
        };
        out.push(chats::insert(c, &n, now)?);
    }
    tags::ensure_exist(c, &tag_ids, &w.id)?;
    Ok(out)
}

pub(super) async fn import(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<ImportBody>,
) -> ApiResult<Json<Vec<Value>>> {
    require_import(&state, &caller).await?;
    require_creation(&state, &caller).await?;
    for f in &body.chats {
        check_chat_fields(&f.chat)?;
    }
    let w = who(&state, &caller);
    let rows = state
        .db
        .write(move |tx| {
            let mut forms = body.chats;
            for f in &mut forms {
                let mut chat = Value::Object(std::mem::take(&mut f.chat));
                set_message_authors(&mut chat, &w);
                f.chat = match chat {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
            }
            import_rows(tx, &w, forms, now_secs())
        })
        .await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}
