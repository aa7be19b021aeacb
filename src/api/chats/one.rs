//! Routes on one chat: read, update, params, messages and their events,
//! delete, pin, archive, unread mark, folder move.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::common::{
    accessible, allowed, error_default, folder_unread_json, load_accessible, optional_object,
    set_message_authors, unauthorized, viewer_response, who, Who, DEFAULT_ERROR,
};
use super::create::{check_chat_fields, ChatForm};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::chat::compaction;
use crate::db::chats::{self, ChatRow};
use crate::db::{chat_messages, folders, now_secs, tags};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(super) async fn get_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let chat_id = id.clone();
    let mut data = state
        .db
        .read(move |c| {
            let Some(chat) = load_accessible(c, &w, &id, false)? else {
                return Ok(None);
            };
            let writable = accessible(c, &w, chat.clone(), true)?.is_some();
            let mut data = viewer_response(c, &chat, Some(&w.id))?;
            data["chat"]["share_mode"] = if writable {
                json!("continue")
            } else {
                Value::Null
            };
            Ok(Some((data, chat)))
        })
        .await?
        .map(|(mut data, row)| {
            data["context_usage"] = json!(compaction::context_usage(&state, &row));
            data
        });
    if let Some(chat) = data.as_mut().and_then(|d| d.get_mut("chat")) {
        crate::chat::live::overlay(&state, &chat_id, chat);
    }
    data.map(Json).ok_or_else(|| unauthorized(NOT_FOUND))
}

pub(super) async fn update_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<ChatForm>,
) -> ApiResult<Json<Value>> {
    check_chat_fields(&form.chat)?;
    let w = who(&state, &caller);
    let out = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get(tx, &id)? else {
                return Err(unauthorized(ACCESS_PROHIBITED));
            };
            let mut incoming = form.chat;
            if chat.user_id != w.id {
                // The owner of a shared folder may rename chats others keep in it, nothing more.
                let folder_ok = match chat.folder_id.as_deref() {
                    Some(fid) => folders::get_for_user(tx, fid, &w.id)?.is_some(),
                    None => false,
                };
                let only_title = incoming.len() == 1 && incoming.contains_key("title");
                if !folder_ok || !only_title || form.variables.is_some() || form.folder_id.is_some()
                {
                    return Err(unauthorized(ACCESS_PROHIBITED));
                }
                match incoming.get("title").and_then(Value::as_str).map(str::trim) {
                    Some(t) if !t.is_empty() => {
                        incoming.insert("title".into(), Value::String(t.to_string()));
                    }
                    _ => return Err(ApiError::bad_request(error_default("Invalid title"))),
                }
            }
            let mut v = Value::Object(incoming);
            set_message_authors(&mut v, &w);
            let incoming = match v {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let touch = incoming.contains_key("history") || incoming.contains_key("messages");
            let Some(row) = chats::update_chat(tx, &id, &incoming, touch, now_secs())? else {
                return Err(unauthorized(ACCESS_PROHIBITED));
            };
            if let Some(vars) = form.variables {
                chats::set_variables(tx, &id, &Value::Object(vars))?;
            }
            let row = chats::get(tx, &id)?.unwrap_or(row);
            if row.user_id != w.id {
                return Ok(viewer_response(tx, &row, Some(&w.id))?);
            }
            Ok(chats::response(&row))
        })
        .await?;
    Ok(Json(out))
}

pub(super) async fn update_params(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let out = state
        .db
        .try_write(move |tx| {
            if chats::get_for_user(tx, &id, &uid)?.is_none() {
                return Err(unauthorized(ACCESS_PROHIBITED));
            }
            chats::update_params(tx, &id, &params)?.ok_or_else(|| ApiError::not_found(NOT_FOUND))
        })
        .await?;
    Ok(Json(out))
}

