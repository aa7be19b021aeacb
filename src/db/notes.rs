//! The `note` and `pinned_note` tables. Timestamps are nanoseconds.
//!
//! Who may see a note: its owner, admins, and whoever an `access_grant` row of
//! resource type `note` names (a user, `*` for everyone, or a group).

use std::collections::HashSet;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use super::json::{opt, JsonCol};

pub const RESOURCE: &str = "note";

#[derive(Debug, Clone)]
pub struct NoteRow {
    pub id: String,
    pub user_id: String,
    pub title: String,
    /// Always an object (upstream turns a missing `data` into `{}`).
    pub data: Value,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A note with its author (None when the account is gone).
pub type NoteWithAuthor = (NoteRow, Option<Author>);

/// A note's author as the list endpoints embed it (`UserResponse`).
#[derive(Debug, Clone)]
pub struct Author {
    pub id: String,
    pub name: String,
    pub role: String,
    pub email: String,
}

impl Author {
    pub fn wire(&self) -> Value {
        json!({"id": self.id, "name": self.name, "role": self.role, "email": self.email})
    }
}

/// Makes `content.md` a string, as upstream does for malformed rows: a JSON
/// value there becomes a fenced JSON block, anything else its text form.
pub fn sanitize_data(data: Value) -> Value {
    let mut data = match data {
        Value::Null => return json!({}),
        Value::Object(m) => m,
        Value::String(s) => return json!({"content": {"md": s}}),
        other => return json!({"content": {"md": other.to_string()}}),
    };
    if let Some(Value::Object(content)) = data.get_mut("content") {
        let md = match content.get("md") {
            None | Some(Value::String(_)) => None,
            Some(Value::Null) => Some(String::new()),
            Some(v @ (Value::Object(_) | Value::Array(_))) => Some(format!(
                "```json\n{}\n```",
                serde_json::to_string_pretty(v).unwrap_or_default()
            )),
            Some(Value::Bool(b)) => Some(if *b { "True" } else { "False" }.to_string()),
            Some(v) => Some(v.to_string()),
        };
        if let Some(md) = md {
            content.insert("md".into(), Value::String(md));
        }
    }
    Value::Object(data)
}

const COLUMNS: &str = "n.id, n.user_id, n.title, n.data, n.meta, n.created_at, n.updated_at";

fn from_row(r: &Row) -> rusqlite::Result<NoteRow> {
    Ok(NoteRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        title: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        data: sanitize_data(r.get::<_, JsonCol>(3)?.0),
        meta: opt(r.get::<_, JsonCol>(4)?),
        created_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
    })
}

fn author_from(r: &Row, at: usize) -> rusqlite::Result<Option<Author>> {
    let Some(id) = r.get::<_, Option<String>>(at)? else {
        return Ok(None);
    };
    Ok(Some(Author {
        id,
        name: r.get::<_, Option<String>>(at + 1)?.unwrap_or_default(),
        role: r
            .get::<_, Option<String>>(at + 2)?
            .unwrap_or_else(|| "pending".into()),
        email: r.get::<_, Option<String>>(at + 3)?.unwrap_or_default(),
    }))
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<NoteRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM note n WHERE n.id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

pub fn insert(c: &Connection, row: &NoteRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO note (id, user_id, title, data, meta, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            row.id,
            row.user_id,
            row.title,
            JsonCol(row.data.clone()),
            JsonCol(row.meta.clone().unwrap_or(Value::Null)),
            row.created_at,
            row.updated_at,
        ],
    )?;
    Ok(())
}

/// What an update may change; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct NoteUpdate {
    pub title: Option<String>,
    /// Keys merged into `data` (shallow).
    pub data: Option<Map<String, Value>>,
    /// Keys merged into `meta` (shallow).
    pub meta: Option<Map<String, Value>>,
}

/// Applies an update; `updated_at` only moves when something changed.
pub fn update(
    c: &Connection,
    id: &str,
    u: &NoteUpdate,
    now: i64,
) -> rusqlite::Result<Option<NoteRow>> {
    let Some(mut row) = get(c, id)? else {
        return Ok(None);
    };
    let before = (row.title.clone(), row.data.clone(), row.meta.clone());
    if let Some(t) = &u.title {
        row.title = t.clone();
    }
    if let Some(d) = &u.data {
        let mut m = row.data.as_object().cloned().unwrap_or_default();
        for (k, v) in d {
            m.insert(k.clone(), v.clone());
        }
        row.data = sanitize_data(Value::Object(m));
    }
    if let Some(d) = &u.meta {
        let mut m = row
            .meta
            .as_ref()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in d {
            m.insert(k.clone(), v.clone());
        }
        row.meta = Some(Value::Object(m));
    }
    if before == (row.title.clone(), row.data.clone(), row.meta.clone()) {
        return Ok(Some(row));
    }
    row.updated_at = now;
    c.execute(
        "UPDATE note SET title = ?2, data = ?3, meta = ?4, updated_at = ?5 WHERE id = ?1",
        params![
            id,
            row.title,
            JsonCol(row.data.clone()),
            JsonCol(row.meta.clone().unwrap_or(Value::Null)),
            now
        ],
    )?;
    Ok(Some(row))
}

