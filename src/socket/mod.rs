//! Socket.IO at `/ws/socket.io`, the way the official frontend expects it.
//!
//! Every connect succeeds; a socket becomes a user's only once a valid session
//! token arrives, in the connect packet or later with `user-join`. Until then
//! it stays anonymous: it has no handler but `user-join`, and a payload above
//! [`ANONYMOUS_MAX_PAYLOAD`] closes it. Users get room `user:<id>` (every tab of
//! theirs), chats they open get `chat:<id>`. When the account changes,
//! `auth::sessions::refresh` closes the sockets that no longer match it.

pub mod channels;
pub mod chat_access;
mod direct;
pub mod notes;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::{ConnectHandler, FromConnectParts, FromMessageParts};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Socket;
use socketioxide::SocketIo;

use crate::auth::session::user_from_jwt;
use crate::auth::sessions::SocketSession;
use crate::db;
use crate::events::{chat_room, user_room};
use crate::state::AppState;

pub use crate::events::SocketUser;

/// Largest message any socket may send (collaborative note updates are the
/// biggest: a Yjs update written as a JSON array of numbers).
pub const MAX_MESSAGE: usize = 8 * 1024 * 1024;
/// Largest payload (connect data or event) of a socket that has not signed in.
pub const ANONYMOUS_MAX_PAYLOAD: usize = 64 * 1024;
/// Largest payload of the small control events handled here
/// (`user-join`, `heartbeat`, `events:chat`).
pub const CONTROL_MAX_PAYLOAD: usize = 256 * 1024;
/// A user's `last_active_at` is written by heartbeats at most this often.
pub const HEARTBEAT_WRITE_EVERY_SECS: i64 = 60;

pub fn layer(state: AppState) -> SocketIoLayer {
    let (layer, io) = SocketIo::builder()
        .req_path("/ws/socket.io")
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(MAX_MESSAGE as u64)
        .ws_max_message_size(MAX_MESSAGE)
        .ws_max_frame_size(MAX_MESSAGE)
        .with_state(state.clone())
        .build_layer();
    io.ns("/", on_connect.with(prepare));
    let _ = state.io.set(io);
    layer
}

fn token_of(v: &Value) -> Option<String> {
    v.get("token")
        .or_else(|| v.get("auth").and_then(|a| a.get("token")))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Binds the socket to the token's user if the token is a valid session of a
/// `user` or `admin`; pending accounts stay anonymous, as upstream. A bound
/// socket gets the handlers of signed-in users.
async fn authenticate(s: &SocketRef, state: &AppState, token: &str) -> Option<SocketUser> {
    let (user, claims) = user_from_jwt(state, token).await?;
    if user.role != "user" && user.role != "admin" {
        return None;
    }
    let su = SocketUser {
        id: user.id.clone(),
        name: user.name.clone(),
        role: user.role.clone(),
    };
    s.extensions.insert(su.clone());
    s.extensions.insert(SocketSession {
        user_id: user.id.clone(),
        role: user.role.clone(),
        stamp: claims.session_stamp,
    });
    register_user_handlers(s);
    s.join(user_room(&user.id));
    Some(su)
}

fn current_user(s: &SocketRef) -> Option<SocketUser> {
    s.extensions.get::<SocketUser>()
}

/// An event's (or connect packet's) data, parsed as JSON only when its raw
/// payload is within the socket's limit: [`ANONYMOUS_MAX_PAYLOAD`] before
/// sign-in, [`CONTROL_MAX_PAYLOAD`] after. `data` is None when it was too
/// large or not JSON; `size` is the raw size either way.
pub struct SmallData {
    pub data: Option<Value>,
    pub size: usize,
}

pub(crate) fn raw_size(v: &socketioxide::handler::Value) -> usize {
    match v {
        socketioxide::handler::Value::Str(text, bins) => {
            text.len() + bins.iter().flatten().map(|b| b.len()).sum::<usize>()
        }
        socketioxide::handler::Value::Bytes(b) => b.len(),
    }
}

fn limit_for<A: Adapter>(s: &Socket<A>) -> usize {
    if s.extensions.get::<SocketUser>().is_some() {
        CONTROL_MAX_PAYLOAD
    } else {
        ANONYMOUS_MAX_PAYLOAD
    }
}

impl<A: Adapter> FromMessageParts<A> for SmallData {
    type Error = Infallible;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut socketioxide::handler::Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let size = raw_size(v);
        if size > limit_for(s) {
            return Ok(SmallData { data: None, size });
        }
        let TryData(data) = TryData::<Value>::from_message_parts(s, v, ack)?;
        Ok(SmallData {
            data: data.ok(),
            size,
        })
    }
}

