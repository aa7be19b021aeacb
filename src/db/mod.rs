//! SQLite storage, schema-compatible with Open WebUI 0.12.4's `webui.db`.
//!
//! One writer connection (SQLite allows one writer at a time anyway) and a small
//! pool of readers; every call runs on tokio's blocking pool so the async worker
//! threads never wait on disk.

pub mod access_grants;
pub mod analytics;
pub mod analytics_browse;
pub mod api_keys;
pub mod apps;
pub mod auths;
pub mod automations;
pub mod calendars;
pub mod channels;
pub mod chat_messages;
pub mod chats;
pub mod config_rows;
pub mod feedbacks;
pub mod files;
pub mod folders;
pub mod functions;
pub mod groups;
pub mod json;
pub mod knowledge;
pub mod memories;
pub mod messages;
pub mod mfa;
pub mod migrations;
pub mod models;
pub mod notes;
pub mod notifications;
pub mod oauth;
pub mod prompts;
pub mod scim;
pub mod search;
pub mod shared_chats;
pub mod skills;
pub mod table;
pub mod tags;
pub mod tools;
pub mod user_usage;
pub mod users;
pub mod workspace_history;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};

const READERS: usize = 4;

#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Arc<tokio::sync::Semaphore>,
}

impl DbInner {
    fn lock_readers(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.pragma_update(None, "busy_timeout", 5000)?;
    c.pragma_update(None, "cache_size", -2048)?;
    c.set_prepared_statement_cache_capacity(64);
    unicode_lower(&c)?;
    Ok(c)
}

/// Search SQL is written with `ulower()`; for an all-ASCII query SQLite's own
/// `lower()` finds the same rows (the pattern holds only ASCII letters) and
/// costs no call into Rust per row, so it is used instead.
pub fn fold_for_query(sql: &str, query: &str) -> String {
    if query.is_ascii() {
        sql.replace("ulower(", "lower(")
    } else {
        sql.to_string()
    }
}

/// Adds `ulower()`: `lower()` for every script (SQLite's own folds ASCII
/// letters only), so searches match `ПРИВЕТ` with `привет`. SQLite's
/// `lower()` itself stays as it is: the unique index on `lower(email)` was
/// built with it.
fn unicode_lower(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "ulower",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Text(t) => {
                    Some(String::from_utf8_lossy(t).to_lowercase())
                }
                rusqlite::types::ValueRef::Null => None,
                other => Some(match other {
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                    _ => String::new(),
                }),
            })
        },
    )
}

/// A panic inside a database closure, as an error for the one caller.
fn panic_error(kind: &str, panic: Box<dyn std::any::Any + Send>) -> anyhow::Error {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    anyhow::anyhow!("a database {kind} panicked: {msg}")
}

fn apply_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    // Upstream's per-connection settings, minus its 64 MiB page cache and 256 MiB
    // mmap, which do not fit an idle footprint of a few tens of MB.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "cache_size", -8192)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "journal_size_limit", 67_108_864)?;
    // Upstream never enables foreign_keys; its FK clauses are not enforced and
    // existing databases rely on that (e.g. rows that outlive their parents).
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    unicode_lower(conn)?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        let mut writer = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        apply_pragmas(&writer).context("cannot configure the database connection")?;
        migrations::migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(open_reader(path)?);
        }
        Ok(Db {
            inner: Arc::new(DbInner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
                reader_slots: Arc::new(tokio::sync::Semaphore::new(READERS)),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with a read-only connection on the blocking pool.
    ///
    /// The closure speaks `rusqlite::Result`, the answer is an `anyhow::Result`.
    /// A closure that needs to refuse with an error of its own (an `ApiError`,
    /// say) uses [`Db::try_read`] instead.
    pub async fn read<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.try_read(move |c| f(c).map_err(anyhow::Error::from))
            .await
    }

    /// [`Db::read`] with the closure's own error type `E`, handed back as is.
    ///
    /// Whatever can go wrong around the closure becomes an `E` too: SQLite
    /// errors through `From<rusqlite::Error>`, a panic in `f`, a lost blocking
    /// task or a closed pool through `From<anyhow::Error>`.
    ///
    /// The permit travels into the blocking closure, so a caller that gives up
    /// (a cancelled request) cannot free a slot while the closure still holds
    /// its connection. A panic inside `f` fails this call only: the connection
    /// is replaced by a fresh one and the pool keeps its size.
    pub async fn try_read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<anyhow::Error> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let permit = self
            .inner
            .reader_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| E::from(anyhow::Error::from(e)))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match inner.lock_readers().pop() {
                Some(c) => c,
                // Cannot happen while permits match connections; recover anyway.
                None => open_reader(&inner.path)?,
            };
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)));
            match out {
                Ok(out) => {
                    inner.lock_readers().push(conn);
                    out
                }
                Err(panic) => {
                    drop(conn);
                    match open_reader(&inner.path) {
                        Ok(fresh) => inner.lock_readers().push(fresh),
                        Err(e) => {
                            // Keep the slot count honest: without a connection
                            // to return, retire the permit with it.
                            tracing::error!(error = %e, "cannot replace a database reader");
                            permit.forget();
                        }
                    }
                    Err(E::from(panic_error("read", panic)))
                }
            }
        })
        .await
        .map_err(|e| E::from(anyhow::Error::from(e)))?
    }

    /// Runs `f` inside one IMMEDIATE transaction on the writer connection.
    ///
    /// The closure speaks `rusqlite::Result`, the answer is an `anyhow::Result`;
    /// an `Err` rolls back like in [`Db::try_write`]. A closure that decides
    /// something on the way (not found, forbidden, conflict) returns that
    /// refusal as its error through [`Db::try_write`] instead, so that what it
    /// wrote before the decision is undone; a refusal carried out inside an
    /// `Ok` would be committed with everything before it.
    ///
    /// Why two names rather than one generic method: `rusqlite::Error` cannot
    /// carry a panic or a lost task, so a closure made only of table calls
    /// needs some other error type for the answer, and a single generic method
    /// would leave it for type inference to guess at every such call site
    /// (`state.db.write(|c| table::f(c)).await?`). `write` fixes it to
    /// `anyhow::Error`; `try_write` takes whatever the closure names.
    pub async fn write<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T> + Send + 'static,
    {
        self.try_write(move |tx| f(tx).map_err(anyhow::Error::from))
            .await
    }

    /// [`Db::write`] with the closure's own error type `E`, handed back as is.
    ///
    /// Only an `Ok` from `f` commits. An `Err` from `f` rolls the whole
    /// transaction back, and so does a panic inside `f`, which fails this call
    /// only (as an `E` built from an `anyhow::Error`); the writer stays usable.
    /// SQLite errors, including a failed commit, arrive through
    /// `From<rusqlite::Error>`.
    pub async fn try_write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<anyhow::Error> + Send + 'static,
        F: FnOnce(&rusqlite::Transaction) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Dropping `tx` (on an early return or while unwinding) rolls it back.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&tx)))
                .map_err(|p| E::from(panic_error("write", p)))?;
            let out = out?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| E::from(anyhow::Error::from(e)))?
    }

    /// Blocking access to the writer, for start-up code and the online backup.
    pub fn with_writer_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// `SELECT 1` through a reader: what `/health/db` reports.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|_| ())
    }
}

