//! The `chat` table. `chat.chat` holds the whole conversation as the UI renders
//! it (`history.messages` + `history.currentId`); every message write also goes
//! to `chat_message` (see [`super::chat_messages`]) so both stay in step.

use std::collections::HashSet;

use rusqlite::{params, params_from_iter, types::Value as SqlValue, Connection, OptionalExtension};
use serde_json::{json, Map, Value};

use super::chat_messages;
use super::json::{opt, JsonCol};
use super::tags;

pub const PAGE_SIZE: i64 = 60;

/// Leaves out internal chats (note assistants, sub-agent runs).
const NOT_INTERNAL: &str =
    "(CASE WHEN json_valid(meta) THEN json_extract(meta, '$.internal') END) IS NOT 1";
const NOT_ARCHIVED: &str = "(archived = 0 OR archived IS NULL)";
const NOT_PINNED: &str = "(pinned = 0 OR pinned IS NULL)";
const TAG_MATCH: &str = "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(meta) THEN meta ELSE '{}' END, '$.tags') t \
     WHERE t.value = ?)";

#[derive(Debug, Clone)]
pub struct ChatRow {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub chat: Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub share_id: Option<String>,
    pub archived: bool,
    pub pinned: bool,
    pub meta: Value,
    pub folder_id: Option<String>,
    pub last_read_at: Option<i64>,
    pub current_message_id: Option<String>,
    pub tasks: Option<Value>,
    pub summary: Option<String>,
    pub variables: Value,
    pub timer_at: Option<i64>,
}

const COLUMNS: &str =
    "id, user_id, title, chat, created_at, updated_at, share_id, archived, pinned, meta, \
    folder_id, last_read_at, current_message_id, tasks, summary, variables, timer_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<ChatRow> {
    let chat = r.get::<_, JsonCol>(3)?.0;
    let meta = r.get::<_, JsonCol>(9)?.0;
    let variables = r.get::<_, JsonCol>(15)?.0;
    Ok(ChatRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        title: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        chat: if chat.is_object() { chat } else { json!({}) },
        created_at: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
        share_id: r.get(6)?,
        archived: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
        pinned: r.get::<_, Option<bool>>(8)?.unwrap_or(false),
        meta: if meta.is_object() { meta } else { json!({}) },
        folder_id: r.get(10)?,
        last_read_at: r.get(11)?,
        current_message_id: r.get(12)?,
        tasks: opt(r.get::<_, JsonCol>(13)?),
        summary: r.get(14)?,
        variables: if variables.is_object() {
            variables
        } else {
            json!({})
        },
        timer_at: r.get(16)?,
    })
}

impl ChatRow {
    pub fn tag_ids(&self) -> Vec<String> {
        str_list(self.meta.get("tags"))
    }

    pub fn is_internal(&self) -> bool {
        self.meta.get("internal") == Some(&Value::Bool(true))
    }

