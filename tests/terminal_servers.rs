//! Terminal servers over the real wire: the admin's verify/policy/lifecycle/
//! refresh calls, the per-user list, the HTTP proxy and the WebSocket relay,
//! against two stand-ins served in the test: a plain Open Terminal and an
//! orchestrator.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message as AxMessage, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use common::{Client, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const TERMINAL_KEY: &str = "term-key";
const ORCHESTRATOR_KEY: &str = "orch-key";

/// One request a stand-in received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

#[derive(Clone)]
struct Double {
    log: Log,
    key: &'static str,
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn authorized(d: &Double, h: &HeaderMap) -> bool {
    header(h, "authorization") == format!("Bearer {}", d.key)
}

/// Records the request and answers what it saw (a terminal's file API, say).
async fn echo(
    State(d): State<Double>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    d.log.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: headers.clone(),
        body: body.clone(),
    });
    // Neither stand-in has an admin API under its catch-all.
    if uri.path().starts_with("/api/v1/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    if uri.path().ends_with("/download") {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        return ([("content-type", "application/octet-stream")], bytes).into_response();
    }
    (
        [("x-terminal-answer", "yes")],
        Json(json!({
            "method": method.to_string(),
            "path": uri.path(),
            "query": uri.query(),
            "authorization": header(&headers, "authorization"),
            "user": header(&headers, "x-user-id"),
            "session": header(&headers, "x-session-id"),
            "context": header(&headers, "x-terminal-context-id"),
            "content_type": header(&headers, "content-type"),
            "body": String::from_utf8_lossy(&body),
        })),
    )
        .into_response()
}

