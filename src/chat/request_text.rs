//! What request text becomes before the model reads it: mentions of the
//! turn's skills turn into their labels, and `{{user.variables.<key>}}` in
//! the system message into the caller's own variables.

use serde_json::{json, Value};

use super::history;

/// Replaces `{{user.variables.<key>}}` (spaces allowed inside the braces, an
/// optional `| …` part ignored) with the user's variable of that key: an
/// empty string when unset, not text, or the key is not a valid variable
/// name (`[a-z][a-z0-9_]*`).
pub fn render_user_variables(text: &str, vars: &Value) -> String {
    render_variables(text, "user.variables.", vars)
}

/// [`render_user_variables`] for any `LEAD` (`user.variables.`, `chat.variables.`).
fn render_variables(text: &str, lead: &str, vars: &Value) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let inner = after.trim_start();
        let replaced = inner.strip_prefix(lead).and_then(|tail| {
            let key_len = tail
                .find(|c: char| c.is_whitespace() || c == '|' || c == '}')
                .unwrap_or(tail.len());
            let close = tail.find("}}")?;
            if key_len == 0 || key_len > close {
                return None;
            }
            // Between the key and the closing braces: spaces and an optional
            // `| default`, which may not hold a `}`.
            let between = &tail[key_len..close];
            let ok = between.trim().is_empty()
                || (between.trim_start().starts_with('|') && !between.contains('}'));
            if !ok {
                return None;
            }
            let key = &tail[..key_len];
            let valid = key.starts_with(|c: char| c.is_ascii_lowercase())
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            let value = if valid {
                vars.get(key).and_then(|v| v.as_str()).unwrap_or("")
            } else {
                ""
            };
            let consumed = (after.len() - inner.len()) + lead.len() + close + 2;
            Some((value.to_string(), consumed))
        });
        match replaced {
            Some((value, consumed)) => {
                out.push_str(&value);
                rest = &after[consumed..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `{{user.variables.<key>}}` in the leading system message becomes the
/// caller's own variable (empty when unset).
pub fn user_variables(messages: &mut [Value], caller: &crate::auth::Caller) {
    let Some(first) = leading_system(messages) else {
        return;
    };
    let text = history::message_text(first);
    if text.contains("user.variables") {
        let vars = caller.user.variables.clone().unwrap_or(Value::Null);
        first["content"] = Value::String(render_user_variables(&text, &vars));
    }
}

/// The first message when it is a system message.
fn leading_system(messages: &mut [Value]) -> Option<&mut Value> {
    messages
        .first_mut()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("system"))
}

/// `{{chat.variables.<key>}}` in the leading system message becomes the
/// chat's variable. A turn by anyone but the chat's owner (a member replying
/// in a shared chat) runs without them: the owner's variables stay private.
pub fn chat_variables(messages: &mut [Value], owner_variables: Option<&Value>) {
    let Some(first) = leading_system(messages) else {
        return;
    };
    let text = history::message_text(first);
    if text.contains("chat.variables") {
        let vars = owner_variables.cloned().unwrap_or(Value::Null);
        first["content"] = Value::String(render_variables(&text, "chat.variables.", &vars));
    }
}

/// Mentions of the turn's skills become their labels in every message. A
/// last user message left with no text (only a mention was sent) says which
/// skills were picked instead, unless files came with it.
pub fn mentions_to_labels(
    messages: &mut [Value],
    found: &[(String, String)],
    files: Option<&Value>,
) {
    use crate::workspace::skills::strip_mentions;
    if found.is_empty() {
        return;
    }
    for m in messages.iter_mut() {
        match m.get_mut("content") {
            Some(Value::String(s)) => *s = strip_mentions(s, found),
            Some(Value::Array(parts)) => {
                for p in parts.iter_mut() {
                    if p.get("type").and_then(Value::as_str) != Some("text") {
                        continue;
                    }
                    if let Some(Value::String(t)) = p.get_mut("text") {
                        *t = strip_mentions(t, found);
                    }
                }
            }
            _ => {}
        }
    }
    let has_files = files
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let last_user = messages
        .iter_mut()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    if let Some(m) = last_user {
        if !has_files && history::message_text(m).trim().is_empty() {
            let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
            match m.get_mut("content") {
                Some(Value::Array(parts)) => {
                    parts.retain(|p| p.get("type").and_then(Value::as_str) != Some("text"));
                    parts.push(json!({"type": "text", "text": names.join(", ")}));
                }
                _ => m["content"] = json!(names.join(", ")),
            }
        }
    }
}

#[cfg(test)]
mod user_variable_tests {
    use super::render_user_variables;
    use serde_json::json;

    #[test]
    fn variables_of_the_caller_fill_the_prompt() {
        let vars = json!({"team": "pilots", "n": 3});
        assert_eq!(
            render_user_variables("Team: [{{user.variables.team}}]", &vars),
            "Team: [pilots]"
        );
        assert_eq!(
            render_user_variables(
                "{{ user.variables.team | x }} {{user.variables.none}}",
                &vars
            ),
            "pilots "
        );
        // Not text, or not a valid key: empty. Other templates stay.
        assert_eq!(render_user_variables("[{{user.variables.n}}]", &vars), "[]");
        assert_eq!(
            render_user_variables("[{{user.variables.Bad}}]", &vars),
            "[]"
        );
        assert_eq!(
            render_user_variables("{{USER_NAME}} {{user.variables.team", &vars),
            "{{USER_NAME}} {{user.variables.team"
        );
    }
}
