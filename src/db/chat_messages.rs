//! The `chat_message` table: one row per message, id `<chat_id>-<message_id>`.
//!
//! It mirrors `chat.chat.history.messages` (which stays what the UI renders) and
//! feeds search, unread counts and analytics. JSON columns hold JSON text, with
//! `'null'` for absent values, as upstream's ORM writes them; `parent_id`,
//! `model_id` and `context_summary` are plain TEXT and stay SQL NULL.

use crate::json::truthy;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use super::json::JsonCol;

fn composite_id(chat_id: &str, message_id: &str) -> String {
    format!("{chat_id}-{message_id}")
}

/// `a or b` with Python's truthiness, as upstream picks between key spellings.
fn either<'a>(data: &'a Value, a: &str, b: &str) -> Option<&'a Value> {
    match data.get(a) {
        Some(v) if truthy(v) => Some(v),
        _ => data.get(b).filter(|v| truthy(v)),
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// SQLite boolean for `done`: JSON booleans as 0/1, null as NULL.
fn done_of(v: &Value) -> Option<i64> {
    match v {
        Value::Null => None,
        other => Some(truthy(other) as i64),
    }
}

/// Adds upstream's standard token fields (`input_tokens`, `output_tokens`,
/// `total_tokens`) next to whatever the provider reported.
pub fn normalize_usage(usage: &Value) -> Value {
    let Some(u) = usage.as_object().filter(|u| !u.is_empty()) else {
        return Value::Object(Map::new());
    };
    let num = |k: &str| u.get(k).filter(|v| truthy(v)).and_then(Value::as_f64);
    let input = num("input_tokens")
        .or_else(|| num("prompt_tokens"))
        .or_else(|| num("prompt_eval_count"))
        .unwrap_or_else(|| num("prompt_n").unwrap_or(0.0) + num("cache_n").unwrap_or(0.0));
    let output = num("output_tokens")
        .or_else(|| num("completion_tokens"))
        .or_else(|| num("eval_count"))
        .or_else(|| num("predicted_n"))
        .unwrap_or(0.0);
    let total = num("total_tokens").unwrap_or(input + output);
    let mut out = u.clone();
    out.insert("input_tokens".into(), Value::from(input as i64));
    out.insert("output_tokens".into(), Value::from(output as i64));
    out.insert("total_tokens".into(), Value::from(total as i64));
    Value::Object(out)
}

fn is_number(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Number(_)))
}

fn add_numbers(a: Option<&Value>, b: Option<&Value>) -> Value {
    let n = |v: Option<&Value>| {
        v.filter(|v| v.is_number())
            .cloned()
            .unwrap_or(Value::from(0))
    };
    let (a, b) = (n(a), n(b));
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Value::from(x + y),
        _ => serde_json::Number::from_f64(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0))
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}

fn merge_numeric_map(cur: &Map<String, Value>, inc: &Map<String, Value>) -> Map<String, Value> {
    let mut out = cur.clone();
    for (k, v) in inc {
        out.insert(k.clone(), v.clone());
    }
    let keys: Vec<String> = out.keys().cloned().collect();
    for k in keys {
        let (c, i) = (cur.get(&k), inc.get(&k));
        if c.is_some_and(Value::is_object) || i.is_some_and(Value::is_object) {
            let empty = Map::new();
            let merged = merge_numeric_map(
                c.and_then(Value::as_object).unwrap_or(&empty),
                i.and_then(Value::as_object).unwrap_or(&empty),
            );
            out.insert(k, Value::Object(merged));
        } else if is_number(c) || is_number(i) {
            out.insert(k, add_numbers(c, i));
        }
    }
    out
}

