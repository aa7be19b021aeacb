//! Notes: CRUD, pins, search, sharing, and live editing over the Yjs socket
//! events with real Socket.IO clients.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{socketio, Client, TestServer};
use futures::FutureExt;
use rust_socketio::asynchronous::Client as SioClient;
use rust_socketio::Payload;
use serde_json::{json, Value};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

/// (event name, payload) as received.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

const EVENTS: [&str; 6] = [
    "ydoc:document:state",
    "ydoc:document:update",
    "ydoc:user:joined",
    "ydoc:user:left",
    "ydoc:awareness:update",
    "events:note",
];

async fn connect(srv: &TestServer, token: &str, seen: Seen) -> SioClient {
    let url = format!("{}/ws/socket.io/", srv.base);
    let record = move |ev: &'static str, values: Vec<Value>| {
        let mut s = seen.lock().unwrap();
        s.extend(values.into_iter().map(|v| (ev.to_string(), v)));
    };
    let auth = Some(json!({"token": token}));
    socketio::connect(&url, auth, &EVENTS, record, Arc::default()).await
}

/// Waits (bounded) for an event matching `pred`.
async fn wait_for(seen: &Seen, event: &str, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    for _ in 0..100 {
        if let Some((_, v)) = seen
            .lock()
            .unwrap()
            .iter()
            .find(|(e, v)| e == event && pred(v))
        {
            return Some(v.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn count(seen: &Seen, event: &str) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(e, _)| e == event)
        .count()
}

async fn two_users(srv: &TestServer) -> (Client, Client, String, String) {
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin_token = r.body["token"].as_str().unwrap().to_string();
    let admin = c.with_token(&admin_token);
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Bea", "email": "bea@example.com", "password": "Passw0rd!b", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bea_id = r.body["id"].as_str().unwrap().to_string();
    let bea = c.login("bea@example.com", "Passw0rd!b").await;
    (admin, bea, admin_token, bea_id)
}

fn bytes(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect()
}

fn text_of(state: &[u8]) -> String {
    let d = Doc::new();
    d.transact_mut()
        .apply_update(Update::decode_v1(state).unwrap())
        .unwrap();
    let t = d.get_or_insert_text("t");
    let s = t.get_string(&d.transact());
    s
}

#[tokio::test]
async fn crud_pin_search_and_access() {
    let srv = TestServer::fresh().await;
    let (admin, bea, _, bea_id) = two_users(&srv).await;

    // Bea's private note.
    let r = bea
        .post(
            "/api/v1/notes/create",
            json!({"title": "Groceries", "data": {"content": {"md": "milk and to-do eggs", "html": "", "json": null}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["user_id"], json!(bea_id));
    assert_eq!(r.body["is_pinned"], json!(false));
    assert_eq!(r.body["access_grants"], json!([]));
    assert!(r.body["created_at"].as_i64().unwrap() > 1_000_000_000_000_000_000);

    let r = bea.post("/api/v1/notes/create", json!({"data": {}})).await;
    assert_eq!(r.status, 422, "title is required");

    // Read, list, update.
    let r = bea.get(&format!("/api/v1/notes/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["write_access"], json!(true));
    assert_eq!(r.body["data"]["content"]["md"], "milk and to-do eggs");
    let r = bea
        .post(
            &format!("/api/v1/notes/{id}/update"),
            json!({"title": "Groceries 2", "data": {"files": []}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Groceries 2");
    assert_eq!(
        r.body["data"]["content"]["md"], "milk and to-do eggs",
        "data keys merge"
    );
    let list = bea.get("/api/v1/notes/").await.body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["user"]["email"], "bea@example.com");
    assert!(
        list[0].get("access_grants").is_none(),
        "list items are slim"
    );

    // Pin toggles per user and shows in /pinned.
    let r = bea
        .post(&format!("/api/v1/notes/{id}/pin"), json!({}))
        .await;
    assert_eq!(r.body["is_pinned"], json!(true));
    let pinned = bea.get("/api/v1/notes/pinned").await.body;
    assert_eq!(pinned[0]["id"], json!(id));
    assert_eq!(pinned[0]["is_pinned"], json!(true));
    let r = bea
        .post(&format!("/api/v1/notes/{id}/pin"), json!({}))
        .await;
    assert_eq!(r.body["is_pinned"], json!(false));
    assert_eq!(bea.get("/api/v1/notes/pinned").await.body, json!([]));

    // Search: words match ignoring hyphens; total before paging.
    let r = bea.get("/api/v1/notes/search?query=todo").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], json!(1));
    assert_eq!(r.body["items"][0]["id"], json!(id));
    assert_eq!(r.body["items"][0]["user"]["id"], json!(bea_id));
    let r = bea.get("/api/v1/notes/search?query=absent").await;
    assert_eq!(r.body["total"], json!(0));

    // A third user: private notes are closed to them.
    let c = srv.client();
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Cy", "email": "cy@example.com", "password": "Passw0rd!c", "role": "user"}),
        )
        .await;
    let cy_id = r.body["id"].as_str().unwrap().to_string();
    let cy = c.login("cy@example.com", "Passw0rd!c").await;
    assert_eq!(cy.get(&format!("/api/v1/notes/{id}")).await.status, 403);
    assert_eq!(cy.get("/api/v1/notes/").await.body, json!([]));
    assert_eq!(
        cy.get("/api/v1/notes/search?permission=read").await.body["total"],
        json!(0)
    );

    // Users need `sharing.notes` to share; the admin grants Cy read access.
    let r = bea
        .post(
            &format!("/api/v1/notes/{id}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": cy_id, "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 403, "sharing.notes is off by default: {}", r.body);
    let r = admin
        .post(
            &format!("/api/v1/notes/{id}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": cy_id, "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["access_grants"][0]["principal_id"], json!(cy_id));

    let r = cy.get(&format!("/api/v1/notes/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["write_access"], json!(false));
    assert_eq!(
        cy.get("/api/v1/notes/")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = cy
        .post(
            &format!("/api/v1/notes/{id}/update"),
            json!({"title": "mine now"}),
        )
        .await;
    assert_eq!(r.status, 403, "read-only grant cannot write");
    assert_eq!(
        cy.delete(&format!("/api/v1/notes/{id}/delete"))
            .await
            .status,
        403
    );
    // Search defaults to notes one may write.
    assert_eq!(cy.get("/api/v1/notes/search").await.body["total"], json!(0));
    assert_eq!(
        cy.get("/api/v1/notes/search?permission=read").await.body["total"],
        json!(1)
    );

    // Notes switched off for users: 401 without the feature.
    let state = srv.state.clone().unwrap();
    let original = state.config.get("user.permissions");
    let mut perms = original.clone();
    perms["features"]["notes"] = json!(false);
    state
        .config
        .set_many(vec![("user.permissions", perms)])
        .await
        .unwrap();
    assert_eq!(cy.get("/api/v1/notes/").await.status, 401);
    state
        .config
        .set_many(vec![("notes.enable", json!(false))])
        .await
        .unwrap();
    let r = admin.get("/api/v1/notes/").await;
    assert_eq!(
        (r.status.as_u16(), r.body["detail"].clone()),
        (403, json!("Notes is disabled"))
    );
    state
        .config
        .set_many(vec![
            ("notes.enable", json!(true)),
            ("user.permissions", original),
        ])
        .await
        .unwrap();

    // Delete by the owner.
    let r = bea.delete(&format!("/api/v1/notes/{id}/delete")).await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (200, json!(true)));
    assert_eq!(bea.get(&format!("/api/v1/notes/{id}")).await.status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn yjs_collaboration_between_two_tabs() {
    let srv = TestServer::fresh().await;
    let (admin, bea, admin_token, bea_id) = two_users(&srv).await;
    let r = admin
        .post(
            "/api/v1/notes/create",
            json!({"title": "Shared", "data": {"content": {"md": "seed", "html": "<p>seed</p>", "json": null}}}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let doc_id = format!("note:{id}");

    let seen_a: Seen = Arc::default();
    let a = connect(&srv, &admin_token, seen_a.clone()).await;
    let seen_b: Seen = Arc::default();
    let b = connect(&srv, &admin_token, seen_b.clone()).await;

    // Both tabs join; the first gets an empty state plus the stored content.
    a.emit(
        "ydoc:document:join",
        json!({"document_id": doc_id, "user_id": "x", "user_name": "Admin", "user_color": "#fff"}),
    )
    .await
    .unwrap();
    let st = wait_for(&seen_a, "ydoc:document:state", |_| true)
        .await
        .expect("state for tab a");
    assert_eq!(st["state"], json!([0, 0]));
    assert_eq!(st["content"]["md"], "seed");
    // Tab b joins the way a client that waits for an acknowledgement does:
    // the server answers once the join is handled.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    b.emit_with_ack(
        "ydoc:document:join",
        json!({"document_id": doc_id}),
        Duration::from_secs(5),
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
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("ydoc:document:join acknowledged")
        .unwrap();
    wait_for(&seen_b, "ydoc:document:state", |_| true)
        .await
        .expect("state for tab b");
    let joined = wait_for(&seen_a, "ydoc:user:joined", |_| true).await;
    assert!(joined.is_some(), "tab a hears tab b join");

    // Tab a edits: tab b receives exactly that update.
    let doc_a = Doc::new();
    let text_a = doc_a.get_or_insert_text("t");
    text_a.insert(&mut doc_a.transact_mut(), 0, "hello");
    let u1 = doc_a
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    a.emit(
        "ydoc:document:update",
        json!({"document_id": doc_id, "user_id": "x", "update": u1, "data": {"content": {"md": "hello", "html": "<p>hello</p>", "json": {"type": "doc"}}}}),
    )
    .await
    .unwrap();
    let got = wait_for(&seen_b, "ydoc:document:update", |_| true)
        .await
        .expect("tab b receives the update");
    assert_eq!(bytes(&got["update"]), u1);
    assert_eq!(got["document_id"], json!(doc_id));

    // Tab b applies it and adds its own edit, which reaches tab a.
    let doc_b = Doc::new();
    doc_b
        .transact_mut()
        .apply_update(Update::decode_v1(&bytes(&got["update"])).unwrap())
        .unwrap();
    let sv = doc_b.transact().state_vector();
    let text_b = doc_b.get_or_insert_text("t");
    text_b.insert(&mut doc_b.transact_mut(), 5, " world");
    let u2 = doc_b.transact().encode_state_as_update_v1(&sv);
    b.emit(
        "ydoc:document:update",
        json!({"document_id": doc_id, "update": u2}),
    )
    .await
    .unwrap();
    let got = wait_for(&seen_a, "ydoc:document:update", |_| true)
        .await
        .expect("tab a receives tab b's update");
    assert_eq!(bytes(&got["update"]), u2);
    assert_eq!(
        count(&seen_a, "ydoc:document:update"),
        1,
        "no echo to the sender"
    );

    // A late joiner gets one state holding both edits.
    let seen_c: Seen = Arc::default();
    let c = connect(&srv, &admin_token, seen_c.clone()).await;
    c.emit("ydoc:document:join", json!({"document_id": doc_id}))
        .await
        .unwrap();
    let st = wait_for(&seen_c, "ydoc:document:state", |_| true)
        .await
        .expect("late joiner state");
    assert_eq!(text_of(&bytes(&st["state"])), "hello world");

    // The reported content is saved after the debounce.
    let mut saved = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        saved = admin.get(&format!("/api/v1/notes/{id}")).await.body;
        if saved["data"]["content"]["md"] == "hello" {
            break;
        }
    }
    assert_eq!(saved["data"]["content"]["md"], "hello");
    assert_eq!(saved["data"]["content"]["html"], "<p>hello</p>");

    // Bea has no access: her join gets nothing and her updates go nowhere.
    let bea_token = bea.token.clone().unwrap();
    let seen_x: Seen = Arc::default();
    let x = connect(&srv, &bea_token, seen_x.clone()).await;
    x.emit("ydoc:document:join", json!({"document_id": doc_id}))
        .await
        .unwrap();
    x.emit(
        "ydoc:document:update",
        json!({"document_id": doc_id, "update": u1}),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&seen_x, "ydoc:document:state"), 0);
    assert_eq!(count(&seen_c, "ydoc:document:update"), 0);

    // With a read grant she may join but her updates are dropped.
    let r = admin
        .post(
            &format!("/api/v1/notes/{id}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": bea_id, "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    x.emit("ydoc:document:join", json!({"document_id": doc_id}))
        .await
        .unwrap();
    let st = wait_for(&seen_x, "ydoc:document:state", |_| true)
        .await
        .expect("reader may join");
    assert_eq!(text_of(&bytes(&st["state"])), "hello world");
    let doc_x = Doc::new();
    let tx_text = doc_x.get_or_insert_text("t");
    tx_text.insert(&mut doc_x.transact_mut(), 0, "vandal");
    let u3 = doc_x
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    x.emit(
        "ydoc:document:update",
        json!({"document_id": doc_id, "update": u3, "data": {"content": {"md": "vandal"}}}),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        count(&seen_c, "ydoc:document:update"),
        0,
        "read-only update relayed"
    );
    let after = admin.get(&format!("/api/v1/notes/{id}")).await.body;
    assert_eq!(after["data"]["content"]["md"], "hello");

    // HTTP updates reach tabs that joined the note's room.
    a.emit(
        "join-note",
        json!({"note_id": id, "auth": {"token": admin_token}}),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin
        .post(
            &format!("/api/v1/notes/{id}/update"),
            json!({"title": "Renamed"}),
        )
        .await;
    let ev = wait_for(&seen_a, "events:note", |v| v["title"] == "Renamed").await;
    assert!(ev.is_some(), "events:note after an HTTP update");

    for s in [a, b, c, x] {
        s.disconnect().await.unwrap();
    }
    srv.stop().await;
}

#[tokio::test]
async fn notes_written_by_python_open_webui_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture_dir(), tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("webui_secret_key.txt")).unwrap();
    let srv = TestServer::start(common::settings_for(tmp.path(), Some(&secret))).await;
    let c = srv.client();
    let alice = c.login("alice@example.com", "Alice-pass-1").await;
    let admin = c.login("admin@example.com", "Admin-pass-1").await;

    let mine = alice.get("/api/v1/notes/").await.body;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["title"], "Study plan");
    assert!(mine[0]["data"]["content"]["md"]
        .as_str()
        .unwrap()
        .starts_with("# Study plan"));
    assert_eq!(mine[0]["user"]["email"], "alice@example.com");
    let id = mine[0]["id"].as_str().unwrap();
    let note = alice.get(&format!("/api/v1/notes/{id}")).await.body;
    assert_eq!(note["created_at"], json!(1795343828784063914_i64));
    assert!(note["data"]["content"]["html"]
        .as_str()
        .unwrap()
        .contains("Sorting algorithms"));

    // The admin's note stays private to the admin; the admin sees both in search.
    let r = alice
        .get("/api/v1/notes/c2574548-a9ba-4f0b-b932-1028b8b6c2b4")
        .await;
    assert_eq!(r.status, 403);
    let all = admin.get("/api/v1/notes/search").await.body;
    assert_eq!(all["total"], json!(2));
    let r = admin.get("/api/v1/notes/search?query=sorting").await.body;
    assert_eq!(r["items"][0]["title"], "Study plan");
    srv.stop().await;
}

#[tokio::test]
async fn bad_query_strings_get_422() {
    let srv = TestServer::fresh().await;
    let (_, bea, _, _) = two_users(&srv).await;
    let r = bea.get("/api/v1/notes/?page=abc").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["detail"].is_array());
    assert_eq!(bea.get("/api/v1/notes/?page=1").await.status, 200);
    srv.stop().await;
}

async fn new_note(admin: &Client, title: &str, data: Value) -> String {
    let r = admin
        .post(
            "/api/v1/notes/create",
            json!({"title": title, "data": data}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn share(admin: &Client, id: String, grants: Value) {
    let r = admin
        .post(
            &format!("/api/v1/notes/{id}/access/update"),
            json!({ "access_grants": grants }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn read_only_notes_are_listed_and_plain_text_data_becomes_the_body() {
    let srv = TestServer::fresh().await;
    let (admin, bea, _admin_token, bea_id) = two_users(&srv).await;
    let public = new_note(&admin, "public", Value::Null).await;
    share(
        &admin,
        public.clone(),
        json!([{"principal_type": "user", "principal_id": "*", "permission": "read"}]),
    )
    .await;
    let personal = new_note(&admin, "personal", Value::Null).await;
    share(
        &admin,
        personal.clone(),
        json!([{"principal_type": "user", "principal_id": bea_id, "permission": "read"}]),
    )
    .await;
    let writable = new_note(&admin, "writable", Value::Null).await;
    share(
        &admin,
        writable.clone(),
        json!([
            {"principal_type": "user", "principal_id": bea_id, "permission": "read"},
            {"principal_type": "user", "principal_id": bea_id, "permission": "write"},
        ]),
    )
    .await;
    let _private = new_note(&admin, "private", Value::Null).await;
    let r = bea
        .post(
            "/api/v1/notes/create",
            json!({"title": "own", "data": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = bea.get("/api/v1/notes/search?permission=read_only").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ids: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec![public, personal];
    want.sort();
    assert_eq!(ids, want, "{}", r.body);

    // A note whose data is not an object keeps it as its markdown body.
    let id = new_note(&admin, "text", json!("just some text")).await;
    let r = admin.get(&format!("/api/v1/notes/{id}")).await;
    assert_eq!(r.body["data"], json!({"content": {"md": "just some text"}}));
    let r = admin
        .post(&format!("/api/v1/notes/{id}/update"), json!({"data": 42}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["content"]["md"], "42");
}
