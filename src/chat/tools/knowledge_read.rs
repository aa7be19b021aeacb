//! The reading half of the knowledge tools: a file a page at a time, a grep
//! through files, and searches by meaning over files and over the knowledge
//! bases themselves.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::knowledge_access::{attached_ids, attached_owned, attached_pairs, Reader};
use super::{arg_int, arg_str, ToolCx};
use crate::db::files::{self, FileRow};
use crate::db::knowledge::{self as kb_store, KnowledgeRow};
use crate::rag::knowledge::KNOWLEDGE_BASES_COLLECTION;
use crate::rag::SearchOpts;

const DEFAULT_VIEW_CHARS: i64 = 10_000;
const MAX_VIEW_CHARS: i64 = 100_000;
/// Lines shown by a grep; the rest are only counted.
const MAX_GREP_LINES: usize = 50;
const MAX_GREP_LINE_CHARS: usize = 500;
const MAX_PATTERN_CHARS: usize = 4096;
/// Knowledge bases searched when none are named.
const MAX_BASES: usize = 200;

fn flag(args: &Map<String, Value>, key: &str) -> bool {
    match args.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Whether the caller may read the file outside a knowledge base: theirs,
/// an admin, attached to the model, or shared through a readable base.
async fn may_read_file(cx: &ToolCx<'_>, attached: &[Value], f: &FileRow) -> anyhow::Result<bool> {
    if attached_ids(attached, "file").contains(&f.id.as_str()) {
        return Ok(true);
    }
    crate::files::can_access_file(cx.state, cx.caller, f, "read")
        .await
        .map_err(|_| anyhow::anyhow!("The file could not be checked just now."))
}

/// `view_file` / `view_knowledge_file`: a page of the file's extracted text,
/// by characters or by lines.
pub async fn view(
    cx: &ToolCx<'_>,
    attached: &[Value],
    args: &Map<String, Value>,
    in_knowledge: bool,
) -> anyhow::Result<Value> {
    let id = arg_str(args, "file_id").unwrap_or("").to_string();
    let reader = Reader::of(cx).await?;
    let lookup = id.clone();
    let (file, base) = cx
        .state
        .db
        .read(move |c| {
            let Some(f) = files::get(c, &lookup)? else {
                return Ok((None, None));
            };
            let mut base = None;
            if in_knowledge {
                for kb in kb_store::by_file(c, &f.id)? {
                    if reader.reads(c, &kb, true)? {
                        base = Some(kb);
                        break;
                    }
                }
            }
            Ok((Some(f), base))
        })
        .await?;
    let Some(file) = file else {
        anyhow::bail!("No file has that id.");
    };
    let allowed = if in_knowledge {
        base.is_some() || file.user_id == cx.caller.id() || cx.caller.is_admin()
    } else {
        may_read_file(cx, attached, &file).await?
    };
    if !allowed {
        anyhow::bail!("No file you may read has that id.");
    }
    let mut out = page(&file, args);
    if let Some(kb) = base {
        out["knowledge_id"] = json!(kb.id);
        out["knowledge_name"] = json!(kb.name);
    }
    Ok(out)
}

fn page(file: &FileRow, args: &Map<String, Value>) -> Value {
    let content = file.content();
    let mut out = json!({
        "id": file.id, "filename": file.filename, "content": "",
        "updated_at": file.updated_at, "created_at": file.created_at,
    });
    let (start_line, end_line) = (arg_int(args, "start_line"), arg_int(args, "end_line"));
    if start_line.is_some() || end_line.is_some() {
        let lines: Vec<&str> = content.split('\n').collect();
        let total = lines.len();
        let s = (start_line.unwrap_or(1).max(1) - 1) as usize;
        let e = end_line
            .filter(|e| *e != 0)
            .map_or(s.saturating_add(100), |e| e.max(0) as usize)
            .min(total)
            .min(s.saturating_add(10_000));
        let shown: Vec<String> = lines
            .get(s..e.max(s))
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{}: {l}", s + i + 1))
            .collect();
        out["content"] = json!(shown.join("\n"));
        out["total_lines"] = json!(total);
        out["showing_lines"] = json!(format!("{}-{e}", s + 1));
        if e < total {
            out["truncated"] = json!(true);
            out["next_start_line"] = json!(e + 1);
        }
        return out;
    }
    let offset = arg_int(args, "offset").unwrap_or(0).max(0) as usize;
    let max = arg_int(args, "max_chars")
        .unwrap_or(DEFAULT_VIEW_CHARS)
        .clamp(1, MAX_VIEW_CHARS) as usize;
    let total = content.chars().count();
    let mut sliced: String = content.chars().skip(offset).take(max).collect();
    let returned = sliced.chars().count();
    let truncated = offset + returned < total;
    if flag(args, "line_numbers") {
        let first = content.chars().take(offset).filter(|c| *c == '\n').count() + 1;
        sliced = sliced
            .split('\n')
            .enumerate()
            .map(|(i, l)| format!("{}: {l}", first + i))
            .collect::<Vec<_>>()
            .join("\n");
    }
    out["content"] = json!(sliced);
    if truncated || offset > 0 {
        out["truncated"] = json!(truncated);
        out["total_chars"] = json!(total);
        out["returned_chars"] = json!(returned);
        out["offset"] = json!(offset);
        if truncated {
            out["next_offset"] = json!(offset + returned);
        }
    }
    out
}

/// Whether a pattern reads as a regular expression rather than plain text.
fn looks_like_regex(p: &str) -> bool {
    ["|", ".*", ".+", ".?", "\\d", "\\w", "\\s"]
        .iter()
        .any(|s| p.contains(s))
        || p.find('[')
            .is_some_and(|open| p[open + 1..].find(']').is_some_and(|n| n > 0))
}

type Matcher = Box<dyn Fn(&str) -> bool + Send>;

fn matcher(pattern: &str, case_insensitive: bool) -> anyhow::Result<Matcher> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        anyhow::bail!("The pattern is too long (at most {MAX_PATTERN_CHARS} characters).");
    }
    if looks_like_regex(pattern) || case_insensitive {
        let source = if looks_like_regex(pattern) {
            pattern.to_string()
        } else {
            regex::escape(pattern)
        };
        let re = regex::RegexBuilder::new(&source)
            .case_insensitive(case_insensitive)
            .size_limit(1 << 20)
            .build()
            .map_err(|_| anyhow::anyhow!("The pattern is not a valid regular expression."))?;
        return Ok(Box::new(move |line| re.is_match(line)));
    }
    let p = pattern.to_string();
    Ok(Box::new(move |line| line.contains(&p)))
}

