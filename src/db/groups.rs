//! The `group` and `group_member` tables.
//!
//! Groups nest through `parent_group_id`. A member of a group counts as a member
//! of every ancestor of that group too (so the ancestors' permissions reach it),
//! and a group's "effective" members are its own plus those of its descendants.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use super::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: String,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub permissions: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub parent_group_id: Option<String>,
}

impl GroupRow {
    /// Upstream's `GroupResponse` (the model plus `member_count`): the info
    /// with the group's data, meta and permissions.
    pub fn wire(&self, member_count: i64) -> Value {
        let mut v = self.info_wire(member_count);
        v["data"] = json!(self.data);
        v["meta"] = json!(self.meta);
        v["permissions"] = json!(self.permissions);
        v
    }

    /// Upstream's `GroupInfoResponse`, what any verified user may see.
    pub fn info_wire(&self, member_count: i64) -> Value {
        json!({
            "parent_group_id": self.parent_group_id,
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "description": self.description,
            "member_count": member_count,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The group's own `data.config.default_models`, if set and non-empty.
    pub fn default_models(&self) -> Option<Value> {
        let m = self.data.as_ref()?.get("config")?.get("default_models")?;
        match m {
            Value::Array(a) if !a.is_empty() => Some(m.clone()),
            _ => None,
        }
    }
}

const COLUMNS: &str = "g.id, g.user_id, g.name, g.description, g.data, g.meta, g.permissions, \
    g.created_at, g.updated_at, g.parent_group_id";

fn from_row(r: &Row) -> rusqlite::Result<GroupRow> {
    Ok(GroupRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        description: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        data: opt(r.get::<_, JsonCol>(4)?),
        meta: opt(r.get::<_, JsonCol>(5)?),
        permissions: opt(r.get::<_, JsonCol>(6)?),
        created_at: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
        parent_group_id: r.get(9)?,
    })
}

/// The user's direct groups plus all their ancestors (`UNION` ends on cycles).
const USER_GROUPS_CTE: &str = "WITH RECURSIVE ug(id) AS ( \
        SELECT group_id FROM group_member WHERE user_id = ?1 \
        UNION SELECT p.parent_group_id FROM \"group\" p JOIN ug ON p.id = ug.id \
              WHERE p.parent_group_id IS NOT NULL)";

/// The group and all its descendants.
const DESCENDANTS_CTE: &str = "WITH RECURSIVE d(id) AS ( \
        SELECT ?1 UNION SELECT c.id FROM \"group\" c JOIN d ON c.parent_group_id = d.id)";

/// Permission objects of every group the user belongs to, including the
/// ancestors of those groups (nested groups pass their permissions down).
pub fn permissions_of_member(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<Value>> {
    let mut st = c.prepare(&format!(
        "{USER_GROUPS_CTE} SELECT permissions FROM \"group\" WHERE id IN (SELECT id FROM ug)"
    ))?;
    let rows = st.query_map([user_id], |r| r.get::<_, JsonCol>(0))?;
    rows.map(|r| r.map(JsonCol::into_inner)).collect()
}

pub fn ids_of_member(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT group_id FROM group_member WHERE user_id = ?1")?;
    let rows = st.query_map([user_id], |r| r.get(0))?;
    rows.collect()
}

/// Groups of a user, newest change first; `inherited` adds the ancestors.
pub fn of_member(
    c: &Connection,
    user_id: &str,
    inherited: bool,
) -> rusqlite::Result<Vec<GroupRow>> {
    let sql = if inherited {
        format!(
            "{USER_GROUPS_CTE} SELECT {COLUMNS} FROM \"group\" g WHERE g.id IN (SELECT id FROM ug) \
             ORDER BY g.updated_at DESC, g.id"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM \"group\" g WHERE g.id IN \
             (SELECT group_id FROM group_member WHERE user_id = ?1) ORDER BY g.updated_at DESC, g.id"
        )
    };
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([user_id], from_row)?;
    rows.collect()
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<GroupRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM \"group\" g WHERE g.id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// Direct members (upstream's `member_count`).
pub fn member_count(c: &Connection, id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM group_member WHERE group_id = ?1",
        [id],
        |r| r.get(0),
    )
}

/// Every group with its direct member count, newest change first. With
/// `member_of`, only groups the user belongs to (directly or by nesting);
/// `share` then filters on `data.config.share` as upstream does.
pub fn list(
    c: &Connection,
    member_of: Option<&str>,
    share: Option<bool>,
) -> rusqlite::Result<Vec<(GroupRow, i64)>> {
    let all = {
        let mut st = c.prepare(&format!(
            "SELECT {COLUMNS}, (SELECT count(*) FROM group_member m WHERE m.group_id = g.id) \
             FROM \"group\" g ORDER BY g.updated_at DESC, g.id"
        ))?;
        let rows = st.query_map([], |r| Ok((from_row(r)?, r.get::<_, i64>(10)?)))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let Some(uid) = member_of else {
        return Ok(all);
    };
    let mine: std::collections::HashSet<String> =
        of_member(c, uid, true)?.into_iter().map(|g| g.id).collect();
    Ok(all
        .into_iter()
        .filter(|(g, _)| {
            let setting = g
                .data
                .as_ref()
                .and_then(|d| d.get("config"))
                .and_then(|c| c.get("share"));
            match share {
                None => mine.contains(&g.id),
                // Shareable: anyone may share to it, or members only and the user is one.
                Some(true) => match setting {
                    None | Some(Value::Null) | Some(Value::Bool(true)) => true,
                    Some(Value::Number(n)) => n.as_i64() == Some(1),
                    Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
                    Some(Value::String(s)) if s.eq_ignore_ascii_case("members") => {
                        mine.contains(&g.id)
                    }
                    _ => false,
                },
                Some(false) => match setting {
                    Some(Value::Bool(false)) => true,
                    Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
                    _ => false,
                },
            }
        })
        .collect())
}

/// Ids of the group and its ancestors.
pub fn ancestor_ids(c: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "WITH RECURSIVE a(id) AS (SELECT ?1 UNION SELECT p.parent_group_id FROM \"group\" p \
         JOIN a ON p.id = a.id WHERE p.parent_group_id IS NOT NULL) SELECT id FROM a",
    )?;
    let rows = st.query_map([id], |r| r.get(0))?;
    rows.collect()
}

/// Why a parent cannot be set: 404 when it is missing, 400 for a cycle, or
/// the database failed while looking.
pub enum ParentError {
    NotFound,
    Cycle,
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for ParentError {
    fn from(e: rusqlite::Error) -> Self {
        ParentError::Db(e)
    }
}

/// Checks that `parent` exists and that `group` is not `parent` or one of its ancestors.
pub fn check_parent(c: &Connection, group: Option<&str>, parent: &str) -> Result<(), ParentError> {
    if get(c, parent)?.is_none() {
        return Err(ParentError::NotFound);
    }
    if let Some(g) = group {
        if ancestor_ids(c, parent)?.iter().any(|a| a == g) {
            return Err(ParentError::Cycle);
        }
    }
    Ok(())
}

pub struct NewGroup<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub data: &'a Value,
    pub permissions: Option<&'a Value>,
    pub parent_group_id: Option<&'a str>,
    pub now: i64,
}

pub fn insert(c: &Connection, g: &NewGroup) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO \"group\" (id, user_id, name, description, data, meta, permissions, \
         created_at, updated_at, parent_group_id) VALUES (?1, ?2, ?3, ?4, ?5, 'null', ?6, ?7, ?7, ?8)",
        params![
            g.id,
            g.user_id,
            g.name,
            g.description,
            JsonCol(g.data.clone()),
            JsonCol(g.permissions.cloned().unwrap_or(Value::Null)),
            g.now,
            g.parent_group_id,
        ],
    )?;
    Ok(())
}

/// Writes every editable column of the row back.
pub fn update(c: &Connection, g: &GroupRow) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE \"group\" SET name = ?2, description = ?3, data = ?4, permissions = ?5, \
         parent_group_id = ?6, updated_at = ?7 WHERE id = ?1",
        params![
            g.id,
            g.name,
            g.description,
            JsonCol(g.data.clone().unwrap_or(Value::Null)),
            JsonCol(g.permissions.clone().unwrap_or(Value::Null)),
            g.parent_group_id,
            g.updated_at,
        ],
    )
}

