//! Deleting a user removes what was theirs alone: rows, stored bytes and
//! index entries, and nothing of anyone else's.

mod common;
#[path = "data/support.rs"]
mod support;

use common::TestServer;
use serde_json::json;
use support::*;

#[tokio::test]
async fn deleting_a_user_removes_their_data_and_only_theirs() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    let bob = second_user(&admin, &c, "bob@example.com").await;
    let state = server.state.clone().unwrap();
    let mut perms = state.config.get("user.permissions");
    perms["workspace"]["knowledge"] = json!(true);
    state
        .config
        .set_many(vec![("user.permissions", perms)])
        .await
        .unwrap();

    let bob_file = upload_ok(
        &bob,
        "bob.txt",
        "text/plain",
        b"Bob's private words about otters.",
    )
    .await;
    let admin_file = upload_ok(
        &admin,
        "admin.txt",
        "text/plain",
        b"The admin's words about badgers.",
    )
    .await;
    let r = bob
        .post(
            "/api/v1/notes/create",
            json!({"title": "bob note", "data": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = bob
        .post("/api/v1/folders/", json!({"name": "bob folder"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = bob
        .post(
            "/api/v1/knowledge/create",
            json!({"name": "bob kb", "description": "d"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let kb = r.body["id"].as_str().unwrap().to_string();
    let r = bob
        .post(
            &format!("/api/v1/knowledge/{kb}/file/add"),
            json!({"file_id": bob_file}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = bob
        .post("/api/v1/chats/new", json!({"chat": {"title": "bob chat"}}))
        .await;
    assert_eq!(r.status, 200);

    assert!(state.rag.has_collection(&format!("file-{bob_file}")).await);
    assert!(state.rag.has_collection(&kb).await);
    let uploads = server.data_dir.join("uploads");
    let count_files = |dir: &std::path::Path| std::fs::read_dir(dir).unwrap().count();
    assert_eq!(count_files(&uploads), 2);

    let bob_id = bob.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin.delete(&format!("/api/v1/users/{bob_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Rows: nothing left that names bob.
    let id = bob_id.clone();
    let leftovers: Vec<(String, i64)> = state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for table in [
                "user",
                "auth",
                "chat",
                "file",
                "note",
                "folder",
                "knowledge",
                "memory",
                "feedback",
                "api_key",
            ] {
                let col = if table == "auth" || table == "user" {
                    "id"
                } else {
                    "user_id"
                };
                let n: i64 = c.query_row(
                    &format!("SELECT count(*) FROM \"{table}\" WHERE {col} = ?1"),
                    [&id],
                    |r| r.get(0),
                )?;
                out.push((table.to_string(), n));
            }
            Ok(out)
        })
        .await
        .unwrap();
    for (table, n) in leftovers {
        assert_eq!(n, 0, "{table} still has bob's rows");
    }
    // Bytes and index entries are gone; the admin's are untouched.
    assert_eq!(count_files(&uploads), 1);
    assert!(!state.rag.has_collection(&format!("file-{bob_file}")).await);
    assert!(!state.rag.has_collection(&kb).await);
    assert!(
        state
            .rag
            .has_collection(&format!("file-{admin_file}"))
            .await
    );
    let r = admin
        .get(&format!("/api/v1/files/{admin_file}/content"))
        .await;
    assert_eq!(r.status, 200);
    // Bob's session is useless.
    assert_eq!(bob.get("/api/v1/auths/").await.status, 401);
    server.stop().await;
}
