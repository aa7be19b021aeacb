//! The Anthropic Messages API (`/api/v1/messages`) through the real wire:
//! a stand-in OpenAI-compatible provider answers, the server converts both
//! ways.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use common::{admin, received_at, serve, Inbox, Received, TestServer};

const MODEL: &str = "claude-like";

/// The stand-in: lists one model, counts 1234 input tokens, answers
/// completions as JSON (with cache-heavy usage) or as a stream with two
/// parallel tool calls whose arguments come in pieces. `/messages` answers
/// natively (for connections that speak Messages themselves).
fn provider(inbox: Inbox) -> Router {
    async fn record(inbox: &Inbox, uri: &Uri, headers: HeaderMap, body: Bytes) -> Value {
        inbox.lock().unwrap().push(Received {
            path: uri.path().to_string(),
            headers,
            body: body.clone(),
        });
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }
    async fn models() -> Json<Value> {
        Json(json!({"data": [{"id": MODEL, "object": "model"}]}))
    }
    async fn count(State(inbox): State<Inbox>, uri: Uri, h: HeaderMap, body: Bytes) -> Json<Value> {
        record(&inbox, &uri, h, body).await;
        Json(json!({"input_tokens": 1234}))
    }
    async fn native(
        State(inbox): State<Inbox>,
        uri: Uri,
        h: HeaderMap,
        body: Bytes,
    ) -> Json<Value> {
        let req = record(&inbox, &uri, h, body).await;
        Json(json!({"type": "message", "native": true, "model": req["model"]}))
    }
    async fn complete(State(inbox): State<Inbox>, uri: Uri, h: HeaderMap, body: Bytes) -> Response {
        let req = record(&inbox, &uri, h, body).await;
        if req["stream"] != json!(true) {
            return Json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "hello there"}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 7,
                    "prompt_tokens_details": {"cached_tokens": 600}},
            }))
            .into_response();
        }
        let chunk = |delta: Value, finish: Value| {
            json!({"object": "chat.completion.chunk", "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let call = |id: Option<&str>, name: Option<&str>, args: &str| {
            let mut f = json!({"arguments": args});
            if let Some(n) = name {
                f["name"] = json!(n);
            }
            let mut c = json!({"index": 0, "type": "function", "function": f});
            if let Some(id) = id {
                c["id"] = json!(id);
            }
            json!({"tool_calls": [c]})
        };
        let chunks = [
            chunk(
                json!({"role": "assistant", "content": "Let me look."}),
                Value::Null,
            ),
            chunk(call(Some("call_a"), Some("weather"), "{\"ci"), Value::Null),
            chunk(call(None, None, "ty\": \"Paris\"}"), Value::Null),
            // A second call reusing index 0, as some providers do.
            chunk(call(Some("call_b"), Some("time"), "{}"), Value::Null),
            chunk(json!({}), json!("tool_calls")),
            json!({"object": "chat.completion.chunk", "model": MODEL, "choices": [],
                "usage": {"completion_tokens": 9}}),
        ];
        let mut body = String::new();
        for c in chunks {
            body.push_str(&format!("data: {c}\n\n"));
        }
        body.push_str("data: [DONE]\n\n");
        ([("content-type", "text/event-stream")], body).into_response()
    }
    Router::new()
        .route("/models", get(models))
        .route("/messages/count_tokens", post(count))
        .route("/messages", post(native))
        .route("/chat/completions", post(complete))
        .with_state(inbox)
}

