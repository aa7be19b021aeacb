//! `open-webui doctor`: checks a data folder and says what is wrong.
//!
//! Problems (exit status 1): a database that fails `integrity_check` or is
//! newer than this build, uploads the database names but the disk lacks, a
//! retrieval index that cannot be opened or read, a secret key readable by
//! others. Warnings (exit status 0): what the server repairs or tolerates by
//! itself — a schema still to be migrated, orphan upload files, index entries
//! of deleted files, processed files without vectors, BM25 out of step with
//! the chunk store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use rusqlite::OptionalExtension;

use super::{walk_files, Progress, TempDir, DB_FILE, SECRET_FILE, UPLOADS_DIR, VECTOR_DIR};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, level: Level, check: &'static str, text: impl Into<String>) {
        self.findings.push(Finding {
            level,
            check,
            text: text.into(),
        });
    }

    pub fn problems(&self) -> usize {
        self.count(Level::Problem)
    }

    pub fn warnings(&self) -> usize {
        self.count(Level::Warning)
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            let tag = match x.level {
                Level::Ok => "ok     ",
                Level::Warning => "WARNING",
                Level::Problem => "PROBLEM",
            };
            writeln!(f, "{tag}  {:<12} {}", x.check, x.text)?;
        }
        writeln!(
            f,
            "\n{} problem(s), {} warning(s)",
            self.problems(),
            self.warnings()
        )
    }
}

/// At most this many names are listed per finding.
const LISTED: usize = 10;

fn listed(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        s.push_str(&format!(" … and {} more", names.len() - LISTED));
    }
    s
}

/// What the database knows, for the file and index checks.
#[derive(Default)]
struct Known {
    /// file id → (stored path, status)
    files: HashMap<String, (Option<String>, Option<String>)>,
    knowledge: HashSet<String>,
    users: HashSet<String>,
}

/// Runs every check on `data_dir`.
pub fn check(data_dir: &Path) -> Report {
    let mut r = Report::default();
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        r.add(
            Level::Problem,
            "database",
            format!("{} has no {DB_FILE}", data_dir.display()),
        );
        return r;
    }
    let known = check_database(&db, &mut r);
    check_secret(data_dir, &mut r);
    if let Some(known) = known {
        check_uploads(data_dir, &known, &mut r);
        check_index(data_dir, &known, &mut r);
    }
    r
}

fn check_database(db: &Path, r: &mut Report) -> Option<Known> {
    let conn = match rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => {
            r.add(Level::Problem, "database", format!("cannot open: {e}"));
            return None;
        }
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    let version: i64 = match conn.pragma_query_value(None, "user_version", |x| x.get(0)) {
        Ok(v) => v,
        Err(e) => {
            r.add(Level::Problem, "database", format!("cannot be read: {e}"));
            return None;
        }
    };
    let latest = crate::db::migrations::LATEST;
    match version.cmp(&latest) {
        std::cmp::Ordering::Equal => {
            r.add(Level::Ok, "schema", format!("version {version} (current)"))
        }
        std::cmp::Ordering::Less => r.add(
            Level::Warning,
            "schema",
            format!("version {version}; the server migrates it to {latest} at its next start"),
        ),
        std::cmp::Ordering::Greater => r.add(
            Level::Problem,
            "schema",
            format!(
                "version {version} is newer than this build knows ({latest}): upgrade open-webui"
            ),
        ),
    }
    let integrity: Result<Vec<String>, _> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |x| x.get(0))?.collect());
    match integrity {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => {
            r.add(Level::Ok, "integrity", "integrity_check passed")
        }
        Ok(lines) => r.add(
            Level::Problem,
            "integrity",
            format!("integrity_check: {}", listed(&lines)),
        ),
        Err(e) => r.add(
            Level::Problem,
            "integrity",
            format!("integrity_check failed: {e}"),
        ),
    }
    match read_known(&conn) {
        Ok(k) => Some(k),
        Err(e) => {
            r.add(
                Level::Problem,
                "database",
                format!("cannot read its tables: {e}"),
            );
            None
        }
    }
}

fn table_exists(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|x| x.is_some())
}

