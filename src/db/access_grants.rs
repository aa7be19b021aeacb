//! The `access_grant` table: who may read or write a shared resource.
//!
//! A grant names a principal: `user` with a user id, `user` with `*` (every
//! signed-in user, i.e. public), or `group` with a group id. Owners are not
//! stored here; callers check ownership themselves.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, params_from_iter, Connection};
use serde_json::{json, Value};

pub const PUBLIC: &str = "*";

#[derive(Debug, Clone, PartialEq)]
pub struct GrantRow {
    pub id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub principal_type: String,
    pub principal_id: String,
    pub permission: String,
    pub created_at: i64,
}

impl GrantRow {
    /// The full grant object, as models and other resources embed it.
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "principal_type": self.principal_type,
            "principal_id": self.principal_id,
            "permission": self.permission,
            "created_at": self.created_at,
        })
    }
}

/// A grant as accepted from a request, after [`normalize`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewGrant {
    pub id: String,
    pub principal_type: String,
    pub principal_id: String,
    pub permission: String,
}

/// Keeps the well-formed grants of a request payload and drops duplicates
/// (same principal and permission; the last one wins, in first position).
pub fn normalize(grants: &Value) -> Vec<NewGrant> {
    let Some(list) = grants.as_array() else {
        return vec![];
    };
    let mut out: Vec<NewGrant> = Vec::new();
    for g in list {
        let (Some(pt), Some(pid), Some(perm)) = (
            g.get("principal_type").and_then(Value::as_str),
            g.get("principal_id").and_then(Value::as_str),
            g.get("permission").and_then(Value::as_str),
        ) else {
            continue;
        };
        if !matches!(pt, "user" | "group" | "anyone")
            || !matches!(perm, "read" | "write")
            || pid.is_empty()
        {
            continue;
        }
        // No-auth "anyone" access exists only as public read.
        if pt == "anyone" && (pid != PUBLIC || perm != "read") {
            continue;
        }
        let id = g
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(super::new_id);
        let grant = NewGrant {
            id,
            principal_type: pt.to_string(),
            principal_id: pid.to_string(),
            permission: perm.to_string(),
        };
        match out.iter_mut().find(|o| {
            o.principal_type == grant.principal_type
                && o.principal_id == grant.principal_id
                && o.permission == grant.permission
        }) {
            Some(existing) => *existing = grant,
            None => out.push(grant),
        }
    }
    out
}

/// Group ids of a user, including the ancestors of those groups (nested
/// groups inherit the grants given to their parents).
pub fn group_ids_of(c: &Connection, user_id: &str) -> rusqlite::Result<HashSet<String>> {
    let mut st = c.prepare_cached(
        "WITH RECURSIVE g(id) AS ( \
             SELECT group_id FROM group_member WHERE user_id = ?1 \
             UNION SELECT grp.parent_group_id FROM \"group\" grp JOIN g ON grp.id = g.id \
                   WHERE grp.parent_group_id IS NOT NULL) \
         SELECT id FROM g",
    )?;
    let rows = st.query_map([user_id], |r| r.get::<_, String>(0))?;
    rows.collect()
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        id: r.get(0)?,
        resource_type: r.get(1)?,
        resource_id: r.get(2)?,
        principal_type: r.get(3)?,
        principal_id: r.get(4)?,
        permission: r.get(5)?,
        created_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
    })
}

const COLUMNS: &str =
    "id, resource_type, resource_id, principal_type, principal_id, permission, created_at";

pub fn by_resource(
    c: &Connection,
    resource_type: &str,
    resource_id: &str,
) -> rusqlite::Result<Vec<GrantRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM access_grant WHERE resource_type = ?1 AND resource_id = ?2 ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([resource_type, resource_id], from_row)?;
    rows.collect()
}

/// Every grant of one resource type, grouped by resource id.
pub fn by_type(
    c: &Connection,
    resource_type: &str,
) -> rusqlite::Result<HashMap<String, Vec<GrantRow>>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM access_grant WHERE resource_type = ?1 ORDER BY created_at, id"
    ))?;
    let mut out: HashMap<String, Vec<GrantRow>> = HashMap::new();
    for row in st.query_map([resource_type], from_row)? {
        let row = row?;
        out.entry(row.resource_id.clone()).or_default().push(row);
    }
    Ok(out)
}

