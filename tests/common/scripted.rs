//! A scripted OpenAI-compatible model for tool-calling tests. A queued reply
//! is `{"text": …}` or `{"calls": [[id, name, arguments], …]}`; the arguments
//! of each call arrive in two pieces, as real providers split them.
//! Non-streamed requests (task-model calls) get the queued `tasks` answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub type OnAsk = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone, Default)]
pub struct Script {
    pub replies: Arc<Mutex<VecDeque<Value>>>,
    /// The streamed (chat) requests, in order.
    pub seen: Arc<Mutex<Vec<Value>>>,
    /// Answers to non-streamed (task) requests, in order; `{}` when empty.
    pub tasks: Arc<Mutex<VecDeque<String>>>,
    pub task_requests: Arc<Mutex<Vec<Value>>>,
    /// Runs whenever the model is asked for a chat answer.
    pub on_ask: Arc<Mutex<Option<OnAsk>>>,
}

impl Script {
    pub fn queue(&self, reply: Value) {
        self.replies.lock().unwrap().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// `/v1/models` (one model, `mock-gpt`) and `/v1/chat/completions`.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/v1/models",
                get(|| async {
                    Json(json!({"object": "list", "data": [
                        {"id": "mock-gpt", "object": "model", "created": 1, "owned_by": "mock"}]}))
                }),
            )
            .route("/v1/chat/completions", post(chat))
            .with_state(self.clone())
    }
}

/// The names of the tools a chat request offered the model.
pub fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The text of a request's last user message (empty when there is none).
pub fn last_user_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mock-gpt",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

async fn chat(State(s): State<Script>, Json(body): Json<Value>) -> Response {
    if body["stream"] != json!(true) {
        s.task_requests.lock().unwrap().push(body);
        let answer = s
            .tasks
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| "{}".into());
        return Json(json!({"id": "t", "object": "chat.completion", "created": 1, "model": "mock-gpt",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]}))
        .into_response();
    }
    let hook = s.on_ask.lock().unwrap().clone();
    if let Some(hook) = hook {
        hook();
    }
    s.seen.lock().unwrap().push(body);
    let reply = s
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(json!({"text": "(nothing queued)"}));
    reply_stream(&reply)
}

/// The event stream of one scripted reply.
fn reply_stream(reply: &Value) -> Response {
    let mut out = chunk(json!({"role": "assistant", "content": ""}), None);
    if let Some(t) = reply["text"].as_str() {
        out.push_str(&chunk(json!({"content": t}), None));
        out.push_str(&chunk(json!({}), Some("stop")));
    }
    if let Some(calls) = reply["calls"].as_array() {
        for (i, c) in calls.iter().enumerate() {
            let args = c[2].as_str().unwrap();
            let (a, b) = args.split_at(args.len() / 2);
            out.push_str(&chunk(
                json!({"tool_calls": [{"index": i, "id": c[0], "type": "function",
                    "function": {"name": c[1], "arguments": a}}]}),
                None,
            ));
            out.push_str(&chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": b}}]}),
                None,
            ));
        }
        out.push_str(&chunk(json!({}), Some("tool_calls")));
    }
    out.push_str("data: [DONE]\n\n");
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from(out))
        .unwrap()
}

/// A fresh server whose admin (signed in, first account) has its OpenAI
/// connection pointed at a new scripted model.
pub async fn server_with_script() -> (super::TestServer, super::Client, Script) {
    let script = Script::default();
    let base = super::serve(script.router()).await;
    let srv = super::TestServer::fresh().await;
    let admin = super::admin(&srv).await;
    super::connect_openai(&admin, &format!("{base}/v1")).await;
    (srv, admin, script)
}

/// Waits (bounded, about a minute) until the stored reply `message_id` of
/// the chat is done or failed, and returns it.
pub async fn finished_reply(c: &super::Client, chat_id: &str, message_id: &str) -> Value {
    for _ in 0..1200 {
        let chat = c.get(&format!("/api/v1/chats/{chat_id}")).await.body;
        let m = chat["chat"]["history"]["messages"][message_id].clone();
        if m["done"] == true || !m["error"].is_null() {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the reply {message_id} never finished");
}

/// Starts a browser turn and waits for its stored reply `message_id`.
pub async fn run_turn(c: &super::Client, body: Value, message_id: &str) -> Value {
    let started = c.post("/api/chat/completions", body).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    finished_reply(c, &chat_id, message_id).await
}
