//! The notes tools: find, read, write and edit the user's notes. Reading
//! follows the same access rules as the notes routes (owner, admins, grants);
//! changing a note needs write access, and a new note is private.

use serde_json::{json, Map, Value};

use super::{arg_int, arg_str, params, ToolCx};
use crate::db::{self, access_grants, notes as store};
use crate::notes as rules;

pub const NAMES: [&str; 4] = [
    "search_notes",
    "view_note",
    "write_note",
    "replace_note_content",
];

/// Bounds on what one call reads or writes.
const MAX_RESULTS: i64 = 50;
const MAX_NOTE_CHARS: usize = 1_000_000;
const MAX_TITLE_CHARS: usize = 500;

pub fn spec(name: &str) -> Value {
    let int = |d: &str| json!({"type": "integer", "description": d});
    let string = |d: &str| json!({"type": "string", "description": d});
    let (description, parameters) = match name {
        "search_notes" => (
            "Find notes the user can read by words in their titles and text. Returns ids, titles, a snippet and when each changed.",
            params(
                json!({
                    "query": string("Words to look for."),
                    "count": int("How many notes at most (default 5)."),
                    "start_timestamp": int("Only notes changed after this Unix time (seconds)."),
                    "end_timestamp": int("Only notes changed before this Unix time (seconds)."),
                }),
                &["query"],
            ),
        ),
        "view_note" => (
            "Read one note in full (markdown), by id.",
            params(json!({"note_id": string("The note's id.")}), &["note_id"]),
        ),
        "write_note" => (
            "Create a new private note for the user.",
            params(
                json!({
                    "title": string("The note's title."),
                    "content": string("The note's text, in markdown."),
                }),
                &["title", "content"],
            ),
        ),
        _ => (
            "Change a note's markdown: give `content` to replace it all, or `operations` for targeted edits. An operation is {\"action\":\"replace\",\"content\"} (alone, the whole text), {\"action\":\"replace_text\",\"find\",\"content\",\"occurrence\"?,\"replace_all\"?} (literal, case-sensitive; several matches need an occurrence counted from 0 or replace_all) or {\"action\":\"replace_text\",\"start\",\"end\",\"content\",\"expected\"?} (character offsets into the text view_note shows, end exclusive; offsets refer to the text before any edit and ranges may not overlap).",
            params(
                json!({
                    "note_id": string("The note's id."),
                    "content": string("The whole new text."),
                    "operations": {
                        "type": "array",
                        "description": "Targeted edits, applied together.",
                        "items": {"type": "object"},
                    },
                    "title": string("A new title (optional)."),
                }),
                &["note_id"],
            ),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    match name {
        "search_notes" => search(cx, args).await,
        "view_note" => view(cx, args).await,
        "write_note" => write(cx, args).await,
        _ => replace(cx, args).await,
    }
}

fn markdown(note: &store::NoteRow) -> String {
    note.data
        .pointer("/content/md")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Up to `n` characters of `s` starting at character `from`.
fn chars(s: &str, from: usize, n: usize) -> String {
    s.chars().skip(from).take(n).collect()
}

/// Text around the first query word found in the note, else its start.
fn snippet(md: &str, query: &str) -> String {
    let lower = md.to_lowercase();
    let total = md.chars().count();
    let hit = query.to_lowercase().split_whitespace().find_map(|w| {
        lower
            .find(w)
            .map(|at| (lower[..at].chars().count(), w.chars().count()))
    });
    match hit {
        Some((at, len)) => {
            let start = at.saturating_sub(50);
            let end = (at + len + 100).min(total);
            format!(
                "{}{}{}",
                if start > 0 { "..." } else { "" },
                chars(md, start, end - start),
                if end < total { "..." } else { "" }
            )
        }
        None => format!(
            "{}{}",
            chars(md, 0, 150),
            if total > 150 { "..." } else { "" }
        ),
    }
}

async fn search(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let query = arg_str(args, "query").unwrap_or("").to_string();
    let count = arg_int(args, "count").unwrap_or(5).clamp(1, MAX_RESULTS);
    let nanos = |k: &str| {
        arg_int(args, k)
            .filter(|t| *t > 0)
            .map(|t| t.saturating_mul(1_000_000_000))
    };
    let (from, until) = (nanos("start_timestamp"), nanos("end_timestamp"));
    let uid = cx.caller.id().to_string();
    let q = query.clone();
    let (rows, _) = cx
        .state
        .db
        .read(move |c| {
            let groups = access_grants::group_ids_of(c, &uid)?;
            let viewer = store::Viewer {
                user_id: &uid,
                group_ids: &groups,
            };
            let filter = store::Search {
                query: Some(q),
                permission: Some("read".into()),
                ..Default::default()
            };
            store::search(c, &uid, Some(&viewer), &filter, Some(count * 3), Some(0))
        })
        .await?;
    let found: Vec<Value> = rows
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| {
            from.is_none_or(|f| n.updated_at >= f) && until.is_none_or(|u| n.updated_at <= u)
        })
        .take(count as usize)
        .map(|n| {
            json!({
                "id": n.id, "title": n.title,
                "snippet": snippet(&markdown(&n), &query), "updated_at": n.updated_at,
            })
        })
        .collect();
    Ok(Value::Array(found))
}

/// The note, when the caller may `permission` it.
async fn load(
    cx: &ToolCx<'_>,
    id: &str,
    permission: &'static str,
) -> anyhow::Result<Result<store::NoteRow, &'static str>> {
    let (id, uid, admin) = (
        id.to_string(),
        cx.caller.id().to_string(),
        cx.caller.is_admin(),
    );
    cx.state
        .db
        .read(move |c| {
            let Some(note) = store::get(c, &id)? else {
                return Ok(Err("No note has that id."));
            };
            if !rules::may(c, &uid, admin, &note, permission)? {
                return Ok(Err(if permission == "read" {
                    "You may not read that note."
                } else {
                    "You may not change that note."
                }));
            }
            Ok(Ok(note))
        })
        .await
}

async fn view(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = arg_str(args, "note_id").unwrap_or("");
    let note = load(cx, id, "read").await?.map_err(anyhow::Error::msg)?;
    Ok(json!({
        "id": note.id, "title": note.title, "content": markdown(&note),
        "updated_at": note.updated_at, "created_at": note.created_at,
    }))
}

fn checked_title(title: &str) -> anyhow::Result<String> {
    if title.chars().count() > MAX_TITLE_CHARS {
        anyhow::bail!("The title is too long (at most {MAX_TITLE_CHARS} characters).");
    }
    Ok(title.to_string())
}

fn checked_content(content: String) -> anyhow::Result<String> {
    if content.chars().count() > MAX_NOTE_CHARS {
        anyhow::bail!("The note would be too long (at most {MAX_NOTE_CHARS} characters).");
    }
    Ok(content)
}

async fn write(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let title = checked_title(arg_str(args, "title").unwrap_or(""))?;
    let Some(content) = arg_str(args, "content") else {
        anyhow::bail!("write_note needs the note's content.");
    };
    let content = checked_content(content.to_string())?;
    let now = db::now_nanos();
    let row = store::NoteRow {
        id: db::new_id(),
        user_id: cx.caller.id().to_string(),
        title,
        data: json!({"content": {"md": content}}),
        meta: None,
        created_at: now,
        updated_at: now,
    };
    let stored = row.clone();
    cx.state
        .db
        .write(move |c| store::insert(c, &stored))
        .await?;
    Ok(json!({
        "status": "success", "id": row.id, "title": row.title, "created_at": row.created_at,
    }))
}

/// A refusal of an edit: the text and a code the model can act on.
fn refused(code: &str, text: &str, index: Option<usize>) -> Value {
    let mut v = json!({"error": text, "code": code});
    if let Some(i) = index {
        v["index"] = json!(i);
    }
    v
}

/// One edit in character offsets of the current text.
struct Edit {
    start: usize,
    end: usize,
    content: String,
}

/// The edits the operations ask for, or the refusal to return.
fn plan(current: &str, ops: &Value) -> Result<(Option<String>, Vec<Edit>), Value> {
    let Some(ops) = ops.as_array().filter(|a| !a.is_empty()) else {
        return Err(refused(
            "invalid_operations",
            "Give a non-empty list of operations.",
            None,
        ));
    };
    let total = current.chars().count();
    let mut edits = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(op) = op.as_object() else {
            return Err(refused(
                "invalid_operation",
                "Each operation must be an object.",
                Some(i),
            ));
        };
        let action = op.get("action").and_then(Value::as_str).unwrap_or("");
        let Some(replacement) = op.get("content").and_then(Value::as_str) else {
            return Err(refused(
                "invalid_content",
                "An operation's content must be text.",
                Some(i),
            ));
        };
        if action == "replace" {
            if ops.len() != 1 {
                return Err(refused(
                    "invalid_operations",
                    "A whole-text replace must be the only operation.",
                    Some(i),
                ));
            }
            return Ok((Some(replacement.to_string()), Vec::new()));
        }
        if action != "replace_text" && action != "replace_range" {
            let mut r = refused(
                "invalid_action",
                "Unknown action; use replace or replace_text.",
                Some(i),
            );
            r["action"] = op.get("action").cloned().unwrap_or(Value::Null);
            return Err(r);
        }
        if action == "replace_text" && op.contains_key("find") {
            if op.contains_key("start") || op.contains_key("end") {
                return Err(refused(
                    "invalid_operation",
                    "Give either find or start/end, not both.",
                    Some(i),
                ));
            }
            edits.extend(find_edits(current, op, replacement, i)?);
            continue;
        }
        let offset = |k: &str| op.get(k).and_then(Value::as_i64);
        let (Some(start), Some(end)) = (offset("start"), offset("end")) else {
            return Err(refused(
                "invalid_range",
                "start and end must be whole numbers.",
                Some(i),
            ));
        };
        if start < 0 || end < start || end as usize > total {
            return Err(refused(
                "range_out_of_bounds",
                "That range is outside the note.",
                Some(i),
            ));
        }
        let (start, end) = (start as usize, end as usize);
        if let Some(expected) = op.get("expected").filter(|v| !v.is_null()) {
            if expected.as_str() != Some(chars(current, start, end - start).as_str()) {
                return Err(refused(
                    "expected_mismatch",
                    "The text in that range is not what `expected` says.",
                    Some(i),
                ));
            }
        }
        edits.push(Edit {
            start,
            end,
            content: replacement.to_string(),
        });
    }
    edits.sort_by_key(|e| e.start);
    for (i, pair) in edits.windows(2).enumerate() {
        if pair[1].start < pair[0].end {
            return Err(refused(
                "overlapping_operations",
                "The edits overlap.",
                Some(i + 1),
            ));
        }
    }
    Ok((None, edits))
}

