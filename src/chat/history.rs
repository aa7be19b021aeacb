//! Turning a stored chat history into the message list sent upstream, and the
//! in-place edits a new turn makes to it; below, the pure edits of the history
//! tree in `chat.chat` (repair, merge, message upsert and delete, authors)
//! that `db::chats` applies when it stores a chat.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

/// Text of a message as the model should see it: the `output_text` parts when
/// the message has structured output, its `content` otherwise.
pub fn message_text(m: &Value) -> String {
    let text = output_text(m.get("output"));
    if !text.is_empty() {
        return text;
    }
    content_text(m)
}

/// The `content` of a message: the string, or the text parts joined.
fn content_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// The path from the root to `leaf_id` (inclusive), following `parentId`.
/// A message met twice ends the walk, so a cycle in stored data cannot hang us.
pub fn path_to(messages: &Map<String, Value>, leaf_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = Some(leaf_id.to_string());
    while let Some(id) = cur {
        if !seen.insert(id.clone()) {
            break;
        }
        let Some(m) = messages.get(&id) else { break };
        out.push(m.clone());
        cur = m
            .get("parentId")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    out.reverse();
    out
}

/// `[{role, content}]` for the upstream request. An assistant turn with
/// `output` items is replayed from them ([`super::replay`]: its text, the
/// tool calls it finished and their results); when they hold nothing to
/// replay its `content` stands in, and one that said nothing at all (a
/// failed or unfinished turn) is left out. `model_id` is the model the
/// request goes to: only its own turns hand back their reasoning details.
pub fn to_upstream_messages(path: &[Value], model_id: Option<&str>) -> Vec<Value> {
    to_upstream_messages_with(path, model_id, false, None)
}

/// One attached file as the model is told about it.
fn file_tag(f: &Value) -> String {
    let field = |k: &str| f.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    // Quotes would end an attribute early; the model gets them escaped.
    let attr = |v: &str| v.replace('&', "&amp;").replace('"', "&quot;");
    let mut tag = format!(
        "<file type=\"{}\" id=\"{}\"",
        attr(field("type").unwrap_or("file")),
        attr(field("id").or(field("url")).unwrap_or(""))
    );
    for k in ["url", "content_type", "name"] {
        if let Some(v) = field(k) {
            tag.push_str(&format!(" {k}=\"{}\"", attr(v)));
        }
    }
    tag.push_str("/>");
    tag
}

/// The `<attached_files>` block for a user message's files: those with a
/// link (not inline `data:` ones) and attached chats, by id.
pub fn attached_files_block(m: &Value) -> Option<String> {
    let files = m.get("files").and_then(Value::as_array)?;
    let tags: Vec<String> = files
        .iter()
        .filter(|f| {
            let url = f.get("url").and_then(Value::as_str).unwrap_or("");
            (!url.is_empty() && !url.starts_with("data:"))
                || (f.get("type").and_then(Value::as_str) == Some("chat")
                    && f.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|i| !i.is_empty()))
        })
        .map(file_tag)
        .collect();
    (!tags.is_empty()).then(|| {
        format!(
            "<attached_files>\n{}\n</attached_files>\n\n",
            tags.join("\n")
        )
    })
}

/// [`to_upstream_messages`]; with `file_context`, each user message starts
/// with the list of files attached to it, so a model with the file tools
/// knows what it can open. `reasoning` is the field a provider takes earlier
/// reasoning back in ([`super::replay::reasoning_field`]).
pub fn to_upstream_messages_with(
    path: &[Value],
    model_id: Option<&str>,
    file_context: bool,
    reasoning: Option<&'static str>,
) -> Vec<Value> {
    let mut out = Vec::new();
    for m in path {
        let Some(role) = m.get("role").and_then(Value::as_str) else {
            continue;
        };
        if !matches!(role, "user" | "assistant" | "system") {
            continue;
        }
        if role == "assistant" {
            if let Some(items) = m
                .get("output")
                .and_then(Value::as_array)
                .filter(|o| !o.is_empty())
            {
                let same_model =
                    model_id.is_some() && m.get("model").and_then(Value::as_str) == model_id;
                let replayed = super::replay::output_to_messages_for(items, same_model, reasoning);
                if !replayed.is_empty() {
                    out.extend(replayed);
                    out.extend(super::spoken::transcripts_after(m));
                    continue;
                }
            }
        }
        let text = if role == "assistant" {
            content_text(m)
        } else {
            message_text(m)
        };
        if role == "assistant" {
            if let Some(spoken) = super::spoken::spoken_alone(m, &text) {
                out.extend(spoken);
                continue;
            }
            if text.trim().is_empty() {
                continue;
            }
        }
        let text = match attached_files_block(m).filter(|_| file_context && role == "user") {
            Some(block) => format!("{block}{text}"),
            None => text,
        };
        let images = if role == "user" {
            image_parts(m)
        } else {
            Vec::new()
        };
        if images.is_empty() {
            out.push(json!({"role": role, "content": text}));
        } else {
            let mut parts = vec![json!({"type": "text", "text": text})];
            parts.extend(images);
            out.push(json!({"role": role, "content": parts}));
        }
        if role == "assistant" {
            out.extend(super::spoken::transcripts_after(m));
        }
    }
    out
}