impl<A: Adapter> FromConnectParts<A> for SmallData {
    type Error = Infallible;
    fn from_connect_parts(
        s: &Arc<Socket<A>>,
        auth: &Option<socketioxide::handler::Value>,
    ) -> Result<Self, Infallible> {
        let size = auth.as_ref().map(raw_size).unwrap_or(0);
        if size > ANONYMOUS_MAX_PAYLOAD {
            return Ok(SmallData { data: None, size });
        }
        let TryData(data) = TryData::<Value>::from_connect_parts(s, auth)?;
        Ok(SmallData {
            data: data.ok(),
            size,
        })
    }
}

/// Closes an anonymous socket that sent more than it may; true when closed.
fn drop_oversized_anonymous(s: &SocketRef, size: usize) -> bool {
    if current_user(s).is_some() || size <= ANONYMOUS_MAX_PAYLOAD {
        return false;
    }
    tracing::debug!(sid = %s.id, size, "closing an anonymous socket that sent a large payload");
    let _ = s.clone().disconnect();
    true
}

/// The connect payload of a socket that has not signed in is too big.
#[derive(Debug)]
pub struct ConnectTooLarge;

impl std::fmt::Display for ConnectTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connect payload too large")
    }
}

/// Runs as connect middleware, which socketioxide awaits before it answers the
/// CONNECT packet: the handlers exist and the token is checked before the
/// client's first emit (the frontend sends `user-join` right after connecting).
async fn prepare(
    s: SocketRef,
    State(state): State<AppState>,
    SmallData { data: auth, size }: SmallData,
) -> Result<(), ConnectTooLarge> {
    if size > ANONYMOUS_MAX_PAYLOAD {
        return Err(ConnectTooLarge);
    }
    s.on("user-join", on_user_join);
    s.on_fallback(on_unhandled);
    if let Some(token) = auth.as_ref().and_then(token_of) {
        authenticate(&s, &state, &token).await;
    }
    Ok(())
}

/// The handlers only a signed-in socket gets (registering twice replaces them).
fn register_user_handlers(s: &SocketRef) {
    s.on("heartbeat", on_heartbeat);
    s.on("events:chat", on_chat_event);
    notes::register(s);
    channels::register(s);
}

/// Every connect succeeds; `prepare` did the work.
async fn on_connect() {}

/// Events nobody handles (every event of an anonymous socket but `user-join`)
/// are dropped; a large one closes an anonymous socket. A small
/// `join-channels` of an anonymous socket carries its own token (it can
/// overtake the `user-join` that would have bound the socket): it signs the
/// socket in and joins the channels, as its own handler would have.
async fn on_unhandled(
    _forwarded: direct::Forwarded,
    s: SocketRef,
    State(state): State<AppState>,
    Event(event): Event,
    SmallData { data, size }: SmallData,
) {
    if drop_oversized_anonymous(&s, size) || current_user(&s).is_some() {
        return;
    }
    if event != "join-channels" {
        return;
    }
    let Some(token) = data.as_ref().and_then(token_of) else {
        return;
    };
    if let Some(u) = authenticate(&s, &state, &token).await {
        channels::join_user_channels(&s, &state, &u).await;
    }
}

async fn on_user_join(
    s: SocketRef,
    ack: AckSender,
    State(state): State<AppState>,
    SmallData { data, size }: SmallData,
) {
    if drop_oversized_anonymous(&s, size) {
        return;
    }
    let Some(token) = data.as_ref().and_then(token_of) else {
        return;
    };
    if let Some(u) = authenticate(&s, &state, &token).await {
        channels::join_user_channels(&s, &state, &u).await;
        let _ = ack.send(&json!({"id": u.id, "name": u.name}));
    }
}

/// When each user's `last_active_at` was last written by a heartbeat.
static HEARTBEAT_WRITES: LazyLock<Mutex<HashMap<String, i64>>> = LazyLock::new(Default::default);
/// Above this many users the map forgets the entries that no longer throttle.
const HEARTBEAT_MAP_MAX: usize = 50_000;

/// Whether a heartbeat of `user_id` at `now` should be written; records it if so.
fn heartbeat_due(user_id: &str, now: i64) -> bool {
    let mut map = HEARTBEAT_WRITES.lock().unwrap_or_else(|p| p.into_inner());
    if map
        .get(user_id)
        .is_some_and(|t| now - t < HEARTBEAT_WRITE_EVERY_SECS)
    {
        return false;
    }
    if map.len() >= HEARTBEAT_MAP_MAX {
        map.retain(|_, t| now - *t < HEARTBEAT_WRITE_EVERY_SECS);
        if map.len() >= HEARTBEAT_MAP_MAX {
            // Every entry is recent: forgetting them costs at most one extra write each.
            map.clear();
        }
    }
    map.insert(user_id.to_string(), now);
    true
}

