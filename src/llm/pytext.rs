//! How a streamed delta that is not a string becomes text. Some providers and
//! proxies send a number or an object where the text of a `content` or
//! `reasoning_content` delta belongs; the reference server keeps it by
//! turning it into Python's `str()` of the parsed value, so the reply reads
//! the same on both servers (`123` → `123`, `{"text": "x"}` → `{'text': 'x'}`).

use serde_json::Value;

/// The text a delta field carries: strings as they are, other values as
/// Python would print them; nothing for `null`, absent or empty.
pub fn delta_text(v: Option<&Value>) -> Option<String> {
    let text = match v? {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => python_str(other),
    };
    (!text.is_empty()).then_some(text)
}

fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            repr(other, &mut out);
            out
        }
    }
}

fn repr(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => quoted(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quoted(k, out);
                out.push_str(": ");
                repr(item, out);
            }
            out.push('}');
        }
    }
}

/// Integers as written; floats the way Python prints them (`1.0`, `1e+20`).
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
        Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
        None => s,
    }
}

/// Python's `repr` of a string: single quotes unless the text holds a single
/// quote and no double quote.
fn quoted(s: &str, out: &mut String) {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(q);
}

#[cfg(test)]
mod tests {
    use super::delta_text;
    use serde_json::json;

    fn t(v: serde_json::Value) -> Option<String> {
        delta_text(Some(&v))
    }

    #[test]
    fn values_print_like_python() {
        assert_eq!(t(json!("hi")).as_deref(), Some("hi"));
        assert_eq!(t(json!("")), None);
        assert_eq!(t(json!(null)), None);
        assert_eq!(delta_text(None), None);
        assert_eq!(t(json!(123)).as_deref(), Some("123"));
        assert_eq!(t(json!(-4)).as_deref(), Some("-4"));
        assert_eq!(t(json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(t(json!(2.0)).as_deref(), Some("2.0"));
        assert_eq!(t(json!(1e20)).as_deref(), Some("1e+20"));
        assert_eq!(t(json!(true)).as_deref(), Some("True"));
        assert_eq!(t(json!({"text": "x"})).as_deref(), Some("{'text': 'x'}"));
        assert_eq!(
            t(json!([1, null, false, "it's", {"a": [true]}])).as_deref(),
            Some("[1, None, False, \"it's\", {'a': [True]}]")
        );
        assert_eq!(
            t(json!({"q": "a'b\"c\n"})).as_deref(),
            Some("{'q': 'a\\'b\"c\\n'}")
        );
        assert_eq!(t(json!([])).as_deref(), Some("[]"));
    }
}
