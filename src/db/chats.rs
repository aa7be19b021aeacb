//! The `chat` table (list views; the full chat model comes with the chat pipeline).

use rusqlite::{params_from_iter, types::Value as SqlValue, Connection};

#[derive(Debug, Clone)]
pub struct ChatTitleRow {
    pub id: String,
    pub title: String,
    pub updated_at: i64,
    pub created_at: i64,
    pub last_read_at: Option<i64>,
    pub archived: bool,
}

pub const PAGE_SIZE: i64 = 60;

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub include_pinned: bool,
    pub include_folders: bool,
    pub include_archived: bool,
    pub only_pinned: bool,
    pub only_archived: bool,
    /// (limit, offset)
    pub page: Option<(i64, i64)>,
    pub sort_by_title: bool,
    pub ascending: bool,
}

pub fn list_titles(c: &Connection, user_id: &str, f: &ListFilter) -> rusqlite::Result<Vec<ChatTitleRow>> {
    let mut sql = String::from(
        "SELECT id, title, updated_at, created_at, last_read_at, archived FROM chat WHERE user_id = ?",
    );
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(user_id.to_string())];
    if f.only_archived {
        sql.push_str(" AND archived = 1");
    } else if !f.include_archived {
        sql.push_str(" AND (archived = 0 OR archived IS NULL)");
    }
    if f.only_pinned {
        sql.push_str(" AND pinned = 1");
    } else if !f.include_pinned {
        sql.push_str(" AND (pinned = 0 OR pinned IS NULL)");
    }
    if !f.include_folders && !f.only_pinned {
        sql.push_str(" AND folder_id IS NULL");
    }
    let dir = if f.ascending { "ASC" } else { "DESC" };
    if f.sort_by_title {
        sql.push_str(&format!(" ORDER BY title {dir}, id {dir}"));
    } else {
        sql.push_str(&format!(" ORDER BY updated_at {dir}, id {dir}"));
    }
    if let Some((limit, offset)) = f.page {
        sql.push_str(" LIMIT ? OFFSET ?");
        args.push(SqlValue::Integer(limit));
        args.push(SqlValue::Integer(offset));
    }
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), |r| {
        Ok(ChatTitleRow {
            id: r.get(0)?,
            title: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            updated_at: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
            created_at: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            last_read_at: r.get(4)?,
            archived: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
        })
    })?;
    rows.collect()
}

pub fn count_archived(c: &Connection, user_id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM chat WHERE user_id = ?1 AND archived = 1",
        [user_id],
        |r| r.get(0),
    )
}

/// (owner, folder) of a chat, for access checks on socket rooms.
pub fn owner_and_folder(c: &Connection, chat_id: &str) -> rusqlite::Result<Option<(String, Option<String>)>> {
    use rusqlite::OptionalExtension;
    c.query_row(
        "SELECT user_id, folder_id FROM chat WHERE id = ?1",
        [chat_id],
        |r| Ok((r.get::<_, Option<String>>(0)?.unwrap_or_default(), r.get(1)?)),
    )
    .optional()
}

pub fn set_last_read_at(c: &Connection, chat_id: &str, user_id: &str, at: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE chat SET last_read_at = ?3 WHERE id = ?1 AND user_id = ?2",
        rusqlite::params![chat_id, user_id, at],
    )
}
