//! Incoming webhooks: their management by channel managers, the public
//! endpoint that posts through one, and the webhook's picture.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::auth::Caller;
use crate::db::channels::{self, ChannelRow, WebhookRow};
use crate::db::messages::{self, NewMessage};
use crate::db::{self, now_nanos};
use crate::error::messages::{NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::socket::channels as live;
use crate::state::AppState;

use super::common::{channel_wire, check_enabled, load, load_with};
use super::wire::{event, message_full};

/// Managers (the creator or members with role `manager`) and admins.
async fn load_managed(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ChannelRow> {
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    let (ch, _) = load(state, id, move |c, ch| {
        if admin || channels::is_manager(c, ch, &uid)? {
            Ok(())
        } else {
            Err(ApiError::forbidden(UNAUTHORIZED))
        }
    })
    .await?;
    Ok(ch)
}

#[derive(Deserialize)]
pub(super) struct WebhookForm {
    name: String,
    profile_image_url: Option<String>,
}

fn checked_image_url(url: Option<String>) -> ApiResult<Option<String>> {
    if let Some(u) = &url {
        crate::limits::check_image_url("profile_image_url", u)?;
    }
    Ok(url)
}

pub(super) async fn list_webhooks(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    load_managed(&state, &caller, &id).await?;
    let hooks = state.db.read(move |c| channels::webhooks(c, &id)).await?;
    Ok(Json(hooks.iter().map(WebhookRow::wire).collect()))
}

pub(super) async fn create_webhook(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<WebhookForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    load_managed(&state, &caller, &id).await?;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let now = now_nanos();
    crate::limits::check_name("name", &form.name)?;
    let w = WebhookRow {
        id: db::new_id(),
        channel_id: id,
        user_id: caller.id().to_string(),
        name: form.name,
        profile_image_url: checked_image_url(form.profile_image_url)?,
        token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
        last_used_at: None,
        created_at: now,
        updated_at: now,
    };
    let stored = w.clone();
    state
        .db
        .write(move |tx| channels::insert_webhook(tx, &stored))
        .await?;
    Ok(Json(w.wire()))
}

pub(super) async fn update_webhook(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, webhook_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<WebhookForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    load_managed(&state, &caller, &id).await?;
    crate::limits::check_name("name", &form.name)?;
    let url = checked_image_url(form.profile_image_url)?;
    let now = now_nanos();
    let out = state
        .db
        .write(move |tx| match channels::webhook(tx, &webhook_id)? {
            Some(w) if w.channel_id == id => {
                channels::update_webhook(tx, &webhook_id, &form.name, url.as_deref(), now)
            }
            _ => Ok(None),
        })
        .await?;
    out.map(|w| Json(w.wire()))
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

pub(super) async fn delete_webhook(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, webhook_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, Some(&caller)).await?;
    load_managed(&state, &caller, &id).await?;
    let out = state
        .db
        .write(move |tx| match channels::webhook(tx, &webhook_id)? {
            Some(w) if w.channel_id == id => channels::delete_webhook(tx, &webhook_id).map(Some),
            _ => Ok(None),
        })
        .await?;
    out.map(Json).ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

fn favicon() -> Response {
    crate::api::user_content::static_image("static/favicon.png")
}

/// Raster data URLs inline; remote URLs only with forwarding on; else the
/// favicon. SVG and other types are never served from here.
pub(super) async fn webhook_image(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(webhook_id): Path<String>,
) -> ApiResult<Response> {
    use crate::api::user_content;
    check_enabled(&state, Some(&caller)).await?;
    let wid = webhook_id.clone();
    let Some(w) = state.db.read(move |c| channels::webhook(c, &wid)).await? else {
        return Ok(favicon());
    };
    load_with(&state, &caller, &w.channel_id, "read").await?;
    let url = w.profile_image_url.unwrap_or_default();
    if user_content::is_remote(&url) {
        if user_content::forwarding_enabled() && crate::limits::valid_image_url(&url) {
            return Ok(user_content::found(&url));
        }
        return Ok(favicon());
    }
    Ok(user_content::data_image(&url, None).unwrap_or_else(favicon))
}

#[derive(Deserialize)]
pub(super) struct WebhookMessage {
    content: String,
}

/// The public incoming-webhook endpoint: the token in the URL is the only
/// credential.
pub(super) async fn webhook_post(
    State(state): State<AppState>,
    Path((webhook_id, token)): Path<(String, String)>,
    JsonBody(form): JsonBody<WebhookMessage>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, None).await?;
    let now = now_nanos();
    let wid = webhook_id.clone();
    let out = state
        .db
        .try_write(move |tx| {
            let Some(w) = channels::webhook(tx, &wid)?.filter(|w| w.token == token) else {
                return Err(ApiError::unauthorized(
                    "The URL you provided is invalid. Please double-check and try again.",
                ));
            };
            let Some(ch) = channels::get(tx, &w.channel_id)? else {
                return Err(ApiError::not_found(NOT_FOUND));
            };
            channels::join(tx, &ch.id, &w.user_id, now)?;
            let m = messages::insert(
                tx,
                &NewMessage {
                    user_id: w.user_id.clone(),
                    channel_id: ch.id.clone(),
                    content: form.content,
                    reply_to_id: None,
                    parent_id: None,
                    data: None,
                    meta: Some(json!({"webhook": {"id": w.id}})),
                },
                now,
            )?;
            channels::touch_webhook(tx, &w.id, now)?;
            let full = message_full(tx, &m, true)?;
            let ch_wire = channel_wire(tx, &ch)?;
            Ok((w, ch.id, ch_wire, m.id, full))
        })
        .await?;
    let (w, cid, ch_wire, mid, mut full) = out;
    let as_user = json!({"id": w.id, "name": w.name, "role": "webhook"});
    full["user"] = as_user.clone();
    let ev = event(&ch_wire, &cid, &mid, "message", full, as_user);
    live::emit_to_channel(&state, &cid, &ev).await;
    Ok(Json(json!({"success": true, "message_id": mid})))
}
