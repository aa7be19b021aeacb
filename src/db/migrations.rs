//! Versioned schema migrations, embedded in the binary.
//!
//! Migration 1 is the complete Open WebUI 0.12.4 schema (alembic head
//! `0bd252b206fb`). Our own position is kept in `PRAGMA user_version`, which
//! Alembic never touches, so a database stays readable by the Python server.
//! A database written by the Python server at the same head counts as
//! migration 1 already applied.

use anyhow::{bail, Context};
use rusqlite::{Connection, OptionalExtension};

pub const ALEMBIC_HEAD: &str = "0bd252b206fb";

/// Older alembic revisions of upstream. Such a database needs upstream's own
/// migrations first; we say so instead of guessing at its shape.
const OLDER_ALEMBIC_REVISIONS: &[&str] = &[
    "018012973d35",
    "1af9b942657b",
    "1ce6ade7d93b",
    "242a2047eae0",
    "2f1211949ecc",
    "374d2f66af06",
    "3781e22d8b01",
    "37f288994c47",
    "38d63c18f30f",
    "3ab32c4b8f59",
    "3af16a1c9fb6",
    "3c9b0ca343fd",
    "3e0e00844bb0",
    "3ff2c63645b8",
    "42e2978c7933",
    "461111b60977",
    "4ace53fd72c8",
    "4c5ce3d2f27f",
    "4de81c2a3af1",
    "55f1302ac17c",
    "56359461a091",
    "57c599a3cb57",
    "6283dc0e4d8d",
    "6a39f3d8e55c",
    "6d09d1bf1f23",
    "7826ab40b532",
    "7b3f2a9c1d4e",
    "7e5b5dc7342b",
    "81cc2ce44d79",
    "8452d01d26d7",
    "856c5b02fb54",
    "90ef40d4714e",
    "922e7a387820",
    "959eaac8f909",
    "9a1b2c3d4e5f",
    "9f0c9cd09105",
    "a0b1c2d3e4f5",
    "a1b2c3d4e5f6",
    "a3dd5bedd151",
    "a5c220713937",
    "a7d3e9f2b641",
    "af906e964978",
    "b0018471bbbe",
    "b10670c03dd5",
    "b2c3d4e5f6a7",
    "b7c8d9e0f1a2",
    "b8e4f0a3c752",
    "b8f2c6d91a04",
    "c0fbf31ca0db",
    "c1d2e3f4a5b6",
    "c29facfe716b",
    "c440947495f3",
    "c49178636c78",
    "c69f45358db4",
    "c92da83b017f",
    "ca81bd47c050",
    "d31026856c01",
    "d4c1a8e37b62",
    "d4e5f6a7b8c9",
    "d6a8c3f912ab",
    "e1f2a3b4c5d6",
    "e7b9d4a023bc",
    "f0bd01a18a3d",
    "f1e2d3c4b5a6",
    "f8c0e5b134cd",
];

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_openwebui_0_12_4.sql")];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

pub fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let mut version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > LATEST {
        bail!(
            "the database was written by a newer version of this server (schema {version}, we know up to {LATEST}); \
             refusing to open it. Upgrade open-webui or use a backup."
        );
    }

    if version == 0 && table_exists(conn, "alembic_version")? {
        let rev: Option<String> = conn
            .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
            .optional()?;
        match rev.as_deref() {
            Some(ALEMBIC_HEAD) => {
                tracing::info!("opening an Open WebUI 0.12.4 database (alembic {ALEMBIC_HEAD})");
                conn.pragma_update(None, "user_version", 1)?;
                version = 1;
            }
            Some(r) if OLDER_ALEMBIC_REVISIONS.contains(&r) => bail!(
                "this database is from an older Open WebUI (alembic revision {r}); open it once with \
                 Open WebUI 0.12.4 to upgrade it, then start this server again"
            ),
            Some(r) => bail!(
                "this database has an unknown alembic revision {r}, probably from a newer Open WebUI than 0.12.4; \
                 refusing to open it"
            ),
            None => bail!("the database has an empty alembic_version table; refusing to guess its schema"),
        }
    } else if version == 0 && table_exists(conn, "user")? {
        bail!("the database has Open WebUI tables but no alembic_version; refusing to guess its schema");
    }

    while version < LATEST {
        let sql = MIGRATIONS[version as usize];
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {} failed", version + 1))?;
        if version == 0 {
            tx.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?1)",
                [ALEMBIC_HEAD],
            )?;
        }
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        version += 1;
        tracing::info!("database schema migrated to version {version}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_gets_upstream_schema() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 48);
        let rev: String = c
            .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rev, ALEMBIC_HEAD);
        // Idempotent.
        migrate(&mut c).unwrap();
    }

    #[test]
    fn refuses_newer_and_unknown() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", LATEST + 1).unwrap();
        assert!(migrate(&mut c).unwrap_err().to_string().contains("newer"));

        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL); INSERT INTO alembic_version VALUES ('ffffffffffff');").unwrap();
        assert!(migrate(&mut c)
            .unwrap_err()
            .to_string()
            .contains("unknown alembic"));

        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL); INSERT INTO alembic_version VALUES ('7e5b5dc7342b');").unwrap();
        assert!(migrate(&mut c)
            .unwrap_err()
            .to_string()
            .contains("older Open WebUI"));
    }
}
