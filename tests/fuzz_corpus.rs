//! Replays every seed and finding in `fuzz/corpus/<target>/` on stable Rust,
//! so the cases cargo-fuzz found stay fixed. Extractor inputs go through the
//! extraction worker process exactly as uploads do (a stack overflow or abort
//! is then a failed assertion here rather than the death of this test
//! binary); the other targets run in process and must not panic.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::time::Duration;

use open_webui::rag::extract::{extract_bytes_isolated, WorkerSettings};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn files_of(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "{}: too few seeds", dir.display());
    out
}

/// What some seeds must give: `Ok(words)` or `Err(part of the message)`.
fn expected(target: &str, file: &str) -> Option<Result<&'static str, &'static str>> {
    Some(match (target, file) {
        ("pdf", "hello.pdf") => Ok("Hello fuzz"),
        ("pdf", "self_parent.pdf") | ("pdf", "parent_loop.pdf") | ("pdf", "kids_loop.pdf") => {
            Err("loops back")
        }
        ("pdf", "self_form.pdf") => Err("includes itself"),
        ("pdf", "flate_bomb.pdf") => Err("expand to more than"),
        ("docx", "hello.docx") => Ok("Tom & Jerry"),
        ("docx", "bomb.docx") | ("xlsx", "bomb.xlsx") => Err("unpacked"),
        ("pptx", "hello.pptx") => Ok("Slide 2"),
        ("xlsx", "hello.xlsx") => Ok("Fruit"),
        ("epub", "hello.epub") => Ok("Chapter one"),
        ("html", "deep.html") => Ok("deep"),
        ("xml", "deep.xml") => Ok("x"),
        ("text", "bom.txt") => Ok("bom text"),
        _ => return None,
    })
}

/// Errors that mean the worker was killed or crashed, not a clean refusal.
const CRASH_SIGNS: &[&str] = &[
    "crashed",
    "ran out of stack",
    "of memory",
    "took longer",
    "processor time",
    "more text than allowed",
    "unavailable",
];

#[tokio::test]
async fn extractor_corpora_end_cleanly_in_the_worker() {
    let worker = WorkerSettings {
        exe: Some(PathBuf::from(env!("CARGO_BIN_EXE_open-webui"))),
        timeout: Duration::from_secs(60),
        max_memory: 2048 * 1024 * 1024,
    };
    let mut checked = 0;
    for target in targets::TARGETS {
        let Some(name) = targets::extractor_file_name(target) else {
            continue;
        };
        for (file, bytes) in files_of(target) {
            let r = extract_bytes_isolated(&worker, bytes, name, None).await;
            if let Err(e) = &r {
                assert!(
                    !CRASH_SIGNS.iter().any(|s| e.0.contains(s)),
                    "{target}/{file}: {e}"
                );
                assert!(!e.0.trim().is_empty(), "{target}/{file}: empty message");
            }
            match (expected(target, &file), &r) {
                (Some(Ok(words)), Ok(t)) => assert!(t.contains(words), "{target}/{file}: {t:?}"),
                (Some(Err(part)), Err(e)) => assert!(e.0.contains(part), "{target}/{file}: {e}"),
                (Some(want), got) => panic!("{target}/{file}: wanted {want:?}, got {got:?}"),
                (None, _) => {}
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} extractor seeds");
}

#[test]
fn other_corpora_do_not_panic() {
    let mut checked = 0;
    for target in targets::TARGETS {
        if targets::extractor_file_name(target).is_some() {
            continue;
        }
        for (file, bytes) in files_of(target) {
            let r = std::panic::catch_unwind(|| targets::run(target, &bytes));
            assert!(r.is_ok(), "{target}/{file} panicked");
            checked += 1;
        }
    }
    assert!(checked >= 16, "only {checked} seeds");
}
