//! `/api/events`: the event catalog and the admin's event webhooks.
//!
//! The catalog lists upstream's event names. This server does not emit those
//! events, so creating or changing an event webhook answers 501 rather than
//! storing a subscription that would never fire; webhooks already configured (in
//! a data folder written by the Python server, `events.webhooks`) are listed and
//! can be deleted.

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::db::now_secs;
use crate::error::{ApiError, ApiResult};
use crate::settings::VERSION;
use crate::state::AppState;

const WEBHOOKS_KEY: &str = "events.webhooks";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/events", get(catalog))
        .route(
            "/api/events/webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route(
            "/api/events/webhooks/{webhook_id}",
            delete(delete_webhook).put(update_webhook),
        )
}

/// Upstream's fallback wording for an event: its name in title case.
pub fn event_title(name: &str) -> String {
    name.split(['.', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn catalog(AdminUser(_a): AdminUser) -> Json<Value> {
    let events: Vec<Value> = EVENT_NAMES
        .iter()
        .map(|name| {
            let title = event_title(name);
            json!({"event": name, "description": format!("{title}."), "message": title})
        })
        .collect();
    Json(json!({"schema": VERSION, "events": events}))
}

/// A stored webhook in upstream's shape; `None` for entries it would skip.
fn webhook_wire(w: &Value) -> Option<Value> {
    let o = w.as_object()?;
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?
        .to_string();
    let events: Vec<Value> = o
        .get("events")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!(s))
                .collect()
        })
        .filter(|v: &Vec<Value>| !v.is_empty())
        .unwrap_or_else(|| vec![json!("*")]);
    let default_name = if id == "default" {
        "Default webhook"
    } else {
        "Webhook"
    };
    let now = now_secs();
    let created = o.get("created_at").and_then(Value::as_i64).unwrap_or(now);
    Some(json!({
        "id": id,
        "name": o.get("name").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(default_name),
        "url": o.get("url").and_then(Value::as_str).unwrap_or("").trim(),
        "enabled": o.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        "events": events,
        "targets": o.get("targets").cloned().unwrap_or(Value::Null),
        "created_at": created,
        "updated_at": o.get("updated_at").and_then(Value::as_i64).unwrap_or(now),
    }))
}

