//! Pipelines servers over the real wire: the admin's `/api/v1/pipelines/*`
//! routes relayed to a stand-in pipelines server, and its filters around
//! chat completions (inlet rewriting the question the provider sees, outlet
//! rewriting the stored reply, failing and unreachable filters).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use common::mock_llm::MockLlm;
use common::{Client, TestServer};
use serde_json::{json, Value};

const KEY: &str = "pipe-key";

/// How the stand-in's filter answers at one stage.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// Rewrites the last user message (inlet) or the last reply (outlet).
    Rewrite,
    /// 403 with its own `detail`.
    Refuse,
    /// 200 with a body that is not JSON.
    Garbage,
}

struct Double {
    inlet: Mutex<Mode>,
    outlet: Mutex<Mode>,
    /// (path, Authorization, body) of every request.
    seen: Mutex<Vec<(String, String, Value)>>,
}

type Shared = Arc<Double>;

fn record(d: &Double, path: &str, headers: &HeaderMap, body: Value) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    d.seen.lock().unwrap().push((path.to_string(), auth, body));
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"detail": "bad key"}))).into_response()
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "pipelines": true, "data": [
        {"id": "rewriter", "name": "Rewriter", "object": "model",
         "pipeline": {"type": "filter", "pipelines": ["mock-gpt"], "priority": 0, "valves": true}},
        {"id": "pipe-echo", "name": "Echo pipe", "object": "model",
         "pipeline": {"type": "pipe", "valves": false}},
    ]}))
}

async fn filter(
    State(d): State<Shared>,
    Path((id, stage)): Path<(String, String)>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> Response {
    record(&d, &format!("/{id}/filter/{stage}"), &headers, req.clone());
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut body = req["body"].clone();
    if id != "rewriter" {
        return Json(body).into_response();
    }
    let mode = if stage == "inlet" {
        *d.inlet.lock().unwrap()
    } else {
        *d.outlet.lock().unwrap()
    };
    match mode {
        Mode::Refuse => (
            StatusCode::FORBIDDEN,
            Json(json!({"detail": format!("{stage} blocked by the rewriter")})),
        )
            .into_response(),
        Mode::Garbage => "this is not json".into_response(),
        Mode::Rewrite => {
            let role = if stage == "inlet" {
                "user"
            } else {
                "assistant"
            };
            let msgs = body["messages"].as_array_mut().unwrap();
            let last = msgs.iter_mut().rev().find(|m| m["role"] == role).unwrap();
            let text = last["content"].as_str().unwrap_or("").to_string();
            let tag = if stage == "inlet" {
                "REWRITTEN"
            } else {
                "FILTERED"
            };
            last["content"] = json!(format!("{tag}: {text}"));
            Json(body).into_response()
        }
    }
}

async fn pipeline_list(State(d): State<Shared>, headers: HeaderMap) -> Response {
    record(&d, "/pipelines", &headers, Value::Null);
    if !authorized(&headers) {
        return unauthorized();
    }
    Json(
        json!({"data": [{"id": "rewriter", "name": "Rewriter", "type": "filter", "valves": true}]}),
    )
    .into_response()
}

async fn add(State(d): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    record(&d, "/pipelines/add", &headers, b.clone());
    if b["url"] == "https://example.com/broken.py" {
        let detail = json!({"detail": "could not fetch that file"});
        return (StatusCode::BAD_REQUEST, Json(detail)).into_response();
    }
    Json(json!({"status": true, "id": "fetched"})).into_response()
}

async fn upload(State(d): State<Shared>, headers: HeaderMap, mut mp: Multipart) -> Response {
    let mut got = json!({});
    while let Some(f) = mp.next_field().await.unwrap() {
        let name = f.name().unwrap_or("").to_string();
        let file_name = f.file_name().unwrap_or("").to_string();
        let text = String::from_utf8(f.bytes().await.unwrap().to_vec()).unwrap();
        got[name] = json!({"file_name": file_name, "text": text});
    }
    record(&d, "/pipelines/upload", &headers, got);
    Json(json!({"status": true, "id": "uploaded"})).into_response()
}

async fn remove(State(d): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    record(&d, "/pipelines/delete", &headers, b.clone());
    if b["id"] != "rewriter" {
        let detail = json!({"detail": "no such pipeline here"});
        return (StatusCode::NOT_FOUND, Json(detail)).into_response();
    }
    Json(json!({"status": true})).into_response()
}

async fn valves(State(d): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    record(&d, &format!("/{id}/valves"), &headers, Value::Null);
    Json(json!({"prefix": "REWRITTEN"})).into_response()
}

async fn spec(State(d): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    record(&d, &format!("/{id}/valves/spec"), &headers, Value::Null);
    Json(json!({"properties": {"prefix": {"type": "string"}}})).into_response()
}

async fn update(
    State(d): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    record(&d, &format!("/{id}/valves/update"), &headers, b.clone());
    Json(b).into_response()
}

/// The pipe model answers whole (API clients ask without streaming).
async fn chat(State(d): State<Shared>, headers: HeaderMap, Json(b): Json<Value>) -> Response {
    record(&d, "/chat/completions", &headers, b);
    Json(
        json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "pipe-echo",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "echo"}}]}),
    )
    .into_response()
}

