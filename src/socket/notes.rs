//! Collaborative note editing over Socket.IO with Yjs (the `yrs` crate).
//!
//! Every open document keeps one in-memory Y doc holding the updates the
//! editors sent; a joining tab receives it whole (`ydoc:document:state`),
//! later updates are relayed to the room `doc_<document_id>`. The note row
//! itself stores what the editors report as content (`data.content` with
//! `json`, `html`, `md`), saved half a second after the last edit. When the
//! last editor leaves (and no save is pending) the Y doc is dropped; the next
//! editor then seeds it again from the stored content.
//!
//! Only `note:<id>` documents exist; `note_<id>` is read as the same id.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::socket::Sid;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use super::SocketUser;
use crate::auth::permissions;
use crate::db::{self, notes, notes::NoteRow};
use crate::notes::{check_files, may};
use crate::state::AppState;

/// A session may have this many documents open at once.
const MAX_DOCUMENTS_PER_SESSION: usize = 20;
/// Upper bound for the updates of one document.
const MAX_DOCUMENT_SIZE: usize = 2 * 1024 * 1024;
const SAVE_DELAY: Duration = Duration::from_millis(500);

pub use crate::notes::room as note_room;

pub fn doc_room(document_id: &str) -> String {
    format!("doc_{document_id}")
}

struct Document {
    doc: Doc,
    sessions: HashSet<Sid>,
    updates: usize,
    bytes: usize,
    save: Option<tokio::task::JoinHandle<()>>,
}

impl Document {
    fn new() -> Self {
        Document {
            doc: Doc::new(),
            sessions: HashSet::new(),
            updates: 0,
            bytes: 0,
            save: None,
        }
    }

