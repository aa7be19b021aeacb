//! Helpers shared by the `/api/v1/chats` sections: query parsing, who the
//! caller is, chat access, the viewer's copy of a chat, permission checks.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::Query;
use axum::Json;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::auth::permissions;
use crate::auth::Caller;
use crate::chat::history;
use crate::db::chats::{self, ChatRow, ChatTitleRow};
use crate::db::{self, folders};
use crate::error::messages::ACCESS_PROHIBITED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const DEFAULT_ERROR: &str = crate::error::messages::DEFAULT;

/// `ERROR_MESSAGES.DEFAULT(msg)`.
pub fn error_default(msg: &str) -> String {
    format!("[ERROR: {msg}]")
}

pub(super) type Params = Query<HashMap<String, String>>;

/// What the closures running on the blocking pool need to know about the caller.
#[derive(Clone)]
pub(super) struct Who {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) admin: bool,
    pub(super) admin_chat_access: bool,
}

pub(super) fn who(state: &AppState, caller: &Caller) -> Who {
    Who {
        id: caller.user.id.clone(),
        name: caller.user.name.clone(),
        admin: caller.is_admin(),
        admin_chat_access: state.settings.env_flags.enable_admin_chat_access,
    }
}

/// Upstream's `get_accessible_chat_by_id` ([`crate::chat::access`]).
pub(super) fn accessible(
    c: &Connection,
    w: &Who,
    chat: ChatRow,
    write: bool,
) -> rusqlite::Result<Option<ChatRow>> {
    crate::chat::access::accessible(c, &w.viewer(), chat, write)
}

pub(super) fn load_accessible(
    c: &Connection,
    w: &Who,
    id: &str,
    write: bool,
) -> rusqlite::Result<Option<ChatRow>> {
    crate::chat::access::load_accessible(c, &w.viewer(), id, write)
}

impl Who {
    fn viewer(&self) -> crate::chat::access::Viewer {
        crate::chat::access::Viewer {
            id: self.id.clone(),
            admin: self.admin,
            admin_chat_access: self.admin_chat_access,
        }
    }
}

/// The chat as a viewer sees it (upstream's `shared_chat_response`): for
/// anyone but the owner, chat variables and tool/param settings are removed;
/// `meta` of other people's messages is dropped; user messages carry their
/// author as `{id, name}`.
pub(super) fn viewer_response(
    c: &Connection,
    row: &ChatRow,
    viewer: Option<&str>,
) -> rusqlite::Result<Value> {
    let mut data = chats::response(row);
    let is_owner = viewer == Some(row.user_id.as_str());
    if !is_owner {
        data["variables"] = json!({});
        if let Some(chat) = data["chat"].as_object_mut() {
            for k in [
                "params",
                "tool_servers",
                "tool_ids",
                "filter_ids",
                "variables",
            ] {
                chat.remove(k);
            }
        }
    }
    let owner = row.user_id.clone();
    let mut authors: HashMap<String, Value> = HashMap::new();
    let mut wanted: Vec<String> = Vec::new();
    history::for_each_message(&mut data["chat"], |m| {
        if m.get("role").and_then(Value::as_str) == Some("user") {
            let author = m
                .get("user")
                .filter(|u| u.is_object())
                .cloned()
                .unwrap_or(json!({}));
            let author_id = m
                .get("user_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    author
                        .get("id")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| owner.clone());
            m["user_id"] = Value::String(author_id.clone());
            let name = author
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if author.get("id").and_then(Value::as_str) == Some(author_id.as_str()) {
                if let Some(name) = name {
                    authors.insert(author_id.clone(), json!({"id": author_id, "name": name}));
                }
            }
            wanted.push(author_id);
        }
        let msg_author = m
            .get("user_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(&owner);
        if viewer != Some(msg_author) {
            if let Some(o) = m.as_object_mut() {
                o.remove("meta");
            }
        }
    });
    for id in wanted {
        if !authors.contains_key(&id) {
            if let Some(u) = db::users::get(c, &id)? {
                authors.insert(id.clone(), json!({"id": id, "name": u.name}));
            }
        }
    }
    history::for_each_message(&mut data["chat"], |m| {
        if m.get("role").and_then(Value::as_str) == Some("user") {
            let uid = m["user_id"].as_str().unwrap_or_default().to_string();
            m["user"] = authors
                .get(&uid)
                .cloned()
                .unwrap_or(json!({"id": uid, "name": ""}));
        }
    });
    Ok(data)
}

/// Attributes client-supplied messages to the caller.
pub(super) fn set_message_authors(chat: &mut Value, w: &Who) {
    history::for_each_message(chat, |m| {
        m["user_id"] = Value::String(w.id.clone());
        if m.get("role").and_then(Value::as_str) == Some("user") {
            m["user"] = json!({"id": w.id, "name": w.name});
        }
    });
}

pub(super) fn active_set(state: &AppState, user_id: &str) -> HashSet<String> {
    state.tasks.active_chat_ids(user_id).into_iter().collect()
}

pub(super) fn titles(state: &AppState, user_id: &str, rows: &[ChatTitleRow]) -> Json<Vec<Value>> {
    let active = active_set(state, user_id);
    Json(
        rows.iter()
            .map(|r| r.wire(active.contains(&r.id)))
            .collect(),
    )
}

pub(super) async fn allowed(state: &AppState, caller: &Caller, key: &str) -> ApiResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let perms = permissions::effective(state, caller.id()).await?;
    Ok(permissions::allows(&perms, key))
}

/// Users forced into temporary chats may not store chats.
pub(super) async fn require_creation(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if caller.is_admin() {
        return Ok(());
    }
    let perms = permissions::effective(state, caller.id()).await?;
    if permissions::allows(&perms, "chat.temporary")
        && permissions::allows(&perms, "chat.temporary_enforced")
    {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(())
}

pub(super) async fn require_import(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !allowed(state, caller, "chat.import").await? {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(())
}

pub(super) fn unauthorized(msg: &str) -> ApiError {
    ApiError::unauthorized(msg)
}

/// Parses an optional JSON object body (`Form | None = None` upstream).
pub(super) fn optional_object(body: &Bytes) -> ApiResult<Option<Map<String, Value>>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(Value::Null) => Ok(None),
        Ok(_) => Err(ApiError::Validation(json!([{
            "loc": ["body"], "msg": "Input should be a valid dictionary or object", "type": "model_type"
        }]))),
        Err(e) => Err(ApiError::Validation(json!([{
            "loc": ["body"], "msg": format!("JSON decode error: {e}"), "type": "json_invalid"
        }]))),
    }
}

pub(super) fn folder_unread_json(c: &Connection, user_id: &str) -> rusqlite::Result<Value> {
    let counts = folders::unread_counts(c, user_id)?;
    Ok(Value::Object(
        counts
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect(),
    ))
}