/// `POST /api/v1/chats/{id}/compact`: summarises the current branch up to
/// its last message now (body `{model?}`), as the chat menu's action does.
pub(super) async fn compact(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let form = optional_object(&body)?;
    let asked = match &form {
        Some(f) => crate::api::form::opt_str_in(f, "model")?,
        None => None,
    };
    let (uid, cid) = (caller.user.id.clone(), id.clone());
    let Some(row) = state
        .db
        .read(move |c| chats::get_for_user(c, &cid, &uid))
        .await?
    else {
        return Err(unauthorized(NOT_FOUND));
    };
    if state.tasks.is_chat_active(&id) {
        return Err(ApiError::Conflict(
            "Wait for the current response to finish before compacting.".into(),
        ));
    }
    let Some(model) = compaction::branch_model(&row, asked.as_deref()) else {
        return Err(ApiError::bad_request(compaction::NO_MODEL));
    };
    let mut result = compaction::compact_branch(&state, &caller, &row, &model).await?;
    let cid = id.clone();
    let row = state
        .db
        .read(move |c| chats::get(c, &cid))
        .await?
        .unwrap_or(row);
    result["context_usage"] = json!(compaction::context_usage(&state, &row));
    Ok(Json(result))
}

/// Owner, or an admin with chat access: who may edit messages and send events.
fn message_editor(chat: &ChatRow, w: &Who) -> bool {
    chat.user_id == w.id || (w.admin && w.admin_chat_access)
}

#[derive(Deserialize)]
pub(super) struct MessageForm {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    voice: Option<Map<String, Value>>,
}

pub(super) async fn update_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<MessageForm>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let (content, voice) = (form.content.clone(), form.voice.clone());
    let (cid, mid) = (id.clone(), message_id.clone());
    let row = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get(tx, &cid)? else {
                return Err(unauthorized(ACCESS_PROHIBITED));
            };
            if !message_editor(&chat, &w) {
                return Err(unauthorized(ACCESS_PROHIBITED));
            }
            let mut updates = Map::new();
            if let Some(c) = &content {
                updates.insert("content".into(), Value::String(c.clone()));
            }
            if let Some(v) = &voice {
                if Value::Object(v.clone()).to_string().len() > 100_000 {
                    return Err(ApiError::bad_request("Voice metadata is too large"));
                }
                let exists = chat
                    .history_messages()
                    .is_some_and(|m| m.contains_key(&mid))
                    || chat_messages::messages_map(tx, &cid)?.is_some_and(|m| m.contains_key(&mid));
                if !exists {
                    return Err(ApiError::not_found(NOT_FOUND));
                }
                updates.insert("meta".into(), json!({"voice": v}));
            }
            if updates.is_empty() {
                return Err(ApiError::bad_request("No message changes supplied"));
            }
            let row = chats::upsert_message_with(
                tx,
                &cid,
                &mid,
                &Value::Object(updates),
                None,
                true,
                now_secs(),
            )?;
            row.ok_or_else(|| unauthorized(ACCESS_PROHIBITED))
        })
        .await?;
    if let Some(io) = state.io() {
        let data = match &form.content {
            Some(c) => {
                json!({"type": "chat:message", "data": {"chat_id": id, "message_id": message_id, "content": c}})
            }
            None => {
                json!({"type": "chat:message:voice", "data": {"chat_id": id, "message_id": message_id, "voice": form.voice}})
            }
        };
        let payload = json!({"chat_id": id, "message_id": message_id, "data": data});
        let _ = io
            .to(crate::events::user_room(&row.user_id))
            .emit("events", &payload)
            .await;
    }
    Ok(Json(chats::response(&row)))
}

pub(super) async fn delete_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let row = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get(tx, &id)? else {
                return Ok(None);
            };
            if !message_editor(&chat, &w) {
                return Ok(None);
            }
            chats::delete_message(tx, &id, &message_id, now_secs())
        })
        .await?;
    row.map(|r| Json(chats::response(&r)))
        .ok_or_else(|| unauthorized(ACCESS_PROHIBITED))
}

#[derive(Deserialize)]
pub(super) struct EventForm {
    #[serde(rename = "type")]
    kind: String,
    data: Map<String, Value>,
}

/// Relays an event about a message to the chat owner's tabs.
pub(super) async fn message_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<EventForm>,
) -> ApiResult<Json<bool>> {
    let w = who(&state, &caller);
    let cid = id.clone();
    let chat = state.db.read(move |c| chats::get(c, &cid)).await?;
    let Some(chat) = chat.filter(|c| message_editor(c, &w)) else {
        return Err(unauthorized(ACCESS_PROHIBITED));
    };
    let Some(io) = state.io() else {
        return Ok(Json(false));
    };
    crate::chat::persist::save_event(
        &state,
        &id,
        &message_id,
        &form.kind,
        Value::Object(form.data.clone()),
    )
    .await?;
    let payload = json!({"chat_id": id, "message_id": message_id, "data": {"type": form.kind, "data": form.data}});
    let sent = io
        .to(crate::events::user_room(&chat.user_id))
        .emit("events", &payload)
        .await
        .is_ok();
    Ok(Json(sent))
}

