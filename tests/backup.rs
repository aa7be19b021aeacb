//! `open-webui backup`, `restore` and `doctor`, run as the built binary on
//! real data folders: a backup taken under write load restores to a folder
//! that a server opens with every acknowledged write present; doctor finds a
//! deleted upload, a damaged index and an exposed secret, and passes a
//! healthy folder.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{admin, settings_for, Client, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_open-webui");

async fn run(args: &[&str]) -> Output {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("DATA_DIR")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("command finished in time")
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn upload(c: &Client, name: &str, bytes: Vec<u8>) -> String {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("application/octet-stream")
        .unwrap();
    let r = c
        .http
        .post(format!("{}/api/v1/files/?process=false", c.base))
        .bearer_auth(c.token.as_deref().unwrap())
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A write acknowledged by the server: a chat, or an uploaded file.
#[derive(Clone, Debug)]
enum Write {
    Chat(String),
    File(String),
}

#[tokio::test]
async fn backup_under_write_load_restores_every_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The secret comes from the folder's file, as for a real install.
    let srv = TestServer::start(settings_for(&data, None)).await;
    let admin = admin(&srv).await;

    // A first batch, all acknowledged before the backup starts.
    let mut acked: Vec<Write> = Vec::new();
    for i in 0..20 {
        acked.push(write_one(&admin, i).await);
    }
    let before = acked.len();

    // The backup runs while one client keeps writing, one write at a time.
    let archive = tmp.path().join("snap.tar.gz");
    let args = [
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        archive.to_str().unwrap(),
    ];
    let mut backup = Box::pin(run(&args));
    let started = Instant::now();
    let out = loop {
        tokio::select! {
            out = &mut backup => break out,
            w = write_one(&admin, acked.len()) => acked.push(w),
        }
        assert!(started.elapsed() < Duration::from_secs(90), "bounded load");
        assert!(acked.len() < 20_000, "bounded load");
    };
    assert!(out.status.success(), "{}", text(&out));
    let during = acked.len() - before;
    assert!(during > 0, "writes went on during the backup");
    srv.stop().await;

    // Restore refuses a folder with data in it…
    let refused = run(&[
        "restore",
        archive.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("not empty"), "{}", text(&refused));

    // …and fills a new one.
    let restored = tmp.path().join("restored");
    let out = run(&[
        "restore",
        archive.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(restored.join(".webui_secret_key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let doctor = run(&["doctor", "--data-dir", restored.to_str().unwrap()]).await;
    assert!(doctor.status.success(), "{}", text(&doctor));

    let srv = TestServer::start(settings_for(&restored, None)).await;
    let c = srv.client().login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut present = Vec::new();
    for w in &acked {
        let (path, ok) = match w {
            Write::Chat(id) => (format!("/api/v1/chats/{id}"), true),
            Write::File(id) => (format!("/api/v1/files/{id}/content"), true),
        };
        let r = c.get(&path).await;
        present.push(ok && r.status == 200);
    }
    // Everything acknowledged before the backup began is there, and what is
    // there is a prefix of the writes: one point in time, no holes.
    assert!(present[..before].iter().all(|p| *p), "{present:?}");
    let first_missing = present.iter().position(|p| !p).unwrap_or(present.len());
    assert!(
        present[first_missing..].iter().all(|p| !p),
        "no write after a missing one may be present: {present:?}"
    );
    srv.stop().await;
}

async fn write_one(c: &Client, i: usize) -> Write {
    if i % 7 == 3 {
        let bytes = format!("upload number {i}\n").repeat(50).into_bytes();
        Write::File(upload(c, &format!("f{i}.bin"), bytes).await)
    } else {
        let r = c
            .post(
                "/api/v1/chats/new",
                json!({"chat": {"title": format!("chat {i}"), "messages": []}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        Write::Chat(r.body["id"].as_str().unwrap().to_string())
    }
}

#[tokio::test]
async fn restore_refuses_what_is_not_a_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.tar.gz");
    std::fs::write(&junk, b"this is no archive").unwrap();
    let out = run(&[
        "restore",
        junk.to_str().unwrap(),
        "--data-dir",
        tmp.path().join("new").to_str().unwrap(),
    ])
    .await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!tmp.path().join("new").exists(), "nothing half-restored");
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn doctor_finds_missing_uploads_damaged_index_and_open_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_path_buf();
    let srv = TestServer::start(settings_for(&data, None)).await;
    let admin = admin(&srv).await;
    let kept = upload(&admin, "kept.bin", b"kept".to_vec()).await;
    let lost = upload(&admin, "lost.bin", b"lost".to_vec()).await;
    srv.stop().await;
    // An index as the server lays it out, holding the kept file's chunk.
    let vdb = data.join("vector_db");
    std::fs::create_dir_all(&vdb).unwrap();
    let index = |collection: &str, text: &str, in_bm25: bool| {
        let store = open_webui::rag::store::Store::open(&vdb.join("chunks.redb")).unwrap();
        let rows = store
            .insert(
                collection,
                vec![open_webui::rag::ChunkIn {
                    text: text.into(),
                    metadata: Default::default(),
                }],
                vec![vec![0.5, 0.5, 0.5]],
            )
            .unwrap();
        let bm25 = open_webui::rag::bm25::Bm25::open(&vdb.join("bm25")).unwrap();
        if in_bm25 {
            bm25.add(collection, &rows).unwrap();
        }
    };
    index(&format!("file-{kept}"), "kept words", true);
    let dir = data.to_str().unwrap();

    let healthy = run(&["doctor", "--data-dir", dir]).await;
    assert!(healthy.status.success(), "{}", text(&healthy));
    let report = String::from_utf8_lossy(&healthy.stdout).to_string();
    assert!(report.contains("0 problem(s), 0 warning(s)"), "{report}");
    assert!(
        report.contains("1 chunks in 1 collections, 1 BM25 entries"),
        "{report}"
    );
    assert!(report.contains("integrity_check passed"), "{report}");

    // A deleted upload.
    let lost_file = std::fs::read_dir(data.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&lost))
        .unwrap();
    let saved = std::fs::read(&lost_file).unwrap();
    std::fs::remove_file(&lost_file).unwrap();
    let out = run(&["doctor", "--data-dir", dir]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&lost) && text(&out).contains("missing"),
        "{}",
        text(&out)
    );
    std::fs::write(&lost_file, saved).unwrap();

    // An orphan file is a warning only.
    std::fs::write(data.join("uploads").join("stray.bin"), b"x").unwrap();
    let out = run(&["doctor", "--data-dir", dir]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("WARNING") && text(&out).contains("stray.bin"),
        "{}",
        text(&out)
    );

    std::fs::remove_file(data.join("uploads").join("stray.bin")).unwrap();

    // Chunks of a file that no longer exists, and a BM25 index short of a
    // chunk: warnings (the server tolerates and repairs these).
    index("file-long-gone", "stale words", false);
    let out = run(&["doctor", "--data-dir", dir]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("file-long-gone"), "{}", text(&out));
    assert!(text(&out).contains("differ in 1 entries"), "{}", text(&out));

    // A damaged chunk store.
    let store = vdb.join("chunks.redb");
    let good = std::fs::read(&store).unwrap();
    std::fs::write(&store, vec![0x5a; good.len()]).unwrap();
    let out = run(&["doctor", "--data-dir", dir]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("chunk store"), "{}", text(&out));
    std::fs::write(&store, good).unwrap();

    // A damaged BM25 index.
    let meta = vdb.join("bm25").join("meta.json");
    let good = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, b"{ not json").unwrap();
    let out = run(&["doctor", "--data-dir", dir]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("BM25"), "{}", text(&out));
    std::fs::write(&meta, good).unwrap();

    // A secret key others can read.
    let secret = data.join(".webui_secret_key");
    assert!(secret.is_file());
    set_mode(&secret, 0o644);
    let out = run(&["doctor", "--data-dir", dir]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
    set_mode(&secret, 0o600);
    let out = run(&["doctor", "--data-dir", dir]).await;
    assert!(out.status.success(), "{}", text(&out));
}