fn touch(c: &Connection, id: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE \"group\" SET updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )
}

/// Adds the users (existing ones only) that are not members yet; returns the added ids.
pub fn add_members(
    c: &Connection,
    id: &str,
    user_ids: &[String],
    now: i64,
) -> rusqlite::Result<Vec<String>> {
    let mut added = Vec::new();
    for uid in user_ids {
        let n = c.execute(
            "INSERT OR IGNORE INTO group_member (id, group_id, user_id, created_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?4 WHERE EXISTS (SELECT 1 FROM user WHERE id = ?3)",
            params![super::new_id(), id, uid, now],
        )?;
        if n > 0 {
            added.push(uid.clone());
        }
    }
    touch(c, id, now)?;
    Ok(added)
}

pub fn remove_members(
    c: &Connection,
    id: &str,
    user_ids: &[String],
    now: i64,
) -> rusqlite::Result<usize> {
    let mut n = 0;
    for uid in user_ids {
        n += c.execute(
            "DELETE FROM group_member WHERE group_id = ?1 AND user_id = ?2",
            params![id, uid],
        )?;
    }
    touch(c, id, now)?;
    Ok(n)
}

/// Deletes the group: its children move up to its parent, its members and the
/// access grants given to it go.
pub fn delete(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Vec<String>> {
    let parent: Option<String> = c
        .query_row(
            "SELECT parent_group_id FROM \"group\" WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let children: Vec<String> = {
        let mut st = c.prepare("SELECT id FROM \"group\" WHERE parent_group_id = ?1")?;
        let rows = st.query_map([id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    c.execute(
        "UPDATE \"group\" SET parent_group_id = ?2, updated_at = ?3 WHERE parent_group_id = ?1",
        params![id, parent, now],
    )?;
    c.execute("DELETE FROM group_member WHERE group_id = ?1", [id])?;
    c.execute(
        "DELETE FROM access_grant WHERE principal_type = 'group' AND principal_id = ?1",
        [id],
    )?;
    c.execute("DELETE FROM \"group\" WHERE id = ?1", [id])?;
    Ok(children)
}

/// Takes the user out of every group (touching those groups).
pub fn remove_user_everywhere(c: &Connection, user_id: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE \"group\" SET updated_at = ?2 WHERE id IN \
         (SELECT group_id FROM group_member WHERE user_id = ?1)",
        params![user_id, now],
    )?;
    c.execute("DELETE FROM group_member WHERE user_id = ?1", [user_id])?;
    Ok(())
}

/// Ids of the group's members and of its descendant groups' members.
pub fn effective_member_ids(c: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "WITH RECURSIVE sub(id) AS (SELECT ?1 \
           UNION SELECT g.id FROM \"group\" g JOIN sub ON g.parent_group_id = sub.id) \
         SELECT DISTINCT user_id FROM group_member WHERE group_id IN (SELECT id FROM sub)",
    )?;
    let rows = st.query_map([id], |r| r.get(0))?;
    rows.collect()
}

/// Direct member ids of a group.
pub fn member_ids(c: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT user_id FROM group_member WHERE group_id = ?1")?;
    let rows = st.query_map([id], |r| r.get(0))?;
    rows.collect()
}

/// One member of the members inspector.
pub struct MemberRow {
    pub user: super::users::UserRow,
    pub direct: bool,
    /// Descendant groups (not this one) through which the user is a member.
    pub via: Vec<String>,
}

pub struct MembersPage {
    pub items: Vec<MemberRow>,
    pub total: i64,
    pub direct: i64,
    pub effective: i64,
}

/// Effective members of a group (its own and its descendants'), filtered by
/// `membership` (`direct`, `inherited`, anything else = all) and `query`,
/// 30 per page ordered by name.
pub fn members(
    c: &Connection,
    id: &str,
    membership: &str,
    query: &str,
    page: i64,
) -> rusqlite::Result<MembersPage> {
    let effective_sql = format!(
        "{DESCENDANTS_CTE} SELECT DISTINCT m.user_id FROM group_member m WHERE m.group_id IN (SELECT id FROM d)"
    );
    let effective_ids: Vec<String> = {
        let mut st = c.prepare(&effective_sql)?;
        let rows = st.query_map([id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let direct_ids: std::collections::HashSet<String> = member_ids(c, id)?.into_iter().collect();
    let q = query.to_lowercase();
    let mut users = Vec::new();
    for uid in &effective_ids {
        let is_direct = direct_ids.contains(uid);
        let keep = match membership {
            "direct" => is_direct,
            "inherited" => !is_direct,
            _ => true,
        };
        if !keep {
            continue;
        }
        if let Some(u) = super::users::get(c, uid)? {
            if q.is_empty()
                || u.name.to_lowercase().contains(&q)
                || u.email.to_lowercase().contains(&q)
            {
                users.push(u);
            }
        }
    }
    users.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let total = users.len() as i64;
    let offset = ((page.max(1) - 1) * 30) as usize;
    let descendants: Vec<String> = {
        let mut st = c.prepare(&format!("{DESCENDANTS_CTE} SELECT id FROM d"))?;
        let rows = st.query_map([id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut items = Vec::new();
    for u in users.into_iter().skip(offset).take(30) {
        let mine = ids_of_member(c, &u.id)?;
        let mut via: Vec<String> = mine
            .iter()
            .filter(|g| *g != id && descendants.contains(g))
            .cloned()
            .collect();
        via.sort();
        items.push(MemberRow {
            direct: direct_ids.contains(&u.id),
            via,
            user: u,
        });
    }
    Ok(MembersPage {
        items,
        total,
        direct: direct_ids.len() as i64,
        effective: effective_ids.len() as i64,
    })
}

/// `(id, name, owner)` of every row of a workspace table (`model`, `knowledge`,
/// `tool`), for the access previews; `active_only` skips inactive models.
pub fn owned_resources(
    c: &Connection,
    table: &str,
    active_only: bool,
) -> rusqlite::Result<Vec<(String, String, String)>> {
    let table = match table {
        "model" => "model",
        "knowledge" => "knowledge",
        "tool" => "tool",
        _ => return Ok(Vec::new()),
    };
    let filter = if active_only { " WHERE is_active" } else { "" };
    let mut st = c.prepare(&format!(
        "SELECT id, coalesce(name, ''), coalesce(user_id, '') FROM \"{table}\"{filter} ORDER BY rowid"
    ))?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}
