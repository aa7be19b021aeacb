//! The `group` and `group_member` tables (read side needed for permissions).

use rusqlite::Connection;
use serde_json::Value;

use super::json::JsonCol;

/// Permission objects of every group the user belongs to, including the
/// ancestors of those groups (nested groups pass their permissions down).
pub fn permissions_of_member(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<Value>> {
    let mut st = c.prepare(
        "WITH RECURSIVE g(id) AS ( \
             SELECT group_id FROM group_member WHERE user_id = ?1 \
             UNION SELECT grp.parent_group_id FROM \"group\" grp JOIN g ON grp.id = g.id \
                   WHERE grp.parent_group_id IS NOT NULL) \
         SELECT permissions FROM \"group\" WHERE id IN (SELECT id FROM g)",
    )?;
    let rows = st.query_map([user_id], |r| r.get::<_, JsonCol>(0))?;
    rows.map(|r| r.map(JsonCol::into_inner)).collect()
}

pub fn ids_of_member(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT group_id FROM group_member WHERE user_id = ?1")?;
    let rows = st.query_map([user_id], |r| r.get(0))?;
    rows.collect()
}