/// The stand-in on a loopback port: its URL, what it shares with the test,
/// and the switch that shuts it down.
async fn pipelines_double() -> (String, Shared, tokio::sync::oneshot::Sender<()>) {
    let d: Shared = Arc::new(Double {
        inlet: Mutex::new(Mode::Rewrite),
        outlet: Mutex::new(Mode::Rewrite),
        seen: Mutex::new(vec![]),
    });
    let app = Router::new()
        .route("/models", get(models))
        .route("/chat/completions", post(chat))
        .route("/pipelines", get(pipeline_list))
        .route("/pipelines/add", post(add))
        .route("/pipelines/upload", post(upload))
        .route("/pipelines/delete", delete(remove))
        .route("/{id}/filter/{stage}", post(filter))
        .route("/{id}/valves", get(valves))
        .route("/{id}/valves/spec", get(spec))
        .route("/{id}/valves/update", post(update))
        .with_state(d.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(l, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    (url, d, tx)
}

fn seen_at(d: &Double, path: &str) -> Vec<(String, Value)> {
    d.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, a, b)| (a.clone(), b.clone()))
        .collect()
}

struct Setup {
    srv: TestServer,
    admin: Client,
    mock: MockLlm,
    pipes_url: String,
    double: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Connection 0: the provider stand-in; connection 1: the pipelines stand-in.
async fn setup() -> Setup {
    let mock = MockLlm::openai(&["mock-gpt"]).await;
    let (pipes_url, double, shutdown) = pipelines_double().await;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let r = admin
        .post(
            "/openai/config/update",
            json!({"ENABLE_OPENAI_API": true, "OPENAI_API_BASE_URLS": [mock.url, pipes_url],
                   "OPENAI_API_KEYS": ["sk-test", KEY], "OPENAI_API_CONFIGS": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    Setup {
        srv,
        admin,
        mock,
        pipes_url,
        double,
        shutdown: Some(shutdown),
    }
}

#[tokio::test]
async fn settings_routes_reach_the_pipelines_server() {
    let s = setup().await;
    let (admin, d) = (&s.admin, &s.double);

    let list = admin.get("/api/v1/pipelines/list").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(
        list.body,
        json!({"data": [{"url": s.pipes_url, "idx": 1}]}),
        "only the pipelines server is listed"
    );

    let pipes = admin.get("/api/v1/pipelines/?urlIdx=1").await;
    assert_eq!(pipes.status, 200, "{}", pipes.body);
    assert_eq!(pipes.body["data"][0]["id"], "rewriter");
    assert_eq!(seen_at(d, "/pipelines")[0].0, format!("Bearer {KEY}"));
    // No index, or one without a connection: 404.
    assert_eq!(admin.get("/api/v1/pipelines/").await.status, 404);
    assert_eq!(admin.get("/api/v1/pipelines/?urlIdx=9").await.status, 404);
    assert_eq!(admin.get("/api/v1/pipelines/?urlIdx=x").await.status, 422);
    // The provider connection is no pipelines server: its refusal is passed on.
    let wrong = admin.get("/api/v1/pipelines/?urlIdx=0").await;
    assert!(wrong.status.is_client_error(), "{}", wrong.status);

    // The settings page sends the index as text.
    let add = admin
        .post(
            "/api/v1/pipelines/add",
            json!({"url": "https://example.com/p.py", "urlIdx": "1"}),
        )
        .await;
    assert_eq!(add.status, 200, "{}", add.body);
    assert_eq!(add.body, json!({"status": true, "id": "fetched"}));
    let sent = seen_at(d, "/pipelines/add");
    assert_eq!(sent[0].1, json!({"url": "https://example.com/p.py"}));
    let broken = admin
        .post(
            "/api/v1/pipelines/add",
            json!({"url": "https://example.com/broken.py", "urlIdx": 1}),
        )
        .await;
    assert_eq!(broken.status, 400, "{}", broken.body);
    assert_eq!(broken.body["detail"], "could not fetch that file");
    let no_url = admin
        .post("/api/v1/pipelines/add", json!({"urlIdx": 1}))
        .await;
    assert_eq!(no_url.status, 422, "{}", no_url.body);

    // Upload: the .py file is handed on under its own name.
    let upload = |name: &str, idx: &str| {
        let form = reqwest::multipart::Form::new()
            .text("urlIdx", idx.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"class Pipeline: pass\n".to_vec())
                    .file_name(name.to_string()),
            );
        admin
            .http
            .post(format!("{}/api/v1/pipelines/upload", admin.base))
            .bearer_auth(admin.token.as_deref().unwrap())
            .multipart(form)
            .send()
    };
    let up = upload("dir/my_filter.py", "1").await.unwrap();
    assert_eq!(up.status(), 200);
    assert_eq!(
        up.json::<Value>().await.unwrap(),
        json!({"status": true, "id": "uploaded"})
    );
    let got = &seen_at(d, "/pipelines/upload")[0].1;
    assert_eq!(got["file"]["file_name"], "my_filter.py");
    assert_eq!(got["file"]["text"], "class Pipeline: pass\n");
    assert_eq!(upload("notes.txt", "1").await.unwrap().status(), 400);
    assert_eq!(upload("a.py", "nine").await.unwrap().status(), 422);
    assert_eq!(upload("a.py", "5").await.unwrap().status(), 404);
    assert_eq!(seen_at(d, "/pipelines/upload").len(), 1);

    // Delete: the server's own refusal comes back with its status and detail.
    let del = |id: &str| {
        admin.send(
            reqwest::Method::DELETE,
            "/api/v1/pipelines/delete",
            Some(json!({"id": id, "urlIdx": 1})),
        )
    };
    let gone = del("rewriter").await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.body, json!({"status": true}));
    let missing = del("nothing").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["detail"], "no such pipeline here");

    // Valves.
    let v = admin
        .get("/api/v1/pipelines/rewriter/valves?urlIdx=1")
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body, json!({"prefix": "REWRITTEN"}));
    let spec = admin
        .get("/api/v1/pipelines/rewriter/valves/spec?urlIdx=1")
        .await;
    assert_eq!(spec.body["properties"]["prefix"]["type"], "string");
    let upd = admin
        .post(
            "/api/v1/pipelines/rewriter/valves/update?urlIdx=1",
            json!({"prefix": "NEW"}),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(
        seen_at(d, "/rewriter/valves/update")[0].1,
        json!({"prefix": "NEW"})
    );
    // urlIdx is required on the valves routes; the body must be an object.
    let r = admin.get("/api/v1/pipelines/rewriter/valves").await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin
        .post(
            "/api/v1/pipelines/rewriter/valves/update?urlIdx=1",
            json!([1]),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // A hostile id stays one path segment of the server's valves route.
    let r = admin
        .get("/api/v1/pipelines/..%2Fpipelines/valves?urlIdx=1")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen_at(d, "/../pipelines/valves").len(), 1);
    assert_eq!(seen_at(d, "/pipelines").len(), 1, "no other path reached");
}

#[tokio::test]
async fn only_admins_reach_the_pipelines_routes() {
    let s = setup().await;
    let user = common::add_user(&s.srv, &s.admin, "Uma").await;
    let anonymous = s.srv.client();
    for who in [&user, &anonymous] {
        for (method, path, body) in [
            ("GET", "/api/v1/pipelines/list", None),
            ("GET", "/api/v1/pipelines/?urlIdx=1", None),
            (
                "POST",
                "/api/v1/pipelines/add",
                Some(json!({"url": "https://example.com/p.py", "urlIdx": 1})),
            ),
            (
                "DELETE",
                "/api/v1/pipelines/delete",
                Some(json!({"id": "rewriter", "urlIdx": 1})),
            ),
            ("GET", "/api/v1/pipelines/rewriter/valves?urlIdx=1", None),
            (
                "GET",
                "/api/v1/pipelines/rewriter/valves/spec?urlIdx=1",
                None,
            ),
            (
                "POST",
                "/api/v1/pipelines/rewriter/valves/update?urlIdx=1",
                Some(json!({})),
            ),
        ] {
            let r = who.send(method.parse().unwrap(), path, body).await;
            assert!(
                matches!(r.status.as_u16(), 401 | 403),
                "{method} {path}: {}",
                r.status
            );
        }
    }
    let seen = s.double.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(p, _, _)| p == "/models"),
        "nothing but the model list reached the pipelines server: {seen:?}"
    );
}

