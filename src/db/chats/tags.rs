//! The tags of a chat (`meta.tags`) and the `tag` rows they use.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::rows::{NOT_INTERNAL, TAG_MATCH};
use crate::chat::history::str_list;
use crate::db::json::JsonCol;
use crate::db::tags;

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
