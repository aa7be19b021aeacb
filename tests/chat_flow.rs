//! The browser's chat flow over real HTTP and Socket.IO against a mock
//! OpenAI-compatible provider: event sequence, persistence, stop, failure.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::socketio::{self, Seen};
use common::TestServer;
use rust_socketio::asynchronous::Client as SioClient;
use serde_json::{json, Value};

/// A provider whose reply depends on the prompt: task prompts get JSON, a
/// prompt containing "SLOW" streams slowly (for stop), "BREAK" drops mid-stream.
async fn mock_provider() -> String {
    async fn models() -> Json<Value> {
        Json(json!({"object": "list", "data": [
                {"id": "mock-gpt", "object": "model", "created": 1, "owned_by": "mock"},
                {"id": "mock-two", "object": "model", "created": 1, "owned_by": "mock"}]}))
    }
    async fn chat(Json(body): Json<Value>) -> Response {
        seen_bodies().lock().unwrap().push(body.clone());
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .cloned()
            .unwrap_or_default();
        let prompt = last["content"].as_str().unwrap_or("").to_string();
        if body["stream"] != json!(true) {
            let content = if prompt.contains("\"title\"") {
                r#"{"title": "Mock Title"}"#
            } else if prompt.contains("\"tags\"") {
                r#"{"tags": ["Testing"]}"#
            } else if prompt.contains("\"follow_ups\"") {
                r#"{"follow_ups": ["And then?"]}"#
            } else {
                "plain"
            };
            return Json(json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "mock-gpt",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}))
            .into_response();
        }
        let slow = prompt.contains("SLOW");
        let broken = prompt.contains("BREAK");
        let words: &[&str] = if body["model"] == "mock-two" {
            &["Second", " model", " here", "."]
        } else {
            &[
                "<think>", "hm", "</think>", "Hello", " from", " the", " mock", ".",
            ]
        };
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let stream = async_stream(words, slow, broken);
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(axum::body::Body::from_stream(stream))
            .unwrap()
    }
    fn async_stream(
        words: Vec<String>,
        slow: bool,
        broken: bool,
    ) -> impl futures::Stream<Item = Result<String, std::io::Error>> {
        let n = words.len();
        futures::stream::iter(words.into_iter().enumerate()).then(move |(i, w)| async move {
            tokio::time::sleep(Duration::from_millis(if slow { 300 } else { 5 })).await;
            if broken && i == 5 {
                return Err(std::io::Error::other("dropped"));
            }
            let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mock-gpt",
                "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": null}]});
            let mut s = format!("data: {chunk}\n\n");
            if i == n - 1 {
                let fin = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mock-gpt",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}});
                s.push_str(&format!("data: {fin}\n\ndata: [DONE]\n\n"));
            }
            Ok(s)
        })
    }
    use futures::StreamExt;
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// Every request body the mock provider got (nextest runs each test in its own process).
fn seen_bodies() -> &'static Mutex<Vec<Value>> {
    static BODIES: std::sync::OnceLock<Mutex<Vec<Value>>> = std::sync::OnceLock::new();
    BODIES.get_or_init(Mutex::default)
}

async fn socket(srv: &TestServer, token: &str, seen: Seen) -> (SioClient, String) {
    let client = socketio::connect_recording(&srv.base, token, &["events"], seen).await;
    // The server only needs some session id to skip for shared copies.
    (client, "not-a-socket".to_string())
}

async fn setup() -> (TestServer, common::Client) {
    let base = mock_provider().await;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let mut cfg = admin.get("/openai/config").await.body;
    cfg["ENABLE_OPENAI_API"] = json!(true);
    cfg["OPENAI_API_BASE_URLS"] = json!([base]);
    cfg["OPENAI_API_KEYS"] = json!(["x"]);
    let saved = admin.post("/openai/config/update", cfg).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let mut ollama = admin.get("/ollama/config").await.body;
    ollama["ENABLE_OLLAMA_API"] = json!(false);
    admin.post("/ollama/config/update", ollama).await;
    (srv, admin)
}

