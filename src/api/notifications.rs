//! `/api/v1/notifications/*`: a user's notification targets (webhooks) and the
//! events they can subscribe to. Targets are kept in the user's settings, as
//! upstream keeps them; `test` posts a real message to the target.
//!
//! Target URLs pass the local-address guard: loopback, private and link-local
//! hosts are refused unless `ENABLE_LOCAL_WEB_FETCH` allows local requests.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::{self, now_secs};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::notify::catalog::{event_description, event_message};
use crate::notify::post::post_webhook;
use crate::state::AppState;

use crate::notify::NOTIFICATION_EVENTS;
const LEGACY_EVENTS: &[&str] = &["chat.finished", "chat.failed"];
const DEFAULT_TARGET_ID: &str = "webhook";
const INVALID_URL: &str =
    "Oops! The URL you provided is invalid. Please double-check and try again.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications/events", get(events))
        .route(
            "/api/v1/notifications/targets",
            get(list_targets).post(create_target),
        )
        .route(
            "/api/v1/notifications/targets/{target_id}",
            put(update_target).delete(delete_target),
        )
        .route(
            "/api/v1/notifications/targets/{target_id}/default",
            put(set_default),
        )
        .route(
            "/api/v1/notifications/targets/{target_id}/test",
            post(test_target),
        )
}

async fn check_access(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("ui.enable_user_webhooks") {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    if !caller.is_admin() {
        let perms = permissions::effective(state, caller.id()).await?;
        if !permissions::allows(&perms, "features.webhooks") {
            return Err(ApiError::forbidden(ACCESS_PROHIBITED));
        }
    }
    Ok(())
}

async fn events(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    check_access(&state, &caller).await?;
    let events: Vec<Value> = NOTIFICATION_EVENTS
        .iter()
        .map(
            |e| json!({"event": e, "label": event_message(e), "description": event_description(e)}),
        )
        .collect();
    Ok(Json(json!({ "events": events })))
}

// ---------------------------------------------------------------- URL guard

/// Checks a webhook URL and returns the host and the vetted address to connect to.
async fn vet_url(raw: &str) -> ApiResult<(reqwest::Url, String, SocketAddr)> {
    crate::notify::post::vet_url(raw)
        .await
        .ok_or_else(|| ApiError::bad_request(INVALID_URL))
}

// ---------------------------------------------------------------- stored state

#[derive(Deserialize, Default)]
struct TargetForm {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    enabled: Option<bool>,
    /// Outer `None`: not sent; inner `None`: sent as null.
    #[serde(default, deserialize_with = "present")]
    events: Option<Option<Value>>,
    delivery: Option<String>,
    config: Option<Map<String, Value>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Value>>, D::Error> {
    Ok(Some(Option::<Value>::deserialize(d)?))
}

fn str_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn same_id(a: &Value, id: &str) -> bool {
    str_of(a.get("id")).to_lowercase() == id.to_lowercase()
}

/// Upstream's id rule: letters, digits, `_` and `-`, other runs become `-`.
fn clean_id(raw: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for ch in raw.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' {
            out.push(ch);
            dash = false;
        } else if !dash {
            out.push('-');
            dash = true;
        }
    }
    let t = out.trim_matches('-').to_lowercase();
    if t.is_empty() {
        "target".into()
    } else {
        t
    }
}

