//! Effective permissions: the configured defaults (`user.permissions`) completed
//! with the built-in defaults, then every group of the user layered on top, where
//! the most permissive value wins.

use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Upstream's wording when a permission check fails.
pub const ACCESS_PROHIBITED: &str =
    "You do not have permission to access this resource. Please ask your administrator for access.";

/// Fills keys that `target` lacks from `defaults`, recursively.
pub fn fill_missing(target: &mut Value, defaults: &Value) {
    if let (Value::Object(t), Value::Object(d)) = (&mut *target, defaults) {
        for (k, dv) in d {
            match t.get_mut(k) {
                Some(tv) => fill_missing(tv, dv),
                None => {
                    t.insert(k.clone(), dv.clone());
                }
            }
        }
    }
}

/// Merges `extra` into `base`: booleans OR together, numbers keep the larger,
/// nested objects merge, anything else from `extra` is added when missing.
pub fn combine(base: &mut Value, extra: &Value) {
    let (Value::Object(b), Value::Object(e)) = (&mut *base, extra) else {
        return;
    };
    for (k, ev) in e {
        match (b.get_mut(k), ev) {
            (Some(bv @ Value::Object(_)), Value::Object(_)) => combine(bv, ev),
            (Some(Value::Bool(bb)), Value::Bool(eb)) => *bb = *bb || *eb,
            (Some(bv @ Value::Number(_)), Value::Number(en)) if en.as_f64() > bv.as_f64() => {
                *bv = Value::Number(en.clone());
            }
            (None, _) => {
                b.insert(k.clone(), ev.clone());
            }
            _ => {}
        }
    }
}

pub fn builtin_defaults() -> &'static Value {
    // Read once: every permission check fills gaps from it.
    static DEFAULTS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        let def = crate::config::DEFS
            .iter()
            .find(|d| d.key == "user.permissions")
            .expect("user.permissions has a default");
        serde_json::from_str(def.default).expect("valid JSON")
    })
}

pub async fn effective(state: &AppState, user_id: &str) -> anyhow::Result<Value> {
    let mut perms = match state.config.get("user.permissions") {
        v @ Value::Object(_) => v,
        _ => Value::Object(Map::new()),
    };
    fill_missing(&mut perms, builtin_defaults());
    let uid = user_id.to_string();
    let groups = state
        .db
        .read(move |c| crate::db::groups::permissions_of_member(c, &uid))
        .await?;
    for g in groups {
        combine(&mut perms, &g);
    }
    Ok(perms)
}

/// Looks up a dotted key such as `features.api_keys`; a missing level means no.
pub fn allows(perms: &Value, key: &str) -> bool {
    let mut cur = perms;
    for part in key.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    cur.as_bool().unwrap_or(false)
}

/// Whether the caller holds the permission `key` (e.g. `"chat.delete"`).
/// Admins hold every permission, as upstream's handlers skip the check for them.
pub async fn caller_allows(state: &AppState, caller: &Caller, key: &str) -> ApiResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let perms = effective(state, caller.id()).await?;
    Ok(allows(&perms, key))
}

/// Refuses with 403 unless the caller holds the permission `key`:
/// `permissions::require(&state, &caller, "features.notes").await?;`
pub async fn require(state: &AppState, caller: &Caller, key: &str) -> ApiResult<()> {
    if caller_allows(state, caller, key).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden(ACCESS_PROHIBITED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_widen_never_narrow() {
        let mut p = json!({"features": {"api_keys": false, "notes": true}});
        combine(
            &mut p,
            &json!({"features": {"api_keys": true, "notes": false}}),
        );
        assert!(allows(&p, "features.api_keys"));
        assert!(allows(&p, "features.notes"));
        assert!(!allows(&p, "features.missing"));
        assert!(!allows(&p, "nothing.here"));
    }

    #[test]
    fn fill_keeps_configured_values() {
        let mut p = json!({"chat": {"delete": false}});
        fill_missing(&mut p, builtin_defaults());
        assert!(!allows(&p, "chat.delete"));
        assert!(allows(&p, "chat.edit"));
        assert!(p.get("workspace").is_some());
    }
}