    fn state(&self) -> Vec<u8> {
        self.doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn idle(&self) -> bool {
        self.sessions.is_empty() && self.save.as_ref().is_none_or(|h| h.is_finished())
    }
}

static DOCS: LazyLock<Mutex<HashMap<String, Document>>> = LazyLock::new(Default::default);

fn docs() -> std::sync::MutexGuard<'static, HashMap<String, Document>> {
    DOCS.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn register(s: &SocketRef) {
    s.on(
        "join-note",
        |s: SocketRef, ack: AckSender, st: State<AppState>, d: TryData<Value>| async move {
            on_join_note(s, st, d).await;
            acknowledge(ack);
        },
    );
    s.on(
        "ydoc:document:join",
        |s: SocketRef, ack: AckSender, st: State<AppState>, d: TryData<Value>| async move {
            on_join(s, st, d).await;
            acknowledge(ack);
        },
    );
    s.on(
        "ydoc:document:state",
        |s: SocketRef, ack: AckSender, d: TryData<Value>| async move {
            on_state(s, d).await;
            acknowledge(ack);
        },
    );
    s.on("ydoc:document:update", on_update);
    s.on(
        "ydoc:document:leave",
        |s: SocketRef, ack: AckSender, d: TryData<Value>| async move {
            on_leave(s, d).await;
            acknowledge(ack);
        },
    );
    s.on(
        "ydoc:awareness:update",
        |s: SocketRef, ack: AckSender, d: TryData<Value>| async move {
            on_awareness(s, d).await;
            acknowledge(ack);
        },
    );
}

/// Answers a client that asked for an acknowledgement once the event is
/// handled, with no value (as the reference server does for handlers that
/// return nothing), so `emitWithAck`-style callers do not wait forever.
fn acknowledge(ack: AckSender) {
    let _ = ack.send(&());
}

fn normalize(id: &str) -> String {
    match id.strip_prefix("note_") {
        Some(rest) => format!("note:{rest}"),
        None => id.to_string(),
    }
}

fn document_id(data: &Value) -> Option<String> {
    data.get("document_id")
        .and_then(Value::as_str)
        .map(normalize)
}

fn in_room(s: &SocketRef, room: &str) -> bool {
    s.rooms().iter().any(|r| r == room)
}

/// Drops sessions that are gone (a closed tab never says `leave`) and
/// documents nobody uses any more.
fn prune(state: &AppState, map: &mut HashMap<String, Document>) {
    if let Some(io) = state.io() {
        for d in map.values_mut() {
            d.sessions.retain(|sid| io.get_socket(*sid).is_some());
        }
    }
    map.retain(|_, d| !d.idle());
}

/// The note behind a document id, if the user may `permission` it (and may
/// use notes at all).
async fn note_for(
    state: &AppState,
    user: &SocketUser,
    document_id: &str,
    permission: &'static str,
) -> Option<NoteRow> {
    let note_id = document_id.strip_prefix("note:")?.to_string();
    let admin = user.role == "admin";
    if !admin {
        let perms = permissions::effective(state, &user.id).await.ok()?;
        if !permissions::allows(&perms, "features.notes") {
            return None;
        }
    }
    let uid = user.id.clone();
    state
        .db
        .read(move |c| {
            let Some(n) = notes::get(c, &note_id)? else {
                return Ok(None);
            };
            Ok(may(c, &uid, admin, &n, permission)?.then_some(n))
        })
        .await
        .ok()
        .flatten()
}

async fn on_join_note(s: SocketRef, State(state): State<AppState>, TryData(data): TryData<Value>) {
    let Ok(data) = data else { return };
    let token = data
        .pointer("/auth/token")
        .and_then(Value::as_str)
        .map(str::to_string);
    let user = match token {
        Some(t) => match crate::auth::session::user_from_jwt(&state, &t).await {
            Some((u, _)) if u.role == "user" || u.role == "admin" => SocketUser {
                id: u.id,
                name: u.name,
                role: u.role,
            },
            _ => return,
        },
        None => match s.extensions.get::<SocketUser>() {
            Some(u) => u,
            None => return,
        },
    };
    let Some(note_id) = data.get("note_id").and_then(Value::as_str) else {
        return;
    };
    if note_for(&state, &user, &format!("note:{note_id}"), "read")
        .await
        .is_some()
    {
        s.join(note_room(note_id));
    }
}

async fn on_join(s: SocketRef, State(state): State<AppState>, TryData(data): TryData<Value>) {
    let Some(user) = s.extensions.get::<SocketUser>() else {
        return;
    };
    let Ok(data) = data else { return };
    let Some(doc_id) = document_id(&data) else {
        return;
    };
    let Some(note) = note_for(&state, &user, &doc_id, "read").await else {
        return;
    };
    let full = {
        let mut map = docs();
        prune(&state, &mut map);
        let open = map.values().filter(|d| d.sessions.contains(&s.id)).count();
        let already = map.get(&doc_id).is_some_and(|d| d.sessions.contains(&s.id));
        if !already && open >= MAX_DOCUMENTS_PER_SESSION {
            tracing::warn!(sid = %s.id, "session is at the open-document limit");
            return;
        }
        let d = map.entry(doc_id.clone()).or_insert_with(Document::new);
        d.sessions.insert(s.id);
        d.state()
    };
    let room = doc_room(&doc_id);
    s.join(room.clone());
    let content = note.data.get("content").cloned().unwrap_or(Value::Null);
    let _ = s.emit(
        "ydoc:document:state",
        &json!({"document_id": doc_id, "state": full, "content": content}),
    );
    let joined = json!({
        "document_id": doc_id,
        "user_id": data.get("user_id").cloned().unwrap_or_else(|| json!(s.id.to_string())),
        "user_name": data.get("user_name").cloned().unwrap_or_else(|| json!("Anonymous")),
        "user_color": data.get("user_color").cloned().unwrap_or_else(|| json!("#000000")),
    });
    let _ = s.to(room).emit("ydoc:user:joined", &joined).await;
}

async fn on_state(s: SocketRef, TryData(data): TryData<Value>) {
    if s.extensions.get::<SocketUser>().is_none() {
        return;
    }
    let Ok(data) = data else { return };
    let Some(doc_id) = document_id(&data) else {
        return;
    };
    if !in_room(&s, &doc_room(&doc_id)) {
        return;
    }
    let found = {
        let map = docs();
        map.get(&doc_id).map(|d| {
            let sessions: Vec<String> = d.sessions.iter().map(Sid::to_string).collect();
            (d.state(), sessions)
        })
    };
    let Some((full, sessions)) = found else {
        return;
    };
    let _ = s.emit(
        "ydoc:document:state",
        &json!({"document_id": doc_id, "state": full, "sessions": sessions}),
    );
}

/// The bytes of a JSON array of numbers 0–255.
fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    v.as_array()?
        .iter()
        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect()
}

/// Applies an update to the document; false when it is not a valid Yjs
/// update or the document would grow past its limit.
fn store_update(doc_id: &str, bytes: &[u8]) -> bool {
    let Ok(update) = Update::decode_v1(bytes) else {
        return false;
    };
    let mut map = docs();
    let d = map.entry(doc_id.to_string()).or_insert_with(Document::new);
    if d.bytes + bytes.len() > MAX_DOCUMENT_SIZE {
        return false;
    }
    let applied = d.doc.transact_mut().apply_update(update);
    if applied.is_err() {
        return false;
    }
    d.bytes += bytes.len();
    d.updates += 1;
    true
}