fn stored(state: &AppState) -> Vec<Value> {
    match state.config.get(WEBHOOKS_KEY) {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

async fn list_webhooks(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(Value::Array(
        stored(&state).iter().filter_map(webhook_wire).collect(),
    ))
}

fn not_emitted() -> ApiError {
    ApiError::NotImplemented(
        "This server does not emit events, so event webhooks cannot be added or changed here."
            .into(),
    )
}

async fn create_webhook(
    AdminUser(_a): AdminUser,
    JsonBody(_form): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    Err(not_emitted())
}

async fn update_webhook(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(webhook_id): Path<String>,
    JsonBody(_form): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !stored(&state)
        .iter()
        .filter_map(webhook_wire)
        .any(|w| w["id"] == webhook_id.as_str())
    {
        return Err(ApiError::not_found("Webhook not found"));
    }
    Err(not_emitted())
}

async fn delete_webhook(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let all = stored(&state);
    let kept: Vec<Value> = all
        .iter()
        .filter(|w| w.get("id").and_then(Value::as_str) != Some(webhook_id.as_str()))
        .cloned()
        .collect();
    if kept.len() == all.len() {
        return Err(ApiError::not_found("Webhook not found"));
    }
    state
        .config
        .set(WEBHOOKS_KEY, Value::Array(kept))
        .await
        .map_err(ApiError::Internal)?;
    Ok(Json(json!({"status": true})))
}

/// Names of upstream's event catalog (0.12.4), in its order.
pub const EVENT_NAMES: &[&str] = &[
    "system.startup.started",
    "system.startup.completed",
    "system.shutdown.started",
    "system.shutdown.completed",
    "config.imported",
    "config.updated",
    "config.webhook.updated",
    "config.connections.updated",
    "config.tool_servers.updated",
    "config.terminal_servers.updated",
    "config.code_execution.updated",
    "config.models.updated",
    "config.banners.updated",
    "config.suggestions.updated",
    "auth.signup",
    "auth.mfa.enrolled",
    "auth.mfa.replaced",
    "auth.mfa.failed",
    "auth.mfa.throttled",
    "auth.mfa.recovery_used",
    "auth.mfa.recovery_codes_regenerated",
    "auth.mfa.reset_requested",
    "auth.mfa.reset_completed",
    "auth.mfa.policy_changed",
    "auth.login",
    "auth.sessions_revoked",
    "auth.logout",
    "auth.password_changed",
    "auth.api_key.created",
    "auth.api_key.deleted",
    "auth.oauth_session.deleted",
    "user.created",
    "user.updated",
    "user.deleted",
    "user.role_updated",
    "user.status_updated",
    "user.settings_updated",
    "user.profile_updated",
    "user.permissions_updated",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "chat.created",
    "chat.finished",
    "chat.failed",
    "chat.imported",
    "chat.updated",
    "chat.deleted",
    "chat.deleted_all",
    "chat.compacted",
    "chat.pinned",
    "chat.unpinned",
    "chat.cloned",
    "chat.archived",
    "chat.unarchived",
    "chat.shared",
    "chat.unshared",
    "chat.folder_updated",
    "chat.tag_added",
    "chat.tag_removed",
    "message.created",
    "message.updated",
    "message.deleted",
    "message.event_received",
    "message.reaction_added",
    "message.reaction_removed",
    "message.pinned",
    "message.unpinned",
    "channel.created",
    "channel.updated",
    "channel.deleted",
    "channel.member_added",
    "channel.member_removed",
    "channel.member_active_updated",
    "channel.message",
    "channel.webhook.created",
    "channel.webhook.updated",
    "channel.webhook.deleted",
    "file.uploaded",
    "file.content_updated",
    "file.renamed",
    "file.deleted",
    "file.deleted_all",
    "folder.created",
    "folder.updated",
    "folder.parent_updated",
    "folder.access_updated",
    "folder.deleted",
    "note.created",
    "note.updated",
    "note.access_updated",
    "note.pinned",
    "note.unpinned",
    "note.deleted",
    "memory.created",
    "memory.updated",
    "memory.deleted",
    "memory.reset",
    "knowledge.created",
    "knowledge.updated",
    "knowledge.deleted",
    "knowledge.reset",
    "knowledge.reindexed",
    "knowledge.access_updated",
    "knowledge.file.added",
    "knowledge.file.updated",
    "knowledge.file.removed",
    "knowledge.file.moved",
    "knowledge.directory.created",
    "knowledge.directory.updated",
    "knowledge.directory.deleted",
    "knowledge.external_connection.created",
    "knowledge.external_connection.updated",
    "knowledge.external_connection.deleted",
    "retrieval.content.processed",
    "retrieval.content.process_failed",
    "retrieval.collection.deleted",
    "retrieval.vector_db.reset",
    "retrieval.uploads.reset",
    "model.created",
    "model.imported",
    "model.synced",
    "model.updated",
    "model.deleted",
    "model.enabled",
    "model.disabled",
    "model.access_updated",
    "model.provider_config.updated",
    "model.provider_request.failed",
    "model.provider_model.created",
    "model.provider_model.deleted",
    "function.created",
    "function.updated",
    "function.deleted",
    "function.enabled",
    "function.disabled",
    "function.enable_started",
    "function.disable_started",
    "function.valves_updated",
    "tool.created",
    "tool.updated",
    "tool.deleted",
    "tool.access_updated",
    "tool.valves_updated",
    "skill.created",
    "skill.updated",
    "skill.deleted",
    "skill.enabled",
    "skill.disabled",
    "prompt.created",
    "prompt.updated",
    "prompt.deleted",
    "prompt.enabled",
    "prompt.disabled",
    "prompt.version_updated",
    "prompt.access_updated",
    "pipeline.uploaded",
    "pipeline.added",
    "pipeline.deleted",
    "pipeline.valves_updated",
    "calendar.created",
    "calendar.updated",
    "calendar.deleted",
    "calendar.default_updated",
    "calendar.event.created",
    "calendar.event.updated",
    "calendar.event.deleted",
    "calendar.event.rsvp_updated",
    "calendar.alert",
    "automation.created",
    "automation.updated",
    "automation.enabled",
    "automation.disabled",
    "automation.deleted",
    "automation.run_started",
    "automation.run_completed",
    "automation.run_failed",
    "feedback.created",
    "feedback.updated",
    "feedback.deleted",
    "feedback.deleted_all",
    "image.generated",
    "image.edited",
    "audio.speech_requested",
    "audio.transcription_requested",
    "terminal.session.opened",
    "terminal.session.closed",
    "notification.test",
    "notification.manual",
];
