//! Delivery of notification events to the users' own targets (kept in
//! `user.settings.notifications`), while the admin has user webhooks on. An
//! `away` target is only called once its user has been idle for three
//! minutes; an `always` target every time.

use serde_json::{json, Value};

use super::post::post_webhook;
use super::{app_name, event_user_ids, NOTIFICATION_EVENTS};
use crate::db::{self, now_secs};
use crate::state::AppState;

/// How long after their last request a user still counts as present.
const ACTIVE_WINDOW_SECS: i64 = 180;

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").trim().to_string()
}

/// The user's targets; a legacy lone `webhook_url` counts as an `away`
/// target for every notification event.
fn targets_of(settings: &serde_json::Map<String, Value>) -> Vec<Value> {
    let n = settings
        .get("notifications")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(list) = n.get("targets").and_then(Value::as_array) {
        if !list.is_empty() {
            return list.iter().filter(|t| t.is_object()).cloned().collect();
        }
    }
    let legacy = Some(text(n.get("webhook_url")))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            text(
                settings
                    .get("ui")
                    .and_then(|u| u.pointer("/notifications/webhook_url")),
            )
        });
    if legacy.is_empty() {
        return Vec::new();
    }
    vec![
        json!({"id": "webhook", "enabled": true, "events": NOTIFICATION_EVENTS,
                "delivery": "away", "config": {"url": legacy}}),
    ]
}

/// The title, message, payload and description a target receives.
fn content(event: &Value) -> (String, String, Value, Option<String>) {
    let name = event["event"].as_str().unwrap_or("");
    let data = &event["data"];
    let field = |k: &str| {
        data.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let joined = |a: &str, b: &str| {
        [a, b]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    };
    let event_message = event["message"].as_str().unwrap_or("").to_string();
    match name {
        "chat.finished" | "chat.failed" => {
            let failed = name == "chat.failed";
            let title = if failed {
                Some(event_message)
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "Chat failed".into())
            } else {
                Some(field("title"))
                    .filter(|t| !t.is_empty())
                    .or(Some(event_message).filter(|m| !m.is_empty()))
                    .unwrap_or_else(|| "Chat finished".into())
            };
            let (message, url) = (field("message"), field("url"));
            let body = joined(&message, &url);
            let payload = json!({
                "action": if failed { "chat_failed" } else { "chat" },
                "message": message,
                "title": title,
                "url": url,
            });
            (format!("**{title}**"), body.clone(), payload, Some(body))
        }
        "channel.message" => {
            let channel = Some(field("title"))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "Channel".into());
            let message = Some(field("content"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| field("message"));
            let url = field("url");
            let body = joined(&message, &url);
            let payload = json!({"action": "channel", "message": message,
                                 "title": channel, "url": url});
            (format!("**#{channel}**"), body.clone(), payload, Some(body))
        }
        _ => {
            let title = Some(event_message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| super::catalog::event_message(name));
            let message = ["message", "preview", "content_preview"]
                .iter()
                .map(|k| field(k))
                .find(|m| !m.is_empty())
                .unwrap_or_else(|| title.clone());
            (title, message.clone(), event.clone(), Some(message))
        }
    }
}

/// Calls the targets of every user the event concerns that subscribe to it.
pub async fn dispatch(state: &AppState, event: &Value) {
    if !state.config.get_bool("ui.enable_user_webhooks") {
        return;
    }
    let name = event["event"].as_str().unwrap_or("").to_string();
    for user_id in event_user_ids(event) {
        let uid = user_id.clone();
        let Ok(Some(user)) = state.db.read(move |c| db::users::get(c, &uid)).await else {
            continue;
        };
        let settings = match &user.settings {
            Some(Value::Object(m)) => m.clone(),
            _ => Default::default(),
        };
        let active = name != "channel.message"
            && user
                .last_active_at
                .is_some_and(|t| t >= now_secs() - ACTIVE_WINDOW_SECS);
        for target in targets_of(&settings) {
            let subscribed = target["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e == name.as_str()));
            let away_only = target["delivery"].as_str().unwrap_or("away") == "away";
            if target["enabled"] == false || !subscribed || (away_only && active) {
                continue;
            }
            let url = text(target.pointer("/config/url"));
            if url.is_empty() {
                continue;
            }
            let (title, message, payload, description) = content(event);
            let headline = if title.is_empty() { &message } else { &title };
            let sent = post_webhook(
                &app_name(state),
                &url,
                headline,
                &payload,
                description.as_deref(),
            )
            .await;
            if let Err(e) = sent {
                tracing::warn!(user = %user_id, event = %name, "notification delivery failed: {e}");
            }
        }
    }
}
