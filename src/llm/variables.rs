//! Chat variables a model's system prompt declares:
//! `{{chat.variables.<key>|<type>:<prop>=<value>:…}}`. The model list
//! describes them (`info.meta.chat_variables_schema`) so the chat can ask
//! the user for their values before the first message.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{json, Map, Value};

static CHAT_VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{\s*chat\.variables\.([^\s|}]+)(?:\s*\|\s*([^}]*))?\s*\}\}")
        .expect("valid pattern")
});

/// Deeper JSON arrays in a property value are kept as text.
const MAX_DEPTH: usize = 32;

/// Field properties a declaration may set; anything else is dropped.
const FIELD_PROPERTIES: [&str; 11] = [
    "default",
    "label",
    "max",
    "maxlength",
    "min",
    "minlength",
    "options",
    "placeholder",
    "required",
    "step",
    "type",
];

/// `{"fields": [...]}` for a system prompt that declares chat variables;
/// `None` when it declares none or its declarations contradict each other.
pub fn schema(system_prompt: Option<&str>) -> Option<Value> {
    let prompt = system_prompt.filter(|p| !p.is_empty())?;
    let fields = fields(prompt).ok()?;
    (!fields.is_empty()).then(|| json!({ "fields": fields }))
}

/// Sets or removes `info.meta.chat_variables_schema` after the system prompt
/// of the model's `params`.
pub fn describe(info: &mut Value, params: &Value) {
    let found = schema(params.get("system").and_then(Value::as_str));
    if !info.get("meta").is_some_and(Value::is_object) {
        if found.is_none() {
            return;
        }
        info["meta"] = json!({});
    }
    let meta = info["meta"].as_object_mut().expect("an object");
    match found {
        Some(s) => {
            meta.insert("chat_variables_schema".into(), s);
        }
        None => {
            meta.remove("chat_variables_schema");
        }
    }
}

/// The declared fields in the order their keys first appear.
fn fields(prompt: &str) -> Result<Vec<Value>, String> {
    let mut order: Vec<String> = Vec::new();
    let mut by_key: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut typed: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for cap in CHAT_VARIABLE.captures_iter(prompt) {
        let key = cap[1].trim().to_string();
        if !valid_key(&key) {
            return Err(format!("invalid chat variable name {key}"));
        }
        if !order.contains(&key) {
            order.push(key.clone());
        }
        let definition = cap.get(2).map(|m| m.as_str().trim()).unwrap_or("");
        if definition.is_empty() {
            by_key
                .entry(key.clone())
                .or_insert_with(|| field(&key, Map::new()));
            continue;
        }
        let f = field(&key, parse_definition(definition));
        if f.get("type").and_then(Value::as_str) == Some("select")
            && f.get("options")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        {
            return Err(format!("select variable {key} has no options"));
        }
        if typed.get(&key).is_some_and(|prev| prev != &f) {
            return Err(format!(
                "chat variable {key} is declared twice, differently"
            ));
        }
        typed.insert(key.clone(), f.clone());
        by_key.insert(key, f);
    }
    Ok(order
        .into_iter()
        .filter_map(|k| by_key.remove(&k).map(Value::Object))
        .collect())
}

fn valid_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `key` first, then the allowed properties in name order, with `type`
/// defaulting to text and `required` always a boolean.
fn field(key: &str, definition: Map<String, Value>) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("key".into(), json!(key));
    for name in FIELD_PROPERTIES {
        if let Some(v) = definition.get(name) {
            f.insert(name.into(), v.clone());
        }
    }
    if !f.contains_key("type") {
        f.insert("type".into(), json!("text"));
    }
    if f.get("type").and_then(Value::as_str) == Some("select")
        && !f.get("options").is_some_and(Value::is_array)
    {
        f.insert("options".into(), json!([]));
    }
    let required = f.get("required").is_some_and(truthy);
    f.insert("required".into(), json!(required));
    f
}

