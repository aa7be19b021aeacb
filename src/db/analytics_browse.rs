//! The drill-down side of the admin analytics: stored chat messages by chat,
//! model or user, the chats a model took part in, the tags of those chats and
//! the daily ratings of a model.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, params_from_iter, types::Value as Sql, Connection, Row};
use serde_json::{json, Value};

use super::json::JsonCol;

const MESSAGE_COLUMNS: &str = "id, chat_id, user_id, role, parent_id, content, output, model_id, \
     files, sources, embeds, meta, done, status_history, error, usage, context_summary, \
     created_at, updated_at";

/// A `chat_message` row as upstream's `ChatMessageModel`.
fn message(r: &Row) -> rusqlite::Result<Value> {
    let j = |i: usize| -> rusqlite::Result<Value> { Ok(r.get::<_, JsonCol>(i)?.0) };
    Ok(json!({
        "id": r.get::<_, String>(0)?,
        "chat_id": r.get::<_, String>(1)?,
        "user_id": r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        "role": r.get::<_, String>(3)?,
        "parent_id": r.get::<_, Option<String>>(4)?,
        "content": j(5)?,
        "output": j(6)?,
        "model_id": r.get::<_, Option<String>>(7)?,
        "files": j(8)?,
        "sources": j(9)?,
        "embeds": j(10)?,
        "meta": j(11)?,
        "done": r.get::<_, Option<bool>>(12)?.unwrap_or(true),
        "status_history": j(13)?,
        "error": j(14)?,
        "usage": j(15)?,
        "context_summary": r.get::<_, Option<String>>(16)?,
        "created_at": r.get::<_, Option<i64>>(17)?.unwrap_or(0),
        "updated_at": r.get::<_, Option<i64>>(18)?.unwrap_or(0),
    }))
}

fn messages_where(
    c: &Connection,
    clause: &str,
    order: &str,
    args: Vec<Sql>,
) -> rusqlite::Result<Vec<Value>> {
    let mut st = c.prepare(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_message WHERE {clause} ORDER BY {order}"
    ))?;
    let rows = st.query_map(params_from_iter(args), message)?;
    rows.collect()
}

/// Every message of a chat, oldest first.
pub fn messages_of_chat(c: &Connection, chat_id: &str) -> rusqlite::Result<Vec<Value>> {
    messages_where(
        c,
        "chat_id = ?",
        "created_at ASC",
        vec![Sql::Text(chat_id.into())],
    )
}