/// A stored user message's attached pictures as `image_url` parts: files of
/// type `image` (or a bitmap content type) whose URL carries the picture
/// itself or points to the web; our own file links are not sent.
fn image_parts(m: &Value) -> Vec<Value> {
    let Some(files) = m.get("files").and_then(Value::as_array) else {
        return Vec::new();
    };
    files
        .iter()
        .filter(|f| {
            let ctype = f
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            f.get("type").and_then(Value::as_str) == Some("image")
                || (ctype.starts_with("image/") && ctype != "image/svg+xml")
        })
        .filter_map(|f| f.get("url").and_then(Value::as_str))
        .filter(|u| {
            u.starts_with("data:image/") || u.starts_with("https://") || u.starts_with("http://")
        })
        .map(|u| json!({"type": "image_url", "image_url": {"url": u}}))
        .collect()
}

/// A `(role, text)` transcript for task prompts.
pub fn transcript(messages: &[Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| {
            let role = m.get("role")?.as_str()?.to_string();
            // The message's own content first, its output's text when it has none.
            let own = content_text(m);
            let content = if own.trim().is_empty() {
                let text = output_text(m.get("output"));
                if text.is_empty() {
                    own
                } else {
                    text
                }
            } else {
                own
            };
            (role != "system").then_some((role, content))
        })
        .collect()
}

/// Puts `system` in front of the list: merged into an existing leading system
/// message (ours first), or as a new one.
pub fn prepend_system(messages: &mut Vec<Value>, system: &str) {
    if system.trim().is_empty() {
        return;
    }
    if let Some(first) = messages.first_mut() {
        if first.get("role").and_then(Value::as_str) == Some("system") {
            let existing = message_text(first);
            first["content"] = Value::String(if existing.is_empty() {
                system.to_string()
            } else {
                format!("{system}\n{existing}")
            });
            return;
        }
    }
    messages.insert(0, json!({"role": "system", "content": system}));
}

/// Adds `extra` after the leading system message's text (or as a new leading
/// system message), for instructions that come after the system prompt.
pub fn append_system(messages: &mut Vec<Value>, extra: &str) {
    if extra.trim().is_empty() {
        return;
    }
    if let Some(first) = messages.first_mut() {
        if first.get("role").and_then(Value::as_str) == Some("system") {
            let existing = message_text(first);
            first["content"] = Value::String(if existing.is_empty() {
                extra.to_string()
            } else {
                format!("{existing}\n\n{extra}")
            });
            return;
        }
    }
    messages.insert(0, json!({"role": "system", "content": extra}));
}

/// Replaces `{{NAME}}` placeholders with the request's variables.
pub fn substitute(text: &str, vars: &Map<String, Value>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        if !k.starts_with("{{") || !out.contains(k.as_str()) {
            continue;
        }
        let val = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(k.as_str(), &val);
    }
    out
}

// ---------------------------------------------------------------------------
// The history tree (pure functions on `chat.chat`)

pub(crate) use crate::json::str_list;

