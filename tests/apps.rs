//! External apps over the wire, against a stand-in app service: a Socket.IO
//! server (namespace `/apps`) that serves its manifest over HTTP, proves its
//! identity with an Ed25519 JWT, checks the context token of each event it
//! receives, and calls back with `app:request`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::{add_user_with_id, admin, enable_channels, TestServer};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;

const API_KEY: &str = "app-secret-key";
const SECRET: &str = "test-secret";

#[derive(Default)]
struct Seen {
    events: Vec<Value>,
    socket: Option<SocketRef>,
    bearer: Vec<String>,
}

struct Double {
    url: String,
    public_pem: String,
    seen: Arc<Mutex<Seen>>,
}

fn spki_pem(raw: &[u8]) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(raw);
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b}\n-----END PUBLIC KEY-----\n")
}

/// Checks a context token the way the server signs it (we know its secret).
fn token_is_signed(token: &str, app_id: &str, public_key: &str, stored_key: &str) -> bool {
    let Some((payload, sig)) = token.split_once('.') else {
        return false;
    };
    let mut bind = Sha256::new();
    bind.update(public_key.as_bytes());
    bind.update(stored_key.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"open-webui-context-v1\n");
    mac.update(app_id.as_bytes());
    mac.update(b"\n");
    mac.update(&bind.finalize());
    mac.update(b"\n");
    mac.update(payload.as_bytes());
    let expected = base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes());
    expected == sig
}

async fn double() -> Double {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let public_pem = spki_pem(kp.public_key_raw());
    let signing = jsonwebtoken::EncodingKey::from_ed_der(&kp.serialize_der());
    let seen: Arc<Mutex<Seen>> = Default::default();
    let (layer, io) = SocketIo::builder().req_path("/svc/socket.io").build_layer();
    let s2 = seen.clone();
    io.ns("/apps", move |socket: SocketRef| {
        let s2 = s2.clone();
        let signing = signing.clone();
        async move {
        let bearer = socket
            .req_parts()
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        s2.lock().unwrap().bearer.push(bearer);
        s2.lock().unwrap().socket = Some(socket.clone());
        let signing = signing.clone();
        socket.on("app:connect", move |Data(d): Data<Value>, ack: AckSender| {
            let signing = signing.clone();
            async move {
            let token = "conn-token-1";
            let inst = "4b0a6a8e-8d2c-4a52-9d32-6f9d6c1e2a10";
            let now = chrono_now();
            let claims = json!({
                "sub": inst, "app_id": d["app_id"], "manifest_id": "echo",
                "iat": now, "exp": now + 30, "aud": "oix:connect",
                "challenge": d["challenge"],
                "token_hash": hex::encode(Sha256::digest(token.as_bytes())),
            });
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
            h.typ = Some("oix-connect+jwt".into());
            let proof = jsonwebtoken::encode(&h, &claims, &signing).unwrap();
            ack.send(&json!({"status": 200, "data": {
                "connection_token": token, "proof": proof, "installation_id": inst}}))
                .ok();
        }
        });
        socket.on("app:ready", |ack: AckSender| async move {
            ack.send(&json!({"status": 200, "data": {"received": true}})).ok();
        });
        let s3 = s2.clone();
        socket.on("app:event", move |Data(d): Data<Value>, ack: AckSender| {
            let s3 = s3.clone();
            async move {
            let kind = d["type"].as_str().unwrap_or_default().to_string();
            s3.lock().unwrap().events.push(d);
            let answer = if kind == "channel.action" {
                json!({"status": 200, "data": {"type": "message", "visibility": "channel", "content": "button pressed"}})
            } else {
                json!({"status": 200, "data": {"received": true}})
            };
            ack.send(&answer).ok();
        }
        });
    }
    });
    let pem = public_pem.clone();
    let app = axum::Router::new()
        .route(
            "/svc",
            axum::routing::get(move |h: axum::http::HeaderMap| {
                let pem = pem.clone();
                async move {
                    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {API_KEY}")) {
                        return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({}))).into_response_parts();
                    }
                    (axum::http::StatusCode::OK, axum::Json(json!({
                        "id": "echo", "name": "Echo", "description": "answers",
                        "public_key": pem,
                        "requested_scopes": ["channels:messages:read", "channels:messages:write", "channels:read"],
                    }))).into_response_parts()
                }
            }),
        )
        .layer(layer);
    let base = common::serve(app).await;
    Double {
        url: format!("{base}/svc"),
        public_pem,
        seen,
    }
}