/// One page of a model's messages, newest first, within an optional window
/// (a bound of 0 means none, as upstream).
pub fn messages_of_model(
    c: &Connection,
    model_id: &str,
    start: Option<i64>,
    end: Option<i64>,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Value>> {
    let mut clause = String::from("model_id = ?");
    let mut args = vec![Sql::Text(model_id.into())];
    if let Some(s) = start.filter(|s| *s != 0) {
        clause.push_str(" AND created_at >= ?");
        args.push(Sql::Integer(s));
    }
    if let Some(e) = end.filter(|e| *e != 0) {
        clause.push_str(" AND created_at <= ?");
        args.push(Sql::Integer(e));
    }
    args.extend([Sql::Integer(limit), Sql::Integer(skip)]);
    messages_where(c, &clause, "created_at DESC LIMIT ? OFFSET ?", args)
}

/// One page of a user's messages, newest first.
pub fn messages_of_user(
    c: &Connection,
    user_id: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Value>> {
    messages_where(
        c,
        "user_id = ?",
        "created_at DESC LIMIT ? OFFSET ?",
        vec![
            Sql::Text(user_id.into()),
            Sql::Integer(limit),
            Sql::Integer(skip),
        ],
    )
}

/// How the chats of a model are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatOrder {
    UpdatedAt,
    Title,
    UserName,
}

/// The chats (not internal ones) with a message of `model_id` in the window:
/// one page as `ModelChatEntry` values, and how many there are in all.
#[allow(clippy::too_many_arguments)]
pub fn chats_of_model(
    c: &Connection,
    model_id: &str,
    start: Option<i64>,
    end: Option<i64>,
    order: ChatOrder,
    ascending: bool,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<(Vec<Value>, i64)> {
    let mut inner = String::from("SELECT chat_id FROM chat_message WHERE model_id = ?");
    let mut args = vec![Sql::Text(model_id.into())];
    if let Some(s) = start.filter(|s| *s != 0) {
        inner.push_str(" AND created_at >= ?");
        args.push(Sql::Integer(s));
    }
    if let Some(e) = end.filter(|e| *e != 0) {
        inner.push_str(" AND created_at <= ?");
        args.push(Sql::Integer(e));
    }
    let from = format!(
        "FROM chat LEFT JOIN user ON user.id = chat.user_id \
         WHERE chat.id IN ({inner} GROUP BY chat_id) \
         AND coalesce(json_extract(chat.meta, '$.internal'), 0) NOT IN (1, 'true')"
    );
    let total: i64 = c.query_row(
        &format!("SELECT count(*) {from}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let key = match order {
        ChatOrder::UpdatedAt => "chat.updated_at",
        ChatOrder::Title => "chat.title",
        ChatOrder::UserName => "user.name",
    };
    let dir = if ascending { "ASC" } else { "DESC" };
    let mut page_args = args;
    page_args.extend([Sql::Integer(limit), Sql::Integer(skip)]);
    let mut st = c.prepare(&format!(
        "SELECT chat.id, chat.user_id, user.name, chat.title, chat.updated_at {from} \
         ORDER BY {key} {dir}, chat.id ASC LIMIT ? OFFSET ?"
    ))?;
    let rows = st.query_map(params_from_iter(page_args), |r| {
        Ok(json!({
            "chat_id": r.get::<_, String>(0)?,
            "user_id": r.get::<_, Option<String>>(1)?,
            "user_name": r.get::<_, Option<String>>(2)?,
            "first_message": r.get::<_, Option<String>>(3)?,
            "updated_at": r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        }))
    })?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}

/// The ten tags used most by chats (archived ones too) with a message of
/// `model_id`, most used first.
pub fn tags_of_model(c: &Connection, model_id: &str) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut st = c.prepare(
        "SELECT chat.meta FROM chat WHERE chat.id IN \
         (SELECT chat_id FROM chat_message WHERE model_id = ?1 GROUP BY chat_id \
          ORDER BY max(created_at) DESC, chat_id LIMIT 10000)",
    )?;
    let metas = st.query_map(params![model_id], |r| r.get::<_, JsonCol>(0))?;
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut first_seen: Vec<String> = Vec::new();
    for meta in metas {
        for tag in crate::json::str_list(meta?.0.get("tags")) {
            if !counts.contains_key(&tag) {
                first_seen.push(tag.clone());
            }
            *counts.entry(tag).or_insert(0) += 1;
        }
    }
    let mut tags: Vec<(String, i64)> = first_seen
        .into_iter()
        .map(|t| {
            let n = counts[&t];
            (t, n)
        })
        .collect();
    // Stable: equal counts keep the order they were first seen in.
    tags.sort_by_key(|(_, n)| -n);
    tags.truncate(10);
    Ok(tags)
}

/// Won (`rating` 1) and lost (`rating` -1) ratings of a model per local day
/// (`YYYY-MM-DD`), from `start` on when given.
pub fn ratings_by_day(
    c: &Connection,
    model_id: &str,
    start: Option<i64>,
) -> rusqlite::Result<BTreeMap<String, (i64, i64)>> {
    let mut st = c.prepare(
        "SELECT created_at, json_extract(data, '$.rating') FROM feedback \
         WHERE json_extract(data, '$.model_id') = ?1 AND (?2 IS NULL OR created_at >= ?2) \
         ORDER BY created_at ASC",
    )?;
    let rows = st.query_map(params![model_id, start], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, rusqlite::types::Value>(1)?))
    })?;
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for row in rows {
        let (at, rating) = row?;
        let rating = match rating {
            Sql::Integer(i) => i.to_string(),
            Sql::Text(t) => t,
            Sql::Real(f) if f.fract() == 0.0 => format!("{}", f as i64),
            _ => continue,
        };
        let won = match rating.as_str() {
            "1" => true,
            "-1" => false,
            _ => continue,
        };
        let Some(day) = local_day(at) else { continue };
        let e = out.entry(day).or_insert((0, 0));
        if won {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    Ok(out)
}

fn local_day(secs: i64) -> Option<String> {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_opt(secs, 0)
        .single()
        .map(|d| d.format("%Y-%m-%d").to_string())
}