async fn on_heartbeat(s: SocketRef, State(state): State<AppState>) {
    let Some(u) = current_user(&s) else { return };
    let now = db::now_secs();
    if !heartbeat_due(&u.id, now) {
        return;
    }
    let _ = state
        .db
        .write(move |tx| db::users::touch_last_active(tx, &u.id, now))
        .await;
}

/// Members of a chat room, for `chat:presence`.
async fn presence(io: &SocketIo, chat_id: &str) -> Vec<Value> {
    let sockets = io
        .to(chat_room(chat_id))
        .fetch_sockets()
        .await
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut users = Vec::new();
    for rs in sockets {
        let Some(sock) = io.get_socket(rs.data().id) else {
            continue;
        };
        if let Some(u) = sock.extensions.get::<SocketUser>() {
            if seen.insert(u.id.clone()) {
                users.push(json!({"id": u.id, "name": u.name}));
            }
        }
    }
    users
}

/// Tells a shared chat's room who is in it now.
pub(crate) async fn announce_presence(io: &SocketIo, chat_id: &str) {
    let users = presence(io, chat_id).await;
    let _ = io
        .to(chat_room(chat_id))
        .emit(
            "events",
            &json!({"chat_id": chat_id, "shared": true, "data": {"type": "chat:presence", "data": {"users": users}}}),
        )
        .await;
}

async fn on_chat_event(
    s: SocketRef,
    ack: AckSender,
    State(state): State<AppState>,
    SmallData { data, .. }: SmallData,
) {
    let Some(user) = current_user(&s) else { return };
    let Some(data) = data else { return };
    let Some(chat_id) = data
        .get("chat_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let kind = data
        .pointer("/data/type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let cid = chat_id.clone();
    let owner = state
        .db
        .read(move |c| db::chats::owner_and_folder(c, &cid))
        .await
        .ok()
        .flatten();
    let Some((owner_id, folder_id)) = owner else {
        let _ = ack.send(&false);
        return;
    };
    let allowed = owner_id == user.id || {
        let viewer = crate::chat::access::Viewer {
            id: user.id.clone(),
            admin: user.role == "admin",
            admin_chat_access: state.settings.env_flags.enable_admin_chat_access,
        };
        let cid = chat_id.clone();
        state
            .db
            .read(move |c| crate::chat::access::load_accessible(c, &viewer, &cid, false))
            .await
            .ok()
            .flatten()
            .is_some()
    };
    let Some(io) = state.io() else { return };
    match kind.as_str() {
        "join" => {
            if !allowed {
                let _ = ack.send(&false);
                return;
            }
            s.join(chat_room(&chat_id));
            if owner_id == user.id {
                for ev in crate::chat::live::catch_up_events(&state, &chat_id) {
                    let _ = s.emit("events", &ev);
                }
            }
            announce_presence(io, &chat_id).await;
            let _ = ack.send(&true);
        }
        "leave" => {
            s.leave(chat_room(&chat_id));
            announce_presence(io, &chat_id).await;
            let _ = ack.send(&true);
        }
        "typing" => {
            if !allowed {
                return;
            }
            let payload = json!({
                "chat_id": chat_id,
                "user_id": user.id,
                "shared": true,
                "data": {"type": "typing", "data": data.pointer("/data/data").cloned().unwrap_or(Value::Null)},
            });
            let _ = s.to(chat_room(&chat_id)).emit("events", &payload).await;
        }
        "last_read_at" => {
            if owner_id != user.id {
                return;
            }
            let now = db::now_secs();
            let (cid, uid) = (chat_id.clone(), user.id.clone());
            if state
                .db
                .write(move |tx| db::chats::set_last_read_at(tx, &cid, &uid, now))
                .await
                .is_err()
            {
                return;
            }
            let mut inner = json!({"chat_id": chat_id, "last_read_at": now});
            if let Some(fid) = folder_id {
                let uid = user.id.clone();
                let counts = state
                    .db
                    .read(move |c| db::folders::list(c, &uid))
                    .await
                    .unwrap_or_default();
                let n = counts
                    .iter()
                    .find(|f| f.id == fid)
                    .map(|f| f.unread_count)
                    .unwrap_or(0);
                inner["folder_unread_counts"] = json!({ fid: n });
            }
            let _ = io
                .to(user_room(&user.id))
                .emit(
                    "events",
                    &json!({"chat_id": chat_id, "data": {"type": "chat:list", "data": inner}}),
                )
                .await;
            crate::chat::timers::cancel_for_chat(&state, &chat_id, "chat.read", &user.id).await;
        }
        _ => {}
    }
}
