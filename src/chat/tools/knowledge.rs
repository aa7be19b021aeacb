//! The knowledge tools: find the knowledge bases and files the user may read
//! and search, grep, query and read their content (the reading half is in
//! `knowledge_read.rs`, the access rules in `knowledge_access.rs`). A model
//! with knowledge attached gets a smaller set scoped to what is attached.
//!
//! Access: a knowledge base is visible to its owner and to whoever its grants
//! name; a file through a visible knowledge base holding it, its owner, an
//! admin, or being attached to the model.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::knowledge_access::{attached_owned, attached_pairs, file_brief, Reader};
use super::knowledge_read as read;
use super::{arg_int, arg_str, params, ToolCx};
use crate::db::files::FileRow;
use crate::db::knowledge::{self as kb_store, KnowledgeRow};

pub const NAMES: [&str; 9] = [
    "list_knowledge_bases",
    "search_knowledge_bases",
    "query_knowledge_bases",
    "grep_knowledge_files",
    "search_knowledge_files",
    "query_knowledge_files",
    "view_knowledge_file",
    "list_knowledge",
    "view_file",
];

/// The tools offered, in upstream's order: the browsing set without attached
/// knowledge; with it, the scoped set (file readers when files or knowledge
/// bases are attached, `view_note` when notes are).
pub fn offered(attached: &[Value]) -> Vec<&'static str> {
    if attached.is_empty() {
        return NAMES[..7].to_vec();
    }
    let mut names = vec![
        "list_knowledge",
        "search_knowledge_files",
        "grep_knowledge_files",
        "query_knowledge_files",
    ];
    let has = |t: &str| {
        attached
            .iter()
            .any(|i| i.get("type").and_then(Value::as_str) == Some(t))
    };
    if has("file") || has("collection") {
        names.extend(["view_file", "view_knowledge_file"]);
    }
    if has("note") {
        names.push("view_note");
    }
    names
}