/// Opens sign-up for plain users and signs Bob up.
async fn second_user(srv: &TestServer, admin: &common::Client) -> common::Client {
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    cfg["ENABLE_SIGNUP"] = json!(true);
    cfg["DEFAULT_USER_ROLE"] = json!("user");
    admin.post("/api/v1/auths/admin/config", cfg).await;
    let c = srv.client();
    c.with_token(
        c.signup("Bob", "bob@example.com", "pw").await.body["token"]
            .as_str()
            .unwrap(),
    )
}

fn new_chat_body(content: &str) -> Value {
    json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": {},
        "session_id": "not-a-socket",
        "id": "a-1",
        "message_ids": [{"model_id": "mock-gpt", "message_id": "a-1", "modelIdx": 0}],
        "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": content, "timestamp": 1, "models": ["mock-gpt"]},
        "background_tasks": {"title_generation": true, "tags_generation": true, "follow_up_generation": true}
    })
}

async fn wait_for(seen: &Seen, pred: impl Fn(&Value) -> bool) -> bool {
    for _ in 0..200 {
        if seen.lock().unwrap().iter().any(&pred) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

fn kinds(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|e| e["data"]["type"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn new_chat_streams_events_and_persists() {
    let (srv, admin) = setup().await;
    let seen: Seen = Arc::default();
    let (_sock, _) = socket(&srv, admin.token.as_deref().unwrap(), seen.clone()).await;

    let r = admin
        .post("/api/chat/completions", new_chat_body("Hi there"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], true);
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["task_ids"].as_array().unwrap().len(), 1);

    assert!(
        wait_for(&seen, |e| e["data"]["type"] == "chat:active"
            && e["data"]["data"]["active"] == false)
        .await,
        "{:?}",
        kinds(&seen)
    );
    let k = kinds(&seen);
    let pos = |t: &str| {
        k.iter()
            .position(|x| x == t)
            .unwrap_or_else(|| panic!("no {t} in {k:?}"))
    };
    assert!(pos("chat:list") < pos("chat:active"));
    assert!(pos("chat:active") < pos("response:completion"));
    assert!(k.contains(&"chat:title".to_string()));
    assert!(k.contains(&"chat:message:follow_ups".to_string()));
    assert!(k.contains(&"chat:tags".to_string()));
    let ev = seen.lock().unwrap().clone();
    let text: String = ev
        .iter()
        .filter(|e| {
            e["data"]["type"] == "response:completion"
                && e["data"]["data"]["type"] == "response.output_text.delta"
        })
        .map(|e| e["data"]["data"]["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, "Hello from the mock.");
    let reasoning: String = ev
        .iter()
        .filter(|e| e["data"]["data"]["type"] == "response.reasoning_text.delta")
        .map(|e| e["data"]["data"]["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasoning, "hm");
    let done = ev
        .iter()
        .find(|e| e["data"]["type"] == "chat:completion" && e["data"]["data"]["done"] == true)
        .unwrap();
    assert_eq!(done["message_id"], "a-1");
    assert_eq!(done["data"]["data"]["usage"]["total_tokens"], 9);
    assert_eq!(done["data"]["data"]["title"], "Mock Title");

    // Stored: chat JSON and chat_message rows agree.
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    assert_eq!(chat["title"], "Mock Title");
    let a = &chat["chat"]["history"]["messages"]["a-1"];
    assert_eq!(a["done"], true);
    assert_eq!(a["content"], "Hello from the mock.");
    assert_eq!(a["followUps"], json!(["And then?"]));
    assert_eq!(chat["chat"]["history"]["currentId"], "a-1");
    assert_eq!(chat["meta"]["tags"], json!(["testing"]));
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    let (content, done): (String, i64) = db
        .query_row(
            "SELECT content, done FROM chat_message WHERE id = ?1",
            [format!("{chat_id}-a-1")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((content.as_str(), done), ("\"Hello from the mock.\"", 1));

    // A follow-up turn reuses the stored history.
    seen.lock().unwrap().clear();
    let follow = json!({
        "stream": true, "model": "mock-gpt", "params": {}, "session_id": "not-a-socket", "chat_id": chat_id,
        "id": "a-2", "message_ids": [{"model_id": "mock-gpt", "message_id": "a-2", "modelIdx": 0}],
        "parent_id": "a-1",
        "user_message": {"id": "u-2", "parentId": "a-1", "childrenIds": [], "role": "user", "content": "More", "timestamp": 2, "models": ["mock-gpt"]},
        "background_tasks": {"follow_up_generation": true}
    });
    let r = admin.post("/api/chat/completions", follow).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        wait_for(&seen, |e| e["data"]["type"] == "chat:active"
            && e["data"]["data"]["active"] == false)
        .await
    );
    assert!(!kinds(&seen).contains(&"chat:title".to_string()));
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    let msgs = &chat["chat"]["history"]["messages"];
    assert_eq!(msgs["a-1"]["childrenIds"], json!(["u-2"]));
    assert_eq!(msgs["u-2"]["childrenIds"], json!(["a-2"]));
    assert_eq!(msgs["a-2"]["content"], "Hello from the mock.");
    assert_eq!(chat["chat"]["history"]["currentId"], "a-2");
}

#[tokio::test]
async fn stop_keeps_the_partial_answer() {
    let (srv, admin) = setup().await;
    let seen: Seen = Arc::default();
    let (_sock, _) = socket(&srv, admin.token.as_deref().unwrap(), seen.clone()).await;
    let mut body = new_chat_body("SLOW please");
    body["background_tasks"] = json!({});
    let r = admin.post("/api/chat/completions", body).await;
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    assert!(
        wait_for(&seen, |e| e["data"]["data"]["type"]
            == "response.output_text.delta")
        .await
    );
    let tasks = admin.get(&format!("/api/tasks/chat/{chat_id}")).await.body;
    assert_eq!(tasks["task_ids"], r.body["task_ids"]);
    let stop = admin
        .post(&format!("/api/tasks/chat/{chat_id}/stop"), json!({}))
        .await;
    assert_eq!(stop.status, 200);
    assert!(
        wait_for(&seen, |e| e["data"]["type"] == "chat:tasks:cancel").await,
        "{:?}",
        kinds(&seen)
    );
    assert!(
        wait_for(&seen, |e| e["data"]["type"] == "chat:active"
            && e["data"]["data"]["active"] == false)
        .await
    );
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    let a = &chat["chat"]["history"]["messages"]["a-1"];
    assert_eq!(a["done"], true);
    let partial = a["content"].as_str().unwrap();
    assert!(
        !partial.is_empty() && partial.len() < "Hello from the mock.".len(),
        "{partial:?}"
    );
    assert_eq!(a["output"][1]["status"], "incomplete");
    assert_eq!(
        admin.get(&format!("/api/tasks/chat/{chat_id}")).await.body["task_ids"],
        json!([])
    );
}

#[tokio::test]
async fn provider_failure_mid_stream_is_saved_and_reported() {
    let (srv, admin) = setup().await;
    let seen: Seen = Arc::default();
    let (_sock, _) = socket(&srv, admin.token.as_deref().unwrap(), seen.clone()).await;
    let mut body = new_chat_body("BREAK now");
    body["background_tasks"] = json!({});
    let r = admin.post("/api/chat/completions", body).await;
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    assert!(
        wait_for(&seen, |e| e["data"]["type"] == "chat:completion"
            && e["data"]["data"]["error"].is_object())
        .await,
        "{:?}",
        kinds(&seen)
    );
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    let a = &chat["chat"]["history"]["messages"]["a-1"];
    assert_eq!(a["done"], true);
    assert!(a["error"]["content"].as_str().unwrap().len() > 3);
    assert!(a["content"].as_str().unwrap().starts_with("Hello"));
    // The server keeps serving.
    assert_eq!(admin.get("/health").await.status, 200);
}

#[tokio::test]
async fn api_clients_get_openai_shapes_and_users_are_isolated() {
    let (srv, admin) = setup().await;
    let plain = admin
        .post("/api/chat/completions", json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}], "stream": false}))
        .await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert_eq!(plain.body["object"], "chat.completion");
    let sse = admin
        .http
        .post(srv.url("/api/v1/chat/completions"))
        .bearer_auth(admin.token.as_deref().unwrap())
        .json(&json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sse.contains("data: ") && sse.contains("[DONE]"), "{sse}");
    let missing = admin
        .post(
            "/api/chat/completions",
            json!({"model": "nope", "messages": []}),
        )
        .await;
    // Missing and forbidden models are refused alike, as upstream does.
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["detail"], "Model not found");

    // Another user cannot continue or stop the admin's chat.
    let r = admin
        .post("/api/chat/completions", new_chat_body("Hi"))
        .await;
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    let bob = second_user(&srv, &admin).await;
    let mut hijack = new_chat_body("steal");
    hijack["chat_id"] = json!(chat_id);
    hijack["parent_id"] = json!("a-1");
    hijack["id"] = json!("b-1");
    hijack["message_ids"] = json!([{"model_id": "mock-gpt", "message_id": "b-1"}]);
    hijack["user_message"]["id"] = json!("bu-1");
    let denied = bob.post("/api/chat/completions", hijack).await;
    // Refused either for the model (private to the admin) or for the chat.
    assert!(
        matches!(denied.status.as_u16(), 400 | 403 | 404),
        "{}",
        denied.status
    );
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    assert!(chat["chat"]["history"]["messages"].get("bu-1").is_none());
    assert_eq!(
        bob.post(&format!("/api/tasks/chat/{chat_id}/stop"), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        bob.get(&format!("/api/tasks/chat/{chat_id}")).await.body["task_ids"],
        json!([])
    );
}

/// A tab that reloads mid-generation reads the chat (placeholder in the
/// database) and joins its room: it must get the text streamed so far, and the
/// deltas that follow must extend it, not start from nothing.
#[tokio::test]
async fn reload_mid_stream_sees_the_text_so_far() {
    let (srv, admin) = setup().await;
    let seen: Seen = Arc::default();
    let token = admin.token.clone().unwrap();
    let (_sock, _) = socket(&srv, &token, seen.clone()).await;
    let mut body = new_chat_body("SLOW please");
    body["background_tasks"] = json!({});
    let r = admin.post("/api/chat/completions", body).await;
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    assert!(
        wait_for(&seen, |e| e["data"]["data"]["delta"] == "Hello").await,
        "{:?}",
        kinds(&seen)
    );

    // The "reloaded" tab: HTTP read first.
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    let a = &chat["chat"]["history"]["messages"]["a-1"];
    let partial = a["content"].as_str().unwrap().to_string();
    assert!(partial.starts_with("Hello"), "{a}");
    assert_ne!(a["done"], true, "still running: {a}");
    assert_eq!(a["output"][1]["status"], "in_progress");

    // Then its socket joins the chat and is brought up to date.
    let seen2: Seen = Arc::default();
    let (sock2, _) = socket(&srv, &token, seen2.clone()).await;
    let join = json!({"chat_id": chat_id, "data": {"type": "join"}});
    socketio::ack(&sock2, "events:chat", join)
        .await
        .expect("events:chat join acknowledged");
    assert!(
        wait_for(&seen2, |e| e["data"]["type"] == "chat:completion"
            && e["message_id"] == "a-1"
            && e["data"]["data"]["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Hello")))
        .await,
        "{:?}",
        kinds(&seen2)
    );
    assert!(
        wait_for(&seen2, |e| e["data"]["type"] == "chat:active"
            && e["data"]["data"]["active"] == false)
        .await
    );
    // Snapshot then deltas, as the second tab applies them: the full answer.
    let events = seen2.lock().unwrap().clone();
    let snap = events
        .iter()
        .position(|e| {
            e["data"]["type"] == "chat:completion" && e["data"]["data"]["output"].is_array()
        })
        .unwrap();
    let mut text = events[snap]["data"]["data"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    for e in &events[snap + 1..] {
        if e["data"]["data"]["type"] == "response.output_text.delta" {
            text.push_str(e["data"]["data"]["delta"].as_str().unwrap());
        }
    }
    assert_eq!(text, "Hello from the mock.");
}

/// Two models answer one question: one task per model, both answers stored as
/// siblings under the user message, each with its own events.
#[tokio::test]
async fn two_models_in_one_turn() {
    let (srv, admin) = setup().await;
    let seen: Seen = Arc::default();
    let (_sock, _) = socket(&srv, admin.token.as_deref().unwrap(), seen.clone()).await;
    let mut body = new_chat_body("Compare yourselves");
    body["background_tasks"] = json!({});
    body["message_ids"] = json!([
        {"model_id": "mock-gpt", "message_id": "a-1", "modelIdx": 0},
        {"model_id": "mock-two", "message_id": "a-2", "modelIdx": 1}
    ]);
    body["user_message"]["childrenIds"] = json!(["a-1", "a-2"]);
    body["user_message"]["models"] = json!(["mock-gpt", "mock-two"]);
    let r = admin.post("/api/chat/completions", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["task_ids"].as_array().unwrap().len(), 2);
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    for mid in ["a-1", "a-2"] {
        assert!(
            wait_for(&seen, |e| e["message_id"] == mid
                && e["data"]["type"] == "chat:completion"
                && e["data"]["data"]["done"] == true)
            .await,
            "no done for {mid}: {:?}",
            kinds(&seen)
        );
    }
    let text = |mid: &str| -> String {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|e| {
                e["message_id"] == mid && e["data"]["data"]["type"] == "response.output_text.delta"
            })
            .map(|e| e["data"]["data"]["delta"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(text("a-1"), "Hello from the mock.");
    assert_eq!(text("a-2"), "Second model here.");
    let mut chat = Value::Null;
    for _ in 0..100 {
        chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
        let m = &chat["chat"]["history"]["messages"];
        if m["a-1"]["done"] == true && m["a-2"]["done"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = &chat["chat"]["history"]["messages"];
    assert_eq!(m["u-1"]["childrenIds"], json!(["a-1", "a-2"]));
    assert_eq!(m["a-1"]["content"], "Hello from the mock.");
    assert_eq!(m["a-2"]["content"], "Second model here.");
    assert_eq!(m["a-1"]["model"], "mock-gpt");
    assert_eq!(m["a-2"]["model"], "mock-two");
    assert_eq!(m["a-2"]["modelIdx"], 1);
    assert_eq!(m["a-1"]["parentId"], "u-1");
    assert_eq!(m["a-2"]["parentId"], "u-1");
}

/// "Merge responses" in a multi-model chat: the chosen model answers over our
/// merge prompt, as JSON or as an SSE stream.
#[tokio::test]
async fn merge_responses_task() {
    let (_srv, admin) = setup().await;
    let form = json!({"model": "mock-gpt", "prompt": "Why is the sky blue?",
                      "responses": ["Rayleigh scattering.", "Because of air."], "stream": false});
    let r = admin
        .post("/api/v1/tasks/moa/completions", form.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "chat.completion");
    assert_eq!(r.body["choices"][0]["message"]["content"], "plain");

    let mut streamed = form.clone();
    streamed["stream"] = json!(true);
    let r = admin
        .http
        .post(format!("{}/api/v1/tasks/moa/completions", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("data: ") && text.contains("Hello"), "{text}");

    let mut bad = form.clone();
    bad["responses"] = json!("not a list");
    assert_eq!(
        admin
            .post("/api/v1/tasks/moa/completions", bad)
            .await
            .status,
        400
    );
    let mut unknown = form;
    unknown["model"] = json!("no-such-model");
    let r = admin.post("/api/v1/tasks/moa/completions", unknown).await;
    assert!(
        r.status == 404 || r.status == 400,
        "{} {}",
        r.status,
        r.body
    );
}

/// Skills chosen for a turn reach the model as system instructions; selecting
/// a workspace (Python) tool is refused instead of silently ignored.
#[tokio::test]
async fn skills_reach_the_model_and_python_tools_are_refused() {
    let (srv, admin) = setup().await;
    let r = admin
        .post(
            "/api/v1/skills/create",
            json!({"id": "pirate", "name": "Pirate talk", "description": "Talk like a pirate",
                   "files": [{"path": "SKILL.md", "content": "Always answer like a pirate, matey."}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen: Seen = Arc::default();
    let (_sock, _) = socket(&srv, admin.token.as_deref().unwrap(), seen.clone()).await;
    let mut body = new_chat_body("Hi");
    body["background_tasks"] = json!({});
    body["skill_ids"] = json!(["pirate"]);
    let r = admin.post("/api/chat/completions", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        wait_for(&seen, |e| e["data"]["type"] == "chat:active"
            && e["data"]["data"]["active"] == false)
        .await
    );
    let bodies = seen_bodies().lock().unwrap().clone();
    let streamed = bodies
        .iter()
        .find(|b| b["stream"] == true)
        .expect("a streamed call");
    let system = streamed["messages"][0].clone();
    assert_eq!(system["role"], "system", "{streamed}");
    assert!(
        system["content"]
            .as_str()
            .unwrap()
            .contains("Always answer like a pirate"),
        "{system}"
    );

    let mut body = new_chat_body("Use my tool");
    body["tool_ids"] = json!(["my_python_tool"]);
    let r = admin.post("/api/chat/completions", body).await;
    assert_eq!(r.status, 501, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("Python"),
        "{}",
        r.body
    );
}

/// An API client that names a saved chat and an empty assistant message (no
/// socket session) gets `null` once the answer is stored in that message; a
/// chat it does not own, or one that does not exist, is refused.
#[tokio::test]
async fn api_client_completes_into_a_saved_chat() {
    let (srv, admin) = setup().await;
    let history = json!({"currentId": "a-9", "messages": {
        "u-9": {"id": "u-9", "role": "user", "content": "Say hi", "timestamp": 1,
                "models": ["mock-gpt"], "childrenIds": ["a-9"], "parentId": null},
        "a-9": {"id": "a-9", "role": "assistant", "content": "", "parentId": "u-9",
                "childrenIds": [], "model": "mock-gpt", "modelIdx": 0, "done": false, "timestamp": 2}}});
    let created = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "API", "models": ["mock-gpt"], "history": history}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let chat_id = created.body["id"].as_str().unwrap().to_string();
    let ask = |chat: &str| {
        json!({"model": "mock-gpt", "stream": true, "chat_id": chat, "id": "a-9",
               "messages": [{"role": "user", "content": "Say hi"}],
               "background_tasks": {"title_generation": false, "tags_generation": false}})
    };
    let done = admin.post("/api/chat/completions", ask(&chat_id)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body, Value::Null);
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    let answer = &chat["chat"]["history"]["messages"]["a-9"];
    assert_eq!(answer["done"], true, "{answer}");
    assert_eq!(
        answer["parentId"], "u-9",
        "the reply stays under its question"
    );
    assert_eq!(answer["content"], "Hello from the mock.");
    assert_eq!(answer["model"], "mock-gpt");
    assert!(answer["output"].is_array(), "{answer}");

    // Asking again into the finished message is refused, nothing changes.
    let again = admin.post("/api/chat/completions", ask(&chat_id)).await;
    assert!(again.status.is_client_error(), "{}", again.status);

    let unknown = admin
        .post("/api/chat/completions", ask("no-such-chat"))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    let bob = second_user(&srv, &admin).await;
    let mut steal = ask(&chat_id);
    steal["id"] = json!("b-9");
    let foreign = bob.post("/api/chat/completions", steal).await;
    // Refused for the model (private to the admin) or for the chat.
    assert!(
        matches!(foreign.status.as_u16(), 400 | 403 | 404),
        "{}",
        foreign.status
    );
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    assert!(chat["chat"]["history"]["messages"].get("b-9").is_none());
}

/// A realtime call's voice record (`meta.voice`) in the stored history: a reply
/// the voice model gave by itself reaches the chat model only as a labelled
/// transcript; the spoken transcript of a chat answer follows that answer;
/// the record itself is never sent.
#[tokio::test]
async fn spoken_replies_reach_the_model_as_labelled_transcripts() {
    let (_srv, admin) = setup().await;
    let voice = |said: &str| {
        json!({"voice": {"model": "voice-rt", "input_item_id": "in",
                         "speech": [{"item_id": "s1", "transcript": said, "interrupted": false}]}})
    };
    let history = json!({"currentId": "a-2", "messages": {
        "u-1": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user", "content": "hello there"},
        "a-1": {"id": "a-1", "parentId": "u-1", "childrenIds": ["u-2"], "role": "assistant", "done": true,
                "model": "voice-rt", "content": "The tide turns at six.", "meta": voice("The tide turns at six.")},
        "u-2": {"id": "u-2", "parentId": "a-1", "childrenIds": ["a-2"], "role": "user", "content": "when exactly"},
        "a-2": {"id": "a-2", "parentId": "u-2", "childrenIds": [], "role": "assistant", "done": true,
                "model": "mock-gpt", "content": "At six sharp.", "meta": voice("At six, sailor.")}}});
    let created = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "Call", "models": ["mock-gpt"], "history": history}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let chat_id = created.body["id"].as_str().unwrap().to_string();
    let ask = json!({
        "stream": true, "model": "mock-gpt", "params": {}, "session_id": "not-a-socket", "chat_id": chat_id,
        "id": "a-3", "message_ids": [{"model_id": "mock-gpt", "message_id": "a-3", "modelIdx": 0}],
        "parent_id": "a-2",
        "user_message": {"id": "u-3", "parentId": "a-2", "childrenIds": [], "role": "user",
                         "content": "and after that", "timestamp": 3, "models": ["mock-gpt"]},
        "background_tasks": {}
    });
    let r = admin.post("/api/chat/completions", ask).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut sent = None;
    for _ in 0..200 {
        sent = seen_bodies()
            .lock()
            .unwrap()
            .iter()
            .find(|b| b["stream"] == json!(true))
            .cloned();
        if sent.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let sent = sent.expect("the model was never asked");
    let msgs: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .collect();
    let text = |m: &Value| m["content"].as_str().unwrap_or_default().to_string();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "assistant",
            "user"
        ],
        "{msgs:?}"
    );
    // The voice's own reply: a transcript, with a label line in front.
    let (label, said) = text(msgs[1])
        .split_once('\n')
        .map(|(l, s)| (l.to_string(), s.to_string()))
        .unwrap();
    assert_eq!(said, "The tide turns at six.");
    assert!(label.starts_with('[') && label.ends_with(']'), "{label}");
    // The chat answer as it was, then what the call said of it.
    assert_eq!(text(msgs[3]), "At six sharp.");
    assert_eq!(text(msgs[4]), format!("{label}\nAt six, sailor."));
    assert!(msgs.iter().all(|m| m.get("meta").is_none()));
}
