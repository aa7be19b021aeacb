//! Apps in channels: who may list, invite and remove them, whether an app
//! is (still) a member, and the events an app member hears about messages.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{check_enabled, crypto, get_app, has_access, link, response, Gate};
use crate::auth::Caller;
use crate::db::apps as store;
use crate::db::apps::AppRow;
use crate::db::channels::{self, ChannelRow};
use crate::db::messages::MessageRow;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a caller must be in the channel.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
    Manage,
}

/// The channel, if apps and channels are on, it is a live non-DM channel
/// and (with a caller) the caller may `need` it.
pub async fn channel_for(
    state: &AppState,
    channel_id: &str,
    caller: Option<&Caller>,
    need: Need,
) -> ApiResult<ChannelRow> {
    check_enabled(state)?;
    if !state.config.get_bool("channels.enable") {
        return Err(ApiError::forbidden("Channels are disabled"));
    }
    let who = caller.map(|c| (c.id().to_string(), c.user.role.clone()));
    let cid = channel_id.to_string();
    state
        .db
        .try_read(move |c| {
            let ch = channels::get(c, &cid)?
                .filter(|ch| !ch.is_dm() && ch.deleted_at.is_none() && ch.archived_at.is_none())
                .ok_or_else(|| ApiError::not_found("Channel unavailable"))?;
            let Some((uid, role)) = who else {
                return Ok(ch);
            };
            if role != "user" && role != "admin" {
                return Err(ApiError::forbidden("User is inactive"));
            }
            if role == "admin" {
                return Ok(ch);
            }
            let allowed = match need {
                Need::Manage => channels::is_manager(c, &ch, &uid)?,
                Need::Read => crate::access::channel_allows(c, &ch, &uid, false, "read")?,
                Need::Write => crate::access::channel_allows(c, &ch, &uid, false, "write")?,
            };
            if allowed {
                Ok(ch)
            } else {
                Err(ApiError::forbidden("Channel access denied"))
            }
        })
        .await
}

/// The channel, if the (active) app is one of its members.
pub async fn membership(state: &AppState, app: &AppRow, channel_id: &str) -> ApiResult<ChannelRow> {
    get_app(state, &app.id, Gate::Active).await?;
    let ch = channel_for(state, channel_id, None, Need::Read).await?;
    let (cid, aid) = (ch.id.clone(), app.id.clone());
    if !state
        .db
        .read(move |c| store::is_channel_member(c, &cid, &aid))
        .await?
    {
        return Err(ApiError::forbidden(
            "Invite the app into this channel first",
        ));
    }
    Ok(ch)
}

/// A user acting through the app in the channel: may use the app, may read
/// the channel, and the app is a member.
pub async fn invocation_access(
    state: &AppState,
    app: &AppRow,
    channel_id: &str,
    caller: &Caller,
) -> ApiResult<ChannelRow> {
    if !has_access(state, app, caller).await? {
        return Err(ApiError::forbidden("App invocation denied"));
    }
    channel_for(state, channel_id, Some(caller), Need::Read).await?;
    membership(state, app, channel_id).await
}

pub fn require_scope(app: &AppRow, scope: &str) -> ApiResult<()> {
    let granted = app.data["granted_scopes"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(scope)));
    if granted {
        Ok(())
    } else {
        Err(ApiError::forbidden("App scope was not granted"))
    }
}

/// The apps in a channel the caller may read.
pub async fn list(state: &AppState, caller: &Caller, channel_id: &str) -> ApiResult<Vec<Value>> {
    let ch = channel_for(state, channel_id, Some(caller), Need::Read).await?;
    let apps = state
        .db
        .read(move |c| store::apps_in_channel(c, &ch.id))
        .await?;
    Ok(apps.iter().map(response).collect())
}

/// A channel manager brings an app they may use into the channel.
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    channel_id: &str,
    app_id: &str,
) -> ApiResult<Value> {
    let ch = channel_for(state, channel_id, Some(caller), Need::Manage).await?;
    let app = get_app(state, app_id, Gate::Active).await?;
    if !has_access(state, &app, caller).await? {
        return Err(ApiError::forbidden("App invocation denied"));
    }
    let (aid, uid) = (app.id.clone(), caller.id().to_string());
    let now = crate::db::now_nanos();
    state
        .db
        .write(move |c| store::invite(c, &ch.id, &aid, &uid, now))
        .await?;
    Ok(response(&app))
}

/// A channel manager takes an app out of the channel.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    channel_id: &str,
    app_id: &str,
) -> ApiResult<Value> {
    let ch = channel_for(state, channel_id, Some(caller), Need::Manage).await?;
    let aid = app_id.to_string();
    let now = crate::db::now_nanos();
    state
        .db
        .write(move |c| store::remove(c, &ch.id, &aid, now))
        .await?;
    Ok(json!({"removed": true}))
}

