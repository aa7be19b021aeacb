//! `open-webui reindex`: rebuilds every vector and BM25 entry from the
//! database (files' extracted text, or their originals when no text was
//! kept), e.g. after opening a data folder written by Python Open WebUI,
//! whose Chroma store this server does not read.

use std::io::Write;
use std::time::Instant;

use serde_json::{json, Map};

use super::knowledge::IndexAs;
use super::processing::{caller_for, index_file, IndexOpts};
use crate::db::{files, knowledge, now_secs};
use crate::state::AppState;

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub files: usize,
    pub files_failed: usize,
    pub knowledge_bases: usize,
    pub knowledge_files_failed: usize,
    pub memories: usize,
}

/// A one-line progress bar on stderr.
struct Bar {
    label: &'static str,
    total: usize,
    done: usize,
    started: Instant,
    tty: bool,
}

impl Bar {
    fn new(label: &'static str, total: usize) -> Bar {
        use std::io::IsTerminal;
        Bar {
            label,
            total,
            done: 0,
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn step(&mut self, what: &str) {
        self.done += 1;
        let width = 30usize;
        let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
        let line = format!(
            "{:<16} [{}{}] {}/{} {:>5.1}s {}",
            self.label,
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.done,
            self.total,
            self.started.elapsed().as_secs_f32(),
            what.chars().take(40).collect::<String>(),
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            if self.done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

/// Rebuilds file collections, knowledge bases, their name vectors and every
/// user's memory vectors. `quiet` suppresses the progress output.
pub async fn run(state: &AppState, quiet: bool) -> anyhow::Result<Summary> {
    let mut sum = Summary::default();
    let ids = state.db.read(files::all_ids).await?;
    let mut bar = Bar::new("files", ids.len());
    for id in ids {
        let fid = id.clone();
        let Some(file) = state.db.read(move |c| files::get(c, &fid)).await? else {
            continue;
        };
        let name = file.name().to_string();
        let ok = match caller_for(state, &file.user_id).await {
            Some(caller) => {
                let content =
                    (!file.content().trim().is_empty()).then(|| file.content().to_string());
                index_file(
                    state,
                    &caller,
                    &file,
                    IndexOpts {
                        content,
                        collection: None,
                    },
                )
                .await
            }
            None => Err("no user to attribute the file to".into()),
        };
        match ok {
            Ok(()) => {
                sum.files += 1;
                let mut patch = Map::new();
                patch.insert("status".into(), json!("completed"));
                patch.insert("error".into(), serde_json::Value::Null);
                let now = now_secs();
                state
                    .db
                    .write(move |c| files::merge_data(c, &id, &patch, now))
                    .await?;
            }
            Err(e) => {
                sum.files_failed += 1;
                tracing::warn!(file = %file.id, error = %e, "file not reindexed");
            }
        }
        if !quiet {
            bar.step(&name);
        }
    }

    let kbs = state.db.read(knowledge::all).await?;
    let mut bar = Bar::new("knowledge bases", kbs.len());
    let rebuilt = super::knowledge::reindex(state, &kbs, IndexAs::Owner, true, &mut |kb| {
        if !quiet {
            bar.step(&kb.name);
        }
    })
    .await?;
    sum.knowledge_bases = rebuilt.rebuilt;
    sum.knowledge_files_failed = rebuilt.failed_files.len();

    let (_, memories) = super::memories::reindex_everyone(state).await?;
    sum.memories = memories;
    Ok(sum)
}

/// The `reindex` command: opens the data folder (migrating its database like
/// `serve` would), rebuilds everything and prints a summary.
pub async fn run_cli(data_dir: std::path::PathBuf) -> anyhow::Result<()> {
    let settings = crate::Settings::from_env("127.0.0.1".into(), 0, data_dir)?;
    let state = tokio::task::spawn_blocking(move || AppState::open(settings)).await??;
    let started = Instant::now();
    let s = run(&state, false).await?;
    eprintln!(
        "reindexed {} files ({} failed), {} knowledge bases ({} file errors), {} memories in {:.1}s",
        s.files,
        s.files_failed,
        s.knowledge_bases,
        s.knowledge_files_failed,
        s.memories,
        started.elapsed().as_secs_f32()
    );
    Ok(())
}
