//! Group sync on sign-in: the account's memberships follow the groups claim
//! (a list, or one separated string). Groups the claim leaves out are left,
//! missing ones are created when group creation is on, blocked groups are
//! never touched, and an absent or empty claim changes nothing.

use serde_json::{json, Map, Value};

use super::claims::claim;
use crate::db::{self, now_secs};
use crate::state::AppState;

/// Exact names, shell wildcards (`*`, `?`) and, for patterns with regex
/// syntax, regular expressions.
fn blocked(name: &str, patterns: &[String]) -> bool {
    patterns.iter().filter(|p| !p.is_empty()).any(|p| {
        if name == p {
            return true;
        }
        if p.contains(['^', '$', '[', ']', '(', ')', '{', '}', '+', '\\', '|']) {
            if let Ok(re) = regex::Regex::new(p) {
                if re.is_match(name) {
                    return true;
                }
            }
        }
        (p.contains('*') || p.contains('?')) && wildcard(p.as_bytes(), name.as_bytes())
    })
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

fn blocked_patterns(v: Value) -> Vec<String> {
    let v = match v {
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(list @ Value::Array(_)) => list,
            _ => Value::Array(s.split(',').map(|g| json!(g.trim())).collect()),
        },
        other => other,
    };
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .filter(|s| !s.is_empty())
            .collect(),
        _ => vec![],
    }
}

fn claimed_groups(state: &AppState, data: &Map<String, Value>) -> Vec<String> {
    let name = state.config.get_str("oauth.group_claim");
    if name.is_empty() {
        return vec![];
    }
    let sep = state.oauth.settings.groups_separator.clone();
    match claim(data, &name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) if !sep.is_empty() && s.contains(&sep) => {
            s.split(&sep).map(str::to_string).collect()
        }
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![],
    }
}

pub(super) async fn sync(
    state: &AppState,
    user_id: &str,
    data: &Map<String, Value>,
) -> anyhow::Result<()> {
    let wanted = claimed_groups(state, data);
    if wanted.is_empty() {
        return Ok(());
    }
    let patterns = blocked_patterns(state.config.get("oauth.blocked_groups"));
    let create = state.config.get_bool("oauth.enable_group_creation");
    let share = state.config.get("oauth.group_default_share");
    let permissions = state.config.get("user.permissions");
    let uid = user_id.to_string();
    let now = now_secs();
    let changed = state
        .db
        .write(move |tx| {
            let mut all: Vec<(String, String)> = db::groups::list(tx, None, None)?
                .into_iter()
                .map(|(g, _)| (g.id, g.name))
                .collect();
            if create {
                let creator = db::users::first_admin(tx)?
                    .map(|u| u.id)
                    .unwrap_or_else(|| uid.clone());
                for name in &wanted {
                    if name.is_empty()
                        || name.len() > 255
                        || all.iter().any(|(_, n)| n == name)
                        || blocked(name, &patterns)
                    {
                        continue;
                    }
                    let id = db::new_id();
                    let data = json!({"config": {"share": share}});
                    db::groups::insert(
                        tx,
                        &db::groups::NewGroup {
                            id: &id,
                            user_id: &creator,
                            name,
                            description: &format!(
                                "Created from the identity provider's group \"{name}\"."
                            ),
                            data: &data,
                            permissions: Some(&permissions),
                            parent_group_id: None,
                            now,
                        },
                    )?;
                    all.push((id, name.clone()));
                }
            }
            let current: Vec<(String, String)> = db::groups::of_member(tx, &uid, false)?
                .into_iter()
                .map(|g| (g.id, g.name))
                .collect();
            let mut changed = false;
            for (id, name) in &current {
                if !wanted.contains(name) && !blocked(name, &patterns) {
                    changed |=
                        db::groups::remove_members(tx, id, std::slice::from_ref(&uid), now)? > 0;
                }
            }
            for (id, name) in &all {
                if wanted.contains(name)
                    && !current.iter().any(|(_, n)| n == name)
                    && !blocked(name, &patterns)
                {
                    changed |= !db::groups::add_members(tx, id, std::slice::from_ref(&uid), now)?
                        .is_empty();
                }
            }
            Ok(changed)
        })
        .await?;
    if changed {
        crate::auth::sessions::refresh_access(state, &[user_id.to_string()]).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_patterns_match() {
        let p = blocked_patterns(json!("[\"admins\", \"ext-*\", \"^tmp[0-9]+$\"]"));
        assert!(blocked("admins", &p));
        assert!(blocked("ext-sales", &p));
        assert!(blocked("tmp42", &p));
        assert!(!blocked("staff", &p));
        assert_eq!(blocked_patterns(json!("a, b")), ["a", "b"]);
    }
}
