//! `open-webui backup` and `open-webui restore`.
//!
//! A backup is one `.tar.gz`: `open-webui-backup.json` (what made it and
//! when), `webui.db` (an online-backup snapshot, so a running server keeps
//! writing meanwhile), the secret key, uploads, the retrieval index
//! (`vector_db/`, copied and checked to open) and any other file of the
//! folder except caches and SQLite's side files. The database is taken first:
//! an upload that arrives later is in the archive as an extra file, never
//! the other way round.
//!
//! `restore` unpacks into a folder that does not exist or is empty (never over
//! live data), through a temporary sibling folder renamed into place at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;

use super::{
    copy_tree, snapshot_db, walk_files, Progress, TempDir, DB_FILE, SECRET_FILE, UPLOADS_DIR,
    VECTOR_DIR,
};

pub const MANIFEST: &str = "open-webui-backup.json";

/// Top-level names never archived: caches (rebuilt on demand) and SQLite's
/// side files (the snapshot replaces them).
const SKIPPED: [&str; 5] = [
    "cache",
    DB_FILE,
    "webui.db-wal",
    "webui.db-shm",
    "webui.db-journal",
];

/// What a backup held.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
    pub vector_index: bool,
    /// An index existed but no consistent copy of it could be made.
    pub index_left_out: bool,
}

/// The default archive name, in the working directory.
pub fn default_target() -> PathBuf {
    PathBuf::from(format!(
        "open-webui-backup-{}.tar.gz",
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    ))
}

/// Writes a backup of `data_dir` to `to` (replaced only once complete).
pub fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<Summary> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        bail!(
            "{} has no {DB_FILE}: not an Open WebUI data folder",
            data_dir.display()
        );
    }
    let out_dir = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let staging = TempDir::new_in(&out_dir, ".open-webui-backup-")?;

    eprintln!("database: taking a snapshot");
    let snap = staging.0.join(DB_FILE);
    snapshot_db(&db, &snap)?;
    let schema: i64 =
        rusqlite::Connection::open(&snap)?
            .pragma_query_value(None, "user_version", |r| r.get(0))?;

    let vectors = data_dir.join(VECTOR_DIR);
    let vector_copy = staging.0.join(VECTOR_DIR);
    let has_index = vectors.join("chunks.redb").is_file() || vectors.join("bm25").is_dir();
    let vector_index = has_index && copy_index(&vectors, &vector_copy);

    // Everything else of the folder, by relative path.
    let skip_abs: Vec<PathBuf> = [staging.0.clone(), to.to_path_buf()]
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut others: Vec<(PathBuf, PathBuf)> = Vec::new();
    for rel in walk_files(data_dir)? {
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .unwrap_or_default();
        if SKIPPED.contains(&first.as_str())
            // Our index goes in as its checked copy; anything else there
            // (e.g. Python Open WebUI's Chroma files) as it is.
            || (has_index && first == VECTOR_DIR)
            || first.starts_with(".open-webui-backup-")
            || first.starts_with(".webui_secret_key.tmp-")
        {
            continue;
        }
        let abs = data_dir.join(&rel);
        if let Ok(c) = std::fs::canonicalize(&abs) {
            if skip_abs.iter().any(|s| c.starts_with(s)) {
                continue;
            }
        }
        others.push((abs, rel));
    }
    let mut index_files = Vec::new();
    if vector_index {
        for rel in walk_files(&vector_copy)? {
            index_files.push((vector_copy.join(&rel), Path::new(VECTOR_DIR).join(rel)));
        }
    }

    let manifest = serde_json::to_vec_pretty(&json!({
        "format": 1,
        "made_by": format!("open-webui {}", crate::settings::VERSION),
        "created_at": chrono::Utc::now().timestamp(),
        "schema_version": schema,
        "vector_index": vector_index,
    }))?;
    let partial = staging.0.join("archive.tar.gz");
    let mut summary = Summary {
        vector_index,
        index_left_out: has_index && !vector_index,
        ..Summary::default()
    };
    {
        let file = File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::new(5));
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Complete);
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, manifest.as_slice())?;
        let all: Vec<(PathBuf, PathBuf)> = std::iter::once((snap.clone(), PathBuf::from(DB_FILE)))
            .chain(others)
            .chain(index_files)
            .collect();
        let mut progress = Progress::new("archiving", all.len() as u64);
        for (abs, rel) in all {
            let mut f = match File::open(&abs) {
                Ok(f) => f,
                // Deleted since it was listed (an upload removed meanwhile).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", abs.display())),
            };
            summary.bytes += f.metadata()?.len();
            tar.append_file(&rel, &mut f)
                .with_context(|| format!("cannot archive {}", rel.display()))?;
            summary.files += 1;
            progress.add(1);
        }
        progress.finish();
        let gz = tar.into_inner()?;
        let mut w = gz.finish()?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    Ok(summary)
}

