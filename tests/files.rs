//! `/api/v1/files`: uploads of real document formats, processing states,
//! downloads and their headers, hostile files, path traversal, permissions
//! and the files of an existing (Python-written) data folder.

mod common;
#[path = "data/support.rs"]
mod support;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;
use support::*;

#[tokio::test]
async fn upload_formats_are_extracted_and_searchable() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;

    let md = "# Garden notes\n\nTomatoes need deep watering twice a week in summer.\n";
    let md_id = upload_ok(&admin, "garden.md", "text/markdown", md.as_bytes()).await;
    let docx_id = upload_ok(
        &admin,
        "trip.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &docx(&[
            "The ferry to Stromness leaves at seven.",
            "Bring a warm jacket &amp; gloves.",
        ]),
    )
    .await;
    let pdf_id = upload_ok(
        &admin,
        "manual.pdf",
        "application/pdf",
        &pdf(&[
            "The flux capacitor requires 1.21 gigawatts.",
            "Never exceed eighty-eight miles.",
        ]),
    )
    .await;

    // Extracted text is kept on the file (what "indexed text" shows).
    let t = admin
        .get(&format!("/api/v1/files/{docx_id}/data/content"))
        .await;
    assert_eq!(t.status, 200);
    let text = t.body["content"].as_str().unwrap();
    assert!(
        text.contains("Stromness") && text.contains("warm jacket & gloves"),
        "{text}"
    );
    let t = admin
        .get(&format!("/api/v1/files/{pdf_id}/data/content"))
        .await;
    assert!(
        t.body["content"].as_str().unwrap().contains("gigawatts"),
        "{}",
        t.body
    );

    // The file's own collection answers a query with the right passage.
    for (id, q, want) in [
        (&md_id, "how often to water tomatoes", "deep watering"),
        (&docx_id, "when does the ferry leave", "ferry to Stromness"),
        (
            &pdf_id,
            "how much power does the capacitor need",
            "gigawatts",
        ),
    ] {
        let r = admin
            .post(
                "/api/v1/retrieval/query/doc",
                json!({"collection_name": format!("file-{id}"), "query": q, "k": 2}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let docs = r.body["documents"][0].as_array().unwrap();
        assert!(!docs.is_empty(), "{}", r.body);
        assert!(docs[0].as_str().unwrap().contains(want), "{}", r.body);
        assert_eq!(r.body["metadatas"][0][0]["file_id"], json!(id));
    }

    // Row shape as upstream: hash of the text, status, meta.
    let f = admin.get(&format!("/api/v1/files/{md_id}")).await.body;
    assert_eq!(f["meta"]["name"], "garden.md");
    assert_eq!(f["meta"]["content_type"], "text/markdown");
    assert_eq!(f["meta"]["size"], md.len());
    assert_eq!(f["hash"].as_str().unwrap().len(), 64);
    assert!(f["path"]
        .as_str()
        .unwrap()
        .ends_with(&format!("uploads/{md_id}_garden.md")));
    assert!(server
        .data_dir
        .join("uploads")
        .join(format!("{md_id}_garden.md"))
        .is_file());
    assert!(mock.calls() > 0);

    // Listing: newest first, `content` only on request, paging shape.
    let l = admin.get("/api/v1/files/?content=false").await;
    assert_eq!(l.body["total"], 3);
    assert!(l.body["items"][0]["data"].get("content").is_none());
    assert!(l.body["items"][0].get("path").is_none());
    let s = admin.get("/api/v1/files/search?filename=*.PDF").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body.as_array().unwrap().len(), 1);
    let s = admin.get("/api/v1/files/search?filename=nothing*").await;
    assert_eq!(s.status, 404);
    assert_eq!(admin.get("/api/v1/files/count").await.body, json!(3));
}