/// Builds the stored target from a form (and the target it replaces).
async fn normalize(form: &TargetForm, existing: Option<&Value>) -> ApiResult<Value> {
    let empty = json!({});
    let ex = existing.unwrap_or(&empty);
    let now = now_secs();
    let kind = form
        .kind
        .clone()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            Some(str_of(ex.get("type")))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "webhook".into())
        });
    if kind != "webhook" {
        return Err(ApiError::bad_request(
            "Unsupported notification target type",
        ));
    }
    let mut config = ex
        .get("config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(c) = &form.config {
        config.extend(c.clone());
    }
    let mut url = str_of(config.get("url"));
    if url.is_empty() {
        return Err(ApiError::bad_request("Webhook URL is required"));
    }
    if url.contains("...") {
        // The masked URL came back unchanged: keep the stored one.
        url = str_of(ex.get("config").and_then(|c| c.get("url")));
    }
    let (parsed, _, _) = vet_url(&url).await?;
    config.insert("url".into(), json!(url));

    let raw_id = form
        .id
        .clone()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| Some(str_of(ex.get("id"))).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| parsed.host_str().unwrap_or("webhook").to_string());
    let id = clean_id(&raw_id);

    let events = match &form.events {
        Some(v) => v.clone().unwrap_or(Value::Null),
        None => ex.get("events").cloned().unwrap_or(json!([])),
    };
    let events = match events {
        Value::Null => Vec::new(),
        Value::Array(a) => a,
        _ => return Err(ApiError::bad_request("events must be a list")),
    };
    let mut cleaned: Vec<String> = Vec::new();
    for e in events {
        let e = match e {
            Value::String(s) => s,
            other => other.to_string(),
        };
        if !NOTIFICATION_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unsupported notification event: {e}"
            )));
        }
        if !cleaned.contains(&e) {
            cleaned.push(e);
        }
    }
    let delivery = form
        .delivery
        .clone()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| Some(str_of(ex.get("delivery"))).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "away".into());
    if delivery != "away" && delivery != "always" {
        return Err(ApiError::bad_request("Invalid notification delivery mode"));
    }
    let enabled = form
        .enabled
        .or_else(|| ex.get("enabled").and_then(Value::as_bool))
        .unwrap_or(true);
    let created = ex
        .get("created_at")
        .and_then(Value::as_i64)
        .filter(|v| *v != 0)
        .unwrap_or(now);
    Ok(json!({
        "id": id,
        "type": kind,
        "enabled": enabled,
        "events": cleaned,
        "delivery": delivery,
        "config": config,
        "created_at": created,
        "updated_at": now,
    }))
}