/// `%text%` for `LIKE … ESCAPE '\'`: the user's `%`, `_` and `\` match
/// themselves instead of acting as wildcards.
pub fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closure's own refusal, next to the two conversions `try_write` needs.
    #[derive(Debug)]
    enum Refusal {
        No,
        Db(anyhow::Error),
    }
    impl From<rusqlite::Error> for Refusal {
        fn from(e: rusqlite::Error) -> Self {
            Refusal::Db(e.into())
        }
    }
    impl From<anyhow::Error> for Refusal {
        fn from(e: anyhow::Error) -> Self {
            Refusal::Db(e)
        }
    }

    fn insert_tag(tx: &Connection, id: &str) -> rusqlite::Result<usize> {
        tx.execute(
            "INSERT INTO tag (id, name, user_id, meta) VALUES (?1, ?1, 'u', '{}')",
            [id],
        )
    }

    async fn tags(db: &Db, id: &'static str) -> i64 {
        db.read(move |c| c.query_row("SELECT count(*) FROM tag WHERE id = ?1", [id], |r| r.get(0)))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_err_from_the_closure_rolls_back_and_an_ok_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("webui.db")).unwrap();

        let r: Result<(), Refusal> = db
            .try_write(|tx| {
                insert_tag(tx, "refused")?;
                Err(Refusal::No)
            })
            .await;
        assert!(matches!(r, Err(Refusal::No)), "{r:?}");
        assert_eq!(
            tags(&db, "refused").await,
            0,
            "the refused write was undone"
        );

        let r: Result<usize, Refusal> = db.try_write(|tx| Ok(insert_tag(tx, "kept")?)).await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(
            tags(&db, "kept").await,
            1,
            "the accepted write was committed"
        );

        // A SQLite error through the plain `write` rolls back as well.
        let r = db
            .write(|tx| {
                insert_tag(tx, "half")?;
                insert_tag(tx, "kept")
            })
            .await;
        assert!(r.is_err());
        assert_eq!(tags(&db, "half").await, 0);

        // A panic still rolls back, comes back as the caller's error type,
        // and the writer keeps working afterwards.
        let r: Result<(), Refusal> = db
            .try_write(|tx| {
                insert_tag(tx, "panicked")?;
                panic!("injected")
            })
            .await;
        match r {
            Err(Refusal::Db(e)) => assert!(e.to_string().contains("panicked"), "{e}"),
            other => panic!("expected the panic as an error, got {other:?}"),
        }
        assert_eq!(
            tags(&db, "panicked").await,
            0,
            "the panicked write was undone"
        );
        db.write(|tx| insert_tag(tx, "after")).await.unwrap();
        assert_eq!(tags(&db, "after").await, 1);

        // Reads hand the closure's error back unchanged, and survive a panic.
        let r: Result<(), Refusal> = db.try_read(|_| Err(Refusal::No)).await;
        assert!(matches!(r, Err(Refusal::No)));
        let r: Result<(), Refusal> = db.try_read(|_| panic!("injected read")).await;
        assert!(matches!(r, Err(Refusal::Db(_))));
        assert_eq!(tags(&db, "kept").await, 1);
    }
}