/// The files a grep runs through.
async fn grep_files(
    cx: &ToolCx<'_>,
    attached: &[Value],
    file_id: Option<String>,
) -> anyhow::Result<Vec<FileRow>> {
    if let Some(id) = file_id {
        let Some(f) = cx.state.db.read(move |c| files::get(c, &id)).await? else {
            return Ok(Vec::new());
        };
        if !may_read_file(cx, attached, &f).await? {
            anyhow::bail!("No file you may read has that id.");
        }
        return Ok(vec![f]);
    }
    let reader = Reader::of(cx).await?;
    let scoped = !attached.is_empty();
    let (kb_ids, file_ids) = attached_owned(attached);
    cx.state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            let mut seen = HashSet::new();
            let bases: Vec<KnowledgeRow> = if scoped {
                out.extend(
                    files::get_many(c, &file_ids)?
                        .into_iter()
                        .filter(|f| seen.insert(f.id.clone())),
                );
                let mut v = Vec::new();
                for id in &kb_ids {
                    v.extend(reader.attached_base(c, id)?);
                }
                v
            } else {
                reader.bases(c)?.into_iter().take(MAX_BASES).collect()
            };
            for kb in bases {
                for f in kb_store::files_of(c, &kb.id)? {
                    if seen.insert(f.id.clone()) {
                        out.push(f);
                    }
                }
            }
            Ok(out)
        })
        .await
}

/// `grep_knowledge_files`: matching lines as `<file id>  <name>:<line>: <text>`.
pub async fn grep(
    cx: &ToolCx<'_>,
    attached: &[Value],
    args: &Map<String, Value>,
) -> anyhow::Result<Value> {
    let pattern = arg_str(args, "pattern").unwrap_or("");
    if pattern.trim().is_empty() {
        anyhow::bail!("grep_knowledge_files needs a pattern.");
    }
    let matches = matcher(pattern, flag(args, "case_insensitive"))?;
    let count_only = flag(args, "count_only");
    let file_id = arg_str(args, "file_id")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let files = grep_files(cx, attached, file_id).await?;
    if files.is_empty() {
        anyhow::bail!("There are no files you may read to search.");
    }
    let (mut lines, mut counts, mut total) = (Vec::new(), Vec::new(), 0usize);
    for f in &files {
        let mut in_file = 0;
        for (i, line) in f.content().split('\n').enumerate() {
            if !matches(line) {
                continue;
            }
            in_file += 1;
            total += 1;
            if !count_only && lines.len() < MAX_GREP_LINES {
                let shown: String = line.chars().take(MAX_GREP_LINE_CHARS).collect();
                lines.push(format!("{}  {}:{}: {shown}", f.id, f.filename, i + 1));
            }
        }
        if count_only && in_file > 0 {
            counts.push(format!("{}  {}: {in_file}", f.id, f.filename));
        }
    }
    let none = || format!("No line matches \"{pattern}\".");
    let text = if count_only {
        if counts.is_empty() {
            none()
        } else {
            format!("{}\n[{total} matches in all]", counts.join("\n"))
        }
    } else if lines.is_empty() {
        none()
    } else if total > MAX_GREP_LINES {
        format!(
            "{}\n[{MAX_GREP_LINES} of {total} matches shown; give a file_id to narrow]",
            lines.join("\n")
        )
    } else {
        lines.join("\n")
    };
    Ok(Value::String(text))
}

