//! The output item of a code interpreter block (`open_webui:code_interpreter`,
//! stored as upstream stores it so the UI renders it after a reload) and how
//! a block reads back to the model. Plain data: no I/O.

use serde_json::{json, Map, Value};

/// The tags a block is written in (the opening one may carry attributes).
pub const START_TAG: &str = "<code_interpreter>";
pub const END_TAG: &str = "</code_interpreter>";
/// The output item type of a block.
pub const ITEM_TYPE: &str = "open_webui:code_interpreter";
/// The built-in tool's name.
pub const TOOL_NAME: &str = "execute_code";

/// A new, still open block item.
pub fn new_item(id: String, attributes: Map<String, Value>) -> Value {
    let lang = attributes
        .get("lang")
        .and_then(Value::as_str)
        .unwrap_or("python")
        .to_string();
    json!({
        "type": ITEM_TYPE,
        "id": id,
        "status": "in_progress",
        "start_tag": START_TAG,
        "end_tag": END_TAG,
        "attributes": attributes,
        "lang": lang,
        "code": "",
        "output": null,
        "started_at": now(),
    })
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Closes a block: its code trimmed, its end time and duration set. False
/// when it holds no code (the block is then dropped).
pub fn close_item(item: &mut Value) -> bool {
    let code = item["code"].as_str().unwrap_or("").trim().to_string();
    if code.is_empty() {
        return false;
    }
    let ended = now();
    let started = item["started_at"].as_f64().unwrap_or(ended);
    item["code"] = json!(code);
    item["ended_at"] = json!(ended);
    item["duration"] = json!((ended - started).max(0.0) as i64);
    true
}

/// How a block reads back to the model: the code, then what it printed or
/// returned (its errors when it gave nothing else).
pub fn replay_texts(item: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let code = item.get("code").and_then(Value::as_str).unwrap_or("");
    if !code.is_empty() {
        out.push(format!("{START_TAG}\n{code}\n{END_TAG}"));
    }
    let text = match item.get("output") {
        Some(Value::Object(o)) => {
            let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").trim();
            [field("stdout"), field("result"), field("stderr")]
                .into_iter()
                .find(|t| !t.is_empty())
                .unwrap_or("")
                .to_string()
        }
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    if !text.is_empty() {
        out.push(format!(
            "<code_interpreter_output>\n{text}\n</code_interpreter_output>"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_read_back_with_their_output() {
        let mut attrs = Map::new();
        attrs.insert("type".into(), json!("code"));
        let mut item = new_item("ci_1".into(), attrs);
        item["code"] = json!("  print(2)\n");
        assert!(close_item(&mut item));
        assert_eq!(item["code"], "print(2)");
        item["output"] = json!({"stdout": "", "stderr": "NameError: x", "result": ""});
        let texts = replay_texts(&item);
        assert_eq!(
            texts[0],
            "<code_interpreter>\nprint(2)\n</code_interpreter>"
        );
        assert!(texts[1].contains("NameError: x"));
        let mut empty = new_item("ci_2".into(), Map::new());
        assert!(!close_item(&mut empty));
    }
}