pub(super) async fn delete_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let w = who(&state, &caller);
    if !w.admin && !allowed(&state, &caller, "chat.delete").await? {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let (w2, id2) = (w.clone(), id.clone());
    let chat = state
        .db
        .read(move |c| {
            Ok(chats::get(c, &id2)?
                .filter(|chat| chat.user_id == w2.id || (w2.admin && w2.admin_chat_access)))
        })
        .await?;
    let Some(chat) = chat else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    // Stop generations first so nothing writes into the chat once it is gone.
    state.tasks.cancel_chat(&id);
    let children = state
        .db
        .write(move |tx| {
            chats::delete_orphan_tags(tx, &chat.tag_ids(), &chat.user_id, 1)?;
            let children = chats::internal_children(tx, &id, &chat.user_id)?;
            for child in &children {
                chats::delete(tx, child)?;
            }
            chats::delete(tx, &id)?;
            Ok(children)
        })
        .await?;
    for child in children {
        state.tasks.cancel_chat(&child);
    }
    Ok(Json(true))
}

pub(super) async fn pinned_status(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    let chat = state
        .db
        .read(move |c| chats::get_for_user(c, &id, &uid))
        .await?;
    chat.map(|c| Json(c.pinned))
        .ok_or_else(|| unauthorized(DEFAULT_ERROR))
}

pub(super) async fn toggle_pin(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let row = state
        .db
        .write(move |tx| {
            if chats::get_for_user(tx, &id, &uid)?.is_none() {
                return Ok(None);
            }
            chats::toggle_pinned(tx, &id, now_secs())
        })
        .await?;
    row.map(|r| Json(chats::response(&r)))
        .ok_or_else(|| unauthorized(DEFAULT_ERROR))
}

pub(super) async fn toggle_archive(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let cid = id.clone();
    let row = state
        .db
        .write(move |tx| {
            if chats::get_for_user(tx, &cid, &uid)?.is_none() {
                return Ok(None);
            }
            let row = chats::toggle_archived(tx, &cid, now_secs())?;
            if let Some(r) = row.as_ref().filter(|r| !r.archived) {
                tags::ensure_exist(tx, &r.tag_ids(), &uid)?;
            }
            Ok(row)
        })
        .await?;
    let Some(row) = row else {
        return Err(unauthorized(DEFAULT_ERROR));
    };
    if row.archived {
        state.tasks.cancel_chat(&id);
    }
    Ok(Json(chats::response(&row)))
}

pub(super) async fn mark_unread(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let out = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Ok(None);
            };
            chats::set_last_read_at(tx, &id, &uid, 0)?;
            Ok(Some(json!({
                "chat_id": id,
                "last_read_at": 0,
                "folder_id": chat.folder_id,
                "folder_unread_counts": folder_unread_json(tx, &uid)?,
            })))
        })
        .await?;
    out.map(Json).ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

#[derive(Deserialize)]
pub(super) struct FolderIdForm {
    #[serde(default)]
    folder_id: Option<String>,
}

pub(super) async fn move_to_folder(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<FolderIdForm>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let out = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get(tx, &id)? else {
                return Err(unauthorized(DEFAULT_ERROR));
            };
            let target = form.folder_id.as_deref();
            if chat.user_id != w.id
                && !folders::has_chat_move_access(tx, &w.id, chat.folder_id.as_deref(), target)?
            {
                return Err(unauthorized(DEFAULT_ERROR));
            }
            if let Some(fid) = target {
                if !folders::has_write_access(tx, &w.id, fid)? {
                    return Err(ApiError::not_found(NOT_FOUND));
                }
            }
            let Some(row) = chats::set_folder(tx, &id, &w.id, target, now_secs())? else {
                return Err(unauthorized(DEFAULT_ERROR));
            };
            if row.user_id != w.id {
                return Ok(viewer_response(tx, &row, Some(&w.id))?);
            }
            Ok(chats::response(&row))
        })
        .await?;
    Ok(Json(out))
}