/// Whether a JSON value counts as set (Python truthiness).
pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// A string value, unless it is empty.
pub(crate) fn truthy_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The message a chat currently shows: `history.currentId`, else the legacy
/// `currentId` / `branchPointMessageId`, else the last legacy message.
pub fn current_message_id(chat: &Value) -> Option<String> {
    let hist = chat.get("history").filter(|h| h.is_object());
    if let Some(id) = truthy_str(hist.and_then(|h| h.get("currentId")))
        .or_else(|| truthy_str(chat.get("currentId")))
        .or_else(|| truthy_str(chat.get("branchPointMessageId")))
    {
        return Some(id);
    }
    chat.get("messages")
        .and_then(Value::as_array)?
        .iter()
        .rev()
        .find_map(|m| truthy_str(m.get("id")))
}

fn add_child(messages: &mut Map<String, Value>, parent_id: Option<&str>, child_id: &str) -> bool {
    let Some(parent) = parent_id
        .and_then(|p| messages.get_mut(p))
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    if !parent.get("childrenIds").is_some_and(Value::is_array) {
        parent.insert("childrenIds".into(), json!([]));
    }
    let children = parent
        .get_mut("childrenIds")
        .and_then(Value::as_array_mut)
        .expect("array");
    if children.iter().any(|c| c.as_str() == Some(child_id)) {
        return false;
    }
    children.push(Value::String(child_id.into()));
    true
}

fn last_descendant(messages: &Map<String, Value>, start: &str) -> String {
    let mut seen = HashSet::new();
    let mut id = start.to_string();
    while messages.contains_key(&id) && seen.insert(id.clone()) {
        let children = str_list(messages[&id].get("childrenIds"));
        let next = children.iter().rev().find(|cid| {
            !seen.contains(*cid)
                && messages.get(*cid).is_some_and(|c| {
                    c.get("id").and_then(Value::as_str) == Some(cid.as_str())
                        && truthy(c.get("role"))
                        && c.get("parentId").and_then(Value::as_str) == Some(id.as_str())
                })
        });
        match next {
            Some(n) => id = n.clone(),
            None => break,
        }
    }
    id
}

fn output_role(m: &Value) -> Option<String> {
    m.get("output")?
        .as_array()?
        .iter()
        .find_map(|i| truthy_str(i.get("role")))
}

