//! Socket.IO at /ws/socket.io with a real Socket.IO client.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::socketio::{self, Seen};
use common::TestServer;
use futures::FutureExt;
use rust_socketio::asynchronous::{Client as SioClient, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::{json, Value};

async fn connect(base: &str, auth: Option<Value>, seen: Seen) -> SioClient {
    connect_watched(base, auth, seen, Arc::default()).await
}

/// Like `connect`; `closed` turns true when the server closes the socket.
async fn connect_watched(
    base: &str,
    auth: Option<Value>,
    seen: Seen,
    closed: Arc<AtomicBool>,
) -> SioClient {
    let record = move |_: &'static str, values: Vec<Value>| seen.lock().unwrap().extend(values);
    socketio::connect(base, auth, &["events"], record, closed).await
}

async fn ack_within(client: &SioClient, event: &str, data: Value, wait: Duration) -> Option<Value> {
    let (tx, rx) = tokio::sync::oneshot::channel::<Value>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    client
        .emit_with_ack(
            event,
            data,
            Duration::from_secs(5),
            move |p: Payload, _c: SioClient| {
                let tx = tx.clone();
                async move {
                    if let Payload::Text(v) = p {
                        if let Some(tx) = tx.lock().unwrap().take() {
                            // The client hands over the ack's argument list as one array.
                            let first = match v.into_iter().next() {
                                Some(Value::Array(args)) => {
                                    args.into_iter().next().unwrap_or(Value::Null)
                                }
                                other => other.unwrap_or(Value::Null),
                            };
                            let _ = tx.send(first);
                        }
                    }
                }
                .boxed()
            },
        )
        .await
        .unwrap();
    tokio::time::timeout(wait, rx)
        .await
        .ok()
        .and_then(Result::ok)
}

async fn ack(client: &SioClient, event: &str, data: Value) -> Option<Value> {
    ack_within(client, event, data, Duration::from_secs(5)).await
}

/// For acks that must not come: a second is plenty on loopback.
async fn no_ack(client: &SioClient, event: &str, data: Value) -> Option<Value> {
    ack_within(client, event, data, Duration::from_secs(1)).await
}

fn insert_chat(srv: &TestServer, chat_id: &str, user_id: &str) {
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    db.execute(
        "INSERT INTO chat (id, user_id, title, created_at, updated_at, archived, chat, pinned, meta) \
         VALUES (?1, ?2, 'T', 1, 2, 0, '{}', 0, '{}')",
        [chat_id, user_id],
    )
    .unwrap();
}

#[tokio::test]
async fn user_join_rooms_presence_and_isolation() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let signup = c.signup("Admin", "admin@example.com", "pw").await.body;
    let (token, uid) = (
        signup["token"].as_str().unwrap().to_string(),
        signup["id"].as_str().unwrap().to_string(),
    );
    insert_chat(&srv, "chat-1", &uid);
    // The frontend's path, not the client's default /socket.io/.
    let url = format!("{}/ws/socket.io/", srv.base);
    let seen_user: Seen = Arc::default();
    let user_sock = connect(&url, Some(json!({"token": token})), seen_user.clone()).await;
    let seen_anon: Seen = Arc::default();
    let anon_sock = connect(&url, None, seen_anon.clone()).await;

    let joined = ack(&user_sock, "user-join", json!({"auth": {"token": token}})).await;
    assert_eq!(joined, Some(json!({"id": uid, "name": "Admin"})));

    // An anonymous socket's user-join with a bad token gets no ack and no rooms.
    let refused = no_ack(&anon_sock, "user-join", json!({"auth": {"token": "bogus"}})).await;
    assert_eq!(refused, None);

    let ok = ack(
        &user_sock,
        "events:chat",
        json!({"chat_id": "chat-1", "data": {"type": "join"}}),
    )
    .await;
    assert_eq!(ok, Some(json!(true)));
    let denied = no_ack(
        &anon_sock,
        "events:chat",
        json!({"chat_id": "chat-1", "data": {"type": "join"}}),
    )
    .await;
    assert_eq!(denied, None, "anonymous sockets are ignored");

    user_sock
        .emit(
            "events:chat",
            json!({"chat_id": "chat-1", "data": {"type": "last_read_at"}}),
        )
        .await
        .unwrap();
    let mut got = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = seen_user.lock().unwrap().clone();
        got = s.iter().any(|e| {
            e["data"]["type"] == "chat:list" && e["data"]["data"]["last_read_at"].is_i64()
        });
        if got {
            break;
        }
    }
    assert!(
        got,
        "chat:list after last_read_at: {:?}",
        seen_user.lock().unwrap()
    );
    let presence = seen_user
        .lock()
        .unwrap()
        .iter()
        .find(|e| e["data"]["type"] == "chat:presence")
        .cloned()
        .expect("presence event");
    assert_eq!(
        presence["data"]["data"]["users"],
        json!([{"id": uid, "name": "Admin"}])
    );
    assert!(
        seen_anon.lock().unwrap().is_empty(),
        "anonymous socket saw {:?}",
        seen_anon.lock().unwrap()
    );

    user_sock.disconnect().await.unwrap();
    anon_sock.disconnect().await.unwrap();
}