/// Usage of several model calls on one message: token and cost counters add up.
pub fn merge_usage(current: &Value, incoming: &Value) -> Value {
    let cur = normalize_usage(current);
    let inc = normalize_usage(incoming);
    let (Some(c), Some(i)) = (cur.as_object(), inc.as_object()) else {
        return inc;
    };
    if i.is_empty() {
        return cur;
    }
    if c.is_empty() {
        return inc;
    }
    let mut out = c.clone();
    for (k, v) in i {
        out.insert(k.clone(), v.clone());
    }
    const SUMMABLE: [&str; 9] = [
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cost",
        "total_cost",
        "input_cost",
        "output_cost",
        "prompt_cost",
        "completion_cost",
    ];
    for k in SUMMABLE {
        if (c.contains_key(k) || i.contains_key(k)) && (is_number(c.get(k)) || is_number(i.get(k)))
        {
            out.insert(k.into(), add_numbers(c.get(k), i.get(k)));
        }
    }
    for k in [
        "prompt_tokens_details",
        "completion_tokens_details",
        "input_tokens_details",
        "output_tokens_details",
    ] {
        if c.get(k).is_some_and(Value::is_object) || i.get(k).is_some_and(Value::is_object) {
            let empty = Map::new();
            let merged = merge_numeric_map(
                c.get(k).and_then(Value::as_object).unwrap_or(&empty),
                i.get(k).and_then(Value::as_object).unwrap_or(&empty),
            );
            out.insert(k.into(), Value::Object(merged));
        }
    }
    let pick = |m: &Map<String, Value>, a: &str, b: &str| {
        m.get(a)
            .filter(|v| truthy(v))
            .or_else(|| m.get(b).filter(|v| truthy(v)))
            .cloned()
    };
    let prompt = pick(i, "prompt_tokens", "input_tokens")
        .or_else(|| c.get("prompt_tokens").cloned())
        .unwrap_or(Value::from(0));
    let completion = pick(i, "completion_tokens", "output_tokens")
        .or_else(|| c.get("completion_tokens").cloned())
        .unwrap_or(Value::from(0));
    out.insert("prompt_tokens".into(), prompt);
    out.insert("completion_tokens".into(), completion);
    Value::Object(out)
}

/// Usage as upstream reads it off a message: `usage`, else `info.usage`.
fn usage_of(data: &Value) -> Option<Value> {
    let u = data.get("usage").filter(|v| truthy(v)).or_else(|| {
        data.get("info")
            .and_then(|i| i.get("usage"))
            .filter(|v| truthy(v))
    })?;
    Some(normalize_usage(u))
}

/// Inserts the row, or overwrites only the columns `data` carries when it exists.
pub fn upsert(
    c: &Connection,
    chat_id: &str,
    message_id: &str,
    user_id: &str,
    data: &Value,
    now: i64,
) -> rusqlite::Result<()> {
    let id = composite_id(chat_id, message_id);
    let existing: Option<JsonCol> = c
        .query_row("SELECT usage FROM chat_message WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .optional()?;
    let json = |k: &str| JsonCol(data.get(k).cloned().unwrap_or(Value::Null));
    match existing {
        None => {
            let usage = usage_of(data).unwrap_or(Value::Null);
            c.execute(
                "INSERT INTO chat_message (id, chat_id, user_id, role, parent_id, content, output, model_id, \
                   files, sources, embeds, done, status_history, error, usage, created_at, updated_at, \
                   context_summary, meta) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                params![
                    id,
                    chat_id,
                    user_id,
                    data.get("role").and_then(Value::as_str).unwrap_or("user"),
                    text_of(either(data, "parent_id", "parentId")),
                    json("content"),
                    json("output"),
                    text_of(either(data, "model_id", "model")),
                    json("files"),
                    json("sources"),
                    json("embeds"),
                    data.get("done").map_or(Some(1), done_of),
                    JsonCol(either(data, "status_history", "statusHistory").cloned().unwrap_or(Value::Null)),
                    json("error"),
                    JsonCol(usage),
                    int_of(data.get("timestamp").filter(|v| truthy(v))).unwrap_or(now),
                    now,
                    text_of(either(data, "context_summary", "contextSummary")),
                    json("meta"),
                ],
            )?;
        }
        Some(old_usage) => {
            let mut sets: Vec<String> = Vec::new();
            let mut vals: Vec<rusqlite::types::Value> = Vec::new();
            let mut set = |col: &str, v: rusqlite::types::Value| {
                sets.push(format!("{col} = ?"));
                vals.push(v);
            };
            use rusqlite::types::Value as Sql;
            let text = |v: Option<String>| v.map_or(Sql::Null, Sql::Text);
            let jtext =
                |v: Option<&Value>| Sql::Text(v.cloned().unwrap_or(Value::Null).to_string());
            if let Some(r) = data.get("role") {
                set("role", text(text_of(Some(r))));
            }
            if data.get("parent_id").is_some() || data.get("parentId").is_some() {
                set(
                    "parent_id",
                    text(text_of(either(data, "parent_id", "parentId"))),
                );
            }
            for col in [
                "content", "output", "files", "sources", "embeds", "meta", "error",
            ] {
                if data.get(col).is_some() {
                    set(col, jtext(data.get(col)));
                }
            }
            if data.get("model_id").is_some() || data.get("model").is_some() {
                set("model_id", text(text_of(either(data, "model_id", "model"))));
            }
            if let Some(d) = data.get("done") {
                set("done", done_of(d).map_or(Sql::Null, Sql::Integer));
            }
            if data.get("status_history").is_some() || data.get("statusHistory").is_some() {
                set(
                    "status_history",
                    jtext(either(data, "status_history", "statusHistory")),
                );
            }
            if data.get("context_summary").is_some() || data.get("contextSummary").is_some() {
                set(
                    "context_summary",
                    text(text_of(either(data, "context_summary", "contextSummary"))),
                );
            }
            if let Some(usage) = usage_of(data) {
                let old = normalize_usage(&old_usage.0);
                let merged = if usage == old {
                    old
                } else {
                    merge_usage(&old_usage.0, &usage)
                };
                set("usage", Sql::Text(merged.to_string()));
            }
            set("updated_at", Sql::Integer(now));
            let sql = format!("UPDATE chat_message SET {} WHERE id = ?", sets.join(", "));
            vals.push(Sql::Text(id));
            c.execute(&sql, rusqlite::params_from_iter(vals))?;
        }
    }
    Ok(())
}