/// Repairs what upstream repairs on every read: missing child links, and a
/// `currentId` that points nowhere or stops short of its branch's leaf.
pub fn repair_current_id(chat: &mut Value) -> bool {
    let Some(history) = chat.get_mut("history").and_then(Value::as_object_mut) else {
        return false;
    };
    let current = history
        .get("currentId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(messages) = history.get_mut("messages").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut changed = false;
    let links: Vec<(String, Option<String>)> = messages
        .iter()
        .filter(|(_, m)| m.is_object())
        .map(|(id, m)| {
            (
                id.clone(),
                m.get("parentId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        })
        .collect();
    for (id, parent) in links {
        changed |= add_child(messages, parent.as_deref(), &id);
    }
    let cur_msg = current
        .as_deref()
        .and_then(|c| messages.get(c))
        .filter(|m| m.is_object());
    let bad_leaf = cur_msg.is_some_and(|m| {
        output_role(m).as_deref() == Some("assistant")
            && m.get("parentId").is_none_or(Value::is_null)
            && !truthy(m.get("timestamp"))
            && messages.len() > 1
    });
    if let (Some(cid), Some(m)) = (current.as_deref(), cur_msg) {
        if truthy(m.get("id")) && truthy(m.get("role")) && !bad_leaf {
            let leaf = last_descendant(messages, cid);
            if leaf != cid {
                history.insert("currentId".into(), Value::String(leaf));
                return true;
            }
            return changed;
        }
    }
    let mut latest: Option<(String, f64)> = None;
    for (id, m) in messages.iter() {
        if !m.is_object() || !truthy(m.get("role")) {
            continue;
        }
        let no_children = m
            .get("childrenIds")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        let ts = m.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0);
        if no_children && latest.as_ref().is_none_or(|(_, t)| ts > *t) {
            latest = Some((id.clone(), ts));
        }
    }
    match latest {
        Some((id, _)) if Some(id.as_str()) != current.as_deref() => {
            history.insert("currentId".into(), Value::String(id));
            true
        }
        _ => changed,
    }
}

/// Merges two histories: messages of both (incoming wins), child links rebuilt
/// from the parent links, `currentId` from incoming when it exists.
pub fn merge_history(existing: Option<&Value>, incoming: Option<&Value>) -> Value {
    let empty = Map::new();
    let ex = existing.and_then(Value::as_object).unwrap_or(&empty);
    let inc = incoming.and_then(Value::as_object).unwrap_or(&empty);
    let mut merged = Map::new();
    for src in [ex, inc] {
        if let Some(ms) = src.get("messages").and_then(Value::as_object) {
            for (id, m) in ms {
                if let Some(o) = m.as_object() {
                    let mut o = o.clone();
                    o.insert("childrenIds".into(), json!([]));
                    merged.insert(id.clone(), Value::Object(o));
                }
            }
        }
    }
    let links: Vec<(String, String)> = merged
        .iter()
        .filter_map(|(id, m)| Some((id.clone(), m.get("parentId")?.as_str()?.to_string())))
        .collect();
    for (id, parent) in links {
        if let Some(Value::Array(children)) = merged
            .get_mut(&parent)
            .and_then(|p| p.get_mut("childrenIds"))
        {
            children.push(Value::String(id));
        }
    }
    let pick = |h: &Map<String, Value>| {
        h.get("currentId")
            .and_then(Value::as_str)
            .filter(|c| merged.contains_key(*c))
            .map(str::to_string)
    };
    let current = pick(inc).or_else(|| pick(ex));
    let mut out = ex.clone();
    for (k, v) in inc {
        out.insert(k.clone(), v.clone());
    }
    out.insert("messages".into(), Value::Object(merged));
    out.insert(
        "currentId".into(),
        current.map_or(Value::Null, Value::String),
    );
    Value::Object(out)
}

/// Removes a message and its direct replies; grandchildren move up to the
/// message's parent. `currentId` follows the newest remaining branch.
pub fn delete_message_from_history(history: &mut Value, message_id: &str) -> Vec<String> {
    let Some(h) = history.as_object_mut() else {
        return vec![];
    };
    let Some(messages) = h.get_mut("messages").and_then(Value::as_object_mut) else {
        return vec![];
    };
    let Some(message) = messages.get(message_id).filter(|m| m.is_object()).cloned() else {
        return vec![];
    };
    let parent_id = message
        .get("parentId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let child_ids: Vec<String> = str_list(message.get("childrenIds"))
        .into_iter()
        .filter(|c| messages.contains_key(c))
        .collect();
    let grandchild_ids: Vec<String> = child_ids
        .iter()
        .flat_map(|c| str_list(messages.get(c).and_then(|m| m.get("childrenIds"))))
        .filter(|g| messages.contains_key(g))
        .collect();
    if let Some(p) = parent_id
        .as_deref()
        .and_then(|p| messages.get_mut(p))
        .and_then(Value::as_object_mut)
    {
        let mut kept: Vec<Value> = str_list(p.get("childrenIds"))
            .into_iter()
            .filter(|c| c != message_id)
            .map(Value::String)
            .collect();
        kept.extend(grandchild_ids.iter().cloned().map(Value::String));
        p.insert("childrenIds".into(), Value::Array(kept));
    }
    for g in &grandchild_ids {
        if let Some(m) = messages.get_mut(g).and_then(Value::as_object_mut) {
            m.insert(
                "parentId".into(),
                parent_id.clone().map_or(Value::Null, Value::String),
            );
        }
    }
    let mut deleted = vec![message_id.to_string()];
    deleted.extend(child_ids.iter().cloned());
    for d in &deleted {
        messages.remove(d);
    }
    let mut current = parent_id.clone();
    let mut children: Vec<String> = match &current {
        None => messages
            .iter()
            .filter(|(_, m)| m.get("parentId").is_none_or(Value::is_null))
            .map(|(id, _)| id.clone())
            .collect(),
        Some(c) => str_list(messages.get(c).and_then(|m| m.get("childrenIds"))),
    };
    let mut visited = HashSet::new();
    while let Some(last) = children.last().cloned() {
        if !visited.insert(last.clone()) {
            break;
        }
        current = Some(last.clone());
        children = str_list(messages.get(&last).and_then(|m| m.get("childrenIds")));
    }
    let current = current.filter(|c| messages.contains_key(c));
    h.insert(
        "currentId".into(),
        current.map_or(Value::Null, Value::String),
    );
    deleted
}

/// Text of the `output_text` parts of `message` output items, one line per item.
pub fn output_text(output: Option<&Value>) -> String {
    let Some(items) = output.and_then(Value::as_array) else {
        return String::new();
    };
    let mut texts = Vec::new();
    for item in items {
        if item.get("type").and_then(Value::as_str) != Some("message") {
            continue;
        }
        let Some(parts) = item.get("content").and_then(Value::as_array) else {
            continue;
        };
        let text: String = parts
            .iter()
            .filter_map(|p| match p.get("text") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            })
            .collect();
        if !text.trim().is_empty() {
            texts.push(text);
        }
    }
    texts.join("\n")
}

/// Merges `fields` into `history.messages[message_id]`, creating the message
/// (with its parent link, role and timestamp) when absent; returns the stored
/// message and whether it was new.
pub(crate) fn upsert_into_history(
    history: &mut Map<String, Value>,
    message_id: &str,
    fields: &Value,
    now: i64,
) -> (Value, bool) {
    if !history.get("messages").is_some_and(Value::is_object) {
        history.insert("messages".into(), json!({}));
    }
    let messages = history
        .get_mut("messages")
        .and_then(Value::as_object_mut)
        .expect("object");
    let mut incoming = fields.as_object().cloned().unwrap_or_default();
    let created = !messages.contains_key(message_id);
    if !created {
        let existing = messages.get(message_id).cloned().unwrap_or(Value::Null);
        let old_meta = existing
            .get("meta")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(new_meta) = incoming.get("meta").and_then(Value::as_object).cloned() {
            // Voice clips and the task id must survive each other's updates.
            let mut meta = Map::new();
            if new_meta.keys().all(|k| k == "voice" || k == "task_id") {
                meta = old_meta.clone();
            } else {
                for k in ["voice", "task_id"] {
                    if let Some(v) = old_meta.get(k) {
                        meta.insert(k.into(), v.clone());
                    }
                }
            }
            for (k, v) in new_meta {
                meta.insert(k, v);
            }
            incoming.insert("meta".into(), Value::Object(meta));
        }
        let mut merged = existing.as_object().cloned().unwrap_or_default();
        for (k, v) in incoming {
            merged.insert(k, v);
        }
        messages.insert(message_id.into(), Value::Object(merged));
    } else {
        let given_parent = incoming
            .get("parentId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let parent_id = given_parent.clone().or_else(|| {
            messages
                .iter()
                .find(|(_, m)| {
                    str_list(m.get("childrenIds"))
                        .iter()
                        .any(|c| c == message_id)
                })
                .map(|(id, _)| id.clone())
        });
        let role = truthy_str(incoming.get("role"))
            .or_else(|| output_role(&Value::Object(incoming.clone())))
            .unwrap_or_else(|| {
                match parent_id
                    .as_deref()
                    .and_then(|p| messages.get(p))
                    .and_then(|p| p.get("role"))
                    .and_then(Value::as_str)
                {
                    Some("assistant") => "user".into(),
                    _ => "assistant".into(),
                }
            });
        let mut m = incoming.clone();
        if !truthy(m.get("id")) {
            m.insert("id".into(), Value::String(message_id.into()));
        }
        m.insert(
            "parentId".into(),
            parent_id.map_or(Value::Null, Value::String),
        );
        if !m.get("childrenIds").is_some_and(Value::is_array) {
            m.insert("childrenIds".into(), json!([]));
        }
        m.insert("role".into(), Value::String(role));
        if !truthy(m.get("timestamp")) {
            m.insert("timestamp".into(), Value::from(now));
        }
        messages.insert(message_id.into(), Value::Object(m));
    }
    let parent = messages[message_id]
        .get("parentId")
        .and_then(Value::as_str)
        .map(str::to_string);
    add_child(messages, parent.as_deref(), message_id);
    (messages[message_id].clone(), created)
}

/// Who wrote a message: its `user_id`, else `user.id`, else `fallback`.
pub(crate) fn author_of(m: &Value, fallback: &str) -> String {
    truthy_str(m.get("user_id"))
        .or_else(|| truthy_str(m.get("user").and_then(|u| u.get("id"))))
        .unwrap_or_else(|| fallback.to_string())
}

/// Gives every message an author: its own `user_id`, its `user.id`, else `user_id`.
pub fn fill_message_authors(chat: &mut Value, user_id: &str) {
    for_each_message(chat, |m| {
        let author = author_of(m, user_id);
        m["user_id"] = Value::String(author);
    });
}

/// Calls `f` on every message object of `history.messages` and the legacy list.
pub fn for_each_message(chat: &mut Value, mut f: impl FnMut(&mut Value)) {
    if let Some(ms) = chat
        .pointer_mut("/history/messages")
        .and_then(Value::as_object_mut)
    {
        for m in ms.values_mut().filter(|m| m.is_object()) {
            f(m);
        }
    }
    if let Some(ms) = chat.get_mut("messages").and_then(Value::as_array_mut) {
        for m in ms.iter_mut().filter(|m| m.is_object()) {
            f(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_follows_branch_and_skips_placeholder() {
        let msgs = json!({
            "u1": {"id": "u1", "parentId": null, "role": "user", "content": "hi"},
            "a1": {"id": "a1", "parentId": "u1", "role": "assistant", "content": "old", "done": true},
            "a2": {"id": "a2", "parentId": "u1", "role": "assistant", "content": "",
                   "output": [{"type": "message", "content": [{"type": "output_text", "text": "new"}]}], "done": true},
            "u2": {"id": "u2", "parentId": "a2", "role": "user", "content": "more"},
            "a3": {"id": "a3", "parentId": "u2", "role": "assistant", "content": "", "done": false}
        });
        let path = path_to(msgs.as_object().unwrap(), "a3");
        let up = to_upstream_messages(&path, None);
        assert_eq!(
            up,
            vec![
                json!({"role": "user", "content": "hi"}),
                json!({"role": "assistant", "content": "new"}),
                json!({"role": "user", "content": "more"}),
            ]
        );
    }

    #[test]
    fn cycles_terminate() {
        let msgs = json!({"a": {"id": "a", "parentId": "b", "role": "user"}, "b": {"id": "b", "parentId": "a", "role": "user"}});
        assert!(path_to(msgs.as_object().unwrap(), "a").len() <= 3);
    }

    #[test]
    fn system_and_variables() {
        let mut m = vec![
            json!({"role": "system", "content": "be brief"}),
            json!({"role": "user", "content": "x"}),
        ];
        prepend_system(&mut m, "You are {{USER_NAME}}'s helper");
        let vars = json!({"{{USER_NAME}}": "Ann"});
        let s = substitute(m[0]["content"].as_str().unwrap(), vars.as_object().unwrap());
        assert_eq!(s, "You are Ann's helper\nbe brief");
        let mut m2 = vec![json!({"role": "user", "content": "x"})];
        prepend_system(&mut m2, "sys");
        assert_eq!(m2[0]["role"], "system");
    }

    #[test]
    fn deleting_a_message_reparents_grandchildren() {
        let mut h = json!({"currentId": "c", "messages": {
            "a": {"id": "a", "parentId": null, "childrenIds": ["b"], "role": "user"},
            "b": {"id": "b", "parentId": "a", "childrenIds": ["c"], "role": "assistant"},
            "c": {"id": "c", "parentId": "b", "childrenIds": ["d"], "role": "user"},
            "d": {"id": "d", "parentId": "c", "childrenIds": [], "role": "assistant"}
        }});
        let deleted = delete_message_from_history(&mut h, "b");
        assert_eq!(deleted, ["b", "c"]);
        assert_eq!(h["messages"]["a"]["childrenIds"], json!(["d"]));
        assert_eq!(h["messages"]["d"]["parentId"], "a");
        assert_eq!(h["currentId"], "d");
    }

    #[test]
    fn merge_keeps_streaming_replies_and_rebuilds_links() {
        let stored = json!({"currentId": "a", "messages": {
            "u": {"id": "u", "parentId": null, "childrenIds": ["a"], "role": "user"},
            "a": {"id": "a", "parentId": "u", "childrenIds": [], "role": "assistant"}
        }});
        let incoming = json!({"currentId": "u2", "messages": {
            "u2": {"id": "u2", "parentId": "a", "childrenIds": [], "role": "user"}
        }});
        let m = merge_history(Some(&stored), Some(&incoming));
        assert_eq!(m["currentId"], "u2");
        assert_eq!(m["messages"]["a"]["childrenIds"], json!(["u2"]));
        let m = merge_history(Some(&stored), Some(&json!({"currentId": "missing"})));
        assert_eq!(m["currentId"], "a");
    }
}