/// Waits (bounded) until `flag` is set; false if it never was.
async fn becomes_true(flag: &AtomicBool) -> bool {
    for _ in 0..100 {
        if flag.load(Ordering::SeqCst) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

struct Member {
    id: String,
    token: String,
    sock: SioClient,
    closed: Arc<AtomicBool>,
}

/// A new `user` account with an open, signed-in socket and a chat of its own.
async fn member(srv: &TestServer, admin: &common::Client, name: &str) -> Member {
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": name, "email": format!("{name}@example.com"),
                   "password": "Passw0rd!u", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (id, token) = (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["token"].as_str().unwrap().to_string(),
    );
    insert_chat(srv, &format!("chat-{name}"), &id);
    let closed = Arc::new(AtomicBool::new(false));
    let url = format!("{}/ws/socket.io/", srv.base);
    let sock = connect_watched(
        &url,
        Some(json!({"token": token})),
        Arc::default(),
        closed.clone(),
    )
    .await;
    let joined = ack(&sock, "user-join", json!({"auth": {"token": token}})).await;
    assert_eq!(joined.unwrap()["id"], id);
    let ok = ack(
        &sock,
        "events:chat",
        json!({"chat_id": format!("chat-{name}"), "data": {"type": "join"}}),
    )
    .await;
    assert_eq!(ok, Some(json!(true)), "{name} may use its socket");
    Member {
        id,
        token,
        sock,
        closed,
    }
}

#[tokio::test]
async fn account_changes_close_that_users_sockets_at_once() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let bystander = member(&srv, &admin, "bystander").await;
    let demoted = member(&srv, &admin, "demoted").await;
    let deleted = member(&srv, &admin, "deleted").await;
    let revoked = member(&srv, &admin, "revoked").await;
    let repassed = member(&srv, &admin, "repassed").await;
    let renamed = member(&srv, &admin, "renamed").await;

    let r = admin
        .post(
            &format!("/api/v1/users/{}/update", demoted.id),
            json!({"role": "pending"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        becomes_true(&demoted.closed).await,
        "demoted user's socket stays open"
    );

    let r = admin.delete(&format!("/api/v1/users/{}", deleted.id)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        becomes_true(&deleted.closed).await,
        "deleted user's socket stays open"
    );

    let r = admin
        .post(
            &format!("/api/v1/users/{}/sessions/revoke", revoked.id),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        becomes_true(&revoked.closed).await,
        "revoked user's socket stays open"
    );

    let r = c
        .with_token(&repassed.token)
        .post(
            "/api/v1/auths/update/password",
            json!({"password": "Passw0rd!u", "new_password": "N3w-Passw0rd"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        becomes_true(&repassed.closed).await,
        "socket survives a password change"
    );

    // A change that leaves role and sessions alone keeps the socket.
    let r = admin
        .post(
            &format!("/api/v1/users/{}/update", renamed.id),
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A demoted user's token no longer opens a privileged socket.
    let url = format!("{}/ws/socket.io/", srv.base);
    let again = connect(&url, Some(json!({"token": demoted.token})), Arc::default()).await;
    let denied = no_ack(
        &again,
        "events:chat",
        json!({"chat_id": "chat-demoted", "data": {"type": "join"}}),
    )
    .await;
    assert_eq!(denied, None, "a pending account's socket is refused");
    assert_eq!(
        no_ack(
            &again,
            "user-join",
            json!({"auth": {"token": demoted.token}})
        )
        .await,
        None
    );

    // Nobody else lost anything.
    for m in [&bystander, &renamed] {
        assert!(
            !m.closed.load(Ordering::SeqCst),
            "{} was disconnected",
            m.id
        );
        let chat = if m.id == bystander.id {
            "chat-bystander"
        } else {
            "chat-renamed"
        };
        let ok = ack(
            &m.sock,
            "events:chat",
            json!({"chat_id": chat, "data": {"type": "join"}}),
        )
        .await;
        assert_eq!(ok, Some(json!(true)));
    }
    let _ = again.disconnect().await;
}

#[tokio::test]
async fn anonymous_sockets_cannot_send_large_events() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let user = member(&srv, &admin, "keeper").await;
    let url = format!("{}/ws/socket.io/", srv.base);
    let big = "x".repeat(1024 * 1024);
    for event in ["events:chat", "user-join", "no-such-event"] {
        let closed = Arc::new(AtomicBool::new(false));
        let anon = connect_watched(&url, None, Arc::default(), closed.clone()).await;
        // Small events of an anonymous socket are ignored, not punished.
        anon.emit(event, json!({"pad": "small"})).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !closed.load(Ordering::SeqCst),
            "{event}: closed for a small event"
        );
        anon.emit(event, json!({"auth": {"token": big}}))
            .await
            .unwrap();
        assert!(
            becomes_true(&closed).await,
            "{event}: a 1 MB anonymous event was accepted"
        );
        let _ = anon.disconnect().await;
    }
    // `join-channels` carries its own token and may overtake `user-join`:
    // on an anonymous socket it signs the socket in.
    let late = connect(&url, None, Arc::default()).await;
    late.emit("join-channels", json!({"auth": {"token": user.token}}))
        .await
        .unwrap();
    let mut joined = None;
    for _ in 0..20 {
        joined = ack_within(
            &late,
            "events:chat",
            json!({"chat_id": "chat-keeper", "data": {"type": "join"}}),
            Duration::from_millis(250),
        )
        .await;
        if joined.is_some() {
            break;
        }
    }
    assert_eq!(joined, Some(json!(true)), "join-channels did not sign in");
    let _ = late.disconnect().await;
    // A connect packet carrying a large payload is refused outright.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let refused = ClientBuilder::new(url.clone())
        .on(
            rust_socketio::Event::Connect,
            move |_p: Payload, _c: SioClient| {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                async {}.boxed()
            },
        )
        .namespace("/")
        .transport_type(TransportType::Websocket)
        .auth(json!({"token": "x".repeat(100 * 1024)}))
        .reconnect(false)
        .connect()
        .await;
    if let Ok(client) = refused {
        let answered = tokio::time::timeout(Duration::from_secs(1), rx).await;
        assert!(answered.is_err(), "a 100 KiB connect payload was accepted");
        let _ = client.disconnect().await;
    }
    // The server keeps serving, sockets and HTTP alike.
    assert_eq!(c.get("/health").await.status, 200);
    let ok = ack(
        &user.sock,
        "events:chat",
        json!({"chat_id": "chat-keeper", "data": {"type": "join"}}),
    )
    .await;
    assert_eq!(ok, Some(json!(true)));
    assert!(!user.closed.load(Ordering::SeqCst));
}

fn last_active(srv: &TestServer, id: &str) -> i64 {
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.query_row(
        "SELECT coalesce(last_active_at, 0) FROM user WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

fn clear_last_active(srv: &TestServer, id: &str) {
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute("UPDATE user SET last_active_at = 0 WHERE id = ?1", [id])
        .unwrap();
}

#[tokio::test]
async fn heartbeats_write_last_active_at_most_once_a_minute() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let m = member(&srv, &admin, "beater").await;
    // The first heartbeat is written.
    clear_last_active(&srv, &m.id);
    m.sock.emit("heartbeat", json!({})).await.unwrap();
    let mut written = false;
    for _ in 0..100 {
        if last_active(&srv, &m.id) > 0 {
            written = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(written, "a heartbeat never reached the database");
    // A thousand more within the minute write nothing (no HTTP calls here:
    // they refresh last_active_at too).
    clear_last_active(&srv, &m.id);
    for _ in 0..1000 {
        m.sock.emit("heartbeat", json!({})).await.unwrap();
    }
    // An acknowledged event after them: the heartbeats were received by now.
    let ok = ack(
        &m.sock,
        "events:chat",
        json!({"chat_id": "chat-beater", "data": {"type": "join"}}),
    )
    .await;
    assert_eq!(ok, Some(json!(true)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(last_active(&srv, &m.id), 0, "heartbeats were written again");
}

#[tokio::test]
async fn only_readers_of_a_live_shared_chat_join_it_and_a_lost_grant_is_announced() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let signup = c.signup("Admin", "admin@example.com", "pw").await.body;
    let owner = c.with_token(signup["token"].as_str().unwrap());
    let r = owner
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "Live", "history": {"currentId": null, "messages": {}}}}),
        )
        .await;
    let chat_id = r.body["id"].as_str().unwrap().to_string();
    let r = owner
        .post(
            "/api/v1/auths/add",
            json!({"name": "Mia", "email": "mia@example.com", "password": "Passw0rd!u", "role": "user"}),
        )
        .await;
    let (mia_id, mia_token) = (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["token"].as_str().unwrap().to_string(),
    );
    let url = format!("{}/ws/socket.io/", srv.base);
    let seen: Seen = Arc::default();
    let sock = connect(&url, Some(json!({"token": mia_token})), seen.clone()).await;
    ack(&sock, "user-join", json!({"auth": {"token": mia_token}})).await;
    let join = json!({"chat_id": chat_id, "data": {"type": "join"}});
    assert_eq!(
        ack(&sock, "events:chat", join.clone()).await,
        Some(json!(false))
    );

    let save = |grants: Value, mode: Value| {
        let path = format!("/api/v1/chats/shared/{chat_id}/access/update");
        let owner = &owner;
        async move {
            let r = owner
                .post(&path, json!({"access_grants": grants, "share_mode": mode}))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    owner
        .post(
            &format!("/api/v1/chats/{chat_id}/share"),
            json!({"share_mode": null}),
        )
        .await;
    let mia_read =
        json!([{"principal_type": "user", "principal_id": mia_id, "permission": "read"}]);
    save(mia_read.clone(), Value::Null).await;
    assert_eq!(
        ack(&sock, "events:chat", join.clone()).await,
        Some(json!(false)),
        "a Clone only grant gives a snapshot, not the live chat"
    );
    save(mia_read, json!("continue")).await;
    assert_eq!(
        ack(&sock, "events:chat", join.clone()).await,
        Some(json!(true))
    );

    save(json!([]), json!("continue")).await;
    let mut told = false;
    for _ in 0..100 {
        told = seen
            .lock()
            .unwrap()
            .iter()
            .any(|e| e["chat_id"] == chat_id.as_str() && e["data"]["type"] == "chat:access");
        if told {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(told, "no chat:access: {:?}", seen.lock().unwrap());
    assert_eq!(ack(&sock, "events:chat", join).await, Some(json!(false)));
    sock.disconnect().await.unwrap();
}

/// A fresh signed-in socket for `m` and the flag that turns true when the
/// server closes it.
async fn reconnect(srv: &TestServer, m: &Member) -> (SioClient, Arc<AtomicBool>) {
    let closed = Arc::new(AtomicBool::new(false));
    let url = format!("{}/ws/socket.io/", srv.base);
    let sock = connect_watched(
        &url,
        Some(json!({"token": m.token})),
        Arc::default(),
        closed.clone(),
    )
    .await;
    let joined = ack(&sock, "user-join", json!({"auth": {"token": m.token}})).await;
    assert_eq!(joined.unwrap()["id"], m.id);
    (sock, closed)
}

#[tokio::test]
async fn group_changes_that_alter_rights_close_only_the_members_sockets() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let joining = member(&srv, &admin, "joining").await;
    let outsider = member(&srv, &admin, "outsider").await;
    let g = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "Crew", "description": "", "permissions": {"workspace": {"knowledge": false}}}),
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();

    // Joining the group changes the member's rights: their tab reconnects.
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{gid}/users/add"),
            json!({"user_ids": [joining.id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        becomes_true(&joining.closed).await,
        "the new member's socket stays open"
    );

    // An edit that keeps the permissions leaves the tab alone; a permission
    // change closes it, and never an outsider's.
    let (_sock, closed) = reconnect(&srv, &joining).await;
    let update = |permissions: Value| json!({"name": "Crew", "description": "renamed", "permissions": permissions});
    let same = update(json!({"workspace": {"knowledge": false}}));
    let r = admin
        .post(&format!("/api/v1/groups/id/{gid}/update"), same)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !closed.load(Ordering::SeqCst),
        "an unchanged group closed the tab"
    );
    let changed = update(json!({"workspace": {"knowledge": true}}));
    let r = admin
        .post(&format!("/api/v1/groups/id/{gid}/update"), changed)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        becomes_true(&closed).await,
        "a permission change left the tab open"
    );

    // Leaving the group closes the tab too.
    let (_sock, closed) = reconnect(&srv, &joining).await;
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{gid}/users/remove"),
            json!({"user_ids": [joining.id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        becomes_true(&closed).await,
        "a removed member's tab stayed open"
    );
    assert!(
        !outsider.closed.load(Ordering::SeqCst),
        "an outsider's tab was closed"
    );
}