async fn on_update(s: SocketRef, ack: AckSender, st: State<AppState>, data: TryData<Value>) {
    match apply_update(s, st, data).await {
        Some(answer) => {
            let _ = ack.send(&answer);
        }
        None => acknowledge(ack),
    }
}

/// Handles one editor update; what it returns is the acknowledgement an
/// initialising tab waits for (the document's state), `None` otherwise.
async fn apply_update(
    s: SocketRef,
    State(state): State<AppState>,
    TryData(data): TryData<Value>,
) -> Option<Value> {
    let Ok(data) = data else { return None };
    let doc_id = document_id(&data)?;
    let room = doc_room(&doc_id);
    if !in_room(&s, &room) {
        return None;
    }
    let user = s.extensions.get::<SocketUser>()?;
    let Some(note) = note_for(&state, &user, &doc_id, "write").await else {
        tracing::debug!(user = %user.id, doc = %doc_id, "update without write access");
        return None;
    };
    let snapshot = data.get("data").filter(|d| match d {
        Value::Object(m) => !m.is_empty(),
        Value::Null => false,
        _ => true,
    });
    if let Some(files) = snapshot.and_then(|d| d.get("files")) {
        if check_files(&state, &user.id, user.role == "admin", &note, files)
            .await
            .is_err()
        {
            let _ = s.emit(
                "error",
                &json!({"message": "Cannot attach files you cannot access"}),
            );
            return None;
        }
    }
    let initialize = data
        .get("initialize")
        .is_some_and(|v| v.as_bool().unwrap_or(!v.is_null()));
    if initialize {
        // The first tab to seed a document wins; the others get its state.
        let existing = {
            let map = docs();
            map.get(&doc_id)
                .filter(|d| d.updates > 0)
                .map(Document::state)
        };
        if let Some(full) = existing {
            return Some(json!(full));
        }
    }
    let update = data.get("update").filter(|u| match u {
        Value::Array(a) => !a.is_empty(),
        _ => false,
    });
    let mut answer = None;
    if let Some(update) = update {
        let stored = bytes_of(update).is_some_and(|b| store_update(&doc_id, &b));
        if stored {
            let payload = json!({
                "document_id": doc_id,
                "user_id": data.get("user_id").cloned().unwrap_or_else(|| json!(s.id.to_string())),
                "update": update,
                "socket_id": s.id.to_string(),
            });
            let _ = s.to(room).emit("ydoc:document:update", &payload).await;
        } else {
            tracing::warn!(doc = %doc_id, "rejected an invalid or oversized update");
        }
        if initialize {
            answer = Some(if stored { update.clone() } else { Value::Null });
        }
    }
    if let Some(snapshot) = snapshot {
        schedule_save(&state, &doc_id, &note.id, snapshot.clone(), user);
    }
    answer
}

/// Saves the reported content after a quiet half second; a newer snapshot
/// replaces a pending one.
fn schedule_save(state: &AppState, doc_id: &str, note_id: &str, data: Value, user: SocketUser) {
    let Value::Object(data) = data else { return };
    let (st, did, nid) = (state.clone(), doc_id.to_string(), note_id.to_string());
    let mut map = docs();
    let d = map.entry(doc_id.to_string()).or_insert_with(Document::new);
    if let Some(h) = d.save.take() {
        h.abort();
    }
    d.save = Some(tokio::spawn(async move {
        tokio::time::sleep(SAVE_DELAY).await;
        if let Err(e) = save(&st, &nid, data, &user).await {
            tracing::warn!(error = %e, note = %nid, "saving a note from the editor failed");
        }
        let mut map = docs();
        if let Some(d) = map.get_mut(&did) {
            d.save = None;
            if d.sessions.is_empty() {
                map.remove(&did);
            }
        }
    }));
}

async fn save(
    state: &AppState,
    note_id: &str,
    data: Map<String, Value>,
    user: &SocketUser,
) -> anyhow::Result<()> {
    let (nid, uid, admin) = (note_id.to_string(), user.id.clone(), user.role == "admin");
    let now = db::now_nanos();
    state
        .db
        .write(move |tx| {
            let Some(n) = notes::get(tx, &nid)? else {
                return Ok(());
            };
            if !may(tx, &uid, admin, &n, "write")? {
                return Ok(());
            }
            let upd = notes::NoteUpdate {
                data: Some(data),
                ..Default::default()
            };
            notes::update(tx, &nid, &upd, now)?;
            Ok(())
        })
        .await
}