#[tokio::test]
async fn filter_pipelines_are_not_models_and_pipes_learn_the_user() {
    let s = setup().await;
    let models = s.admin.get("/api/models").await;
    assert_eq!(models.status, 200, "{}", models.body);
    let ids: Vec<&str> = models.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"mock-gpt") && ids.contains(&"pipe-echo"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"rewriter"), "{ids:?}");

    let r = s
        .admin
        .post(
            "/api/chat/completions",
            json!({"model": "pipe-echo", "stream": false,
                   "messages": [{"role": "user", "content": "ping"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["choices"][0]["message"]["content"], "echo");
    let (auth, body) = seen_at(&s.double, "/chat/completions").remove(0);
    assert_eq!(auth, format!("Bearer {KEY}"));
    assert_eq!(body["model"], "pipe-echo");
    assert_eq!(body["user"]["email"], common::ADMIN_EMAIL);
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["name"], "Admin");
    assert!(body.get("metadata").is_none(), "{body}");
    // The pipe's own inlet ran first; the rewriter does not target it.
    assert_eq!(seen_at(&s.double, "/pipe-echo/filter/inlet").len(), 1);
    assert!(seen_at(&s.double, "/rewriter/filter/inlet").is_empty());
    // Requests to an ordinary model carry no user.
    let plain = s
        .admin
        .post(
            "/api/chat/completions",
            json!({"model": "mock-gpt", "stream": false,
                   "messages": [{"role": "user", "content": "ping"}]}),
        )
        .await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let sent = s.mock.chat_requests().pop().unwrap().body;
    assert!(sent.get("user").is_none(), "{sent}");
    assert_eq!(sent["messages"][0]["content"], "REWRITTEN: ping");
}

/// A saved chat with one question, answered through the API (the call
/// returns once the reply is stored); the stored reply.
async fn ask_in_saved_chat(admin: &Client, question: &str, follow_ups: bool) -> (String, Value) {
    let history = json!({"currentId": "a-1", "messages": {
        "u-1": {"id": "u-1", "role": "user", "content": question, "timestamp": 1,
                "models": ["mock-gpt"], "childrenIds": ["a-1"], "parentId": null},
        "a-1": {"id": "a-1", "role": "assistant", "content": "", "parentId": "u-1",
                "childrenIds": [], "model": "mock-gpt", "modelIdx": 0, "done": false, "timestamp": 2}}});
    let created = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "Filters", "models": ["mock-gpt"], "history": history}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let chat_id = created.body["id"].as_str().unwrap().to_string();
    let ask = json!({"model": "mock-gpt", "stream": true, "chat_id": chat_id, "id": "a-1",
        "messages": [{"role": "user", "content": question}],
        "background_tasks": {"title_generation": false, "tags_generation": false,
                             "follow_up_generation": follow_ups}});
    let done = admin.post("/api/chat/completions", ask).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    let reply = chat["chat"]["history"]["messages"]["a-1"].clone();
    (chat_id, reply)
}

/// The last request the provider got for a turn (task prompts quote the
/// conversation in `<conversation>`; turns do not).
fn turn_request(mock: &MockLlm) -> Value {
    let mut turns = mock.chat_requests();
    turns.retain(|r| !last_user_text(&r.body).contains("<conversation>"));
    turns.pop().expect("the provider was asked").body
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn inlet_and_outlet_filters_rewrite_a_saved_chat_turn() {
    let s = setup().await;
    let (chat_id, reply) = ask_in_saved_chat(&s.admin, "Say hi", true).await;

    // The provider saw the question as the inlet filter rewrote it.
    let sent = turn_request(&s.mock);
    assert_eq!(last_user_text(&sent), "REWRITTEN: Say hi");
    assert_eq!(sent["model"], "mock-gpt");
    assert!(sent.get("metadata").is_none(), "{sent}");

    // The inlet filter was told who asked, about which chat, with the connection's key.
    let (auth, inlet) = seen_at(&s.double, "/rewriter/filter/inlet").remove(0);
    assert_eq!(auth, format!("Bearer {KEY}"));
    assert_eq!(inlet["user"]["email"], common::ADMIN_EMAIL);
    assert_eq!(inlet["user"]["role"], "admin");
    assert_eq!(inlet["body"]["model"], "mock-gpt");
    assert_eq!(inlet["body"]["metadata"]["chat_id"], chat_id);
    assert_eq!(inlet["body"]["metadata"]["message_id"], "a-1");

    // Background tasks go through the inlet too, named in `metadata.task`.
    let tasks: Vec<Value> = seen_at(&s.double, "/rewriter/filter/inlet")
        .into_iter()
        .map(|(_, b)| b["body"]["metadata"]["task"].clone())
        .collect();
    assert!(tasks.contains(&json!("follow_up_generation")), "{tasks:?}");

    // The reply is stored as the outlet filter rewrote it, the original kept.
    assert_eq!(
        reply["content"], "FILTERED: Hello from the mock.",
        "{reply}"
    );
    assert_eq!(reply["originalContent"], "Hello from the mock.", "{reply}");
    let (_, outlet) = seen_at(&s.double, "/rewriter/filter/outlet").remove(0);
    assert_eq!(outlet["body"]["chat_id"], chat_id);
    assert_eq!(outlet["body"]["id"], "a-1");
    let roles: Vec<&str> = outlet["body"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
    // The user's own stored question is left as typed.
    let chat = s.admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    assert_eq!(
        chat["chat"]["history"]["messages"]["u-1"]["content"],
        "Say hi"
    );
}

#[tokio::test]
async fn failing_filters_never_break_the_server() {
    let s = setup().await;

    // An inlet filter that refuses: the reply fails with its reason; the
    // provider is never asked.
    *s.double.inlet.lock().unwrap() = Mode::Refuse;
    let (_, reply) = ask_in_saved_chat(&s.admin, "Q1", false).await;
    let error = reply["error"]["content"].as_str().unwrap_or("");
    assert!(error.contains("inlet blocked by the rewriter"), "{reply}");
    assert!(s.mock.chat_requests().is_empty());
    // API clients get the filter's status and detail.
    let api = s
        .admin
        .post(
            "/api/chat/completions",
            json!({"model": "mock-gpt", "stream": false,
                   "messages": [{"role": "user", "content": "Q"}]}),
        )
        .await;
    assert_eq!(api.status, 403, "{}", api.body);
    assert_eq!(api.body["detail"], "inlet blocked by the rewriter");

    // Unreadable answers are skipped: the question and the reply go on unchanged.
    *s.double.inlet.lock().unwrap() = Mode::Garbage;
    *s.double.outlet.lock().unwrap() = Mode::Garbage;
    let (_, reply) = ask_in_saved_chat(&s.admin, "Q2", false).await;
    assert_eq!(reply["content"], "Hello from the mock.", "{reply}");
    assert_eq!(last_user_text(&turn_request(&s.mock)), "Q2");

    // An outlet filter that refuses leaves the stored reply alone.
    *s.double.inlet.lock().unwrap() = Mode::Rewrite;
    *s.double.outlet.lock().unwrap() = Mode::Refuse;
    let (_, reply) = ask_in_saved_chat(&s.admin, "Q3", false).await;
    assert_eq!(reply["content"], "Hello from the mock.", "{reply}");
    assert!(reply.get("originalContent").is_none(), "{reply}");
    assert_eq!(last_user_text(&turn_request(&s.mock)), "REWRITTEN: Q3");
    // Outlets ran after the two replies that completed (Q2, Q3), not the failed one.
    assert_eq!(seen_at(&s.double, "/rewriter/filter/outlet").len(), 2);

    // The pipelines server goes down while the model list still names its
    // filter: the filter is skipped and the turn completes.
    let state = s.srv.state.clone().unwrap();
    state
        .config
        .set_many(vec![("models.base_models_cache", json!(true))])
        .await
        .unwrap();
    let mut s = s;
    s.shutdown.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let inlets_before = seen_at(&s.double, "/rewriter/filter/inlet").len();
    let (_, reply) = ask_in_saved_chat(&s.admin, "Q4", false).await;
    assert_eq!(reply["content"], "Hello from the mock.", "{reply}");
    assert_eq!(last_user_text(&turn_request(&s.mock)), "Q4");
    assert_eq!(
        seen_at(&s.double, "/rewriter/filter/inlet").len(),
        inlets_before
    );
    // The settings page gets a clear 404 for the unreachable server, and the
    // server still answers.
    let r = s.admin.get("/api/v1/pipelines/?urlIdx=1").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body["detail"].is_string(), "{}", r.body);
    // The list still names the pipelines server's models (so its filter was
    // tried and skipped, not dropped from the list).
    let models = s.admin.get("/api/models").await;
    assert_eq!(models.status, 200);
    assert!(
        models.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "pipe-echo"),
        "{}",
        models.body
    );
}
