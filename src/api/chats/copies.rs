//! Copies of a chat: clone, clone of a share, fork.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::common::{
    load_accessible, optional_object, require_creation, require_import, unauthorized,
    viewer_response, who, Who, DEFAULT_ERROR,
};
use super::create::{import_rows, ImportForm};
use super::sharing::{read_share, snapshot_row, ShareView};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::chat::history;
use crate::db::chats::{self, ChatRow, NewChat};
use crate::db::{self, folders, now_secs, shared_chats};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct CloneForm {
    #[serde(default)]
    title: Option<String>,
}

pub(super) async fn clone(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<CloneForm>,
) -> ApiResult<Json<Value>> {
    if let Some(t) = &form.title {
        crate::limits::check_title("title", t)?;
    }
    require_import(&state, &caller).await?;
    require_creation(&state, &caller).await?;
    let w = who(&state, &caller);
    let row = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &w.id)? else {
                return Ok(None);
            };
            let mut copy = chat.chat.as_object().cloned().unwrap_or_default();
            copy.insert("originalChatId".into(), Value::String(chat.id.clone()));
            copy.insert(
                "branchPointMessageId".into(),
                chat.chat
                    .pointer("/history/currentId")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            let title = form
                .title
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| format!("Clone of {}", chat.title));
            copy.insert("title".into(), Value::String(title));
            let forms = vec![ImportForm {
                chat: copy,
                variables: chat.variables.as_object().cloned(),
                folder_id: chat.folder_id.clone(),
                meta: chat.meta.as_object().cloned(),
                pinned: Some(chat.pinned),
                archived: None,
                current_message_id: None,
                created_at: None,
                updated_at: None,
            }];
            Ok(import_rows(tx, &w, forms, now_secs())?.pop())
        })
        .await?;
    row.map(|r| Json(chats::response(&r)))
        .ok_or_else(|| unauthorized(DEFAULT_ERROR))
}