trait IntoParts {
    fn into_response_parts(self) -> axum::response::Response;
}
impl<T: axum::response::IntoResponse> IntoParts for T {
    fn into_response_parts(self) -> axum::response::Response {
        self.into_response()
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn origin_of(url: &str) -> String {
    url.trim_end_matches("/svc").to_string()
}

async fn enable_apps(srv: &TestServer) {
    srv.state
        .clone()
        .unwrap()
        .config
        .set_many(vec![("apps.enable", json!(true))])
        .await
        .unwrap();
}

async fn wait_for<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn app_lifecycle_channel_events_and_replies() {
    let d = double().await;
    std::env::set_var("APP_ALLOWED_PRIVATE_ORIGINS", origin_of(&d.url));
    let srv = TestServer::fresh().await;
    enable_apps(&srv).await;
    enable_channels(&srv).await;
    let admin = admin(&srv).await;
    let (user, _uid) = add_user_with_id(&srv, &admin, "Bea").await;

    // Manifest preview: the key is required and checked by the app.
    let r = admin
        .post(
            "/api/v1/apps/manifest/preview",
            json!({"url": d.url, "api_key": "wrong"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = admin
        .post(
            "/api/v1/apps/manifest/preview",
            json!({"url": d.url, "api_key": API_KEY}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], "echo");
    assert_eq!(r.body["public_key"], d.public_pem);
    let manifest = r.body.clone();
    let r = user
        .post(
            "/api/v1/apps/manifest/preview",
            json!({"url": d.url, "api_key": API_KEY}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Create: admin only, scopes must have been requested, slugs unique.
    let form = json!({"manifest": manifest, "url": d.url, "api_key": API_KEY, "slug": "echo",
        "granted_scopes": ["channels:messages:read", "channels:messages:write", "channels:read"]});
    let r = user.post("/api/v1/apps", form.clone()).await;
    assert_eq!(r.status, 401);
    let mut bad = form.clone();
    bad["granted_scopes"] = json!(["channels:mentions:read"]);
    assert_eq!(admin.post("/api/v1/apps", bad).await.status, 400);
    let r = admin.post("/api/v1/apps", form.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let app_id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["configured"], true);
    assert_eq!(r.body["connection_status"], "disconnected");
    assert!(r.body["data"].get("connection_token").is_none());
    assert_eq!(admin.post("/api/v1/apps", form.clone()).await.status, 409);

    // The key is stored encrypted, not as sent.
    let stored: String = srv
        .state
        .clone()
        .unwrap()
        .db
        .read({
            let id = app_id.clone();
            move |c| c.query_row("SELECT api_key FROM app WHERE id = ?1", [id], |r| r.get(0))
        })
        .await
        .unwrap();
    assert!(
        !stored.contains(API_KEY) && stored.starts_with("gAAAAA"),
        "{stored}"
    );

    // Inactive apps are hidden from users and cannot be invited.
    let r = user.get("/api/v1/apps").await;
    assert_eq!(r.body, json!([]), "{}", r.body);

    // Connect: the app proves its identity and becomes active.
    assert_eq!(
        user.post(&format!("/api/v1/apps/{app_id}/connect"), json!({}))
            .await
            .status,
        401
    );
    let r = admin
        .post(&format!("/api/v1/apps/{app_id}/connect"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["is_active"], true);
    assert_eq!(r.body["connection_status"], "connected");
    assert_eq!(
        r.body["data"]["installation_id"],
        "4b0a6a8e-8d2c-4a52-9d32-6f9d6c1e2a10"
    );
    assert_eq!(
        d.seen.lock().unwrap().bearer.last().unwrap(),
        &format!("Bearer {API_KEY}")
    );

    let r = admin.get(&format!("/api/v1/apps/{app_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["access_grants"][0]["principal_id"], "*");
    assert_eq!(
        user.get(&format!("/api/v1/apps/{app_id}")).await.status,
        401
    );

    // Update: renaming works; activating by PATCH is refused.
    let r = admin
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/apps/{app_id}"),
            Some(json!({"name": "Echo Bot"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Echo Bot");
    let r = admin
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/apps/{app_id}"),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = user
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/apps/{app_id}"),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, 401);

    // Users see the active app.
    let r = user.get("/api/v1/apps").await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.body);

    // A channel; a plain member may not invite, the creator (manager) may.
    let r = admin
        .post(
            "/api/v1/channels/create",
            json!({"name": "Room", "type": "group", "user_ids": [_uid]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ch = r.body["id"].as_str().unwrap().to_string();
    let r = user
        .post(
            &format!("/api/v1/channels/{ch}/apps"),
            json!({"app_id": app_id}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = admin
        .post(
            &format!("/api/v1/channels/{ch}/apps"),
            json!({"app_id": app_id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = user.get(&format!("/api/v1/channels/{ch}/apps")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[0]["id"], app_id);

    // A member posts: the app hears it with a context token we signed.
    let r = user
        .post(
            &format!("/api/v1/channels/{ch}/messages/post"),
            json!({"content": "hello app"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = d.seen.clone();
    wait_for("the created event", || {
        !seen.lock().unwrap().events.is_empty()
    })
    .await;
    let ev = d.seen.lock().unwrap().events[0].clone();
    assert_eq!(ev["type"], "channel.message.created");
    assert_eq!(ev["message"]["content"], "hello app");
    assert_eq!(ev["message"]["author"]["type"], "user");
    assert_eq!(ev["channel"]["id"], ch);
    assert!(token_is_signed(
        ev["event_token"].as_str().unwrap(),
        &app_id,
        &d.public_pem,
        &stored
    ));
    // Tampering with the token breaks the signature.
    let mut forged = ev["event_token"].as_str().unwrap().to_string();
    forged.insert(3, 'x');
    assert!(!token_is_signed(&forged, &app_id, &d.public_pem, &stored));

    // The app checks the token and posts back with its own identity.
    let sock = d.seen.lock().unwrap().socket.clone().unwrap();
    let call = |payload: Value| {
        let sock = sock.clone();
        async move {
            sock.emit_with_ack::<_, Value>("app:request", &payload)
                .unwrap()
                .await
                .unwrap()
        }
    };
    let v =
        call(json!({"operation": "verify_event", "arguments": {"token": ev["event_token"]}})).await;
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["data"]["message"]["content"], "hello app");
    let v = call(json!({"operation": "verify_event", "arguments": {"token": forged}})).await;
    assert_eq!(v["status"], 403, "{v}");
    let v = call(json!({"operation": "create_message", "arguments": {"channel_id": ch, "content": "hi from the app",
        "actions": [{"action_id": "go", "label": "Go", "context": {"n": 1}}]}})).await;
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["data"]["app_id"], app_id);
    let app_msg = v["data"]["id"].as_str().unwrap().to_string();
    let v = call(json!({"operation": "list_channels", "arguments": {}})).await;
    assert_eq!(v["data"][0]["id"], ch, "{v}");
    let r = user.get(&format!("/api/v1/channels/{ch}/messages")).await;
    let m = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == app_msg.as_str())
        .cloned()
        .unwrap();
    assert_eq!(m["user"]["role"], "app");
    assert_eq!(m["data"]["app"]["actions"][0]["action_id"], "go");

    // Pressing the button: the app hears `channel.action` and answers in the channel.
    let r = user
        .post(
            &format!("/api/v1/apps/{app_id}/interactions"),
            json!({"message_id": app_msg, "action_id": "nope"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = user
        .post(
            &format!("/api/v1/apps/{app_id}/interactions"),
            json!({"message_id": app_msg, "action_id": "go"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["message"]["content"], "button pressed");
    let action = d
        .seen
        .lock()
        .unwrap()
        .events
        .iter()
        .find(|e| e["type"] == "channel.action")
        .cloned()
        .unwrap();
    assert_eq!(action["data"]["context"], json!({"n": 1}));
    assert_eq!(action["actor"]["name"], "Bea");
    let v =
        call(json!({"operation": "authorize", "arguments": {"token": action["execution_token"]}}))
            .await;
    assert_eq!(v["data"]["authorized"], true, "{v}");

    // Removed from the channel: no more access for the app there.
    let r = admin
        .delete(&format!("/api/v1/channels/{ch}/apps/{app_id}"))
        .await;
    assert_eq!(r.body, json!({"removed": true}));
    assert_eq!(
        user.get(&format!("/api/v1/channels/{ch}/apps")).await.body,
        json!([])
    );
    let v = call(
        json!({"operation": "create_message", "arguments": {"channel_id": ch, "content": "again"}}),
    )
    .await;
    assert_eq!(v["status"], 403, "{v}");

    // Uninstall: users refused; the admin's uninstall forgets the key.
    assert_eq!(
        user.delete(&format!("/api/v1/apps/{app_id}")).await.status,
        401
    );
    let r = admin.delete(&format!("/api/v1/apps/{app_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["configured"], false);
    assert_eq!(user.get("/api/v1/apps").await.body, json!([]));
}

#[tokio::test]
async fn urls_must_be_https_public_and_plain() {
    let srv = TestServer::fresh().await;
    enable_apps(&srv).await;
    let admin = admin(&srv).await;
    // Plain HTTP to an unlisted origin.
    let r = admin
        .post(
            "/api/v1/apps/manifest/preview",
            json!({"url": "http://127.0.0.1:9/svc", "api_key": "k"}),
        )
        .await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("HTTPS"),
        "{}",
        r.body
    );
    // HTTPS, but a private address not listed in APP_ALLOWED_PRIVATE_ORIGINS.
    let r = admin
        .post(
            "/api/v1/apps/manifest/preview",
            json!({"url": "https://127.0.0.1:9/svc", "api_key": "k"}),
        )
        .await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("private"),
        "{}",
        r.body
    );
    // A key is required.
    let r = admin
        .post(
            "/api/v1/apps/manifest/preview",
            json!({"url": "https://apps.example.com/svc"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Query strings and credentials are refused when creating.
    let d = double().await;
    for url in [
        "https://apps.example.com/svc?x=1",
        "https://u:p@apps.example.com/svc",
        "http://apps.example.com/svc",
    ] {
        let form = json!({"manifest": {"id": "m", "name": "M", "public_key": d.public_pem, "requested_scopes": []},
            "url": url, "api_key": "k", "slug": "m", "granted_scopes": []});
        let r = admin.post("/api/v1/apps", form).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert_eq!(r.body["detail"], "Invalid app URL");
    }
    // A manifest key that is not Ed25519 is a validation error.
    let form = json!({"manifest": {"id": "m", "name": "M", "public_key": "nope", "requested_scopes": []},
        "url": "https://apps.example.com/svc", "api_key": "k", "slug": "m", "granted_scopes": []});
    assert_eq!(admin.post("/api/v1/apps", form).await.status, 422);
}

#[tokio::test]
async fn switched_off_apps_answer_404() {
    let srv = TestServer::fresh().await;
    enable_channels(&srv).await;
    let admin = admin(&srv).await;
    let r = admin.get("/api/v1/apps").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["detail"], "Apps are disabled");
    let r = admin
        .post(
            "/api/v1/apps/manifest/preview",
            json!({"url": "https://a.example.com", "api_key": "k"}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = admin
        .post(
            "/api/v1/channels/create",
            json!({"name": "Room", "type": "group"}),
        )
        .await;
    let ch = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .get(&format!("/api/v1/channels/{ch}/apps"))
            .await
            .status,
        404
    );
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/channels/{ch}/apps"),
                json!({"app_id": "x"})
            )
            .await
            .status,
        404
    );
}