pub fn spec(name: &str) -> Value {
    let int = |d: &str| json!({"type": "integer", "description": d});
    let string = |d: &str| json!({"type": "string", "description": d});
    let boolean = |d: &str| json!({"type": "boolean", "description": d});
    let paging = |default: i64| {
        json!({
            "count": int(&format!("How many at most (default {default}).")),
            "skip": int("How many to skip, for paging (default 0)."),
        })
    };
    let with = |mut base: Value, extra: Value| {
        if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
            b.extend(e);
        }
        base
    };
    let reader = || {
        json!({
            "file_id": string("The file's id."),
            "offset": int("Character to start at (default 0)."),
            "max_chars": int("How many characters at most (default 10000; capped by the server)."),
            "line_numbers": boolean("Number each line (default false)."),
            "start_line": int("First line to show, from 1 (replaces offset and max_chars)."),
            "end_line": int("Last line to show, inclusive."),
        })
    };
    let (description, parameters) = match name {
        "list_knowledge_bases" => (
            "The knowledge bases the user can read: ids, names, descriptions and file counts.",
            params(paging(10), &[]),
        ),
        "search_knowledge_bases" => (
            "Find readable knowledge bases whose name or description contains the words.",
            params(
                with(json!({"query": string("Words to look for.")}), paging(5)),
                &["query"],
            ),
        ),
        "query_knowledge_bases" => (
            "Find readable knowledge bases by meaning: which are about the topic described.",
            params(
                json!({
                    "query": string("What the knowledge base should be about."),
                    "count": int("How many at most (default 5)."),
                }),
                &["query"],
            ),
        ),
        "search_knowledge_files" => (
            "Find files in readable knowledge bases (or attached to this model) by file name.",
            params(
                with(
                    json!({
                        "query": string("Part of the file name."),
                        "knowledge_id": string("Only this knowledge base."),
                    }),
                    paging(5),
                ),
                &["query"],
            ),
        ),
        "grep_knowledge_files" => (
            "Exact text search through knowledge files, line by line; returns `file id  name:line: text`. Patterns with regex signs (| .* \\d [..]) are read as regular expressions.",
            params(
                json!({
                    "pattern": string("The text or regular expression."),
                    "file_id": string("Only this file."),
                    "case_insensitive": boolean("Ignore case (default false)."),
                    "count_only": boolean("Only count the matches per file (default false)."),
                }),
                &["pattern"],
            ),
        ),
        "query_knowledge_files" => (
            "Search the content of knowledge files by meaning; returns the most relevant passages with their source.",
            params(
                json!({
                    "query": string("What to look for."),
                    "knowledge_ids": {"type": "array", "items": {"type": "string"}, "description": "Only these knowledge bases."},
                    "count": int("How many passages at most (default 5)."),
                }),
                &["query"],
            ),
        ),
        "view_knowledge_file" => (
            "Read a file of a knowledge base, a page at a time.",
            params(reader(), &["file_id"]),
        ),
        "view_file" => (
            "Read a file attached to this model or found in its knowledge, a page at a time.",
            params(reader(), &["file_id"]),
        ),
        _ => (
            "What knowledge is attached to this model: knowledge bases (with their files when knowledge_id is given), files and notes. Look here first.",
            params(
                json!({
                    "knowledge_id": string("List the files of this attached knowledge base."),
                    "skip": int("Files to skip (default 0)."),
                    "count": int("Files at most (default 50, at most 200)."),
                }),
                &[],
            ),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(
    name: &str,
    cx: &ToolCx<'_>,
    attached: &[Value],
    args: &Map<String, Value>,
) -> anyhow::Result<Value> {
    match name {
        "list_knowledge_bases" => {
            let (count, skip) = paging(args, 10);
            list_bases(cx, "", count, skip).await
        }
        "search_knowledge_bases" => {
            let (count, skip) = paging(args, 5);
            list_bases(cx, arg_str(args, "query").unwrap_or(""), count, skip).await
        }
        "query_knowledge_bases" => read::query_bases(cx, args).await,
        "search_knowledge_files" => search_files(cx, attached, args).await,
        "grep_knowledge_files" => read::grep(cx, attached, args).await,
        "query_knowledge_files" => read::query_files(cx, attached, args).await,
        "view_knowledge_file" => read::view(cx, attached, args, true).await,
        "view_file" => read::view(cx, attached, args, false).await,
        _ => list_attached(cx, attached, args).await,
    }
}

fn paging(args: &Map<String, Value>, default: i64) -> (usize, usize) {
    let count = arg_int(args, "count").unwrap_or(default).clamp(1, 200) as usize;
    let skip = arg_int(args, "skip").unwrap_or(0).clamp(0, 100_000) as usize;
    (count, skip)
}

fn base_summary(kb: &KnowledgeRow, file_count: i64) -> Value {
    json!({
        "id": kb.id, "name": kb.name, "description": kb.description,
        "file_count": file_count, "updated_at": kb.updated_at,
    })
}

async fn list_bases(
    cx: &ToolCx<'_>,
    query: &str,
    count: usize,
    skip: usize,
) -> anyhow::Result<Value> {
    let q = query.trim().to_lowercase();
    let reader = Reader::of(cx).await?;
    let found = cx
        .state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            let matching = reader.bases(c)?.into_iter().filter(|kb| {
                q.is_empty()
                    || kb.name.to_lowercase().contains(&q)
                    || kb.description.to_lowercase().contains(&q)
            });
            for kb in matching.skip(skip).take(count) {
                out.push(base_summary(&kb, kb_store::file_count(c, &kb.id)?));
            }
            Ok(out)
        })
        .await?;
    Ok(Value::Array(found))
}