/// Gives messages authored by the source chat's owner to the copier.
fn reassign_owner_messages(chat: &mut Value, source_owner: &str, w: &Who) {
    history::for_each_message(chat, |m| {
        let author = m
            .get("user_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(source_owner);
        if author == source_owner {
            m["user_id"] = Value::String(w.id.clone());
            if m.get("role").and_then(Value::as_str) == Some("user") {
                m["user"] = json!({"id": w.id, "name": w.name});
            }
        }
    });
}

pub(super) async fn clone_shared(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_import(&state, &caller).await?;
    require_creation(&state, &caller).await?;
    let w = who(&state, &caller);
    let out = state
        .db
        .try_write(move |tx| {
            let shared = shared_chats::get(tx, &id)?;
            if let Some(s) = &shared {
                let permitted = (w.admin && w.admin_chat_access)
                    || s.user_id == w.id
                    || shared_chats::has_anyone_grant(tx, "shared_chat", &s.chat_id, "read")?
                    || shared_chats::user_has_grant(tx, &w.id, "shared_chat", &s.chat_id, "read")?;
                if !permitted {
                    return Err(unauthorized(ACCESS_PROHIBITED));
                }
            }
            let mut chat = shared.as_ref().map(snapshot_row);
            if let Some(s) = &shared {
                let can_read = (w.admin && w.admin_chat_access)
                    || s.user_id == w.id
                    || shared_chats::user_has_grant(tx, &w.id, "shared_chat", &s.chat_id, "read")?;
                if s.share_mode() == Some("continue") && can_read {
                    chat = chats::get(tx, &s.chat_id)?;
                }
            }
            if chat.is_none() && w.admin && w.admin_chat_access {
                chat = chats::get(tx, &id)?;
            }
            let Some(chat) = chat else {
                return Err(unauthorized(NOT_FOUND));
            };
            let mut copy = viewer_response(tx, &chat, Some(&w.id))?["chat"].take();
            copy["originalChatId"] = Value::String(chat.id.clone());
            copy["branchPointMessageId"] = chat
                .chat
                .pointer("/history/currentId")
                .cloned()
                .unwrap_or(Value::Null);
            copy["title"] = Value::String(format!("Clone of {}", chat.title));
            reassign_owner_messages(&mut copy, &chat.user_id, &w);
            let forms = vec![ImportForm {
                chat: copy.as_object().cloned().unwrap_or_default(),
                variables: None,
                folder_id: None,
                meta: chat.meta.as_object().cloned(),
                pinned: Some(chat.pinned),
                archived: None,
                current_message_id: None,
                created_at: None,
                updated_at: None,
            }];
            let row = import_rows(tx, &w, forms, now_secs())?.pop();
            row.ok_or_else(|| ApiError::internal(anyhow::anyhow!("clone produced no chat")))
        })
        .await?;
    Ok(Json(chats::response(&out)))
}

/// The branch ending at `source`, as a fresh linear history.
fn fork_history(
    messages: &Map<String, Value>,
    source: &str,
) -> Result<(Value, Vec<Value>), &'static str> {
    if messages.is_empty() {
        return Err("chat has no messages to fork");
    }
    let mut branch: Vec<(String, Value)> = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = Some(source.to_string());
    while let Some(id) = cur {
        if !seen.insert(id.clone()) {
            return Err("message branch contains a cycle");
        }
        let Some(m) = messages.get(&id).filter(|m| m.is_object()) else {
            return Err("message not found");
        };
        cur = m
            .get("parentId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        branch.push((id, m.clone()));
    }
    let mut map = Map::new();
    let mut ordered = Vec::new();
    let mut parent: Option<String> = None;
    for (id, mut m) in branch.into_iter().rev() {
        m["id"] = Value::String(id.clone());
        m["parentId"] = parent.clone().map_or(Value::Null, Value::String);
        m["childrenIds"] = json!([]);
        if let Some(p) = &parent {
            map[p]["childrenIds"] = json!([id]);
        }
        map.insert(id.clone(), m.clone());
        ordered.push(m);
        parent = Some(id);
    }
    // The ordered list mirrors the final map (child links included).
    let ordered = ordered
        .iter()
        .map(|m| map[m["id"].as_str().unwrap_or_default()].clone())
        .collect();
    Ok((json!({"messages": map, "currentId": source}), ordered))
}

pub(super) async fn fork(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    require_import(&state, &caller).await?;
    let form = optional_object(&body)?;
    let wanted = match &form {
        Some(f) => crate::api::form::opt_str_in(f, "message_id")?,
        None => None,
    };
    let w = who(&state, &caller);
    let (w2, id2) = (w.clone(), id.clone());
    let (chat, messages) = state
        .db
        .try_read(move |c| {
            if let Some(chat) = load_accessible(c, &w2, &id2, false)? {
                let map = chats::messages_map(c, &chat)?;
                return Ok((chat, map));
            }
            // Not a chat id the caller may read: maybe a share token.
            match read_share(c, Some(&w2), &id2)? {
                ShareView::Found(v) => {
                    let row = chat_row_from_response(&v);
                    let map = row.history_messages().cloned().unwrap_or_default();
                    Ok((row, map))
                }
                ShareView::Denied(msg) => Err(unauthorized(msg)),
            }
        })
        .await?;
    let is_snapshot = chat.share_id.as_deref() == Some(chat.id.as_str());
    let is_owner = chat.user_id == w.id;
    if !is_snapshot && state.tasks.is_chat_active(&chat.id) {
        return Err(ApiError::Conflict(
            "Wait for the current response to finish before forking.".into(),
        ));
    }
    let source = wanted
        .filter(|s| !s.is_empty())
        .or_else(|| chat.current_message_id.clone())
        .or_else(|| {
            chat.chat
                .pointer("/history/currentId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| ApiError::bad_request("chat has no messages to fork"))?;
    let (mut history, ordered) = fork_history(&messages, &source).map_err(|e| {
        if e == "message not found" {
            ApiError::not_found(e)
        } else {
            ApiError::bad_request(e)
        }
    })?;
    let stored = chat.history_messages().cloned().unwrap_or_default();
    if let Some(ms) = history.get_mut("messages").and_then(Value::as_object_mut) {
        for (mid, m) in ms.iter_mut() {
            if let Some(author) = stored
                .get(mid)
                .and_then(|s| s.get("user"))
                .filter(|u| u.is_object())
            {
                if author.get("id").is_some() && author.get("id") == m.get("user_id") {
                    m["user"] = author.clone();
                }
            }
            if m.get("role").and_then(Value::as_str) != Some("assistant")
                || m.get("done") != Some(&Value::Bool(false))
            {
                continue;
            }
            let awaiting = m
                .get("output")
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    items.iter().any(|i| {
                        i.get("type").and_then(Value::as_str) == Some("function_call")
                            && matches!(
                                i.get("status").and_then(Value::as_str),
                                Some("pending" | "queued" | "requires_approval")
                            )
                    })
                });
            if !awaiting {
                m["done"] = json!(true);
            }
        }
    }
    // The legacy list follows the (possibly updated) history messages.
    let ordered: Vec<Value> = ordered
        .iter()
        .map(|m| history["messages"][m["id"].as_str().unwrap_or_default()].clone())
        .collect();
    let mut copy = chat.chat.as_object().cloned().unwrap_or_default();
    copy.remove("currentId");
    copy.remove("share_mode");
    copy.insert("originalChatId".into(), Value::String(chat.id.clone()));
    copy.insert("branchPointMessageId".into(), Value::String(source.clone()));
    copy.insert(
        "title".into(),
        Value::String(format!("{} (fork)", chat.title)),
    );
    copy.insert("history".into(), history);
    copy.insert("messages".into(), Value::Array(ordered));
    require_creation(&state, &caller).await?;
    let row = state
        .db
        .write(move |tx| {
            let mut copy = Value::Object(copy);
            if !is_owner {
                let mut view_row = chat.clone();
                view_row.chat = copy;
                copy = viewer_response(tx, &view_row, Some(&w.id))?["chat"].take();
                reassign_owner_messages(&mut copy, &chat.user_id, &w);
            }
            let mut meta = if is_owner {
                chat.meta.as_object().cloned().unwrap_or_default()
            } else {
                Map::new()
            };
            meta.insert("forked_from".into(), Value::String(chat.id.clone()));
            meta.insert(
                "forked_from_message_id".into(),
                Value::String(source.clone()),
            );
            let folder_id = match chat.folder_id.clone().filter(|_| is_owner) {
                Some(f) if folders::has_write_access(tx, &w.id, &f)? => Some(f),
                _ => None,
            };
            let n = NewChat {
                id: db::new_id(),
                user_id: w.id.clone(),
                chat: copy,
                folder_id,
                meta: Value::Object(meta),
                variables: if is_owner {
                    chat.variables.clone()
                } else {
                    json!({})
                },
                pinned: is_owner && chat.pinned,
                ..Default::default()
            };
            chats::insert(tx, &n, now_secs())
        })
        .await?;
    Ok(Json(chats::response(&row)))
}

/// A chat row from a `ChatResponse`-shaped object (what the share view returns).
fn chat_row_from_response(v: &Value) -> ChatRow {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let i = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    ChatRow {
        id: s("id").unwrap_or_default(),
        user_id: s("user_id").unwrap_or_default(),
        title: s("title").unwrap_or_default(),
        chat: v.get("chat").cloned().unwrap_or(json!({})),
        created_at: i("created_at"),
        updated_at: i("updated_at"),
        share_id: s("share_id"),
        archived: v.get("archived").and_then(Value::as_bool).unwrap_or(false),
        pinned: v.get("pinned").and_then(Value::as_bool).unwrap_or(false),
        meta: v
            .get("meta")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({})),
        folder_id: s("folder_id"),
        last_read_at: None,
        current_message_id: s("current_message_id"),
        tasks: None,
        summary: None,
        variables: v
            .get("variables")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({})),
        timer_at: None,
    }
}
