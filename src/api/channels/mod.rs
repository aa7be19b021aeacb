//! `/api/v1/channels`: standard channels (shared by access grants), group
//! channels and direct messages (shared by membership), their messages,
//! threads, reactions, pins, read state and incoming webhooks. Every change
//! is pushed to the channel's socket room as `events:channel`.
//!
//! Not offered: channel apps (`/{id}/apps`), and model replies to messages
//! that mention a model.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use rand::RngCore;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::access::{self, Kind};
use crate::api::chats::DEFAULT_ERROR;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::notes::QueryArgs;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow, NewGrant};
use crate::db::channels::{self, ChannelRow, PeopleFilter, WebhookRow};
use crate::db::messages::{self, Anchor, MessageRow, NewMessage};
use crate::db::{self, now_nanos};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::socket::channels as live;
use crate::state::AppState;

const PINNED_PAGE: i64 = 20;
const MEMBERS_PAGE: i64 = 30;

pub fn router() -> Router<AppState> {
    let base = "/api/v1/channels";
    Router::new()
        .route(&format!("{base}/"), get(list_channels))
        .route(&format!("{base}/list"), get(list_all))
        .route(&format!("{base}/users/{{user_id}}"), get(dm_with_user))
        .route(&format!("{base}/create"), post(create_channel))
        .route(
            &format!("{base}/webhooks/{{webhook_id}}/profile/image"),
            get(webhook_image),
        )
        .route(
            &format!("{base}/webhooks/{{webhook_id}}/{{token}}"),
            post(webhook_post),
        )
        .route(&format!("{base}/{{id}}"), get(get_channel))
        .route(&format!("{base}/{{id}}/members"), get(list_members))
        .route(&format!("{base}/{{id}}/members/mute"), post(mute))
        .route(&format!("{base}/{{id}}/members/active"), post(set_active))
        .route(
            &format!("{base}/{{id}}/update/members/add"),
            post(add_members),
        )
        .route(
            &format!("{base}/{{id}}/update/members/remove"),
            post(remove_members),
        )
        .route(&format!("{base}/{{id}}/update"), post(update_channel))
        .route(&format!("{base}/{{id}}/access/update"), post(update_access))
        .route(&format!("{base}/{{id}}/delete"), delete(delete_channel))
        .route(
            &format!("{base}/{{id}}/apps"),
            get(apps_unsupported).post(apps_unsupported),
        )
        .route(
            &format!("{base}/{{id}}/apps/{{app_id}}"),
            delete(apps_unsupported),
        )
        .route(&format!("{base}/{{id}}/messages"), get(list_messages))
        .route(
            &format!("{base}/{{id}}/messages/pinned"),
            get(pinned_messages),
        )
        .route(&format!("{base}/{{id}}/messages/post"), post(post_message))
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}"),
            get(get_message),
        )
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}/data"),
            get(message_data),
        )
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}/pin"),
            post(pin_message),
        )
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}/thread"),
            get(thread_messages),
        )
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}/update"),
            post(update_message),
        )
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}/reactions/add"),
            post(add_reaction),
        )
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}/reactions/remove"),
            post(remove_reaction),
        )
        .route(
            &format!("{base}/{{id}}/messages/{{message_id}}/delete"),
            delete(delete_message),
        )
        .route(&format!("{base}/{{id}}/webhooks"), get(list_webhooks))
        .route(
            &format!("{base}/{{id}}/webhooks/create"),
            post(create_webhook),
        )
        .route(
            &format!("{base}/{{id}}/webhooks/{{webhook_id}}/update"),
            post(update_webhook),
        )
        .route(
            &format!("{base}/{{id}}/webhooks/{{webhook_id}}/delete"),
            delete(delete_webhook),
        )
}

// ------------------------------------------------------------------ access

/// Channels must be on; with a caller, non-admins need `features.channels`.
async fn check_enabled(state: &AppState, caller: Option<&Caller>) -> ApiResult<()> {
    if !state.config.get_bool("channels.enable") {
        return Err(ApiError::forbidden("Channels is disabled"));
    }
    if let Some(caller) = caller {
        if !caller.is_admin() {
            let perms = permissions::effective(state, caller.id()).await?;
            if !permissions::allows(&perms, "features.channels") {
                return Err(ApiError::unauthorized(UNAUTHORIZED));
            }
        }
    }
    Ok(())
}

/// Group and DM channels: active members only. Standard channels: admins,
/// the creator, and whoever a grant gives `permission`.
fn has_access(
    c: &Connection,
    ch: &ChannelRow,
    user_id: &str,
    admin: bool,
    permission: &str,
) -> rusqlite::Result<bool> {
    if ch.is_membership() {
        return channels::is_active_member(c, &ch.id, user_id);
    }
    access::stored_allows(
        c,
        user_id,
        admin,
        &ch.user_id,
        channels::RESOURCE,
        &ch.id,
        permission,
    )
}

fn forbidden() -> ApiError {
    ApiError::forbidden(DEFAULT_ERROR)
}

