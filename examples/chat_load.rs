//! Load driver for `bench/chat-load.sh`: many concurrent streamed chats through
//! the server's Socket.IO events, against a mock OpenAI-compatible provider that
//! runs inside this process (loopback only).
//!
//! It starts the mock, starts the server binary on a fresh data folder pointed
//! at the mock, creates users, then:
//! 1. first-token latency, one chat at a time: mock → our server → Socket.IO →
//!    this client, versus mock → this client directly (same clock, same process);
//! 2. `--chats` chats at once over `--users` users' sockets: every delta must
//!    arrive, in order, and the stored answer must be complete; reports the
//!    server's peak RSS (VmHWM).
//!
//! `--mock-only` just serves the mock and prints its URL (for bench/http-load.sh).
//!
//! Run: `cargo run --release --example chat_load -- --bin ./open-webui`

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

const MODEL: &str = "load-model";

struct Args {
    bin: String,
    users: usize,
    chats: usize,
    tokens: usize,
    token_gap_ms: u64,
    latency_runs: usize,
    mock_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        bin: "./open-webui".into(),
        users: 50,
        chats: 500,
        tokens: 40,
        token_gap_ms: 20,
        latency_runs: 200,
        mock_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().expect("flag needs a value");
        match flag.as_str() {
            "--bin" => a.bin = val(),
            "--users" => a.users = val().parse().expect("--users N"),
            "--chats" => a.chats = val().parse().expect("--chats N"),
            "--tokens" => a.tokens = val().parse().expect("--tokens N"),
            "--token-gap-ms" => a.token_gap_ms = val().parse().expect("--token-gap-ms N"),
            "--latency-runs" => a.latency_runs = val().parse().expect("--latency-runs N"),
            "--mock-only" => a.mock_only = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// When the mock wrote the first token of each request, keyed by the request's
/// last user message (unique per chat).
#[derive(Clone, Default)]
struct MockClock {
    base: Arc<Mutex<Option<Instant>>>,
    first_token: Arc<Mutex<HashMap<String, Duration>>>,
}

impl MockClock {
    fn since_base(&self) -> Duration {
        let base = *self.base.lock().unwrap().get_or_insert_with(Instant::now);
        base.elapsed()
    }
}

async fn start_mock(clock: MockClock, tokens: usize, gap: Duration) -> String {
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
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn token(i: usize) -> String {
    format!("w{i} ")
}

fn expected(tokens: usize) -> String {
    (0..tokens).map(token).collect()
}

struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

async fn start_server(bin: &str, mock: &str) -> Server {
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

type Events = Arc<Mutex<Vec<(Duration, Value)>>>;

async fn connect(base: &str, token: &str, clock: MockClock, events: Events) -> SioClient {
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

fn chat_body(key: &str, message_id: &str) -> Value {
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

fn summary(mut v: Vec<f64>) -> String {
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
fn deltas_of(events: &[(Duration, Value)], message_id: &str) -> (Vec<(Duration, String)>, bool) {
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let clock = MockClock::default();
    clock.since_base();
    let mock = start_mock(
        clock.clone(),
        a.tokens,
        Duration::from_millis(a.token_gap_ms),
    )
    .await;
    if a.mock_only {
        println!("MOCK_URL={mock}");
        // Serve until killed (bench/http-load.sh stops it), at most an hour.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let server = start_server(&a.bin, &mock).await;
    let http = reqwest::Client::new();
    println!(
        "server {} (pid {}), mock {mock}",
        server.base,
        server.child.id()
    );

    // Users: the first signup is the admin, the rest are added by the admin.
    let admin: Value = http
        .post(format!("{}/api/v1/auths/signup", server.base))
        .json(
            &json!({"name": "Bench Admin", "email": "admin@bench.local", "password": "Passw0rd!x"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_token = admin["token"].as_str().expect("admin token").to_string();
    let mut tokens = vec![admin_token.clone()];
    let adds =
        futures::stream::iter(1..a.users)
            .map(|i| {
                let http = http.clone();
                let base = server.base.clone();
                let admin_token = admin_token.clone();
                async move {
                    let r: Value = http
                    .post(format!("{base}/api/v1/auths/add"))
                    .bearer_auth(&admin_token)
                    .json(&json!({"name": format!("User {i}"), "email": format!("u{i}@bench.local"),
                                  "password": "Passw0rd!x", "role": "user"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                    r["token"].as_str().expect("user token").to_string()
                }
            })
            .buffer_unordered(2)
            .collect::<Vec<_>>()
            .await;
    tokens.extend(adds);

    // The models list is fetched once and cached; make sure the model is known.
    let models: Value = http
        .get(format!("{}/api/models", server.base))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        models["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|m| m["id"] == MODEL)),
        "the mock's model is listed: {models}"
    );

    // ---- 1. first-token latency, one at a time
    let events: Events = Arc::default();
    let sock = connect(&server.base, &admin_token, clock.clone(), events.clone()).await;
    let mut via_server = Vec::new();
    for i in 0..a.latency_runs {
        let key = format!("latency {i}");
        let mid = format!("lat-{i}");
        let r = http
            .post(format!("{}/api/chat/completions", server.base))
            .bearer_auth(&admin_token)
            .json(&chat_body(&key, &mid))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "completion refused: {}",
            r.status()
        );
        let mut seen_first = None;
        for _ in 0..2000 {
            let ev = events.lock().unwrap().clone();
            let (d, done) = deltas_of(&ev, &mid);
            if seen_first.is_none() {
                seen_first = d.first().map(|x| x.0);
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let sent = clock.first_token.lock().unwrap().get(&key).copied();
        if let (Some(got), Some(sent)) = (seen_first, sent) {
            via_server.push((got.as_secs_f64() - sent.as_secs_f64()) * 1000.0);
        }
        events.lock().unwrap().clear();
    }
    let _ = sock.disconnect().await;
    let mut direct = Vec::new();
    for i in 0..a.latency_runs {
        let key = format!("direct {i}");
        let body =
            json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": key}]});
        let r = http
            .post(format!("{mock}/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let mut s = r.bytes_stream();
        if let Some(Ok(_first)) = s.next().await {
            let got = clock.since_base();
            if let Some(sent) = clock.first_token.lock().unwrap().get(&key).copied() {
                direct.push((got.as_secs_f64() - sent.as_secs_f64()) * 1000.0);
            }
        }
        while s.next().await.is_some() {}
    }
    println!(
        "first token, mock -> server -> Socket.IO -> client: {}",
        summary(via_server.clone())
    );
    println!(
        "first token, mock -> client directly:               {}",
        summary(direct.clone())
    );
    let mut vs = via_server.clone();
    vs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut dr = direct.clone();
    dr.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "added latency to the first token: p50 {:.3} ms, p99 {:.3} ms",
        percentile(&vs, 50.0) - percentile(&dr, 50.0),
        percentile(&vs, 99.0) - percentile(&dr, 99.0)
    );

    // ---- 2. many chats at once
    let per_user = a.chats.div_ceil(a.users);
    let mut sockets = Vec::new();
    let mut all_events = Vec::new();
    for t in &tokens {
        let ev: Events = Arc::default();
        sockets.push(connect(&server.base, t, clock.clone(), ev.clone()).await);
        all_events.push(ev);
    }
    let rss_before = server.peak_rss_mib();
    let started = Instant::now();
    let mut jobs = Vec::new();
    for n in 0..a.chats {
        let user = n / per_user;
        let http = http.clone();
        let base = server.base.clone();
        let token = tokens[user].clone();
        jobs.push(tokio::spawn(async move {
            let mid = format!("load-{n}");
            let r = http
                .post(format!("{base}/api/chat/completions"))
                .bearer_auth(&token)
                .json(&chat_body(&format!("load chat {n}"), &mid))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (
                n,
                user,
                status.as_u16(),
                body["chat_id"].as_str().unwrap_or("").to_string(),
            )
        }));
    }
    let mut chats = Vec::new();
    for j in jobs {
        chats.push(j.await.unwrap());
    }
    let refused = chats.iter().filter(|c| c.2 != 200).count();
    if let Some(c) = chats.iter().find(|c| c.2 != 200) {
        eprintln!("first refusal: chat {} of user {}: HTTP {}", c.0, c.1, c.2);
    }
    // Wait (bounded) until every chat's final event arrived.
    let want = expected(a.tokens);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let finished = chats
            .iter()
            .filter(|(n, user, _, _)| {
                let ev = all_events[*user].lock().unwrap();
                deltas_of(&ev, &format!("load-{n}")).1
            })
            .count();
        if finished == a.chats - refused || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = started.elapsed();
    let mut lost = 0usize;
    let mut reordered = 0usize;
    let mut incomplete = 0usize;
    let mut total_deltas = 0usize;
    for (n, user, _, _) in &chats {
        let ev = all_events[*user].lock().unwrap();
        let (deltas, done) = deltas_of(&ev, &format!("load-{n}"));
        total_deltas += deltas.len();
        if !done {
            incomplete += 1;
        }
        let got: Vec<&str> = deltas.iter().map(|d| d.1.as_str()).collect();
        let expect: Vec<String> = (0..a.tokens).map(token).collect();
        lost += a.tokens.saturating_sub(got.len());
        let mut sorted = got.clone();
        sorted.sort_by_key(|s| s[1..s.len() - 1].parse::<usize>().unwrap_or(usize::MAX));
        if got != sorted {
            reordered += 1;
        } else if got.iter().zip(&expect).any(|(g, e)| g != e) {
            lost += 1;
        }
    }
    // The stored answers, checked on a sample of chats (every 10th).
    let mut stored_bad = 0;
    for (n, user, _, chat_id) in chats.iter().filter(|c| c.0 % 10 == 0) {
        let chat: Value = http
            .get(format!("{}/api/v1/chats/{chat_id}", server.base))
            .bearer_auth(&tokens[*user])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        let content = &chat["chat"]["history"]["messages"][format!("load-{n}")]["content"];
        if content.as_str() != Some(want.as_str()) {
            stored_bad += 1;
        }
    }
    println!(
        "{} concurrent chats over {} users' sockets, {} tokens each ({} ms apart): wall {:.2} s",
        a.chats,
        tokens.len(),
        a.tokens,
        a.token_gap_ms,
        wall.as_secs_f64()
    );
    println!(
        "refused {refused}, incomplete {incomplete}, deltas received {total_deltas}/{}, lost tokens {lost}, chats with reordered tokens {reordered}, stored answers wrong {stored_bad}/{}",
        a.chats * a.tokens,
        chats.iter().filter(|c| c.0 % 10 == 0).count()
    );
    println!(
        "server peak RSS (VmHWM): {:.1} MiB before the burst, {:.1} MiB after",
        rss_before,
        server.peak_rss_mib()
    );
    for s in sockets {
        let _ = s.disconnect().await;
    }
    let ok = refused == 0 && incomplete == 0 && lost == 0 && reordered == 0 && stored_bad == 0;
    if !ok {
        std::process::exit(1);
    }
}
