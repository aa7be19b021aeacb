//! Soak driver for `bench/soak.sh`: minutes of mixed load against the server binary,
//! with its resident memory sampled at a fixed interval.
//!
//! Everything runs on loopback: a mock OpenAI-compatible provider (chat and
//! embeddings) lives in this process, the server runs on a throw-away data folder.
//! Four kinds of work run side by side until `--seconds` have passed:
//! - streamed chats through `POST /api/chat/completions`, finished when the socket
//!   delivers the `done` event, the answer checked token by token;
//! - uploads of small text files through `POST /api/v1/files/` (indexed with the
//!   mock's embeddings), then deleted again;
//! - searches and lists: `/api/v1/search`, `/api/v1/chats/`, `/api/v1/chats/search`,
//!   `/api/v1/files/`;
//! - socket churn: a Socket.IO client connects, signs in and disconnects, over and over.
//!
//! Every `--sample-seconds` it prints the server's VmRSS and the operations so far;
//! at the end it prints per-kind counts, failures and the memory trend (mean of the
//! first and second half after warm-up, least-squares slope in MiB per minute).
//! Exit status 1 if any operation failed.
//!
//! Run: `cargo run --release --example soak -- --bin ./open-webui --seconds 600`
//! (`--delete-chats` deletes each chat after its answer, so the data stays small).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

struct Args {
    bin: String,
    seconds: u64,
    sample_seconds: u64,
    users: usize,
    chat_workers: usize,
    upload_workers: usize,
    search_workers: usize,
    churn_workers: usize,
    tokens: usize,
    /// Delete each chat once its answer is checked, so the data stops growing
    /// (tells a leak from caches that fill as the data grows).
    delete_chats: bool,
}

