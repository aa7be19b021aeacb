//! Crash safety: the real binary is killed with SIGKILL at random moments
//! while several clients write (chats, messages, folders, notes, uploads,
//! knowledge), then started again on the same data folder, many times.
//! After every restart: the database passes `PRAGMA integrity_check`, every
//! write the server acknowledged is there, and the chunk store and the BM25
//! index agree.

mod common;
#[path = "data/support.rs"]
mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Client;
use rand::{Rng, SeedableRng};
use serde_json::json;
use support::*;

/// Rounds of start → write → SIGKILL. Bounded; about two seconds each.
const ROUNDS: usize = 8;

struct Child {
    proc: tokio::process::Child,
    base: String,
}

async fn start(dir: &Path) -> Child {
    for _attempt in 0..5 {
        let port = common::free_port();
        let mut proc = tokio::process::Command::new(env!("CARGO_BIN_EXE_open-webui"))
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(dir)
            .env("WEBUI_SECRET_KEY", "crash-test-secret")
            .env("ENABLE_OPENAI_API", "false")
            .env("ENABLE_OLLAMA_API", "false")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/health")).send().await {
                if r.status() == 200 {
                    return Child { proc, base };
                }
            }
            if proc.try_wait().ok().flatten().is_some() {
                break; // port taken meanwhile: try another
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = proc.kill().await;
    }
    panic!("the server did not start");
}