async fn config(State(d): State<Double>, h: HeaderMap) -> Response {
    if authorized(&d, &h) {
        Json(json!({"features": {"terminal": true}})).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

/// A terminal session's socket: the first message is the proxy's sign-in,
/// recorded with the query; then text comes back prefixed, bytes reversed.
async fn session_socket(
    State(d): State<Double>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |mut socket| async move {
        let first = match socket.recv().await {
            Some(Ok(AxMessage::Text(t))) => t.as_str().to_string(),
            _ => return,
        };
        let query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        d.log.lock().unwrap().push(Seen {
            method: "WEBSOCKET".into(),
            path: format!("/api/terminals/{id}"),
            query: query.join("&"),
            headers,
            body: Bytes::from(first),
        });
        while let Some(Ok(m)) = socket.recv().await {
            let reply = match m {
                AxMessage::Text(t) => AxMessage::Text(format!("echo:{}", t.as_str()).into()),
                AxMessage::Binary(b) => {
                    let mut v = b.to_vec();
                    v.reverse();
                    AxMessage::Binary(v.into())
                }
                AxMessage::Close(_) => break,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    })
}

/// A plain Open Terminal: `/api/config` behind its key, everything else echoed.
async fn terminal_double() -> (String, Log) {
    let d = Double {
        log: Log::default(),
        key: TERMINAL_KEY,
    };
    let app = Router::new()
        .route("/api/config", get(config))
        .route("/api/terminals/{id}", get(session_socket).delete(echo))
        .fallback(any(echo))
        .with_state(d.clone());
    (common::serve(app).await, d.log)
}

async fn policies(State(d): State<Double>, h: HeaderMap) -> Response {
    if authorized(&d, &h) {
        Json(json!([{"id": "team"}])).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

/// A policy or lifecycle read or write: `missing` does not exist; a write
/// answers what it got.
async fn policy(
    State(d): State<Double>,
    method: Method,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&d, &h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if id == "missing" {
        return (StatusCode::NOT_FOUND, "no policy called missing").into_response();
    }
    let part = if uri.path().ends_with("/lifecycle") {
        "lifecycle"
    } else {
        "policy"
    };
    let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Json(json!({"id": id, "part": part, "method": method.to_string(), "sent": sent}))
        .into_response()
}

async fn refresh(State(d): State<Double>, h: HeaderMap, Json(sent): Json<Value>) -> Response {
    if !authorized(&d, &h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({"refreshed": sent})).into_response()
}

/// An orchestrator: the policies API behind its key, per-policy terminals
/// under `/p/<policy>/` echoed.
async fn orchestrator_double() -> (String, Log) {
    let d = Double {
        log: Log::default(),
        key: ORCHESTRATOR_KEY,
    };
    let app = Router::new()
        .route("/api/v1/policies", get(policies))
        .route("/api/v1/policies/{id}", get(policy).put(policy))
        .route("/api/v1/policies/{id}/lifecycle", get(policy).put(policy))
        .route("/api/v1/terminals/refresh", post(refresh))
        .fallback(any(echo))
        .with_state(d.clone());
    (common::serve(app).await, d.log)
}

struct Setup {
    srv: TestServer,
    admin: Client,
    user: Client,
    user_id: String,
    other: Client,
    terminal: String,
    terminal_log: Log,
    orchestrator: String,
    orchestrator_log: Log,
}

/// The server, an admin, a user the terminal `term` is shared with, another
/// user it is not shared with, and the connections:
/// `term` (plain, shared with the user), `private` (no grants: admins only),
/// `off` (shared but switched off) and `orch` (an orchestrator's `team`
/// policy with one terminal per chat, shared with the user).
async fn setup() -> Setup {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (user, user_id) = common::add_user_with_id(&srv, &admin, "Uma").await;
    let other = common::add_user(&srv, &admin, "Otto").await;
    let (terminal, terminal_log) = terminal_double().await;
    let (orchestrator, orchestrator_log) = orchestrator_double().await;
    let shared = json!([{"principal_type": "user", "principal_id": user_id, "permission": "read"}]);
    let r = admin
        .post(
            "/api/v1/configs/terminal_servers",
            json!({"TERMINAL_SERVER_CONNECTIONS": [
                {"id": "term", "name": "Box", "url": format!("{terminal}/"), "key": TERMINAL_KEY,
                 "auth_type": "bearer", "config": {"access_grants": shared}},
                {"id": "private", "name": "Admins", "url": terminal, "key": TERMINAL_KEY},
                {"id": "off", "name": "Off", "url": terminal, "enabled": false,
                 "config": {"access_grants": shared}},
                {"id": "orch", "name": "Team", "url": orchestrator, "key": ORCHESTRATOR_KEY,
                 "server_type": "orchestrator", "policy_id": "team",
                 "config": {"access_grants": shared, "chat_uploads": "filesystem",
                            "contexts": {"chat": {"context_id": "chat_id"}}}},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    Setup {
        srv,
        admin,
        user,
        user_id,
        other,
        terminal,
        terminal_log,
        orchestrator,
        orchestrator_log,
    }
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn verify_tells_orchestrators_from_terminals_and_refuses_dead_urls() {
    let s = setup().await;
    let verify = "/api/v1/configs/terminal_servers/verify";
    let r = s
        .admin
        .post(
            verify,
            json!({"url": format!("{}/", s.orchestrator), "key": ORCHESTRATOR_KEY}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"status": true, "type": "orchestrator"}));

    let r = s
        .admin
        .post(
            verify,
            json!({"url": s.terminal, "key": TERMINAL_KEY, "auth_type": "bearer"}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"status": true, "type": "terminal"}),
        "{}",
        r.body
    );

    // The key goes along: without it the terminal refuses, so nothing answers.
    let r = s
        .admin
        .post(verify, json!({"url": s.terminal, "key": "wrong"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["detail"].is_string());
    // With auth type `none` no key is sent either.
    let r = s
        .admin
        .post(
            verify,
            json!({"url": s.terminal, "key": TERMINAL_KEY, "auth_type": "none"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let r = s.admin.post(verify, json!({"url": dead})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.admin.post(verify, json!({"key": "k"})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = s.admin.post(verify, json!({"url": ""})).await;
    assert_eq!(r.status, 400, "{}", r.body);

    let r = s.user.post(verify, json!({"url": s.terminal})).await;
    assert!(matches!(r.status.as_u16(), 401 | 403), "{}", r.status);
    s.srv.stop().await;
}

#[tokio::test]
async fn policy_lifecycle_and_refresh_are_proxied_for_admins_only() {
    let s = setup().await;
    let form = |extra: Value| {
        let mut f = json!({"url": format!("{}/", s.orchestrator), "key": ORCHESTRATOR_KEY,
                           "auth_type": "bearer", "policy_id": "team"});
        for (k, v) in extra.as_object().unwrap() {
            f[k] = v.clone();
        }
        f
    };
    let policy = "/api/v1/configs/terminal_servers/policy";
    let r = s.admin.post(policy, form(json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"id": "team", "part": "policy", "method": "GET", "sent": null})
    );
    let r = s
        .admin
        .post(
            policy,
            form(json!({"policy_data": {"image": "ubuntu", "cpu": 2}})),
        )
        .await;
    assert_eq!(r.body["method"], "PUT", "{}", r.body);
    assert_eq!(r.body["part"], "policy");
    assert_eq!(r.body["sent"], json!({"image": "ubuntu", "cpu": 2}));
    // The orchestrator's refusal keeps its status and text.
    let r = s
        .admin
        .post(policy, form(json!({"policy_id": "missing"})))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["detail"], "no policy called missing");
    let r = s.admin.post(policy, form(json!({"key": "wrong"}))).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = s
        .admin
        .post(
            policy,
            json!({"url": s.orchestrator, "key": ORCHESTRATOR_KEY}),
        )
        .await;
    assert_eq!(r.status, 422, "policy_id is required: {}", r.body);
    let r = s
        .admin
        .post(policy, form(json!({"policy_data": "not an object"})))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let r = s.admin.post(policy, form(json!({"url": dead}))).await;
    assert_eq!(r.status, 400, "{}", r.body);

    let lifecycle = "/api/v1/configs/terminal_servers/lifecycle";
    let r = s.admin.post(lifecycle, form(json!({}))).await;
    assert_eq!(
        r.body,
        json!({"id": "team", "part": "lifecycle", "method": "GET", "sent": null})
    );
    let r = s
        .admin
        .post(
            lifecycle,
            form(json!({"lifecycle_data": {"idle_timeout": 600}})),
        )
        .await;
    assert_eq!(r.body["method"], "PUT", "{}", r.body);
    assert_eq!(r.body["part"], "lifecycle");
    assert_eq!(r.body["sent"], json!({"idle_timeout": 600}));

    let refresh = "/api/v1/configs/terminal_servers/refresh";
    let r = s
        .admin
        .post(
            refresh,
            json!({"url": s.orchestrator, "key": ORCHESTRATOR_KEY}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"refreshed": {"only_idle": true, "reset": false}})
    );
    let r = s
        .admin
        .post(
            refresh,
            json!({"url": s.orchestrator, "key": ORCHESTRATOR_KEY, "user_id": "u1",
                   "policy_id": "team", "only_idle": false, "reset": true}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"refreshed": {"only_idle": false, "reset": true, "user_id": "u1", "policy_id": "team"}})
    );

    for path in [policy, lifecycle, refresh] {
        let r = s.user.post(path, form(json!({}))).await;
        assert!(
            matches!(r.status.as_u16(), 401 | 403),
            "{path}: {}",
            r.status
        );
    }
    s.srv.stop().await;
}

#[tokio::test]
async fn the_list_shows_only_the_servers_shared_with_the_caller() {
    let s = setup().await;
    let ids = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = s.user.get("/api/v1/terminals/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body), ["term", "orch"]);
    let orch = &r.body[1];
    assert_eq!(orch["name"], "Team");
    assert_eq!(orch["url"], s.orchestrator.as_str());
    assert_eq!(orch["contexts"], json!({"chat": {"context_id": "chat_id"}}));
    assert_eq!(orch["config"], json!({"chat_uploads": "filesystem"}));
    assert_eq!(r.body[0]["contexts"], json!({}));
    assert_eq!(r.body[0]["config"], json!({"chat_uploads": "default"}));
    assert!(!r.body.to_string().contains(TERMINAL_KEY), "no secrets");

    let r = s.other.get("/api/v1/terminals/").await;
    assert_eq!(r.body, json!([]));
    let r = s.admin.get("/api/v1/terminals/").await;
    assert_eq!(ids(&r.body), ["term", "private", "orch"]);
    let r = s.srv.client().get("/api/v1/terminals/").await;
    assert_eq!(r.status, 401);
    s.srv.stop().await;
}

#[tokio::test]
async fn the_proxy_sends_the_key_who_asks_and_the_body() {
    let s = setup().await;
    let url = format!(
        "{}/api/v1/terminals/term/files/write?path=%2Ftmp%2Fa.txt&x=1",
        s.srv.base
    );
    let r = s
        .user
        .http
        .post(&url)
        .bearer_auth(s.user.token.as_deref().unwrap())
        .header("content-type", "text/plain")
        .header("x-session-id", "chat-9")
        .body("hello terminal")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-terminal-answer"], "yes");
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["method"], "POST");
    assert_eq!(got["path"], "/files/write");
    assert_eq!(got["query"], "path=%2Ftmp%2Fa.txt&x=1");
    assert_eq!(got["authorization"], format!("Bearer {TERMINAL_KEY}"));
    assert_eq!(got["user"], s.user_id.as_str());
    assert_eq!(got["session"], "chat-9");
    assert_eq!(got["context"], "", "a plain terminal gets no context");
    assert_eq!(got["content_type"], "text/plain");
    assert_eq!(got["body"], "hello terminal");
    // The browser's own credential never reaches the terminal.
    let last = seen(&s.terminal_log).pop().unwrap();
    assert!(!format!("{:?}", last.headers).contains(s.user.token.as_deref().unwrap()));

    // Other methods, and a binary answer streamed through whole.
    let r = s
        .user
        .send(
            Method::DELETE,
            "/api/v1/terminals/term/api/terminals/s1",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["method"], "DELETE");
    assert_eq!(r.body["path"], "/api/terminals/s1");
    let r = s
        .user
        .http
        .get(format!(
            "{}/api/v1/terminals/term/files/download",
            s.srv.base
        ))
        .bearer_auth(s.user.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), 300_000);
    assert_eq!(bytes[256], 0);

    // The chat form of the route names the chat; a per-chat orchestrator
    // terminal gets its context and the policy's route.
    let r = s
        .user
        .get("/api/v1/terminals/orch/chats/c-42/files/cwd")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["path"], "/p/team/files/cwd");
    assert_eq!(r.body["session"], "c-42");
    assert_eq!(r.body["context"], "chat:c-42");
    assert_eq!(
        r.body["authorization"],
        format!("Bearer {ORCHESTRATOR_KEY}")
    );
    // A temporary chat has no terminal of its own there.
    let r = s
        .user
        .get("/api/v1/terminals/orch/chats/local:abc/files/cwd")
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    s.srv.stop().await;
}

#[tokio::test]
async fn traversal_and_admin_paths_are_refused() {
    let s = setup().await;
    for path in [
        "/api/v1/terminals/term/%252e%252e/%252e%252e/etc/passwd",
        "/api/v1/terminals/term/files/%252e%252e%252f%252e%252e%252fsecret",
        "/api/v1/terminals/term/a/..%5C..%5Cb",
        "/api/v1/terminals/term/a%09/.%09./b",
        "/api/v1/terminals/term/%2525252525252525252e%2525252525252525252e/x",
    ] {
        let r = s.user.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body["detail"].is_string(), "{path}");
    }
    // A plain orchestrator URL: its admin API is not reachable through the proxy.
    let r = s
        .admin
        .post(
            "/api/v1/configs/terminal_servers",
            json!({"TERMINAL_SERVER_CONNECTIONS": [
                {"id": "raw", "url": s.orchestrator, "key": ORCHESTRATOR_KEY,
                 "server_type": "orchestrator"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    for path in [
        "/api/v1/terminals/raw/api/v1/policies",
        "/api/v1/terminals/raw/api/v1/terminals/refresh",
        "/api/v1/terminals/raw/x/../api/v1/status",
        "/api/v1/terminals/raw/api/v1//policies/team",
    ] {
        let r = s.admin.get(path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
    let r = s.admin.get("/api/v1/terminals/raw/files/cwd").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(seen(&s.terminal_log).is_empty());
    let reached: Vec<String> = seen(&s.orchestrator_log)
        .iter()
        .map(|x| x.path.clone())
        .collect();
    assert_eq!(reached, ["/files/cwd"]);
    s.srv.stop().await;
}

#[tokio::test]
async fn callers_without_access_are_refused() {
    let s = setup().await;
    let r = s.other.get("/api/v1/terminals/term/files/cwd").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.user.get("/api/v1/terminals/private/files/cwd").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.user.get("/api/v1/terminals/off/files/cwd").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.user.get("/api/v1/terminals/nope/files/cwd").await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s.srv.client().get("/api/v1/terminals/term/files/cwd").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let (pending, _) = common::add_user_with_role(&s.srv, &s.admin, "Pia", "pending").await;
    let r = pending.get("/api/v1/terminals/term/files/cwd").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = s
        .user
        .send(Method::TRACE, "/api/v1/terminals/term/files/cwd", None)
        .await;
    assert_eq!(r.status, 405);
    assert!(
        seen(&s.terminal_log).is_empty(),
        "nothing reached the terminal"
    );
    // The admin reaches the admins-only one.
    let r = s.admin.get("/api/v1/terminals/private/files/cwd").await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.srv.stop().await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(s: &Setup, server: &str, session: &str) -> Socket {
    let url = format!(
        "ws://{}/api/v1/terminals/{server}/api/terminals/{session}",
        s.srv.addr
    );
    tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade")
        .0
}

/// The next message that is not a ping or pong.
async fn next(ws: &mut Socket) -> Option<Message> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("an answer in time");
        match m {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) => return Some(m),
            _ => return None,
        }
    }
}

fn close_code(m: Option<Message>) -> u16 {
    match m {
        Some(Message::Close(Some(f))) => f.code.into(),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn the_websocket_is_relayed_both_ways() {
    let s = setup().await;
    let mut ws = open_socket(&s, "term", "s%201").await;
    let hello = json!({"type": "auth", "token": s.user.token, "chat_id": "chat-1"});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    ws.send(Message::text("ls -la\n")).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::text("echo:ls -la\n")));
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::binary(vec![3u8, 2, 1])));

    let opened = seen(&s.terminal_log)
        .into_iter()
        .find(|x| x.method == "WEBSOCKET")
        .expect("the terminal got the session");
    assert_eq!(opened.path, "/api/terminals/s 1");
    assert_eq!(opened.query, format!("user_id={}", s.user_id));
    assert_eq!(header(&opened.headers, "x-user-id"), s.user_id);
    assert_eq!(header(&opened.headers, "x-session-id"), "chat-1");
    let auth: Value = serde_json::from_slice(&opened.body).unwrap();
    assert_eq!(auth, json!({"type": "auth", "token": TERMINAL_KEY}));
    ws.close(None).await.ok();
    s.srv.stop().await;
}

#[tokio::test]
async fn the_websocket_refuses_bad_sign_ins() {
    let s = setup().await;
    let cases = [
        (
            "term",
            json!({"type": "auth", "token": "not-a-token"}).to_string(),
            4001,
        ),
        (
            "term",
            json!({"type": "resize", "cols": 80}).to_string(),
            4001,
        ),
        ("term", "not json".to_string(), 4001),
        (
            "term",
            json!({"type": "auth", "token": s.other.token}).to_string(),
            4003,
        ),
        (
            "nope",
            json!({"type": "auth", "token": s.user.token}).to_string(),
            4004,
        ),
        (
            "off",
            json!({"type": "auth", "token": s.user.token}).to_string(),
            4003,
        ),
        // A per-chat terminal without a saved chat.
        (
            "orch",
            json!({"type": "auth", "token": s.user.token, "chat_id": ""}).to_string(),
            4003,
        ),
    ];
    for (server, first, code) in cases {
        let mut ws = open_socket(&s, server, "s1").await;
        ws.send(Message::text(first.clone())).await.unwrap();
        assert_eq!(close_code(next(&mut ws).await), code, "{server}: {first}");
    }
    assert!(
        seen(&s.terminal_log).is_empty() && seen(&s.orchestrator_log).is_empty(),
        "no refused session reached a terminal"
    );
    s.srv.stop().await;
}

#[tokio::test]
async fn a_session_ends_when_access_is_revoked() {
    let s = setup().await;
    let mut ws = open_socket(&s, "term", "s2").await;
    let hello = json!({"type": "auth", "token": s.user.token, "chat_id": ""});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    ws.send(Message::text("pwd")).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::text("echo:pwd")));
    // The grant goes away; the next check (within ten seconds) ends the session.
    let r = s
        .admin
        .post(
            "/api/v1/configs/terminal_servers",
            json!({"TERMINAL_SERVER_CONNECTIONS": [
                {"id": "term", "url": s.terminal, "key": TERMINAL_KEY}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(close_code(next(&mut ws).await), 4003);
    s.srv.stop().await;
}