/// The matches of a `find` edit, in character offsets.
fn find_edits(
    current: &str,
    op: &Map<String, Value>,
    replacement: &str,
    i: usize,
) -> Result<Vec<Edit>, Value> {
    let Some(find) = op
        .get("find")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
    else {
        return Err(refused(
            "invalid_find",
            "find must be non-empty text.",
            Some(i),
        ));
    };
    let replace_all = op.get("replace_all").cloned().unwrap_or(Value::Bool(false));
    let occurrence = op.get("occurrence").filter(|v| !v.is_null());
    let bad = |_| {
        refused(
            "invalid_occurrence",
            "Give an occurrence counted from 0, or replace_all true.",
            Some(i),
        )
    };
    let Some(replace_all) = replace_all.as_bool() else {
        return Err(bad(()));
    };
    let occurrence = match occurrence {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if !replace_all => Some(n as usize),
            _ => return Err(bad(())),
        },
    };
    let find_chars = find.chars().count();
    let mut matches = Vec::new();
    let mut from = 0;
    while let Some(at) = current[from..].find(find) {
        let byte = from + at;
        let start = current[..byte].chars().count();
        matches.push((start, start + find_chars));
        from = byte + find.len();
    }
    if matches.is_empty() {
        return Err(refused(
            "text_not_found",
            "That text is not in the note.",
            Some(i),
        ));
    }
    if occurrence.is_some_and(|n| n >= matches.len()) {
        return Err(refused(
            "invalid_occurrence",
            "There are fewer matches than that.",
            Some(i),
        ));
    }
    if matches.len() > 1 && occurrence.is_none() && !replace_all {
        let mut r = refused(
            "ambiguous_match",
            "The text occurs more than once; give an occurrence or replace_all.",
            Some(i),
        );
        r["matches"] = matches
            .iter()
            .take(50)
            .map(|&(s, e)| {
                let from = s.saturating_sub(50);
                json!({"start": s, "end": e, "context": chars(current, from, e + 50 - from)})
            })
            .collect();
        return Err(r);
    }
    if let Some(n) = occurrence {
        matches = vec![matches[n]];
    }
    Ok(matches
        .into_iter()
        .map(|(start, end)| Edit {
            start,
            end,
            content: replacement.to_string(),
        })
        .collect())
}

