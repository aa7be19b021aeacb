//! Pieces shared by the load drivers (`chat_load`, `soak`): a mock OpenAI-compatible
//! provider inside the driver's process, the server binary on a throw-away data folder,
//! Socket.IO clients and small statistics. Loopback only.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{FutureExt, StreamExt};
use rust_socketio::asynchronous::{Client as SioClient, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::{json, Value};

pub const MODEL: &str = "load-model";

/// When the mock wrote the first token of each request, keyed by the request's
/// last user message (unique per chat).
#[derive(Clone, Default)]
pub struct MockClock {
    pub base: Arc<Mutex<Option<Instant>>>,
    pub first_token: Arc<Mutex<HashMap<String, Duration>>>,
}

impl MockClock {
    pub fn since_base(&self) -> Duration {
        let base = *self.base.lock().unwrap().get_or_insert_with(Instant::now);
        base.elapsed()
    }
}

pub async fn start_mock(clock: MockClock, tokens: usize, gap: Duration) -> String {
    async fn models() -> Json<Value> {
        Json(json!({"object": "list", "data": (0..20).map(|i| json!({
            "id": if i == 0 { MODEL.to_string() } else { format!("load-model-{i}") },
            "object": "model", "created": 1, "owned_by": "bench"})).collect::<Vec<_>>()}))
    }
    let chat = move |Json(body): Json<Value>| {
        let clock = clock.clone();
        async move {
            let key = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .and_then(|m| m["content"].as_str())
                .unwrap_or("")
                .to_string();
            if body["stream"] != json!(true) {
                return Json(json!({"id": "x", "object": "chat.completion", "created": 1, "model": MODEL,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}))
                .into_response();
            }
            let stream = futures::stream::iter(0..=tokens).then(move |i| {
                let clock = clock.clone();
                let key = key.clone();
                async move {
                    if i > 0 {
                        tokio::time::sleep(gap).await;
                    }
                    if i == tokens {
                        let fin = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": tokens + 5}});
                        return Ok::<_, std::io::Error>(format!("data: {fin}\n\ndata: [DONE]\n\n"));
                    }
                    if i == 0 {
                        let t = clock.since_base();
                        clock.first_token.lock().unwrap().insert(key, t);
                    }
                    let chunk = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                        "choices": [{"index": 0, "delta": {"content": token(i)}, "finish_reason": null}]});
                    Ok(format!("data: {chunk}\n\n"))
                }
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    };
    // Embeddings: a fixed-size vector derived from the text's bytes, so uploads can be
    // indexed without the bundled model.
    async fn embeddings(Json(body): Json<Value>) -> Json<Value> {
        let inputs: Vec<String> = match &body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect(),
            _ => Vec::new(),
        };
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let mut v = [0f32; 16];
                for (j, b) in text.bytes().enumerate() {
                    v[j % 16] += f32::from(b) / 255.0;
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                json!({"object": "embedding", "index": i,
                       "embedding": v.iter().map(|x| x / norm).collect::<Vec<_>>()})
            })
            .collect();
        Json(json!({"object": "list", "data": data, "model": "mock-embed"}))
    }
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

pub fn token(i: usize) -> String {
    format!("w{i} ")
}

pub fn expected(tokens: usize) -> String {
    (0..tokens).map(token).collect()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    pub fn rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    /// Anonymous (heap) and file-backed (mapped files) parts of the resident set.
    pub fn rss_parts_mib(&self) -> (f64, f64) {
        (self.status_mib("RssAnon:"), self.status_mib("RssFile:"))
    }

    /// The server's data folder (a temporary directory owned by this guard).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    fn status_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

/// Starts `bin` on a fresh data folder with `mock` as its only provider; `extra` adds
/// environment variables.
pub async fn start_server(bin: &str, mock: &str, extra: &[(&str, &str)]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(bin)
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(data.path())
        .env("WEBUI_SECRET_KEY", "bench-secret")
        .env("OPENAI_API_BASE_URL", mock)
        .env("OPENAI_API_BASE_URLS", mock)
        .env("OPENAI_API_KEY", "x")
        .env("OPENAI_API_KEYS", "x")
        .env("ENABLE_OPENAI_API", "true")
        .env("ENABLE_OLLAMA_API", "false")
        // connection models are admin-only unless shared; the users here need them
        .env("BYPASS_MODEL_ACCESS_CONTROL", "true")
        .env("OFFLINE_MODE", "true")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    // Owned by the guard from here on, so every path kills and reaps it.
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _data: data,
    };
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{}/health", server.base)).send().await {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    panic!("server did not answer /health within 30 s");
}

pub type Events = Arc<Mutex<Vec<(Duration, Value)>>>;

pub async fn connect(base: &str, token: &str, clock: MockClock, events: Events) -> SioClient {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let client = ClientBuilder::new(format!("{base}/ws/socket.io/"))
        .transport_type(TransportType::Websocket)
        .auth(json!({"token": token}))
        .reconnect(false)
        .on(rust_socketio::Event::Connect, move |_p, _c: SioClient| {
            let tx = tx.clone();
            async move {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }
            .boxed()
        })
        .on("events", move |p: Payload, _c: SioClient| {
            let events = events.clone();
            let clock = clock.clone();
            async move {
                if let Payload::Text(v) = p {
                    let t = clock.since_base();
                    let mut ev = events.lock().unwrap();
                    ev.extend(v.into_iter().map(|e| (t, e)));
                }
            }
            .boxed()
        })
        .connect()
        .await
        .expect("socket connect");
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("socket connected in time")
        .unwrap();
    client
}

pub fn chat_body(key: &str, message_id: &str) -> Value {
    json!({
        "stream": true, "model": MODEL, "params": {}, "features": {},
        "session_id": "bench", "id": message_id,
        "message_ids": [{"model_id": MODEL, "message_id": message_id, "modelIdx": 0}],
        "parent_id": null,
        "user_message": {"id": format!("u-{message_id}"), "parentId": null, "childrenIds": [message_id],
                         "role": "user", "content": key, "timestamp": 1, "models": [MODEL]},
        "background_tasks": {}
    })
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

pub fn summary(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms max={:.3} ms",
        v.len(),
        percentile(&v, 50.0),
        percentile(&v, 90.0),
        percentile(&v, 99.0),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

/// Deltas of one message, in arrival order, and when its `done` arrived.
pub fn deltas_of(
    events: &[(Duration, Value)],
    message_id: &str,
) -> (Vec<(Duration, String)>, bool) {
    let mut out = Vec::new();
    let mut done = false;
    for (t, e) in events {
        if e["message_id"] != message_id {
            continue;
        }
        let d = &e["data"];
        if d["type"] == "response:completion" && d["data"]["type"] == "response.output_text.delta" {
            out.push((*t, d["data"]["delta"].as_str().unwrap_or("").to_string()));
        }
        if d["type"] == "chat:completion" && d["data"]["done"] == true {
            done = true;
        }
    }
    (out, done)
}

/// Signs up the admin (first account) and has it add `users - 1` more; returns
/// their tokens, the admin's first.
pub async fn create_users(http: &reqwest::Client, base: &str, users: usize) -> Vec<String> {
    let admin = json_of(http.post(format!("{base}/api/v1/auths/signup")).json(
        &json!({"name": "Bench Admin", "email": "admin@bench.local", "password": "Passw0rd!x"}),
    ))
    .await;
    let admin_token = admin["token"].as_str().expect("admin token").to_string();
    let mut tokens = vec![admin_token.clone()];
    let adds =
        futures::stream::iter(1..users.max(1))
            .map(|i| {
                let http = http.clone();
                let admin_token = admin_token.clone();
                async move {
                    let r = json_of(
                        http.post(format!("{base}/api/v1/auths/add"))
                            .bearer_auth(&admin_token)
                            .json(&json!({"name": format!("User {i}"), "email": format!("u{i}@bench.local"),
                                          "password": "Passw0rd!x", "role": "user"})),
                    )
                    .await;
                    r["token"].as_str().expect("user token").to_string()
                }
            })
            .buffer_unordered(2)
            .collect::<Vec<_>>()
            .await;
    tokens.extend(adds);
    tokens
}

/// Sends a request that must succeed at the transport level and reads its JSON answer.
pub async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}
