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

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

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
    let server = start_server(&a.bin, &mock, &[]).await;
    let http = reqwest::Client::new();
    println!(
        "server {} (pid {}), mock {mock}",
        server.base,
        server.child.id()
    );

    // Users: the first signup is the admin, the rest are added by the admin.
    let tokens = create_users(&http, &server.base, a.users).await;
    let admin_token = tokens[0].clone();

    // The models list is fetched once and cached; make sure the model is known.
    let models = json_of(
        http.get(format!("{}/api/models", server.base))
            .bearer_auth(&admin_token),
    )
    .await;
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
