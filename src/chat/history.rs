//! Turning a stored chat history into the message list sent upstream, and the
//! in-place edits a new turn makes to it.

use serde_json::{json, Map, Value};

/// Text of a message as the model should see it: the `output_text` parts when
/// the message has structured output, its `content` otherwise.
pub fn message_text(m: &Value) -> String {
    if let Some(items) = m.get("output").and_then(Value::as_array) {
        let text: String = items
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("message"))
            .flat_map(|i| {
                i.get("content")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("output_text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_string))
            .collect();
        if !text.is_empty() {
            return text;
        }
    }
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
/// Bounded by the number of messages, so a cycle in stored data cannot hang us.
pub fn path_to(messages: &Map<String, Value>, leaf_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cur = Some(leaf_id.to_string());
    while let Some(id) = cur {
        if out.len() > messages.len() {
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

/// `[{role, content}]` for the upstream request.
pub fn to_upstream_messages(path: &[Value]) -> Vec<Value> {
    path.iter()
        .filter_map(|m| {
            let role = m.get("role").and_then(Value::as_str)?;
            if !matches!(role, "user" | "assistant" | "system") {
                return None;
            }
            let text = message_text(m);
            if role == "assistant" && text.is_empty() && m.get("done") != Some(&Value::Bool(true)) {
                // An unfinished placeholder (this very turn) is not history.
                return None;
            }
            Some(json!({"role": role, "content": text}))
        })
        .collect()
}

/// A `(role, text)` transcript for task prompts.
pub fn transcript(messages: &[Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| {
            let role = m.get("role")?.as_str()?.to_string();
            let content = match m.get("content") {
                Some(Value::String(s)) => s.clone(),
                _ => message_text(m),
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
        let up = to_upstream_messages(&path);
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
}
