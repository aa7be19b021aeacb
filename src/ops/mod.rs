//! Operations on a data folder from the command line: `backup`, `restore`
//! and `doctor`. They work on a folder a server may be using at the same
//! time: the database is read through SQLite's online backup (one read
//! transaction, writers are not blocked), the retrieval index is copied and
//! the copy is checked (the server holds the original open).

pub mod backup;
pub mod doctor;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The database file inside a data folder.
pub const DB_FILE: &str = "webui.db";
/// The secret key file inside a data folder.
pub const SECRET_FILE: &str = ".webui_secret_key";
/// The retrieval index folder (chunk store and BM25) inside a data folder.
pub const VECTOR_DIR: &str = "vector_db";
pub const UPLOADS_DIR: &str = "uploads";

/// Without a terminal, work shorter than this is not announced.
const QUIET_BELOW: u64 = 1000;

/// A one-line progress display on stderr: redrawn in place on a terminal
/// (at most every 150 ms), a start and an end line otherwise.
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    tty: bool,
    last: Instant,
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Progress {
        let tty = std::io::stderr().is_terminal();
        if !tty && total >= QUIET_BELOW {
            eprintln!("{label}: {total} to do");
        }
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            tty,
            last: Instant::now() - Duration::from_secs(1),
        }
    }

    pub fn add(&mut self, n: u64) {
        self.done += n;
        if self.tty && self.last.elapsed() >= Duration::from_millis(150) {
            self.last = Instant::now();
            self.draw();
        }
    }

    fn draw(&self) {
        if self.total == 0 {
            // Unknown amount: a count only.
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{} {}", self.label, self.done);
            let _ = err.flush();
            return;
        }
        let width = 30usize;
        let filled = (self.done.min(self.total) * width as u64)
            .checked_div(self.total)
            .unwrap_or(width as u64) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{}{}] {}/{}",
            self.label,
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done,
            self.total
        );
        let _ = err.flush();
    }

    pub fn finish(self) {
        if self.tty {
            self.draw();
            eprintln!();
        } else if self.total >= QUIET_BELOW || (self.total == 0 && self.done >= QUIET_BELOW) {
            eprintln!("{}: done ({})", self.label, self.done);
        }
    }
}

/// Every regular file under `dir` (relative paths), skipping symbolic links;
/// sorted, so archives and reports come out in a stable order.
pub fn walk_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let entries = match std::fs::read_dir(&abs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", abs.display())),
        };
        for entry in entries {
            let entry = entry?;
            let ty = entry.file_type()?;
            let child = rel.join(entry.file_name());
            if ty.is_dir() {
                stack.push(child);
            } else if ty.is_file() {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Copies the folder `from` to `to` (created), file by file.
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<u64> {
    let files = walk_files(from)?;
    let mut bytes = 0;
    std::fs::create_dir_all(to)?;
    for rel in files {
        let dst = to.join(&rel);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        match std::fs::copy(from.join(&rel), &dst) {
            Ok(n) => bytes += n,
            // Removed while we were copying (a merged index segment, say).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot copy {}", rel.display())),
        }
    }
    Ok(bytes)
}

/// A consistent copy of the live database at `src` into the new file `dst`
/// (SQLite's online backup in one step: one read transaction).
pub fn snapshot_db(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let from = rusqlite::Connection::open_with_flags(
        src,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", src.display()))?;
    from.busy_timeout(Duration::from_secs(30))?;
    let mut to = rusqlite::Connection::open(dst)
        .with_context(|| format!("cannot create {}", dst.display()))?;
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
        // -1: every page in one step, so the copy is one point in time even
        // while the server keeps writing.
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {}
            }
        }
    }
    // The copy is a plain rollback-journal file, self-contained.
    to.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new_in(parent: &Path, prefix: &str) -> anyhow::Result<TempDir> {
        let p = parent.join(format!("{prefix}{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