/// The target as the UI sees it: the URL replaced by a masked form.
fn public(target: &Value, default_id: Option<&str>) -> Value {
    let mut t = target.clone();
    let mut config = target
        .get("config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let url = str_of(config.remove("url").as_ref());
    let masked = if url.is_empty() {
        String::new()
    } else {
        match reqwest::Url::parse(&url) {
            Ok(u) if u.host_str().is_some() => {
                let path = u.path();
                let n = path.chars().count();
                let suffix: String = if n > 4 {
                    path.chars().skip(n - 4).collect()
                } else if path == "/" && !url.trim_end().ends_with('/') {
                    // Python's urlparse keeps an empty path where the URL has none.
                    String::new()
                } else {
                    path.to_string()
                };
                format!(
                    "{}://{}/...{}",
                    u.scheme(),
                    u.host_str().unwrap_or(""),
                    suffix
                )
            }
            _ => "****".into(),
        }
    };
    config.insert("url_masked".into(), json!(masked));
    t["config"] = Value::Object(config);
    t["is_default"] = json!(default_id.is_some_and(|d| str_of(target.get("id")) == d));
    t
}

/// The user's notification settings, with a legacy `webhook_url` turned into a
/// default target the first time (saved, as upstream does).
async fn load(state: &AppState, user_id: &str) -> ApiResult<Map<String, Value>> {
    let uid = user_id.to_string();
    let settings = state
        .db
        .read(move |c| db::notifications::settings(c, &uid))
        .await?
        .ok_or_else(|| ApiError::bad_request("User not found"))?;
    let mut n = settings
        .get("notifications")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let legacy = {
        let a = str_of(n.get("webhook_url"));
        if a.is_empty() {
            str_of(
                settings
                    .get("ui")
                    .and_then(|u| u.pointer("/notifications/webhook_url")),
            )
        } else {
            a
        }
    };
    let targets: Vec<Value> = match n.get("targets") {
        Some(Value::Array(a)) => a.iter().filter(|t| t.is_object()).cloned().collect(),
        _ => Vec::new(),
    };
    if targets.is_empty() {
        if !legacy.is_empty() {
            let form = TargetForm {
                id: Some(DEFAULT_TARGET_ID.into()),
                kind: Some("webhook".into()),
                enabled: Some(true),
                events: Some(Some(json!(sorted_events()))),
                delivery: Some("away".into()),
                config: Some(Map::from_iter([("url".to_string(), json!(legacy))])),
            };
            if let Ok(t) = normalize(&form, None).await {
                n.insert("targets".into(), json!([t]));
                n.insert("default_target_id".into(), json!(DEFAULT_TARGET_ID));
                n.insert("legacy_notification_events_migrated".into(), json!(true));
                save(state, user_id, &n).await?;
            }
        }
    } else {
        let first = str_of(targets[0].get("id"));
        n.insert("targets".into(), Value::Array(targets));
        n.entry("default_target_id").or_insert(json!(first));
        if !legacy.is_empty() && n.get("legacy_notification_events_migrated") != Some(&json!(true))
        {
            let mut changed = false;
            if let Some(Value::Array(ts)) = n.get_mut("targets") {
                for t in ts.iter_mut() {
                    let mut evs: Vec<String> = crate::json::str_list(t.get("events"));
                    evs.sort();
                    evs.dedup();
                    if str_of(t.get("id")) == DEFAULT_TARGET_ID
                        && str_of(t.get("config").and_then(|c| c.get("url"))) == legacy
                        && evs
                            == LEGACY_EVENTS
                                .iter()
                                .rev()
                                .map(|s| s.to_string())
                                .collect::<Vec<_>>()
                    {
                        t["events"] = json!(sorted_events());
                        changed = true;
                    }
                }
            }
            n.insert("legacy_notification_events_migrated".into(), json!(true));
            if changed {
                save(state, user_id, &n).await?;
            }
        }
    }
    Ok(n)
}

fn sorted_events() -> Vec<&'static str> {
    let mut v = NOTIFICATION_EVENTS.to_vec();
    v.sort();
    v
}

async fn save(state: &AppState, user_id: &str, n: &Map<String, Value>) -> ApiResult<()> {
    let (uid, v) = (user_id.to_string(), Value::Object(n.clone()));
    state
        .db
        .write(move |c| db::notifications::save_notifications(c, &uid, v))
        .await?;
    Ok(())
}

