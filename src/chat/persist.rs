//! Storing a turn: the chat row for a new chat, the user message and assistant
//! placeholders for a follow-up, and message updates as generation ends. Every
//! write goes through `db::chats`, which keeps `chat.chat` and `chat_message` in step.

use serde_json::{json, Map, Value};

use super::history;
use super::turn::{Target, Turn};
use crate::auth::Caller;
use crate::db::{self, chats::ChatRow, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// An empty assistant reply, attributed to the account that asked for it.
fn placeholder(t: &Target, parent: Option<&str>, author: &str, now: i64) -> Value {
    let mut m = json!({
        "user_id": author,
        "id": t.message_id,
        "parentId": parent,
        "childrenIds": [],
        "role": "assistant",
        "content": "",
        "done": false,
        "model": t.model_id,
        "timestamp": now,
    });
    if let Some(idx) = &t.model_idx {
        m["modelIdx"] = idx.clone();
    }
    m
}

fn user_fields(caller: &Caller, m: &Value) -> Value {
    let mut m = m.clone();
    m["user_id"] = json!(caller.user.id);
    m["user"] = json!({"id": caller.user.id, "name": caller.user.name});
    m["role"] = json!("user");
    m
}

pub async fn create_chat(
    state: &AppState,
    caller: &Caller,
    chat_id: &str,
    user_message: Option<&Value>,
    targets: &[Target],
    folder_id: Option<&str>,
    body: &Map<String, Value>,
) -> ApiResult<()> {
    if let Some(fid) = folder_id {
        // The owner's folders and folders shared with the caller for writing.
        let (uid, fid) = (caller.user.id.clone(), fid.to_string());
        let writable = state
            .db
            .read(move |c| match db::folders::get(c, &fid)? {
                Some(folder) => db::folders::has_access(c, &uid, &folder, "write"),
                None => Ok(false),
            })
            .await?;
        if !writable {
            return Err(ApiError::not_found_default());
        }
    }
    let now = now_secs();
    let assistant_ids: Vec<&str> = targets.iter().map(|t| t.message_id.as_str()).collect();
    let mut messages = Map::new();
    let user_id = user_message
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (Some(um), Some(uid)) = (user_message, &user_id) {
        let mut m = user_fields(caller, um);
        m["childrenIds"] = json!(assistant_ids);
        m["parentId"] = Value::Null;
        messages.insert(uid.clone(), m);
    }
    for t in targets {
        messages.insert(
            t.message_id.clone(),
            placeholder(t, user_id.as_deref(), &caller.user.id, now),
        );
    }
    let first_text = user_message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let chat = json!({
        "id": chat_id,
        "title": "New Chat",
        "models": targets.iter().map(|t| t.model_id.clone()).collect::<Vec<_>>(),
        "history": {
            "currentId": assistant_ids.first().map(|s| s.to_string()).or(user_id.clone()),
            "messages": messages,
        },
        "messages": if user_id.is_some() { json!([{"role": "user", "content": first_text}]) } else { json!([]) },
        "files": body.get("files").cloned().filter(Value::is_array).unwrap_or(json!([])),
        "tags": [],
        "timestamp": now * 1000,
    });
    let (uid, cid, fid) = (
        caller.user.id.clone(),
        chat_id.to_string(),
        folder_id.map(str::to_string),
    );
    state
        .db
        .write(move |tx| {
            db::chats::insert_new(tx, &uid, &cid, &chat, fid.as_deref(), now).map(|_| ())
        })
        .await?;
    Ok(())
}

/// A completion aimed at channel messages (`chat_id` = `channel:<id>`): the
/// caller must be able to write in the channel (admins always), and every
/// named message that exists must be in that channel and, unless the caller
/// is an admin, their own. Write access is not authorship.
pub async fn check_channel_targets(
    state: &AppState,
    caller: &Caller,
    channel_id: &str,
    message_ids: Vec<String>,
) -> ApiResult<()> {
    let (cid, uid, admin) = (
        channel_id.to_string(),
        caller.id().to_string(),
        caller.is_admin(),
    );
    let refused = || {
        ApiError::forbidden(
            "Only your own messages in a channel you can write in may be answered into.",
        )
    };
    state
        .db
        .try_read(move |c| {
            let ch = db::channels::get(c, &cid)?.ok_or_else(ApiError::not_found_default)?;
            if !admin && !crate::access::channel_allows(c, &ch, &uid, false, "write")? {
                return Err(refused());
            }
            for id in &message_ids {
                if let Some(m) = db::messages::get(c, id)? {
                    let elsewhere = m.channel_id.as_deref() != Some(ch.id.as_str());
                    if elsewhere || (!admin && m.user_id.as_deref() != Some(uid.as_str())) {
                        return Err(refused());
                    }
                }
            }
            Ok(())
        })
        .await
}

/// A stored chat the caller may add a turn to: their own, or one shared
/// with them for replies ([`super::access`]).
pub async fn load_chat(state: &AppState, caller: &Caller, chat_id: &str) -> ApiResult<ChatRow> {
    let cid = chat_id.to_string();
    let viewer = super::access::Viewer {
        id: caller.user.id.clone(),
        admin: caller.is_admin(),
        admin_chat_access: state.settings.env_flags.enable_admin_chat_access,
    };
    state
        .db
        .read(move |c| super::access::load_accessible(c, &viewer, &cid, true))
        .await?
        .ok_or_else(ApiError::not_found_default)
}

fn history_messages(chat: &Value) -> Map<String, Value> {
    chat.pointer("/history/messages")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Adds the user message (unless it exists: a regeneration) and the assistant
/// placeholders to a stored chat. Returns `{messages, currentId}` for `chat:messages`.
pub async fn insert_turn(
    state: &AppState,
    caller: &Caller,
    chat_id: &str,
    user_message: Option<&Value>,
    targets: &[Target],
) -> ApiResult<Value> {
    let row = load_chat(state, caller, chat_id).await?;
    let messages = history_messages(&row.chat);
    let user_id = user_message
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    for t in targets {
        if let Some(existing) = messages.get(&t.message_id) {
            let reusable = existing.get("role").and_then(Value::as_str) == Some("assistant")
                && existing.get("done") != Some(&Value::Bool(true))
                && history::message_text(existing).is_empty();
            if !reusable {
                return Err(ApiError::Conflict(
                    "Message already exists or has an invalid ID.".into(),
                ));
            }
        }
    }
    let now = now_secs();
    let mut writes: Vec<(String, Value)> = Vec::new();
    let mut turn = Map::new();
    let assistant_ids: Vec<String> = targets.iter().map(|t| t.message_id.clone()).collect();
    if let (Some(um), Some(uid)) = (user_message, &user_id) {
        let existing = messages.get(uid);
        if existing.is_some_and(|e| e.get("role").and_then(Value::as_str) != Some("user")) {
            return Err(ApiError::forbidden(
                "You can only regenerate replies to user messages.",
            ));
        }
        let mut m = match existing {
            Some(e) => e.clone(),
            None => {
                let parent = um
                    .get("parentId")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(p) = &parent {
                    let Some(pm) = messages.get(p) else {
                        return Err(ApiError::Conflict(
                            "Parent message no longer exists.".into(),
                        ));
                    };
                    let mut kids: Vec<Value> = pm
                        .get("childrenIds")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if !kids.iter().any(|k| k == uid) {
                        kids.push(json!(uid));
                    }
                    writes.push((p.clone(), json!({"childrenIds": kids})));
                }
                let mut m = user_fields(caller, um);
                m["parentId"] = json!(parent);
                m["childrenIds"] = json!([]);
                m["timestamp"] = um.get("timestamp").cloned().unwrap_or(json!(now));
                m
            }
        };
        if let Some(models) = um.get("models") {
            m["models"] = models.clone();
        }
        let mut kids: Vec<Value> = m
            .get("childrenIds")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for a in &assistant_ids {
            if !kids.iter().any(|k| k == a) {
                kids.push(json!(a));
            }
        }
        m["childrenIds"] = Value::Array(kids);
        writes.push((uid.clone(), m.clone()));
        turn.insert(uid.clone(), m);
    }
    for t in targets {
        // Without a user message in the request (an API client completing
        // into a placeholder it saved), the placeholder keeps its parent.
        let parent = match (&user_id, messages.get(&t.message_id)) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(existing)) => existing
                .get("parentId")
                .and_then(Value::as_str)
                .map(str::to_string),
            (None, None) => None,
        };
        let p = placeholder(t, parent.as_deref(), &caller.user.id, now);
        writes.push((t.message_id.clone(), p.clone()));
        turn.insert(t.message_id.clone(), p);
    }
    let current = assistant_ids.first().cloned().or(user_id);
    let cid = chat_id.to_string();
    let cur = current.clone();
    state
        .db
        .write(move |tx| {
            let last = writes.len().saturating_sub(1);
            for (i, (id, fields)) in writes.iter().enumerate() {
                let set_current = i == last && cur.as_deref() == Some(id.as_str());
                db::chats::upsert_message(tx, &cid, id, fields, set_current, now)?;
            }
            if let Some(c) = &cur {
                db::chats::upsert_message(tx, &cid, c, &json!({}), true, now)?;
            }
            Ok(())
        })
        .await?;
    Ok(json!({"messages": turn, "currentId": current}))
}