async fn on_leave(s: SocketRef, TryData(data): TryData<Value>) {
    let Some(user) = s.extensions.get::<SocketUser>() else {
        return;
    };
    let Ok(data) = data else { return };
    let Some(doc_id) = document_id(&data) else {
        return;
    };
    {
        let mut map = docs();
        if let Some(d) = map.get_mut(&doc_id) {
            d.sessions.remove(&s.id);
            if d.idle() {
                map.remove(&doc_id);
            }
        }
    }
    let room = doc_room(&doc_id);
    s.leave(room.clone());
    let _ = s
        .within(room)
        .emit(
            "ydoc:user:left",
            &json!({"document_id": doc_id, "user_id": user.id}),
        )
        .await;
}

async fn on_awareness(s: SocketRef, TryData(data): TryData<Value>) {
    let Some(user) = s.extensions.get::<SocketUser>() else {
        return;
    };
    let Ok(data) = data else { return };
    let Some(doc_id) = document_id(&data) else {
        return;
    };
    let room = doc_room(&doc_id);
    if !in_room(&s, &room) {
        return;
    }
    let payload = json!({
        "document_id": doc_id,
        "user_id": user.id,
        "update": data.get("update").cloned().unwrap_or(Value::Null),
    });
    let _ = s.to(room).emit("ydoc:awareness:update", &payload).await;
}

/// After a sharing change: sockets whose user lost read access leave the
/// note's rooms (the owner and admins keep it).
pub async fn evict_without_access(state: &AppState, note: &NoteRow) {
    let Some(io) = state.io() else { return };
    let doc_id = format!("note:{}", note.id);
    let rooms = [note_room(&note.id), doc_room(&doc_id)];
    let mut checked: HashMap<String, bool> = HashMap::new();
    for sock in io.to(rooms.clone()).sockets() {
        let Some(u) = sock.extensions.get::<SocketUser>() else {
            sock.leave(rooms.clone());
            continue;
        };
        let keep = match checked.get(&u.id) {
            Some(k) => *k,
            None => {
                let (uid, admin, n) = (u.id.clone(), u.role == "admin", note.clone());
                let k = state
                    .db
                    .read(move |c| may(c, &uid, admin, &n, "read"))
                    .await
                    .unwrap_or(false);
                checked.insert(u.id.clone(), k);
                k
            }
        };
        if !keep {
            sock.leave(rooms.clone());
            if let Some(d) = docs().get_mut(&doc_id) {
                d.sessions.remove(&sock.id);
            }
        }
    }
}

/// After a delete: everybody leaves the note's rooms and its Y doc goes.
pub async fn close_note(state: &AppState, note_id: &str) {
    let doc_id = format!("note:{note_id}");
    if let Some(d) = docs().remove(&doc_id) {
        if let Some(h) = d.save {
            h.abort();
        }
    }
    if let Some(io) = state.io() {
        let rooms = [note_room(note_id), doc_room(&doc_id)];
        for sock in io.to(rooms.clone()).sockets() {
            sock.leave(rooms.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{GetString, Text};

    #[test]
    fn ids_and_bytes() {
        assert_eq!(normalize("note_abc"), "note:abc");
        assert_eq!(normalize("note:abc"), "note:abc");
        assert_eq!(bytes_of(&json!([0, 255])), Some(vec![0, 255]));
        assert_eq!(bytes_of(&json!([256])), None);
        assert_eq!(bytes_of(&json!("x")), None);
    }

    #[test]
    fn updates_merge_into_one_state() {
        let a = Doc::new();
        let text = a.get_or_insert_text("t");
        text.insert(&mut a.transact_mut(), 0, "hello");
        let u1 = a
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert!(store_update("unit:doc", &u1));
        assert!(!store_update("unit:doc", &[1, 2, 3]));
        let full = docs().get("unit:doc").unwrap().state();
        let b = Doc::new();
        b.transact_mut()
            .apply_update(Update::decode_v1(&full).unwrap())
            .unwrap();
        let t = b.get_or_insert_text("t");
        assert_eq!(t.get_string(&b.transact()), "hello");
        docs().remove("unit:doc");
        assert_eq!(Document::new().state(), vec![0, 0]);
    }
}