fn targets_of(n: &Map<String, Value>) -> Vec<Value> {
    n.get("targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn default_id(n: &Map<String, Value>) -> Option<String> {
    n.get("default_target_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

// ---------------------------------------------------------------- handlers

async fn list_targets(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    check_access(&state, &caller).await?;
    let n = load(&state, caller.id()).await?;
    let d = default_id(&n);
    let targets: Vec<Value> = targets_of(&n)
        .iter()
        .map(|t| public(t, d.as_deref()))
        .collect();
    Ok(Json(json!({ "targets": targets })))
}

async fn create_target(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<TargetForm>,
) -> ApiResult<Json<Value>> {
    check_access(&state, &caller).await?;
    let mut n = load(&state, caller.id()).await?;
    let mut targets = targets_of(&n);
    let explicit = form.id.as_deref().is_some_and(|s| !s.trim().is_empty());
    let mut target = normalize(&form, None).await?;
    let base = str_of(target.get("id"));
    if targets.iter().any(|t| same_id(t, &base)) {
        if explicit {
            return Err(ApiError::bad_request(
                "notification target id already exists",
            ));
        }
        let mut suffix = 2;
        let mut id = format!("{base}-{suffix}");
        while targets.iter().any(|t| same_id(t, &id)) {
            suffix += 1;
            id = format!("{base}-{suffix}");
        }
        target["id"] = json!(id);
    }
    targets.push(target.clone());
    n.insert("targets".into(), Value::Array(targets));
    n.entry("default_target_id").or_insert(target["id"].clone());
    save(&state, caller.id(), &n).await?;
    Ok(Json(public(&target, default_id(&n).as_deref())))
}

async fn update_target(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(target_id): Path<String>,
    JsonBody(mut form): JsonBody<TargetForm>,
) -> ApiResult<Json<Value>> {
    check_access(&state, &caller).await?;
    let mut n = load(&state, caller.id()).await?;
    let mut targets = targets_of(&n);
    let Some(index) = targets.iter().position(|t| same_id(t, &target_id)) else {
        return Err(ApiError::bad_request("Notification target not found"));
    };
    if form.id.as_deref().is_none_or(|s| s.trim().is_empty()) {
        form.id = Some(target_id.clone());
    }
    let updated = normalize(&form, Some(&targets[index])).await?;
    let new_id = str_of(updated.get("id"));
    if targets
        .iter()
        .enumerate()
        .any(|(i, t)| i != index && same_id(t, &new_id))
    {
        return Err(ApiError::bad_request(
            "notification target id already exists",
        ));
    }
    targets[index] = updated.clone();
    n.insert("targets".into(), Value::Array(targets));
    if default_id(&n).is_some_and(|d| d.to_lowercase() == target_id.to_lowercase()) {
        n.insert("default_target_id".into(), json!(new_id));
    }
    save(&state, caller.id(), &n).await?;
    Ok(Json(public(&updated, default_id(&n).as_deref())))
}

async fn delete_target(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(target_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_access(&state, &caller).await?;
    let mut n = load(&state, caller.id()).await?;
    let targets = targets_of(&n);
    let kept: Vec<Value> = targets
        .iter()
        .filter(|t| !same_id(t, &target_id))
        .cloned()
        .collect();
    if kept.len() == targets.len() {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    if default_id(&n).is_some_and(|d| d.to_lowercase() == target_id.to_lowercase()) {
        let next = kept.first().map(|t| t["id"].clone()).unwrap_or(Value::Null);
        n.insert("default_target_id".into(), next);
    }
    n.insert("targets".into(), Value::Array(kept));
    save(&state, caller.id(), &n).await?;
    Ok(Json(json!({"ok": true})))
}

async fn set_default(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(target_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_access(&state, &caller).await?;
    let mut n = load(&state, caller.id()).await?;
    let Some(target) = targets_of(&n).into_iter().find(|t| same_id(t, &target_id)) else {
        return Err(ApiError::bad_request("Notification target not found"));
    };
    let id = str_of(target.get("id"));
    n.insert("default_target_id".into(), json!(id));
    save(&state, caller.id(), &n).await?;
    Ok(Json(public(&target, Some(&id))))
}

async fn test_target(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(target_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_access(&state, &caller).await?;
    let n = load(&state, caller.id()).await?;
    let wanted = if target_id.trim().is_empty() {
        default_id(&n).unwrap_or_default()
    } else {
        target_id.trim().to_string()
    };
    let Some(target) = targets_of(&n)
        .into_iter()
        .find(|t| !wanted.is_empty() && same_id(t, &wanted))
    else {
        return Err(ApiError::bad_request("Notification target not found"));
    };
    let url = str_of(target.get("config").and_then(|c| c.get("url")));
    if url.is_empty() {
        return Err(ApiError::bad_request("Webhook URL is required"));
    }
    let name = {
        let n = state.config.get_str("ui.name");
        if n.is_empty() {
            "Open WebUI".to_string()
        } else {
            n
        }
    };
    let data = json!({"action": "test", "user_id": caller.id()});
    if let Err(e) = post_webhook(
        &name,
        &url,
        "Test notification",
        &data,
        Some("This is a test notification from Open WebUI."),
    )
    .await
    {
        tracing::warn!("notification test delivery failed: {e}");
        return Err(ApiError::bad_request("Webhook delivery failed"));
    }
    Ok(Json(json!({"ok": true})))
}
