//! Retrieval for chats: which collections a caller may read, and the
//! injection of retrieved passages (and memories) into a completion request.
//!
//! Sources are the files and knowledge bases attached to the message (`files`
//! in the completion body), the knowledge of a workspace model
//! (`info.meta.knowledge`) and the files of the chat's folder. Their best
//! chunks are put into the last user message through `rag.template`
//! (`{{CONTEXT}}` = numbered `<source>` blocks, `{{QUERY}}` = the question),
//! and the same chunks become the message's `sources` (citations in the UI).

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::{Hit, SearchOpts};
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::{access_grants, files, knowledge, memories};
use crate::error::ApiResult;
use crate::state::AppState;

/// Collection names are plain identifiers; anything else never reaches the store.
fn safe_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 256
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn unscoped_allowed() -> bool {
    std::env::var("ENABLE_RETRIEVAL_UNSCOPED_COLLECTIONS")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// The subset of `names` the caller may `perm` (read / write), in order.
pub async fn filter_accessible_collections(
    state: &AppState,
    caller: &Caller,
    names: &[String],
    perm: &str,
) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for n in names {
        if !safe_name(n) || !seen.insert(n.clone()) {
            continue;
        }
        if caller.is_admin() {
            out.push(n.clone());
            continue;
        }
        let ok = if let Some(fid) = n.strip_prefix("file-") {
            let fid = fid.to_string();
            match state.db.read(move |c| files::get(c, &fid)).await? {
                Some(f) => crate::files::can_access_file(state, caller, &f, perm).await?,
                None => false,
            }
        } else if let Some(uid) = n.strip_prefix("user-memory-") {
            uid == caller.id()
        } else if n.starts_with("web-search-") {
            crate::websearch::owns_collection(caller.id(), n)
        } else if n == super::knowledge::KNOWLEDGE_BASES_COLLECTION {
            false
        } else {
            let (kid, uid, p) = (n.clone(), caller.id().to_string(), perm.to_string());
            let kb_ok = state
                .db
                .read(move |c| {
                    let Some(kb) = knowledge::get(c, &kid)? else {
                        return Ok(None);
                    };
                    if kb.user_id == uid {
                        return Ok(Some(true));
                    }
                    let groups = access_grants::group_ids_of(c, &uid)?;
                    access_grants::has_access(c, &uid, &groups, knowledge::RESOURCE, &kid, &p)
                        .map(Some)
                })
                .await?;
            kb_ok.unwrap_or_else(unscoped_allowed)
        };
        if ok {
            out.push(n.clone());
        }
    }
    Ok(out)
}

/// Hits in upstream's `SearchResult` shape (one query → one inner list).
pub fn hits_to_result(hits: &[Hit]) -> Value {
    json!({
        "ids": [hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>()],
        "documents": [hits.iter().map(|h| h.text.clone()).collect::<Vec<_>>()],
        "metadatas": [hits.iter().map(|h| Value::Object(h.metadata.clone())).collect::<Vec<_>>()],
        "distances": [hits.iter().map(|h| h.score).collect::<Vec<_>>()],
    })
}

/// One attached item resolved to what should be searched or included whole.
struct Item {
    /// The item as the client sent it (minus bulky data): the citation's `source`.
    source: Value,
    collections: Vec<String>,
    /// Whole-document mode: (text, metadata) pairs used as they are.
    full: Option<Vec<(String, Value)>>,
}

fn strip_item(item: &Value) -> Value {
    let mut v = item.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("data");
        if let Some(Value::Object(f)) = o.get_mut("file") {
            if let Some(Value::Object(d)) = f.get_mut("data") {
                d.remove("content");
            }
        }
    }
    v
}

fn full_doc(f: &files::FileRow) -> (String, Value) {
    (
        f.content().to_string(),
        json!({"file_id": f.id, "name": f.name(), "source": f.name()}),
    )
}

