//! Fake model providers for tests: an OpenAI-compatible server and an Ollama
//! server on 127.0.0.1:0. Each streams a configurable answer (per-token
//! delay, slow first token, reasoning, error status, connection dropped
//! mid-answer) and records what it was sent.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// How the mock answers a chat request.
#[derive(Clone, Debug)]
pub struct Behavior {
    /// Answer pieces, one chunk each.
    pub tokens: Vec<String>,
    /// Reasoning pieces sent before the answer.
    pub reasoning: Vec<String>,
    pub token_delay: Duration,
    pub first_token_delay: Duration,
    /// Answer with this status and message instead.
    pub fail: Option<(u16, String)>,
    /// Cut the connection after this many answer pieces.
    pub drop_after: Option<usize>,
    /// Send an `{"error": …}` event after this many answer pieces.
    pub error_event_after: Option<usize>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            tokens: ["Hello", " from", " the", " mock", "."]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            reasoning: vec![],
            token_delay: Duration::ZERO,
            first_token_delay: Duration::ZERO,
            fail: None,
            drop_after: None,
            error_event_after: None,
        }
    }
}

impl Behavior {
    pub fn answer(&self) -> String {
        self.tokens.concat()
    }
}

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    OpenAi,
    Ollama,
}

struct Inner {
    kind: Kind,
    models: Mutex<Vec<String>>,
    default: Mutex<Behavior>,
    per_model: Mutex<HashMap<String, Behavior>>,
    seen: Mutex<Vec<Seen>>,
    started: AtomicUsize,
    completed: AtomicUsize,
    cancelled: AtomicUsize,
}

