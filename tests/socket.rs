//! Socket.IO at /ws/socket.io with a real Socket.IO client.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use futures::FutureExt;
use rust_socketio::asynchronous::{Client as SioClient, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::{json, Value};

type Seen = Arc<Mutex<Vec<Value>>>;

async fn connect(base: &str, auth: Option<Value>, seen: Seen) -> SioClient {
    // This client does not queue emits until the server's CONNECT answer (the
    // browser's does), so wait for it before emitting anything.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let mut b = ClientBuilder::new(base.to_string())
        .on(
            rust_socketio::Event::Connect,
            move |_p: Payload, _c: SioClient| {
                let tx = tx.clone();
                async move {
                    if let Some(tx) = tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                }
                .boxed()
            },
        )
        .namespace("/")
        .transport_type(TransportType::Websocket)
        .on("events", move |payload: Payload, _c: SioClient| {
            let seen = seen.clone();
            async move {
                if let Payload::Text(values) = payload {
                    seen.lock().unwrap().extend(values);
                }
            }
            .boxed()
        });
    if let Some(a) = auth {
        b = b.auth(a);
    }
    b = b.reconnect(false);
    let client = b.connect().await.expect("socket connects");
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("CONNECT answered")
        .unwrap();
    client
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