/// The ids a model gave as `knowledge_ids`: a list, a JSON list in a string,
/// one id, or nothing ("none", "null", "").
fn id_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() || t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("null") {
                return Vec::new();
            }
            match serde_json::from_str::<Value>(t) {
                Ok(list @ Value::Array(_)) => id_list(Some(&list)),
                _ => vec![t.to_string()],
            }
        }
        _ => Vec::new(),
    }
}

fn count_arg(args: &Map<String, Value>) -> usize {
    arg_int(args, "count").unwrap_or(5).clamp(1, 50) as usize
}

/// `query_knowledge_files`: passages by meaning from the attached knowledge
/// (attached notes come whole), the named knowledge bases, or every
/// readable one.
pub async fn query_files(
    cx: &ToolCx<'_>,
    attached: &[Value],
    args: &Map<String, Value>,
) -> anyhow::Result<Value> {
    let query = arg_str(args, "query").unwrap_or("").to_string();
    if query.trim().is_empty() {
        anyhow::bail!("query_knowledge_files needs a query.");
    }
    let count = count_arg(args);
    let named = id_list(args.get("knowledge_ids"));
    let reader = Reader::of(cx).await?;
    let items = attached_pairs(attached);
    let (collections, mut chunks) = cx
        .state
        .db
        .read(move |c| {
            let mut collections = Vec::new();
            let mut notes = Vec::new();
            let internal = |kb: &KnowledgeRow| !kb.is_external();
            if !items.is_empty() {
                for (kind, id) in &items {
                    match kind.as_str() {
                        "collection" => {
                            if let Some(kb) = reader.attached_base(c, id)?.filter(internal) {
                                collections.push(kb.id);
                            }
                        }
                        "file" if files::get(c, id)?.is_some() => {
                            collections.push(format!("file-{id}"));
                        }
                        "note" => {
                            let Some(n) = crate::db::notes::get(c, id)? else {
                                continue;
                            };
                            if crate::notes::may(c, &reader.user_id, reader.admin, &n, "read")? {
                                let md = n.data.pointer("/content/md").and_then(Value::as_str);
                                notes.push(json!({
                                    "content": md.unwrap_or(""), "source": n.title,
                                    "note_id": n.id, "type": "note",
                                }));
                            }
                        }
                        _ => {}
                    }
                }
            } else if !named.is_empty() {
                for id in named.iter().take(MAX_BASES) {
                    if let Some(kb) = reader.attached_base(c, id)?.filter(internal) {
                        collections.push(kb.id);
                    }
                }
            } else {
                collections.extend(
                    reader
                        .bases(c)?
                        .into_iter()
                        .filter(internal)
                        .take(50)
                        .map(|kb| kb.id),
                );
            }
            Ok((collections, notes))
        })
        .await?;
    if !collections.is_empty() {
        let opts = SearchOpts {
            k: count,
            ..SearchOpts::from_config(cx.state)
        };
        let hits = cx
            .state
            .rag
            .search(cx.state, &collections, &query, &opts)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "knowledge search failed");
                anyhow::anyhow!("The knowledge could not be searched just now.")
            })?;
        for h in hits {
            let text = |k: &str| h.metadata.get(k).and_then(Value::as_str);
            let source = text("source").or(text("name")).unwrap_or("Unknown");
            chunks.push(json!({
                "content": h.text, "source": source,
                "file_id": text("file_id").unwrap_or(""), "distance": h.score,
            }));
        }
    }
    chunks.truncate(count);
    Ok(Value::Array(chunks))
}

/// `query_knowledge_bases`: readable knowledge bases whose name and
/// description are closest in meaning to the query.
pub async fn query_bases(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let query = arg_str(args, "query").unwrap_or("").to_string();
    if query.trim().is_empty() {
        anyhow::bail!("query_knowledge_bases needs a query.");
    }
    let count = count_arg(args);
    let reader = Reader::of(cx).await?;
    let bases = cx.state.db.read(move |c| reader.bases(c)).await?;
    if bases.is_empty() {
        return Ok(json!([]));
    }
    let opts = SearchOpts {
        k: crate::limits::MAX_K.min(bases.len() * 2 + count),
        hybrid: false,
        ..SearchOpts::from_config(cx.state)
    };
    let collection = [KNOWLEDGE_BASES_COLLECTION.to_string()];
    let hits = cx
        .state
        .rag
        .search(cx.state, &collection, &query, &opts)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "knowledge base search failed");
            anyhow::anyhow!("The knowledge bases could not be searched just now.")
        })?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for h in hits {
        let Some(id) = h.metadata.get("knowledge_base_id").and_then(Value::as_str) else {
            continue;
        };
        let Some(kb) = bases.iter().find(|kb| kb.id == id) else {
            continue;
        };
        if !seen.insert(id.to_string()) {
            continue;
        }
        out.push(json!({
            "id": kb.id, "name": kb.name, "description": kb.description,
            "similarity": (h.score as f64 * 10_000.0).round() / 10_000.0,
        }));
        if out.len() == count {
            break;
        }
    }
    Ok(Value::Array(out))
}
