//! Reading claims: by name or by a dotted path into nested objects, and
//! list claims sent as a list, one separated string or a single value.

use serde_json::{Map, Value};

/// A claim by name, or by a dotted path into nested objects (`realm_access.roles`).
pub(super) fn claim<'a>(data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let usable = |v: &&Value| v.is_array() || v.is_string() || v.is_i64() || v.is_u64();
    let mut cur: Option<&Value> = None;
    for (i, part) in name.split('.').enumerate() {
        cur = if i == 0 {
            data.get(part)
        } else {
            cur.and_then(|v| v.as_object()).and_then(|m| m.get(part))
        };
    }
    cur.filter(usable).or_else(|| data.get(name).filter(usable))
}

/// A list claim, also sent as one separated string or a single value.
pub(super) fn claim_list(data: &Map<String, Value>, name: &str, sep: &str) -> Vec<String> {
    match claim(data, name) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) if !sep.is_empty() && s.contains(sep) => {
            s.split(sep).map(str::to_string).collect()
        }
        Some(Value::String(s)) => vec![s.clone()],
        Some(n @ Value::Number(_)) => vec![n.to_string()],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_by_name_or_path() {
        let data: Map<String, Value> = serde_json::from_value(json!({
            "roles": "staff,admin",
            "realm_access": {"roles": ["admin"]},
            "a.b": "flat",
            "n": 7,
        }))
        .unwrap();
        assert_eq!(claim_list(&data, "roles", ","), ["staff", "admin"]);
        assert_eq!(claim_list(&data, "realm_access.roles", ","), ["admin"]);
        assert_eq!(claim_list(&data, "a.b", ","), ["flat"]);
        assert_eq!(claim_list(&data, "n", ","), ["7"]);
        assert!(claim_list(&data, "missing", ",").is_empty());
        assert!(claim(&data, "realm_access").is_none());
    }
}
