//! Group membership that follows an identity source (LDAP `memberOf`, a
//! trusted proxy's groups header): the user ends up in exactly the groups
//! named, optionally creating the ones that do not exist yet.

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::db;
use crate::state::AppState;

/// Upstream's default for who may share to a new group (`DEFAULT_GROUP_SHARE_PERMISSION`).
pub fn default_share() -> Value {
    match std::env::var("DEFAULT_GROUP_SHARE_PERMISSION")
        .unwrap_or_else(|_| "members".into())
        .trim()
        .to_lowercase()
        .as_str()
    {
        "members" => json!("members"),
        "true" => json!(true),
        _ => json!(false),
    }
}

/// Ids of the groups called one of `names` (exact, case-sensitive match).
fn ids_named(c: &Connection, names: &[String]) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT id FROM \"group\" WHERE name = ?1")?;
    let mut ids = Vec::new();
    for name in names {
        let rows = st.query_map([name], |r| r.get::<_, String>(0))?;
        for id in rows {
            let id = id?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// Makes `user_id` a member of exactly the groups named `names` (groups with
/// other names lose the user). With `create`, missing groups are created first,
/// owned by the user. Returns whether the membership changed.
pub fn sync_in_tx(
    c: &Connection,
    user_id: &str,
    names: &[String],
    create: bool,
    now: i64,
) -> rusqlite::Result<bool> {
    if create {
        let mut st = c.prepare("SELECT 1 FROM \"group\" WHERE name = ?1")?;
        for name in names {
            if st.exists([name])? {
                continue;
            }
            let data = json!({"config": {"share": default_share()}});
            db::groups::insert(
                c,
                &db::groups::NewGroup {
                    id: &db::new_id(),
                    user_id,
                    name,
                    description: "",
                    data: &data,
                    permissions: None,
                    parent_group_id: None,
                    now,
                },
            )?;
        }
    }
    let target = ids_named(c, names)?;
    let previous = db::groups::ids_of_member(c, user_id)?;
    let mut changed = false;
    for gid in previous.iter().filter(|g| !target.contains(g)) {
        db::groups::remove_members(c, gid, &[user_id.to_string()], now)?;
        changed = true;
    }
    for gid in target.iter().filter(|g| !previous.contains(g)) {
        c.execute(
            "INSERT OR IGNORE INTO group_member (id, group_id, user_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![db::new_id(), gid, user_id, now],
        )?;
        c.execute(
            "UPDATE \"group\" SET updated_at = ?2 WHERE id = ?1",
            params![gid, now],
        )?;
        changed = true;
    }
    Ok(changed)
}

/// [`sync_in_tx`] in its own transaction; open sockets of the user reload
/// their rights when the membership changed.
pub async fn sync(
    state: &AppState,
    user_id: &str,
    names: Vec<String>,
    create: bool,
) -> anyhow::Result<()> {
    let uid = user_id.to_string();
    let now = db::now_secs();
    let changed = state
        .db
        .write(move |tx| sync_in_tx(tx, &uid, &names, create, now))
        .await?;
    if changed {
        super::sessions::refresh_access(state, &[user_id.to_string()]).await;
    }
    Ok(())
}
