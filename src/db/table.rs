//! Reads that many tables share: one row by id, every row newest change
//! first, and rows paired with the access grants of their resource type.
//! Each table module passes its table name, its column list and its row
//! reader.

use rusqlite::{Connection, OptionalExtension, Row};

use super::access_grants::{self, GrantRow};

/// Reads one row of a table from its selected columns.
pub type FromRow<T> = fn(&Row) -> rusqlite::Result<T>;

/// The row with the given id.
pub fn get<T>(
    c: &Connection,
    table: &str,
    columns: &str,
    id: &str,
    from_row: FromRow<T>,
) -> rusqlite::Result<Option<T>> {
    c.query_row(
        &format!("SELECT {columns} FROM {table} WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// Every row, the latest updated first (ties by id).
pub fn newest_first<T>(
    c: &Connection,
    table: &str,
    columns: &str,
    from_row: FromRow<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut st = c.prepare(&format!(
        "SELECT {columns} FROM {table} ORDER BY updated_at DESC, id"
    ))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// A row found by id (or none) with the grants of that resource.
pub fn with_grants<T>(
    c: &Connection,
    resource: &str,
    id: &str,
    row: Option<T>,
) -> rusqlite::Result<Option<(T, Vec<GrantRow>)>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let g = access_grants::by_resource(c, resource, id)?;
    Ok(Some((row, g)))
}

/// Each row with its grants (none when it has no grant), in the rows' order.
pub fn pair_with_grants<T>(
    c: &Connection,
    resource: &str,
    rows: Vec<T>,
    id_of: impl Fn(&T) -> &str,
) -> rusqlite::Result<Vec<(T, Vec<GrantRow>)>> {
    let mut grants = access_grants::by_type(c, resource)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let g = grants.remove(id_of(&row)).unwrap_or_default();
            (row, g)
        })
        .collect())
}
