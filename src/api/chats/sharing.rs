//! Sharing a chat: share links and snapshots, reading a share, share access grants.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{
    accessible, allowed, load_accessible, optional_object, unauthorized, viewer_response, who,
    Params, Who,
};
use crate::access::{self, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::{OptionalUser, VerifiedUser};
use crate::api::form::{order_param, query_page};
use crate::auth::Caller;
use crate::db::chats::{self, ChatRow, PAGE_SIZE};
use crate::db::{self, access_grants, now_secs, shared_chats};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const INVALID_TOKEN: &str =
    "Your session has expired or the token is invalid. Please sign in again.";

/// The snapshot of a share, shaped like a chat row (id = share token).
pub(super) fn snapshot_row(s: &shared_chats::SharedChatRow) -> ChatRow {
    ChatRow {
        id: s.id.clone(),
        user_id: s.user_id.clone(),
        title: s.title.clone(),
        chat: s.chat.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
        share_id: Some(s.id.clone()),
        archived: false,
        pinned: false,
        meta: json!({}),
        folder_id: None,
        last_read_at: None,
        current_message_id: None,
        tasks: None,
        summary: None,
        variables: json!({}),
        timer_at: None,
    }
}

pub(super) enum ShareView {
    Found(Value),
    Denied(&'static str),
}

/// `GET /api/v1/chats/share/{share_id}`: open (`anyone`) shares, the owner,
/// admins with chat access and grantees read it; a live (`continue`) share
/// shows the chat as it is now to those who may continue it.
pub(super) fn read_share(
    c: &Connection,
    w: Option<&Who>,
    share_id: &str,
) -> rusqlite::Result<ShareView> {
    if let Some(shared) = shared_chats::get(c, share_id)? {
        let can_read = match w {
            None => false,
            Some(w) => {
                (w.admin && w.admin_chat_access)
                    || shared.user_id == w.id
                    || shared_chats::user_has_grant(
                        c,
                        &w.id,
                        "shared_chat",
                        &shared.chat_id,
                        "read",
                    )?
            }
        };
        if shared_chats::has_anyone_grant(c, "shared_chat", &shared.chat_id, "read")? || can_read {
            let live = match w {
                Some(w) if shared.share_mode() == Some("continue") => {
                    load_accessible(c, w, &shared.chat_id, true)?.is_some()
                }
                _ => false,
            };
            let row = if live {
                chats::get(c, &shared.chat_id)?
            } else {
                Some(snapshot_row(&shared))
            };
            if let Some(row) = row {
                let mut data = viewer_response(c, &row, w.map(|w| w.id.as_str()))?;
                data["chat"]["share_mode"] = if live { json!("continue") } else { Value::Null };
                return Ok(ShareView::Found(data));
            }
        }
        return Ok(ShareView::Denied(if w.is_some() {
            ACCESS_PROHIBITED
        } else {
            INVALID_TOKEN
        }));
    }
    if let Some(w) = w.filter(|w| w.admin && w.admin_chat_access) {
        if let Some(row) = chats::get(c, share_id)? {
            let writable = accessible(c, w, row.clone(), true)?.is_some();
            let mut data = viewer_response(c, &row, Some(&w.id))?;
            data["chat"]["share_mode"] = if writable {
                json!("continue")
            } else {
                Value::Null
            };
            return Ok(ShareView::Found(data));
        }
    }
    Ok(ShareView::Denied(NOT_FOUND))
}

fn verified(state: &AppState, caller: Option<Caller>) -> Option<Who> {
    caller
        .filter(|c| c.user.role == "user" || c.user.role == "admin")
        .map(|c| who(state, &c))
}

pub(super) async fn get_shared(
    State(state): State<AppState>,
    OptionalUser(caller): OptionalUser,
    Path(share_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = verified(&state, caller);
    match state
        .db
        .read(move |c| read_share(c, w.as_ref(), &share_id))
        .await?
    {
        ShareView::Found(v) => Ok(Json(v)),
        ShareView::Denied(msg) => Err(unauthorized(msg)),
    }
}

pub(super) async fn share(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if !allowed(&state, &caller, "chat.share").await? {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let form = optional_object(&body)?;
    let mode: Option<Value> = match form.as_ref().and_then(|f| f.get("share_mode")) {
        None => None,
        Some(Value::Null) => Some(Value::Null),
        Some(Value::String(s)) if s == "continue" => Some(json!("continue")),
        Some(_) => {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", "share_mode"], "msg": "Input should be 'continue'", "type": "literal_error"
            }])))
        }
    };
    let uid = caller.user.id.clone();
    let row = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Ok(None);
            };
            let now = now_secs();
            if let Some(sid) = chat.share_id.as_deref() {
                if shared_chats::refresh(tx, sid, mode.clone(), now)?.is_some() {
                    return chats::get(tx, &id);
                }
            }
            let sid = db::new_id();
            let m = mode.as_ref().and_then(Value::as_str);
            if shared_chats::create(tx, &sid, &id, &uid, m, now)?.is_none() {
                return Ok(None);
            }
            chats::set_share_id(tx, &id, Some(&sid))?;
            chats::get(tx, &id)
        })
        .await?;
    match row {
        Some(r) => Ok(Json(chats::response(&r))),
        None => Err(unauthorized(ACCESS_PROHIBITED)),
    }
}