/// Removes the note with its grants and pins.
pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM access_grant WHERE resource_type = 'note' AND resource_id = ?1",
        [id],
    )?;
    c.execute("DELETE FROM pinned_note WHERE note_id = ?1", [id])?;
    c.execute("DELETE FROM note WHERE id = ?1", [id])?;
    Ok(())
}

pub fn pinned_ids(c: &Connection, user_id: &str) -> rusqlite::Result<HashSet<String>> {
    let mut st = c.prepare_cached("SELECT note_id FROM pinned_note WHERE user_id = ?1")?;
    let rows = st.query_map([user_id], |r| r.get(0))?;
    rows.collect()
}

/// Pins or unpins for this user; returns whether it is pinned now.
pub fn toggle_pin(
    c: &Connection,
    note_id: &str,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = c.execute(
        "DELETE FROM pinned_note WHERE user_id = ?1 AND note_id = ?2",
        [user_id, note_id],
    )?;
    if n > 0 {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO pinned_note (id, user_id, note_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![super::new_id(), user_id, note_id, now],
    )?;
    Ok(true)
}

/// Who is asking, for the access filter: `None` means no filter at all (an
/// admin while admin bypass is on).
pub struct Viewer<'a> {
    pub user_id: &'a str,
    pub group_ids: &'a HashSet<String>,
}

fn groups_json(groups: &HashSet<String>) -> String {
    Value::Array(groups.iter().cloned().map(Value::String).collect()).to_string()
}

/// SQL that is true when the viewer owns note `n` or a grant gives them
/// `permission`; binds the viewer id, permission and group list at `?{at}..`.
fn access_sql(at: usize) -> String {
    let (u, p, g) = (at, at + 1, at + 2);
    format!(
        "(n.user_id = ?{u} OR EXISTS (SELECT 1 FROM access_grant ag \
           WHERE ag.resource_type = 'note' AND ag.resource_id = n.id AND ag.permission = ?{p} \
             AND ((ag.principal_type = 'user' AND (ag.principal_id = '*' OR ag.principal_id = ?{u})) \
               OR (ag.principal_type = 'group' AND ag.principal_id IN (SELECT value FROM json_each(?{g}))))))"
    )
}

/// SQL that is true when a grant lets the viewer read note `n` but none lets
/// them write it, and they do not own it; binds the viewer id and group list
/// at `?{at}..` (an empty id matches no user grant).
fn read_only_sql(at: usize, has_viewer: bool) -> String {
    let (u, g) = (at, at + 1);
    let grant = |perm: &str| {
        format!(
            "EXISTS (SELECT 1 FROM access_grant ag \
               WHERE ag.resource_type = 'note' AND ag.resource_id = n.id AND ag.permission = '{perm}' \
                 AND ((ag.principal_type = 'user' AND (ag.principal_id = '*' OR ag.principal_id = ?{u})) \
                   OR (ag.principal_type = 'group' AND ag.principal_id IN (SELECT value FROM json_each(?{g})))))"
        )
    };
    let own = if has_viewer {
        format!(" AND n.user_id IS NOT ?{u}")
    } else {
        String::new()
    };
    format!("({} AND NOT {}{own})", grant("read"), grant("write"))
}

