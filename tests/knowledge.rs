//! `/api/v1/knowledge`: knowledge bases with several files, retrieval across
//! them, sharing through access grants, directories, reset and delete.

mod common;
#[path = "data/support.rs"]
mod support;

use common::{Client, TestServer};
use serde_json::{json, Value};
use support::*;

async fn create_kb(c: &Client, name: &str) -> String {
    let r = c
        .post(
            "/api/v1/knowledge/create",
            json!({"name": name, "description": "test base"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["files"], Value::Null);
    assert_eq!(r.body["access_grants"], json!([]));
    r.body["id"].as_str().unwrap().to_string()
}

async fn query(c: &Client, kb: &str, q: &str) -> Value {
    let r = c
        .post(
            "/api/v1/retrieval/query/collection",
            json!({"collection_names": [kb], "query": q, "k": 3}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn knowledge_base_with_several_files() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    let kb = create_kb(&admin, "Handbook").await;

    let texts = [
        (
            "holidays.md",
            "Employees receive twenty five vacation days per calendar year.",
        ),
        (
            "parking.txt",
            "Visitor parking is behind the warehouse next to the loading dock.",
        ),
        (
            "lunch.txt",
            "The canteen serves vegetarian lasagne every Thursday afternoon.",
        ),
    ];
    let mut ids = vec![];
    for (name, text) in texts {
        let id = upload_ok(&admin, name, "text/plain", text.as_bytes()).await;
        let r = admin
            .post(
                &format!("/api/v1/knowledge/{kb}/file/add"),
                json!({"file_id": id}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["write_access"], true);
        ids.push(id);
    }
    let r = admin.get(&format!("/api/v1/knowledge/{kb}/files")).await;
    assert_eq!(r.body["total"], 3);
    assert!(r.body["items"][0]["user"]["name"].is_string());
    assert_eq!(r.body["items"][0]["has_original"], true);
    let list = admin.get("/api/v1/knowledge/").await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["file_count"], 3);

    let res = query(&admin, &kb, "visitor parking location").await;
    assert!(
        res["documents"][0][0]
            .as_str()
            .unwrap()
            .contains("warehouse"),
        "{res}"
    );
    assert_eq!(res["metadatas"][0][0]["file_id"], json!(ids[1]));
    let res = query(&admin, &kb, "vegetarian lasagne thursday").await;
    assert!(
        res["documents"][0][0].as_str().unwrap().contains("canteen"),
        "{res}"
    );

    // The same text twice is refused.
    let dup = upload_ok(&admin, "copy.txt", "text/plain", texts[0].1.as_bytes()).await;
    let r = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/file/add"),
            json!({"file_id": dup}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["detail"].as_str().unwrap().contains("Duplicate"),
        "{}",
        r.body
    );

    // Removing a file removes its passages (and, by default, the file).
    let r = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/file/remove"),
            json!({"file_id": ids[1]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["files"].as_array().unwrap().len(), 2);
    let res = query(&admin, &kb, "visitor parking location").await;
    assert!(
        res["metadatas"][0]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["file_id"] != json!(ids[1])),
        "{res}"
    );
    assert_eq!(
        admin.get(&format!("/api/v1/files/{}", ids[1])).await.status,
        404
    );

    // An upload that names the knowledge base joins it once processed.
    let r = upload(
        &admin,
        "wifi.txt",
        "text/plain",
        b"The guest wifi password is printed on the reception desk.",
        Some(json!({"knowledge_id": kb})),
        "",
    )
    .await;
    let wid = r.body["id"].as_str().unwrap().to_string();
    wait_processed(&admin, &wid).await;
    let files = admin.get(&format!("/api/v1/knowledge/{kb}/files")).await;
    assert_eq!(files.body["total"], 3, "{}", files.body);
    let res = query(&admin, &kb, "guest wifi password").await;
    assert_eq!(res["metadatas"][0][0]["file_id"], json!(wid));

    // Batch add, reindex, then reset and delete.
    let b1 = upload_ok(
        &admin,
        "b1.txt",
        "text/plain",
        b"Batch one mentions kangaroos.",
    )
    .await;
    let b2 = upload_ok(
        &admin,
        "b2.txt",
        "text/plain",
        b"Batch two mentions platypus eggs.",
    )
    .await;
    let r = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/files/batch/add"),
            json!([{"file_id": b1}, {"file_id": b2}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["files"].as_array().unwrap().len(), 5);
    assert_eq!(
        admin
            .post("/api/v1/knowledge/reindex", json!({}))
            .await
            .body,
        json!(true)
    );
    let res = query(&admin, &kb, "platypus eggs").await;
    assert_eq!(res["metadatas"][0][0]["file_id"], json!(b2));

    let r = admin
        .post(&format!("/api/v1/knowledge/{kb}/reset"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        admin
            .get(&format!("/api/v1/knowledge/{kb}/files"))
            .await
            .body["total"],
        0
    );
    assert!(query(&admin, &kb, "platypus").await["documents"][0]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        admin
            .delete(&format!("/api/v1/knowledge/{kb}/delete"))
            .await
            .body,
        json!(true)
    );
    assert_eq!(
        admin.get(&format!("/api/v1/knowledge/{kb}")).await.status,
        404
    );
}

#[tokio::test]
async fn sharing_and_permissions() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    let bob = second_user(&admin, &c, "bob@example.com").await;
    let carol = second_user(&admin, &c, "carol@example.com").await;

    // Users need the workspace permission to create knowledge bases.
    let r = bob
        .post(
            "/api/v1/knowledge/create",
            json!({"name": "x", "description": ""}),
        )
        .await;
    assert_eq!(r.status, 401);
    let perms = admin.get("/api/v1/users/default/permissions").await.body;
    let mut perms = perms.clone();
    perms["workspace"]["knowledge"] = json!(true);
    let r = admin.post("/api/v1/users/default/permissions", perms).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let kb = create_kb(&bob, "Bob private").await;
    let fid = upload_ok(
        &bob,
        "plans.txt",
        "text/plain",
        b"Bob plans a surprise party on Friday.",
    )
    .await;
    let r = bob
        .post(
            &format!("/api/v1/knowledge/{kb}/file/add"),
            json!({"file_id": fid}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Carol sees nothing of it.
    assert_eq!(carol.get("/api/v1/knowledge/").await.body["total"], 0);
    assert_eq!(
        carol.get(&format!("/api/v1/knowledge/{kb}")).await.status,
        401
    );
    assert_eq!(
        carol
            .get(&format!("/api/v1/knowledge/{kb}/files"))
            .await
            .status,
        400
    );
    let q = carol
        .post(
            "/api/v1/retrieval/query/collection",
            json!({"collection_names": [kb], "query": "party"}),
        )
        .await;
    assert_eq!(q.status, 403);
    assert_eq!(carol.get(&format!("/api/v1/files/{fid}")).await.status, 404);
    // Nor can she attach her file to it or delete it.
    let cf = upload_ok(&carol, "c.txt", "text/plain", b"carol was here").await;
    let r = carol
        .post(
            &format!("/api/v1/knowledge/{kb}/file/add"),
            json!({"file_id": cf}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        carol
            .delete(&format!("/api/v1/knowledge/{kb}/delete"))
            .await
            .status,
        400
    );

    // Shared read-only with carol (the admin sets the grant).
    let r = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": carol_id(&carol).await, "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["access_grants"].as_array().unwrap().len(), 1);
    let got = carol.get(&format!("/api/v1/knowledge/{kb}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["write_access"], false);
    assert_eq!(carol.get("/api/v1/knowledge/").await.body["total"], 1);
    let q = carol
        .post(
            "/api/v1/retrieval/query/collection",
            json!({"collection_names": [kb], "query": "surprise party"}),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert!(q.body["documents"][0][0]
        .as_str()
        .unwrap()
        .contains("party"));
    // Reading through the knowledge base also opens the file itself.
    assert_eq!(carol.get(&format!("/api/v1/files/{fid}")).await.status, 200);
    assert_eq!(
        carol.delete(&format!("/api/v1/files/{fid}")).await.status,
        404
    );
    let r = carol
        .post(
            &format!("/api/v1/knowledge/{kb}/file/add"),
            json!({"file_id": cf}),
        )
        .await;
    assert_eq!(r.status, 400);

    // Bob without sharing permission cannot make it public himself.
    let r = bob
        .post(
            &format!("/api/v1/knowledge/{kb}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["access_grants"], json!([]));
    assert_eq!(
        carol.get(&format!("/api/v1/knowledge/{kb}")).await.status,
        401
    );
}

async fn carol_id(c: &Client) -> String {
    c.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn directories() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    let kb = create_kb(&admin, "Tree").await;
    let d = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/dirs/create"),
            json!({"name": "docs"}),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let dir = d.body["id"].as_str().unwrap().to_string();
    let sub = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/dirs/create"),
            json!({"name": "api", "parent_id": dir}),
        )
        .await;
    let sub = sub.body["id"].as_str().unwrap().to_string();
    let clash = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/dirs/create"),
            json!({"name": "docs"}),
        )
        .await;
    assert_eq!(clash.status, 400);
    let cycle = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/dirs/{dir}/update"),
            json!({"name": "docs", "parent_id": sub}),
        )
        .await;
    assert_eq!(cycle.status, 400);

    let f = upload_ok(
        &admin,
        "ref.md",
        "text/markdown",
        b"# Reference\nEndpoints are versioned.",
    )
    .await;
    let r = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/file/add"),
            json!({"file_id": f, "directory_id": sub}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let root = admin
        .get(&format!("/api/v1/knowledge/{kb}/files?directory_id="))
        .await;
    assert_eq!(root.body["total"], 0);
    assert_eq!(root.body["directories"].as_array().unwrap().len(), 1);
    let inside = admin
        .get(&format!("/api/v1/knowledge/{kb}/files?directory_id={sub}"))
        .await;
    assert_eq!(inside.body["total"], 1);
    assert_eq!(inside.body["items"][0]["directory_path"], "docs/api");
    assert_eq!(inside.body["breadcrumbs"].as_array().unwrap().len(), 2);

    // A folder sync: the stored file is unchanged, one new file, one new folder.
    let hash = admin.get(&format!("/api/v1/files/{f}")).await.body["meta"]["file_hash"].clone();
    let diff = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/sync/diff"),
            json!({"manifest": [
                {"filename": "ref.md", "path": "docs/api", "checksum": hash, "size": 10},
                {"filename": "new.md", "path": "docs/guide", "checksum": "abc", "size": 3}
            ]}),
        )
        .await;
    assert_eq!(diff.status, 200, "{}", diff.body);
    assert_eq!(diff.body["unmodified_count"], 1);
    assert_eq!(
        diff.body["added"],
        json!([{"filename": "new.md", "path": "docs/guide"}])
    );
    assert_eq!(diff.body["mkdir"], json!(["docs/guide"]));
    assert_eq!(diff.body["deleted"], json!([]));
    assert_eq!(diff.body["directory_map"]["docs/api"], json!(sub));

    // Export: a zip of the extracted texts.
    let z = admin
        .http
        .get(format!("{}/api/v1/knowledge/{kb}/export", admin.base))
        .bearer_auth(admin.token.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(z.headers()["content-type"], "application/zip");
    assert!(z.bytes().await.unwrap().starts_with(b"PK"));

    // Deleting the parent moves the file up to the root.
    let del = admin
        .delete(&format!("/api/v1/knowledge/{kb}/dirs/{dir}/delete"))
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    let root = admin
        .get(&format!("/api/v1/knowledge/{kb}/files?directory_id="))
        .await;
    assert_eq!(root.body["total"], 1);
    assert_eq!(root.body["directories"], json!([]));
}

/// The admin's Integrations tab lists external knowledge connections on load:
/// an empty list here (none can be created), refused to non-admins.
#[tokio::test]
async fn external_connections_list_is_empty_and_admin_only() {
    let srv = common::TestServer::fresh().await;
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let r = admin.get("/api/v1/knowledge/external/connections").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, serde_json::json!({"total": 0, "items": []}));
    assert_eq!(
        c.get("/api/v1/knowledge/external/connections").await.status,
        401
    );
    let r = admin
        .post(
            "/api/v1/knowledge/external/connections",
            serde_json::json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, 501);
}
