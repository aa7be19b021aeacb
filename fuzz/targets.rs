//! What each fuzz target does with one input, shared by the cargo-fuzz
//! binaries in fuzz_targets/ and by tests/fuzz_corpus.rs, which replays
//! every corpus file on stable Rust in the normal test run.

use open_webui::rag::extract::{extract_guarded, Limits};
use serde_json::Value;

/// Every target name; `fuzz/corpus/<name>/` holds its seed inputs.
pub const TARGETS: &[&str] = &[
    "pdf",
    "docx",
    "pptx",
    "xlsx",
    "epub",
    "html",
    "xml",
    "text",
    "excerpt",
    "history",
    "stream_sse",
    "stream_ndjson",
];

/// The file name an extractor target parses its input as (the extension
/// picks the parser), or `None` for the other targets.
pub fn extractor_file_name(target: &str) -> Option<&'static str> {
    Some(match target {
        "pdf" => "input.pdf",
        "docx" => "input.docx",
        "pptx" => "input.pptx",
        "xlsx" => "input.xlsx",
        "epub" => "input.epub",
        "html" => "input.html",
        "xml" => "input.xml",
        "text" => "input.txt",
        _ => return None,
    })
}

/// Limits small enough that a fuzz iteration stays quick.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_unpacked: 64 * 1024 * 1024,
        max_chars: 1024 * 1024,
        ..Limits::default()
    }
}

/// Runs one input through the target. Extractors may fail (most inputs are
/// not documents) but must return; the rest must not panic.
pub fn run(target: &str, data: &[u8]) {
    if let Some(name) = extractor_file_name(target) {
        let _ = extract_guarded(data, name, None, &fuzz_limits());
        return;
    }
    match target {
        "excerpt" => excerpt(data),
        "history" => history(data),
        "stream_sse" => stream(false, data),
        "stream_ndjson" => stream(true, data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// Input: content, NUL, then terms separated by 0x01; the first byte sets
/// the excerpt length.
fn excerpt(data: &[u8]) {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (content, terms) = text.split_once('\0').unwrap_or((&text, ""));
    // Search lower-cases its terms before it asks for an excerpt.
    let terms: Vec<String> = terms
        .split('\u{1}')
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    let _ = open_webui::db::search::excerpt(content, &terms, len as usize);
}

/// Input: a chat as JSON; it is repaired, merged with itself and walked.
fn history(data: &[u8]) {
    let Ok(mut chat) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let before = chat.clone();
    open_webui::chat::history::repair_current_id(&mut chat);
    let merged =
        open_webui::chat::history::merge_history(before.get("history"), chat.get("history"));
    if let (Some(messages), Some(cur)) = (
        merged.get("messages").and_then(Value::as_object),
        merged.get("currentId").and_then(Value::as_str),
    ) {
        let path = open_webui::chat::history::path_to(messages, cur);
        let msgs = open_webui::chat::history::to_upstream_messages(&path, None);
        let _ = open_webui::chat::history::transcript(&msgs);
    }
}

/// Input: a streamed body; its first byte picks the size of the pieces it
/// arrives in (network reads split anywhere).
fn stream(ndjson: bool, data: &[u8]) {
    let Some((&piece, body)) = data.split_first() else {
        return;
    };
    let piece = (piece as usize % 64) + 1;
    let pieces: Vec<&[u8]> = body.chunks(piece).collect();
    let events = open_webui::llm::stream::decode_body(ndjson, &pieces);
    // The stream always ends: one finish or one error, last.
    let ends = events
        .iter()
        .filter(|e| matches!(e, Err(_) | Ok(open_webui::llm::StreamEvent::Finish { .. })))
        .count();
    assert_eq!(ends, 1, "{events:?}");
    assert!(matches!(
        events.last(),
        Some(Err(_)) | Some(Ok(open_webui::llm::StreamEvent::Finish { .. }))
    ));
}
