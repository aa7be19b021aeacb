//! The admin's event webhooks, kept in config `events.webhooks`: each has a
//! URL, an on/off switch, event filters (`*`, `resource.*` or a name) and
//! optional user / group targets that narrow it to events about them.

use serde_json::{json, Value};

use super::catalog::{event_description, event_message, EVENT_NAMES};
use super::post::post_webhook;
use super::{app_name, event_user_ids};
use crate::db::now_secs;
use crate::state::AppState;

pub const CONFIG_KEY: &str = "events.webhooks";
const DEFAULT_ID: &str = "default";

/// The stored webhooks, normalized; entries that do not read are skipped.
pub fn all(state: &AppState) -> Vec<Value> {
    match state.config.get(CONFIG_KEY) {
        Value::Array(list) => list
            .iter()
            .filter(|w| w.is_object())
            .filter_map(|w| normalize(w, false).ok())
            .collect(),
        _ => Vec::new(),
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A webhook in its stored shape, with its event filters and targets checked.
pub fn normalize(w: &Value, touched: bool) -> Result<Value, String> {
    let now = now_secs();
    let id = Some(text(w.get("id")))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut events: Vec<String> = match w.get("events") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|e| text(Some(e)).trim().to_string())
            .filter(|e| !e.is_empty())
            .collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err("The events must be a list".into()),
    };
    if events.is_empty() {
        events.push("*".into());
    }
    for e in &events {
        if e == "*" {
            continue;
        }
        if let Some(prefix) = e.strip_suffix(".*") {
            let p = format!("{prefix}.");
            if prefix.is_empty() || !EVENT_NAMES.iter().any(|n| n.starts_with(&p)) {
                return Err(format!("Unknown event pattern: {e}"));
            }
        } else if !EVENT_NAMES.contains(&e.as_str()) {
            return Err(format!("Unknown event: {e}"));
        }
    }
    let name = Some(text(w.get("name")))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            if id == DEFAULT_ID {
                "Default webhook".into()
            } else {
                "Webhook".into()
            }
        });
    let enabled = match w.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("enabled must be true or false".into()),
    };
    let stamp = |k: &str| w.get(k).and_then(Value::as_i64).filter(|t| *t > 0);
    Ok(json!({
        "id": id,
        "name": name,
        "url": text(w.get("url")).trim(),
        "enabled": enabled,
        "events": events,
        "targets": normalize_targets(w.get("targets"))?,
        "created_at": stamp("created_at").unwrap_or(now),
        "updated_at": if touched { now } else { stamp("updated_at").unwrap_or(now) },
    }))
}

fn normalize_targets(v: Option<&Value>) -> Result<Value, String> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Value::Null),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("The targets must be a list".into()),
    };
    let mut out: Vec<Value> = Vec::new();
    for t in list {
        let kind = text(t.get("type")).trim().to_string();
        let id = text(t.get("id")).trim().to_string();
        if !t.is_object() || !matches!(kind.as_str(), "user" | "group") || id.is_empty() {
            return Err("Each target needs a type (user or group) and an id".into());
        }
        let entry = json!({"type": kind, "id": id});
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    Ok(Value::Array(out))
}

/// Creates or replaces (by id) a webhook; answers the stored one.
pub async fn upsert(state: &AppState, w: &Value) -> Result<Value, String> {
    let url = text(w.get("url"));
    if !url.trim().is_empty() && super::post::vet_url(url.trim()).await.is_none() {
        return Err("The webhook URL is not valid or points to a local address".into());
    }
    let mut new = normalize(w, true)?;
    let mut list = all(state);
    match list.iter_mut().find(|e| e["id"] == new["id"]) {
        Some(existing) => {
            new["created_at"] = existing["created_at"].clone();
            *existing = new.clone();
        }
        None => list.push(new.clone()),
    }
    state
        .config
        .set(CONFIG_KEY, Value::Array(list))
        .await
        .map_err(|_| "The webhook could not be saved".to_string())?;
    Ok(new)
}

/// Removes a webhook; `false` when there was none with that id.
pub async fn delete(state: &AppState, id: &str) -> anyhow::Result<bool> {
    let list = all(state);
    let kept: Vec<Value> = list.iter().filter(|w| w["id"] != id).cloned().collect();
    if kept.len() == list.len() {
        return Ok(false);
    }
    let mut entries = vec![(CONFIG_KEY, Value::Array(kept))];
    if id == DEFAULT_ID {
        entries.push(("webhook_url", json!("")));
    }
    state.config.set_many(entries).await?;
    Ok(true)
}

fn filter_matches(w: &Value, name: &str) -> bool {
    if w["enabled"] == false {
        return false;
    }
    let filters = w["events"].as_array().cloned().unwrap_or_default();
    filters.iter().filter_map(Value::as_str).any(|f| {
        f == "*"
            || f == name
            || f.strip_suffix(".*")
                .is_some_and(|p| name.starts_with(&format!("{p}.")))
    })
}

async fn targets_match(state: &AppState, w: &Value, event: &Value) -> bool {
    let Some(targets) = w["targets"].as_array() else {
        return true;
    };
    let users = event_user_ids(event);
    if targets.is_empty() || users.is_empty() {
        return targets.is_empty() && users.is_empty();
    }
    let of = |kind: &str| -> Vec<&str> {
        targets
            .iter()
            .filter(|t| t["type"] == kind)
            .filter_map(|t| t["id"].as_str())
            .collect()
    };
    if of("user").iter().any(|u| users.contains(*u)) {
        return true;
    }
    let groups = of("group");
    if groups.is_empty() {
        return false;
    }
    for u in &users {
        if let Ok(mine) = crate::access::group_ids(state, u).await {
            if groups.iter().any(|g| mine.contains(*g)) {
                return true;
            }
        }
    }
    false
}

/// Posts `event` to every enabled webhook that subscribes to it.
pub async fn dispatch(state: &AppState, event: &Value) {
    let name = event["event"].as_str().unwrap_or("");
    let mut message = event["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| event_message(name));
    if let Some(id) = event.pointer("/subject/id").and_then(Value::as_str) {
        message = format!("{message} ({id})");
    }
    let description = event_description(name);
    for w in all(state) {
        let url = w["url"].as_str().unwrap_or("");
        if url.is_empty() || !filter_matches(&w, name) || !targets_match(state, &w, event).await {
            continue;
        }
        let sent = post_webhook(&app_name(state), url, &message, event, Some(&description)).await;
        if let Err(e) = sent {
            tracing::warn!(webhook = %w["id"], event = name, "event webhook delivery failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_normalizing() {
        let w = normalize(
            &json!({"url": " https://x.test/h ", "events": ["user.*"]}),
            true,
        )
        .unwrap();
        assert_eq!(w["url"], "https://x.test/h");
        assert_eq!(w["name"], "Webhook");
        assert!(filter_matches(&w, "user.created"));
        assert!(!filter_matches(&w, "chat.finished"));
        assert!(normalize(&json!({"events": ["nope.*"]}), true).is_err());
        assert!(normalize(&json!({"events": ["user.made"]}), true).is_err());
        assert!(normalize(&json!({"targets": [{"type": "x", "id": "1"}]}), true).is_err());
        let off = normalize(&json!({"enabled": false}), true).unwrap();
        assert_eq!(off["events"], json!(["*"]));
        assert!(!filter_matches(&off, "user.created"));
    }
}