fn channel_wire(c: &Connection, ch: &ChannelRow) -> rusqlite::Result<Value> {
    let grants = access_grants::by_resource(c, channels::RESOURCE, &ch.id)?;
    Ok(ch.wire(&grants))
}

/// The channel (404 when missing) after `check` passed inside the same read.
async fn load<F>(state: &AppState, id: &str, check: F) -> ApiResult<(ChannelRow, Value)>
where
    F: FnOnce(&Connection, &ChannelRow) -> ApiResult<()> + Send + 'static,
{
    let id = id.to_string();
    state
        .db
        .try_read(move |c| {
            let Some(ch) = channels::get(c, &id)? else {
                return Err(ApiError::not_found(NOT_FOUND));
            };
            check(c, &ch)?;
            let w = channel_wire(c, &ch)?;
            Ok((ch, w))
        })
        .await
}

/// Loads the channel and requires `permission` on it.
async fn load_with(
    state: &AppState,
    caller: &Caller,
    id: &str,
    permission: &'static str,
) -> ApiResult<(ChannelRow, Value)> {
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    load(state, id, move |c, ch| {
        if has_access(c, ch, &uid, admin, permission)? {
            Ok(())
        } else {
            Err(forbidden())
        }
    })
    .await
}

/// Loads the channel; only its creator or an admin passes.
async fn load_owned(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(ChannelRow, Value)> {
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    load(state, id, move |_, ch| {
        if admin || ch.user_id == uid {
            Ok(())
        } else {
            Err(forbidden())
        }
    })
    .await
}

fn name_wire(caller: &Caller) -> Value {
    json!({"id": caller.user.id, "name": caller.user.name, "role": caller.user.role})
}

// ------------------------------------------------------------------ messages on the wire

/// Who a message shows as: the app, the webhook, or the author.
fn author_of(c: &Connection, m: &MessageRow) -> rusqlite::Result<Value> {
    if let Some(app_id) = &m.app_id {
        let name: Option<String> = c
            .query_row("SELECT name FROM app WHERE id = ?1", [app_id], |r| r.get(0))
            .ok();
        return Ok(json!({
            "id": app_id,
            "name": name.unwrap_or_else(|| "Removed App".into()),
            "role": "app",
        }));
    }
    if let Some(wid) = m.webhook_id() {
        let name = channels::webhook(c, wid)?
            .map(|w| w.name)
            .unwrap_or_else(|| "Deleted Webhook".into());
        return Ok(json!({"id": wid, "name": name, "role": "webhook"}));
    }
    Ok(match &m.user_id {
        Some(uid) => channels::person(c, uid)?
            .map(|p| p.name_wire())
            .unwrap_or(Value::Null),
        None => Value::Null,
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// What list views show of `data`: whether there is any (app cards kept).
fn summarized(data: &Value, keep_app_data: bool) -> Value {
    let Some(m) = data.as_object() else {
        return json!(false);
    };
    if keep_app_data {
        return data.clone();
    }
    if let Some(embeds) = m
        .get("app")
        .and_then(|a| a.get("embeds"))
        .filter(|e| truthy(e))
    {
        return json!({"app": {"embeds": embeds}});
    }
    json!(m.values().any(truthy))
}

const MODEL_KEYS: [&str; 15] = [
    "id",
    "user_id",
    "app_id",
    "channel_id",
    "reply_to_id",
    "parent_id",
    "is_pinned",
    "pinned_by",
    "pinned_at",
    "content",
    "data",
    "meta",
    "created_at",
    "updated_at",
    "etag",
];

/// A quoted message: the message fields and author, `data` summarized.
fn slim(full: &Value) -> Value {
    let mut out = Map::new();
    for k in MODEL_KEYS.iter().chain(["user"].iter()) {
        out.insert(k.to_string(), full.get(*k).cloned().unwrap_or(Value::Null));
    }
    out.insert("data".into(), summarized(&full["data"], false));
    Value::Object(out)
}

/// `MessageResponse`: the message with author, quoted message, thread
/// figures (when `with_thread`) and reactions.
fn message_full(c: &Connection, m: &MessageRow, with_thread: bool) -> rusqlite::Result<Value> {
    let mut v = m.wire();
    v["user"] = author_of(c, m)?;
    // One level only: the quoted message is shown without what it quotes, so a
    // long (or circular) reply chain costs one lookup, not a recursion per link.
    v["reply_to_message"] = match &m.reply_to_id {
        Some(rid) => match messages::get(c, rid)? {
            Some(r) => {
                let mut quoted = r.wire();
                quoted["user"] = author_of(c, &r)?;
                slim(&quoted)
            }
            None => Value::Null,
        },
        None => Value::Null,
    };
    let (count, latest) = if with_thread {
        messages::reply_stats(c, &m.id)?
    } else {
        (0, None)
    };
    v["latest_reply_at"] = json!(latest);
    v["reply_count"] = json!(count);
    v["reactions"] = json!(messages::reactions(c, &m.id)?);
    Ok(v)
}

/// The list form of a message (`data` summarized unless an app posted it).
fn message_listed(c: &Connection, m: &MessageRow, with_thread: bool) -> rusqlite::Result<Value> {
    let mut v = message_full(c, m, with_thread)?;
    v["data"] = summarized(&v["data"], m.app_id.is_some());
    Ok(v)
}

fn event(
    ch_wire: &Value,
    channel_id: &str,
    message_id: &str,
    kind: &str,
    data: Value,
    user: Value,
) -> Value {
    json!({
        "channel_id": channel_id,
        "message_id": message_id,
        "data": {"type": kind, "data": data},
        "user": user,
        "channel": ch_wire,
    })
}

// ------------------------------------------------------------------ channels

async fn list_channels(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    // The app shell asks for this list on every socket (re)connect, even when
    // channels are off; upstream refuses with 403 and the browser logs an error
    // for nothing. An empty list says the same without the noise.
    if !state.config.get_bool("channels.enable") {
        return Ok(Json(Vec::new()));
    }
    check_enabled(&state, Some(&caller)).await?;
    let uid = caller.id().to_string();
    let now = db::now_secs();
    let out = state
        .db
        .read(move |c| {
            let groups = access_grants::group_ids_of(c, &uid)?;
            let mut out = Vec::new();
            for ch in channels::for_user(c, &uid, &groups)? {
                let mut w = channel_wire(c, &ch)?;
                let member = channels::member(c, &ch.id, &uid)?;
                let unread = match &member {
                    Some(m) => messages::unread_count(c, &ch.id, &uid, m.last_read_at)?,
                    None => 0,
                };
                let (mut user_ids, mut users) = (Value::Null, Value::Null);
                if ch.is_dm() {
                    let people = channels::people(c, &channels::member_user_ids(c, &ch.id)?)?;
                    user_ids = json!(people.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
                    users = json!(people
                        .iter()
                        .map(|p| p.status_wire(now))
                        .collect::<Vec<_>>());
                }
                w["is_channel_muted"] = json!(member.as_ref().is_some_and(|m| m.is_channel_muted));
                w["user_ids"] = user_ids;
                w["users"] = users;
                w["last_message_at"] = json!(messages::last_created_at(c, &ch.id)?);
                w["unread_count"] = json!(unread);
                out.push(w);
            }
            Ok(out)
        })
        .await?;
    Ok(Json(out))
}

async fn list_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    let out = state
        .db
        .read(move |c| {
            let list = if admin {
                channels::all(c)?
            } else {
                let groups = access_grants::group_ids_of(c, &uid)?;
                channels::for_user(c, &uid, &groups)?
            };
            list.iter().map(|ch| channel_wire(c, ch)).collect()
        })
        .await?;
    Ok(Json(out))
}

/// Announces a (re)opened group/DM channel to its members and puts their
/// sockets into its room.
async fn announce(state: &AppState, channel_id: &str, user_ids: &[String]) {
    live::emit_to_users(
        state,
        "events:channel",
        &json!({"data": {"type": "channel:created"}}),
        user_ids,
    )
    .await;
    live::enter_room_for_users(state, &live::channel_room(channel_id), user_ids).await;
}

async fn members_of(state: &AppState, channel_id: &str) -> ApiResult<Vec<String>> {
    let cid = channel_id.to_string();
    Ok(state
        .db
        .read(move |c| channels::member_user_ids(c, &cid))
        .await?)
}

/// An existing DM between exactly these users: reopened for the caller.
async fn reopen_dm(
    state: &AppState,
    caller: &Caller,
    user_ids: Vec<String>,
) -> ApiResult<Option<Value>> {
    let uid = caller.id().to_string();
    let now = now_nanos();
    let found = state
        .db
        .write(move |tx| {
            let Some(ch) = channels::dm_between(tx, &user_ids)? else {
                return Ok(None);
            };
            channels::set_active(tx, &ch.id, &uid, true, now)?;
            let w = channel_wire(tx, &ch)?;
            Ok(Some((ch.id, w)))
        })
        .await?;
    let Some((id, w)) = found else {
        return Ok(None);
    };
    let members = members_of(state, &id).await?;
    announce(state, &id, &members).await;
    Ok(Some(w))
}

struct NewChannel {
    kind: Option<String>,
    name: String,
    description: Option<String>,
    is_private: Option<bool>,
    data: Option<Value>,
    meta: Option<Value>,
    user_ids: Vec<String>,
    group_ids: Vec<String>,
    grants: Vec<NewGrant>,
}

async fn insert_channel(state: &AppState, caller: &Caller, n: NewChannel) -> ApiResult<Value> {
    let now = now_nanos();
    let row = ChannelRow {
        id: db::new_id(),
        user_id: caller.id().to_string(),
        kind: n.kind.clone().filter(|k| !k.is_empty()),
        name: n.name.to_lowercase(),
        description: n.description,
        is_private: n.is_private,
        data: n.data,
        meta: n.meta,
        created_at: now,
        updated_at: now,
        updated_by: None,
        archived_at: None,
        archived_by: None,
        deleted_at: None,
        deleted_by: None,
    };
    let uid = caller.id().to_string();
    let (id, wire, members) = state
        .db
        .write(move |tx| {
            channels::insert(tx, &row)?;
            if row.is_membership() {
                let mut ids: HashSet<String> = n.user_ids.into_iter().collect();
                ids.insert(uid.clone());
                ids.extend(channels::group_user_ids(tx, &n.group_ids)?);
                channels::add_members(tx, &row.id, &uid, &ids, now)?;
            }
            access_grants::replace(tx, channels::RESOURCE, &row.id, &n.grants, now)?;
            let w = channel_wire(tx, &row)?;
            Ok((row.id.clone(), w, channels::member_user_ids(tx, &row.id)?))
        })
        .await?;
    announce(state, &id, &members).await;
    Ok(wire)
}

async fn dm_with_user(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let pair = vec![caller.id().to_string(), user_id.clone()];
    if let Some(w) = reopen_dm(&state, &caller, pair).await? {
        return Ok(Json(w));
    }
    let n = NewChannel {
        kind: Some("dm".into()),
        name: String::new(),
        description: None,
        is_private: None,
        data: None,
        meta: None,
        user_ids: vec![user_id],
        group_ids: vec![],
        grants: vec![],
    };
    Ok(Json(insert_channel(&state, &caller, n).await?))
}

#[derive(Deserialize)]
struct ChannelForm {
    #[serde(default)]
    name: String,
    description: Option<String>,
    is_private: Option<bool>,
    data: Option<Map<String, Value>>,
    meta: Option<Map<String, Value>>,
    group_ids: Option<Vec<String>>,
    user_ids: Option<Vec<String>>,
    access_grants: Option<Vec<Value>>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn create_channel(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ChannelForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    crate::limits::check_name("name", &form.name)?;
    let membership = matches!(form.kind.as_deref(), Some("group") | Some("dm"));
    if !membership && !caller.is_admin() {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    let requested = Value::Array(form.access_grants.unwrap_or_default());
    let grants = access::allowed_grants(&state, &caller, Kind::Channel, &requested).await?;
    let user_ids = form.user_ids.unwrap_or_default();
    if form.kind.as_deref() == Some("dm") {
        let mut all = vec![caller.id().to_string()];
        all.extend(user_ids.iter().cloned());
        if let Some(w) = reopen_dm(&state, &caller, all).await? {
            return Ok(Json(w));
        }
    }
    let n = NewChannel {
        kind: form.kind,
        name: form.name,
        description: form.description,
        is_private: form.is_private,
        data: form.data.map(Value::Object),
        meta: form.meta.map(Value::Object),
        user_ids,
        group_ids: form.group_ids.unwrap_or_default(),
        grants,
    };
    Ok(Json(insert_channel(&state, &caller, n).await?))
}

/// Users a standard channel is open to: `None` when it is public, else the
/// users and group members its read grants name, plus its creator.
fn audience(c: &Connection, ch: &ChannelRow) -> rusqlite::Result<Option<Vec<String>>> {
    let grants: Vec<GrantRow> = access_grants::by_resource(c, channels::RESOURCE, &ch.id)?
        .into_iter()
        .filter(|g| g.permission == "read")
        .collect();
    if grants
        .iter()
        .any(|g| g.principal_type == "user" && g.principal_id == access_grants::PUBLIC)
    {
        return Ok(None);
    }
    let mut ids: Vec<String> = grants
        .iter()
        .filter(|g| g.principal_type == "user")
        .map(|g| g.principal_id.clone())
        .collect();
    let group_ids: Vec<String> = grants
        .iter()
        .filter(|g| g.principal_type == "group")
        .map(|g| g.principal_id.clone())
        .collect();
    ids.extend(channels::group_user_ids(c, &group_ids)?);
    ids.push(ch.user_id.clone());
    let mut seen = HashSet::new();
    ids.retain(|i| seen.insert(i.clone()));
    Ok(Some(ids))
}

async fn get_channel(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, mut w) = load_with(&state, &caller, &id, "read").await?;
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    let now = db::now_secs();
    let extra = state
        .db
        .read(move |c| {
            let member = channels::member(c, &ch.id, &uid)?;
            let unread = messages::unread_count(
                c,
                &ch.id,
                &uid,
                member.as_ref().and_then(|m| m.last_read_at),
            )?;
            let manager = channels::is_manager(c, &ch, &uid)?;
            let mut x = json!({
                "is_manager": manager,
                "is_channel_muted": member.as_ref().is_some_and(|m| m.is_channel_muted),
                "user_ids": null,
                "users": null,
                "last_read_at": member.as_ref().and_then(|m| m.last_read_at),
                "unread_count": unread,
            });
            if ch.is_membership() {
                let people = channels::people(c, &channels::member_user_ids(c, &ch.id)?)?;
                x["user_ids"] = json!(people.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
                x["users"] = json!(people
                    .iter()
                    .map(|p| p.status_wire(now))
                    .collect::<Vec<_>>());
                x["write_access"] = json!(true);
                x["user_count"] = json!(people.len());
            } else {
                let write = has_access(c, &ch, &uid, admin, "write")?;
                let f = PeopleFilter {
                    user_ids: audience(c, &ch)?,
                    exclude_pending: true,
                    ..Default::default()
                };
                let (_, total) = channels::people_page(c, &f, None, None, Some(0), 0)?;
                x["write_access"] = json!(write || admin);
                x["user_count"] = json!(total);
            }
            Ok(x)
        })
        .await?;
    if let (Value::Object(w), Value::Object(x)) = (&mut w, extra) {
        for (k, v) in x {
            w.insert(k, v);
        }
    }
    Ok(Json(w))
}

#[derive(Deserialize)]
struct MembersQuery {
    query: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
    page: Option<i64>,
}

async fn list_members(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<MembersQuery>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_with(&state, &caller, &id, "read").await?;
    let page = crate::limits::page(q.page.unwrap_or(1));
    let now = db::now_secs();
    let out = state
        .db
        .read(move |c| {
            if ch.is_dm() {
                let people = channels::people(c, &channels::member_user_ids(c, &ch.id)?)?;
                let users: Vec<Value> = people.iter().map(|p| p.member_wire(now)).collect();
                return Ok(json!({"total": users.len(), "users": users}));
            }
            let mut f = PeopleFilter {
                query: q.query,
                ..Default::default()
            };
            if ch.is_membership() {
                f.channel_id = Some(ch.id.clone());
            } else {
                f.exclude_pending = true;
                f.user_ids = audience(c, &ch)?;
            }
            let (people, total) = channels::people_page(
                c,
                &f,
                q.order_by.as_deref(),
                q.direction.as_deref(),
                Some(MEMBERS_PAGE),
                (page - 1) * MEMBERS_PAGE,
            )?;
            let users: Vec<Value> = people.iter().map(|p| p.member_wire(now)).collect();
            Ok(json!({"users": users, "total": total}))
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct MuteForm {
    is_channel_muted: bool,
}

async fn mute(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<MuteForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    load_with(&state, &caller, &id, "read").await?;
    let (cid, uid) = (id.clone(), caller.id().to_string());
    let now = now_nanos();
    let muted = state
        .db
        .write(move |tx| channels::set_muted(tx, &cid, &uid, form.is_channel_muted, now))
        .await?;
    live::emit_to_users(
        &state,
        "events:channel",
        &json!({"channel_id": id, "data": {"type": "channel:mute", "data": {"is_channel_muted": muted}}}),
        &[caller.id().to_string()],
    )
    .await;
    Ok(Json(json!({"is_channel_muted": muted})))
}

#[derive(Deserialize)]
struct ActiveForm {
    is_active: bool,
}

async fn set_active(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<ActiveForm>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, Some(&caller)).await?;
    let uid = caller.id().to_string();
    load(&state, &id, move |c, ch| {
        if channels::is_active_member(c, &ch.id, &uid)? {
            Ok(())
        } else {
            Err(ApiError::not_found(NOT_FOUND))
        }
    })
    .await?;
    let (cid, uid) = (id.clone(), caller.id().to_string());
    let now = now_nanos();
    state
        .db
        .write(move |tx| channels::set_active(tx, &cid, &uid, form.is_active, now))
        .await?;
    Ok(Json(true))
}

#[derive(Deserialize)]
struct MembersForm {
    #[serde(default)]
    user_ids: Vec<String>,
    #[serde(default)]
    group_ids: Vec<String>,
}

async fn add_members(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<MembersForm>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_owned(&state, &caller, &id).await?;
    if ch.is_dm() {
        return Err(forbidden());
    }
    let uid = caller.id().to_string();
    let now = now_nanos();
    let cid = ch.id.clone();
    let added = state
        .db
        .write(move |tx| {
            let mut ids: HashSet<String> = form.user_ids.into_iter().collect();
            ids.insert(uid.clone());
            ids.extend(channels::group_user_ids(tx, &form.group_ids)?);
            channels::add_members(tx, &cid, &uid, &ids, now)
        })
        .await?;
    if ch.is_membership() {
        let ids: Vec<String> = added.iter().filter_map(|m| m.user_id.clone()).collect();
        announce(&state, &ch.id, &ids).await;
    }
    Ok(Json(added.iter().map(|m| m.wire()).collect()))
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    user_ids: Vec<String>,
}

async fn remove_members(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<RemoveForm>,
) -> ApiResult<Json<usize>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_owned(&state, &caller, &id).await?;
    if ch.is_dm() {
        return Err(forbidden());
    }
    let (cid, ids) = (ch.id.clone(), form.user_ids.clone());
    let n = state
        .db
        .write(move |tx| channels::remove_members(tx, &cid, &ids))
        .await?;
    if ch.is_membership() {
        live::leave_room_for_users(&state, &live::channel_room(&ch.id), &form.user_ids).await;
    }
    Ok(Json(n))
}

async fn update_channel(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<ChannelForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    crate::limits::check_name("name", &form.name)?;
    load_owned(&state, &caller, &id).await?;
    let u = channels::ChannelUpdate {
        name: form.name,
        description: form.description,
        is_private: form.is_private,
        data: form.data.map(Value::Object),
        meta: form.meta.map(Value::Object),
    };
    let now = now_nanos();
    let w = state
        .db
        .write(move |tx| match channels::update(tx, &id, &u, now)? {
            Some(ch) => channel_wire(tx, &ch).map(Some),
            None => Ok(None),
        })
        .await?;
    w.map(Json)
        .ok_or_else(|| ApiError::bad_request(DEFAULT_ERROR))
}

#[derive(Deserialize)]
struct AccessForm {
    access_grants: Vec<Value>,
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    let (ch, _) = load(&state, &id, move |_, ch| {
        if !(admin || ch.user_id == uid) || ch.is_membership() {
            Err(ApiError::forbidden(ACCESS_PROHIBITED))
        } else {
            Ok(())
        }
    })
    .await?;
    let requested = Value::Array(form.access_grants);
    let allowed = access::validated_grants(&state, &caller, Kind::Channel, &requested).await?;
    let now = now_nanos();
    let c2 = ch.clone();
    let w = state
        .db
        .write(move |tx| {
            let grants = access_grants::replace(tx, channels::RESOURCE, &c2.id, &allowed, now)?;
            Ok(c2.wire(&grants))
        })
        .await?;
    evict_without_read(&state, &ch).await;
    Ok(Json(w))
}

/// Sockets of users who can no longer read the channel leave its room.
async fn evict_without_read(state: &AppState, ch: &ChannelRow) {
    let room = live::channel_room(&ch.id);
    let Some(io) = state.io() else { return };
    let mut lost = Vec::new();
    for sock in io.to(room.clone()).sockets() {
        let Some(u) = sock.extensions.get::<crate::socket::SocketUser>() else {
            continue;
        };
        let (c2, uid, admin) = (ch.clone(), u.id.clone(), u.role == "admin");
        let ok = state
            .db
            .read(move |c| has_access(c, &c2, &uid, admin, "read"))
            .await
            .unwrap_or(false);
        if !ok {
            lost.push(u.id);
        }
    }
    live::leave_room_for_users(state, &room, &lost).await;
}

async fn delete_channel(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, Some(&caller)).await?;
    load_owned(&state, &caller, &id).await?;
    let cid = id.clone();
    state.db.write(move |tx| channels::delete(tx, &cid)).await?;
    live::close_room(&state, &live::channel_room(&id)).await;
    Ok(Json(true))
}

async fn apps_unsupported(VerifiedUser(_c): VerifiedUser) -> ApiError {
    ApiError::NotImplemented("Channel apps are not supported by this server".into())
}

// ------------------------------------------------------------------ messages

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    skip: i64,
    limit: Option<i64>,
}

async fn list_messages(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_with(&state, &caller, &id, "read").await?;
    if !ch.is_membership() {
        // Reading a standard channel makes the reader a member.
        let (cid, uid) = (ch.id.clone(), caller.id().to_string());
        let now = now_nanos();
        state
            .db
            .write(move |tx| channels::join(tx, &cid, &uid, now).map(|_| ()))
            .await?;
    }
    let limit = crate::limits::limit(q.limit.unwrap_or(50));
    let skip = crate::limits::skip(q.skip);
    let out = state
        .db
        .read(move |c| {
            messages::list_top(c, &ch.id, skip, limit)?
                .iter()
                .map(|m| message_listed(c, m, true))
                .collect()
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct PinnedQuery {
    page: Option<i64>,
}

async fn pinned_messages(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<PinnedQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_with(&state, &caller, &id, "read").await?;
    let page = crate::limits::page(q.page.unwrap_or(1));
    let out = state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for m in messages::pinned(c, &ch.id, (page - 1) * PINNED_PAGE, PINNED_PAGE)? {
                let mut v = m.wire();
                v["data"] = summarized(&v["data"], m.app_id.is_some());
                v["user"] = author_of(c, &m)?;
                v["reactions"] = json!(messages::reactions(c, &m.id)?);
                out.push(v);
            }
            Ok(out)
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct MessageForm {
    temp_id: Option<String>,
    content: String,
    reply_to_id: Option<String>,
    parent_id: Option<String>,
    data: Option<Map<String, Value>>,
}

async fn post_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<MessageForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire) = load_with(&state, &caller, &id, "write").await?;
    let uid = caller.id().to_string();
    let now = now_nanos();
    let files: Vec<String> = form
        .data
        .as_ref()
        .and_then(|d| d.get("files"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let cid = ch.id.clone();
    let membership = ch.is_membership();
    let temp_id = form.temp_id.clone();
    let stored = state
        .db
        .write(move |tx| {
            // Threads and quotes stay inside their channel.
            for r in [&form.parent_id, &form.reply_to_id].into_iter().flatten() {
                match messages::get(tx, r)? {
                    Some(m) if m.channel_id.as_deref() == Some(cid.as_str()) => {}
                    _ => return Ok(None),
                }
            }
            channels::join(tx, &cid, &uid, now)?;
            let m = messages::insert(
                tx,
                &NewMessage {
                    user_id: uid,
                    channel_id: cid.clone(),
                    content: form.content,
                    reply_to_id: form.reply_to_id,
                    parent_id: form.parent_id,
                    data: form.data.map(Value::Object),
                    meta: None,
                },
                now,
            )?;
            if membership {
                channels::activate_all(tx, &cid, now)?;
            }
            for f in &files {
                channels::set_file_message(tx, &cid, f, &m.id, db::now_secs())?;
            }
            let full = message_full(tx, &m, true)?;
            let parent = match &m.parent_id {
                Some(p) => match messages::get(tx, p)? {
                    Some(p) => Some(message_full(tx, &p, true)?),
                    None => None,
                },
                None => None,
            };
            Ok(Some((m, full, parent)))
        })
        .await?;
    let Some((m, full, parent)) = stored else {
        return Err(ApiError::bad_request(DEFAULT_ERROR));
    };
    let mut data = Map::new();
    data.insert("temp_id".into(), json!(temp_id));
    if let Value::Object(f) = full {
        data.extend(f);
    }
    let me = name_wire(&caller);
    let ev = event(
        &ch_wire,
        &ch.id,
        &m.id,
        "message",
        Value::Object(data),
        me.clone(),
    );
    live::emit_to_channel(&state, &ch.id, &ev).await;
    if let Some(p) = parent {
        let pid = p["id"].as_str().unwrap_or_default().to_string();
        let ev = event(&ch_wire, &ch.id, &pid, "message:reply", p, me);
        live::emit_to_channel(&state, &ch.id, &ev).await;
    }
    Ok(Json(m.wire()))
}

/// The message of this channel: 404 when missing, 400 when it belongs to
/// another channel.
async fn load_message(
    state: &AppState,
    channel_id: &str,
    message_id: &str,
) -> ApiResult<MessageRow> {
    let mid = message_id.to_string();
    let m = state.db.read(move |c| messages::get(c, &mid)).await?;
    match m {
        None => Err(ApiError::not_found(NOT_FOUND)),
        Some(m) if m.channel_id.as_deref() != Some(channel_id) => {
            Err(ApiError::bad_request(DEFAULT_ERROR))
        }
        Some(m) => Ok(m),
    }
}

async fn get_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    load_with(&state, &caller, &id, "read").await?;
    let m = load_message(&state, &id, &message_id).await?;
    let out = state.db.read(move |c| message_full(c, &m, true)).await?;
    Ok(Json(out))
}

async fn message_data(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    load_with(&state, &caller, &id, "read").await?;
    let m = load_message(&state, &id, &message_id).await?;
    Ok(Json(m.data.unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
struct PinForm {
    is_pinned: bool,
}

async fn pin_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<PinForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire) = load_with(&state, &caller, &id, "write").await?;
    load_message(&state, &id, &message_id).await?;
    let (mid, uid) = (message_id.clone(), caller.id().to_string());
    let now = now_nanos();
    let out = state
        .db
        .write(move |tx| {
            messages::set_pinned(tx, &mid, form.is_pinned, &uid, now)?;
            let m = messages::get(tx, &mid)?.expect("checked above");
            message_listed(tx, &m, true)
        })
        .await?;
    let ev = event(
        &ch_wire,
        &ch.id,
        &message_id,
        "message:update",
        out.clone(),
        name_wire(&caller),
    );
    live::emit_to_channel(&state, &ch.id, &ev).await;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct ThreadQuery {
    #[serde(default)]
    skip: i64,
    limit: Option<i64>,
    around: Option<String>,
    before: Option<String>,
}

async fn thread_messages(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    QueryArgs(q): QueryArgs<ThreadQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_with(&state, &caller, &id, "read").await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let anchor = match (
        q.before.filter(|s| !s.is_empty()),
        q.around.filter(|s| !s.is_empty()),
    ) {
        (Some(b), _) => Anchor::Before(b),
        (None, Some(a)) => Anchor::Around(a),
        _ => Anchor::Skip(crate::limits::skip(q.skip)),
    };
    let out = state
        .db
        .read(move |c| {
            messages::thread(c, &ch.id, &message_id, &anchor, limit)?
                .iter()
                .map(|m| message_listed(c, m, false))
                .collect()
        })
        .await?;
    Ok(Json(out))
}

/// Write access to the channel and authorship of the message (admins aside).
async fn load_own_message(
    state: &AppState,
    caller: &Caller,
    id: &str,
    message_id: &str,
) -> ApiResult<(ChannelRow, Value, MessageRow)> {
    let (ch, w) = load(state, id, |_, _| Ok(())).await?;
    let m = load_message(state, id, message_id).await?;
    let (c2, uid, admin) = (ch.clone(), caller.id().to_string(), caller.is_admin());
    let ok = state
        .db
        .read(move |c| has_access(c, &c2, &uid, admin, "write"))
        .await?;
    if !ok || (!caller.is_admin() && m.user_id.as_deref() != Some(caller.id())) {
        return Err(forbidden());
    }
    Ok((ch, w, m))
}

async fn update_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<MessageForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire, _) = load_own_message(&state, &caller, &id, &message_id).await?;
    let now = now_nanos();
    let mid = message_id.clone();
    let (row, full) = state
        .db
        .write(move |tx| {
            let m = messages::update(tx, &mid, &form.content, form.data.as_ref(), None, now)?
                .expect("checked above");
            let full = message_full(tx, &m, true)?;
            Ok((m, full))
        })
        .await?;
    let ev = event(
        &ch_wire,
        &ch.id,
        &message_id,
        "message:update",
        full,
        name_wire(&caller),
    );
    live::emit_to_channel(&state, &ch.id, &ev).await;
    Ok(Json(row.wire()))
}

#[derive(Deserialize)]
struct ReactionForm {
    name: String,
}

async fn react(
    state: &AppState,
    caller: &Caller,
    id: &str,
    message_id: &str,
    name: String,
    add: bool,
) -> ApiResult<Json<bool>> {
    check_enabled(state, Some(caller)).await?;
    crate::limits::check_name("name", &name)?;
    let (ch, ch_wire) = load_with(state, caller, id, "write").await?;
    load_message(state, id, message_id).await?;
    let (mid, uid, n) = (
        message_id.to_string(),
        caller.id().to_string(),
        name.clone(),
    );
    let now = now_nanos();
    let full = state
        .db
        .write(move |tx| {
            if add {
                messages::add_reaction(tx, &mid, &uid, &n, now)?;
            } else {
                messages::remove_reaction(tx, &mid, &uid, &n)?;
            }
            let m = messages::get(tx, &mid)?.expect("checked above");
            message_full(tx, &m, true)
        })
        .await?;
    let mut data = full;
    data["name"] = json!(name);
    let kind = if add {
        "message:reaction:add"
    } else {
        "message:reaction:remove"
    };
    let ev = event(&ch_wire, &ch.id, message_id, kind, data, name_wire(caller));
    live::emit_to_channel(state, &ch.id, &ev).await;
    Ok(Json(true))
}

async fn add_reaction(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<ReactionForm>,
) -> ApiResult<Json<bool>> {
    react(&state, &caller, &id, &message_id, form.name, true).await
}

async fn remove_reaction(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<ReactionForm>,
) -> ApiResult<Json<bool>> {
    react(&state, &caller, &id, &message_id, form.name, false).await
}

async fn delete_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire, m) = load_own_message(&state, &caller, &id, &message_id).await?;
    let mid = message_id.clone();
    let (full, parent) = state
        .db
        .write(move |tx| {
            let full = message_full(tx, &m, true)?;
            messages::delete_with_replies(tx, &mid)?;
            let parent = match &m.parent_id {
                Some(p) => match messages::get(tx, p)? {
                    Some(p) => Some(message_full(tx, &p, true)?),
                    None => None,
                },
                None => None,
            };
            Ok((full, parent))
        })
        .await?;
    let me = name_wire(&caller);
    let mut data = full;
    data["user"] = me.clone();
    let ev = event(
        &ch_wire,
        &ch.id,
        &message_id,
        "message:delete",
        data,
        me.clone(),
    );
    live::emit_to_channel(&state, &ch.id, &ev).await;
    if let Some(p) = parent {
        let pid = p["id"].as_str().unwrap_or_default().to_string();
        let ev = event(&ch_wire, &ch.id, &pid, "message:reply", p, me);
        live::emit_to_channel(&state, &ch.id, &ev).await;
    }
    Ok(Json(true))
}

// ------------------------------------------------------------------ webhooks

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
struct WebhookForm {
    name: String,
    profile_image_url: Option<String>,
}

fn checked_image_url(url: Option<String>) -> ApiResult<Option<String>> {
    if let Some(u) = &url {
        crate::limits::check_image_url("profile_image_url", u)?;
    }
    Ok(url)
}

async fn list_webhooks(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    load_managed(&state, &caller, &id).await?;
    let hooks = state.db.read(move |c| channels::webhooks(c, &id)).await?;
    Ok(Json(hooks.iter().map(WebhookRow::wire).collect()))
}

async fn create_webhook(
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

async fn update_webhook(
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

async fn delete_webhook(
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
async fn webhook_image(
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
struct WebhookMessage {
    content: String,
}

/// The public incoming-webhook endpoint: the token in the URL is the only
/// credential.
async fn webhook_post(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_summaries() {
        assert_eq!(summarized(&Value::Null, false), json!(false));
        assert_eq!(summarized(&json!({"files": []}), false), json!(false));
        assert_eq!(
            summarized(&json!({"files": [{"id": "f"}]}), false),
            json!(true)
        );
        assert_eq!(
            summarized(&json!({"app": {"embeds": [1], "x": 2}}), false),
            json!({"app": {"embeds": [1]}})
        );
        assert_eq!(summarized(&json!({"a": 1}), true), json!({"a": 1}));
    }
}
