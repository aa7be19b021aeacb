//! The terminal a browser selects for a chat (`terminal_id`) as tools the
//! model may call, against a scripted model and a stand-in Open Terminal:
//! its operations are offered, its system prompt and current directory reach
//! the model, calls go out with the connection's key and who is asking, and
//! the user's tab hears `terminal:*` events after them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::scripted::{tool_names, Script};
use common::socketio::{self, Seen};
use serde_json::{json, Value};

/// What the terminal was asked: path, query, headers and JSON body.
type Calls = Arc<Mutex<Vec<(String, String, HeaderMap, Value)>>>;

async fn terminal() -> (String, Calls) {
    let calls = Calls::default();
    let doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "Open Terminal", "version": "1"},
        "paths": {
            "/execute": {"post": {
                "operationId": "run_command",
                "description": "Run a shell command.",
                "requestBody": {"content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"command": {"type": "string"}},
                    "required": ["command"]}}}}
            }},
            "/files/display": {"get": {
                "operationId": "display_file",
                "description": "Show a file to the user.",
                "parameters": [{"name": "path", "in": "query", "required": true,
                                "schema": {"type": "string"}}]
            }}
        }
    });
    async fn record(
        State(calls): State<Calls>,
        uri: axum::http::Uri,
        RawQuery(q): RawQuery,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> Json<Value> {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = uri.path().to_string();
        calls
            .lock()
            .unwrap()
            .push((path.clone(), q.unwrap_or_default(), headers, body));
        if path == "/execute" {
            Json(json!({"output": "notes.txt\n", "exit_code": 0}))
        } else {
            Json(json!({"path": "/home/uma/notes.txt", "exists": true}))
        }
    }
    let app = Router::new()
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .route(
            "/files/cwd",
            get(|| async { Json(json!({"cwd": "/home/uma"})) }),
        )
        .route(
            "/api/config",
            get(|| async { Json(json!({"features": {"system": true}})) }),
        )
        .route(
            "/system",
            get(|| async { Json(json!({"prompt": "Terminal rules: be careful."})) }),
        )
        .route("/execute", post(record))
        .route("/files/display", get(record))
        .with_state(calls.clone());
    (common::serve(app).await, calls)
}

fn turn(terminal_id: &str) -> Value {
    json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": {},
        "session_id": "not-a-socket", "id": "a-1", "parent_id": null,
        "terminal_id": terminal_id,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": "what is here?", "timestamp": 1, "models": ["mock-gpt"]},
        "background_tasks": {},
    })
}

async fn finished(admin: &common::Client, chat_id: &str) -> Value {
    for _ in 0..400 {
        let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
        let m = &chat["chat"]["history"]["messages"]["a-1"];
        if m["done"] == json!(true) {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the reply was never finished");
}

#[tokio::test]
async fn the_selected_terminal_is_offered_as_tools() {
    let (srv, admin, script): (_, _, Script) = common::scripted::server_with_script().await;
    let (base, calls) = terminal().await;
    let r = admin
        .post(
            "/api/v1/configs/terminal_servers",
            json!({"TERMINAL_SERVER_CONNECTIONS": [
                {"id": "box", "name": "Box", "url": base, "key": "box-key"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin_id = admin.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let seen: Seen = Arc::default();
    let _sock = socketio::connect_recording(
        &srv.base,
        admin.token.as_deref().unwrap(),
        &["events"],
        seen.clone(),
    )
    .await;

    script.queue(json!({"calls": [
        ["call_run", "run_command", "{\"command\": \"ls\"}"],
        ["call_show", "display_file", "{\"path\": \"notes.txt\", \"page\": 2}"],
    ]}));
    script.queue(json!({"text": "There is one file."}));
    let started = admin.post("/api/chat/completions", turn("box")).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let m = finished(&admin, &chat_id).await;
    assert_eq!(m["content"], "There is one file.", "{m}");

    let first = &script.requests()[0];
    let names = tool_names(first);
    assert!(
        names.contains(&"run_command".to_string()) && names.contains(&"display_file".to_string()),
        "{names:?}"
    );
    let spec_of = |name: &str| {
        first["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["function"]["name"] == name)
            .unwrap()["function"]
            .clone()
    };
    assert!(spec_of("run_command")["description"]
        .as_str()
        .unwrap()
        .contains("/home/uma"));
    assert!(spec_of("display_file")["parameters"]["properties"]["inline"].is_object());
    let system = first["messages"][0]["content"].as_str().unwrap_or("");
    assert!(system.contains("Terminal rules: be careful."), "{first}");

    let calls = calls.lock().unwrap().clone();
    let (path, _, headers, body) = calls.iter().find(|c| c.0 == "/execute").unwrap();
    assert_eq!(path, "/execute");
    assert_eq!(body, &json!({"command": "ls"}));
    assert_eq!(headers["authorization"], "Bearer box-key");
    assert_eq!(headers["x-user-id"], admin_id.as_str());
    assert_eq!(headers["x-session-id"], chat_id.as_str());
    let (_, query, _, _) = calls.iter().find(|c| c.0 == "/files/display").unwrap();
    assert_eq!(query, "path=notes.txt", "the page stays with the viewer");

    // The tab hears what changed.
    let mut kinds = Vec::new();
    for _ in 0..200 {
        kinds = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                e["data"]["type"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("terminal:")
            })
            .map(|e| e["data"].clone())
            .collect();
        if kinds.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        kinds.contains(&json!({"type": "terminal:run_command", "data": {}})),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&json!({"type": "terminal:display_file",
                               "data": {"path": "/home/uma/notes.txt", "page": 2}})),
        "{kinds:?}"
    );

    // An unknown terminal, or a model without the terminal capability, gets none.
    script.queue(json!({"text": "ok"}));
    let mut other = turn("nope");
    other["id"] = json!("a-2");
    other["chat_id"] = json!(chat_id);
    other["parent_id"] = json!("a-1");
    other["user_message"]["id"] = json!("u-2");
    other["user_message"]["parentId"] = json!("a-1");
    other["user_message"]["childrenIds"] = json!(["a-2"]);
    let r = admin.post("/api/chat/completions", other).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for _ in 0..400 {
        if script.requests().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let third = &script.requests()[2];
    assert!(!tool_names(third).contains(&"run_command".to_string()));
    srv.stop().await;
}
