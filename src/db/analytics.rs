//! Read-only aggregates over `chat_message` for the admin analytics dashboard.
//! Only assistant messages count; tokens come from the `usage` JSON
//! (`input_tokens`/`output_tokens`, else OpenAI's `prompt_tokens`/`completion_tokens`).

use rusqlite::{params_from_iter, types::Value as Sql, Connection};

/// The filters every dashboard query shares.
#[derive(Default, Clone)]
pub struct Filter {
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Only users in this group (directly or through its sub-groups).
    pub group_id: Option<String>,
}

const INPUT: &str = "coalesce(CAST(json_extract(usage, '$.input_tokens') AS INTEGER), \
                     CAST(json_extract(usage, '$.prompt_tokens') AS INTEGER))";
const OUTPUT: &str = "coalesce(CAST(json_extract(usage, '$.output_tokens') AS INTEGER), \
                      CAST(json_extract(usage, '$.completion_tokens') AS INTEGER))";

/// `WHERE` clause (after the role filter) and its parameters.
fn clause(f: &Filter) -> (String, Vec<Sql>) {
    let mut sql = String::from("role = 'assistant'");
    let mut args = Vec::new();
    // Upstream treats 0 like "no bound".
    if let Some(s) = f.start.filter(|s| *s != 0) {
        sql.push_str(" AND created_at >= ?");
        args.push(Sql::Integer(s));
    }
    if let Some(e) = f.end.filter(|e| *e != 0) {
        sql.push_str(" AND created_at <= ?");
        args.push(Sql::Integer(e));
    }
    if let Some(g) = f.group_id.as_ref().filter(|g| !g.is_empty()) {
        sql.push_str(
            " AND user_id IN (WITH RECURSIVE d(id) AS (SELECT ? UNION SELECT c.id FROM \"group\" c \
             JOIN d ON c.parent_group_id = d.id) SELECT m.user_id FROM group_member m \
             WHERE m.group_id IN (SELECT id FROM d))",
        );
        args.push(Sql::Text(g.clone()));
    }
    (sql, args)
}

pub struct Summary {
    pub messages: i64,
    pub chats: i64,
    pub models: i64,
    pub users: i64,
}

pub fn summary(c: &Connection, f: &Filter) -> rusqlite::Result<Summary> {
    let (w, args) = clause(f);
    c.query_row(
        &format!(
            "SELECT count(model_id), count(DISTINCT chat_id), count(DISTINCT model_id), \
             count(DISTINCT user_id) + (CASE WHEN count(*) > count(user_id) THEN 1 ELSE 0 END) \
             FROM chat_message WHERE {w}"
        ),
        params_from_iter(args),
        |r| {
            Ok(Summary {
                messages: r.get(0)?,
                chats: r.get(1)?,
                models: r.get(2)?,
                users: r.get(3)?,
            })
        },
    )
}

/// `(model_id, messages, distinct users, distinct chats)`, most messages first.
pub fn by_model(c: &Connection, f: &Filter) -> rusqlite::Result<Vec<(String, i64, i64, i64)>> {
    let (w, args) = clause(f);
    let mut st = c.prepare(&format!(
        "SELECT model_id, count(id), count(DISTINCT user_id), count(DISTINCT chat_id) \
         FROM chat_message WHERE {w} AND model_id IS NOT NULL GROUP BY model_id \
         ORDER BY count(id) DESC, model_id"
    ))?;
    let rows = st.query_map(params_from_iter(args), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    rows.collect()
}

/// Token sums of one grouping key.
pub struct Tokens {
    pub key: Option<String>,
    pub input: i64,
    pub output: i64,
    pub messages: i64,
}

/// Per model, over messages that carry usage.
/// A `(key, input, output, messages)` row.
fn tokens_row(r: &rusqlite::Row) -> rusqlite::Result<Tokens> {
    Ok(Tokens {
        key: r.get(0)?,
        input: r.get(1)?,
        output: r.get(2)?,
        messages: r.get(3)?,
    })
}

pub fn tokens_by_model(c: &Connection, f: &Filter) -> rusqlite::Result<Vec<Tokens>> {
    let (w, args) = clause(f);
    let mut st = c.prepare(&format!(
        "SELECT model_id, coalesce(sum({INPUT}), 0), coalesce(sum({OUTPUT}), 0), count(id) \
         FROM chat_message WHERE {w} AND model_id IS NOT NULL AND usage IS NOT NULL \
         GROUP BY model_id"
    ))?;
    let rows = st.query_map(params_from_iter(args), tokens_row)?;
    rows.collect()
}

/// Per user (messages without a user count, with zero tokens).
pub fn by_user(c: &Connection, f: &Filter) -> rusqlite::Result<Vec<Tokens>> {
    let (w, args) = clause(f);
    let mut st = c.prepare(&format!(
        "SELECT user_id, \
         coalesce(sum(CASE WHEN user_id IS NOT NULL THEN {INPUT} ELSE 0 END), 0), \
         coalesce(sum(CASE WHEN user_id IS NOT NULL THEN {OUTPUT} ELSE 0 END), 0), count(id) \
         FROM chat_message WHERE {w} GROUP BY user_id"
    ))?;
    let rows = st.query_map(params_from_iter(args), tokens_row)?;
    rows.collect()
}

/// `(created_at, model_id, value)` of each assistant message, where value is 1
/// or its total tokens; bucketed by the caller.
pub fn events(
    c: &Connection,
    f: &Filter,
    tokens: bool,
) -> rusqlite::Result<Vec<(Option<i64>, String, i64)>> {
    let (w, args) = clause(f);
    let value = if tokens {
        format!("coalesce({INPUT}, 0) + coalesce({OUTPUT}, 0)")
    } else {
        "1".to_string()
    };
    let mut st = c.prepare(&format!(
        "SELECT created_at, model_id, {value} FROM chat_message WHERE {w} AND model_id IS NOT NULL"
    ))?;
    let rows = st.query_map(params_from_iter(args), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect()
}
