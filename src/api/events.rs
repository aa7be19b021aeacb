//! `/api/events`: the event catalog and the admin's event webhooks (kept and
//! delivered by [`crate::notify`]; which events this server publishes is
//! listed there).

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::notify::catalog::{event_description, event_message, EVENT_NAMES};
use crate::notify::{event_webhooks, publish, Event};
use crate::settings::VERSION;
use crate::state::AppState;

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

async fn catalog(AdminUser(_a): AdminUser) -> Json<Value> {
    let events: Vec<Value> = EVENT_NAMES
        .iter()
        .map(|name| {
            json!({"event": name, "description": event_description(name), "message": event_message(name)})
        })
        .collect();
    Json(json!({"schema": VERSION, "events": events}))
}

async fn list_webhooks(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(Value::Array(event_webhooks::all(&state)))
}

/// Announces a change of the webhooks themselves (`config.webhook.updated`).
fn announce(state: &AppState, admin: &Caller, id: &str, data: Value) {
    let event = Event::new("config.webhook.updated", Some(&admin.user))
        .subject("config", id)
        .data(data);
    publish(state, event);
}

fn object_form(form: &Value) -> ApiResult<&serde_json::Map<String, Value>> {
    form.as_object()
        .ok_or_else(|| ApiError::bad_request("The webhook must be a JSON object"))
}

async fn create_webhook(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(form): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let o = object_form(&form)?;
    if !o.get("url").is_some_and(Value::is_string) {
        return Err(crate::api::form::validation("url", "Field required"));
    }
    let mut w = json!({});
    for k in ["name", "url", "enabled", "events", "targets"] {
        if let Some(v) = o.get(k) {
            w[k] = v.clone();
        }
    }
    let saved = event_webhooks::upsert(&state, &w)
        .await
        .map_err(ApiError::bad_request)?;
    let data = json!({"action": "created", "enabled": saved["enabled"],
                      "events": saved["events"], "targets": saved["targets"]});
    announce(&state, &admin, saved["id"].as_str().unwrap_or(""), data);
    Ok(Json(saved))
}

async fn update_webhook(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(webhook_id): Path<String>,
    JsonBody(form): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let o = object_form(&form)?;
    let Some(mut w) = event_webhooks::all(&state)
        .into_iter()
        .find(|w| w["id"] == webhook_id.as_str())
    else {
        return Err(ApiError::not_found("Webhook not found"));
    };
    for k in ["name", "url", "enabled", "events", "targets"] {
        if let Some(v) = o.get(k) {
            w[k] = v.clone();
        }
    }
    w["id"] = json!(webhook_id);
    let saved = event_webhooks::upsert(&state, &w)
        .await
        .map_err(ApiError::bad_request)?;
    let data = json!({"action": "updated", "enabled": saved["enabled"],
                      "events": saved["events"], "targets": saved["targets"]});
    announce(&state, &admin, &webhook_id, data);
    Ok(Json(saved))
}

async fn delete_webhook(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !event_webhooks::delete(&state, &webhook_id)
        .await
        .map_err(ApiError::Internal)?
    {
        return Err(ApiError::not_found("Webhook not found"));
    }
    announce(&state, &admin, &webhook_id, json!({"action": "deleted"}));
    Ok(Json(json!({"status": true})))
}