/// Truth as Python's `bool()` sees a parsed property value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `type:name=value:flag…` → `{"type": …, "name": value, "flag": true}`.
fn parse_definition(definition: &str) -> Map<String, Value> {
    let parts = split_top_level(definition, ':');
    let mut out = Map::new();
    let Some((first, rest)) = parts.split_first() else {
        out.insert("type".into(), json!("text"));
        return out;
    };
    let ty = first.strip_prefix("type=").unwrap_or(first).trim();
    out.insert(
        "type".into(),
        json!(if ty.is_empty() { "text" } else { ty }),
    );
    for part in rest {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let pieces = split_top_level(part, '=');
        match pieces.split_first() {
            Some((name, [])) => {
                out.insert(name.trim().to_string(), json!(true));
            }
            Some((name, values)) => {
                let raw = values.join("=");
                out.insert(name.trim().to_string(), property_value(raw.trim()));
            }
            None => {}
        }
    }
    out
}

/// Splits at `delimiter` outside quoted text and brackets; pieces trimmed,
/// an empty tail dropped.
fn split_top_level(text: &str, delimiter: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for c in text.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                current.push(c);
                escaped = true;
                continue;
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
                continue;
            }
            _ => {}
        }
        if !quoted {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
            if c == delimiter && depth == 0 {
                parts.push(current.trim().to_string());
                current.clear();
                continue;
            }
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_string());
    }
    parts
}

/// A quoted value loses its quotes; a JSON array or object is parsed (kept as
/// text when it does not parse or nests too deep); anything else stays text.
fn property_value(raw: &str) -> Value {
    if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        return json!(raw[1..raw.len() - 1]);
    }
    if raw.starts_with(['[', '{']) {
        if let Ok(v) = serde_json::from_str::<Value>(raw) {
            if !too_deep(&v) {
                return v;
            }
        }
    }
    json!(raw)
}

fn too_deep(v: &Value) -> bool {
    let mut stack = vec![(v, 1usize)];
    while let Some((item, depth)) = stack.pop() {
        if let Value::Array(items) = item {
            if depth > MAX_DEPTH {
                return true;
            }
            stack.extend(items.iter().map(|c| (c, depth + 1)));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::schema;
    use serde_json::json;

    #[test]
    fn a_bare_variable_is_required_false_text() {
        assert_eq!(
            schema(Some("Hi {{chat.variables.city}}")),
            Some(json!({"fields": [{"key": "city", "type": "text", "required": false}]}))
        );
        assert_eq!(schema(Some("nothing here")), None);
        assert_eq!(schema(None), None);
    }

    #[test]
    fn every_property_in_name_order() {
        let p = r#"{{chat.variables.city|type=text:label="City":placeholder="Berlin":default="Berlin":min=1:max=9:minlength=2:maxlength=8:step=1:required=true:options=["a","b"]:bogus=1}}"#;
        let s = schema(Some(p)).unwrap();
        let f = s["fields"][0].as_object().unwrap();
        let keys: Vec<&str> = f.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "key",
                "default",
                "label",
                "max",
                "maxlength",
                "min",
                "minlength",
                "options",
                "placeholder",
                "required",
                "step",
                "type"
            ]
        );
        assert_eq!(f["options"], json!(["a", "b"]));
        assert_eq!(f["label"], "City");
        assert_eq!(f["min"], "1");
        assert_eq!(f["required"], true);
    }

    #[test]
    fn contradictions_and_bad_names_give_no_schema() {
        assert_eq!(
            schema(Some(
                "{{chat.variables.a|text}} {{chat.variables.a|number}}"
            )),
            None
        );
        assert_eq!(schema(Some("{{chat.variables.Bad}}")), None);
        assert_eq!(schema(Some("{{chat.variables.c|select}}")), None);
        let s = schema(Some(
            "{{chat.variables.c|select:options=[\"x\"]}} {{chat.variables.b}}",
        ))
        .unwrap();
        assert_eq!(s["fields"][0]["key"], "c");
        assert_eq!(s["fields"][1]["key"], "b");
    }
}
