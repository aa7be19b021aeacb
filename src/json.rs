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