/// Copies the live retrieval index and checks that the copy opens; a copy
/// taken in the middle of a write is retried. `false` when no good copy
/// could be made (the archive then goes without it; `reindex` rebuilds it).
fn copy_index(from: &Path, to: &Path) -> bool {
    for attempt in 1..=3 {
        let _ = std::fs::remove_dir_all(to);
        let check = copy_tree(from, to).and_then(|_| check_index(to));
        match check {
            Ok(()) => return true,
            Err(e) => {
                tracing::debug!("index copy {attempt} unusable: {e:#}");
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        }
    }
    let _ = std::fs::remove_dir_all(to);
    eprintln!(
        "warning: the retrieval index could not be copied consistently; the backup goes without it \
         (after a restore, `open-webui reindex` rebuilds it)"
    );
    false
}

/// Opens a copied index (chunk store and BM25) and reads it through once.
pub(crate) fn check_index(dir: &Path) -> anyhow::Result<()> {
    let store_path = dir.join("chunks.redb");
    if store_path.is_file() {
        let store = crate::rag::store::Store::open(&store_path)?;
        store.chunk_count()?;
    }
    let bm25_dir = dir.join("bm25");
    if bm25_dir.is_dir() {
        let bm25 = crate::rag::bm25::Bm25::open(&bm25_dir)?;
        bm25.all_keys()?;
    }
    Ok(())
}

/// Unpacks the archive `from` into `data_dir`, which must not exist or be empty.
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<u64> {
    if data_dir.exists() {
        let mut entries = std::fs::read_dir(data_dir)
            .with_context(|| format!("cannot read {}", data_dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; restore only into a new or empty folder",
                data_dir.display()
            );
        }
    }
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let staging = TempDir::new_in(&parent, ".open-webui-restore-")?;
    let file = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    archive.set_preserve_permissions(true);
    let mut count = 0u64;
    let mut progress = Progress::new("restoring", 0);
    for entry in archive.entries().context("not a backup archive")? {
        let mut entry = entry.context("the archive is damaged")?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        let path = entry.path()?.into_owned();
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("the archive holds an unsafe path: {}", path.display());
        }
        if !entry
            .unpack_in(&staging.0)
            .with_context(|| format!("cannot unpack {}", path.display()))?
        {
            bail!("the archive holds an unsafe path: {}", path.display());
        }
        count += 1;
        progress.add(1);
    }
    progress.finish();
    if !staging.0.join(MANIFEST).is_file() || !staging.0.join(DB_FILE).is_file() {
        bail!(
            "{} is not an open-webui backup (no manifest or database)",
            from.display()
        );
    }
    let check: String = rusqlite::Connection::open(staging.0.join(DB_FILE))?.query_row(
        "PRAGMA quick_check",
        [],
        |r| r.get(0),
    )?;
    if check != "ok" {
        bail!("the database in the backup is damaged: {check}");
    }
    let _ = std::fs::remove_file(staging.0.join(MANIFEST));
    std::fs::create_dir_all(staging.0.join(UPLOADS_DIR))?;
    #[cfg(unix)]
    for private in [
        staging.0.join(SECRET_FILE),
        staging.0.join("tls").join(crate::tls::selfsigned::KEY_FILE),
    ] {
        use std::os::unix::fs::PermissionsExt;
        if private.is_file() {
            std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    if data_dir.exists() {
        std::fs::remove_dir(data_dir)?;
    }
    std::fs::rename(&staging.0, data_dir)
        .with_context(|| format!("cannot move the restored folder to {}", data_dir.display()))?;
    Ok(count)
}

/// `open-webui backup`: exit status 0 on success.
pub fn run_backup_cli(data_dir: &Path, to: Option<PathBuf>) -> i32 {
    let to = to.unwrap_or_else(default_target);
    match backup(data_dir, &to) {
        Ok(s) => {
            println!(
                "backup written to {} ({} files, {:.1} MB before compression{})",
                to.display(),
                s.files,
                s.bytes as f64 / 1e6,
                if s.index_left_out {
                    ", without the retrieval index"
                } else {
                    ""
                }
            );
            0
        }
        Err(e) => {
            eprintln!("open-webui backup: {e:#}");
            1
        }
    }
}

/// `open-webui restore`: exit status 0 on success.
pub fn run_restore_cli(from: &Path, data_dir: &Path) -> i32 {
    match restore(from, data_dir) {
        Ok(n) => {
            println!("restored {n} entries into {}", data_dir.display());
            0
        }
        Err(e) => {
            eprintln!("open-webui restore: {e:#}");
            1
        }
    }
}