fn read_known(conn: &rusqlite::Connection) -> rusqlite::Result<Known> {
    let mut k = Known::default();
    if table_exists(conn, "file")? {
        let mut s = conn.prepare(
            "SELECT id, path, CASE WHEN json_valid(data) THEN json_extract(data, '$.status') END FROM file",
        )?;
        let rows = s.query_map([], |x| {
            Ok((x.get::<_, String>(0)?, x.get(1)?, x.get(2).ok().flatten()))
        })?;
        for row in rows {
            let (id, path, status) = row?;
            k.files.insert(id, (path, status));
        }
    }
    if table_exists(conn, "knowledge")? {
        let mut s = conn.prepare("SELECT id FROM knowledge")?;
        for id in s.query_map([], |x| x.get::<_, String>(0))? {
            k.knowledge.insert(id?);
        }
    }
    if table_exists(conn, "user")? {
        let mut s = conn.prepare("SELECT id FROM user")?;
        for id in s.query_map([], |x| x.get::<_, String>(0))? {
            k.users.insert(id?);
        }
    }
    Ok(k)
}

fn check_secret(data_dir: &Path, r: &mut Report) {
    let path = data_dir.join(SECRET_FILE);
    let Ok(meta) = std::fs::metadata(&path) else {
        r.add(
            Level::Ok,
            "secret",
            "no secret key file (the server makes one, or WEBUI_SECRET_KEY is set)",
        );
        return;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            r.add(
                Level::Problem,
                "secret",
                format!(
                    "{} has mode {mode:o}: others can read it; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            );
            return;
        }
    }
    let _ = meta;
    r.add(Level::Ok, "secret", "secret key file is private");
}

/// The base name an upload row points at (paths written on another machine
/// resolve by name inside this folder's uploads, as the server does).
fn stored_name(path: &str) -> Option<String> {
    if path.is_empty() || path.contains("://") {
        return None;
    }
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
}

fn check_uploads(data_dir: &Path, known: &Known, r: &mut Report) {
    let uploads = data_dir.join(UPLOADS_DIR);
    let on_disk: HashSet<String> = match walk_files(&uploads) {
        Ok(files) => files
            .iter()
            .filter(|p| p.components().count() == 1)
            .map(|p| p.to_string_lossy().to_string())
            .collect(),
        Err(e) => {
            r.add(Level::Problem, "uploads", format!("cannot list: {e:#}"));
            return;
        }
    };
    let mut progress = Progress::new("checking uploads", known.files.len() as u64);
    let mut missing = Vec::new();
    let mut referenced = HashSet::new();
    for (id, (path, _)) in &known.files {
        progress.add(1);
        let Some(name) = path.as_deref().and_then(stored_name) else {
            continue;
        };
        if !on_disk.contains(&name) {
            missing.push(format!("{id} ({name})"));
        }
        referenced.insert(name);
    }
    progress.finish();
    missing.sort();
    let mut orphans: Vec<String> = on_disk.difference(&referenced).cloned().collect();
    orphans.sort();
    if missing.is_empty() {
        r.add(
            Level::Ok,
            "uploads",
            format!("all {} stored uploads are on disk", referenced.len()),
        );
    } else {
        r.add(
            Level::Problem,
            "uploads",
            format!(
                "{} upload(s) missing on disk: {}",
                missing.len(),
                listed(&missing)
            ),
        );
    }
    if !orphans.is_empty() {
        r.add(
            Level::Warning,
            "uploads",
            format!(
                "{} file(s) in uploads/ belong to no file row: {}",
                orphans.len(),
                listed(&orphans)
            ),
        );
    }
}

fn check_index(data_dir: &Path, known: &Known, r: &mut Report) {
    let live = data_dir.join(VECTOR_DIR);
    if !live.join("chunks.redb").is_file() && !live.join("bm25").is_dir() {
        r.add(Level::Ok, "index", "no retrieval index yet");
        return;
    }
    // A running server holds the index open: read a copy.
    let tmp = match TempDir::new_in(&std::env::temp_dir(), "open-webui-doctor-") {
        Ok(t) => t,
        Err(e) => {
            r.add(
                Level::Problem,
                "index",
                format!("no room for a copy: {e:#}"),
            );
            return;
        }
    };
    eprintln!("index: copying for inspection");
    let copied = std::fs::copy(live.join("chunks.redb"), tmp.0.join("chunks.redb"))
        .map(|_| ())
        .map_err(anyhow::Error::from)
        .and_then(|_| super::copy_tree(&live.join("bm25"), &tmp.0.join("bm25")).map(|_| ()));
    if let Err(e) = copied {
        r.add(Level::Problem, "index", format!("cannot copy: {e:#}"));
        return;
    }
    let store = match crate::rag::store::Store::open(&tmp.0.join("chunks.redb")) {
        Ok(s) => s,
        Err(e) => {
            r.add(
                Level::Problem,
                "index",
                format!("the chunk store cannot be opened: {e:#}"),
            );
            return;
        }
    };
    let chunks = match store.all_chunks() {
        Ok(c) => c,
        Err(e) => {
            r.add(
                Level::Problem,
                "index",
                format!("the chunk store cannot be read: {e:#}"),
            );
            return;
        }
    };
    let keys = crate::rag::bm25::Bm25::open(&tmp.0.join("bm25")).and_then(|b| b.all_keys());
    let indexed = match keys {
        Ok(k) => k,
        Err(e) => {
            r.add(
                Level::Problem,
                "index",
                format!("the BM25 index cannot be read: {e:#}"),
            );
            return;
        }
    };
    let mut per_collection: BTreeMap<&str, u64> = BTreeMap::new();
    for (c, _, _) in &chunks {
        *per_collection.entry(c.as_str()).or_default() += 1;
    }
    r.add(
        Level::Ok,
        "index",
        format!(
            "{} chunks in {} collections, {} BM25 entries",
            chunks.len(),
            per_collection.len(),
            indexed.len()
        ),
    );
    let stored: HashSet<(&str, u64)> = chunks.iter().map(|(c, s, _)| (c.as_str(), *s)).collect();
    let in_bm25: HashSet<(&str, u64)> = indexed.iter().map(|(c, s)| (c.as_str(), *s)).collect();
    let differ = stored.symmetric_difference(&in_bm25).count();
    if differ > 0 {
        r.add(
            Level::Warning,
            "index",
            format!("BM25 and the chunk store differ in {differ} entries; the server repairs this at start"),
        );
    }
    let stale: Vec<String> = per_collection
        .keys()
        .filter(|c| !collection_known(c, known))
        .map(|c| c.to_string())
        .collect();
    if !stale.is_empty() {
        r.add(
            Level::Warning,
            "index",
            format!(
                "{} collection(s) belong to deleted files, knowledge bases or users: {}",
                stale.len(),
                listed(&stale)
            ),
        );
    }
    let mut unindexed: Vec<String> = known
        .files
        .iter()
        .filter(|(id, (_, status))| {
            status.as_deref() == Some("completed")
                && !per_collection.contains_key(crate::files::collection_of(id).as_str())
        })
        .map(|(id, _)| id.clone())
        .collect();
    unindexed.sort();
    if !unindexed.is_empty() {
        r.add(
            Level::Warning,
            "index",
            format!(
                "{} processed file(s) have no vectors (`open-webui reindex` rebuilds them): {}",
                unindexed.len(),
                listed(&unindexed)
            ),
        );
    }
}

fn collection_known(name: &str, known: &Known) -> bool {
    if let Some(id) = name.strip_prefix("file-") {
        return known.files.contains_key(id);
    }
    if let Some(uid) = name.strip_prefix("user-memory-") {
        return known.users.contains(uid);
    }
    name == crate::rag::knowledge::KNOWLEDGE_BASES_COLLECTION || known.knowledge.contains(name)
}

/// `open-webui doctor`: prints the report; exit status 1 when it has problems.
pub fn run_cli(data_dir: &Path) -> i32 {
    let report = check(data_dir);
    println!("open-webui doctor: {}\n", data_dir.display());
    print!("{report}");
    if report.problems() > 0 {
        1
    } else {
        0
    }
}
