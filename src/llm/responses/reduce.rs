//! Folding a Responses API event stream into the reply's `output` items, the
//! way they are stored: items as the provider shapes them, text and argument
//! deltas appended to the part they name, finished items and parts replacing
//! what was streamed, and the final `output` of `response.completed` (when it
//! has any items) replacing the lot.

use serde_json::{json, Value};

/// The highest position a delta may start an item at (the list is padded
/// up to it).
const MAX_STARTED_ITEMS: usize = 1024;

/// What an event meant beyond the items it changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// `response.completed` arrived.
    pub done: bool,
    pub usage: Option<Value>,
    /// `response.failed`'s error, or an `error` event.
    pub error: Option<Value>,
    pub response_id: Option<String>,
}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// An index field, or `default` when absent or not a whole number.
fn index(ev: &Value, key: &str, default: i64) -> i64 {
    ev.get(key).and_then(Value::as_i64).unwrap_or(default)
}

/// A position inside a list of `len` entries, if `i` is one.
fn within(i: i64, len: usize) -> Option<usize> {
    usize::try_from(i).ok().filter(|i| *i < len)
}

/// Objects merge key by key, text is appended, anything else replaces.
fn deep_merge(target: &mut Value, source: &Value) {
    match (target, source) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                match t.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::String(t), Value::String(s)) => t.push_str(s),
        (t, s) => *t = s.clone(),
    }
}

/// The list under `key` of an item object, created when missing.
fn list_mut<'a>(item: &'a mut Value, key: &str) -> Option<&'a mut Vec<Value>> {
    let o = item.as_object_mut()?;
    let v = o.entry(key).or_insert_with(|| json!([]));
    if !v.is_array() {
        *v = json!([]);
    }
    v.as_array_mut()
}

/// Appends `delta` to `part[key]` (text, or an object merged in).
fn merge_into(part: &mut Value, key: &str, delta: &Value) {
    if !part.is_object() {
        *part = json!({});
    }
    let Some(o) = part.as_object_mut() else {
        return;
    };
    let slot = o.entry(key).or_insert_with(|| {
        if delta.is_object() {
            json!({})
        } else {
            json!("")
        }
    });
    if slot.is_null() {
        *slot = if delta.is_object() {
            json!({})
        } else {
            json!("")
        };
    }
    deep_merge(slot, delta);
}

/// `part[key] += delta` for the part at `at` of `item[list]`, padding the
/// list with `filler` parts.
fn merge_part(item: &mut Value, list: &str, at: i64, filler: &Value, key: &str, delta: &Value) {
    let Ok(at) = usize::try_from(at) else { return };
    // A part index far past the end is a broken stream, not a reason to grow.
    if at > 1024 {
        return;
    }
    let Some(parts) = list_mut(item, list) else {
        return;
    };
    while parts.len() <= at {
        parts.push(filler.clone());
    }
    merge_into(&mut parts[at], key, delta);
}

/// Applies one event to `out` (this call's items).
pub fn apply(out: &mut Vec<Value>, ev: &Value) -> Outcome {
    let t = kind(ev);
    let last = out.len() as i64 - 1;
    match t {
        "response.output_item.added" => {
            let Some(item) = ev
                .get("item")
                .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
            else {
                return Outcome::default();
            };
            let id = item.get("id").and_then(Value::as_str);
            let call_id = item.get("call_id").and_then(Value::as_str);
            let same = out.iter().position(|e| {
                (id.is_some() && e.get("id").and_then(Value::as_str) == id)
                    || (call_id.is_some()
                        && kind(e) == kind(item)
                        && e.get("call_id").and_then(Value::as_str) == call_id)
            });
            let at = index(ev, "output_index", out.len() as i64);
            match (same, within(at, out.len())) {
                (Some(i), _) => out[i] = item.clone(),
                (None, Some(i)) => out.insert(i, item.clone()),
                (None, None) => out.push(item.clone()),
            }
        }
        "response.content_part.added" | "response.reasoning_summary_part.added" => {
            let part = ev.get("part").cloned().unwrap_or(json!({}));
            if let Some(i) = within(index(ev, "output_index", last), out.len()) {
                let list = if t == "response.content_part.added" {
                    "content"
                } else {
                    "summary"
                };
                let reasoning = kind(&out[i]) == "reasoning";
                if let Some(parts) = list_mut(&mut out[i], list) {
                    // Reasoning bodies arrive as deltas, not as parts.
                    if !(reasoning && list == "content") {
                        parts.push(part);
                    }
                }
            }
        }
        "response.output_item.done" => {
            if let Some(item) = ev.get("item").filter(|i| !i.is_null()) {
                match within(index(ev, "output_index", last), out.len()) {
                    Some(i) => out[i] = item.clone(),
                    None => out.push(item.clone()),
                }
            }
        }
        "response.completed" => {
            let response = ev.get("response").unwrap_or(&Value::Null);
            if let Some(final_items) = response
                .get("output")
                .and_then(Value::as_array)
                .filter(|o| !o.is_empty())
            {
                *out = final_items.clone();
            }
            for item in out.iter_mut() {
                if kind(item) == "reasoning" {
                    item["status"] = json!("completed");
                }
            }
            return Outcome {
                done: true,
                usage: response.get("usage").filter(|u| u.is_object()).cloned(),
                response_id: response
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                ..Outcome::default()
            };
        }
        "response.failed" => {
            let error = ev
                .get("response")
                .and_then(|r| r.get("error"))
                .cloned()
                .unwrap_or(json!({}));
            return Outcome {
                error: Some(error),
                ..Outcome::default()
            };
        }
        "error" => {
            return Outcome {
                error: Some(ev.clone()),
                ..Outcome::default()
            }
        }
        _ => {
            let parts: Vec<&str> = t.split('.').collect();
            if parts.len() >= 3 && parts[0] == "response" {
                if t.ends_with(".delta") {
                    delta(out, ev, parts[1]);
                } else if t.ends_with(".done") {
                    done(out, ev, parts[1]);
                }
            }
        }
    }
    Outcome::default()
}