async fn setup(api_config: Value) -> (TestServer, common::Client, Inbox) {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let inbox: Inbox = Arc::new(Mutex::new(Vec::new()));
    let url = serve(provider(inbox.clone())).await;
    let r = admin
        .post(
            "/openai/config/update",
            json!({"ENABLE_OPENAI_API": true, "OPENAI_API_BASE_URLS": [url],
                   "OPENAI_API_KEYS": ["sk-provider"], "OPENAI_API_CONFIGS": {"0": api_config}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (srv, admin, inbox)
}

fn sent(inbox: &Inbox, path: &str) -> Vec<Value> {
    received_at(inbox, path)
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_batched_reply_comes_back_in_anthropic_terms() {
    let (srv, admin, inbox) = setup(json!({"passthrough_params": ["top_k_extra"]})).await;
    let r = admin
        .post(
            "/api/v1/messages",
            json!({"model": MODEL, "max_tokens": 64, "system": "Be brief.",
                "top_k_extra": 3, "unlisted": true,
                "tools": [{"name": "weather", "description": "d",
                    "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"},
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["type"], json!("message"));
    assert_eq!(r.body["model"], json!(MODEL));
    assert_eq!(r.body["stop_reason"], json!("end_turn"));
    assert_eq!(
        r.body["content"],
        json!([{"type": "text", "text": "hello there"}])
    );
    // Cached tokens are reported apart from the input count.
    assert_eq!(
        r.body["usage"],
        json!({"input_tokens": 400, "output_tokens": 7, "cache_read_input_tokens": 600})
    );
    let req = &sent(&inbox, "/chat/completions")[0];
    assert_eq!(
        req["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(req["messages"][1], json!({"role": "user", "content": "hi"}));
    assert_eq!(req["tools"][0]["function"]["name"], json!("weather"));
    assert_eq!(req["tool_choice"], json!("required"));
    assert_eq!(
        req["top_k_extra"],
        json!(3),
        "named passthrough params reach the provider"
    );
    assert!(req.get("unlisted").is_none(), "other fields stay behind");
    srv.stop().await;
}

fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn a_stream_carries_text_then_each_tool_call_and_the_counted_input() {
    let (srv, admin, inbox) = setup(json!({})).await;
    // An Anthropic SDK authenticates with x-api-key.
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    cfg["ENABLE_API_KEYS"] = json!(true);
    assert_eq!(
        admin.post("/api/v1/auths/admin/config", cfg).await.status,
        200
    );
    let key = admin.post("/api/v1/auths/api_key", json!({})).await;
    let key = key.body["api_key"].as_str().unwrap().to_string();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/messages", admin.base))
        .header("x-api-key", key)
        .json(&json!({"model": MODEL, "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "weather?"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();
    let ev = events(&text);
    assert_eq!(ev[0]["type"], json!("message_start"));
    assert_eq!(ev[0]["message"]["usage"]["input_tokens"], json!(1234));
    let starts: Vec<Value> = ev
        .iter()
        .filter(|e| e["type"] == "content_block_start")
        .map(|e| {
            json!([
                e["index"],
                e["content_block"]["type"],
                e["content_block"]["id"]
            ])
        })
        .collect();
    assert_eq!(
        starts,
        [
            json!([0, "text", null]),
            json!([1, "tool_use", "call_a"]),
            json!([2, "tool_use", "call_b"])
        ]
    );
    let args_a: String = ev
        .iter()
        .filter(|e| e["index"] == json!(1) && e["delta"]["type"] == "input_json_delta")
        .map(|e| e["delta"]["partial_json"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args_a).unwrap(),
        json!({"city": "Paris"})
    );
    let stops = ev
        .iter()
        .filter(|e| e["type"] == "content_block_stop")
        .count();
    assert_eq!(stops, 3, "every block closes exactly once: {text}");
    let delta = ev.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], json!("tool_use"));
    assert_eq!(
        delta["usage"],
        json!({"output_tokens": 9, "input_tokens": 1234})
    );
    assert_eq!(ev.last().unwrap()["type"], json!("message_stop"));
    // The count was asked for with the provider's key and the model's id.
    let counted = received_at(&inbox, "/messages/count_tokens");
    assert_eq!(counted.len(), 1);
    assert_eq!(counted[0].headers["authorization"], "Bearer sk-provider");
    srv.stop().await;
}

#[tokio::test]
async fn count_tokens_answers_the_providers_count_and_refuses_unknown_models() {
    let (srv, admin, _inbox) = setup(json!({})).await;
    let r = admin
        .post(
            "/api/v1/messages/count_tokens",
            json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"input_tokens": 1234}));
    let r = admin
        .post(
            "/api/v1/messages/count_tokens",
            json!({"model": "nope", "messages": []}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body["detail"].is_string());
    let r = admin
        .post("/api/v1/messages", json!(["not", "an", "object"]))
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    srv.stop().await;
}

#[tokio::test]
async fn a_connection_that_speaks_messages_gets_the_request_as_it_is() {
    let (srv, admin, inbox) = setup(json!({"provider": "litellm"})).await;
    let r = admin
        .post(
            "/api/message",
            json!({"model": MODEL, "max_tokens": 8, "custom_field": 1,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["native"], json!(true));
    let native = sent(&inbox, "/messages");
    assert_eq!(native.len(), 1);
    assert_eq!(native[0]["custom_field"], json!(1));
    assert!(sent(&inbox, "/chat/completions").is_empty());
    srv.stop().await;
}
