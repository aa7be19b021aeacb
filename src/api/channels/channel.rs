//! The channels themselves: listing, creating (an existing DM is reopened),
//! reading, members, mute and active state, settings, access grants and
//! deletion.

use crate::api::form::SearchQuery;
use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::access::{self, Kind};
use crate::api::chats::DEFAULT_ERROR;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::notes::QueryArgs;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow, NewGrant};
use crate::db::channels::{self, ChannelRow, PeopleFilter};
use crate::db::messages;
use crate::db::{self, now_nanos};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::socket::channels as live;
use crate::state::AppState;

use super::common::{
    channel_wire, check_enabled, forbidden, has_access, load, load_owned, load_with,
};

const MEMBERS_PAGE: i64 = 30;

pub(super) async fn list_channels(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    // The app shell asks for this list on every socket (re)connect and the
    // automations page on load, even when channels are off (the default);
    // upstream refuses with 403 and every browser logs an error for nothing.
    // An empty list says the same without the noise.
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

pub(super) async fn list_all(
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

pub(super) async fn dm_with_user(
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
pub(super) struct ChannelForm {
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

pub(super) async fn create_channel(
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

pub(super) async fn get_channel(
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

pub(super) async fn list_members(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<SearchQuery>,
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
pub(super) struct MuteForm {
    is_channel_muted: bool,
}

pub(super) async fn mute(
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
pub(super) struct ActiveForm {
    is_active: bool,
}

pub(super) async fn set_active(
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
pub(super) struct MembersForm {
    #[serde(default)]
    user_ids: Vec<String>,
    #[serde(default)]
    group_ids: Vec<String>,
}

pub(super) async fn add_members(
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
pub(super) struct RemoveForm {
    #[serde(default)]
    user_ids: Vec<String>,
}

pub(super) async fn remove_members(
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

pub(super) async fn update_channel(
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
pub(super) struct AccessForm {
    access_grants: Vec<Value>,
}

pub(super) async fn update_access(
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

pub(super) async fn delete_channel(
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
