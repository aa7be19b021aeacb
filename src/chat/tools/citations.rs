//! Citations for what the reading tools returned (`fetch_url`, the file
//! and knowledge readers): each result becomes a `source` the UI can cite,
//! and, while the model keeps calling tools, the user's question is sent
//! again through `rag.template` with numbered `<source>` markers for them
//! (the text itself is already in the tool results), after the passages of
//! the turn's attached files. A model whose `citations` capability is off
//! gets neither.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// The tools whose results are cited.
pub const NAMES: [&str; 5] = [
    "fetch_url",
    "view_file",
    "view_knowledge_file",
    "query_knowledge_files",
    "query_chat_files",
];

/// How much of a fetched page the citation shows.
const SNIPPET_CHARS: usize = 500;

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The sources one call's result gives (none for an error or a tool that
/// is not cited).
pub fn from_result(name: &str, arguments: &str, result: &str) -> Vec<Value> {
    if !NAMES.contains(&name) || result.is_empty() {
        return Vec::new();
    }
    let parsed: Option<Value> = serde_json::from_str(result).ok();
    if parsed
        .as_ref()
        .is_some_and(|v| v.as_object().is_some_and(|o| o.contains_key("error")))
    {
        return Vec::new();
    }
    match name {
        "fetch_url" => {
            let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
            let url = text(&args, "url");
            let id = if url.is_empty() { "fetch_url" } else { url };
            let mut snippet: String = result.chars().take(SNIPPET_CHARS).collect();
            if result.chars().nth(SNIPPET_CHARS).is_some() {
                snippet.push_str("...");
            }
            vec![json!({
                "source": {"name": id, "id": id},
                "document": [snippet],
                "metadata": [{"source": url, "name": url, "url": url}],
            })]
        }
        "view_file" | "view_knowledge_file" => {
            let Some(file) = parsed.filter(Value::is_object) else {
                return Vec::new();
            };
            let id = text(&file, "id");
            let filename = file
                .get("filename")
                .and_then(Value::as_str)
                .unwrap_or("Unknown File");
            let mut meta = json!({"file_id": id, "name": filename, "source": filename});
            let kb = text(&file, "knowledge_name");
            if !kb.is_empty() {
                meta["knowledge_name"] = json!(kb);
            }
            vec![json!({
                "source": {"id": id, "name": filename, "type": "file"},
                "document": [text(&file, "content")],
                "metadata": [meta],
            })]
        }
        _ => {
            let Some(Value::Array(chunks)) = parsed else {
                return Vec::new();
            };
            grouped(&chunks)
        }
    }
}

/// Search hits grouped into one source per file (or note).
fn grouped(chunks: &[Value]) -> Vec<Value> {
    let mut order: Vec<String> = Vec::new();
    let mut by: HashMap<String, Map<String, Value>> = HashMap::new();
    for c in chunks {
        let name = c.get("source").and_then(Value::as_str).unwrap_or("Unknown");
        let (file_id, note_id) = (text(c, "file_id"), text(c, "note_id"));
        let key = [file_id, note_id, name]
            .into_iter()
            .find(|k| !k.is_empty())
            .unwrap_or(name)
            .to_string();
        let entry = by.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            let id = if file_id.is_empty() { note_id } else { file_id };
            let kind = c.get("type").and_then(Value::as_str).unwrap_or("file");
            let mut m = Map::new();
            m.insert(
                "source".into(),
                json!({"id": id, "name": name, "type": kind}),
            );
            for k in ["document", "metadata", "distances"] {
                m.insert(k.into(), json!([]));
            }
            m
        });
        let mut meta = json!({"file_id": file_id, "name": name, "source": name});
        if !note_id.is_empty() {
            meta["note_id"] = json!(note_id);
        }
        let push = |m: &mut Map<String, Value>, k: &str, v: Value| {
            if let Some(Value::Array(a)) = m.get_mut(k) {
                a.push(v);
            }
        };
        push(entry, "document", json!(text(c, "content")));
        push(entry, "metadata", meta);
        if let Some(d) = c.get("distance") {
            push(entry, "distances", d.clone());
        }
    }
    order
        .into_iter()
        .filter_map(|k| by.remove(&k))
        .map(Value::Object)
        .collect()
}

/// Numbered `<source>` blocks: the attached files' passages with their
/// text, then markers (no text) for the tools' sources, one number per
/// document across both.
pub fn context(file_sources: &[Value], tool_sources: &[Value]) -> String {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut out = String::new();
    for (sources, with_text) in [(file_sources, true), (tool_sources, false)] {
        for s in sources {
            let docs = s.get("document").and_then(Value::as_array);
            let metas = s.get("metadata").and_then(Value::as_array);
            let (Some(docs), Some(metas)) = (docs, metas) else {
                continue;
            };
            let src = s.get("source").cloned().unwrap_or(Value::Null);
            for (doc, meta) in docs.iter().zip(metas) {
                let key = [text(meta, "source"), text(&src, "id")]
                    .into_iter()
                    .find(|k| !k.is_empty())
                    .unwrap_or("N/A")
                    .to_string();
                let next = ids.len() + 1;
                let n = *ids.entry(key).or_insert(next);
                let name = text(&src, "name");
                let name = if name.is_empty() {
                    String::new()
                } else {
                    format!(" name=\"{}\"", escape(name))
                };
                let body = if with_text {
                    doc.as_str().unwrap_or("")
                } else {
                    ""
                };
                out.push_str(&format!("<source id=\"{n}\"{name}>{body}</source>\n"));
            }
        }
    }
    out.trim().to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetched_pages_and_files_become_sources() {
        let page = "x".repeat(600);
        let s = from_result("fetch_url", r#"{"url": "https://a.example/"}"#, &page);
        assert_eq!(s[0]["source"]["id"], "https://a.example/");
        assert_eq!(s[0]["document"][0].as_str().unwrap().len(), 503);
        let f = from_result(
            "view_knowledge_file",
            "{}",
            r#"{"id": "f1", "filename": "h.txt", "content": "text", "knowledge_name": "KB"}"#,
        );
        assert_eq!(f[0]["metadata"][0]["knowledge_name"], "KB");
        assert!(from_result("fetch_url", "{}", r#"{"error": "no"}"#).is_empty());
        assert!(from_result("search_web", "{}", "[]").is_empty());
        let hits = r#"[{"content": "a", "source": "h.txt", "file_id": "f1", "distance": 0.5},
                       {"content": "b", "source": "h.txt", "file_id": "f1"},
                       {"content": "c", "source": "n", "note_id": "n1", "type": "note"}]"#;
        let g = from_result("query_knowledge_files", "{}", hits);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0]["document"], json!(["a", "b"]));
        assert_eq!(g[1]["source"]["type"], "note");
    }

    #[test]
    fn markers_continue_the_files_numbering() {
        let file = json!({"source": {"id": "f", "name": "notes.txt"}, "document": ["berths"],
            "metadata": [{"source": "notes.txt"}]});
        let tool = json!({"source": {"id": "u", "name": "u"}, "document": ["page"],
            "metadata": [{"source": "https://u.example/"}]});
        let c = context(&[file], &[tool]);
        assert_eq!(
            c,
            "<source id=\"1\" name=\"notes.txt\">berths</source>\n<source id=\"2\" name=\"u\"></source>"
        );
    }
}