/// Replaces every grant of a resource.
pub fn replace(
    c: &Connection,
    resource_type: &str,
    resource_id: &str,
    grants: &[NewGrant],
    now: i64,
) -> rusqlite::Result<Vec<GrantRow>> {
    c.execute(
        "DELETE FROM access_grant WHERE resource_type = ?1 AND resource_id = ?2",
        [resource_type, resource_id],
    )?;
    let mut out = Vec::with_capacity(grants.len());
    for g in grants {
        // Ids from the request are only hints: a fresh id avoids colliding with
        // a grant of another resource that was copied from the same payload.
        let id = super::new_id();
        c.execute(
            "INSERT INTO access_grant (id, resource_type, resource_id, principal_type, principal_id, permission, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, resource_type, resource_id, g.principal_type, g.principal_id, g.permission, now],
        )?;
        out.push(GrantRow {
            id,
            resource_type: resource_type.to_string(),
            resource_id: resource_id.to_string(),
            principal_type: g.principal_type.clone(),
            principal_id: g.principal_id.clone(),
            permission: g.permission.clone(),
            created_at: now,
        });
    }
    Ok(out)
}

pub fn delete_for(
    c: &Connection,
    resource_type: &str,
    resource_ids: &[String],
) -> rusqlite::Result<usize> {
    let mut n = 0;
    for id in resource_ids {
        n += c.execute(
            "DELETE FROM access_grant WHERE resource_type = ?1 AND resource_id = ?2",
            [resource_type, id.as_str()],
        )?;
    }
    Ok(n)
}

/// Whether a grant list (in memory) gives the user `permission`.
pub fn grants_allow(
    grants: &[GrantRow],
    user_id: &str,
    group_ids: &HashSet<String>,
    permission: &str,
) -> bool {
    grants.iter().any(|g| {
        g.permission == permission
            && match g.principal_type.as_str() {
                "user" => g.principal_id == PUBLIC || g.principal_id == user_id,
                "group" => group_ids.contains(&g.principal_id),
                _ => false,
            }
    })
}

/// Whether the stored grants of a resource give the user `permission`.
pub fn has_access(
    c: &Connection,
    user_id: &str,
    group_ids: &HashSet<String>,
    resource_type: &str,
    resource_id: &str,
    permission: &str,
) -> rusqlite::Result<bool> {
    let grants = by_resource(c, resource_type, resource_id)?;
    Ok(grants_allow(&grants, user_id, group_ids, permission))
}

/// The subset of `ids` whose grants give the user `permission`.
pub fn accessible_ids(
    c: &Connection,
    user_id: &str,
    group_ids: &HashSet<String>,
    resource_type: &str,
    ids: &[String],
    permission: &str,
) -> rusqlite::Result<HashSet<String>> {
    let mut out = HashSet::new();
    // Bounded IN lists keep us under SQLite's variable limit.
    for chunk in ids.chunks(400) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "SELECT resource_id, principal_type, principal_id FROM access_grant \
             WHERE resource_type = ? AND permission = ? AND resource_id IN ({marks})"
        );
        let mut st = c.prepare(&sql)?;
        let mut args: Vec<&str> = vec![resource_type, permission];
        args.extend(chunk.iter().map(String::as_str));
        let rows = st.query_map(params_from_iter(args), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (rid, pt, pid) = row?;
            let ok = match pt.as_str() {
                "user" => pid == PUBLIC || pid == user_id,
                "group" => group_ids.contains(&pid),
                _ => false,
            };
            if ok {
                out.insert(rid);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_drops_bad_and_duplicate_grants() {
        let v = json!([
            {"principal_type": "user", "principal_id": "*", "permission": "read"},
            {"principal_type": "group", "principal_id": "g1", "permission": "write", "id": "keep"},
            {"principal_type": "user", "principal_id": "*", "permission": "read"},
            {"principal_type": "anyone", "principal_id": "*", "permission": "write"},
            {"principal_type": "robot", "principal_id": "x", "permission": "read"},
            {"principal_type": "user", "principal_id": "", "permission": "read"},
            "nonsense"
        ]);
        let g = normalize(&v);
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].id, "keep");
        assert!(normalize(&Value::Null).is_empty());
    }

    #[test]
    fn grant_matching() {
        let mk = |pt: &str, pid: &str, perm: &str| GrantRow {
            id: "i".into(),
            resource_type: "model".into(),
            resource_id: "m".into(),
            principal_type: pt.into(),
            principal_id: pid.into(),
            permission: perm.into(),
            created_at: 0,
        };
        let groups: HashSet<String> = ["g1".to_string()].into();
        assert!(grants_allow(
            &[mk("user", "*", "read")],
            "u",
            &HashSet::new(),
            "read"
        ));
        assert!(!grants_allow(
            &[mk("user", "*", "read")],
            "u",
            &HashSet::new(),
            "write"
        ));
        assert!(grants_allow(
            &[mk("group", "g1", "write")],
            "u",
            &groups,
            "write"
        ));
        assert!(!grants_allow(
            &[mk("user", "other", "read")],
            "u",
            &groups,
            "read"
        ));
        assert!(!grants_allow(&[], "u", &groups, "read"));
    }
}
