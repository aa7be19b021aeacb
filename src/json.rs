//! Small readers of loosely typed JSON values that many rooms share.

use serde_json::Value;

/// The strings of a JSON array; anything else (a missing value, a
/// non-array, non-string items) is skipped.
pub fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// JSON text with its lone UTF-16 surrogate escapes (`\ud800` without its
/// partner, or a partner without its lead) removed, which no string can
/// hold; `None` when there are none. Escaped backslashes are respected, so
/// `\\ud800` (a backslash and text) stays as it is.
pub fn without_lone_surrogates(bytes: &[u8]) -> Option<Vec<u8>> {
    fn code_at(b: &[u8], i: usize) -> Option<u16> {
        if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(b.get(i + 2..i + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let high = |c: u16| (0xD800..0xDC00).contains(&c);
    let low = |c: u16| (0xDC00..0xE000).contains(&c);
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match code_at(bytes, i) {
            Some(c) if high(c) => {
                if code_at(bytes, i + 6).is_some_and(low) {
                    out.extend_from_slice(&bytes[i..i + 12]);
                    i += 12;
                } else {
                    changed = true;
                    i += 6;
                }
            }
            Some(c) if low(c) => {
                changed = true;
                i += 6;
            }
            _ => {
                // Any other escape: copy it whole, so an escaped backslash
                // cannot start a `\u` of its own.
                let end = (i + 2).min(bytes.len());
                out.extend_from_slice(&bytes[i..end]);
                i = end;
            }
        }
    }
    changed.then_some(out)
}

/// Python's truthiness for a JSON value: null, false, zero and empty
/// strings, lists and objects are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod surrogate_tests {
    use super::without_lone_surrogates as strip;

    #[test]
    fn lone_halves_go_and_pairs_and_escaped_backslashes_stay() {
        assert_eq!(strip(br#"{"a":"x\ud800y"}"#).unwrap(), br#"{"a":"xy"}"#);
        assert_eq!(strip(br#"{"k\udfff":1}"#).unwrap(), br#"{"k":1}"#);
        assert!(strip(br#"{"a":"\ud83d\ude00"}"#).is_none());
        assert!(strip(br#"{"a":"\\ud800"}"#).is_none());
        assert!(strip(br#"{"a":"plain"}"#).is_none());
        assert_eq!(
            strip(br#""\ud800\ud800\udc00""#).unwrap(),
            br#""\ud800\udc00""#
        );
    }
}
