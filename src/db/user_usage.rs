//! Reads behind a user's own usage page (`/api/v1/users/usage`): the rows of
//! `chat_message` and `chat` that belong to one account. The arithmetic over
//! them (days, streaks, shares) lives in `crate::usage`.

use rusqlite::{params_from_iter, types::Value as Sql, Connection};
use serde_json::Value;

/// Token columns as the analytics dashboard reads them: the normalised keys,
/// else OpenAI's names.
const INPUT: &str = "coalesce(CAST(json_extract(usage, '$.input_tokens') AS INTEGER), \
                     CAST(json_extract(usage, '$.prompt_tokens') AS INTEGER))";
const OUTPUT: &str = "coalesce(CAST(json_extract(usage, '$.output_tokens') AS INTEGER), \
                      CAST(json_extract(usage, '$.completion_tokens') AS INTEGER))";

/// `usage` holds JSON text; a stored `'null'` counts as absent.
const HAS_USAGE: &str = "(usage IS NOT NULL AND usage != 'null')";

/// Chats the usage page counts (internal helper chats aside).
const VISIBLE_CHAT: &str =
    "(CASE WHEN json_valid(c.meta) THEN json_extract(c.meta, '$.internal') END) IS NOT 1";

/// `user_id = ?` plus optional time bounds (0 reads as "no bound").
fn bounds(user_id: &str, start: Option<i64>, end: Option<i64>) -> (String, Vec<Sql>) {
    let mut sql = String::from("user_id = ?");
    let mut args = vec![Sql::Text(user_id.to_string())];
    if let Some(s) = start.filter(|s| *s != 0) {
        sql.push_str(" AND created_at >= ?");
        args.push(Sql::Integer(s));
    }
    if let Some(e) = end.filter(|e| *e != 0) {
        sql.push_str(" AND created_at <= ?");
        args.push(Sql::Integer(e));
    }
    (sql, args)
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub user_messages: i64,
    pub assistant_messages: i64,
    /// Every message, whatever its role.
    pub messages: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub models_used: i64,
}

pub fn summary(
    c: &Connection,
    user_id: &str,
    start: Option<i64>,
    end: Option<i64>,
) -> rusqlite::Result<Summary> {
    let (w, args) = bounds(user_id, start, end);
    let mut out = Summary::default();
    let mut st = c.prepare(&format!(
        "SELECT role, count(*) FROM chat_message WHERE {w} GROUP BY role"
    ))?;
    let mut rows = st.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let role: Option<String> = r.get(0)?;
        let n: i64 = r.get(1)?;
        out.messages += n;
        match role.as_deref() {
            Some("user") => out.user_messages += n,
            Some("assistant") => out.assistant_messages += n,
            _ => {}
        }
    }
    let (input, output, models) = c.query_row(
        &format!(
            "SELECT coalesce(sum(CASE WHEN {HAS_USAGE} THEN {INPUT} END), 0), \
                    coalesce(sum(CASE WHEN {HAS_USAGE} THEN {OUTPUT} END), 0), \
                    count(DISTINCT model_id) \
             FROM chat_message WHERE {w} AND role = 'assistant'"
        ),
        params_from_iter(args.iter()),
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    )?;
    out.input_tokens = input;
    out.output_tokens = output;
    out.models_used = models;
    Ok(out)
}

/// One message of the period, as the day-by-day figures need it.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub created_at: i64,
    pub chat_id: String,
    pub role: Option<String>,
    pub model_id: Option<String>,
    /// Input + output tokens when the message carries usage.
    pub tokens: Option<i64>,
}

pub fn messages(
    c: &Connection,
    user_id: &str,
    start: i64,
    end: i64,
) -> rusqlite::Result<Vec<MessageRow>> {
    let mut st = c.prepare(&format!(
        "SELECT coalesce(created_at, 0), chat_id, role, model_id, \
                CASE WHEN {HAS_USAGE} THEN coalesce({INPUT}, 0) + coalesce({OUTPUT}, 0) END \
         FROM chat_message WHERE user_id = ?1 AND created_at >= ?2 AND created_at <= ?3"
    ))?;
    let rows = st.query_map(rusqlite::params![user_id, start, end], |r| {
        Ok(MessageRow {
            created_at: r.get(0)?,
            chat_id: r.get(1)?,
            role: r.get(2)?,
            model_id: r.get(3)?,
            tokens: r.get(4)?,
        })
    })?;
    rows.collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub model_id: String,
    pub messages: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// The models that answered most in the period, most messages first.
pub fn top_models(
    c: &Connection,
    user_id: &str,
    start: i64,
    end: i64,
    limit: i64,
) -> rusqlite::Result<Vec<ModelRow>> {
    let mut st = c.prepare(&format!(
        "SELECT model_id, count(*), coalesce(sum({INPUT}), 0), coalesce(sum({OUTPUT}), 0) \
         FROM chat_message WHERE user_id = ?1 AND role = 'assistant' AND model_id IS NOT NULL \
           AND created_at >= ?2 AND created_at <= ?3 \
         GROUP BY model_id ORDER BY count(*) DESC, model_id LIMIT ?4"
    ))?;
    let rows = st.query_map(rusqlite::params![user_id, start, end, limit], |r| {
        Ok(ModelRow {
            model_id: r.get(0)?,
            messages: r.get(1)?,
            input_tokens: r.get(2)?,
            output_tokens: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// `(output, meta)` of every message in the period, parsed; tool names are
/// found in both.
pub fn tool_sources(
    c: &Connection,
    user_id: &str,
    start: i64,
    end: i64,
) -> rusqlite::Result<Vec<(Value, Value)>> {
    let mut st = c.prepare(
        "SELECT output, meta FROM chat_message \
         WHERE user_id = ?1 AND created_at >= ?2 AND created_at <= ?3 \
           AND ((output IS NOT NULL AND output != 'null') OR (meta IS NOT NULL AND meta != 'null'))",
    )?;
    let parse = |s: Option<String>| {
        s.and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .unwrap_or(Value::Null)
    };
    let rows = st.query_map(rusqlite::params![user_id, start, end], |r| {
        Ok((
            parse(r.get::<_, Option<String>>(0)?),
            parse(r.get::<_, Option<String>>(1)?),
        ))
    })?;
    rows.collect()
}

/// Number of the user's chats, and `(chat_id, created_at)` of their messages
/// ordered by chat then time (for how long a chat was active).
pub fn chat_activity(c: &Connection, user_id: &str) -> rusqlite::Result<(i64, Vec<(String, i64)>)> {
    let total = c.query_row(
        &format!("SELECT count(*) FROM chat c WHERE c.user_id = ?1 AND {VISIBLE_CHAT}"),
        [user_id],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT m.chat_id, m.created_at FROM chat_message m JOIN chat c ON c.id = m.chat_id \
         WHERE c.user_id = ?1 AND {VISIBLE_CHAT} AND m.created_at IS NOT NULL \
         ORDER BY m.chat_id, m.created_at"
    ))?;
    let rows = st.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((total, rows.collect::<rusqlite::Result<_>>()?))
}
