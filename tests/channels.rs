//! Channels: creation, members, messages, threads, reactions, pins, read
//! state, webhooks, and `events:channel` reaching members only.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::socketio::{self, Seen};
use common::{Client, TestServer};
use rust_socketio::asynchronous::Client as SioClient;
use serde_json::{json, Value};

async fn connect(srv: &TestServer, token: &str, seen: Seen) -> SioClient {
    socketio::connect_recording(&srv.base, token, &["events:channel"], seen).await
}

/// Connects and sends `user-join` the way the frontend does, waiting for its ack.
async fn join(srv: &TestServer, token: &str, seen: Seen) -> SioClient {
    let s = connect(srv, token, seen).await;
    socketio::ack(&s, "user-join", json!({"auth": {"token": token}}))
        .await
        .expect("user-join acked");
    s
}

async fn wait_for(seen: &Seen, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    for _ in 0..100 {
        if let Some(v) = seen.lock().unwrap().iter().find(|v| pred(v)) {
            return Some(v.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn kind(v: &Value) -> &str {
    v["data"]["type"].as_str().unwrap_or("")
}

struct Users {
    admin: Client,
    bea: Client,
    cy: Client,
    admin_token: String,
    bea_id: String,
    cy_id: String,
}

async fn users(srv: &TestServer) -> Users {
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin_token = r.body["token"].as_str().unwrap().to_string();
    let admin = c.with_token(&admin_token);
    let mut ids = Vec::new();
    for (name, email) in [("Bea", "bea@example.com"), ("Cy", "cy@example.com")] {
        let r = admin
            .post(
                "/api/v1/auths/add",
                json!({"name": name, "email": email, "password": "Passw0rd!b", "role": "user"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    Users {
        admin,
        bea: c.login("bea@example.com", "Passw0rd!b").await,
        cy: c.login("cy@example.com", "Passw0rd!b").await,
        admin_token,
        bea_id: ids[0].clone(),
        cy_id: ids[1].clone(),
    }
}

#[tokio::test]
async fn disabled_channels_answer_403() {
    let srv = TestServer::fresh().await;
    let u = users(&srv).await;
    // The list the app shell fetches on every socket connect is just empty.
    let r = u.admin.get("/api/v1/channels/").await;
    assert_eq!((r.status.as_u16(), r.body), (200, json!([])));
    let r = u.admin.get("/api/v1/channels/list").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, json!({"detail": "Channels is disabled"}));
    let r = u
        .bea
        .post(
            "/api/v1/channels/create",
            json!({"name": "x", "type": "group"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = srv
        .client()
        .post("/api/v1/channels/webhooks/w/t", json!({"content": "hi"}))
        .await;
    assert_eq!(r.status, 403);

    // Enabled, but a user without `features.channels` gets 401.
    common::enable_channels(&srv).await;
    let state = srv.state.clone().unwrap();
    let mut perms = state.config.get("user.permissions");
    perms["features"]["channels"] = json!(false);
    state
        .config
        .set_many(vec![("user.permissions", perms)])
        .await
        .unwrap();
    assert_eq!(u.bea.get("/api/v1/channels/").await.status, 401);
    assert_eq!(u.admin.get("/api/v1/channels/").await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn group_channel_messages_threads_reactions_and_events() {
    let srv = TestServer::fresh().await;
    common::enable_channels(&srv).await;
    let u = users(&srv).await;
    let bea_token = u.bea.token.clone().unwrap();
    let cy_token = u.cy.token.clone().unwrap();

    // Sockets connect first: members must be put into the new channel's room.
    let seen_bea: Seen = Arc::default();
    let bea_sock = join(&srv, &bea_token, seen_bea.clone()).await;
    let seen_cy: Seen = Arc::default();
    let cy_sock = join(&srv, &cy_token, seen_cy.clone()).await;

    // Only admins create standard channels.
    let r = u
        .bea
        .post("/api/v1/channels/create", json!({"name": "Std"}))
        .await;
    assert_eq!(r.status, 401);

    // The admin opens a group channel with Bea; Cy stays out.
    let r = u
        .admin
        .post(
            "/api/v1/channels/create",
            json!({"name": "Team Room", "type": "group", "user_ids": [u.bea_id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ch = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["name"], "team room", "names are lower-cased");
    assert_eq!(r.body["type"], "group");
    assert!(
        wait_for(&seen_bea, |v| kind(v) == "channel:created")
            .await
            .is_some(),
        "member told about the channel"
    );

    let list = u.bea.get("/api/v1/channels/").await.body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], json!(ch));
    assert_eq!(list[0]["unread_count"], json!(0));
    assert_eq!(u.cy.get("/api/v1/channels/").await.body, json!([]));
    assert_eq!(
        u.cy.get(&format!("/api/v1/channels/{ch}")).await.status,
        403
    );

    let full = u.bea.get(&format!("/api/v1/channels/{ch}")).await.body;
    assert_eq!(full["user_count"], json!(2));
    assert_eq!(full["is_manager"], json!(false));
    let members = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/members"))
        .await
        .body;
    assert_eq!(members["total"], json!(2));

    // A message from the admin: Bea's socket hears it, Cy's does not.
    let r = u
        .admin
        .post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "hello team", "temp_id": "tmp1", "data": {"files": [{"type": "file", "id": "f1"}]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mid = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.body["etag"],
        json!(r.body["updated_at"].as_i64().unwrap().to_string())
    );
    let ev = wait_for(&seen_bea, |v| kind(v) == "message")
        .await
        .expect("member receives the message event");
    assert_eq!(ev["channel_id"], json!(ch));
    assert_eq!(ev["data"]["data"]["content"], "hello team");
    assert_eq!(ev["data"]["data"]["temp_id"], "tmp1");
    assert_eq!(ev["data"]["data"]["user"]["name"], "Admin");
    assert_eq!(ev["user"]["role"], "admin");
    assert_eq!(ev["channel"]["id"], json!(ch));

    // Bea has one unread message until she marks the channel read.
    let list = u.bea.get("/api/v1/channels/").await.body;
    assert_eq!(list[0]["unread_count"], json!(1));
    assert!(list[0]["last_message_at"].is_i64());
    bea_sock
        .emit(
            "events:channel",
            json!({"channel_id": ch, "message_id": null, "data": {"type": "last_read_at"}}),
        )
        .await
        .unwrap();
    let mut unread = json!(1);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        unread = u.bea.get("/api/v1/channels/").await.body[0]["unread_count"].clone();
        if unread == json!(0) {
            break;
        }
    }
    assert_eq!(unread, json!(0));

    // Typing notices go to the room.
    bea_sock
        .emit(
            "events:channel",
            json!({"channel_id": ch, "message_id": null, "data": {"type": "typing", "data": {"typing": true}}}),
        )
        .await
        .unwrap();
    assert!(wait_for(&seen_bea, |v| kind(v) == "typing").await.is_some());

    // Listing: data is summarized, the author filled in.
    let msgs = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/messages?skip=0&limit=50"))
        .await
        .body;
    assert_eq!(msgs.as_array().unwrap().len(), 1);
    assert_eq!(msgs[0]["data"], json!(true));
    assert_eq!(msgs[0]["user"]["id"], msgs[0]["user_id"]);
    let data = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/messages/{mid}/data"))
        .await
        .body;
    assert_eq!(data["files"][0]["id"], "f1");

    // Thread reply from Bea, then a reaction.
    let r = u
        .bea
        .post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "reply!", "parent_id": mid}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let reply_id = r.body["id"].as_str().unwrap().to_string();
    assert!(wait_for(&seen_bea, |v| kind(v) == "message:reply"
        && v["data"]["data"]["reply_count"] == json!(1))
    .await
    .is_some());
    let thread = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/messages/{mid}/thread"))
        .await
        .body;
    let contents: Vec<&str> = thread
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["reply!", "hello team"]);
    let top = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/messages"))
        .await
        .body;
    assert_eq!(
        top.as_array().unwrap().len(),
        1,
        "replies stay in the thread"
    );
    assert_eq!(top[0]["reply_count"], json!(1));

    // A parent from another channel is refused.
    let other = u
        .admin
        .post(
            "/api/v1/channels/create",
            json!({"name": "other", "type": "group"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = u
        .admin
        .post(
            &format!("/api/v1/channels/{other}/messages/post"),
            json!({"content": "x", "parent_id": mid}),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = u
        .bea
        .post(
            &format!("/api/v1/channels/{ch}/messages/{mid}/reactions/add"),
            json!({"name": "👍"}),
        )
        .await;
    assert_eq!(r.body, json!(true));
    let ev = wait_for(&seen_bea, |v| kind(v) == "message:reaction:add")
        .await
        .expect("reaction event");
    assert_eq!(ev["data"]["data"]["name"], "👍");
    assert_eq!(ev["data"]["data"]["reactions"][0]["count"], json!(1));
    let msg = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/messages/{mid}"))
        .await
        .body;
    assert_eq!(msg["reactions"][0]["users"][0]["id"], json!(u.bea_id));
    u.bea
        .post(
            &format!("/api/v1/channels/{ch}/messages/{mid}/reactions/remove"),
            json!({"name": "👍"}),
        )
        .await;
    let msg = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/messages/{mid}"))
        .await
        .body;
    assert_eq!(msg["reactions"], json!([]));

    // Pins.
    let r = u
        .bea
        .post(
            &format!("/api/v1/channels/{ch}/messages/{mid}/pin"),
            json!({"is_pinned": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["is_pinned"], json!(true));
    let pinned = u
        .bea
        .get(&format!("/api/v1/channels/{ch}/messages/pinned?page=1"))
        .await
        .body;
    assert_eq!(pinned[0]["id"], json!(mid));

    // Only the author (or an admin) edits or deletes.
    let r = u
        .bea
        .post(
            &format!("/api/v1/channels/{ch}/messages/{mid}/update"),
            json!({"content": "hacked"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = u
        .admin
        .post(
            &format!("/api/v1/channels/{ch}/messages/{mid}/update"),
            json!({"content": "hello all"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["content"], "hello all");
    assert!(wait_for(&seen_bea, |v| kind(v) == "message:update"
        && v["data"]["data"]["content"] == "hello all")
    .await
    .is_some());
    let r = u
        .bea
        .delete(&format!("/api/v1/channels/{ch}/messages/{reply_id}/delete"))
        .await;
    assert_eq!(r.body, json!(true));
    assert!(wait_for(&seen_bea, |v| kind(v) == "message:delete"
        && v["message_id"] == json!(reply_id))
    .await
    .is_some());

    // Cy's socket never saw anything of this channel.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cy_saw: Vec<Value> = seen_cy
        .lock()
        .unwrap()
        .iter()
        .filter(|v| v["channel_id"] == json!(ch))
        .cloned()
        .collect();
    assert!(cy_saw.is_empty(), "non-member saw {cy_saw:?}");
    // And Cy cannot post into it.
    let r =
        u.cy.post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "let me in"}),
        )
        .await;
    assert_eq!(r.status, 403);

    // Adding Cy puts her sockets into the room.
    let r = u
        .admin
        .post(
            &format!("/api/v1/channels/{ch}/update/members/add"),
            json!({"user_ids": [u.cy_id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    u.admin
        .post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "welcome cy"}),
        )
        .await;
    assert!(wait_for(&seen_cy, |v| kind(v) == "message"
        && v["data"]["data"]["content"] == "welcome cy")
    .await
    .is_some());
    let r = u
        .admin
        .post(
            &format!("/api/v1/channels/{ch}/update/members/remove"),
            json!({"user_ids": [u.cy_id]}),
        )
        .await;
    assert_eq!(r.body, json!(1));
    assert_eq!(
        u.cy.get(&format!("/api/v1/channels/{ch}")).await.status,
        403
    );

    // Deleting the channel.
    assert_eq!(
        u.bea
            .delete(&format!("/api/v1/channels/{ch}/delete"))
            .await
            .status,
        403
    );
    let r = u
        .admin
        .delete(&format!("/api/v1/channels/{ch}/delete"))
        .await;
    assert_eq!(r.body, json!(true));
    assert_eq!(
        u.bea.get(&format!("/api/v1/channels/{ch}")).await.status,
        404
    );

    bea_sock.disconnect().await.unwrap();
    cy_sock.disconnect().await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn dm_standard_channel_and_webhook() {
    let srv = TestServer::fresh().await;
    common::enable_channels(&srv).await;
    let u = users(&srv).await;

    // A DM is found again rather than duplicated.
    let r = u
        .bea
        .get(&format!("/api/v1/channels/users/{}", u.cy_id))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["type"], "dm");
    let dm = r.body["id"].as_str().unwrap().to_string();
    let r =
        u.cy.post(
            "/api/v1/channels/create",
            json!({"type": "dm", "user_ids": [u.bea_id]}),
        )
        .await;
    assert_eq!(r.body["id"], json!(dm));
    let list = u.cy.get("/api/v1/channels/").await.body;
    assert_eq!(list[0]["users"].as_array().unwrap().len(), 2);
    let r = u
        .bea
        .post(
            &format!("/api/v1/channels/{dm}/update/members/add"),
            json!({"user_ids": [u.cy_id]}),
        )
        .await;
    assert_eq!(r.status, 403, "DM membership is fixed");
    assert_eq!(
        u.admin
            .get(&format!("/api/v1/channels/{dm}/messages"))
            .await
            .status,
        403
    );

    // A standard channel open to everyone (read) but writable by grant only.
    let r = u
        .admin
        .post(
            "/api/v1/channels/create",
            json!({"name": "general", "access_grants": [
                {"principal_type": "user", "principal_id": "*", "permission": "read"},
                {"principal_type": "user", "principal_id": u.bea_id, "permission": "write"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ch = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["access_grants"].as_array().unwrap().len(), 2);
    let full = u.cy.get(&format!("/api/v1/channels/{ch}")).await.body;
    assert_eq!(full["write_access"], json!(false));
    assert_eq!(full["user_count"], json!(3));
    let r =
        u.cy.post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "hi"}),
        )
        .await;
    assert_eq!(r.status, 403, "read-only");
    let r = u
        .bea
        .post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "hi"}),
        )
        .await;
    assert_eq!(r.status, 200);

    // Sockets joined after creation are in the room (user-join).
    let seen_cy: Seen = Arc::default();
    let cy_sock = join(&srv, u.cy.token.as_deref().unwrap(), seen_cy.clone()).await;

    // Webhooks: managers only; the public URL posts as the webhook.
    assert_eq!(
        u.bea
            .get(&format!("/api/v1/channels/{ch}/webhooks"))
            .await
            .status,
        403
    );
    let r = u
        .admin
        .post(
            &format!("/api/v1/channels/{ch}/webhooks/create"),
            json!({"name": "CI Bot"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (wid, token) = (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["token"].as_str().unwrap().to_string(),
    );
    let anon = srv.client();
    let r = anon
        .post(
            &format!("/api/v1/channels/webhooks/{wid}/wrong"),
            json!({"content": "x"}),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = anon
        .post(
            &format!("/api/v1/channels/webhooks/{wid}/{token}"),
            json!({"content": "build passed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["success"], json!(true));
    let ev = wait_for(&seen_cy, |v| {
        kind(v) == "message" && v["data"]["data"]["content"] == "build passed"
    })
    .await
    .expect("webhook message event");
    assert_eq!(
        ev["user"],
        json!({"id": wid, "name": "CI Bot", "role": "webhook"})
    );
    let msgs =
        u.cy.get(&format!("/api/v1/channels/{ch}/messages"))
            .await
            .body;
    assert_eq!(msgs[0]["user"]["name"], "CI Bot");
    let hooks = u
        .admin
        .get(&format!("/api/v1/channels/{ch}/webhooks"))
        .await
        .body;
    assert!(hooks[0]["last_used_at"].is_i64());
    let r = u
        .admin
        .delete(&format!("/api/v1/channels/{ch}/webhooks/{wid}/delete"))
        .await;
    assert_eq!(r.body, json!(true));
    let msgs =
        u.cy.get(&format!("/api/v1/channels/{ch}/messages"))
            .await
            .body;
    assert_eq!(msgs[0]["user"]["name"], "Deleted Webhook");

    // Mute is per user and reported back on the user's room.
    let r =
        u.cy.post(
            &format!("/api/v1/channels/{ch}/members/mute"),
            json!({"is_channel_muted": true}),
        )
        .await;
    assert_eq!(r.body, json!({"is_channel_muted": true}));
    assert!(wait_for(&seen_cy, |v| kind(v) == "channel:mute")
        .await
        .is_some());

    // Apps are off by default: their channel routes answer 404.
    assert_eq!(
        u.admin
            .get(&format!("/api/v1/channels/{ch}/apps"))
            .await
            .status,
        404
    );

    cy_sock.disconnect().await.unwrap();
    let _ = u.admin_token;
    srv.stop().await;
}

/// As upstream, channels have no general `sharing.channels` gate: a user's
/// grants to users and groups are kept whatever such a setting says, and the
/// public audience needs `sharing.public_channels`.
#[tokio::test]
async fn user_grants_need_only_the_public_permission() {
    let srv = TestServer::fresh().await;
    common::enable_channels(&srv).await;
    let u = users(&srv).await;
    let grants = json!([
        {"principal_type": "user", "principal_id": u.cy_id, "permission": "read"},
        {"principal_type": "group", "principal_id": "some-group", "permission": "read"},
        {"principal_type": "user", "principal_id": "*", "permission": "read"}
    ]);
    let kinds = |v: &Value| -> Vec<String> {
        v["access_grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["principal_id"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    for (general, public) in [(false, false), (true, false), (false, true)] {
        srv.state
            .clone()
            .unwrap()
            .config
            .set_many(vec![(
                "user.permissions",
                json!({"sharing": {"channels": general, "public_channels": public}}),
            )])
            .await
            .unwrap();
        let r = u
            .bea
            .post(
                "/api/v1/channels/create",
                json!({"name": format!("room {general} {public}"), "type": "group",
                       "user_ids": [u.cy_id], "access_grants": grants}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut want = vec![u.cy_id.clone(), "some-group".to_string()];
        if public {
            want.push("*".into());
        }
        want.sort();
        assert_eq!(kinds(&r.body), want, "general {general}, public {public}");
    }
    srv.stop().await;
}

/// `POST /api/chat/completions` aimed at channel messages (`chat_id` =
/// `channel:<id>`, `id` = the message): members may aim only at their own
/// messages of that channel; admins at any message of that channel.
#[tokio::test]
async fn channel_completions_only_write_into_the_callers_own_message() {
    let llm = common::mock_llm::MockLlm::openai(&["gpt-mock"]).await;
    let srv = TestServer::fresh().await;
    common::enable_channels(&srv).await;
    let u = users(&srv).await;
    common::connect_openai(&u.admin, &llm.url).await;
    // Members may use the model.
    let r = u
        .admin
        .post(
            "/api/v1/models/create",
            json!({"id": "gpt-mock", "name": "gpt-mock", "base_model_id": null, "meta": {},
                   "params": {}, "access_grants": [
                       {"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let group = |name: &'static str| {
        let admin = &u.admin;
        let ids = json!([u.bea_id, u.cy_id]);
        async move {
            let r = admin
                .post(
                    "/api/v1/channels/create",
                    json!({"name": name, "type": "group", "user_ids": ids}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let (room, other_room) = (group("room").await, group("other").await);
    let post = |who: &Client, ch: &str| {
        let (who, path) = (
            who.with_token(who.token.as_deref().unwrap()),
            format!("/api/v1/channels/{ch}/messages/post"),
        );
        async move {
            let r = who.post(&path, json!({"content": "words"})).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let beas = post(&u.bea, &room).await;
    let elsewhere = post(&u.cy, &other_room).await;
    let aim = |who: &Client, ch: &str, msg: &str| {
        let who = who.with_token(who.token.as_deref().unwrap());
        let body = json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "rewrite"}],
                          "chat_id": format!("channel:{ch}"), "id": msg});
        async move {
            let r = who.post("/api/chat/completions", body).await;
            if r.status != 200 {
                eprintln!("{}: {}", r.status, r.body);
            }
            r.status.as_u16()
        }
    };
    let before = llm.chat_requests().len();
    assert_eq!(
        aim(&u.cy, &room, &beas).await,
        403,
        "another member's message"
    );
    assert_eq!(
        aim(&u.cy, &room, &elsewhere).await,
        403,
        "a message of another channel"
    );
    assert_eq!(
        aim(&u.admin, &room, &elsewhere).await,
        403,
        "admins too stay in the channel"
    );
    assert_eq!(aim(&u.cy, "no-such-channel", &beas).await, 404);
    assert_eq!(
        llm.chat_requests().len(),
        before,
        "refusals never reach the model"
    );
    assert_eq!(aim(&u.bea, &room, &beas).await, 200, "the author");
    assert_eq!(aim(&u.admin, &room, &beas).await, 200, "an admin");
}