pub(super) async fn unshare(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    let ok = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Ok(false);
            };
            shared_chats::delete_by_chat_id(tx, &id)?;
            if chat.share_id.is_some() {
                chats::set_share_id(tx, &id, None)?;
            }
            access_grants::delete_for(tx, "shared_chat", std::slice::from_ref(&id))?;
            Ok(true)
        })
        .await?;
    if !ok {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    Ok(Json(true))
}

/// Columns the shared-chats list can be ordered by.
const SHARED_ORDERABLE: &[&str] = &[
    "id",
    "chat_id",
    "user_id",
    "title",
    "created_at",
    "updated_at",
];

pub(super) async fn shared_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let page = query_page(&q)?.unwrap_or(1);
    let order = order_param(&q, SHARED_ORDERABLE)?;
    let query = q.get("query").cloned();
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            shared_chats::list_by_user(
                c,
                &uid,
                query.as_deref(),
                order.as_ref().map(|(c, a)| (c.as_str(), *a)),
                (page - 1) * PAGE_SIZE,
                PAGE_SIZE,
            )
        })
        .await?;
    Ok(Json(rows))
}

/// Chats an admin may manage the sharing of: their own, or any with admin chat access.
fn managed_chat(c: &Connection, w: &Who, id: &str) -> rusqlite::Result<Option<ChatRow>> {
    if w.admin && w.admin_chat_access {
        chats::get(c, id)
    } else {
        chats::get_for_user(c, id, &w.id)
    }
}

/// Body of the share-access updates of chats and folders.
#[derive(Deserialize)]
pub(crate) struct AccessForm {
    pub access_grants: Vec<Value>,
    #[serde(default, deserialize_with = "present")]
    pub share_mode: Option<Value>,
}

/// `Some(value)` whenever the key is present, null included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

pub(super) async fn update_share_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    let mode = match &form.share_mode {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s == "continue" => Some(Some("continue".to_string())),
        Some(_) => {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", "share_mode"], "msg": "Input should be 'continue'", "type": "literal_error"
            }])))
        }
    };
    let w = who(&state, &caller);
    let (w2, id2) = (w.clone(), id.clone());
    if state
        .db
        .read(move |c| managed_chat(c, &w2, &id2))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    let requested = Value::Array(form.access_grants);
    let grants = access::validated_grants(&state, &caller, Kind::SharedChat, &requested).await?;
    let row = state
        .db
        .try_write(move |tx| -> ApiResult<_> {
            access_grants::replace(tx, "shared_chat", &id, &grants, now_secs())?;
            // The chat may have gone since the check above: undo the grants then.
            let chat = managed_chat(tx, &w, &id)?.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
            if let (Some(mode), Some(sid)) = (mode, chat.share_id.clone()) {
                shared_chats::set_share_mode(tx, &sid, mode.as_deref())?;
            }
            Ok(chat)
        })
        .await?;
    crate::socket::chat_access::refresh(&state, Some(std::slice::from_ref(&row.id))).await;
    Ok(Json(chats::response(&row)))
}

pub(super) async fn get_share_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let w = who(&state, &caller);
    let grants = state
        .db
        .read(move |c| {
            if managed_chat(c, &w, &id)?.is_none() {
                return Ok(None);
            }
            access_grants::by_resource(c, "shared_chat", &id).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(
        grants
            .iter()
            .map(|g| {
                json!({"id": g.id, "principal_type": g.principal_type, "principal_id": g.principal_id,
                       "permission": g.permission})
            })
            .collect(),
    ))
}
