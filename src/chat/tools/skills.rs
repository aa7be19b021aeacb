//! `view_skill`: a model with the built-in skill tools reads a skill's
//! instructions (the opening part of a long one, with where to go on) and
//! the list of its files. Offered when the caller has an active skill of
//! their own or shared with them.

use serde_json::{json, Map, Value};

use super::{arg_str, params, ToolCx};
use crate::db::skills as rows;
use crate::state::AppState;

pub const NAMES: [&str; 1] = ["view_skill"];

/// Upstream's bounds: the instructions returned at once, the opening part of
/// instructions longer than that, and the file list.
const CONTENT_MAX_CHARS: usize = 20_000;
const PREVIEW_MAX_CHARS: usize = 5_000;
const LIST_MAX_CHARS: usize = 2_500;
const LIST_MAX_ENTRIES: usize = 50;

pub fn spec(_name: &str) -> Value {
    json!({
        "name": "view_skill",
        "description": "Open a skill: its instructions (the start of long ones, with next_offset saying where they go on) and its files.",
        "parameters": params(
            json!({"id": {"type": "string", "description": "The skill's id, as the skills listed for you give it."}}),
            &["id"],
        ),
    })
}

pub async fn run(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = arg_str(args, "id").unwrap_or("").trim().to_lowercase();
    let skill = match crate::workspace::skills::readable_one(cx.state, cx.caller, &id).await {
        Ok(s) => s,
        Err(refused) => return Ok(json!({"error": refused.to_string()})),
    };
    let mut out = json!({"id": skill.id, "name": skill.name});
    let (content, next_offset) = opening(cx.state, &skill.content);
    out["content"] = json!(content);
    out["next_offset"] = json!(next_offset);
    let files = rows::file_summaries(&rows::files_of(&skill.data));
    let (listed, cut) = bounded(files);
    out["files"] = Value::Array(listed);
    if cut {
        out["notice"] = json!("Some files are left out of this list.");
    }
    Ok(out)
}

fn limit(state: &AppState, key: &str, default: usize) -> usize {
    match state.config.get(key) {
        Value::Number(n) => n.as_u64().filter(|n| *n > 0).map(|n| n as usize),
        Value::String(s) => s.trim().parse().ok().filter(|n| *n > 0),
        _ => None,
    }
    .unwrap_or(default)
}

/// The instructions, whole when they fit `skills.content_max_chars`, else
/// their first `skills.preview_max_chars`; with the offset of what follows.
fn opening(state: &AppState, content: &str) -> (String, Option<usize>) {
    let max = limit(state, "skills.content_max_chars", CONTENT_MAX_CHARS);
    let preview = limit(state, "skills.preview_max_chars", PREVIEW_MAX_CHARS);
    let total = content.chars().count();
    let end = if total > max { preview.min(max) } else { max };
    let text: String = content.chars().take(end).collect();
    (text, (end < total).then_some(end))
}

/// The first entries that fit the list's bounds; true when some were left out.
fn bounded(entries: Vec<Value>) -> (Vec<Value>, bool) {
    let total = entries.len();
    let mut size = 2;
    let mut out = Vec::new();
    for entry in entries.into_iter().take(LIST_MAX_ENTRIES) {
        let own = entry.to_string().chars().count() + if out.is_empty() { 0 } else { 2 };
        if size + own > LIST_MAX_CHARS {
            break;
        }
        size += own;
        out.push(entry);
    }
    let cut = out.len() < total;
    (out, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut_with_a_notice() {
        let entries: Vec<Value> = (0..80)
            .map(|i| json!({"path": format!("f{i}.md")}))
            .collect();
        let (listed, cut) = bounded(entries);
        assert!(cut && listed.len() <= LIST_MAX_ENTRIES);
        let (listed, cut) = bounded(vec![json!({"path": "a.md"})]);
        assert!(!cut && listed.len() == 1);
    }
}