/// A message as apps see it: channel content and who wrote it, nothing of
/// the server's own metadata.
pub fn message_data(m: &MessageRow) -> Value {
    let meta = m.meta.clone().unwrap_or(Value::Null);
    let author = if let Some(a) = &m.app_id {
        json!({"type": "app", "id": a})
    } else if let Some(w) = m.webhook_id() {
        json!({"type": "webhook", "id": w})
    } else if let Some(model) = meta.get("model_id").filter(|v| !v.is_null()) {
        json!({"type": "model", "id": model})
    } else {
        json!({"type": "user", "id": m.user_id})
    };
    let data = m.data.clone().unwrap_or(Value::Null);
    let list = |v: Option<&Value>| v.filter(|v| v.is_array()).cloned().unwrap_or(json!([]));
    json!({
        "id": m.id,
        "channel_id": m.channel_id,
        "author": author,
        "content": m.content,
        "parent_id": m.parent_id,
        "reply_to_id": m.reply_to_id,
        "files": list(data.get("files")),
        "actions": list(data.pointer("/app/actions")),
        "embeds": list(data.pointer("/app/embeds")),
        "created_at": m.created_at.to_string(),
        "updated_at": m.updated_at.to_string(),
        "etag": m.updated_at.to_string(),
    })
}

/// Tells the channel's app members about a message (`channel.message.created`
/// and the like), in the background; a failure is logged, never returned.
/// Events are not kept: an app that is away misses them.
pub fn publish(state: &AppState, m: &MessageRow, kind: &'static str) {
    if !state.config.get_bool("apps.enable") || m.channel_id.is_none() {
        return;
    }
    // A model's reply is announced once, when it is complete.
    let meta = m.meta.clone().unwrap_or(Value::Null);
    if kind == "channel.message.updated"
        && meta.get("model_id").is_some_and(|v| !v.is_null())
        && meta.get("done") != Some(&json!(true))
    {
        return;
    }
    let mut message = message_data(m);
    if kind == "channel.message.deleted" {
        let keep = ["id", "channel_id", "parent_id", "author", "updated_at"];
        if let Value::Object(o) = &mut message {
            o.retain(|k, _| keep.contains(&k.as_str()));
        }
    }
    let created = crate::db::now_nanos();
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = deliver(&state, message, kind, created).await {
            tracing::warn!("app event {kind} not delivered: {e}");
        }
    });
}

async fn deliver(state: &AppState, message: Value, kind: &str, created: i64) -> ApiResult<()> {
    if !state.config.get_bool("apps.enable") || !state.config.get_bool("channels.enable") {
        return Ok(());
    }
    let cid = message["channel_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ids = {
        let cid = cid.clone();
        state
            .db
            .read(move |c| store::app_ids_in_channel(c, &cid, created))
            .await?
    };
    for id in ids {
        let Ok(app) = get_app(state, &id, Gate::Active).await else {
            continue;
        };
        if require_scope(&app, "channels:messages:read").is_err() {
            continue;
        }
        let Some(installation) = app.data["installation_id"].as_str().map(str::to_string) else {
            continue;
        };
        if membership(state, &app, &cid).await.is_err() {
            continue;
        }
        let mut env = Map::new();
        env.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        env.insert("type".into(), json!(kind));
        env.insert("message".into(), message.clone());
        env.insert("app_id".into(), json!(app.id));
        env.insert("installation_id".into(), json!(installation));
        env.insert("channel".into(), json!({"id": cid}));
        let token = crypto::context_token(&state.settings.secret_key, &app, "event", &env, 300);
        env.insert("event_token".into(), json!(token));
        match event(state, &app, Value::Object(env), Duration::from_secs(10)).await {
            Ok((s, _)) if (200..300).contains(&s) => {}
            Ok((s, _)) => tracing::warn!("app {id} did not take {kind}: HTTP {s}"),
            Err(e) => tracing::warn!("app {id} did not take {kind}: {e}"),
        }
    }
    Ok(())
}

/// Sends an event envelope (with the app and installation ids) to the app,
/// refusing envelopes over 1 MiB.
pub async fn event(
    state: &AppState,
    app: &AppRow,
    envelope: Value,
    timeout: Duration,
) -> ApiResult<(u16, Value)> {
    let mut payload = envelope;
    payload["app_id"] = json!(app.id);
    payload["installation_id"] = app
        .data
        .get("installation_id")
        .cloned()
        .unwrap_or(Value::Null);
    if payload.to_string().len() > 1_048_576 - 128 {
        return Err(ApiError::PayloadTooLarge(
            "The app event exceeds 1 MiB.".into(),
        ));
    }
    link::send(state, app, payload, timeout).await
}