pub fn delete_for_chat(c: &Connection, chat_id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM chat_message WHERE chat_id = ?1", [chat_id])
}

pub fn delete_ids(c: &Connection, chat_id: &str, message_ids: &[String]) -> rusqlite::Result<()> {
    for mid in message_ids {
        c.execute(
            "DELETE FROM chat_message WHERE id = ?1 AND chat_id = ?2",
            params![composite_id(chat_id, mid), chat_id],
        )?;
    }
    Ok(())
}

/// True while an assistant reply of the chat is still being written.
pub fn has_unfinished_assistant(c: &Connection, chat_id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM chat_message WHERE chat_id = ?1 AND role = 'assistant' AND done = 0)",
        [chat_id],
        |r| r.get(0),
    )
}

/// The messages of a chat rebuilt from its rows, shaped like
/// `history.messages` (with `childrenIds` recomputed from the parent links);
/// `None` when the chat has no rows at all.
pub fn messages_map(c: &Connection, chat_id: &str) -> rusqlite::Result<Option<Map<String, Value>>> {
    let mut st = c.prepare(
        "SELECT id, user_id, role, parent_id, content, output, model_id, files, sources, embeds, meta, \
           done, status_history, error, usage, context_summary, created_at \
         FROM chat_message WHERE chat_id = ?1 ORDER BY rowid",
    )?;
    let prefix = format!("{chat_id}-");
    let rows = st.query_map([chat_id], |r| {
        let id: String = r.get(0)?;
        let mid = id.strip_prefix(&prefix).unwrap_or(&id).to_string();
        let mut m = Map::new();
        m.insert("id".into(), Value::String(mid.clone()));
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                m.insert(k.into(), v);
            }
        };
        let opt_text = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
        put("user_id", opt_text(r.get(1)?));
        put("role", opt_text(r.get(2)?));
        put("parentId", opt_text(r.get(3)?));
        put("content", r.get::<_, JsonCol>(4)?.0);
        put("output", r.get::<_, JsonCol>(5)?.0);
        put("model", opt_text(r.get(6)?));
        put("files", r.get::<_, JsonCol>(7)?.0);
        put("sources", r.get::<_, JsonCol>(8)?.0);
        put("embeds", r.get::<_, JsonCol>(9)?.0);
        put("meta", r.get::<_, JsonCol>(10)?.0);
        put(
            "done",
            r.get::<_, Option<bool>>(11)?
                .map(Value::Bool)
                .unwrap_or(Value::Null),
        );
        put("statusHistory", r.get::<_, JsonCol>(12)?.0);
        put("error", r.get::<_, JsonCol>(13)?.0);
        put("usage", r.get::<_, JsonCol>(14)?.0);
        put("contextSummary", opt_text(r.get(15)?));
        put(
            "timestamp",
            r.get::<_, Option<i64>>(16)?
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        m.entry("content").or_insert(Value::String(String::new()));
        if let Some(u) = m.get("usage").cloned() {
            m.insert("info".into(), serde_json::json!({ "usage": u }));
        }
        Ok((mid, Value::Object(m)))
    })?;
    let mut map = Map::new();
    for row in rows {
        let (k, v) = row?;
        map.insert(k, v);
    }
    if map.is_empty() {
        return Ok(None);
    }
    let links: Vec<(String, String)> = map
        .iter()
        .filter_map(|(id, m)| Some((id.clone(), m.get("parentId")?.as_str()?.to_string())))
        .collect();
    for (id, parent) in links {
        if let Some(Value::Object(p)) = map.get_mut(&parent) {
            let children = p
                .entry("childrenIds")
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(a) = children {
                if !a.iter().any(|x| x.as_str() == Some(&id)) {
                    a.push(Value::String(id));
                }
            }
        }
    }
    for m in map.values_mut() {
        if let Value::Object(o) = m {
            o.entry("childrenIds")
                .or_insert_with(|| Value::Array(vec![]));
        }
    }
    Ok(Some(map))
}