pub struct MockLlm {
    pub addr: SocketAddr,
    /// What to configure as the connection URL (`…/v1` for OpenAI).
    pub url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockLlm {
    pub async fn openai(models: &[&str]) -> MockLlm {
        Self::start(Kind::OpenAi, models).await
    }

    pub async fn ollama(models: &[&str]) -> MockLlm {
        Self::start(Kind::Ollama, models).await
    }

    async fn start(kind: Kind, models: &[&str]) -> MockLlm {
        let inner = Arc::new(Inner {
            kind,
            models: Mutex::new(models.iter().map(|s| s.to_string()).collect()),
            default: Mutex::new(Behavior::default()),
            per_model: Mutex::new(HashMap::new()),
            seen: Mutex::new(vec![]),
            started: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/models", get(openai_models))
            .route("/v1/chat/completions", post(openai_chat))
            .route("/api/tags", get(ollama_tags))
            .route("/api/ps", get(ollama_ps))
            .route(
                "/api/version",
                get(|| async { Json(json!({"version": "0.6.2"})) }),
            )
            .route("/api/chat", post(ollama_chat))
            .route("/api/generate", post(ollama_generate))
            .route("/api/show", post(ollama_show))
            .fallback(fallback)
            .with_state(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = match kind {
            Kind::OpenAi => format!("http://{addr}/v1"),
            Kind::Ollama => format!("http://{addr}"),
        };
        MockLlm {
            addr,
            url,
            inner,
            task,
        }
    }

    /// Sets how every model answers.
    pub fn set(&self, b: Behavior) {
        *self.inner.default.lock().unwrap() = b;
    }

    /// Sets how one model answers (wins over [`set`](Self::set)).
    pub fn set_for(&self, model: &str, b: Behavior) {
        self.inner
            .per_model
            .lock()
            .unwrap()
            .insert(model.to_string(), b);
    }

    pub fn set_models(&self, models: &[&str]) {
        *self.inner.models.lock().unwrap() = models.iter().map(|s| s.to_string()).collect();
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// Chat requests received (any path ending in `chat/completions` or `/api/chat`).
    pub fn chat_requests(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path.ends_with("/chat/completions") || s.path == "/api/chat")
            .collect()
    }

    /// Streams that ran to the end.
    pub fn completed(&self) -> usize {
        self.inner.completed.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before the end.
    pub fn cancelled(&self) -> usize {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `f` holds.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&MockLlm) -> bool) {
        for _ in 0..200 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("mock: timed out waiting for {what}");
    }
}

impl Inner {
    fn behavior(&self, model: &str) -> Behavior {
        self.per_model
            .lock()
            .unwrap()
            .get(model)
            .cloned()
            .unwrap_or_else(|| self.default.lock().unwrap().clone())
    }

    fn record(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Value) {
        self.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body,
        });
    }
}

/// A body that plays `(delay, chunk)` steps; `None` cuts the connection.
/// Counts whether the client stayed to the end.
fn timed_body(inner: Arc<Inner>, steps: Vec<(Duration, Option<String>)>) -> Body {
    struct Guard {
        inner: Arc<Inner>,
        finished: bool,
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            if !self.finished {
                self.inner.cancelled.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    inner.started.fetch_add(1, Ordering::SeqCst);
    let guard = Guard {
        inner,
        finished: false,
    };
    let steps: VecDeque<_> = steps.into();
    let s = futures::stream::unfold((steps, guard), |(mut steps, mut guard)| async move {
        let (delay, chunk) = match steps.pop_front() {
            Some(s) => s,
            None => {
                guard.finished = true;
                guard.inner.completed.fetch_add(1, Ordering::SeqCst);
                return None;
            }
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match chunk {
            Some(c) => Some((Ok::<Bytes, std::io::Error>(Bytes::from(c)), (steps, guard))),
            None => {
                // Counted as a drop on our side, not a client cancel.
                guard.finished = true;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "mock drops the connection",
                    )),
                    (steps, guard),
                ))
            }
        }
    });
    Body::from_stream(s)
}

/// Chunks sent right before an abort could be discarded unflushed; real
/// servers flush as they go, so the mock pauses before it cuts.
fn drop_delay(b: &Behavior) -> Duration {
    b.token_delay.max(Duration::from_millis(50))
}

fn fail_response(status: u16, message: &str, kind: Kind) -> Response {
    let body = match kind {
        Kind::OpenAi => {
            json!({"error": {"message": message, "type": "mock_error", "code": status}})
        }
        Kind::Ollama => json!({"error": message}),
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response()
}

async fn openai_models(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Json<Value> {
    inner.record(&method, &uri, &headers, Value::Null);
    let data: Vec<Value> = inner
        .models
        .lock()
        .unwrap()
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1700000000, "owned_by": "mock"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

fn openai_chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    let v = json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {v}\n\n")
}

async fn openai_chat(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    inner.record(&method, &uri, &headers, body.clone());
    let model = body["model"].as_str().unwrap_or("").to_string();
    let b = inner.behavior(&model);
    if let Some((status, msg)) = &b.fail {
        return fail_response(*status, msg, Kind::OpenAi);
    }
    let usage = json!({"prompt_tokens": 7, "completion_tokens": b.tokens.len(), "total_tokens": 7 + b.tokens.len()});
    if !body["stream"].as_bool().unwrap_or(false) {
        let mut message = json!({"role": "assistant", "content": b.answer()});
        if !b.reasoning.is_empty() {
            message["reasoning_content"] = json!(b.reasoning.concat());
        }
        return Json(json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let mut steps: Vec<(Duration, Option<String>)> = Vec::new();
    let mut first = true;
    let delay = |first: &mut bool| {
        if std::mem::take(first) {
            b.first_token_delay
        } else {
            b.token_delay
        }
    };
    steps.push((
        Duration::ZERO,
        Some(openai_chunk(
            &model,
            json!({"role": "assistant", "content": ""}),
            None,
        )),
    ));
    for r in &b.reasoning {
        steps.push((
            delay(&mut first),
            Some(openai_chunk(&model, json!({"reasoning_content": r}), None)),
        ));
    }
    for (i, t) in b.tokens.iter().enumerate() {
        if b.drop_after == Some(i) {
            steps.push((drop_delay(&b), None));
            return sse(inner.clone(), steps);
        }
        if b.error_event_after == Some(i) {
            steps.push((
                b.token_delay,
                Some(format!(
                    "data: {}\n\n",
                    json!({"error": {"message": "mock stream error"}})
                )),
            ));
            return sse(inner.clone(), steps);
        }
        steps.push((
            delay(&mut first),
            Some(openai_chunk(&model, json!({"content": t}), None)),
        ));
    }
    steps.push((
        b.token_delay,
        Some(openai_chunk(&model, json!({}), Some("stop"))),
    ));
    if body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false)
    {
        let v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": [], "usage": usage});
        steps.push((Duration::ZERO, Some(format!("data: {v}\n\n"))));
    }
    steps.push((Duration::ZERO, Some("data: [DONE]\n\n".into())));
    sse(inner, steps)
}

fn sse(inner: Arc<Inner>, steps: Vec<(Duration, Option<String>)>) -> Response {
    (
        [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
        ],
        timed_body(inner, steps),
    )
        .into_response()
}

fn ollama_entry(name: &str) -> Value {
    json!({
        "name": name,
        "model": name,
        "modified_at": "2025-01-01T00:00:00Z",
        "size": 1234,
        "digest": "0123456789abcdef",
        "details": {"format": "gguf", "family": "mock", "parameter_size": "1B", "quantization_level": "Q4_0"},
    })
}

async fn ollama_tags(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Json<Value> {
    inner.record(&method, &uri, &headers, Value::Null);
    let models: Vec<Value> = inner
        .models
        .lock()
        .unwrap()
        .iter()
        .map(|m| ollama_entry(m))
        .collect();
    Json(json!({"models": models}))
}

async fn ollama_ps(State(inner): State<Arc<Inner>>) -> Json<Value> {
    // The first model counts as loaded.
    let first = inner.models.lock().unwrap().first().cloned();
    let models: Vec<Value> = first
        .map(|m| {
            let mut e = ollama_entry(&m);
            e["expires_at"] = json!("2030-01-01T00:00:00Z");
            vec![e]
        })
        .unwrap_or_default();
    Json(json!({"models": models}))
}

fn ndjson_line(v: Value) -> String {
    format!("{v}\n")
}

async fn ollama_stream(inner: Arc<Inner>, body: Value, generate: bool) -> Response {
    let model = body["model"].as_str().unwrap_or("").to_string();
    if !inner.models.lock().unwrap().contains(&model) {
        return fail_response(
            404,
            &format!("model \"{model}\" not found, try pulling it first"),
            Kind::Ollama,
        );
    }
    let b = inner.behavior(&model);
    if let Some((status, msg)) = &b.fail {
        return fail_response(*status, msg, Kind::Ollama);
    }
    let piece = |content: &str, thinking: Option<&str>, done: bool| -> Value {
        let mut v = if generate {
            json!({"model": model, "created_at": "2025-01-01T00:00:00Z", "response": content, "done": done})
        } else {
            json!({"model": model, "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": content}, "done": done})
        };
        if let Some(t) = thinking {
            if generate {
                v["thinking"] = json!(t);
            } else {
                v["message"]["thinking"] = json!(t);
            }
        }
        v
    };
    let mut last = piece("", None, true);
    last["done_reason"] = json!("stop");
    for (k, n) in [
        ("total_duration", 2_000_000_000i64),
        ("load_duration", 1_000_000),
        ("prompt_eval_count", 9),
        ("prompt_eval_duration", 100_000_000),
        ("eval_count", b.tokens.len() as i64),
        ("eval_duration", 500_000_000),
    ] {
        last[k] = json!(n);
    }
    if !body["stream"].as_bool().unwrap_or(true) {
        let mut v = last.clone();
        if generate {
            v["response"] = json!(b.answer());
        } else {
            v["message"]["content"] = json!(b.answer());
            if !b.reasoning.is_empty() {
                v["message"]["thinking"] = json!(b.reasoning.concat());
            }
        }
        return Json(v).into_response();
    }
    let mut steps: Vec<(Duration, Option<String>)> = Vec::new();
    let mut first = true;
    let delay = |first: &mut bool| {
        if std::mem::take(first) {
            b.first_token_delay
        } else {
            b.token_delay
        }
    };
    for r in &b.reasoning {
        steps.push((
            delay(&mut first),
            Some(ndjson_line(piece("", Some(r), false))),
        ));
    }
    for (i, t) in b.tokens.iter().enumerate() {
        if b.drop_after == Some(i) {
            steps.push((drop_delay(&b), None));
            return ndjson(inner.clone(), steps);
        }
        if b.error_event_after == Some(i) {
            steps.push((
                b.token_delay,
                Some(ndjson_line(json!({"error": "mock stream error"}))),
            ));
            return ndjson(inner.clone(), steps);
        }
        steps.push((delay(&mut first), Some(ndjson_line(piece(t, None, false)))));
    }
    steps.push((b.token_delay, Some(ndjson_line(last))));
    ndjson(inner, steps)
}

fn ndjson(inner: Arc<Inner>, steps: Vec<(Duration, Option<String>)>) -> Response {
    (
        [("content-type", "application/x-ndjson")],
        timed_body(inner, steps),
    )
        .into_response()
}

async fn ollama_chat(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    inner.record(&method, &uri, &headers, body.clone());
    ollama_stream(inner, body, false).await
}

async fn ollama_generate(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    inner.record(&method, &uri, &headers, body.clone());
    ollama_stream(inner, body, true).await
}

async fn ollama_show(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    inner.record(&method, &uri, &headers, body.clone());
    Json(
        json!({"modelfile": format!("FROM {}", body["model"].as_str().unwrap_or("")), "details": {"family": "mock"}}),
    )
}

async fn fallback(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.record(
        &method,
        &uri,
        &headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    );
    let _ = inner.kind;
    (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()
}

/// A loopback URL where nothing listens.
pub async fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A server that accepts connections and never answers.
pub struct Silent {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn silent_server() -> Silent {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: a test never opens more than a few connections.
        while held.len() < 64 {
            match l.accept().await {
                Ok((sock, _)) => held.push(sock),
                Err(_) => break,
            }
        }
        std::future::pending::<()>().await;
    });
    Silent {
        url: format!("http://{addr}"),
        task,
    }
}