/// A `response.<what>.delta` event.
fn delta(out: &mut Vec<Value>, ev: &Value, what: &str) {
    let piece = ev.get("delta").cloned().unwrap_or(json!(""));
    let at = index(ev, "output_index", (out.len() as i64 - 1).max(0));
    let Ok(at) = usize::try_from(at) else { return };
    // An index far past the items is a broken stream, not a reason to grow.
    if at >= MAX_STARTED_ITEMS && at >= out.len() {
        return;
    }
    if at >= out.len() {
        // A delta before its item: the item is started for it.
        while out.len() <= at {
            out.push(json!({"type": "message", "status": "in_progress",
                "role": "assistant", "content": []}));
        }
        let started = if what.starts_with("reasoning") {
            "reasoning"
        } else if what == "function_call_arguments" {
            "function_call"
        } else {
            "message"
        };
        out[at]["id"] = ev.get("item_id").cloned().unwrap_or(Value::Null);
        out[at]["type"] = json!(started);
    }
    let item = &mut out[at];
    let content_at = index(ev, "content_index", 0);
    let text_part = json!({"type": "text", "text": ""});
    match (kind(item), what) {
        (_, "function_call_arguments") => {
            if kind(item) == "function_call" {
                let text = match &piece {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                merge_into(item, "arguments", &json!(text));
            }
        }
        ("message", "reasoning_text" | "reasoning_summary_text") => {}
        ("message", _) => {
            let key = if matches!(what, "text" | "output_text") {
                "text"
            } else {
                what
            };
            merge_part(item, "content", content_at, &text_part, key, &piece);
        }
        ("reasoning", "reasoning_summary_text") => {
            let filler = json!({"type": "summary_text", "text": ""});
            let at = index(ev, "summary_index", 0);
            merge_part(item, "summary", at, &filler, "text", &piece);
        }
        ("reasoning", "reasoning_text") => {
            merge_part(item, "content", content_at, &text_part, "text", &piece);
        }
        ("reasoning", _) => {}
        _ => {
            let key = if matches!(what, "text" | "output_text") {
                "text"
            } else {
                what
            };
            merge_into(item, key, &piece);
        }
    }
}

/// A `response.<what>.done` event: a finished part or field replaces what
/// was streamed for it.
fn done(out: &mut [Value], ev: &Value, what: &str) {
    let Some(at) = within(index(ev, "output_index", out.len() as i64 - 1), out.len()) else {
        return;
    };
    let item = &mut out[at];
    match what {
        "content_part" | "reasoning_summary_part" => {
            let list = if what == "content_part" {
                "content"
            } else {
                "summary"
            };
            let index_key = if what == "content_part" {
                "content_index"
            } else {
                "summary_index"
            };
            let Some(part) = ev.get("part").filter(|p| !p.is_null()) else {
                return;
            };
            if let Some(parts) = item.get_mut(list).and_then(Value::as_array_mut) {
                let i = index(ev, index_key, parts.len() as i64 - 1);
                if let Some(i) = within(i, parts.len()) {
                    parts[i] = part.clone();
                }
            }
        }
        "completed" | "failed" => {}
        _ => {
            let key = match what {
                "text" | "output_text" | "reasoning_text" | "reasoning_summary_text" => "text",
                "function_call_arguments" => "arguments",
                other => other,
            };
            let Some(value) = ev.get(key) else { return };
            match kind(item) {
                _ if what == "function_call_arguments" => {
                    if kind(item) == "function_call" {
                        item["arguments"] = value.clone();
                    }
                }
                "message" => {
                    let i = index(ev, "content_index", 0);
                    if let Some(parts) = item.get_mut("content").and_then(Value::as_array_mut) {
                        if let Some(part) = within(i, parts.len()).map(|i| &mut parts[i]) {
                            if part.is_object() {
                                part[key] = value.clone();
                            }
                        }
                    }
                }
                "reasoning" => item["status"] = json!("completed"),
                _ => {
                    if item.is_object() {
                        item[key] = value.clone();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "reduce_tests.rs"]
mod tests;