/// Notes the viewer may access with `permission`, newest first.
pub fn list_accessible(
    c: &Connection,
    v: &Viewer,
    permission: &str,
    limit: Option<i64>,
    offset: Option<i64>,
) -> rusqlite::Result<Vec<NoteWithAuthor>> {
    let sql = format!(
        "SELECT {COLUMNS}, u.id, u.name, u.role, u.email FROM note n LEFT JOIN user u ON u.id = n.user_id \
         WHERE {} ORDER BY n.updated_at DESC LIMIT ?4 OFFSET ?5",
        access_sql(1)
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(
        params![
            v.user_id,
            permission,
            groups_json(v.group_ids),
            limit.unwrap_or(-1),
            offset.unwrap_or(0)
        ],
        |r| Ok((from_row(r)?, author_from(r, 7)?)),
    )?;
    rows.collect()
}

/// The viewer's pinned notes they can still read, most recently pinned first.
pub fn list_pinned(c: &Connection, v: &Viewer) -> rusqlite::Result<Vec<NoteWithAuthor>> {
    let sql = format!(
        "SELECT {COLUMNS}, u.id, u.name, u.role, u.email FROM note n \
         JOIN pinned_note p ON p.note_id = n.id LEFT JOIN user u ON u.id = n.user_id \
         WHERE p.user_id = ?1 AND {} ORDER BY p.created_at DESC",
        access_sql(1)
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params![v.user_id, "read", groups_json(v.group_ids)], |r| {
        Ok((from_row(r)?, author_from(r, 7)?))
    })?;
    rows.collect()
}

/// Filters of `GET /api/v1/notes/search`.
#[derive(Debug, Default)]
pub struct Search {
    pub query: Option<String>,
    /// `created` (own notes) or `shared` (others').
    pub view_option: Option<String>,
    pub permission: Option<String>,
    pub order_by: Option<String>,
    pub direction: Option<String>,
}

/// One page of the search and the total before paging.
pub fn search(
    c: &Connection,
    caller_id: &str,
    viewer: Option<&Viewer>,
    s: &Search,
    limit: Option<i64>,
    offset: Option<i64>,
) -> rusqlite::Result<(Vec<NoteWithAuthor>, i64)> {
    let mut wheres: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    let bind = |args: &mut Vec<SqlValue>, v: SqlValue| {
        args.push(v);
        args.len()
    };
    if let Some(q) = s.query.as_deref().filter(|q| !q.is_empty()) {
        for word in q.split_whitespace() {
            let w = word.replace('-', "");
            if w.is_empty() {
                continue;
            }
            let i = bind(&mut args, SqlValue::Text(super::like_contains(&w)));
            wheres.push(format!(
                "(replace(replace(coalesce(n.title, ''), '-', ''), ' ', '') LIKE ?{i} ESCAPE '\\' \
                  OR replace(replace(coalesce(CASE WHEN json_valid(n.data) THEN json_extract(n.data, '$.content.md') END, ''), '-', ''), ' ', '') LIKE ?{i} ESCAPE '\\')"
            ));
        }
    }
    match s.view_option.as_deref() {
        Some("created") => {
            let i = bind(&mut args, SqlValue::Text(caller_id.into()));
            wheres.push(format!("n.user_id = ?{i}"));
        }
        Some("shared") => {
            let i = bind(&mut args, SqlValue::Text(caller_id.into()));
            wheres.push(format!("n.user_id IS NOT ?{i}"));
        }
        _ => {}
    }
    if s.permission.as_deref() == Some("read_only") {
        // Readable but not writable, and not the viewer's own; without a
        // viewer (admin bypass) only public grants are looked at.
        let at = args.len() + 1;
        let (uid, groups) = viewer
            .map(|v| (v.user_id.to_string(), groups_json(v.group_ids)))
            .unwrap_or_else(|| (String::new(), "[]".into()));
        args.push(SqlValue::Text(uid));
        args.push(SqlValue::Text(groups));
        wheres.push(read_only_sql(at, viewer.is_some()));
    } else if let Some(v) = viewer {
        let at = args.len() + 1;
        args.push(SqlValue::Text(v.user_id.into()));
        args.push(SqlValue::Text(
            s.permission.clone().unwrap_or_else(|| "write".into()),
        ));
        args.push(SqlValue::Text(groups_json(v.group_ids)));
        wheres.push(access_sql(at));
    }
    let dir = if s.direction.as_deref() == Some("asc") {
        "ASC"
    } else {
        "DESC"
    };
    let order = match s.order_by.as_deref() {
        Some("name") => format!("n.title {dir}"),
        Some("created_at") => format!("n.created_at {dir}"),
        Some("updated_at") => format!("n.updated_at {dir}"),
        _ => "n.updated_at DESC".to_string(),
    };
    let filter = if wheres.is_empty() {
        "1".to_string()
    } else {
        wheres.join(" AND ")
    };
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM note n WHERE {filter}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let li = args.len() + 1;
    args.push(SqlValue::Integer(limit.unwrap_or(-1)));
    args.push(SqlValue::Integer(offset.unwrap_or(0)));
    let sql = format!(
        "SELECT {COLUMNS}, u.id, u.name, u.role, u.email FROM note n LEFT JOIN user u ON u.id = n.user_id \
         WHERE {filter} ORDER BY {order}, n.id LIMIT ?{li} OFFSET ?{}",
        li + 1
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), |r| {
        Ok((from_row(r)?, author_from(r, 7)?))
    })?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}