    pub fn history_messages(&self) -> Option<&Map<String, Value>> {
        self.chat
            .pointer("/history/messages")
            .and_then(Value::as_object)
    }
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The chat object the API returns (`ChatResponse`). `writable` marks that the
/// caller may continue the conversation: `GET /api/v1/chats/{id}` then reports
/// `chat.share_mode: "continue"` (null otherwise); pass `false` for the bodies
/// of the other routes, which leave `chat` exactly as stored.
pub fn wire(row: &ChatRow, writable: bool) -> Value {
    let mut v = response(row);
    if writable {
        v["chat"]["share_mode"] = json!("continue");
    }
    v
}

/// `ChatResponse` as stored, `context_usage` null (context compaction is not offered).
pub fn response(row: &ChatRow) -> Value {
    json!({
        "id": row.id,
        "user_id": row.user_id,
        "title": row.title,
        "chat": row.chat,
        "updated_at": row.updated_at,
        "created_at": row.created_at,
        "share_id": row.share_id,
        "archived": row.archived,
        "pinned": row.pinned,
        "meta": row.meta,
        "variables": row.variables,
        "folder_id": row.folder_id,
        "tasks": row.tasks.clone().filter(Value::is_array),
        "summary": row.summary,
        "current_message_id": row.current_message_id,
        "context_usage": null,
    })
}

// ---------------------------------------------------------------------------
// History helpers (pure functions on `chat.chat`)

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn truthy_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The message a chat currently shows: `history.currentId`, else the legacy
/// `currentId` / `branchPointMessageId`, else the last legacy message.
pub fn current_message_id(chat: &Value) -> Option<String> {
    let hist = chat.get("history").filter(|h| h.is_object());
    if let Some(id) = truthy_str(hist.and_then(|h| h.get("currentId")))
        .or_else(|| truthy_str(chat.get("currentId")))
        .or_else(|| truthy_str(chat.get("branchPointMessageId")))
    {
        return Some(id);
    }
    chat.get("messages")
        .and_then(Value::as_array)?
        .iter()
        .rev()
        .find_map(|m| truthy_str(m.get("id")))
}

fn add_child(messages: &mut Map<String, Value>, parent_id: Option<&str>, child_id: &str) -> bool {
    let Some(parent) = parent_id
        .and_then(|p| messages.get_mut(p))
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    if !parent.get("childrenIds").is_some_and(Value::is_array) {
        parent.insert("childrenIds".into(), json!([]));
    }
    let children = parent
        .get_mut("childrenIds")
        .and_then(Value::as_array_mut)
        .expect("array");
    if children.iter().any(|c| c.as_str() == Some(child_id)) {
        return false;
    }
    children.push(Value::String(child_id.into()));
    true
}

fn last_descendant(messages: &Map<String, Value>, start: &str) -> String {
    let mut seen = HashSet::new();
    let mut id = start.to_string();
    while messages.contains_key(&id) && seen.insert(id.clone()) {
        let children = str_list(messages[&id].get("childrenIds"));
        let next = children.iter().rev().find(|cid| {
            !seen.contains(*cid)
                && messages.get(*cid).is_some_and(|c| {
                    c.get("id").and_then(Value::as_str) == Some(cid.as_str())
                        && truthy(c.get("role"))
                        && c.get("parentId").and_then(Value::as_str) == Some(id.as_str())
                })
        });
        match next {
            Some(n) => id = n.clone(),
            None => break,
        }
    }
    id
}

fn output_role(m: &Value) -> Option<String> {
    m.get("output")?
        .as_array()?
        .iter()
        .find_map(|i| truthy_str(i.get("role")))
}

/// Repairs what upstream repairs on every read: missing child links, and a
/// `currentId` that points nowhere or stops short of its branch's leaf.
pub fn repair_current_id(chat: &mut Value) -> bool {
    let Some(history) = chat.get_mut("history").and_then(Value::as_object_mut) else {
        return false;
    };
    let current = history
        .get("currentId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(messages) = history.get_mut("messages").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut changed = false;
    let links: Vec<(String, Option<String>)> = messages
        .iter()
        .filter(|(_, m)| m.is_object())
        .map(|(id, m)| {
            (
                id.clone(),
                m.get("parentId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        })
        .collect();
    for (id, parent) in links {
        changed |= add_child(messages, parent.as_deref(), &id);
    }
    let cur_msg = current
        .as_deref()
        .and_then(|c| messages.get(c))
        .filter(|m| m.is_object());
    let bad_leaf = cur_msg.is_some_and(|m| {
        output_role(m).as_deref() == Some("assistant")
            && m.get("parentId").is_none_or(Value::is_null)
            && !truthy(m.get("timestamp"))
            && messages.len() > 1
    });
    if let (Some(cid), Some(m)) = (current.as_deref(), cur_msg) {
        if truthy(m.get("id")) && truthy(m.get("role")) && !bad_leaf {
            let leaf = last_descendant(messages, cid);
            if leaf != cid {
                history.insert("currentId".into(), Value::String(leaf));
                return true;
            }
            return changed;
        }
    }
    let mut latest: Option<(String, f64)> = None;
    for (id, m) in messages.iter() {
        if !m.is_object() || !truthy(m.get("role")) {
            continue;
        }
        let no_children = m
            .get("childrenIds")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        let ts = m.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0);
        if no_children && latest.as_ref().is_none_or(|(_, t)| ts > *t) {
            latest = Some((id.clone(), ts));
        }
    }
    match latest {
        Some((id, _)) if Some(id.as_str()) != current.as_deref() => {
            history.insert("currentId".into(), Value::String(id));
            true
        }
        _ => changed,
    }
}

/// Merges two histories: messages of both (incoming wins), child links rebuilt
/// from the parent links, `currentId` from incoming when it exists.
pub fn merge_history(existing: Option<&Value>, incoming: Option<&Value>) -> Value {
    let empty = Map::new();
    let ex = existing.and_then(Value::as_object).unwrap_or(&empty);
    let inc = incoming.and_then(Value::as_object).unwrap_or(&empty);
    let mut merged = Map::new();
    for src in [ex, inc] {
        if let Some(ms) = src.get("messages").and_then(Value::as_object) {
            for (id, m) in ms {
                if let Some(o) = m.as_object() {
                    let mut o = o.clone();
                    o.insert("childrenIds".into(), json!([]));
                    merged.insert(id.clone(), Value::Object(o));
                }
            }
        }
    }
    let links: Vec<(String, String)> = merged
        .iter()
        .filter_map(|(id, m)| Some((id.clone(), m.get("parentId")?.as_str()?.to_string())))
        .collect();
    for (id, parent) in links {
        if let Some(Value::Array(children)) = merged
            .get_mut(&parent)
            .and_then(|p| p.get_mut("childrenIds"))
        {
            children.push(Value::String(id));
        }
    }
    let pick = |h: &Map<String, Value>| {
        h.get("currentId")
            .and_then(Value::as_str)
            .filter(|c| merged.contains_key(*c))
            .map(str::to_string)
    };
    let current = pick(inc).or_else(|| pick(ex));
    let mut out = ex.clone();
    for (k, v) in inc {
        out.insert(k.clone(), v.clone());
    }
    out.insert("messages".into(), Value::Object(merged));
    out.insert(
        "currentId".into(),
        current.map_or(Value::Null, Value::String),
    );
    Value::Object(out)
}

/// Removes a message and its direct replies; grandchildren move up to the
/// message's parent. `currentId` follows the newest remaining branch.
pub fn delete_message_from_history(history: &mut Value, message_id: &str) -> Vec<String> {
    let Some(h) = history.as_object_mut() else {
        return vec![];
    };
    let Some(messages) = h.get_mut("messages").and_then(Value::as_object_mut) else {
        return vec![];
    };
    let Some(message) = messages.get(message_id).filter(|m| m.is_object()).cloned() else {
        return vec![];
    };
    let parent_id = message
        .get("parentId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let child_ids: Vec<String> = str_list(message.get("childrenIds"))
        .into_iter()
        .filter(|c| messages.contains_key(c))
        .collect();
    let grandchild_ids: Vec<String> = child_ids
        .iter()
        .flat_map(|c| str_list(messages.get(c).and_then(|m| m.get("childrenIds"))))
        .filter(|g| messages.contains_key(g))
        .collect();
    if let Some(p) = parent_id
        .as_deref()
        .and_then(|p| messages.get_mut(p))
        .and_then(Value::as_object_mut)
    {
        let mut kept: Vec<Value> = str_list(p.get("childrenIds"))
            .into_iter()
            .filter(|c| c != message_id)
            .map(Value::String)
            .collect();
        kept.extend(grandchild_ids.iter().cloned().map(Value::String));
        p.insert("childrenIds".into(), Value::Array(kept));
    }
    for g in &grandchild_ids {
        if let Some(m) = messages.get_mut(g).and_then(Value::as_object_mut) {
            m.insert(
                "parentId".into(),
                parent_id.clone().map_or(Value::Null, Value::String),
            );
        }
    }
    let mut deleted = vec![message_id.to_string()];
    deleted.extend(child_ids.iter().cloned());
    for d in &deleted {
        messages.remove(d);
    }
    let mut current = parent_id.clone();
    let mut children: Vec<String> = match &current {
        None => messages
            .iter()
            .filter(|(_, m)| m.get("parentId").is_none_or(Value::is_null))
            .map(|(id, _)| id.clone())
            .collect(),
        Some(c) => str_list(messages.get(c).and_then(|m| m.get("childrenIds"))),
    };
    let mut visited = HashSet::new();
    while let Some(last) = children.last().cloned() {
        if !visited.insert(last.clone()) {
            break;
        }
        current = Some(last.clone());
        children = str_list(messages.get(&last).and_then(|m| m.get("childrenIds")));
    }
    let current = current.filter(|c| messages.contains_key(c));
    h.insert(
        "currentId".into(),
        current.map_or(Value::Null, Value::String),
    );
    deleted
}

/// Text of the `output_text` parts of `message` output items, one line per item.
pub fn output_text(output: Option<&Value>) -> String {
    let Some(items) = output.and_then(Value::as_array) else {
        return String::new();
    };
    let mut texts = Vec::new();
    for item in items {
        if item.get("type").and_then(Value::as_str) != Some("message") {
            continue;
        }
        let Some(parts) = item.get("content").and_then(Value::as_array) else {
            continue;
        };
        let text: String = parts
            .iter()
            .filter_map(|p| match p.get("text") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            })
            .collect();
        if !text.trim().is_empty() {
            texts.push(text);
        }
    }
    texts.join("\n")
}

/// Merges `fields` into `history.messages[message_id]`, creating the message
/// (with its parent link, role and timestamp) when absent; returns the stored
/// message and whether it was new.
fn upsert_into_history(
    history: &mut Map<String, Value>,
    message_id: &str,
    fields: &Value,
    now: i64,
) -> (Value, bool) {
    if !history.get("messages").is_some_and(Value::is_object) {
        history.insert("messages".into(), json!({}));
    }
    let messages = history
        .get_mut("messages")
        .and_then(Value::as_object_mut)
        .expect("object");
    let mut incoming = fields.as_object().cloned().unwrap_or_default();
    let created = !messages.contains_key(message_id);
    if !created {
        let existing = messages.get(message_id).cloned().unwrap_or(Value::Null);
        let old_meta = existing
            .get("meta")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(new_meta) = incoming.get("meta").and_then(Value::as_object).cloned() {
            // Voice clips and the task id must survive each other's updates.
            let mut meta = Map::new();
            if new_meta.keys().all(|k| k == "voice" || k == "task_id") {
                meta = old_meta.clone();
            } else {
                for k in ["voice", "task_id"] {
                    if let Some(v) = old_meta.get(k) {
                        meta.insert(k.into(), v.clone());
                    }
                }
            }
            for (k, v) in new_meta {
                meta.insert(k, v);
            }
            incoming.insert("meta".into(), Value::Object(meta));
        }
        let mut merged = existing.as_object().cloned().unwrap_or_default();
        for (k, v) in incoming {
            merged.insert(k, v);
        }
        messages.insert(message_id.into(), Value::Object(merged));
    } else {
        let given_parent = incoming
            .get("parentId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let parent_id = given_parent.clone().or_else(|| {
            messages
                .iter()
                .find(|(_, m)| {
                    str_list(m.get("childrenIds"))
                        .iter()
                        .any(|c| c == message_id)
                })
                .map(|(id, _)| id.clone())
        });
        let role = truthy_str(incoming.get("role"))
            .or_else(|| output_role(&Value::Object(incoming.clone())))
            .unwrap_or_else(|| {
                match parent_id
                    .as_deref()
                    .and_then(|p| messages.get(p))
                    .and_then(|p| p.get("role"))
                    .and_then(Value::as_str)
                {
                    Some("assistant") => "user".into(),
                    _ => "assistant".into(),
                }
            });
        let mut m = incoming.clone();
        if !truthy(m.get("id")) {
            m.insert("id".into(), Value::String(message_id.into()));
        }
        m.insert(
            "parentId".into(),
            parent_id.map_or(Value::Null, Value::String),
        );
        if !m.get("childrenIds").is_some_and(Value::is_array) {
            m.insert("childrenIds".into(), json!([]));
        }
        m.insert("role".into(), Value::String(role));
        if !truthy(m.get("timestamp")) {
            m.insert("timestamp".into(), Value::from(now));
        }
        messages.insert(message_id.into(), Value::Object(m));
    }
    let parent = messages[message_id]
        .get("parentId")
        .and_then(Value::as_str)
        .map(str::to_string);
    add_child(messages, parent.as_deref(), message_id);
    (messages[message_id].clone(), created)
}

// ---------------------------------------------------------------------------
// Reads

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<ChatRow>> {
    let row = c
        .query_row(
            &format!("SELECT {COLUMNS} FROM chat WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?;
    Ok(row.map(|mut r| {
        repair_current_id(&mut r.chat);
        r
    }))
}

pub fn get_for_user(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<Option<ChatRow>> {
    Ok(get(c, id)?.filter(|r| r.user_id == user_id))
}

/// (owner, folder) of a chat, for access checks on socket rooms.
pub fn owner_and_folder(
    c: &Connection,
    chat_id: &str,
) -> rusqlite::Result<Option<(String, Option<String>)>> {
    c.query_row(
        "SELECT user_id, folder_id FROM chat WHERE id = ?1",
        [chat_id],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get(1)?,
            ))
        },
    )
    .optional()
}

/// The message map for walking a chat's history: `chat_message` rows when
/// they exist (parents missing from the rows are taken from the JSON history), else
/// the JSON history itself.
pub fn messages_map(c: &Connection, chat: &ChatRow) -> rusqlite::Result<Map<String, Value>> {
    let history = chat.history_messages().cloned().unwrap_or_default();
    match chat_messages::messages_map(c, &chat.id)? {
        Some(mut map) => {
            let missing: Vec<String> = map
                .values()
                .filter_map(|m| m.get("parentId").and_then(Value::as_str))
                .filter(|p| !map.contains_key(*p))
                .map(str::to_string)
                .collect();
            for id in missing {
                if let Some(m) = history.get(&id) {
                    map.insert(id, m.clone());
                }
            }
            Ok(map)
        }
        None => Ok(history),
    }
}

/// Root-to-`leaf` path through a message map (cycles cut).
pub fn message_path(messages: &Map<String, Value>, leaf: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = Some(leaf.to_string());
    while let Some(id) = cur {
        if !seen.insert(id.clone()) {
            break;
        }
        let Some(m) = messages.get(&id) else { break };
        out.push(m.clone());
        cur = m
            .get("parentId")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    out.reverse();
    out
}

// ---------------------------------------------------------------------------
// Inserts

/// Everything a new row can be given.
#[derive(Debug, Clone, Default)]
pub struct NewChat {
    pub id: String,
    pub user_id: String,
    pub chat: Value,
    pub folder_id: Option<String>,
    pub meta: Value,
    pub variables: Value,
    pub pinned: bool,
    pub archived: bool,
    pub current_message_id: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

fn title_of(chat: &Value) -> String {
    match chat.get("title") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "New Chat".into(),
        Some(other) => other.to_string(),
    }
}

/// Messages the dual write covers: `history.messages`, else the legacy list.
fn messages_to_write(chat: &Value) -> Vec<(String, Value)> {
    if let Some(ms) = chat
        .pointer("/history/messages")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        return ms.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    chat.get("messages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| Some((truthy_str(m.get("id"))?, m.clone())))
                .collect()
        })
        .unwrap_or_default()
}

fn author_of(m: &Value, fallback: &str) -> String {
    truthy_str(m.get("user_id"))
        .or_else(|| truthy_str(m.get("user").and_then(|u| u.get("id"))))
        .unwrap_or_else(|| fallback.to_string())
}

pub fn insert(c: &Connection, n: &NewChat, now: i64) -> rusqlite::Result<ChatRow> {
    let current = n
        .current_message_id
        .clone()
        .or_else(|| current_message_id(&n.chat));
    let meta = if n.meta.is_object() {
        n.meta.clone()
    } else {
        json!({})
    };
    let variables = if n.variables.is_object() {
        n.variables.clone()
    } else {
        json!({})
    };
    c.execute(
        "INSERT INTO chat (id, user_id, title, chat, created_at, updated_at, share_id, archived, pinned, meta, \
           folder_id, tasks, summary, last_read_at, current_message_id, variables, timer_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, 'null', NULL, ?11, ?12, ?13, NULL)",
        params![
            n.id,
            n.user_id,
            title_of(&n.chat),
            JsonCol(n.chat.clone()),
            n.created_at.filter(|t| *t != 0).unwrap_or(now),
            n.updated_at.filter(|t| *t != 0).unwrap_or(now),
            n.archived,
            n.pinned,
            JsonCol(meta),
            n.folder_id,
            now,
            current,
            JsonCol(variables),
        ],
    )?;
    for (mid, m) in messages_to_write(&n.chat) {
        if m.is_object() && truthy(m.get("role")) {
            chat_messages::upsert(c, &n.id, &mid, &author_of(&m, &n.user_id), &m, now)?;
        }
    }
    Ok(get(c, &n.id)?.expect("just inserted"))
}

/// Creates a chat the way `POST /api/v1/chats/new` and the completion pipeline
/// do: title from `chat.title` (else "New Chat"), a `chat_message` row per message.
pub fn insert_new(
    c: &Connection,
    user_id: &str,
    id: &str,
    chat: &Value,
    folder_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<ChatRow> {
    insert(
        c,
        &NewChat {
            id: id.into(),
            user_id: user_id.into(),
            chat: chat.clone(),
            folder_id: folder_id.map(str::to_string),
            meta: json!({}),
            variables: json!({}),
            ..Default::default()
        },
        now,
    )
}

/// Gives every message an author: its own `user_id`, its `user.id`, else `user_id`.
pub fn fill_message_authors(chat: &mut Value, user_id: &str) {
    for_each_message(chat, |m| {
        let author = author_of(m, user_id);
        m["user_id"] = Value::String(author);
    });
}

/// Calls `f` on every message object of `history.messages` and the legacy list.
pub fn for_each_message(chat: &mut Value, mut f: impl FnMut(&mut Value)) {
    if let Some(ms) = chat
        .pointer_mut("/history/messages")
        .and_then(Value::as_object_mut)
    {
        for m in ms.values_mut().filter(|m| m.is_object()) {
            f(m);
        }
    }
    if let Some(ms) = chat.get_mut("messages").and_then(Value::as_array_mut) {
        for m in ms.iter_mut().filter(|m| m.is_object()) {
            f(m);
        }
    }
}

// ---------------------------------------------------------------------------
// Updates

fn store_chat(c: &Connection, row: &ChatRow) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE chat SET title = ?2, chat = ?3, current_message_id = ?4, updated_at = ?5 WHERE id = ?1",
        params![row.id, row.title, JsonCol(row.chat.clone()), row.current_message_id, row.updated_at],
    )?;
    Ok(())
}

/// Merges `fields` (an object) into `chat.chat.history.messages[message_id]`
/// (creating the message if absent), updates `history.currentId` when
/// `set_current`, keeps the `chat_message` row in sync, sets
/// `chat.current_message_id` and `updated_at`.
pub fn upsert_message(
    c: &Connection,
    chat_id: &str,
    message_id: &str,
    fields: &Value,
    set_current: bool,
    now: i64,
) -> rusqlite::Result<()> {
    upsert_message_with(c, chat_id, message_id, fields, Some(set_current), true, now).map(|_| ())
}

/// The common message write. `set_current`: `Some(b)` sets `currentId` to the
/// message when `b`; `None` follows upstream's REST behaviour (a message that
/// did not exist becomes current). Returns the updated chat.
pub fn upsert_message_with(
    c: &Connection,
    chat_id: &str,
    message_id: &str,
    fields: &Value,
    set_current: Option<bool>,
    touch: bool,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    let Some(mut row) = get(c, chat_id)? else {
        return Ok(None);
    };
    let mut fields = fields.clone();
    if fields.is_object() && !truthy(fields.get("content")) {
        // A message saved with only structured output still gets its text.
        let text = output_text(fields.get("output"));
        if !text.is_empty() {
            fields["content"] = Value::String(text);
        }
    }
    if !row.chat.get("history").is_some_and(Value::is_object) {
        row.chat["history"] = json!({"messages": {}, "currentId": null});
    }
    let history = row
        .chat
        .get_mut("history")
        .and_then(Value::as_object_mut)
        .expect("object");
    let (saved, created) = upsert_into_history(history, message_id, &fields, now);
    if set_current.unwrap_or(created) {
        history.insert("currentId".into(), Value::String(message_id.into()));
    }
    let author = author_of(&saved, &row.user_id);
    chat_messages::upsert(c, chat_id, message_id, &author, &saved, now)?;
    row.title = title_of(&row.chat);
    row.current_message_id = current_message_id(&row.chat);
    if touch {
        row.updated_at = now;
    }
    store_chat(c, &row)?;
    Ok(Some(row))
}

/// Deletes a message and its direct replies from both stores; `None` when the
/// chat does not exist.
pub fn delete_message(
    c: &Connection,
    chat_id: &str,
    message_id: &str,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    let Some(mut row) = get(c, chat_id)? else {
        return Ok(None);
    };
    let Some(history) = row.chat.get_mut("history") else {
        return Ok(Some(row));
    };
    let parent = history
        .pointer(&format!("/messages/{}", pointer_escape(message_id)))
        .and_then(|m| m.get("parentId"))
        .cloned()
        .unwrap_or(Value::Null);
    let deleted = delete_message_from_history(history, message_id);
    if deleted.is_empty() {
        return Ok(Some(row));
    }
    chat_messages::delete_ids(c, chat_id, &deleted)?;
    let siblings: Vec<(String, Value)> = history
        .get("messages")
        .and_then(Value::as_object)
        .map(|ms| {
            ms.iter()
                .filter(|(_, m)| m.get("parentId").cloned().unwrap_or(Value::Null) == parent)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (mid, m) in siblings {
        let author = author_of(&m, &row.user_id);
        chat_messages::upsert(c, chat_id, &mid, &author, &m, now)?;
    }
    row.title = title_of(&row.chat);
    row.current_message_id = current_message_id(&row.chat);
    row.updated_at = now;
    store_chat(c, &row)?;
    Ok(Some(row))
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Sets `chat.title` and `chat.chat.title`. Like upstream it leaves
/// `updated_at` alone: a generated title is not a new message.
pub fn set_title(c: &Connection, chat_id: &str, title: &str, _now: i64) -> rusqlite::Result<()> {
    let Some(mut row) = get_raw(c, chat_id)? else {
        return Ok(());
    };
    row.chat["title"] = Value::String(title.into());
    c.execute(
        "UPDATE chat SET title = ?2, chat = ?3 WHERE id = ?1",
        params![chat_id, title, JsonCol(row.chat)],
    )?;
    Ok(())
}

/// `POST /api/v1/chats/{id}`: top-level keys of `incoming` replace the stored
/// ones, except `history`, which is merged so that messages saved meanwhile
/// (another author's, or a reply still streaming) survive a stale client copy.
pub fn update_chat(
    c: &Connection,
    id: &str,
    incoming: &Map<String, Value>,
    touch: bool,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    let Some(mut row) = get_raw(c, id)? else {
        return Ok(None);
    };
    let stored = row.chat.clone();
    let mut updated = stored.as_object().cloned().unwrap_or_default();
    for (k, v) in incoming {
        updated.insert(k.clone(), v.clone());
    }
    let stored_msgs = stored
        .pointer("/history/messages")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if incoming.contains_key("history") {
        let mut h = merge_history(stored.get("history"), incoming.get("history"));
        if let Some(ms) = h.get_mut("messages").and_then(Value::as_object_mut) {
            for (mid, m) in &stored_msgs {
                let foreign = m
                    .get("user_id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(&row.user_id)
                    != row.user_id;
                let streaming = m.get("role").and_then(Value::as_str) == Some("assistant")
                    && (m.get("done") == Some(&Value::Bool(false))
                        || ms.get(mid).and_then(|x| x.get("done")) == Some(&Value::Bool(false)));
                if foreign || streaming {
                    ms.insert(mid.clone(), m.clone());
                }
            }
        }
        let h = merge_history(Some(&h), None);
        updated.insert("history".into(), h);
    }
    row.chat = Value::Object(updated);
    row.title = title_of(&row.chat);
    if ["history", "messages", "currentId", "branchPointMessageId"]
        .iter()
        .any(|k| incoming.contains_key(*k))
    {
        row.current_message_id = current_message_id(&row.chat);
    }
    if touch {
        row.updated_at = now;
    }
    store_chat(c, &row)?;
    if let Some(ms) = incoming
        .get("history")
        .and_then(|h| h.get("messages"))
        .and_then(Value::as_object)
    {
        for mid in ms.keys() {
            let Some(m) = row
                .chat
                .pointer("/history/messages")
                .and_then(|x| x.get(mid))
            else {
                continue;
            };
            if truthy(m.get("role")) && stored_msgs.get(mid) != Some(m) {
                let author = author_of(m, &row.user_id);
                chat_messages::upsert(c, id, mid, &author, m, now)?;
            }
        }
    }
    Ok(Some(row))
}

pub fn set_variables(c: &Connection, id: &str, variables: &Value) -> rusqlite::Result<()> {
    let v = if variables.is_object() {
        variables.clone()
    } else {
        json!({})
    };
    c.execute(
        "UPDATE chat SET variables = ?2 WHERE id = ?1",
        params![id, JsonCol(v)],
    )?;
    Ok(())
}

/// Shallow-merges `params` into `chat.chat.params`; returns the new params.
pub fn update_params(
    c: &Connection,
    id: &str,
    params_in: &Map<String, Value>,
) -> rusqlite::Result<Option<Value>> {
    let Some(mut row) = get_raw(c, id)? else {
        return Ok(None);
    };
    let mut p = row
        .chat
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in params_in {
        p.insert(k.clone(), v.clone());
    }
    row.chat["params"] = Value::Object(p.clone());
    c.execute(
        "UPDATE chat SET chat = ?2 WHERE id = ?1",
        params![id, JsonCol(row.chat)],
    )?;
    Ok(Some(Value::Object(p)))
}

/// The row exactly as stored (no read-time repair), for writes that must not
/// persist repairs upstream only applies to what it returns.
fn get_raw(c: &Connection, id: &str) -> rusqlite::Result<Option<ChatRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM chat WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

pub fn toggle_pinned(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<ChatRow>> {
    c.execute(
        "UPDATE chat SET pinned = NOT COALESCE(pinned, 0), updated_at = ?2, last_read_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    get(c, id)
}

/// Archiving also takes the chat out of its folder.
pub fn toggle_archived(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<ChatRow>> {
    c.execute(
        "UPDATE chat SET archived = NOT COALESCE(archived, 0), folder_id = NULL, updated_at = ?2, last_read_at = ?2 \
         WHERE id = ?1",
        params![id, now],
    )?;
    get(c, id)
}

pub fn archive_all(c: &Connection, user_id: &str) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE chat SET archived = 1, folder_id = NULL WHERE user_id = ?1",
        [user_id],
    )
}

pub fn unarchive_all(c: &Connection, user_id: &str) -> rusqlite::Result<usize> {
    c.execute("UPDATE chat SET archived = 0 WHERE user_id = ?1", [user_id])
}

pub fn set_share_id(c: &Connection, id: &str, share_id: Option<&str>) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE chat SET share_id = ?2 WHERE id = ?1",
        params![id, share_id],
    )?;
    Ok(())
}

/// Moving a chat unpins it; moving into a folder also unarchives it (folder
/// views only list unarchived chats).
pub fn set_folder(
    c: &Connection,
    id: &str,
    actor_id: &str,
    folder_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    c.execute(
        "UPDATE chat SET folder_id = ?2, updated_at = ?3, pinned = 0, \
           last_read_at = CASE WHEN user_id = ?4 THEN ?3 ELSE last_read_at END, \
           archived = CASE WHEN ?2 IS NOT NULL THEN 0 ELSE archived END \
         WHERE id = ?1",
        params![id, folder_id, now, actor_id],
    )?;
    get(c, id)
}

/// Moves every chat of a folder (any owner) elsewhere.
pub fn move_folder_chats(
    c: &Connection,
    folder_id: &str,
    new_folder_id: Option<&str>,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE chat SET folder_id = ?2 WHERE folder_id = ?1",
        params![folder_id, new_folder_id],
    )
}

pub fn set_last_read_at(
    c: &Connection,
    chat_id: &str,
    user_id: &str,
    at: i64,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE chat SET last_read_at = ?3 WHERE id = ?1 AND user_id = ?2",
        params![chat_id, user_id, at],
    )
}

/// Marks every visible chat of the user as read; returns how many.
pub fn mark_all_read(
    c: &Connection,
    user_id: &str,
    folder_ids: Option<&[String]>,
) -> rusqlite::Result<usize> {
    let base = format!("UPDATE chat SET last_read_at = updated_at WHERE user_id = ? AND {NOT_ARCHIVED} AND {NOT_INTERNAL}");
    match folder_ids {
        None => c.execute(&base, [user_id]),
        Some(ids) => {
            let mut n = 0;
            for fid in ids {
                n += c.execute(&format!("{base} AND folder_id = ?"), params![user_id, fid])?;
            }
            Ok(n)
        }
    }
}

// ---------------------------------------------------------------------------
// Tags

fn set_meta(c: &Connection, id: &str, meta: &Value) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE chat SET meta = ?2 WHERE id = ?1",
        params![id, JsonCol(meta.clone())],
    )?;
    Ok(())
}

fn meta_of(c: &Connection, id: &str) -> rusqlite::Result<Option<Value>> {
    let m: Option<JsonCol> = c
        .query_row("SELECT meta FROM chat WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    Ok(m.map(|m| if m.0.is_object() { m.0 } else { json!({}) }))
}

/// Adds tags by name: ids are normalised, `"none"` is refused, missing `tag`
/// rows are created. Returns the chat's `meta.tags` afterwards.
pub fn add_tags(
    c: &Connection,
    chat_id: &str,
    user_id: &str,
    names: &[String],
) -> rusqlite::Result<Vec<String>> {
    let Some(mut meta) = meta_of(c, chat_id)? else {
        return Ok(vec![]);
    };
    let names: Vec<String> = names
        .iter()
        .filter(|n| !n.trim().is_empty() && tags::normalize_id(n) != "none")
        .cloned()
        .collect();
    tags::ensure_exist(c, &names, user_id)?;
    let mut ids = str_list(meta.get("tags"));
    for n in &names {
        let id = tags::normalize_id(n);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    meta["tags"] = json!(ids);
    set_meta(c, chat_id, &meta)?;
    Ok(ids)
}

/// Replaces the chat's tags (what automatic tagging does upstream), removing
/// tag rows no other chat of the user still uses.
pub fn set_tags(
    c: &Connection,
    chat_id: &str,
    user_id: &str,
    names: &[String],
) -> rusqlite::Result<Vec<String>> {
    let Some(mut meta) = meta_of(c, chat_id)? else {
        return Ok(vec![]);
    };
    let old = str_list(meta.get("tags"));
    let names: Vec<String> = names
        .iter()
        .filter(|n| tags::normalize_id(n) != "none")
        .cloned()
        .collect();
    let ids: Vec<String> = names.iter().map(|n| tags::normalize_id(n)).collect();
    meta["tags"] = json!(ids);
    set_meta(c, chat_id, &meta)?;
    tags::ensure_exist(c, &names, user_id)?;
    let removed: Vec<String> = old.into_iter().filter(|t| !ids.contains(t)).collect();
    delete_orphan_tags(c, &removed, user_id, 0)?;
    Ok(ids)
}

pub fn remove_tag(c: &Connection, chat_id: &str, name: &str) -> rusqlite::Result<()> {
    let Some(mut meta) = meta_of(c, chat_id)? else {
        return Ok(());
    };
    let id = tags::normalize_id(name);
    let mut kept: Vec<String> = Vec::new();
    for t in str_list(meta.get("tags")) {
        if t != id && !kept.contains(&t) {
            kept.push(t);
        }
    }
    meta["tags"] = json!(kept);
    set_meta(c, chat_id, &meta)
}

/// Chats of the user (internal ones aside) carrying the tag.
pub fn count_by_tag(c: &Connection, tag_id: &str, user_id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        &format!("SELECT count(*) FROM chat WHERE user_id = ? AND {NOT_INTERNAL} AND {TAG_MATCH}"),
        params![user_id, tag_id],
        |r| r.get(0),
    )
}

/// Deletes the tag rows used by at most `threshold` chats of the user.
pub fn delete_orphan_tags(
    c: &Connection,
    tag_ids: &[String],
    user_id: &str,
    threshold: i64,
) -> rusqlite::Result<()> {
    let mut orphans = Vec::new();
    for t in tag_ids {
        let id = tags::normalize_id(t);
        if count_by_tag(c, &id, user_id)? <= threshold {
            orphans.push(id);
        }
    }
    tags::delete_by_ids(c, &orphans, user_id)
}

// ---------------------------------------------------------------------------
// Lists

#[derive(Debug, Clone)]
pub struct ChatTitleRow {
    pub id: String,
    pub title: String,
    pub updated_at: i64,
    pub created_at: i64,
    pub last_read_at: Option<i64>,
    pub archived: bool,
    pub snippet: Option<String>,
}

impl ChatTitleRow {
    /// `ChatTitleIdResponse`.
    pub fn wire(&self, active: bool) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "last_read_at": self.last_read_at,
            "snippet": self.snippet,
            "active": active,
            "archived": self.archived,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    UpdatedAt,
    Title,
    /// Unread chats first, then by `updated_at`.
    Unread,
}

impl SortBy {
    pub fn parse(s: &str) -> SortBy {
        match s {
            "title" => SortBy::Title,
            "unread_updated_at" => SortBy::Unread,
            _ => SortBy::UpdatedAt,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub include_pinned: bool,
    pub include_folders: bool,
    pub include_archived: bool,
    pub only_pinned: bool,
    pub only_archived: bool,
    /// (limit, offset)
    pub page: Option<(i64, i64)>,
    pub sort: SortBy,
    pub ascending: bool,
}

fn order_clause(sort: SortBy, ascending: bool) -> String {
    let dir = if ascending { "ASC" } else { "DESC" };
    match sort {
        SortBy::UpdatedAt => format!("updated_at {dir}, id ASC"),
        SortBy::Title => format!("title {dir}, id ASC"),
        SortBy::Unread => format!(
            "(CASE WHEN {} THEN 1 ELSE 0 END) DESC, updated_at DESC, id ASC",
            crate::db::folders::UNREAD_SQL.replace("ch.", "chat.")
        ),
    }
}

fn title_rows(
    c: &Connection,
    sql: &str,
    args: Vec<SqlValue>,
    selects_extra: bool,
) -> rusqlite::Result<Vec<ChatTitleRow>> {
    // The sidebar asks for the same few lists over and over.
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params_from_iter(args), |r| {
        Ok(ChatTitleRow {
            id: r.get(0)?,
            title: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            updated_at: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
            created_at: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            last_read_at: if selects_extra { r.get(4)? } else { None },
            archived: if selects_extra {
                r.get::<_, Option<bool>>(5)?.unwrap_or(false)
            } else {
                false
            },
            snippet: None,
        })
    })?;
    rows.collect()
}

fn limit_clause(page: Option<(i64, i64)>) -> String {
    match page {
        Some((limit, offset)) => format!(" LIMIT {} OFFSET {}", limit.max(0), offset.max(0)),
        None => String::new(),
    }
}

/// The sidebar lists. Like upstream's, they report `archived: false` (the
/// column is not part of what they select).
pub fn list_titles(
    c: &Connection,
    user_id: &str,
    f: &ListFilter,
) -> rusqlite::Result<Vec<ChatTitleRow>> {
    let mut sql = format!(
        "SELECT id, title, updated_at, created_at, last_read_at, 0 FROM chat WHERE user_id = ? AND {NOT_INTERNAL}"
    );
    if f.only_archived {
        sql.push_str(" AND archived = 1");
    } else if !f.include_archived {
        sql.push_str(&format!(" AND {NOT_ARCHIVED}"));
    }
    if f.only_pinned {
        sql.push_str(" AND pinned = 1");
    } else if !f.include_pinned {
        sql.push_str(&format!(" AND {NOT_PINNED}"));
    }
    if !f.include_folders && !f.only_pinned {
        sql.push_str(" AND folder_id IS NULL");
    }
    sql.push_str(&format!(" ORDER BY {}", order_clause(f.sort, f.ascending)));
    sql.push_str(&limit_clause(f.page));
    title_rows(c, &sql, vec![user_id.to_string().into()], true)
}

/// Filter of the archived list and the admin's per-user list.
#[derive(Debug, Clone, Default)]
pub struct TitleQuery {
    /// Case-insensitive title substring.
    pub query: Option<String>,
    /// (column, ascending); the column must be one of [`ORDERABLE`].
    pub order: Option<(String, bool)>,
}

/// Columns a list may be ordered by.
pub const ORDERABLE: [&str; 9] = [
    "id",
    "user_id",
    "title",
    "created_at",
    "updated_at",
    "share_id",
    "archived",
    "pinned",
    "last_read_at",
];

/// Title lists with a title filter and a chosen order: `archived` `Some(true)`
/// for `GET /api/v1/chats/archived`, `Some(false)` for unarchived chats, `None`
/// for all (the admin's `/list/user/{id}`).
pub fn list_filtered(
    c: &Connection,
    user_id: &str,
    archived: Option<bool>,
    q: &TitleQuery,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Vec<ChatTitleRow>> {
    let archived_only = archived == Some(true);
    let mut sql = format!(
        "SELECT id, title, updated_at, created_at, {}, 0 FROM chat WHERE user_id = ? AND {NOT_INTERNAL}",
        if archived_only { "NULL" } else { "last_read_at" }
    );
    let mut args: Vec<SqlValue> = vec![user_id.to_string().into()];
    match archived {
        Some(true) => sql.push_str(" AND archived = 1"),
        Some(false) => sql.push_str(&format!(" AND {NOT_ARCHIVED}")),
        None => {}
    }
    if let Some(query) = q.query.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(" AND lower(title) LIKE ? ESCAPE '\\'");
        args.push(super::like_contains(&query.to_lowercase()).into());
    }
    match &q.order {
        Some((col, asc)) if ORDERABLE.contains(&col.as_str()) => {
            sql.push_str(&format!(
                " ORDER BY {col} {}, id ASC",
                if *asc { "ASC" } else { "DESC" }
            ));
        }
        _ => sql.push_str(" ORDER BY updated_at DESC, id ASC"),
    }
    sql.push_str(&limit_clause(Some((limit, offset))));
    title_rows(c, &sql, args, true)
}

/// Chats of one folder of the user (pinned and archived ones aside).
pub fn list_in_folder(
    c: &Connection,
    folder_id: &str,
    user_id: &str,
    sort: SortBy,
    ascending: bool,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Vec<ChatTitleRow>> {
    let sql = format!(
        "SELECT id, title, updated_at, created_at, last_read_at, 0 FROM chat \
         WHERE folder_id = ? AND user_id = ? AND {NOT_PINNED} AND {NOT_ARCHIVED} AND {NOT_INTERNAL} ORDER BY {}{}",
        order_clause(sort, ascending),
        limit_clause(Some((limit, offset)))
    );
    title_rows(
        c,
        &sql,
        vec![folder_id.to_string().into(), user_id.to_string().into()],
        true,
    )
}

/// Chats of any owner in a (shared) folder: `(row, owner id)`.
pub fn list_in_folder_all_users(
    c: &Connection,
    folder_id: &str,
    sort: SortBy,
    ascending: bool,
    unread_for: &str,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Vec<(ChatTitleRow, String)>> {
    let order = match sort {
        SortBy::Unread => format!(
            "(CASE WHEN {} AND chat.user_id = ? THEN 1 ELSE 0 END) DESC, updated_at DESC, id ASC",
            crate::db::folders::UNREAD_SQL.replace("ch.", "chat.")
        ),
        other => order_clause(other, ascending),
    };
    let sql = format!(
        "SELECT id, title, updated_at, created_at, last_read_at, user_id FROM chat \
         WHERE folder_id = ? AND {NOT_PINNED} AND {NOT_ARCHIVED} AND {NOT_INTERNAL} ORDER BY {order}{}",
        limit_clause(Some((limit, offset)))
    );
    let mut args: Vec<SqlValue> = vec![folder_id.to_string().into()];
    if sort == SortBy::Unread {
        args.push(unread_for.to_string().into());
    }
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), |r| {
        Ok((
            ChatTitleRow {
                id: r.get(0)?,
                title: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                updated_at: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                created_at: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                last_read_at: r.get(4)?,
                archived: false,
                snippet: None,
            },
            r.get::<_, Option<String>>(5)?.unwrap_or_default(),
        ))
    })?;
    rows.collect()
}

pub fn count_in_folder_all_users(c: &Connection, folder_id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        &format!("SELECT count(*) FROM chat WHERE folder_id = ? AND {NOT_PINNED} AND {NOT_ARCHIVED} AND {NOT_INTERNAL}"),
        [folder_id],
        |r| r.get(0),
    )
}

/// Full chats of the user in any of the folders (pinned and archived aside).
pub fn in_folders(
    c: &Connection,
    folder_ids: &[String],
    user_id: &str,
) -> rusqlite::Result<Vec<ChatRow>> {
    if folder_ids.is_empty() {
        return Ok(vec![]);
    }
    let marks = vec!["?"; folder_ids.len()].join(", ");
    let sql = format!(
        "SELECT {COLUMNS} FROM chat WHERE folder_id IN ({marks}) AND user_id = ? AND {NOT_PINNED} AND {NOT_ARCHIVED} \
           AND {NOT_INTERNAL} ORDER BY updated_at DESC"
    );
    let mut args: Vec<SqlValue> = folder_ids
        .iter()
        .map(|s| SqlValue::Text(s.clone()))
        .collect();
    args.push(user_id.to_string().into());
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), from_row)?;
    rows.collect()
}

pub fn count_in_folders(
    c: &Connection,
    folder_ids: &[String],
    user_id: &str,
) -> rusqlite::Result<i64> {
    let mut n = 0;
    for fid in folder_ids {
        n += c.query_row(
            &format!(
                "SELECT count(*) FROM chat WHERE user_id = ? AND folder_id = ? AND {NOT_INTERNAL}"
            ),
            params![user_id, fid],
            |r| r.get::<_, i64>(0),
        )?;
    }
    Ok(n)
}

/// Full chats of the user, newest first (internal ones aside).
pub fn all_for_user(
    c: &Connection,
    user_id: &str,
    archived_only: bool,
    updated_after: Option<i64>,
    ascending: bool,
    page: Option<(i64, i64)>,
) -> rusqlite::Result<Vec<ChatRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM chat WHERE user_id = ? AND {NOT_INTERNAL}");
    let mut args: Vec<SqlValue> = vec![user_id.to_string().into()];
    if archived_only {
        sql.push_str(" AND archived = 1");
    }
    if let Some(t) = updated_after {
        sql.push_str(" AND updated_at > ?");
        args.push(t.into());
    }
    sql.push_str(if ascending {
        " ORDER BY updated_at ASC, id ASC"
    } else {
        " ORDER BY updated_at DESC, id ASC"
    });
    sql.push_str(&limit_clause(page));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), from_row)?;
    rows.collect()
}