/// The text with the edits made (they are sorted and do not overlap).
fn apply(current: &str, edits: &[Edit]) -> String {
    let text: Vec<char> = current.chars().collect();
    let mut out = String::with_capacity(current.len());
    let mut at = 0;
    for e in edits {
        out.extend(&text[at..e.start]);
        out.push_str(&e.content);
        at = e.end;
    }
    out.extend(&text[at..]);
    out
}

async fn replace(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = arg_str(args, "note_id").unwrap_or("");
    let note = match load(cx, id, "write").await? {
        Ok(n) => n,
        Err(text) => {
            let code = if text.starts_with("No note") {
                "not_found"
            } else {
                "write_access_denied"
            };
            return Ok(refused(code, text, None));
        }
    };
    let current = markdown(&note);
    let mut content = arg_str(args, "content").map(str::to_string);
    let mut edits = Vec::new();
    // How many operations took effect: a whole-text replace counts one,
    // plain `content` none.
    let mut applied = 0;
    match args.get("operations").filter(|v| !v.is_null()) {
        Some(ops) => match plan(&current, ops) {
            Err(refusal) => return Ok(refusal),
            Ok((Some(whole), _)) => {
                content = Some(whole);
                applied = 1;
            }
            Ok((None, planned)) => {
                content = Some(apply(&current, &planned));
                applied = planned.len();
                edits = planned;
            }
        },
        None if content.is_none() => {
            return Ok(refused(
                "content_required",
                "Give content or operations.",
                None,
            ))
        }
        None => {}
    }
    let content = checked_content(content.unwrap_or_default())?;
    let title = arg_str(args, "title")
        .filter(|t| !t.is_empty())
        .map(checked_title)
        .transpose()?;
    let mut md = note
        .data
        .get("content")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    md.insert("json".into(), Value::Null);
    md.insert("html".into(), json!(""));
    md.insert("md".into(), json!(content));
    let mut data = Map::new();
    data.insert("content".into(), Value::Object(md));
    let update = store::NoteUpdate {
        title,
        data: Some(data),
        meta: None,
    };
    let (nid, now) = (note.id.clone(), db::now_nanos());
    let Some(row) = cx
        .state
        .db
        .write(move |c| store::update(c, &nid, &update, now))
        .await?
    else {
        return Ok(refused("not_found", "No note has that id.", None));
    };
    if let Some(io) = cx.state.io() {
        let event = json!({
            "id": row.id, "user_id": row.user_id, "title": row.title, "data": row.data,
            "meta": row.meta, "created_at": row.created_at, "updated_at": row.updated_at,
        });
        let _ = io
            .to(rules::room(&row.id))
            .emit("events:note", &event)
            .await;
    }
    Ok(json!({
        "status": "success", "id": row.id, "title": row.title, "updated_at": row.updated_at,
        "applied_operation_count": applied,
        "applied_ranges": edits.iter().map(|e| json!({"start": e.start, "end": e.end})).collect::<Vec<_>>(),
    }))
}