/// The author of a note, if the account still exists.
pub fn author(c: &Connection, user_id: &str) -> rusqlite::Result<Option<Author>> {
    c.query_row(
        "SELECT id, name, role, email FROM user WHERE id = ?1",
        [user_id],
        |r| author_from(r, 0),
    )
    .optional()
    .map(Option::flatten)
}

/// The hidden assistant chats a user has attached to a note, newest first.
pub fn chat_ids(c: &Connection, note_id: &str, user_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT id FROM chat WHERE user_id = ?1 AND json_valid(meta) \
           AND json_extract(meta, '$.internal') = 1 AND json_extract(meta, '$.type') = 'note' \
           AND json_extract(meta, '$.note_id') = ?2 \
         ORDER BY updated_at DESC, created_at DESC",
    )?;
    let rows = st.query_map(params![user_id, note_id], |r| r.get(0))?;
    rows.collect()
}

/// Whether `file_id` is a file the user uploaded.
pub fn owns_file(c: &Connection, file_id: &str, user_id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS(SELECT 1 FROM file WHERE id = ?1 AND user_id = ?2)",
        [file_id, user_id],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_makes_md_text() {
        assert_eq!(sanitize_data(Value::Null), json!({}));
        assert_eq!(
            sanitize_data(json!({"content": {"md": null, "html": "x"}})),
            json!({"content": {"md": "", "html": "x"}})
        );
        let v = sanitize_data(json!({"content": {"md": {"a": 1}}}));
        assert!(v["content"]["md"]
            .as_str()
            .unwrap()
            .starts_with("```json\n"));
        assert_eq!(sanitize_data(json!("hi")), json!({"content": {"md": "hi"}}));
        let ok = json!({"content": {"md": "text"}, "files": []});
        assert_eq!(sanitize_data(ok.clone()), ok);
    }

    #[test]
    fn access_and_search() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        let mk = |id: &str, user: &str, title: &str, md: &str, t: i64| NoteRow {
            id: id.into(),
            user_id: user.into(),
            title: title.into(),
            data: json!({"content": {"md": md}}),
            meta: None,
            created_at: t,
            updated_at: t,
        };
        insert(&c, &mk("a", "u1", "Shopping list", "milk eggs", 1)).unwrap();
        insert(&c, &mk("b", "u2", "To-do", "call bob", 2)).unwrap();
        insert(&c, &mk("c", "u2", "Secret", "x", 3)).unwrap();
        c.execute(
            "INSERT INTO access_grant (id, resource_type, resource_id, principal_type, principal_id, permission, created_at) \
             VALUES ('g', 'note', 'b', 'group', 'grp', 'read', 0)",
            [],
        )
        .unwrap();
        let none = HashSet::new();
        let grp: HashSet<String> = ["grp".to_string()].into();
        let v1 = Viewer {
            user_id: "u1",
            group_ids: &none,
        };
        let ids = |l: Vec<NoteWithAuthor>| l.into_iter().map(|(n, _)| n.id).collect::<Vec<_>>();
        assert_eq!(
            ids(list_accessible(&c, &v1, "read", None, None).unwrap()),
            ["a"]
        );
        let v1g = Viewer {
            user_id: "u1",
            group_ids: &grp,
        };
        assert_eq!(
            ids(list_accessible(&c, &v1g, "read", None, None).unwrap()),
            ["b", "a"]
        );
        assert!(ids(list_accessible(&c, &v1g, "write", None, None).unwrap()) == ["a"]);
        let s = Search {
            query: Some("todo".into()),
            permission: Some("read".into()),
            ..Default::default()
        };
        let (found, total) = search(&c, "u1", Some(&v1g), &s, Some(60), Some(0)).unwrap();
        assert_eq!((ids(found), total), (vec!["b".to_string()], 1));
        let (all, total) = search(&c, "u1", None, &Search::default(), None, None).unwrap();
        assert_eq!((all.len(), total), (3, 3));
        assert!(toggle_pin(&c, "a", "u1", 5).unwrap());
        assert_eq!(ids(list_pinned(&c, &v1).unwrap()), ["a"]);
        assert!(!toggle_pin(&c, "a", "u1", 6).unwrap());
        let u = NoteUpdate {
            data: Some(
                json!({"content": {"md": "new"}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..Default::default()
        };
        let row = update(&c, "a", &u, 9).unwrap().unwrap();
        assert_eq!(
            (row.updated_at, row.data["content"]["md"].as_str()),
            (9, Some("new"))
        );
        let same = update(&c, "a", &u, 10).unwrap().unwrap();
        assert_eq!(same.updated_at, 9);
    }
}