#[tokio::test]
async fn status_stream_upload_shapes_and_downloads() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;

    // process=false: no status, no path in the answer (as upstream).
    let r = upload(
        &admin,
        "plain.txt",
        "text/plain",
        b"just bytes",
        None,
        "?process=false",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], json!({}));
    assert!(r.body.get("path").is_none() && r.body.get("status").is_none());

    // process=true: pending at once, then the SSE stream ends with completed.
    let r = upload(
        &admin,
        "naïve résumé.txt",
        "text/plain",
        b"curriculum vitae of a naive person",
        Some(json!({"origin": "test"})),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], true);
    assert!(r.body["path"].is_string());
    assert_eq!(r.body["meta"]["data"]["origin"], "test");
    let id = r.body["id"].as_str().unwrap().to_string();
    let resp = admin
        .http
        .get(format!(
            "{}/api/v1/files/{id}/process/status?stream=true",
            admin.base
        ))
        .bearer_auth(admin.token.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let body = tokio::time::timeout(std::time::Duration::from_secs(30), resp.text())
        .await
        .expect("stream ends")
        .unwrap();
    let last = body.trim().lines().last().unwrap();
    assert_eq!(last, r#"data: {"status":"completed"}"#, "{body}");
    let st = admin
        .get(&format!("/api/v1/files/{id}/process/status"))
        .await;
    assert_eq!(st.body, json!({"status": "completed"}));

    // Download: text inline, RFC 5987 name.
    let d = admin.get(&format!("/api/v1/files/{id}/content")).await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.headers["content-disposition"],
        "inline; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt"
    );
    assert_eq!(d.headers["x-content-type-options"], "nosniff");
    let d = admin
        .get(&format!("/api/v1/files/{id}/content?attachment=true"))
        .await;
    assert!(d.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));

    // HTML is never rendered inline.
    let h = upload(
        &admin,
        "page.html",
        "text/html",
        b"<script>alert(1)</script><p>hi there friend</p>",
        None,
        "",
    )
    .await;
    let hid = h.body["id"].as_str().unwrap();
    wait_processed(&admin, hid).await;
    let d = admin.get(&format!("/api/v1/files/{hid}/content")).await;
    assert!(d.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));

    // Editing the text re-indexes it.
    let u = admin
        .post(
            &format!("/api/v1/files/{id}/data/content/update"),
            json!({"content": "zebras graze on the savanna"}),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    let q = admin
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": format!("file-{id}"), "query": "zebras savanna"}),
        )
        .await;
    assert_eq!(q.body["documents"][0][0], "zebras graze on the savanna");
    assert_eq!(q.body["documents"][0].as_array().unwrap().len(), 1);

    // Rename, then delete one and all.
    let rn = admin
        .post(
            &format!("/api/v1/files/{id}/rename"),
            json!({"filename": "cv.txt"}),
        )
        .await;
    assert_eq!(rn.body["meta"]["name"], "cv.txt");
    let del = admin.delete(&format!("/api/v1/files/{id}")).await;
    assert_eq!(del.body["message"], "File deleted successfully");
    assert_eq!(admin.get(&format!("/api/v1/files/{id}")).await.status, 404);
    assert!(admin.delete("/api/v1/files/all").await.status.is_success());
    assert_eq!(admin.get("/api/v1/files/").await.body["total"], 0);
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("uploads"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn hostile_files_fail_cleanly_and_the_server_keeps_serving() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;

    let bomb = docx_bomb(100);
    assert!(bomb.len() < 1_000_000);
    let mut truncated = pdf(&["half a document"]);
    truncated.truncate(truncated.len() / 3);
    let huge_line = "word ".repeat(400_000);
    let cases: Vec<(&str, &str, Vec<u8>, Option<&str>)> = vec![
        (
            "bomb.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            bomb,
            Some("unpacked"),
        ),
        ("broken.pdf", "application/pdf", truncated, None),
        ("empty.txt", "text/plain", vec![], Some("empty")),
        (
            "garbage.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            b"PK\x03\x04 not really".to_vec(),
            None,
        ),
        (
            "blob.bin",
            "application/octet-stream",
            vec![0u8, 159, 146, 150, 0, 1, 2],
            Some("not supported"),
        ),
    ];
    for (name, ct, bytes, want) in cases {
        let r = upload(&admin, name, ct, &bytes, None, "").await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        let f = wait_processed(&admin, r.body["id"].as_str().unwrap()).await;
        assert_eq!(f["data"]["status"], "failed", "{name}: {f}");
        let err = f["data"]["error"].as_str().unwrap_or("");
        assert!(!err.is_empty(), "{name}: {f}");
        if let Some(w) = want {
            assert!(err.contains(w), "{name}: {err}");
        }
    }
    // A 2 MB single line is fine.
    upload_ok(&admin, "long.txt", "text/plain", huge_line.as_bytes()).await;
    // Still serving.
    assert_eq!(c.get("/health").await.status, 200);
    assert_eq!(admin.get("/api/v1/files/count").await.body, json!(6));
}

#[tokio::test]
async fn names_cannot_escape_the_uploads_folder() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    for evil in [
        "../../escape.txt",
        "..\\..\\escape2.txt",
        "/etc/passwd",
        "..",
    ] {
        let r = upload(
            &admin,
            evil,
            "text/plain",
            b"not allowed outside",
            None,
            "?process=false",
        )
        .await;
        assert_eq!(r.status, 200, "{evil}: {}", r.body);
        let id = r.body["id"].as_str().unwrap();
        let name = r.body["filename"].as_str().unwrap();
        assert!(
            !name.contains('/') && !name.contains('\\') && name != "..",
            "{name}"
        );
        let f = admin.get(&format!("/api/v1/files/{id}")).await.body;
        let path = std::path::PathBuf::from(f["path"].as_str().unwrap());
        let uploads = std::fs::canonicalize(server.data_dir.join("uploads")).unwrap();
        assert_eq!(path.parent().unwrap(), uploads, "{evil}");
        assert!(path.is_file());
    }
    assert!(!server.data_dir.join("escape.txt").exists());
    assert!(!server
        .data_dir
        .parent()
        .unwrap()
        .join("escape.txt")
        .exists());
    // Only these four files exist in uploads, nothing elsewhere.
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("uploads"))
            .unwrap()
            .count(),
        4
    );
}