async fn resolve_items(
    state: &AppState,
    caller: &Caller,
    raw: &[Value],
    full_default: bool,
) -> ApiResult<Vec<Item>> {
    let bypass = state.config.get_bool("rag.bypass_embedding_and_retrieval");
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for item in raw {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .or_else(|| item.get("url").and_then(Value::as_str))
            .or_else(|| item.get("name").and_then(Value::as_str))
            .unwrap_or("")
            .to_string();
        let full =
            full_default || bypass || item.get("context").and_then(Value::as_str) == Some("full");
        if id.is_empty() || !seen.insert((kind.to_string(), id.clone())) {
            continue;
        }
        match kind {
            "file" | "" if kind == "file" || item.get("file").is_some() => {
                let fid = id.clone();
                let Some(f) = state.db.read(move |c| files::get(c, &fid)).await? else {
                    continue;
                };
                if !crate::files::can_access_file(state, caller, &f, "read").await? {
                    continue;
                }
                out.push(Item {
                    source: strip_item(item),
                    collections: vec![crate::files::collection_of(&f.id)],
                    full: full.then(|| vec![full_doc(&f)]),
                });
            }
            "collection" => {
                let names =
                    filter_accessible_collections(state, caller, std::slice::from_ref(&id), "read")
                        .await?;
                if names.is_empty() {
                    continue;
                }
                let full_docs = if full {
                    let kid = id.clone();
                    let fs = state.db.read(move |c| knowledge::files_of(c, &kid)).await?;
                    Some(fs.iter().map(full_doc).collect())
                } else {
                    None
                };
                out.push(Item {
                    source: strip_item(item),
                    collections: names,
                    full: full_docs,
                });
            }
            "url" => {
                // A web page attached by URL: fetched now, behind the same
                // guard as /retrieval/process/web.
                let Some(url) = item.get("url").and_then(Value::as_str) else {
                    continue;
                };
                match crate::webfetch::fetch_page_text(state, url).await {
                    Ok(text) => out.push(Item {
                        source: strip_item(item),
                        collections: vec![],
                        full: Some(vec![(
                            text,
                            json!({"url": url, "name": url, "source": url}),
                        )]),
                    }),
                    Err(e) => tracing::info!(url, error = %e, "attached page not loaded"),
                }
            }
            "text" => {
                let text = item
                    .get("file")
                    .and_then(|f| f.get("data"))
                    .and_then(|d| d.get("content"))
                    .and_then(Value::as_str)
                    .or_else(|| item.get("content").and_then(Value::as_str))
                    .unwrap_or("")
                    .to_string();
                if text.trim().is_empty() {
                    continue;
                }
                // A pasted web page keeps its address (`file.meta.source`)
                // so the citation links to it.
                let meta = match item.pointer("/file/meta") {
                    Some(Value::Object(m)) if !m.is_empty() => Value::Object(m.clone()),
                    _ => json!({"name": item.get("name").cloned().unwrap_or(Value::Null)}),
                };
                out.push(Item {
                    source: strip_item(item),
                    collections: vec![],
                    full: Some(vec![(text, meta)]),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The text of the last user message.
fn last_user_text(messages: &[Value]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(crate::chat::history::message_text)
        .filter(|t| !t.trim().is_empty())
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// Numbered `<source>` blocks; one number per distinct document.
pub fn render_context(sources: &[Value]) -> String {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut out = String::new();
    for s in sources {
        let docs = s
            .get("document")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let metas = s
            .get("metadata")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let src_name = s
            .get("source")
            .and_then(|x| x.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        for (i, d) in docs.iter().enumerate() {
            let meta = metas.get(i).cloned().unwrap_or(Value::Null);
            let key = meta
                .get("source")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    s.get("source")
                        .and_then(|x| x.get("id"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "N/A".into());
            let n = ids.len() + 1;
            let n = *ids.entry(key).or_insert(n);
            let name = meta
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(src_name);
            out.push_str(&format!(
                "<source id=\"{n}\" name=\"{}\">{}</source>\n",
                escape_attr(name),
                d.as_str().unwrap_or("")
            ));
        }
    }
    out.trim_end().to_string()
}

/// How many distinct documents the sources cite (the "Retrieved N sources"
/// status).
pub fn source_count(sources: &[Value]) -> usize {
    let mut ids = HashSet::new();
    for s in sources {
        let fallback = s
            .get("source")
            .and_then(|x| x.get("id"))
            .and_then(Value::as_str);
        let metas = s
            .get("metadata")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for m in metas {
            let key = m
                .get("source")
                .and_then(Value::as_str)
                .or(fallback)
                .unwrap_or("N/A")
                .to_string();
            ids.insert(key);
        }
    }
    ids.len()
}

/// Fills `rag.template`.
pub fn fill_template(template: &str, context: &str, query: &str) -> String {
    let t = if template.trim().is_empty() {
        crate::config::DEFAULT_RAG_TEMPLATE
    } else {
        template
    };
    t.replace("{{CONTEXT}}", context)
        .replace("{{QUERY}}", query)
}

/// Puts `text` in place of the last user message's text (keeping images).
pub fn replace_last_user_text(messages: &mut [Value], text: &str) {
    let Some(m) = messages
        .iter_mut()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return;
    };
    match m.get_mut("content") {
        Some(Value::Array(parts)) => {
            let mut done = false;
            parts.retain_mut(|p| {
                if p.get("type").and_then(Value::as_str) == Some("text") {
                    if done {
                        return false;
                    }
                    p["text"] = json!(text);
                    done = true;
                }
                true
            });
            if !done {
                parts.insert(0, json!({"type": "text", "text": text}));
            }
        }
        _ => m["content"] = json!(text),
    }
}

/// The items a turn draws on: the message's files, the model's knowledge and
/// the chat folder's files.
async fn turn_items(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
    folder_id: Option<&str>,
    model_item: &Value,
) -> Vec<Value> {
    let mut items: Vec<Value> = body
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(k) = model_item
        .pointer("/info/meta/knowledge")
        .and_then(Value::as_array)
    {
        for entry in k {
            let mut e = entry.clone();
            if e.get("type").is_none() {
                // Old model entries name a knowledge base without a type.
                e["type"] = json!(
                    if e.get("collection_name").is_some() || e.get("files").is_some() {
                        "collection"
                    } else {
                        "file"
                    }
                );
            }
            items.push(e);
        }
    }
    let folder_id = folder_id
        .or_else(|| body.get("folder_id").and_then(Value::as_str))
        .map(str::to_string);
    if let Some(folder_id) = folder_id {
        let uid = caller.id().to_string();
        if let Ok(Some(folder)) = state
            .db
            .read(move |c| crate::db::folders::get(c, &folder_id))
            .await
        {
            if folder.user_id == uid {
                if let Some(list) = folder
                    .data
                    .as_ref()
                    .and_then(|d| d.get("files"))
                    .and_then(Value::as_array)
                {
                    items.extend(list.iter().cloned());
                }
            }
        }
    }
    items
}

/// Retrieves for the turn and rewrites `request["messages"]`. Returns the
/// sources (citations) to emit and store with the message; empty when
/// nothing was attached or nothing was found. Never fails the turn: a
/// retrieval error is logged and the question goes out unchanged.
///
/// `sources` found before retrieval (results of tools the task model ran)
/// come ahead of the retrieved ones in the context.
pub async fn apply(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
    folder_id: Option<&str>,
    model_item: &Value,
    request: &mut Value,
    mut sources: Vec<Value>,
) -> Vec<Value> {
    if let Err(e) = apply_memories(state, caller, body, model_item, request).await {
        tracing::warn!(error = %e, "memory context skipped");
    }
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(query) = last_user_text(&messages) else {
        return vec![];
    };
    let file_context = model_item
        .pointer("/info/meta/capabilities/file_context")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let raw = if file_context {
        turn_items(state, caller, body, folder_id, model_item).await
    } else {
        Vec::new()
    };
    if !raw.is_empty() {
        match collect_sources(state, caller, &raw, &query).await {
            Ok(found) => sources.extend(found),
            Err(e) => tracing::warn!(error = ?e, "retrieval failed; answering without context"),
        }
    }
    if sources.is_empty() {
        return sources;
    }
    let context = render_context(&sources);
    if !context.is_empty() {
        let filled = fill_template(&state.config.get_str("rag.template"), &context, &query);
        let mut msgs = messages;
        replace_last_user_text(&mut msgs, &filled);
        request["messages"] = Value::Array(msgs);
    }
    sources
}

async fn collect_sources(
    state: &AppState,
    caller: &Caller,
    raw: &[Value],
    query: &str,
) -> ApiResult<Vec<Value>> {
    let full_default = state.config.get_bool("rag.full_context");
    let items = resolve_items(state, caller, raw, full_default).await?;
    let opts = SearchOpts::from_config(state);
    let mut sources = Vec::new();
    let mut searched: HashSet<String> = HashSet::new();
    for item in items {
        let (docs, metas, dists): (Vec<Value>, Vec<Value>, Option<Vec<Value>>) = match &item.full {
            Some(full) => (
                full.iter().map(|(t, _)| json!(t)).collect(),
                full.iter().map(|(_, m)| m.clone()).collect(),
                None,
            ),
            None => {
                let names: Vec<String> = item
                    .collections
                    .iter()
                    .filter(|c| !searched.contains(*c))
                    .cloned()
                    .collect();
                if names.is_empty() {
                    continue;
                }
                searched.extend(names.iter().cloned());
                let hits = state.rag.search(state, &names, query, &opts).await?;
                if hits.is_empty() {
                    continue;
                }
                (
                    hits.iter().map(|h| json!(h.text)).collect(),
                    hits.iter()
                        .map(|h| Value::Object(h.metadata.clone()))
                        .collect(),
                    Some(hits.iter().map(|h| json!(h.score)).collect()),
                )
            }
        };
        if docs.is_empty() {
            continue;
        }
        let mut s = json!({"source": item.source, "document": docs, "metadata": metas});
        if let Some(d) = dists {
            s["distances"] = Value::Array(d);
        }
        sources.push(s);
    }
    Ok(sources)
}

/// With the memory feature on (`features.memory` in the body, the admin
/// switch and the user's permission) and a model whose `memory` capability
/// is not switched off, the user's memories go into the system message:
/// every `user`-type memory plus the ones closest to the question.
async fn apply_memories(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
    model_item: &Value,
    request: &mut Value,
) -> anyhow::Result<()> {
    let wanted = body
        .get("features")
        .and_then(|f| f.get("memory"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model_allows = model_item
        .pointer("/info/meta/capabilities/memory")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if !wanted
        || !model_allows
        || !state.config.get_bool("memories.enable")
        || !state.config.get_bool("memories.system_context.enable")
    {
        return Ok(());
    }
    if !caller.is_admin() {
        let perms = permissions::effective(state, caller.id()).await?;
        if !permissions::allows(&perms, "features.memories") {
            return Ok(());
        }
    }
    let uid = caller.id().to_string();
    let all = state.db.read(move |c| memories::by_user(c, &uid)).await?;
    if all.is_empty() {
        return Ok(());
    }
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let query = last_user_text(&messages).unwrap_or_default();
    let mut chosen: Vec<String> = Vec::new();
    let mut ids = HashSet::new();
    for m in all.iter().filter(|m| m.kind == "user") {
        ids.insert(m.id.clone());
        chosen.push(label(m));
    }
    if !query.is_empty() {
        let collection = super::memories::collection(caller.id());
        let opts = SearchOpts {
            k: 8,
            ..SearchOpts::from_config(state)
        };
        if let Ok(hits) = state.rag.search(state, &[collection], &query, &opts).await {
            for h in hits {
                if let Some(m) = all.iter().find(|m| {
                    m.id == h.id
                        || h.metadata.get("memory_id").and_then(Value::as_str) == Some(&m.id)
                }) {
                    if ids.insert(m.id.clone()) {
                        chosen.push(label(m));
                    }
                }
            }
        }
    }
    if chosen.is_empty() {
        return Ok(());
    }
    // One order whatever the rows' or hits' order, so the prompt's prefix
    // stays the same from turn to turn (providers cache it).
    chosen.sort_by_cached_key(|c| (c.to_lowercase(), c.clone()));
    let limit = crate::rag::config_f64(state, "memories.user_char_limit")
        .unwrap_or(2000.0)
        .max(250.0) as usize
        + crate::rag::config_f64(state, "memories.context_char_limit")
            .unwrap_or(2000.0)
            .max(250.0) as usize;
    let mut block = String::from("Things the user asked you to remember:\n");
    for c in chosen {
        if block.len() + c.len() > limit {
            break;
        }
        block.push_str("- ");
        block.push_str(&c);
        block.push('\n');
    }
    let mut msgs = messages;
    crate::chat::history::prepend_system(&mut msgs, block.trim_end());
    request["messages"] = Value::Array(msgs);
    Ok(())
}

fn label(m: &memories::MemoryRow) -> String {
    match &m.path {
        Some(p) if !p.is_empty() => format!("{p}: {}", m.content),
        _ => m.content.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_numbers_documents() {
        let sources = vec![
            json!({"source": {"id": "f1", "name": "a.md"}, "document": ["one", "two"],
                   "metadata": [{"source": "a.md", "name": "a.md"}, {"source": "a.md", "name": "a.md"}]}),
            json!({"source": {"id": "f2", "name": "b \"q\".md"}, "document": ["three"],
                   "metadata": [{"source": "b.md"}]}),
        ];
        assert_eq!(source_count(&sources), 2);
        let c = render_context(&sources);
        assert_eq!(
            c,
            "<source id=\"1\" name=\"a.md\">one</source>\n<source id=\"1\" name=\"a.md\">two</source>\n<source id=\"2\" name=\"b &quot;q&quot;.md\">three</source>"
        );
    }

    #[test]
    fn template_and_user_message() {
        let filled = fill_template("C={{CONTEXT}} Q={{QUERY}}", "ctx", "why?");
        assert_eq!(filled, "C=ctx Q=why?");
        let mut msgs = vec![
            json!({"role": "user", "content": "old"}),
            json!({"role": "assistant", "content": "x"}),
            json!({"role": "user", "content": [{"type": "text", "text": "why?"}, {"type": "image_url", "image_url": {"url": "u"}}]}),
        ];
        replace_last_user_text(&mut msgs, &filled);
        assert_eq!(msgs[2]["content"][0]["text"], "C=ctx Q=why?");
        assert_eq!(msgs[2]["content"][1]["type"], "image_url");
        assert_eq!(msgs[0]["content"], "old");
    }

    #[test]
    fn unsafe_collection_names() {
        assert!(safe_name("file-abc_1"));
        assert!(!safe_name("../x"));
        assert!(!safe_name(""));
    }
}