/// `search_knowledge_files`: by file name, in the attached knowledge when
/// there is some, else in every readable knowledge base.
async fn search_files(
    cx: &ToolCx<'_>,
    attached: &[Value],
    args: &Map<String, Value>,
) -> anyhow::Result<Value> {
    let q = arg_str(args, "query").unwrap_or("").trim().to_lowercase();
    let only = arg_str(args, "knowledge_id")
        .filter(|s| !s.is_empty() && !matches!(*s, "none" | "null"))
        .map(str::to_string);
    let (count, skip) = paging(args, 5);
    let reader = Reader::of(cx).await?;
    let scoped = !attached.is_empty();
    let (kb_ids, file_ids) = attached_owned(attached);
    if let Some(id) = &only {
        if scoped && !kb_ids.contains(id) {
            anyhow::bail!("That knowledge base is not attached to this model.");
        }
    }
    let matches = move |f: &FileRow| q.is_empty() || f.filename.to_lowercase().contains(&q);
    let found = cx
        .state
        .db
        .read(move |c| {
            let bases: Vec<KnowledgeRow> = match (&only, scoped) {
                (Some(id), _) => match kb_store::get(c, id)? {
                    Some(kb) if reader.reads(c, &kb, true)? => vec![kb],
                    _ => return Ok(Err("You may not read that knowledge base.")),
                },
                (None, true) => {
                    let mut v = Vec::new();
                    for id in &kb_ids {
                        v.extend(reader.attached_base(c, id)?);
                    }
                    v
                }
                (None, false) => reader.bases(c)?,
            };
            let mut out = Vec::new();
            let mut seen = HashSet::new();
            for kb in &bases {
                for f in kb_store::files_of(c, &kb.id)? {
                    if matches(&f) && seen.insert(f.id.clone()) {
                        let mut v = file_brief(&f);
                        v["knowledge_id"] = json!(kb.id);
                        v["knowledge_name"] = json!(kb.name);
                        out.push(v);
                    }
                }
            }
            if scoped && only.is_none() {
                for f in crate::db::files::get_many(c, &file_ids)? {
                    if matches(&f) && seen.insert(f.id.clone()) {
                        out.push(file_brief(&f));
                    }
                }
            }
            Ok(Ok(out
                .into_iter()
                .skip(skip)
                .take(count)
                .collect::<Vec<_>>()))
        })
        .await?
        .map_err(anyhow::Error::msg)?;
    Ok(Value::Array(found))
}

/// `list_knowledge`: what is attached to the model and readable.
async fn list_attached(
    cx: &ToolCx<'_>,
    attached: &[Value],
    args: &Map<String, Value>,
) -> anyhow::Result<Value> {
    let target = arg_str(args, "knowledge_id")
        .filter(|s| !s.is_empty() && !matches!(*s, "none" | "null"))
        .map(str::to_string);
    let skip = arg_int(args, "skip").unwrap_or(0).clamp(0, 100_000) as usize;
    let count = arg_int(args, "count").unwrap_or(50).clamp(1, 200) as usize;
    let reader = Reader::of(cx).await?;
    let items = attached_pairs(attached);
    cx.state
        .db
        .read(move |c| {
            let (mut bases, mut files, mut notes) = (Vec::new(), Vec::new(), Vec::new());
            for (kind, id) in &items {
                match kind.as_str() {
                    "collection" => {
                        let Some(kb) = reader.attached_base(c, id)? else {
                            continue;
                        };
                        let kb_files = kb_store::files_of(c, &kb.id)?;
                        let total = kb_files.len();
                        let mut entry = json!({
                            "id": kb.id, "name": kb.name, "description": kb.description,
                            "file_count": total,
                        });
                        if target.as_deref() == Some(kb.id.as_str()) && total > 0 {
                            let page: Vec<Value> = kb_files
                                .iter()
                                .skip(skip)
                                .take(count)
                                .map(|f| json!({"id": f.id, "filename": f.filename}))
                                .collect();
                            entry["files_skip"] = json!(skip);
                            entry["files_count"] = json!(page.len());
                            entry["files"] = Value::Array(page);
                            entry["files_total"] = json!(total);
                            entry["has_more"] = json!(skip + count < total);
                        }
                        bases.push(entry);
                    }
                    "file" => {
                        if let Some(f) = crate::db::files::get(c, id)? {
                            files.push(file_brief(&f));
                        }
                    }
                    "note" => {
                        let Some(n) = crate::db::notes::get(c, id)? else {
                            continue;
                        };
                        if crate::notes::may(c, &reader.user_id, reader.admin, &n, "read")? {
                            notes.push(json!({"id": n.id, "title": n.title}));
                        }
                    }
                    _ => {}
                }
            }
            Ok(json!({"knowledge_bases": bases, "files": files, "notes": notes}))
        })
        .await
}