#[tokio::test]
async fn limits_and_permissions() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    let bob = second_user(&admin, &c, "bob@example.com").await;

    // Size limit (MB) and allowed extensions from the Documents settings.
    let r = admin
        .post(
            "/api/v1/retrieval/config/update",
            json!({"FILE_MAX_SIZE": 1, "ALLOWED_FILE_EXTENSIONS": ["txt", "md"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let big = vec![b'a'; 1024 * 1024 + 10];
    let r = upload(&bob, "big.txt", "text/plain", &big, None, "").await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    let r = upload(
        &bob,
        "tool.exe",
        "application/octet-stream",
        b"MZ",
        None,
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["detail"].as_str().unwrap().contains("exe"),
        "{}",
        r.body
    );
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("uploads"))
            .unwrap()
            .count(),
        0
    );

    // Another user cannot see, download, change or delete my file.
    let id = upload_ok(
        &bob,
        "secret.txt",
        "text/plain",
        b"bob's private diary entry",
    )
    .await;
    let carol = second_user(&admin, &c, "carol@example.com").await;
    for path in [
        format!("/api/v1/files/{id}"),
        format!("/api/v1/files/{id}/content"),
        format!("/api/v1/files/{id}/data/content"),
        format!("/api/v1/files/{id}/process/status"),
    ] {
        assert_eq!(carol.get(&path).await.status, 404, "{path}");
    }
    assert_eq!(
        carol.delete(&format!("/api/v1/files/{id}")).await.status,
        404
    );
    let q = carol
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": format!("file-{id}"), "query": "diary"}),
        )
        .await;
    assert_eq!(q.status, 403);
    assert_eq!(carol.get("/api/v1/files/").await.body["total"], 0);
    // The admin sees everyone's files; the owner sees theirs.
    assert_eq!(admin.get(&format!("/api/v1/files/{id}")).await.status, 200);
    assert_eq!(bob.get("/api/v1/files/").await.body["total"], 1);
}

#[tokio::test]
async fn fixture_files_are_listed_and_downloadable() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture_dir(), tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("webui_secret_key.txt")).unwrap();
    let server = TestServer::start(common::settings_for(tmp.path(), Some(secret.trim()))).await;
    let c = server.client();
    let alice = c.login("alice@example.com", "Alice-pass-1").await;
    let list = alice.get("/api/v1/files/").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"tea-brewing.txt") && names.contains(&"solar-system.md"),
        "{names:?}"
    );
    // The stored path is the Python container's (/app/backend/data/...); the
    // bytes are found in our uploads folder.
    let d = alice
        .get("/api/v1/files/c639c9d0-b8bf-4be7-855f-63cf301fedf7/content")
        .await;
    assert_eq!(d.status, 200);
    let raw = alice
        .http
        .get(format!(
            "{}/api/v1/files/c639c9d0-b8bf-4be7-855f-63cf301fedf7/content",
            alice.base
        ))
        .bearer_auth(alice.token.as_ref().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.starts_with("Tea brewing guide"), "{raw}");
    // Alice's knowledge base lists both of its files.
    let kb = alice
        .get("/api/v1/knowledge/c394b1e8-63f4-4b8f-a3ec-e1e026a4f9bd/files")
        .await;
    assert_eq!(kb.status, 200, "{}", kb.body);
    assert_eq!(kb.body["total"], 2);
    server.stop().await;
}

#[tokio::test]
async fn unfinished_processing_resumes_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = MockEmbed::start().await;
    let server = TestServer::start(common::settings_for(tmp.path(), Some("s"))).await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    // A file stored but never processed, as if the server died mid-way.
    let r = upload(
        &admin,
        "left.txt",
        "text/plain",
        b"Left behind: the kettle descales monthly.",
        None,
        "?process=false",
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let state = server.state.clone().unwrap();
    let fid = id.clone();
    state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE file SET data = '{\"status\":\"processing\"}' WHERE id = ?1",
                [&fid],
            )
        })
        .await
        .unwrap();
    drop(state);
    server.stop().await;

    let server = TestServer::start(common::settings_for(tmp.path(), Some("s"))).await;
    let admin = server
        .client()
        .login("admin@example.com", "pass-admin-1")
        .await;
    let f = wait_processed(&admin, &id).await;
    assert_eq!(f["data"]["status"], "completed", "{f}");
    let q = admin
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": format!("file-{id}"), "query": "kettle descales"}),
        )
        .await;
    assert!(
        q.body["documents"][0][0]
            .as_str()
            .unwrap()
            .contains("kettle"),
        "{}",
        q.body
    );
    server.stop().await;
}

#[tokio::test]
async fn uploads_are_not_held_to_the_json_body_limit() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    // Larger than the 64 MB request limit that applies to JSON bodies; no
    // FILE_MAX_SIZE is set, so it is accepted and streamed to disk.
    let big = vec![b'z'; 65 * 1024 * 1024 + 1];
    let r = upload(
        &admin,
        "big.bin",
        "application/octet-stream",
        &big,
        None,
        "?process=false",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["meta"]["size"], big.len());
    let id = r.body["id"].as_str().unwrap();
    let on_disk = server
        .data_dir
        .join("uploads")
        .join(format!("{id}_big.bin"));
    assert_eq!(std::fs::metadata(on_disk).unwrap().len(), big.len() as u64);
}