fn client(base: &str, token: Option<&str>) -> Client {
    Client {
        base: base.to_string(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        token: token.map(str::to_string),
    }
}

/// What the server said yes to.
#[derive(Default)]
struct Acked {
    chats: Vec<String>,
    /// (chat id, message id) pairs stored by an acknowledged update.
    messages: Vec<(String, String)>,
    folders: Vec<String>,
    notes: Vec<String>,
    files: Vec<String>,
    /// (knowledge id, file id) links.
    links: Vec<(String, String)>,
}

async fn writer(c: Client, kb: String, worker: usize, acked: Arc<Mutex<Acked>>) {
    for i in 0..10_000usize {
        let tag = format!("w{worker}-{i}");
        match i % 5 {
            0 | 1 => {
                let r = c
                    .try_post("/api/v1/chats/new", json!({"chat": {"title": tag}}))
                    .await;
                let Some(r) = r.filter(|r| r.status == 200) else {
                    return;
                };
                let id = r.body["id"].as_str().unwrap().to_string();
                acked.lock().unwrap().chats.push(id.clone());
                let mid = format!("m-{tag}");
                let chat = json!({"chat": {"title": tag, "history": {"currentId": mid, "messages": {
                    mid.clone(): {"id": mid, "parentId": null, "childrenIds": [], "role": "user",
                                  "content": format!("hello {tag}")}}}}});
                let r = c.try_post(&format!("/api/v1/chats/{id}"), chat).await;
                let Some(r) = r.filter(|r| r.status == 200) else {
                    return;
                };
                let _ = r;
                acked.lock().unwrap().messages.push((id, mid));
            }
            2 => {
                let r = c.try_post("/api/v1/folders/", json!({"name": tag})).await;
                let Some(r) = r.filter(|r| r.status == 200) else {
                    return;
                };
                let id = r.body["id"].as_str().unwrap().to_string();
                acked.lock().unwrap().folders.push(id);
            }
            3 => {
                let r = c
                    .try_post("/api/v1/notes/create", json!({"title": tag, "data": {}}))
                    .await;
                let Some(r) = r.filter(|r| r.status == 200) else {
                    return;
                };
                let id = r.body["id"].as_str().unwrap().to_string();
                acked.lock().unwrap().notes.push(id);
            }
            _ => {
                let text = format!("Document {tag} talks about lighthouses and tides number {i}.");
                let r = upload(
                    &c,
                    &format!("{tag}.txt"),
                    "text/plain",
                    text.as_bytes(),
                    None,
                    "",
                )
                .await;
                if r.status != 200 {
                    return;
                }
                let fid = r.body["id"].as_str().unwrap().to_string();
                acked.lock().unwrap().files.push(fid.clone());
                let r = c
                    .try_post(
                        &format!("/api/v1/knowledge/{kb}/file/add"),
                        json!({"file_id": fid}),
                    )
                    .await;
                if r.is_some_and(|r| r.status == 200) {
                    acked.lock().unwrap().links.push((kb.clone(), fid));
                }
            }
        }
    }
}

trait TryPost {
    async fn try_post(&self, path: &str, body: serde_json::Value) -> Option<common::Resp>;
}

impl TryPost for Client {
    /// A POST that may meet a dead server (None instead of a panic).
    async fn try_post(&self, path: &str, body: serde_json::Value) -> Option<common::Resp> {
        let mut req = self.http.post(format!("{}{}", self.base, path)).json(&body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.ok()?;
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.ok()?;
        Some(common::Resp {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        })
    }
}

fn integrity_ok(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let r: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(r, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_concurrent_writes_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mock = MockEmbed::start().await;
    let seed: u64 = rand::random();
    println!("crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // First start: the admin, mock embeddings and one knowledge base.
    let mut child = start(&dir).await;
    let anon = client(&child.base, None);
    let r = anon
        .signup("Admin", "admin@example.com", "pw-admin-1")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let admin = client(&child.base, Some(&token));
    use_mock_embeddings(&admin, &mock).await;
    let r = admin
        .post(
            "/api/v1/knowledge/create",
            json!({"name": "kb", "description": "d"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let kb = r.body["id"].as_str().unwrap().to_string();

    let acked = Arc::new(Mutex::new(Acked::default()));
    for round in 0..ROUNDS {
        if round > 0 {
            child = start(&dir).await;
        }
        let mut tasks = Vec::new();
        for w in 0..3 {
            tasks.push(tokio::spawn(writer(
                client(&child.base, Some(&token)),
                kb.clone(),
                w,
                acked.clone(),
            )));
        }
        let delay = rng.gen_range(150..1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // SIGKILL: no shutdown hook, no checkpoint.
        child.proc.start_kill().unwrap();
        let _ = child.proc.wait().await;
        for t in tasks {
            let _ = t.await;
        }
        integrity_ok(&dir.join("webui.db"));
    }

    // A last start: everything acknowledged is there.
    let child = start(&dir).await;
    let admin = client(&child.base, Some(&token));
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.chats.len() > ROUNDS && !acked.files.is_empty(),
        "the writers got little done: {} chats, {} files",
        acked.chats.len(),
        acked.files.len()
    );
    println!(
        "acknowledged: {} chats, {} messages, {} folders, {} notes, {} files, {} knowledge links",
        acked.chats.len(),
        acked.messages.len(),
        acked.folders.len(),
        acked.notes.len(),
        acked.files.len(),
        acked.links.len()
    );
    for id in &acked.chats {
        let r = admin.get(&format!("/api/v1/chats/{id}")).await;
        assert_eq!(r.status, 200, "acknowledged chat {id} is missing");
    }
    for (chat, mid) in &acked.messages {
        let r = admin.get(&format!("/api/v1/chats/{chat}")).await;
        assert!(
            r.body["chat"]["history"]["messages"][mid].is_object(),
            "acknowledged message {mid} of chat {chat} is missing"
        );
    }
    for id in &acked.folders {
        let r = admin.get(&format!("/api/v1/folders/{id}")).await;
        assert_eq!(r.status, 200, "acknowledged folder {id} is missing");
    }
    for id in &acked.notes {
        let r = admin.get(&format!("/api/v1/notes/{id}")).await;
        assert_eq!(r.status, 200, "acknowledged note {id} is missing");
    }
    for id in &acked.files {
        let r = admin.get(&format!("/api/v1/files/{id}")).await;
        assert_eq!(r.status, 200, "acknowledged file {id} is missing");
    }
    // Files left pending by a kill are picked up again; wait for them.
    for id in &acked.files {
        wait_processed(&admin, id).await;
    }
    // A query makes the server open (and reconcile) the retrieval engine.
    let r = admin
        .post(
            "/api/v1/retrieval/query/collection",
            json!({"collection_names": [kb], "query": "lighthouses", "k": 3}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut child = child;
    child.proc.start_kill().unwrap();
    let _ = child.proc.wait().await;
    integrity_ok(&dir.join("webui.db"));
    let db = rusqlite::Connection::open(dir.join("webui.db")).unwrap();
    let mut st = db
        .prepare("SELECT knowledge_id, file_id FROM knowledge_file")
        .unwrap();
    let links: HashSet<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for link in &acked.links {
        assert!(
            links.contains(link),
            "acknowledged knowledge link {link:?} is missing"
        );
    }

    // The chunk store and BM25 agree (the kill above may have cut a write
    // again: open them the way the server does, which reconciles first).
    {
        let rag = open_webui::rag::Rag::new(dir.join("vector_db"));
        assert!(rag.has_collection(&kb).await || acked.links.is_empty());
    }
    let store = open_webui::rag::store::Store::open(&dir.join("vector_db/chunks.redb")).unwrap();
    let bm25 = open_webui::rag::bm25::Bm25::open(&dir.join("vector_db/bm25")).unwrap();
    let mut stored: Vec<(String, u64)> = store
        .all_chunks()
        .unwrap()
        .into_iter()
        .map(|(c, s, _)| (c, s))
        .collect();
    let mut indexed = bm25.all_keys().unwrap();
    stored.sort();
    indexed.sort();
    assert_eq!(stored.len(), indexed.len());
    assert!(stored == indexed, "chunk store and BM25 disagree");
    drop(tmp);
}