fn args() -> Args {
    let mut a = Args {
        bin: "./open-webui".into(),
        seconds: 600,
        sample_seconds: 10,
        users: 8,
        chat_workers: 6,
        upload_workers: 2,
        search_workers: 2,
        churn_workers: 2,
        tokens: 30,
        delete_chats: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--bin" => a.bin = it.next().expect("--bin PATH"),
            "--seconds" => a.seconds = num(),
            "--sample-seconds" => a.sample_seconds = num().max(1),
            "--users" => a.users = num().max(1) as usize,
            "--chat-workers" => a.chat_workers = num() as usize,
            "--upload-workers" => a.upload_workers = num() as usize,
            "--search-workers" => a.search_workers = num() as usize,
            "--churn-workers" => a.churn_workers = num() as usize,
            "--tokens" => a.tokens = num().max(1) as usize,
            "--delete-chats" => a.delete_chats = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

#[derive(Default)]
struct Counter {
    ok: AtomicU64,
    failed: AtomicU64,
}

#[derive(Default)]
struct Tally {
    chats: Counter,
    uploads: Counter,
    searches: Counter,
    churns: Counter,
    /// The first few failures, for the report.
    notes: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, c: &Counter, result: Result<(), String>) {
        match result {
            Ok(()) => {
                c.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                let mut notes = self.notes.lock().unwrap();
                if notes.len() < 20 {
                    notes.push(e);
                }
            }
        }
    }

    fn total(&self) -> (u64, u64) {
        let all = [&self.chats, &self.uploads, &self.searches, &self.churns];
        (
            all.iter().map(|c| c.ok.load(Ordering::Relaxed)).sum(),
            all.iter().map(|c| c.failed.load(Ordering::Relaxed)).sum(),
        )
    }
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    tokens: Vec<String>,
    clock: MockClock,
    stop: AtomicBool,
    tally: Tally,
    answer_tokens: usize,
    delete_chats: bool,
}

impl Ctx {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

async fn status_of(
    r: Result<reqwest::Response, reqwest::Error>,
    what: &str,
) -> Result<Value, String> {
    let r = r.map_err(|e| format!("{what}: {e}"))?;
    let status = r.status();
    let body = r.text().await.map_err(|e| format!("{what}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{what}: HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// One user's socket stays open; chats are started over HTTP and followed on it.
async fn chat_worker(ctx: Arc<Ctx>, worker: usize) {
    let user = worker % ctx.tokens.len();
    let token = ctx.tokens[user].clone();
    let events: Events = Arc::default();
    let sock = connect(&ctx.base, &token, ctx.clock.clone(), events.clone()).await;
    let want = expected(ctx.answer_tokens);
    let mut n = 0u64;
    while ctx.running() {
        n += 1;
        let mid = format!("soak-{worker}-{n}");
        let mut chat_id = None;
        let result = async {
            let started = status_of(
                ctx.http
                    .post(format!("{}/api/chat/completions", ctx.base))
                    .bearer_auth(&token)
                    .json(&chat_body(&format!("soak chat {worker} {n}"), &mid))
                    .send()
                    .await,
                "chat",
            )
            .await?;
            chat_id = started["chat_id"].as_str().map(str::to_string);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (deltas, done) = {
                    let ev = events.lock().unwrap();
                    deltas_of(&ev, &mid)
                };
                if done {
                    let got: String = deltas.into_iter().map(|d| d.1).collect();
                    return if got == want {
                        Ok(())
                    } else {
                        Err(format!(
                            "chat {mid}: answer arrived incomplete ({} bytes)",
                            got.len()
                        ))
                    };
                }
                if Instant::now() > deadline {
                    return Err(format!("chat {mid}: no done event within 60 s"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        .await;
        // Keep the event list from growing: only this message's events were needed.
        events.lock().unwrap().clear();
        let result = match (result, chat_id) {
            (Ok(()), Some(id)) if ctx.delete_chats => status_of(
                ctx.http
                    .delete(format!("{}/api/v1/chats/{id}", ctx.base))
                    .bearer_auth(&token)
                    .send()
                    .await,
                "chat delete",
            )
            .await
            .map(drop),
            (r, _) => r,
        };
        ctx.tally.record(&ctx.tally.chats, result);
    }
    let _ = sock.disconnect().await;
}

fn multipart(name: &str, text: &str) -> (String, Vec<u8>) {
    let boundary = "soak-boundary-7d1f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Upload a small text file, wait (bounded) until it is indexed, delete it.
async fn upload_worker(ctx: Arc<Ctx>, worker: usize) {
    let token = ctx.tokens[(worker + 1) % ctx.tokens.len()].clone();
    let mut n = 0u64;
    while ctx.running() {
        n += 1;
        let text: String = (0..200)
            .map(|i| {
                format!(
                    "line {i} of soak file {worker}-{n}: the quick brown fox {}\n",
                    i * n
                )
            })
            .collect();
        let (ctype, body) = multipart(&format!("soak-{worker}-{n}.txt"), &text);
        let result = async {
            let file = status_of(
                ctx.http
                    .post(format!("{}/api/v1/files/", ctx.base))
                    .bearer_auth(&token)
                    .header("content-type", ctype)
                    .body(body)
                    .send()
                    .await,
                "upload",
            )
            .await?;
            let id = file["id"]
                .as_str()
                .ok_or("upload: no id in the answer")?
                .to_string();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let st = status_of(
                    ctx.http
                        .get(format!("{}/api/v1/files/{id}/process/status", ctx.base))
                        .bearer_auth(&token)
                        .send()
                        .await,
                    "process status",
                )
                .await?;
                match st["status"].as_str() {
                    Some("completed") => break,
                    Some("failed") => return Err(format!("upload {id}: processing failed: {st}")),
                    _ if Instant::now() > deadline => {
                        return Err(format!("upload {id}: not processed within 60 s"))
                    }
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            status_of(
                ctx.http
                    .delete(format!("{}/api/v1/files/{id}", ctx.base))
                    .bearer_auth(&token)
                    .send()
                    .await,
                "delete file",
            )
            .await?;
            Ok(())
        }
        .await;
        ctx.tally.record(&ctx.tally.uploads, result);
    }
}

async fn search_worker(ctx: Arc<Ctx>, worker: usize) {
    let token = ctx.tokens[worker % ctx.tokens.len()].clone();
    let paths = [
        "/api/v1/search?q=soak",
        "/api/v1/chats/?page=1",
        "/api/v1/chats/search?text=chat&page=1",
        "/api/v1/files/",
        "/api/v1/search?q=w1",
    ];
    let mut n = 0usize;
    while ctx.running() {
        let path = paths[n % paths.len()];
        n += 1;
        let result = status_of(
            ctx.http
                .get(format!("{}{path}", ctx.base))
                .bearer_auth(&token)
                .send()
                .await,
            path,
        )
        .await
        .map(|_| ());
        ctx.tally.record(&ctx.tally.searches, result);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn churn_worker(ctx: Arc<Ctx>, worker: usize) {
    let mut n = 0usize;
    while ctx.running() {
        let token = ctx.tokens[(worker + n) % ctx.tokens.len()].clone();
        n += 1;
        let events: Events = Arc::default();
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            connect(&ctx.base, &token, ctx.clock.clone(), events),
        )
        .await;
        match result {
            Ok(sock) => {
                let _ = sock.disconnect().await;
                ctx.tally.record(&ctx.tally.churns, Ok(()));
            }
            Err(_) => ctx.tally.record(
                &ctx.tally.churns,
                Err("socket: no connect within 20 s".into()),
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Total size of the files under `dir`, in MiB (what the data folder holds now).
fn dir_mib(dir: &std::path::Path) -> f64 {
    fn walk(dir: &std::path::Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir) as f64 / 1048576.0
}

fn dir_or_file_mib(p: &std::path::Path) -> f64 {
    if p.is_dir() {
        dir_mib(p)
    } else {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / 1048576.0)
            .unwrap_or(0.0)
    }
}

/// Row counts of the tables the load writes to, read from the server's database.
fn row_counts(db: &std::path::Path) -> String {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return "database not readable".into();
    };
    ["chat", "chat_message", "file", "chat_file"]
        .iter()
        .map(|t| {
            let n: Result<i64, _> =
                conn.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0));
            match n {
                Ok(n) => format!("{t} {n}"),
                Err(_) => format!("{t} -"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Least-squares slope of (seconds, MiB) in MiB per minute.
fn slope_per_minute(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    cov / var * 60.0
}

fn mean(v: &[(f64, f64)]) -> f64 {
    v.iter().map(|p| p.1).sum::<f64>() / v.len().max(1) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let clock = MockClock::default();
    clock.since_base();
    let mock = start_mock(clock.clone(), a.tokens, Duration::from_millis(15)).await;
    let server = start_server(
        &a.bin,
        &mock,
        &[
            ("RAG_EMBEDDING_ENGINE", "openai"),
            ("RAG_EMBEDDING_MODEL", "mock-embed"),
            ("RAG_OPENAI_API_BASE_URL", &mock),
            ("RAG_OPENAI_API_KEY", "x"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    println!(
        "server {} (pid {}), mock {mock}",
        server.base,
        server.child.id()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = server.rss_mib();
    let tokens = create_users(&http, &server.base, a.users).await;
    println!(
        "{} s of load: {} chat, {} upload, {} search, {} socket-churn workers over {} users; RSS at rest {idle:.1} MiB",
        a.seconds,
        a.chat_workers,
        a.upload_workers,
        a.search_workers,
        a.churn_workers,
        tokens.len()
    );
    let ctx = Arc::new(Ctx {
        http,
        base: server.base.clone(),
        tokens,
        clock,
        stop: AtomicBool::new(false),
        tally: Tally::default(),
        answer_tokens: a.tokens,
        delete_chats: a.delete_chats,
    });
    let mut jobs = Vec::new();
    for w in 0..a.chat_workers {
        jobs.push(tokio::spawn(chat_worker(ctx.clone(), w)));
    }
    for w in 0..a.upload_workers {
        jobs.push(tokio::spawn(upload_worker(ctx.clone(), w)));
    }
    for w in 0..a.search_workers {
        jobs.push(tokio::spawn(search_worker(ctx.clone(), w)));
    }
    for w in 0..a.churn_workers {
        jobs.push(tokio::spawn(churn_worker(ctx.clone(), w)));
    }

    let started = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut next = Duration::from_secs(a.sample_seconds);
    while started.elapsed() < Duration::from_secs(a.seconds) {
        tokio::time::sleep(next.saturating_sub(started.elapsed())).await;
        next += Duration::from_secs(a.sample_seconds);
        let t = started.elapsed().as_secs_f64();
        let rss = server.rss_mib();
        let (anon, file) = server.rss_parts_mib();
        samples.push((t, rss));
        let (ok, failed) = ctx.tally.total();
        println!(
            "t={t:6.0} s  rss={rss:7.1} MiB (anon {anon:.1}, file {file:.1})  data={:.1} MiB  ops={ok}  failed={failed}",
            dir_mib(server.data_dir())
        );
    }
    ctx.stop.store(true, Ordering::Relaxed);
    for j in jobs {
        // Workers finish their current operation (each bounded by its own timeout).
        let _ = tokio::time::timeout(Duration::from_secs(90), j).await;
    }

    let warm = (a.seconds as f64 / 10.0)
        .max(60.0)
        .min(a.seconds as f64 / 2.0);
    let after: Vec<(f64, f64)> = samples.iter().copied().filter(|p| p.0 >= warm).collect();
    let mid = (warm + a.seconds as f64) / 2.0;
    let first: Vec<(f64, f64)> = after.iter().copied().filter(|p| p.0 < mid).collect();
    let second: Vec<(f64, f64)> = after.iter().copied().filter(|p| p.0 >= mid).collect();
    let peak = samples.iter().map(|p| p.1).fold(0.0, f64::max);
    let t = &ctx.tally;
    let line = |name: &str, c: &Counter| {
        println!(
            "{name:<10} ok {:>7}  failed {:>4}",
            c.ok.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed)
        )
    };
    println!("---- after {:.0} s", started.elapsed().as_secs_f64());
    line("chats", &t.chats);
    line("uploads", &t.uploads);
    line("searches", &t.searches);
    line("sockets", &t.churns);
    let (ok, failed) = t.total();
    println!("total      ok {ok:>7}  failed {failed:>4}");
    println!(
        "RSS: at rest {idle:.1} MiB, peak sample {peak:.1} MiB, VmHWM {:.1} MiB; mean {:.1} MiB ({warm:.0}-{mid:.0} s) vs {:.1} MiB ({mid:.0}-{} s); slope after warm-up {:+.2} MiB/min",
        server.peak_rss_mib(),
        mean(&first),
        mean(&second),
        a.seconds,
        slope_per_minute(&after)
    );
    for n in t.notes.lock().unwrap().iter() {
        println!("failure: {n}");
    }
    let health = ctx
        .http
        .get(format!("{}/health/db", server.base))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    println!("GET /health/db after the run: {health}");
    println!(
        "data folder {:.1} MiB; rows: {}",
        dir_mib(server.data_dir()),
        row_counts(&server.data_dir().join("webui.db"))
    );
    if let Ok(entries) = std::fs::read_dir(server.data_dir()) {
        for e in entries.flatten() {
            println!(
                "  {:<24} {:8.1} MiB",
                e.file_name().to_string_lossy(),
                dir_or_file_mib(&e.path())
            );
            // The vector store and the BM25 index side by side.
            if e.path().is_dir() && e.file_name() == "vector_db" {
                for inner in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                    println!(
                        "    {:<22} {:8.1} MiB",
                        inner.file_name().to_string_lossy(),
                        dir_or_file_mib(&inner.path())
                    );
                }
            }
        }
    }
    if failed > 0 || health != 200 {
        std::process::exit(1);
    }
}
