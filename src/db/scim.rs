//! SCIM's view of the `user` table: accounts an identity provider manages
//! (an OAuth link or a SCIM record in their JSON columns), and the
//! provider's external ids kept in `user.scim` as `{provider: {external_id}}`.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::json::JsonCol;
use super::users::{from_row, UserRow, COLUMNS};

/// Accounts SCIM may see: linked to an OAuth provider or provisioned by SCIM.
const MANAGED: &str =
    "((oauth IS NOT NULL AND oauth != 'null') OR (scim IS NOT NULL AND scim != 'null'))";

/// One page of managed accounts, newest first, with the total; `email` narrows
/// to that address (case-insensitive).
pub fn list(
    c: &Connection,
    email: Option<&str>,
    offset: i64,
    limit: i64,
) -> rusqlite::Result<(Vec<UserRow>, i64)> {
    let filter = "(?1 IS NULL OR lower(email) = lower(?1))";
    let total = c.query_row(
        &format!("SELECT count(*) FROM user WHERE {MANAGED} AND {filter}"),
        params![email],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM user WHERE {MANAGED} AND {filter} \
         ORDER BY created_at DESC, id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![email, limit, offset], from_row)?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}

/// A managed account by id.
pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<UserRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM user WHERE id = ?1 AND {MANAGED}"),
        [id],
        from_row,
    )
    .optional()
}

/// The account whose SCIM record for `provider` has this external id, or
/// else whose OAuth link to `provider` has it as subject.
pub fn by_external_id(
    c: &Connection,
    provider: &str,
    external_id: &str,
) -> rusqlite::Result<Option<UserRow>> {
    for column in ["scim", "oauth"] {
        let key = if column == "scim" {
            "external_id"
        } else {
            "sub"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM user WHERE {column} IS NOT NULL AND {column} != 'null' \
             AND json_valid({column}) AND json_extract({column}, ?1) = ?2 LIMIT 1"
        );
        let path = format!("$.\"{}\".{key}", provider.replace('"', ""));
        if let Some(u) = c
            .query_row(&sql, params![path, external_id], from_row)
            .optional()?
        {
            return Ok(Some(u));
        }
    }
    Ok(None)
}

fn scim_record(c: &Connection, id: &str) -> rusqlite::Result<Value> {
    let v: Option<JsonCol> = c
        .query_row("SELECT scim FROM user WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    Ok(v.map(|j| j.0).unwrap_or(Value::Null))
}

/// The first external id recorded for the account, whatever the provider.
pub fn external_id(c: &Connection, id: &str) -> rusqlite::Result<Option<String>> {
    let record = scim_record(c, id)?;
    Ok(record.as_object().and_then(|m| {
        m.values()
            .find_map(|p| p.get("external_id").and_then(Value::as_str))
            .map(str::to_string)
    }))
}

/// Records (or clears, with `None`) the provider's external id of the account.
pub fn set_external_id(
    c: &Connection,
    id: &str,
    provider: &str,
    external_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<usize> {
    let mut record = scim_record(c, id)?;
    if !record.is_object() {
        record = json!({});
    }
    record[provider] = json!({"external_id": external_id});
    c.execute(
        "UPDATE user SET scim = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, JsonCol(record), now],
    )
}
