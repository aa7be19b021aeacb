//! Channel rooms (`channel:<id>`) and the `events:channel` socket events.
//!
//! A signed-in socket joins the rooms of all its user's channels on
//! `user-join` (and again on `join-channels`), provided the user may use
//! channels. Typing notices are relayed to the room; `last_read_at` marks the
//! channel read for the sender.

use std::collections::HashSet;

use serde_json::{json, Value};
use socketioxide::extract::{SocketRef, State, TryData};

use super::SocketUser;
use crate::auth::permissions;
use crate::db::{self, access_grants, channels};
use crate::events::user_room;
use crate::state::AppState;

pub use crate::events::channel_room;

pub fn register(s: &SocketRef) {
    s.on("join-channels", on_join_channels);
    s.on("events:channel", on_channel_event);
}

/// Channels on, and the user an admin or holding `features.channels`.
async fn may_use_channels(state: &AppState, user_id: &str, role: &str) -> bool {
    if role == "admin" {
        return true;
    }
    match permissions::effective(state, user_id).await {
        Ok(p) => permissions::allows(&p, "features.channels"),
        Err(_) => false,
    }
}

/// Puts the socket into the room of every channel of the user.
pub async fn join_user_channels(s: &SocketRef, state: &AppState, user: &SocketUser) {
    if !may_use_channels(state, &user.id, &user.role).await {
        return;
    }
    let uid = user.id.clone();
    let list = state
        .db
        .read(move |c| {
            let groups = access_grants::group_ids_of(c, &uid)?;
            channels::for_user(c, &uid, &groups)
        })
        .await
        .unwrap_or_default();
    for ch in list {
        s.join(channel_room(&ch.id));
    }
}

async fn on_join_channels(
    s: SocketRef,
    State(state): State<AppState>,
    TryData(data): TryData<Value>,
) {
    let Ok(data) = data else { return };
    let Some(token) = data.pointer("/auth/token").and_then(Value::as_str) else {
        return;
    };
    let Some((u, _)) = crate::auth::session::user_from_jwt(&state, token).await else {
        return;
    };
    if u.role != "user" && u.role != "admin" {
        return;
    }
    let user = SocketUser {
        id: u.id,
        name: u.name,
        role: u.role,
    };
    join_user_channels(&s, &state, &user).await;
}

async fn on_channel_event(
    s: SocketRef,
    State(state): State<AppState>,
    TryData(data): TryData<Value>,
) {
    let Ok(data) = data else { return };
    let Some(channel_id) = data.get("channel_id").and_then(Value::as_str) else {
        return;
    };
    let room = channel_room(channel_id);
    if !s.rooms().iter().any(|r| *r == room) {
        return;
    }
    let Some(user) = s.extensions.get::<SocketUser>() else {
        return;
    };
    let event = data.get("data").cloned().unwrap_or(Value::Null);
    match event.get("type").and_then(Value::as_str) {
        Some("typing") => {
            let payload = json!({
                "channel_id": channel_id,
                "message_id": data.get("message_id").cloned().unwrap_or(Value::Null),
                "data": event,
                "user": {"id": user.id, "name": user.name, "role": user.role},
            });
            let _ = s.within(room).emit("events:channel", &payload).await;
        }
        Some("last_read_at") => {
            let (cid, uid) = (channel_id.to_string(), user.id.clone());
            let now = db::now_nanos();
            let _ = state
                .db
                .write(move |tx| channels::set_last_read(tx, &cid, &uid, now))
                .await;
        }
        _ => {}
    }
}

/// Sends an event to every tab of each user.
pub async fn emit_to_users(state: &AppState, event: &str, data: &Value, user_ids: &[String]) {
    let Some(io) = state.io() else { return };
    let rooms: Vec<String> = user_ids.iter().map(|u| user_room(u)).collect();
    if rooms.is_empty() {
        return;
    }
    let _ = io.to(rooms).emit(event, data).await;
}

/// Makes every socket of these users (who may use channels) join `room`.
pub async fn enter_room_for_users(state: &AppState, room: &str, user_ids: &[String]) {
    let Some(io) = state.io() else { return };
    let ids: Vec<String> = user_ids.to_vec();
    let people = state
        .db
        .read(move |c| channels::people(c, &ids))
        .await
        .unwrap_or_default();
    for p in people {
        if !may_use_channels(state, &p.id, &p.role).await {
            continue;
        }
        for sock in io.to(user_room(&p.id)).sockets() {
            sock.join(room.to_string());
        }
    }
}

/// Makes every socket of these users leave `room`.
pub async fn leave_room_for_users(state: &AppState, room: &str, user_ids: &[String]) {
    let Some(io) = state.io() else { return };
    let wanted: HashSet<&String> = user_ids.iter().collect();
    for sock in io.to(room.to_string()).sockets() {
        if let Some(u) = sock.extensions.get::<SocketUser>() {
            if wanted.contains(&u.id) {
                sock.leave(room.to_string());
            }
        }
    }
}

/// Empties a room (the channel is gone).
pub async fn close_room(state: &AppState, room: &str) {
    let Some(io) = state.io() else { return };
    for sock in io.to(room.to_string()).sockets() {
        sock.leave(room.to_string());
    }
}

/// Sends an event to the channel's room.
pub async fn emit_to_channel(state: &AppState, channel_id: &str, data: &Value) {
    crate::events::to_channel(state, channel_id, data).await;
}

/// Whether a room exists with this socket in it, for tests and checks.
pub fn users_in_room(state: &AppState, room: &str) -> HashSet<String> {
    let Some(io) = state.io() else {
        return HashSet::new();
    };
    io.to(room.to_string())
        .sockets()
        .into_iter()
        .filter_map(|s| s.extensions.get::<SocketUser>().map(|u| u.id))
        .collect()
}
