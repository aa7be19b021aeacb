//! Lists of chats: the sidebar's title lists, folders, exports, counts.

use rusqlite::{params, params_from_iter, types::Value as SqlValue, Connection};
use serde_json::{json, Value};

use super::rows::{from_row, ChatRow, COLUMNS, NOT_ARCHIVED, NOT_INTERNAL, NOT_PINNED, TAG_MATCH};
use crate::db::tags;

pub const PAGE_SIZE: i64 = 60;

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

pub(super) fn limit_clause(page: Option<(i64, i64)>) -> String {
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
        args.push(crate::db::like_contains(&query.to_lowercase()).into());
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