pub async fn save_message(
    state: &AppState,
    chat_id: &str,
    message_id: &str,
    fields: Value,
    set_current: bool,
) -> ApiResult<()> {
    let (cid, mid, now) = (chat_id.to_string(), message_id.to_string(), now_secs());
    state
        .db
        .write(move |tx| db::chats::upsert_message(tx, &cid, &mid, &fields, set_current, now))
        .await?;
    Ok(())
}

/// Saves what an event sent to a message means for the stored chat, as the
/// browser would show it after a reload: `status` is added to the message's
/// `statusHistory`, `message` appends to its content, `replace` sets it,
/// `embeds` and `files` are added in front of the ones it has (`embeds` with
/// `replace: true` replaces them), and a `source`/`citation` without a `type`
/// is added to its `sources`. Only new content moves the chat up the list.
/// Other events are not stored. Unknown chats and messages are left alone.
pub async fn save_event(
    state: &AppState,
    chat_id: &str,
    message_id: &str,
    kind: &str,
    data: Value,
) -> ApiResult<()> {
    let (cid, mid, kind, now) = (
        chat_id.to_string(),
        message_id.to_string(),
        kind.to_string(),
        now_secs(),
    );
    state
        .db
        .write(move |tx| {
            let Some(row) = db::chats::get(tx, &cid)? else {
                return Ok(());
            };
            let Some(message) = row.chat["history"]["messages"].get(&mid).cloned() else {
                return Ok(());
            };
            let list = |key: &str| {
                message
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let (fields, touch) = match kind.as_str() {
                "status" => {
                    let mut all = list("statusHistory");
                    all.push(data);
                    (json!({"statusHistory": all}), false)
                }
                "message" => {
                    let mut text = message["content"].as_str().unwrap_or("").to_string();
                    text.push_str(data["content"].as_str().unwrap_or(""));
                    (json!({"content": text}), true)
                }
                "replace" => (
                    json!({"content": data["content"].as_str().unwrap_or("")}),
                    true,
                ),
                "embeds" | "files" => {
                    let mut all = data[kind.as_str()].as_array().cloned().unwrap_or_default();
                    if !(kind == "embeds" && data["replace"] == json!(true)) {
                        all.extend(list(&kind));
                    }
                    (json!({kind.as_str(): all}), false)
                }
                "source" | "citation" if data.get("type").is_none_or(Value::is_null) => {
                    let mut all = list("sources");
                    all.push(data);
                    (json!({"sources": all}), false)
                }
                _ => return Ok(()),
            };
            db::chats::upsert_message_with(tx, &cid, &mid, &fields, Some(false), touch, now)
                .map(|_| ())
        })
        .await?;
    Ok(())
}

/// The stored messages from the root to the parent of the assistant message
/// being generated, as stored (ids, usage, summaries).
pub async fn stored_path(
    state: &AppState,
    chat_id: &str,
    assistant_id: &str,
) -> anyhow::Result<Vec<Value>> {
    let cid = chat_id.to_string();
    let row = state
        .db
        .read(move |c| db::chats::get(c, &cid))
        .await?
        .ok_or_else(|| anyhow::anyhow!("The chat no longer exists."))?;
    let messages = history_messages(&row.chat);
    let parent = messages
        .get(assistant_id)
        .and_then(|m| m.get("parentId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let path = match parent {
        Some(p) => history::path_to(&messages, &p),
        None => vec![],
    };
    Ok(path)
}

/// The stored `output` items of one message (empty when there are none).
pub async fn stored_output(state: &AppState, chat_id: &str, message_id: &str) -> Vec<Value> {
    let cid = chat_id.to_string();
    let Ok(Some(row)) = state.db.read(move |c| db::chats::get(c, &cid)).await else {
        return vec![];
    };
    history_messages(&row.chat)
        .get(message_id)
        .and_then(|m| m.get("output"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The conversation leading to `message_id`: the stored path for saved
/// chats, the request's `messages` for temporary ones.
pub async fn conversation(state: &AppState, turn: &Turn, message_id: &str) -> Vec<Value> {
    if turn.persist {
        path_to(state, &turn.chat_id, message_id).await
    } else {
        request_messages(turn)
    }
}

/// The `messages` the request carries (what a temporary chat has).
pub fn request_messages(turn: &Turn) -> Vec<Value> {
    turn.body
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The path to a message, for task prompts.
pub async fn path_to(state: &AppState, chat_id: &str, message_id: &str) -> Vec<Value> {
    let cid = chat_id.to_string();
    let Ok(Some(row)) = state.db.read(move |c| db::chats::get(c, &cid)).await else {
        return vec![];
    };
    history::path_to(&history_messages(&row.chat), message_id)
}

/// The stored chat's `variables` when the turn is the owner's; `None` for
/// temporary chats and for anyone else's turn.
pub async fn owner_chat_variables(state: &AppState, turn: &Turn) -> Option<Value> {
    if !turn.persist {
        return None;
    }
    let cid = turn.chat_id.clone();
    let row = state
        .db
        .read(move |c| db::chats::get(c, &cid))
        .await
        .ok()??;
    (row.user_id == turn.caller.user.id).then_some(row.variables)
}

/// A folder's own system prompt (folder settings in the sidebar).
pub async fn folder_system_prompt(state: &AppState, turn: &Turn) -> Option<String> {
    folder_prompt(state, &turn.caller, turn.folder_id.as_deref()?).await
}

/// The system prompt of a folder the caller may read (its owner, a member it
/// is shared with, or an admin); `None` for an empty prompt.
pub async fn folder_prompt(state: &AppState, caller: &Caller, folder_id: &str) -> Option<String> {
    let (fid, uid) = (folder_id.to_string(), caller.user.id.clone());
    let admin = caller.user.role == "admin";
    state
        .db
        .read(move |c| {
            let Some(folder) = db::folders::get(c, &fid)? else {
                return Ok(None);
            };
            let readable = admin || db::folders::has_access(c, &uid, &folder, "read")?;
            Ok(readable.then_some(folder))
        })
        .await
        .ok()
        .flatten()
        .and_then(|f| f.data)
        .and_then(|d| {
            d.get("system_prompt")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|s| !s.trim().is_empty())
}
