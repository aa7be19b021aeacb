//! Hostile input per route family (chats, folders, notes, channels,
//! knowledge, prompts, models, users, files, retrieval, calendars):
//! malformed, wrongly typed and deeply nested JSON, oversized bodies and
//! fields, unicode edge cases in searched text, absurd paging values, aborted
//! and oversized uploads, a huge `k`, a never-matching recurrence rule. Each
//! gets a 4xx with a `{"detail"}` body (or a 2xx where the input is fine), and
//! the server keeps serving.

mod common;
#[path = "data/support.rs"]
mod support;

use common::{Client, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use support::*;
use tokio::io::AsyncWriteExt;

async fn raw(c: &Client, method: Method, path: &str, body: Vec<u8>) -> (u16, Value) {
    let mut req = c
        .http
        .request(method, format!("{}{}", c.base, path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = &c.token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn assert_refused(what: &str, status: u16, body: &Value) {
    assert!(
        (400..500).contains(&status),
        "{what}: expected a 4xx, got {status} {body}"
    );
    assert!(body.get("detail").is_some(), "{what}: no detail in {body}");
}

async fn still_serves(server: &TestServer, c: &Client) {
    assert_eq!(c.get("/health/db").await.status, 200);
    let r = c.get("/api/v1/auths/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let _ = server;
}

/// An admin with notes, channels and the calendar switched on.
async fn setup() -> (TestServer, Client) {
    let server = TestServer::fresh().await;
    server
        .state
        .clone()
        .unwrap()
        .config
        .set_many(vec![
            ("notes.enable", json!(true)),
            ("channels.enable", json!(true)),
            ("calendar.enable", json!(true)),
        ])
        .await
        .unwrap();
    let c = server.client();
    let r = c.signup("Admin", "admin@example.com", "pass-admin-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    (server, admin)
}

/// Write routes of every family, with a body of the right shape.
fn write_routes(admin_id: &str) -> Vec<(String, Value)> {
    vec![
        ("/api/v1/chats/new".into(), json!({"chat": {"title": "t"}})),
        ("/api/v1/folders/".into(), json!({"name": "f"})),
        ("/api/v1/notes/create".into(), json!({"title": "n"})),
        ("/api/v1/channels/create".into(), json!({"name": "c"})),
        (
            "/api/v1/knowledge/create".into(),
            json!({"name": "k", "description": "d"}),
        ),
        (
            "/api/v1/prompts/create".into(),
            json!({"command": "p", "name": "p", "content": "c"}),
        ),
        (
            "/api/v1/models/create".into(),
            json!({"id": "m", "name": "m", "meta": {}, "params": {}}),
        ),
        (
            format!("/api/v1/users/{admin_id}/update"),
            json!({"name": "Admin"}),
        ),
        (
            "/api/v1/auths/update/profile".into(),
            json!({"name": "Admin", "profile_image_url": ""}),
        ),
        (
            "/api/v1/retrieval/query/doc".into(),
            json!({"collection_name": "x", "query": "q"}),
        ),
        (
            "/api/v1/calendars/events/create".into(),
            json!({"calendar_id": "x", "title": "e", "start_at": 0}),
        ),
    ]
}

#[tokio::test]
async fn malformed_wrong_typed_and_deeply_nested_json_is_refused() {
    let (server, admin) = setup().await;
    let admin_id = admin.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes();
    let deep_obj = |n: usize| {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str("{\"a\":");
        }
        s.push('1');
        s.push_str(&"}".repeat(n));
        s.into_bytes()
    };
    for (path, good) in write_routes(&admin_id) {
        let mut wrong = good.clone();
        for v in wrong.as_object_mut().unwrap().values_mut() {
            *v = json!([{"not": "a string"}]);
        }
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", b"{\"name\": \"x".to_vec()),
            ("not json", b"name=x&title=y".to_vec()),
            ("nul bytes", b"{\"name\": \"\x00\"\x00}".to_vec()),
            ("array", b"[1, 2, 3]".to_vec()),
            ("wrong types", serde_json::to_vec(&wrong).unwrap()),
            ("deep arrays", deep(100_000)),
            ("deep objects", {
                let mut b = b"{\"name\":".to_vec();
                b.extend(deep_obj(50_000));
                b.push(b'}');
                b
            }),
            ("invalid utf-8", b"{\"name\": \"\xff\xfe\"}".to_vec()),
        ];
        for (what, body) in cases {
            let (status, resp) = raw(&admin, Method::POST, &path, body).await;
            assert_refused(&format!("{path} {what}"), status, &resp);
        }
        // Deep nesting inside a field the route ignores may be accepted, but
        // never fails the server.
        let mut body = b"{\"ignored\":".to_vec();
        body.extend(deep_obj(50_000));
        body.extend(b",".iter().chain(&serde_json::to_vec(&good).unwrap()[1..]));
        let (status, resp) = raw(&admin, Method::POST, &path, body).await;
        assert!(status < 500, "{path} nested ignored: {status} {resp}");
    }
    still_serves(&server, &admin).await;
    server.stop().await;
}

#[tokio::test]
async fn huge_titles_and_names_are_refused_not_stored() {
    let (server, admin) = setup().await;
    let admin_id = admin.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ten_mb = "T".repeat(10 * 1024 * 1024);
    let long_name = "n".repeat(1_001);
    let long_title = "t".repeat(10_001);

    let r = admin
        .post("/api/v1/chats/new", json!({"chat": {"title": ten_mb}}))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["detail"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("title"));
    let r = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "ok", "tags": [long_name]}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin
        .post(
            "/api/v1/chats/import",
            json!({"chats": [{"chat": {"title": long_title}}]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        admin.get("/api/v1/chats/").await.body,
        json!([]),
        "nothing was stored"
    );
    // A 10 MB name on a route for small bodies is refused before parsing.
    let r = admin
        .post("/api/v1/folders/", json!({"name": ten_mb}))
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body["detail"].is_string());

    let cases: Vec<(String, Value)> = vec![
        ("/api/v1/folders/".into(), json!({"name": long_name})),
        ("/api/v1/notes/create".into(), json!({"title": long_title})),
        ("/api/v1/channels/create".into(), json!({"name": long_name})),
        (
            "/api/v1/knowledge/create".into(),
            json!({"name": long_name, "description": ""}),
        ),
        (
            "/api/v1/prompts/create".into(),
            json!({"command": "p", "name": long_name, "content": "c"}),
        ),
        (
            "/api/v1/models/create".into(),
            json!({"id": "m", "name": long_name, "meta": {}, "params": {}}),
        ),
        (
            "/api/v1/auths/update/profile".into(),
            json!({"name": long_name, "profile_image_url": ""}),
        ),
        (
            format!("/api/v1/users/{admin_id}/update"),
            json!({"name": long_name}),
        ),
    ];
    for (path, body) in cases {
        let r = admin.post(&path, body).await;
        assert_eq!(r.status, 422, "{path}: {}", r.body);
        assert!(r.body["detail"].is_array(), "{path}: {}", r.body);
    }
    assert_eq!(admin.get("/api/v1/folders/").await.body, json!([]));
    assert_eq!(admin.get("/api/v1/auths/").await.body["name"], "Admin");

    // Exactly at the limit is fine.
    let r = admin
        .post("/api/v1/folders/", json!({"name": "n".repeat(1_000)}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "t".repeat(10_000)}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let chat = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            &format!("/api/v1/chats/{chat}/tags"),
            json!({"name": long_name}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    still_serves(&server, &admin).await;
    server.stop().await;
}

#[tokio::test]
async fn json_bodies_are_bounded_even_without_a_length() {
    let (server, admin) = setup().await;
    // 9 MiB on a small-body route, declared ...
    let big = vec![b' '; 9 * 1024 * 1024];
    let (status, body) = raw(&admin, Method::POST, "/api/v1/folders/", big.clone()).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].is_string());
    // ... and streamed without a Content-Length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = admin
        .http
        .post(format!("{}/api/v1/folders/", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
    still_serves(&server, &admin).await;
    server.stop().await;
}

const UNICODE: &str =
    "K\u{212A}\u{130}i\u{301}\u{0301}\u{200F}\u{202E}שלום\u{0000}\u{FEFF}ß\u{1F600}\u{E0001}ǅ";

#[tokio::test]
async fn unicode_edge_cases_in_searched_and_sliced_text() {
    let (server, admin) = setup().await;
    let text = format!(
        "{UNICODE} {UNICODE} start i{UNICODE}i end {}",
        UNICODE.repeat(50)
    );
    let r = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": format!("\u{301}{UNICODE}"), "messages": [
                {"id": "m1", "role": "user", "content": text}
            ], "history": {"currentId": "m1", "messages": {"m1": {"id": "m1", "role": "user", "content": text, "parentId": null, "childrenIds": []}}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (path, body) in [
        ("/api/v1/folders/", json!({"name": UNICODE})),
        (
            "/api/v1/notes/create",
            json!({"title": UNICODE, "data": {"content": {"md": text}}}),
        ),
        (
            "/api/v1/knowledge/create",
            json!({"name": UNICODE, "description": text}),
        ),
        (
            "/api/v1/prompts/create",
            json!({"command": "uni", "name": UNICODE, "content": text}),
        ),
        (
            "/api/v1/models/create",
            json!({"id": "uni", "name": UNICODE, "meta": {"description": text}, "params": {}}),
        ),
    ] {
        let r = admin.post(path, body).await;
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    }
    for q in [
        "i", "I", "k", "\u{130}", "\u{212A}", "\u{301}", "ß", "%", "_", "\\",
    ] {
        let enc: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
        for path in [
            format!("/api/v1/search?q={enc}"),
            format!("/api/v1/chats/search?text={enc}"),
            format!("/api/v1/notes/search?query={enc}"),
            format!("/api/v1/knowledge/search?query={enc}"),
            format!("/api/v1/prompts/list?query={enc}"),
            format!("/api/v1/users/search?query={enc}"),
            format!("/api/v1/models/list?query={enc}"),
        ] {
            let r = admin.get(&path).await;
            assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
        }
    }
    still_serves(&server, &admin).await;
    server.stop().await;
}

#[tokio::test]
async fn absurd_paging_values_never_fail_the_server() {
    let (server, admin) = setup().await;
    let r = admin
        .post("/api/v1/channels/create", json!({"name": "general"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ch = r.body["id"].as_str().unwrap().to_string();
    for v in ["9223372036854775807", "-9223372036854775808", "-1", "0"] {
        for path in [
            format!("/api/v1/chats/?page={v}"),
            format!("/api/v1/chats/search?text=a&page={v}"),
            format!("/api/v1/chats/archived?page={v}"),
            format!("/api/v1/notes/?page={v}"),
            format!("/api/v1/notes/search?page={v}"),
            format!("/api/v1/users/search?page={v}"),
            format!("/api/v1/users/?page={v}"),
            format!("/api/v1/knowledge/search?page={v}"),
            format!("/api/v1/prompts/list?page={v}"),
            format!("/api/v1/models/list?page={v}"),
            format!("/api/v1/files/?page={v}"),
            format!("/api/v1/channels/{ch}/messages?skip={v}&limit={v}"),
            format!("/api/v1/channels/{ch}/messages/pinned?page={v}"),
        ] {
            let r = admin.get(&path).await;
            assert!(r.status.as_u16() < 500, "{path}: {} {}", r.status, r.body);
            if !r.status.is_success() {
                assert!(r.body.get("detail").is_some(), "{path}: {}", r.body);
            }
        }
    }
    let r = admin
        .post(
            "/api/v1/chats/tags",
            json!({"name": "x", "skip": i64::MIN, "limit": i64::MAX}),
        )
        .await;
    assert!(r.status.as_u16() < 500, "{} {}", r.status, r.body);
    still_serves(&server, &admin).await;
    server.stop().await;
}

fn uploads(server: &TestServer) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(server.data_dir.join("uploads"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn oversized_uploads_and_metadata_are_413_and_leave_nothing() {
    let (server, admin) = setup().await;
    server
        .state
        .clone()
        .unwrap()
        .config
        .set_many(vec![("rag.file.max_size", json!(1))])
        .await
        .unwrap();
    let two_mb = vec![b'a'; 2 * 1024 * 1024];
    let r = upload(
        &admin,
        "big.txt",
        "text/plain",
        &two_mb,
        None,
        "?process=false",
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("1 MB"),
        "{}",
        r.body
    );
    // Under the cap but a metadata part of 100 KiB.
    let meta = json!({"blob": "m".repeat(100 * 1024)});
    let r = upload(
        &admin,
        "small.txt",
        "text/plain",
        b"hello",
        Some(meta),
        "?process=false",
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body["detail"].is_string());
    assert_eq!(uploads(&server), Vec::<std::path::PathBuf>::new());
    assert_eq!(admin.get("/api/v1/files/").await.body["total"], 0);
    // A fitting upload still works.
    let r = upload(
        &admin,
        "ok.txt",
        "text/plain",
        b"hello",
        None,
        "?process=false",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn an_aborted_upload_leaves_no_file_and_no_row() {
    let (server, admin) = setup().await;
    let boundary = "abortboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let declared = head.len() + 8 * 1024 * 1024;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let req = format!(
        "POST /api/v1/files/?process=false HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n{head}",
        server.addr,
        admin.token.as_deref().unwrap()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 256 * 1024];
    // Send part of the body and wait until the server has started the file.
    let mut started = false;
    for _ in 0..200 {
        s.write_all(&chunk).await.unwrap();
        if !uploads(&server).is_empty() {
            started = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(started, "the upload never reached the disk");
    drop(s);
    let mut left = uploads(&server);
    for _ in 0..200 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        left = uploads(&server);
    }
    assert!(left.is_empty(), "orphan upload left behind: {left:?}");
    assert_eq!(admin.get("/api/v1/files/").await.body["total"], 0);
    still_serves(&server, &admin).await;
    server.stop().await;
}

#[tokio::test]
async fn a_huge_k_is_clamped() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    server
        .state
        .clone()
        .unwrap()
        .config
        .set_many(vec![("rag.enable_hybrid_search", json!(true))])
        .await
        .unwrap();
    let r = admin
        .post(
            "/api/v1/retrieval/process/text",
            json!({"name": "note", "content": "Octopuses have three hearts and blue blood."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let coll = r.body["collection_name"].as_str().unwrap().to_string();
    for k in [json!(1_000_000_000_000u64), json!(usize::MAX / 2)] {
        let r = admin
            .post(
                "/api/v1/retrieval/query/doc",
                json!({"collection_name": coll, "query": "hearts", "k": k, "hybrid": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["documents"][0].as_array().unwrap().len() <= 1000);
    }
    let r = admin
        .post(
            "/api/v1/retrieval/query/collection",
            json!({"collection_names": [coll], "query": "hearts", "k": usize::MAX / 2, "hybrid": true}),
        )
        .await;
    assert!(r.status.as_u16() < 500, "{} {}", r.status, r.body);
    let r = admin
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": coll, "query": "hearts", "k": -5}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    still_serves(&server, &admin).await;
    server.stop().await;
}

#[tokio::test]
async fn never_matching_and_overflowing_rrules_answer() {
    let (server, admin) = setup().await;
    let r = admin.get("/api/v1/calendars/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cal = r.body[0]["id"].as_str().unwrap().to_string();
    const JAN_2026: i64 = 1_767_225_600_000_000_000;
    for i in 0..40 {
        let r = admin
            .post(
                "/api/v1/calendars/events/create",
                json!({"calendar_id": cal, "title": format!("never {i}"), "start_at": JAN_2026,
                       "end_at": JAN_2026 + 3_600_000_000_000i64,
                       "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = admin
        .get("/api/v1/calendars/events?start=2026-01-02T00:00:00Z&end=2099-01-01T00:00:00Z")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!([]), "no Feb 30 ever");
    for rule in [
        "FREQ=WEEKLY;INTERVAL=9223372036854775807",
        "FREQ=DAILY;INTERVAL=99999999999",
        "FREQ=YEARLY;UNTIL=99991231",
    ] {
        let r = admin
            .post(
                "/api/v1/calendars/events/create",
                json!({"calendar_id": cal, "title": "odd", "start_at": JAN_2026, "rrule": rule}),
            )
            .await;
        assert!(r.status.as_u16() < 500, "{rule}: {} {}", r.status, r.body);
    }
    let r = admin
        .get("/api/v1/calendars/events?start=2026-01-02T00:00:00Z&end=2099-01-01T00:00:00Z")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    still_serves(&server, &admin).await;
    server.stop().await;
}

#[tokio::test]
async fn database_copies_never_outlive_their_download() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = common::settings_for(tmp.path(), Some("test-secret"));
    // A copy a crashed server left behind.
    let dir = tmp.path().join("cache").join("db-download");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("webui-crashed.db"), b"SQLite format 3\0secret").unwrap();
    let server = TestServer::start(settings).await;
    let c = server.client();
    let r = c.signup("Admin", "admin@example.com", "pass-admin-1").await;
    // The server answered, so its start-up is over.
    assert!(
        !dir.join("webui-crashed.db").exists(),
        "start-up removes leftover copies"
    );
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let r = admin
        .http
        .get(format!("{}/api/v1/utils/db/download", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    // Streamed from an unlinked file: nothing named is left.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the copy folder is private: {mode:o}");
    }
    server.stop().await;
}