pub fn count_for_user(
    c: &Connection,
    user_id: &str,
    updated_after: Option<i64>,
) -> rusqlite::Result<i64> {
    c.query_row(
        &format!(
            "SELECT count(*) FROM chat WHERE user_id = ?1 AND {NOT_INTERNAL} AND updated_at > ?2"
        ),
        params![user_id, updated_after.unwrap_or(i64::MIN)],
        |r| r.get(0),
    )
}

/// Every chat of every user (internal ones aside), newest first.
pub fn all_chats(c: &Connection) -> rusqlite::Result<Vec<ChatRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM chat WHERE {NOT_INTERNAL} ORDER BY updated_at DESC"
    ))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

pub fn count_archived(c: &Connection, user_id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        &format!(
            "SELECT count(*) FROM chat WHERE user_id = ?1 AND archived = 1 AND {NOT_INTERNAL}"
        ),
        [user_id],
        |r| r.get(0),
    )
}

/// Tag ids used by the user's archived chats.
pub fn archived_tag_ids(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for row in all_for_user(c, user_id, true, None, false, None)? {
        for t in row.tag_ids() {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// Chats of the user carrying a tag.
pub fn list_by_tag(
    c: &Connection,
    user_id: &str,
    tag_name: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<ChatTitleRow>> {
    let sql = format!(
        "SELECT id, title, updated_at, created_at, last_read_at, 0 FROM chat WHERE user_id = ? AND {NOT_INTERNAL} \
           AND {TAG_MATCH} ORDER BY updated_at DESC, id ASC{}",
        limit_clause(Some((limit, skip)))
    );
    title_rows(
        c,
        &sql,
        vec![
            user_id.to_string().into(),
            tags::normalize_id(tag_name).into(),
        ],
        true,
    )
}

// ---------------------------------------------------------------------------
// Search

const FILTER_PREFIXES: [&str; 5] = ["tag:", "folder:", "pinned:", "archived:", "shared:"];

/// The free-text part of a search (filters removed), lower-cased.
pub fn search_content_query(text: &str) -> String {
    text.replace('\0', "")
        .to_lowercase()
        .split_whitespace()
        .filter(|w| !FILTER_PREFIXES.iter().any(|p| w.starts_with(p)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Alphanumeric runs of the text, unique, in order.
pub fn search_terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let lower = text.to_lowercase();
    for w in lower.split(|ch: char| !(ch.is_ascii_lowercase() || ch.is_ascii_digit())) {
        if !w.is_empty() && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// Where the search text occurs in the chat's messages: up to 200 characters
/// around the first hit, whitespace collapsed, `...` where cut.
pub fn search_snippet(chat: &Value, search_text: &str) -> Option<String> {
    const MAX: usize = 200;
    if search_text.is_empty() {
        return None;
    }
    let history: Vec<&Value> = match chat.pointer("/history/messages").and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m.values().collect(),
        _ => chat
            .get("messages")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
    };
    let mut needles = vec![search_text.to_string()];
    for t in search_terms(search_text) {
        if !needles.contains(&t) {
            needles.push(t);
        }
    }
    for needle in &needles {
        let n: Vec<char> = needle.chars().collect();
        if n.is_empty() {
            continue;
        }
        for m in &history {
            let Some(content) = m.get("content").and_then(Value::as_str) else {
                continue;
            };
            let chars: Vec<char> = content.chars().collect();
            // One lower-case char per original char keeps the indexes aligned.
            let lower: Vec<char> = chars
                .iter()
                .map(|ch| ch.to_lowercase().next().unwrap_or(*ch))
                .collect();
            let Some(index) = lower.windows(n.len()).position(|w| w == n.as_slice()) else {
                continue;
            };
            let len = chars.len();
            let mut start = index.saturating_sub(MAX / 2);
            let mut end = (start + MAX).min(len);
            if index + n.len() > end {
                end = (index + n.len()).min(len);
                start = end.saturating_sub(MAX);
            }
            let piece: String = chars[start..end].iter().collect();
            let snippet = piece.split_whitespace().collect::<Vec<_>>().join(" ");
            return Some(format!(
                "{}{}{}",
                if start > 0 { "..." } else { "" },
                snippet,
                if end < len { "..." } else { "" }
            ));
        }
    }
    None
}

fn content_match_sql(p: &str) -> String {
    let src = "CASE WHEN json_valid(chat.chat) THEN chat.chat ELSE '{}' END";
    format!(
        "(EXISTS (SELECT 1 FROM json_each({src}, '$.history.messages') hm WHERE hm.type = 'object' \
            AND lower(json_extract(hm.value, '$.content')) LIKE {p} ESCAPE '\\') \
          OR EXISTS (SELECT 1 FROM json_each({src}, '$.messages') lm WHERE lm.type = 'object' \
            AND lower(json_extract(lm.value, '$.content')) LIKE {p} ESCAPE '\\'))"
    )
}

/// `GET /api/v1/chats/search`: title and message text, plus the filters
/// `tag:<id>` (`tag:none` = untagged), `folder:<name>`, `pinned:`, `archived:`
/// and `shared:` (`true`/`false`). Exact phrase hits come first.
pub fn search(
    c: &Connection,
    user_id: &str,
    text: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<ChatRow>> {
    let text = text.replace('\0', "").to_lowercase();
    let text = text.trim();
    if text.is_empty() {
        let ids = list_filtered(c, user_id, Some(false), &TitleQuery::default(), limit, skip)?;
        let mut out = Vec::new();
        for t in ids {
            if let Some(r) = get(c, &t.id)? {
                out.push(r);
            }
        }
        return Ok(out);
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let tag_ids: Vec<String> = words
        .iter()
        .filter_map(|w| w.strip_prefix("tag:"))
        .map(tags::normalize_id)
        .collect();
    let folder_names: Vec<String> = words
        .iter()
        .filter_map(|w| w.strip_prefix("folder:"))
        .map(str::to_string)
        .collect();
    let flag = |name: &str| {
        if words.contains(&format!("{name}:true").as_str()) {
            Some(true)
        } else if words.contains(&format!("{name}:false").as_str()) {
            Some(false)
        } else {
            None
        }
    };
    let (pinned, archived, shared) = (flag("pinned"), flag("archived"), flag("shared"));
    let phrase = words
        .iter()
        .filter(|w| !FILTER_PREFIXES.iter().any(|p| w.starts_with(p)))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let terms: Vec<String> = search_terms(&phrase)
        .into_iter()
        .filter(|t| *t != phrase)
        .collect();

    let mut args: Vec<SqlValue> = Vec::new();
    let mut bind = |v: SqlValue| {
        args.push(v);
        format!("?{}", args.len())
    };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM chat WHERE user_id = {} AND {NOT_INTERNAL}",
        bind(user_id.to_string().into())
    );
    match archived {
        Some(a) => sql.push_str(if a {
            " AND archived = 1"
        } else {
            " AND archived = 0"
        }),
        None => sql.push_str(&format!(" AND {NOT_ARCHIVED}")),
    }
    if let Some(p) = pinned {
        sql.push_str(if p {
            " AND pinned = 1"
        } else {
            " AND pinned = 0"
        });
    }
    if let Some(s) = shared {
        sql.push_str(if s {
            " AND share_id IS NOT NULL"
        } else {
            " AND share_id IS NULL"
        });
    }
    if !folder_names.is_empty() {
        let ids = crate::db::folders::ids_matching_names(c, user_id, &folder_names)?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let marks: Vec<String> = ids.into_iter().map(|i| bind(i.into())).collect();
        sql.push_str(&format!(" AND folder_id IN ({})", marks.join(", ")));
    }
    let mut exact: Option<String> = None;
    if !phrase.is_empty() {
        let t = bind(super::like_contains(&phrase).into());
        let clause = format!(
            "(lower(title) LIKE {t} ESCAPE '\\' OR {})",
            content_match_sql(&t)
        );
        let mut term_clauses = Vec::new();
        for term in &terms {
            let t = bind(super::like_contains(term).into());
            term_clauses.push(format!(
                "(lower(title) LIKE {t} ESCAPE '\\' OR {})",
                content_match_sql(&t)
            ));
        }
        if term_clauses.is_empty() {
            sql.push_str(&format!(" AND {clause}"));
        } else {
            sql.push_str(&format!(
                " AND ({clause} OR ({}))",
                term_clauses.join(" AND ")
            ));
        }
        exact = Some(clause);
    }
    if tag_ids.iter().any(|t| t == "none") {
        sql.push_str(
            " AND NOT EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(meta) THEN meta ELSE '{}' END, '$.tags'))",
        );
    } else {
        for t in &tag_ids {
            let p = bind(t.clone().into());
            sql.push_str(&format!(" AND {}", TAG_MATCH.replace('?', &p)));
        }
    }
    match exact {
        Some(clause) => sql.push_str(&format!(
            " ORDER BY (CASE WHEN {clause} THEN 0 ELSE 1 END), updated_at DESC, id ASC"
        )),
        None => sql.push_str(" ORDER BY updated_at DESC, id ASC"),
    }
    sql.push_str(&limit_clause(Some((limit, skip))));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), from_row)?;
    rows.collect()
}

// ---------------------------------------------------------------------------
// Deletes

fn delete_rows(
    c: &Connection,
    where_sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    let sub = format!("SELECT id FROM chat WHERE {where_sql}");
    c.execute(
        &format!("UPDATE automation_run SET chat_id = NULL WHERE chat_id IN ({sub})"),
        args,
    )?;
    c.execute(
        &format!("DELETE FROM chat_message WHERE chat_id IN ({sub})"),
        args,
    )?;
    c.execute(
        &format!("DELETE FROM shared_chat WHERE chat_id IN ({sub})"),
        args,
    )?;
    c.execute(&format!("DELETE FROM chat WHERE {where_sql}"), args)?;
    Ok(())
}

/// Deletes a chat with its messages and shares.
pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    delete_rows(c, "id = ?1", &[&id])
}

pub fn delete_all_for_user(c: &Connection, user_id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM shared_chat WHERE user_id = ?1", [user_id])?;
    delete_rows(c, "user_id = ?1", &[&user_id])
}

pub fn delete_in_folder(c: &Connection, user_id: &str, folder_id: &str) -> rusqlite::Result<()> {
    delete_rows(
        c,
        "user_id = ?1 AND folder_id = ?2",
        &[&user_id, &folder_id],
    )
}

/// Internal chats spawned from this one (they go when it goes).
pub fn internal_children(
    c: &Connection,
    parent_id: &str,
    user_id: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT id FROM chat WHERE user_id = ?1 AND json_valid(meta) \
           AND json_extract(meta, '$.internal') = 1 AND json_extract(meta, '$.parent_chat_id') = ?2",
    )?;
    let rows = st.query_map(params![user_id, parent_id], |r| r.get(0))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        c
    }

    fn typeof_row(c: &Connection, id: &str) -> Map<String, Value> {
        let cols = [
            "content",
            "output",
            "files",
            "sources",
            "embeds",
            "done",
            "status_history",
            "error",
            "usage",
            "meta",
            "parent_id",
            "model_id",
            "context_summary",
        ];
        let mut out = Map::new();
        for col in cols {
            let (t, v): (String, Option<String>) = c
                .query_row(
                    &format!(
                        "SELECT typeof({col}), CAST({col} AS TEXT) FROM chat_message WHERE id = ?1"
                    ),
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            out.insert(col.into(), json!([t, v]));
        }
        out
    }

    #[test]
    fn upsert_message_keeps_both_stores_in_step() {
        let c = db();
        let chat = json!({
            "id": "", "title": "New Chat", "models": ["m"],
            "history": {"messages": {"u1": {
                "id": "u1", "parentId": null, "childrenIds": [], "role": "user",
                "content": "Hello", "timestamp": 1795337975, "models": ["m"]
            }}, "currentId": "u1"},
            "messages": [], "files": [], "tags": [], "timestamp": 1795337975000i64
        });
        let row = insert_new(&c, "user-1", "c1", &chat, None, 1795337975).unwrap();
        assert_eq!(row.title, "New Chat");
        assert_eq!(row.current_message_id.as_deref(), Some("u1"));

        // The user row as upstream stores it.
        let user = typeof_row(&c, "c1-u1");
        assert_eq!(user["content"], json!(["text", "\"Hello\""]));
        assert_eq!(user["done"], json!(["integer", "1"]));
        for col in [
            "output",
            "files",
            "sources",
            "embeds",
            "status_history",
            "error",
            "usage",
            "meta",
        ] {
            assert_eq!(user[col], json!(["text", "null"]), "{col}");
        }
        for col in ["parent_id", "model_id", "context_summary"] {
            assert_eq!(user[col], json!(["null", null]), "{col}");
        }

        // An assistant placeholder, then its final state.
        upsert_message(
            &c,
            "c1",
            "a1",
            &json!({"id": "a1", "parentId": "u1", "childrenIds": [], "role": "assistant", "content": "",
                    "done": false, "model": "m", "modelIdx": 0, "timestamp": 1795337976}),
            true,
            1795337976,
        )
        .unwrap();
        let a = typeof_row(&c, "c1-a1");
        assert_eq!(a["done"], json!(["integer", "0"]));
        assert_eq!(a["model_id"], json!(["text", "m"]));
        assert_eq!(a["parent_id"], json!(["text", "u1"]));
        assert!(chat_messages::has_unfinished_assistant(&c, "c1").unwrap());

        let output = json!([{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                             "content": [{"type": "output_text", "text": "Hi there"}]}]);
        upsert_message(
            &c,
            "c1",
            "a1",
            &json!({"done": true, "output": output, "meta": {"task_id": "t1"},
                    "usage": {"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19}}),
            false,
            1795337980,
        )
        .unwrap();

        let row = get(&c, "c1").unwrap().unwrap();
        let msgs = row.history_messages().unwrap();
        assert_eq!(msgs["u1"]["childrenIds"], json!(["a1"]));
        assert_eq!(
            msgs["a1"]["content"], "Hi there",
            "content filled from output"
        );
        assert_eq!(msgs["a1"]["done"], true);
        assert_eq!(msgs["a1"]["modelIdx"], 0, "earlier fields kept");
        assert_eq!(row.chat["history"]["currentId"], "a1");
        assert_eq!(row.current_message_id.as_deref(), Some("a1"));
        assert_eq!(row.updated_at, 1795337980);

        let a = typeof_row(&c, "c1-a1");
        assert_eq!(a["content"], json!(["text", "\"Hi there\""]));
        assert_eq!(a["done"], json!(["integer", "1"]));
        assert_eq!(a["meta"], json!(["text", "{\"task_id\":\"t1\"}"]));
        assert_eq!(
            a["usage"],
            json!(["text", "{\"prompt_tokens\":10,\"completion_tokens\":9,\"total_tokens\":19,\"input_tokens\":10,\"output_tokens\":9}"])
        );
        assert_eq!(a["output"][0], "text");
        assert!(!chat_messages::has_unfinished_assistant(&c, "c1").unwrap());

        // The row map rebuilds the same tree.
        let map = chat_messages::messages_map(&c, "c1").unwrap().unwrap();
        assert_eq!(map["u1"]["childrenIds"], json!(["a1"]));
        assert_eq!(map["a1"]["content"], "Hi there");
        assert_eq!(map["a1"]["model"], "m");

        set_title(&c, "c1", "Greeting", 1795337990).unwrap();
        let row = get(&c, "c1").unwrap().unwrap();
        assert_eq!(
            (row.title.as_str(), row.chat["title"].as_str()),
            ("Greeting", Some("Greeting"))
        );
        assert_eq!(row.updated_at, 1795337980);

        assert_eq!(
            add_tags(&c, "c1", "user-1", &["Small Talk".into(), "none".into()]).unwrap(),
            ["small_talk"]
        );
        let tag: (String, String, Option<String>) = c
            .query_row(
                "SELECT id, name, meta FROM tag WHERE user_id = 'user-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(tag, ("small_talk".into(), "Small Talk".into(), None));
    }

    #[test]
    fn deleting_a_message_reparents_grandchildren() {
        let mut h = json!({"currentId": "c", "messages": {
            "a": {"id": "a", "parentId": null, "childrenIds": ["b"], "role": "user"},
            "b": {"id": "b", "parentId": "a", "childrenIds": ["c"], "role": "assistant"},
            "c": {"id": "c", "parentId": "b", "childrenIds": ["d"], "role": "user"},
            "d": {"id": "d", "parentId": "c", "childrenIds": [], "role": "assistant"}
        }});
        let deleted = delete_message_from_history(&mut h, "b");
        assert_eq!(deleted, ["b", "c"]);
        assert_eq!(h["messages"]["a"]["childrenIds"], json!(["d"]));
        assert_eq!(h["messages"]["d"]["parentId"], "a");
        assert_eq!(h["currentId"], "d");
    }

    #[test]
    fn merge_keeps_streaming_replies_and_rebuilds_links() {
        let stored = json!({"currentId": "a", "messages": {
            "u": {"id": "u", "parentId": null, "childrenIds": ["a"], "role": "user"},
            "a": {"id": "a", "parentId": "u", "childrenIds": [], "role": "assistant"}
        }});
        let incoming = json!({"currentId": "u2", "messages": {
            "u2": {"id": "u2", "parentId": "a", "childrenIds": [], "role": "user"}
        }});
        let m = merge_history(Some(&stored), Some(&incoming));
        assert_eq!(m["currentId"], "u2");
        assert_eq!(m["messages"]["a"]["childrenIds"], json!(["u2"]));
        let m = merge_history(Some(&stored), Some(&json!({"currentId": "missing"})));
        assert_eq!(m["currentId"], "a");
    }

    #[test]
    fn snippets_and_terms() {
        let chat = json!({"history": {"messages": {"x": {"content": "The quick   brown fox"}}}});
        assert_eq!(
            search_snippet(&chat, "brown").as_deref(),
            Some("The quick brown fox")
        );
        assert_eq!(search_snippet(&chat, "zebra"), None);
        assert_eq!(search_terms("Hello, world 42!"), ["hello", "world", "42"]);
        assert_eq!(search_content_query("tag:fun Pirate maps"), "pirate maps");
    }
}
