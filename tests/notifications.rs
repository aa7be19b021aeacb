//! Notification targets (CRUD, default, test delivery, local-address guard) and
//! the event catalog / event webhooks, over real HTTP.

mod common;

use std::sync::{Arc, Mutex};

use common::{Client, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The local-address switch is process-wide: tests that set it take turns.
static ENV_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A loopback webhook receiver recording the JSON bodies it gets.
async fn mock_hook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hooks/abcdef",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}/hooks/abcdef"), got)
}

async fn setup(srv: &TestServer) -> (Client, Client) {
    let admin = common::admin(srv).await;
    let ann = common::add_user(srv, &admin, "Ann").await;
    (admin, ann)
}

async fn enable_webhooks(admin: &Client) {
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    cfg["ENABLE_USER_WEBHOOKS"] = json!(true);
    let r = admin.post("/api/v1/auths/admin/config", cfg).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn targets_crud_and_test_delivery() {
    let _env = ENV_LOCK.lock().await;
    // Local requests allowed, as an admin would for an on-premises receiver.
    std::env::set_var("ENABLE_LOCAL_WEB_FETCH", "true");
    let srv = TestServer::fresh().await;
    let (admin, ann) = setup(&srv).await;
    let (url, got) = mock_hook().await;

    // Off by default: the routes look absent.
    let r = admin.get("/api/v1/notifications/targets").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    enable_webhooks(&admin).await;
    // A user needs features.webhooks (off by default).
    assert_eq!(
        ann.get("/api/v1/notifications/targets").await.status,
        StatusCode::FORBIDDEN
    );

    let ev = admin.get("/api/v1/notifications/events").await;
    assert_eq!(ev.status, 200);
    let names: Vec<&str> = ev.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "chat.finished",
            "chat.failed",
            "channel.message",
            "calendar.alert",
            "retrieval.content.process_failed"
        ]
    );
    assert!(ev.body["events"][0]["label"].is_string());

    let r = admin.get("/api/v1/notifications/targets").await;
    assert_eq!(r.body, json!({"targets": []}));

    let created = admin
        .post(
            "/api/v1/notifications/targets",
            json!({"type": "webhook", "events": ["chat.finished", "chat.finished"], "config": {"url": url}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let t = &created.body;
    assert_eq!(t["id"], "127-0-0-1");
    assert_eq!(t["type"], "webhook");
    assert_eq!(t["enabled"], true);
    assert_eq!(t["delivery"], "away");
    assert_eq!(t["events"], json!(["chat.finished"]));
    assert_eq!(t["is_default"], true);
    assert!(t["config"].get("url").is_none(), "URL never returned");
    assert_eq!(t["config"]["url_masked"], "http://127.0.0.1/...cdef");

    // Same host again: a numbered id; an explicit duplicate id is refused.
    let second = admin
        .post(
            "/api/v1/notifications/targets",
            json!({"config": {"url": url}, "delivery": "always"}),
        )
        .await;
    assert_eq!(second.body["id"], "127-0-0-1-2");
    assert_eq!(second.body["is_default"], false);
    let dup = admin
        .post(
            "/api/v1/notifications/targets",
            json!({"id": "127-0-0-1", "config": {"url": url}}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(dup.body["detail"], "notification target id already exists");
    for (body, detail) in [
        (json!({"config": {}}), "Webhook URL is required"),
        (
            json!({"config": {"url": url}, "events": ["nope"]}),
            "unsupported notification event: nope",
        ),
        (
            json!({"config": {"url": url}, "delivery": "later"}),
            "Invalid notification delivery mode",
        ),
        (
            json!({"type": "email", "config": {"url": url}}),
            "Unsupported notification target type",
        ),
    ] {
        let r = admin.post("/api/v1/notifications/targets", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["detail"], detail);
    }

    // Update keeps the stored URL when the masked one comes back.
    let upd = admin
        .send(
            Method::PUT,
            "/api/v1/notifications/targets/127-0-0-1-2",
            Some(json!({"enabled": false, "config": {"url": "http://127.0.0.1/...cdef"}})),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(upd.body["enabled"], false);
    assert_eq!(upd.body["delivery"], "always");
    let def = admin
        .send(
            Method::PUT,
            "/api/v1/notifications/targets/127-0-0-1-2/default",
            None,
        )
        .await;
    assert_eq!(def.status, 200);
    assert_eq!(def.body["is_default"], true);
    let list = admin.get("/api/v1/notifications/targets").await;
    let flags: Vec<bool> = list.body["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["is_default"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, true]);

    // Stored in the user's settings, where upstream keeps them.
    let stored: String = rusqlite::Connection::open(srv.data_dir.join("webui.db"))
        .unwrap()
        .query_row(
            "SELECT settings FROM user WHERE email = 'admin@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["notifications"]["default_target_id"], "127-0-0-1-2");
    assert_eq!(stored["notifications"]["targets"][1]["config"]["url"], url);

    // Test delivery reaches the receiver (the stored URL, not the masked one).
    let r = admin
        .post("/api/v1/notifications/targets/127-0-0-1-2/test", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"ok": true}));
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["action"], "test");
    assert!(bodies[0]["user_id"].is_string());
    let r = admin
        .post("/api/v1/notifications/targets/missing/test", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "Notification target not found");

    // Delete moves the default to the remaining target.
    let r = admin
        .delete("/api/v1/notifications/targets/127-0-0-1-2")
        .await;
    assert_eq!(r.body, json!({"ok": true}));
    let list = admin.get("/api/v1/notifications/targets").await;
    assert_eq!(list.body["targets"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["targets"][0]["is_default"], true);
    let r = admin
        .delete("/api/v1/notifications/targets/127-0-0-1-2")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Ann's list is her own once the permission is granted.
    common::set_default_permission(&admin, "features.webhooks", true).await;
    let r = ann.get("/api/v1/notifications/targets").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"targets": []}));

    srv.stop().await;
}

#[tokio::test]
async fn local_addresses_refused_by_default() {
    let _env = ENV_LOCK.lock().await;
    std::env::remove_var("ENABLE_LOCAL_WEB_FETCH");
    std::env::remove_var("ENABLE_RAG_LOCAL_WEB_FETCH");
    let srv = TestServer::fresh().await;
    let (admin, _ann) = setup(&srv).await;
    enable_webhooks(&admin).await;
    let (url, got) = mock_hook().await;
    for u in [
        url.as_str(),
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
        "file:///etc/passwd",
    ] {
        let r = admin
            .post(
                "/api/v1/notifications/targets",
                json!({"config": {"url": u}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{u}");
        assert!(r.body["detail"].as_str().unwrap().contains("URL"), "{u}");
    }
    // A stored loopback target (e.g. from an older config) is not delivered to either.
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    let settings = json!({"notifications": {"targets": [
        {"id": "t", "type": "webhook", "enabled": true, "events": [], "delivery": "away",
         "config": {"url": url}, "created_at": 1, "updated_at": 1}
    ], "default_target_id": "t"}});
    db.execute(
        "UPDATE user SET settings = ?1 WHERE email = 'admin@example.com'",
        [settings.to_string()],
    )
    .unwrap();
    let r = admin
        .post("/api/v1/notifications/targets/t/test", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "Webhook delivery failed");
    assert!(got.lock().unwrap().is_empty());

    srv.stop().await;
}

#[tokio::test]
async fn event_catalog_and_webhooks() {
    let srv = TestServer::fresh().await;
    let (admin, ann) = setup(&srv).await;
    let cat = admin.get("/api/events").await;
    assert_eq!(cat.status, 200);
    assert_eq!(cat.body["schema"], "0.12.4");
    let events = cat.body["events"].as_array().unwrap();
    assert!(events.len() > 150);
    let finished = events
        .iter()
        .find(|e| e["event"] == "chat.finished")
        .unwrap();
    assert!(finished["description"].is_string() && finished["message"].is_string());
    assert_eq!(
        ann.get("/api/events").await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(admin.get("/api/events/webhooks").await.body, json!([]));
    for bad in [
        json!({"url": "https://example.com/h", "events": ["user.made"]}),
        json!({"url": "https://example.com/h", "events": ["nothing.*"]}),
        json!({"url": "http://127.0.0.1:9/h"}),
    ] {
        let r = admin.post("/api/events/webhooks", bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(admin.get("/api/events/webhooks").await.body, json!([]));

    // A webhook configured by the Python server is listed and can be removed.
    let value =
        json!([{"id": "default", "url": "https://example.com/h", "events": null, "created_at": 5}]);
    let state = srv.state.clone().unwrap();
    state.config.set("events.webhooks", value).await.unwrap();
    let list = admin.get("/api/events/webhooks").await;
    assert_eq!(
        list.body,
        json!([{"id": "default", "name": "Default webhook", "url": "https://example.com/h",
                "enabled": true, "events": ["*"], "targets": null, "created_at": 5,
                "updated_at": list.body[0]["updated_at"]}])
    );
    let r = admin
        .send(
            Method::PUT,
            "/api/events/webhooks/nope",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["detail"], "Webhook not found");
    let r = admin.delete("/api/events/webhooks/default").await;
    assert_eq!(r.body, json!({"status": true}));
    assert_eq!(admin.get("/api/events/webhooks").await.body, json!([]));
    assert_eq!(
        admin.delete("/api/events/webhooks/default").await.status,
        StatusCode::NOT_FOUND
    );

    srv.stop().await;
}

/// A loopback receiver recording `(path, body)` of every POST.
async fn recorder() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::post(
            move |axum::extract::Path(p): axum::extract::Path<String>,
                  axum::Json(v): axum::Json<Value>| {
                let g = g.clone();
                async move {
                    g.lock().unwrap().push((p, v));
                    "ok"
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}"), got)
}

async fn wait_for_post(got: &Arc<Mutex<Vec<(String, Value)>>>, path: &str) -> Option<Value> {
    for _ in 0..200 {
        if let Some((_, v)) = got.lock().unwrap().iter().find(|(p, _)| p == path) {
            return Some(v.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    None
}

fn chat_body(content: &str) -> Value {
    json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": {},
        "session_id": "not-a-socket", "id": "a-1",
        "message_ids": [{"model_id": "mock-gpt", "message_id": "a-1", "modelIdx": 0}],
        "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": content, "timestamp": 1, "models": ["mock-gpt"]},
    })
}

#[tokio::test]
async fn events_reach_event_webhooks_and_user_targets() {
    let _env = ENV_LOCK.lock().await;
    std::env::set_var("ENABLE_LOCAL_WEB_FETCH", "true");
    let srv = TestServer::fresh().await;
    let (admin, _ann) = setup(&srv).await;
    let (base, got) = recorder().await;

    // An event webhook on user.* hears of the next account, with its envelope.
    let r = admin
        .post(
            "/api/events/webhooks",
            json!({"name": "Audit", "url": format!("{base}/events"), "events": ["user.*"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let hook_id = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Bo", "email": "bo@example.com", "password": "Passw0rd!x", "role": "user"}),
        )
        .await;
    let bo_id = r.body["id"].as_str().unwrap().to_string();
    let event = wait_for_post(&got, "events")
        .await
        .expect("user.created delivered");
    assert_eq!(event["event"], "user.created");
    assert_eq!(
        (event["resource"].as_str(), event["operation"].as_str()),
        (Some("user"), Some("created"))
    );
    assert_eq!(event["subject"], json!({"type": "user", "id": bo_id}));
    assert_eq!(event["actor"]["role"], "admin");
    assert_eq!(event["source"], "admin");
    assert_eq!(event["data"], json!({"role": "user"}));
    // Switched off, it hears nothing more.
    let r = admin
        .send(
            Method::PUT,
            &format!("/api/events/webhooks/{hook_id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["name"], "Audit");

    // The admin's own targets: one for finished replies, one for failed ones.
    let llm = common::mock_llm::MockLlm::openai(&["mock-gpt"]).await;
    common::connect_openai(&admin, &llm.url).await;
    enable_webhooks(&admin).await;
    for (id, event) in [("done", "chat.finished"), ("failed", "chat.failed")] {
        let r = admin
            .post(
                "/api/v1/notifications/targets",
                json!({"id": id, "config": {"url": format!("{base}/{id}")},
                       "events": [event], "delivery": "always"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = admin
        .post("/api/chat/completions", chat_body("hello"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let done = wait_for_post(&got, "done")
        .await
        .expect("chat.finished delivered");
    assert_eq!(done["action"], "chat");
    assert_eq!(done["message"], "Hello from the mock.");
    assert!(done["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/c/{}", r.body["chat_id"].as_str().unwrap())));

    llm.set(common::mock_llm::Behavior {
        fail: Some((500, "the provider is down".into())),
        ..Default::default()
    });
    admin
        .post("/api/chat/completions", chat_body("again"))
        .await;
    let failed = wait_for_post(&got, "failed")
        .await
        .expect("chat.failed delivered");
    assert_eq!(failed["action"], "chat_failed");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("the provider is down"),
        "{failed}"
    );
    // Each target heard only its own event; the switched-off webhook nothing after the first.
    let paths: Vec<String> = got.lock().unwrap().iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        paths.iter().filter(|p| *p == "done").count(),
        1,
        "{paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| *p == "events").count(),
        1,
        "{paths:?}"
    );
    srv.stop().await;
}
