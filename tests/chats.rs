//! Chats, folders and tags over real HTTP: CRUD, lists and paging, search,
//! tags, sharing, clone/fork, export/import, message edits, folders, and that
//! nobody but the owner gets at a chat.

mod common;

use common::{copy_dir, fixture_dir, settings_for, Client, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn len(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(usize::MAX)
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// An admin (first signup) and a regular user.
async fn two_users(srv: &TestServer) -> (Client, Client) {
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Bea", "email": "bea@example.com", "password": "Passw0rd!b", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bea = c.login("bea@example.com", "Passw0rd!b").await;
    (admin, bea)
}

/// A chat body as the frontend builds it: a user message and an assistant reply.
fn chat_body(title: &str, question: &str, answer: &str) -> Value {
    json!({
        "id": "",
        "title": title,
        "models": ["m"],
        "params": {},
        "history": {
            "currentId": "a1",
            "messages": {
                "u1": {"id": "u1", "parentId": null, "childrenIds": ["a1"], "role": "user",
                       "content": question, "timestamp": 1795337614, "models": ["m"]},
                "a1": {"id": "a1", "parentId": "u1", "childrenIds": [], "role": "assistant",
                       "content": answer, "done": true, "model": "m", "timestamp": 1795337615}
            }
        },
        "messages": [{"id": "u1", "role": "user", "content": question}],
        "tags": [],
        "timestamp": 1795337614000i64
    })
}

async fn new_chat(c: &Client, title: &str, question: &str, answer: &str) -> Value {
    let r = c
        .post(
            "/api/v1/chats/new",
            json!({"chat": chat_body(title, question, answer), "folder_id": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn crud_paging_pin_archive() {
    let srv = TestServer::fresh().await;
    let (admin, _) = two_users(&srv).await;

    let created = new_chat(&admin, "First chat", "Hello there", "General Kenobi").await;
    let id = created["id"].as_str().unwrap().to_string();
    for key in [
        "id",
        "user_id",
        "title",
        "chat",
        "updated_at",
        "created_at",
        "share_id",
        "archived",
        "pinned",
        "meta",
        "variables",
        "folder_id",
        "tasks",
        "summary",
        "current_message_id",
        "context_usage",
    ] {
        assert!(created.get(key).is_some(), "missing {key}");
    }
    assert_eq!(created["title"], "First chat");
    assert_eq!(created["current_message_id"], "a1");
    assert_eq!(
        created["chat"]["history"]["messages"]["u1"]["user"]["name"],
        "Admin"
    );

    let got = admin.get(&format!("/api/v1/chats/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["chat"]["share_mode"], "continue");
    assert_eq!(got.body["chat"]["history"]["currentId"], "a1");
    assert_eq!(got.body["context_usage"], Value::Null);

    // Dual storage: one chat_message row per message, JSON text columns.
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    let (content, done, output, parent): (String, i64, String, Option<String>) = db
        .query_row(
            "SELECT content, done, output, parent_id FROM chat_message WHERE id = ?1",
            [format!("{id}-u1")],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (content.as_str(), done, output.as_str(), parent),
        ("\"Hello there\"", 1, "null", None)
    );

    // Update merges into chat.chat.
    let r = admin
        .post(
            &format!("/api/v1/chats/{id}"),
            json!({"chat": {"title": "Renamed"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Renamed");
    assert_eq!(r.body["chat"]["models"], json!(["m"]), "other keys kept");
    assert!(r.body["chat"].get("share_mode").is_none());

    // Chat-level params.
    let r = admin
        .send(
            Method::PATCH,
            &format!("/api/v1/chats/{id}/params"),
            Some(json!({"temperature": 0.5})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"temperature": 0.5}));

    // Paging: 61 unpinned chats in all → 60, 1, then nothing.
    for i in 0..60 {
        new_chat(&admin, &format!("Chat {i}"), "q", "a").await;
    }
    assert_eq!(len(&admin.get("/api/v1/chats/?page=1").await.body), 60);
    assert_eq!(len(&admin.get("/api/v1/chats/?page=2").await.body), 1);
    assert_eq!(len(&admin.get("/api/v1/chats/?page=3").await.body), 0);
    assert_eq!(len(&admin.get("/api/v1/chats/").await.body), 61);
    let page1 = admin.get("/api/v1/chats/?page=1").await.body;
    let first = &page1[0];
    for key in [
        "id",
        "title",
        "updated_at",
        "created_at",
        "last_read_at",
        "snippet",
        "active",
        "archived",
    ] {
        assert!(first.get(key).is_some(), "list item lacks {key}");
    }
    assert_eq!(
        admin.get("/api/v1/chats/?page=x").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Pin: out of the main list, into /pinned.
    let r = admin
        .post(&format!("/api/v1/chats/{id}/pin"), json!({}))
        .await;
    assert_eq!(r.body["pinned"], true);
    assert_eq!(
        admin.get(&format!("/api/v1/chats/{id}/pinned")).await.body,
        true
    );
    assert_eq!(
        ids(&admin.get("/api/v1/chats/pinned").await.body),
        [id.as_str()]
    );
    assert!(!ids(&admin.get("/api/v1/chats/").await.body).contains(&id));
    assert_eq!(
        len(&admin.get("/api/v1/chats/?include_pinned=true").await.body),
        61
    );

    // Archive: out of every list, counted.
    let r = admin
        .post(&format!("/api/v1/chats/{id}/archive"), json!({}))
        .await;
    assert_eq!(r.body["archived"], true);
    assert_eq!(admin.get("/api/v1/chats/archived/count").await.body, 1);
    assert_eq!(
        ids(&admin.get("/api/v1/chats/archived").await.body),
        [id.as_str()]
    );
    assert_eq!(len(&admin.get("/api/v1/chats/pinned").await.body), 0);
    assert_eq!(len(&admin.get("/api/v1/chats/all/archived").await.body), 1);
    let r = admin
        .post(&format!("/api/v1/chats/{id}/archive"), json!({}))
        .await;
    assert_eq!(r.body["archived"], false);

    assert_eq!(
        admin
            .post("/api/v1/chats/archive/all", json!({}))
            .await
            .body,
        true
    );
    assert_eq!(admin.get("/api/v1/chats/archived/count").await.body, 61);
    assert_eq!(len(&admin.get("/api/v1/chats/").await.body), 0);
    assert_eq!(
        len(&admin.get("/api/v1/chats/archived?query=renamed").await.body),
        1,
        "archived list filters by title"
    );
    assert_eq!(
        len(&admin.get("/api/v1/chats/search?text=").await.body),
        0,
        "archived chats are not searched"
    );
    assert_eq!(
        len(&admin
            .get("/api/v1/chats/search?text=archived:true")
            .await
            .body),
        60
    );
    assert_eq!(
        admin
            .post("/api/v1/chats/unarchive/all", json!({}))
            .await
            .body,
        true
    );
    assert_eq!(admin.get("/api/v1/chats/archived/count").await.body, 0);

    // Admin chat settings round-trip through the config table.
    let mut cfg = admin.get("/api/v1/chats/config").await.body;
    assert_eq!(cfg["CONTEXT_COMPACTION_TOKEN_CAP"], 80000);
    cfg["CONTEXT_COMPACTION_RETENTION_PERCENTAGE"] = json!(90);
    let saved = admin.post("/api/v1/chats/config", cfg).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(
        saved.body["CONTEXT_COMPACTION_RETENTION_PERCENTAGE"], 50,
        "clamped like upstream"
    );

    // Delete one, then all.
    assert_eq!(
        admin.delete(&format!("/api/v1/chats/{id}")).await.body,
        true
    );
    assert_eq!(
        admin.get(&format!("/api/v1/chats/{id}")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        admin.delete(&format!("/api/v1/chats/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let rows: i64 = db
        .query_row(
            "SELECT count(*) FROM chat_message WHERE chat_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(admin.delete("/api/v1/chats/").await.body, true);
    assert_eq!(len(&admin.get("/api/v1/chats/").await.body), 0);
    let rows: i64 = db
        .query_row("SELECT count(*) FROM chat_message", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn search_tags_and_snippets() {
    let srv = TestServer::fresh().await;
    let (admin, _) = two_users(&srv).await;
    let pirate = new_chat(
        &admin,
        "Pirate maps",
        "Draw me a treasure map",
        "Arr, X marks the spot",
    )
    .await;
    let pid = pirate["id"].as_str().unwrap().to_string();
    let tea = new_chat(
        &admin,
        "Tea time",
        "How hot should green tea water be?",
        "About 80 degrees",
    )
    .await;
    let tid = tea["id"].as_str().unwrap().to_string();

    // Tags: normalised ids, rows per user, "none" refused.
    let r = admin
        .post(
            &format!("/api/v1/chats/{pid}/tags"),
            json!({"name": "Fun Stuff"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!([{"id": "fun_stuff", "name": "Fun Stuff", "user_id": pirate["user_id"], "meta": null}])
    );
    admin
        .post(
            &format!("/api/v1/chats/{tid}/tags"),
            json!({"name": "drinks"}),
        )
        .await;
    admin
        .post(
            &format!("/api/v1/chats/{tid}/tags"),
            json!({"name": "fun stuff"}),
        )
        .await;
    let r = admin
        .post(
            &format!("/api/v1/chats/{tid}/tags"),
            json!({"name": "None"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(len(&admin.get("/api/v1/chats/all/tags").await.body), 2);
    assert_eq!(
        len(&admin.get(&format!("/api/v1/chats/{tid}/tags")).await.body),
        2
    );
    assert_eq!(
        admin.get(&format!("/api/v1/chats/{tid}")).await.body["meta"]["tags"],
        json!(["drinks", "fun_stuff"])
    );
    assert_eq!(
        ids(&admin
            .post("/api/v1/chats/tags", json!({"name": "drinks"}))
            .await
            .body),
        [tid.as_str()]
    );

    // Search: title, content (with snippet), tag filters.
    let r = admin.get("/api/v1/chats/search?text=pirate").await;
    assert_eq!(ids(&r.body), [pid.as_str()]);
    let r = admin.get("/api/v1/chats/search?text=green%20tea").await;
    assert_eq!(ids(&r.body), [tid.as_str()]);
    assert_eq!(r.body[0]["snippet"], "How hot should green tea water be?");
    let r = admin.get("/api/v1/chats/search?text=tag:fun_stuff").await;
    assert_eq!(len(&r.body), 2);
    let r = admin
        .get("/api/v1/chats/search?text=tag:drinks%20degrees")
        .await;
    assert_eq!(ids(&r.body), [tid.as_str()]);
    assert_eq!(r.body[0]["snippet"], "About 80 degrees");
    assert_eq!(
        len(&admin
            .get("/api/v1/chats/search?text=tag:drinks%20treasure")
            .await
            .body),
        0
    );
    assert_eq!(
        len(&admin.get("/api/v1/chats/search?text=tag:none").await.body),
        0
    );
    assert_eq!(
        admin.get("/api/v1/chats/search").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Removing a tag from its last chat removes the tag row.
    let r = admin
        .send(
            Method::DELETE,
            &format!("/api/v1/chats/{tid}/tags"),
            Some(json!({"name": "drinks"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body), ["fun_stuff"]);
    assert_eq!(
        ids(&admin.get("/api/v1/chats/all/tags").await.body),
        ["fun_stuff"]
    );

    // Deleting a chat drops tags only it used.
    admin
        .post(
            &format!("/api/v1/chats/{pid}/tags"),
            json!({"name": "solo"}),
        )
        .await;
    admin.delete(&format!("/api/v1/chats/{pid}")).await;
    assert_eq!(
        ids(&admin.get("/api/v1/chats/all/tags").await.body),
        ["fun_stuff"]
    );
}

#[tokio::test]
async fn messages_clone_fork_share_export_import() {
    let srv = TestServer::fresh().await;
    let (admin, bea) = two_users(&srv).await;
    let chat = new_chat(
        &admin,
        "Origami",
        "How do I fold a crane?",
        "Start with a square",
    )
    .await;
    let id = chat["id"].as_str().unwrap().to_string();
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();

    // Edit a message: both stores change.
    let r = admin
        .post(
            &format!("/api/v1/chats/{id}/messages/a1"),
            json!({"content": "Start with a square sheet"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["chat"]["history"]["messages"]["a1"]["content"],
        "Start with a square sheet"
    );
    let content: String = db
        .query_row(
            "SELECT content FROM chat_message WHERE id = ?1",
            [format!("{id}-a1")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(content, "\"Start with a square sheet\"");
    let r = admin
        .post(&format!("/api/v1/chats/{id}/messages/a1"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Clone and fork.
    let r = admin
        .post(&format!("/api/v1/chats/{id}/clone"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Clone of Origami");
    assert_eq!(r.body["chat"]["originalChatId"], id.as_str());
    assert_eq!(r.body["chat"]["branchPointMessageId"], "a1");
    let r = admin
        .post(
            &format!("/api/v1/chats/{id}/fork"),
            json!({"message_id": "u1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Origami (fork)");
    assert_eq!(r.body["chat"]["history"]["currentId"], "u1");
    assert_eq!(r.body["meta"]["forked_from"], id.as_str());
    assert!(r.body["chat"]["history"]["messages"].get("a1").is_none());
    let r = admin
        .post(
            &format!("/api/v1/chats/{id}/fork"),
            json!({"message_id": "nope"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Delete a message: its reply goes with it.
    let r = admin
        .delete(&format!("/api/v1/chats/{id}/messages/u1"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["chat"]["history"]["messages"], json!({}));
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM chat_message WHERE chat_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    admin
        .post(
            &format!("/api/v1/chats/{id}"),
            json!({"chat": chat_body("Origami", "Fold?", "Yes")}),
        )
        .await;

    // Share: snapshot, owner reads it, another user does not without a grant.
    let r = admin
        .post(&format!("/api/v1/chats/{id}/share"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let share_id = r.body["share_id"].as_str().unwrap().to_string();
    let r = admin.get(&format!("/api/v1/chats/share/{share_id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], share_id.as_str());
    assert_eq!(r.body["chat"]["share_mode"], Value::Null);
    assert_eq!(r.body["title"], "Origami");
    let r = bea.get(&format!("/api/v1/chats/share/{share_id}")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.body.to_string().contains("Origami"));
    assert_eq!(
        srv.client()
            .get(&format!("/api/v1/chats/share/{share_id}"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let shared = admin.get("/api/v1/chats/shared").await.body;
    assert_eq!(shared[0]["share_id"], share_id.as_str());
    assert_eq!(shared[0]["id"], id.as_str());

    // A public-read grant opens the link to signed-in users, who may clone it.
    let r = admin
        .post(
            &format!("/api/v1/chats/shared/{id}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        len(&admin
            .get(&format!("/api/v1/chats/shared/{id}/access"))
            .await
            .body),
        1
    );
    let r = bea.get(&format!("/api/v1/chats/share/{share_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["variables"], json!({}));
    assert!(
        r.body["chat"].get("params").is_none(),
        "owner settings hidden"
    );
    let r = bea
        .post(&format!("/api/v1/chats/{share_id}/clone/shared"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Clone of Origami");
    assert_eq!(
        r.body["user_id"],
        bea.get("/api/v1/auths/").await.body["id"]
    );
    // ...but the chat itself stays the owner's.
    assert_eq!(
        bea.get(&format!("/api/v1/chats/{id}")).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Unshare.
    assert_eq!(
        admin
            .delete(&format!("/api/v1/chats/{id}/share"))
            .await
            .body,
        true
    );
    assert_eq!(
        admin
            .get(&format!("/api/v1/chats/share/{share_id}"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        admin.get(&format!("/api/v1/chats/{id}")).await.body["share_id"],
        Value::Null
    );

    // Export (NDJSON) and import round trip, as the settings page does it.
    admin
        .post(
            &format!("/api/v1/chats/{id}/tags"),
            json!({"name": "crafts"}),
        )
        .await;
    let res = admin
        .http
        .get(format!("{}/api/v1/chats/all", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let exported: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), 3);
    let forms: Vec<Value> = exported
        .iter()
        .map(|c| {
            json!({"chat": c["chat"], "meta": c["meta"], "pinned": c["pinned"], "archived": c["archived"],
                   "folder_id": c["folder_id"], "created_at": c["created_at"], "updated_at": c["updated_at"]})
        })
        .collect();
    // Imported into another account: tags come along.
    let r = bea
        .post("/api/v1/chats/import", json!({"chats": forms}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(len(&r.body), 3);
    let imported = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"] == "Origami")
        .unwrap()
        .clone();
    assert_eq!(imported["meta"]["tags"], json!(["crafts"]));
    let source = exported.iter().find(|c| c["title"] == "Origami").unwrap();
    assert_eq!(
        imported["chat"]["history"]["currentId"],
        source["chat"]["history"]["currentId"]
    );
    let bea_id = imported["user_id"].as_str().unwrap();
    for (mid, m) in source["chat"]["history"]["messages"].as_object().unwrap() {
        let copy = &imported["chat"]["history"]["messages"][mid];
        assert_eq!(copy["content"], m["content"]);
        assert_eq!(
            copy["user_id"], bea_id,
            "imported messages belong to the importer"
        );
    }
    assert!(ids(&bea.get("/api/v1/chats/all/tags").await.body).contains(&"crafts".to_string()));
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM chat_message WHERE chat_id = ?1",
            [imported["id"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn folders_nest_rename_move_expand_delete() {
    let srv = TestServer::fresh().await;
    let (admin, bea) = two_users(&srv).await;

    let r = admin
        .post(
            "/api/v1/folders/",
            json!({"name": "Work", "data": {}, "meta": {}, "parent_id": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"], Value::Null);
    assert_eq!(r.body["data"], json!({}));
    let work = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post("/api/v1/folders/", json!({"name": "work"}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "names are unique per parent, case-insensitively"
    );
    assert_eq!(r.body["detail"], "[ERROR: Folder already exists]");
    assert_eq!(
        admin
            .post("/api/v1/folders/", json!({"name": "X", "bogus": 1}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let r = admin
        .post(
            "/api/v1/folders/",
            json!({"name": "Reports", "parent_id": work}),
        )
        .await;
    let reports = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["parent_id"], work.as_str());
    let r = admin
        .post(
            "/api/v1/folders/",
            json!({"name": "Deep", "parent_id": reports}),
        )
        .await;
    let deep = r.body["id"].as_str().unwrap().to_string();

    let list = admin.get("/api/v1/folders/").await.body;
    assert_eq!(len(&list), 3);
    assert_eq!(
        list[0],
        json!({
            "id": work, "name": "Work", "meta": {"icon": null}, "parent_id": null, "is_expanded": false,
            "unread_count": 0, "created_at": list[0]["created_at"], "updated_at": list[0]["updated_at"]
        })
    );
    assert_eq!(list[1]["meta"], Value::Null, "no meta given, none reported");

    // Rename, system prompt, expand.
    let r = admin
        .post(
            &format!("/api/v1/folders/{reports}/update"),
            json!({"name": "Quarterly", "data": {"system_prompt": "Be brief."}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Quarterly");
    assert_eq!(r.body["data"]["system_prompt"], "Be brief.");
    let r = admin
        .post(
            &format!("/api/v1/folders/{work}/update/expanded"),
            json!({"is_expanded": true}),
        )
        .await;
    assert_eq!(r.body["is_expanded"], true);
    let got = admin.get(&format!("/api/v1/folders/{reports}")).await.body;
    assert_eq!(got["write_access"], true);
    assert_eq!(got["access_grants"], json!([]));

    // Move: not into its own subtree; to the root is fine.
    let r = admin
        .post(
            &format!("/api/v1/folders/{work}/update/parent"),
            json!({"parent_id": deep}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = admin
        .post(
            &format!("/api/v1/folders/{deep}/update/parent"),
            json!({"parent_id": null}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["parent_id"], Value::Null);
    admin
        .post(
            &format!("/api/v1/folders/{deep}/update/parent"),
            json!({"parent_id": reports}),
        )
        .await;

    // Chats in folders: out of the main list, in the folder views.
    let c1 = new_chat(&admin, "In work", "q", "a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c2 = new_chat(&admin, "In deep", "q", "a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let keep = new_chat(&admin, "Stays", "q", "a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .post(
            &format!("/api/v1/chats/{c1}/folder"),
            json!({"folder_id": work}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["folder_id"], work.as_str());
    admin
        .post(
            &format!("/api/v1/chats/{c2}/folder"),
            json!({"folder_id": deep}),
        )
        .await;
    assert_eq!(
        ids(&admin.get("/api/v1/chats/").await.body),
        [keep.as_str()]
    );
    assert_eq!(
        len(&admin.get("/api/v1/chats/?include_folders=true").await.body),
        3
    );
    assert_eq!(
        len(&admin
            .get(&format!("/api/v1/chats/folder/{work}"))
            .await
            .body),
        2,
        "subfolders included"
    );
    assert_eq!(
        ids(&admin
            .get(&format!("/api/v1/chats/folder/{work}/list"))
            .await
            .body),
        [c1.as_str()]
    );
    assert_eq!(
        admin
            .get("/api/v1/chats/search?text=folder:work")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Another user's folder is not a target.
    let r = admin
        .post(
            &format!("/api/v1/chats/{keep}/folder"),
            json!({"folder_id": "missing"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Unread counts roll up to the parents.
    let r = admin
        .post(&format!("/api/v1/chats/{c2}/unread"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["folder_unread_counts"][&work], 1);
    assert_eq!(r.body["folder_unread_counts"][&deep], 1);
    let r = admin
        .post(&format!("/api/v1/folders/{work}/read"), json!({}))
        .await;
    assert_eq!(r.body["folder_unread_counts"][&work], 0);

    // Others see none of it.
    assert_eq!(len(&bea.get("/api/v1/folders/").await.body), 0);
    assert_eq!(
        bea.get(&format!("/api/v1/folders/{work}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bea.post(
            &format!("/api/v1/folders/{work}/update"),
            json!({"name": "Mine"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bea.delete(&format!("/api/v1/folders/{work}")).await.status,
        StatusCode::FORBIDDEN
    );
    let r = bea
        .post(
            "/api/v1/folders/",
            json!({"name": "Sneaky", "parent_id": work}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Delete with contents: the subtree and its chats go, other chats stay.
    assert_eq!(
        admin
            .delete(&format!("/api/v1/folders/{work}?delete_contents=true"))
            .await
            .body,
        true
    );
    assert_eq!(len(&admin.get("/api/v1/folders/").await.body), 0);
    assert_eq!(
        admin.get(&format!("/api/v1/chats/{c1}")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        admin.get(&format!("/api/v1/chats/{c2}")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ids(&admin.get("/api/v1/chats/").await.body),
        [keep.as_str()]
    );

    // Without contents the chats move back to the top level.
    let f = admin
        .post("/api/v1/folders/", json!({"name": "Temp"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .post(
            &format!("/api/v1/chats/{keep}/folder"),
            json!({"folder_id": f}),
        )
        .await;
    assert_eq!(
        admin
            .delete(&format!("/api/v1/folders/{f}?delete_contents=false"))
            .await
            .body,
        true
    );
    assert_eq!(
        admin.get(&format!("/api/v1/chats/{keep}")).await.body["folder_id"],
        Value::Null
    );
}

#[tokio::test]
async fn another_users_chat_stays_out_of_reach() {
    let srv = TestServer::fresh().await;
    let (admin, bea) = two_users(&srv).await;
    // Bea's chat, poked at by the admin's non-admin peer: use a second regular user.
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Cy", "email": "cy@example.com", "password": "Passw0rd!c", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let cy = srv.client().login("cy@example.com", "Passw0rd!c").await;

    let chat = new_chat(&bea, "Secret plans", "The password is swordfish", "Noted").await;
    let id = chat["id"].as_str().unwrap().to_string();
    bea.post(
        &format!("/api/v1/chats/{id}/tags"),
        json!({"name": "private"}),
    )
    .await;
    let share_id = bea
        .post(&format!("/api/v1/chats/{id}/share"), json!({}))
        .await
        .body["share_id"]
        .as_str()
        .unwrap()
        .to_string();
    let folder = bea
        .post("/api/v1/folders/", json!({"name": "Bea's"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/chats/{id}"), None),
        (
            Method::POST,
            format!("/api/v1/chats/{id}"),
            Some(json!({"chat": {"title": "mine"}})),
        ),
        (Method::DELETE, format!("/api/v1/chats/{id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/chats/{id}/params"),
            Some(json!({"temperature": 1})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/messages/u1"),
            Some(json!({"content": "x"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/chats/{id}/messages/u1"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/messages/u1/event"),
            Some(json!({"type": "x", "data": {}})),
        ),
        (Method::GET, format!("/api/v1/chats/{id}/pinned"), None),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/pin"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/clone"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/fork"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/clone/shared"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/archive"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/share"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/api/v1/chats/{id}/share"), None),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/unread"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/folder"),
            Some(json!({"folder_id": null})),
        ),
        (Method::GET, format!("/api/v1/chats/{id}/tags"), None),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/tags"),
            Some(json!({"name": "stolen"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/chats/{id}/tags"),
            Some(json!({"name": "private"})),
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/compact"),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/v1/chats/share/{share_id}"), None),
        (
            Method::POST,
            format!("/api/v1/chats/{share_id}/clone/shared"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/chats/shared/{id}/access"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/chats/shared/{id}/access/update"),
            Some(
                json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
            ),
        ),
        (
            Method::GET,
            format!("/api/v1/chats/stats/export/{id}"),
            None,
        ),
        (Method::GET, format!("/api/v1/chats/folder/{folder}"), None),
        (Method::GET, format!("/api/v1/folders/{folder}"), None),
        (Method::DELETE, format!("/api/v1/folders/{folder}"), None),
        (
            Method::GET,
            format!("/api/v1/folders/{folder}/shared/chats"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/folders/{folder}/read"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in attempts {
        let r = cy.send(method.clone(), &path, body).await;
        let text = r.body.to_string();
        assert!(
            [
                StatusCode::OK,
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::NOT_FOUND
            ]
            .contains(&r.status),
            "{method} {path}: {}",
            r.status
        );
        assert!(
            !text.contains("swordfish") && !text.contains("Secret plans"),
            "{method} {path} leaked: {text}"
        );
        if r.status == StatusCode::OK {
            // Only the folder view of a folder one cannot see may answer, with nothing in it.
            assert_eq!(r.body, json!([]), "{method} {path}");
        }
    }
    // The chat is unchanged and still Bea's.
    let mine = bea.get(&format!("/api/v1/chats/{id}")).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["title"], "Secret plans");
    assert_eq!(mine.body["meta"]["tags"], json!(["private"]));
    assert!(mine.body["chat"]["history"]["messages"].get("u1").is_some());
    assert_eq!(
        len(&cy.get("/api/v1/chats/search?text=swordfish").await.body),
        0
    );
    assert_eq!(len(&cy.get("/api/v1/chats/all/tags").await.body), 0);

    // Admins read any chat (ENABLE_ADMIN_CHAT_ACCESS), but cannot change it.
    assert_eq!(admin.get(&format!("/api/v1/chats/{id}")).await.status, 200);
    assert_eq!(
        admin
            .post(&format!("/api/v1/chats/{id}/pin"), json!({}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// A refusal decided inside a transaction undoes what that transaction wrote
/// first. Here the share-access update has already replaced the grants when it
/// finds the chat gone (deleted after the route's own check); a trigger plays
/// that concurrent delete so the race happens every time.
#[tokio::test]
async fn share_access_refused_mid_transaction_keeps_nothing() {
    let srv = TestServer::fresh().await;
    let (admin, _) = two_users(&srv).await;
    let id = new_chat(&admin, "Vanishing", "Still there?", "Yes").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let db = srv.state.clone().unwrap().db.clone();
    db.write(|tx| {
        tx.execute_batch(
            "CREATE TRIGGER vanish AFTER INSERT ON access_grant \
             WHEN NEW.resource_type = 'shared_chat' \
             BEGIN DELETE FROM chat WHERE id = NEW.resource_id; END;",
        )
    })
    .await
    .unwrap();

    let r = admin
        .post(
            &format!("/api/v1/chats/shared/{id}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Neither the grant nor the delete it set off outlived the refusal.
    let cid = id.clone();
    let (grants, chats): (i64, i64) = db
        .read(move |c| {
            let g = c.query_row(
                "SELECT count(*) FROM access_grant WHERE resource_type = 'shared_chat' AND resource_id = ?1",
                [&cid],
                |r| r.get(0),
            )?;
            let n = c.query_row("SELECT count(*) FROM chat WHERE id = ?1", [&cid], |r| {
                r.get(0)
            })?;
            Ok((g, n))
        })
        .await
        .unwrap();
    assert_eq!(
        grants, 0,
        "the grant written before the refusal was rolled back"
    );
    assert_eq!(chats, 1, "the chat is still there");
    db.write(|tx| tx.execute_batch("DROP TRIGGER vanish;"))
        .await
        .unwrap();
    let r = admin.get(&format!("/api/v1/chats/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin
        .get(&format!("/api/v1/chats/shared/{id}/access"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!([]));
}

async fn start_on_fixture() -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("webui_secret_key.txt")).unwrap();
    let srv = TestServer::start(settings_for(tmp.path(), Some(&secret))).await;
    (srv, tmp)
}

#[tokio::test]
async fn python_data_lists_and_branched_history() {
    let (srv, _tmp) = start_on_fixture().await;
    let c = srv.client();
    let admin = c.login("admin@example.com", "Admin-pass-1").await;
    let alice = c.login("alice@example.com", "Alice-pass-1").await;

    for user in [&admin, &alice] {
        assert_eq!(len(&user.get("/api/v1/chats/").await.body), 1);
        assert_eq!(len(&user.get("/api/v1/chats/list").await.body), 1);
        assert_eq!(
            len(&user
                .get("/api/v1/chats/list?include_pinned=true&include_folders=true")
                .await
                .body),
            4
        );
        assert_eq!(len(&user.get("/api/v1/chats/pinned").await.body), 1);
        assert_eq!(user.get("/api/v1/chats/archived/count").await.body, 1);
        assert_eq!(len(&user.get("/api/v1/folders/").await.body), 2);
    }
    assert_eq!(len(&admin.get("/api/v1/chats/all/tags").await.body), 5);
    assert_eq!(len(&alice.get("/api/v1/chats/all/tags").await.body), 6);

    // The branched chat comes back with its history and currentId as stored.
    let r = admin
        .get("/api/v1/chats/4454ca10-5475-4d1f-9318-01bdd85fe4c9")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let history = &r.body["chat"]["history"];
    assert_eq!(history["currentId"], "cfdfb58d-9697-40f7-a69f-e67a984d2940");
    assert_eq!(history["messages"].as_object().unwrap().len(), 5);
    assert_eq!(
        history["messages"]["0b24d015-ef53-43fe-bb7a-5c0db4e8fb18"]["childrenIds"],
        json!([
            "f8f958b9-698d-40e8-be59-05809b45c22d",
            "cfdfb58d-9697-40f7-a69f-e67a984d2940"
        ])
    );
    assert_eq!(
        r.body["current_message_id"],
        "cfdfb58d-9697-40f7-a69f-e67a984d2940"
    );
    assert_eq!(r.body["folder_id"], "7517c722-e7f3-41e6-af5e-456562144c74");
    assert_eq!(r.body["meta"]["tags"], json!(["travel", "planning"]));
    let tags = admin
        .get("/api/v1/chats/4454ca10-5475-4d1f-9318-01bdd85fe4c9/tags")
        .await
        .body;
    assert_eq!(len(&tags), 2);

    // Nested folders and their chats.
    let folders = admin.get("/api/v1/folders/").await.body;
    let research = folders
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Research")
        .unwrap();
    assert_eq!(
        research["parent_id"],
        "0c34468c-da4a-4563-a652-49725eb23132"
    );
    assert_eq!(
        len(&admin
            .get("/api/v1/chats/folder/0c34468c-da4a-4563-a652-49725eb23132")
            .await
            .body),
        2
    );

    // Shares: the owner reads, another user gets 401 (fact 8).
    let share = "711f0e57-32eb-41bc-84d8-075930fc93b2";
    let r = admin.get(&format!("/api/v1/chats/share/{share}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["title"], "Treasure maps with Pirate Helper");
    assert_eq!(
        alice
            .get(&format!("/api/v1/chats/share/{share}"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        alice
            .get("/api/v1/chats/1e741426-6830-4b42-b9dc-5d3339c4be20")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Search reaches message text of the stored chats.
    let r = alice.get("/api/v1/chats/search?text=recursion").await;
    assert_eq!(ids(&r.body), ["5d3bd112-690c-4e47-8c27-b9d3f13a95f6"]);
    let r = alice.get("/api/v1/chats/search?text=tag:tea").await;
    assert_eq!(ids(&r.body), ["68ff8d2c-0245-4ac2-841d-888c9fc3e619"]);
}

/// The search modal (`GET /api/v1/search`): content matches with a link to the
/// message, title matches rank first, folder scopes, and only the caller's chats.
#[tokio::test]
async fn workspace_search_modal() {
    let srv = TestServer::fresh().await;
    let (admin, bea) = two_users(&srv).await;
    let by_content = new_chat(
        &bea,
        "Garden notes",
        "How deep do tulip bulbs go?",
        "About 20 cm deep.",
    )
    .await;
    let by_title = new_chat(&bea, "Tulip festival", "When?", "In April.").await;
    new_chat(&bea, "Unrelated", "Weather?", "Sunny.").await;
    new_chat(&admin, "Admin tulip chat", "tulip", "tulip").await;

    let r = bea.get("/api/v1/search?q=TULIP").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let title_id = format!("chat:{}", by_title["id"].as_str().unwrap());
    let content_id = format!("chat:{}", by_content["id"].as_str().unwrap());
    assert_eq!(
        ids,
        vec![title_id.as_str(), content_id.as_str()],
        "{}",
        r.body
    );
    let hit = &items[1];
    assert_eq!(hit["kind"], "chat");
    assert_eq!(hit["title"], "Garden notes");
    assert_eq!(hit["context"], "Personal chat");
    assert_eq!(
        hit["url"],
        format!("/c/{}?message=u1", by_content["id"].as_str().unwrap())
    );
    assert!(hit["snippet"].as_str().unwrap().contains("tulip"));
    assert_eq!(r.body["has_more"], false);
    assert!(r.body["kinds"].as_array().unwrap().contains(&json!("chat")));

    // Every term must match somewhere in the chat; the link goes to a message
    // holding all of them when there is one.
    let r = bea.get("/api/v1/search?q=tulip+20+cm").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
    let r = bea.get("/api/v1/search?q=tulip+nowhere").await;
    assert_eq!(r.body["items"], json!([]));
    let r = bea.get("/api/v1/search?q=deep+20").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(
        r.body["items"][0]["url"],
        format!("/c/{}?message=a1", by_content["id"].as_str().unwrap())
    );

    // Folder scope.
    let folder = bea
        .post("/api/v1/folders/", json!({"name": "Plants"}))
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    let fid = folder.body["id"].as_str().unwrap().to_string();
    let moved = bea
        .post(
            &format!(
                "/api/v1/chats/{}/folder",
                by_content["id"].as_str().unwrap()
            ),
            json!({"folder_id": fid}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let r = bea
        .get(&format!("/api/v1/search?q=tulip&scope=folder:{fid}"))
        .await;
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![content_id.as_str()]);
    assert_eq!(r.body["items"][0]["context"], "Plants");
    assert!(r.body["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == format!("folder:{fid}") && s["kind"] == "folder"));
    // Someone else's folder is not a scope of mine.
    let r = admin
        .get(&format!("/api/v1/search?q=tulip&scope=folder:{fid}"))
        .await;
    assert_eq!(r.body["items"], json!([]));

    // An empty query (the modal's first request) lists recent chats.
    let r = bea
        .get("/api/v1/search?q=&kind=all&sharing=all&scope=&page=1")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3);
    let r = bea
        .get(&format!("/api/v1/search?q=&scope=folder:{fid}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);

    // Bad input is a clear 422; anonymous is refused.
    assert_eq!(bea.get("/api/v1/search?kind=files").await.status, 422);
    assert_eq!(bea.get("/api/v1/search?page=0").await.status, 422);
    assert_eq!(srv.client().get("/api/v1/search?q=tulip").await.status, 401);
}

/// Events sent to a message through `/messages/{id}/event` are stored as the
/// browser shows them; content moves the chat up, sources/files/embeds do
/// not; NUL characters never reach the stored chat.
#[tokio::test]
async fn message_events_are_stored_and_nul_characters_cleaned() {
    let srv = TestServer::fresh().await;
    let (_admin, bea) = two_users(&srv).await;
    let chat = new_chat(&bea, "Events", "q", "first").await;
    let id = chat["id"].as_str().unwrap().to_string();
    let event = |kind: &str, data: Value| {
        let (path, body) = (
            format!("/api/v1/chats/{id}/messages/a1/event"),
            json!({"type": kind, "data": data}),
        );
        let c = bea.with_token(bea.token.as_deref().unwrap());
        async move {
            let r = c.post(&path, body).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    let stored = |c: &Client| {
        let (c, path) = (
            c.with_token(c.token.as_deref().unwrap()),
            format!("/api/v1/chats/{id}"),
        );
        async move { c.get(&path).await.body }
    };
    let before = stored(&bea).await["updated_at"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    event(
        "source",
        json!({"source": {"name": "re\u{0}port"}, "document": ["t"], "metadata": [{}]}),
    )
    .await;
    event("files", json!({"files": [{"id": "f1"}]})).await;
    event("embeds", json!({"embeds": ["<b>e</b>"]})).await;
    event("status", json!({"description": "Searching", "done": false})).await;
    let s = stored(&bea).await;
    let m = &s["chat"]["history"]["messages"]["a1"];
    assert_eq!(m["sources"][0]["source"]["name"], "report", "{m}");
    assert_eq!(m["files"], json!([{"id": "f1"}]));
    assert_eq!(m["embeds"], json!(["<b>e</b>"]));
    assert_eq!(m["statusHistory"][0]["description"], "Searching");
    assert_eq!(
        s["updated_at"].as_i64().unwrap(),
        before,
        "background writes keep the chat's place"
    );

    event("message", json!({"content": " more"})).await;
    let s = stored(&bea).await;
    assert_eq!(
        s["chat"]["history"]["messages"]["a1"]["content"],
        "first more"
    );
    assert!(
        s["updated_at"].as_i64().unwrap() > before,
        "new content moves the chat up"
    );
    event("replace", json!({"content": "be\u{0}fore"})).await;
    let s = stored(&bea).await;
    assert_eq!(s["chat"]["history"]["messages"]["a1"]["content"], "before");
    // An event for a message that does not exist stores nothing.
    let r = bea
        .post(
            &format!("/api/v1/chats/{id}/messages/nope/event"),
            json!({"type": "replace", "data": {"content": "x"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(stored(&bea).await["chat"]["history"]["messages"]
        .get("nope")
        .is_none());

    // A save cleans the title too.
    let r = bea
        .post(
            &format!("/api/v1/chats/{id}"),
            json!({"chat": {"title": "Re\u{0}named"}}),
        )
        .await;
    assert_eq!(r.body["title"], "Renamed", "{}", r.body);
}

/// Search folds case in every script, not only ASCII.
#[tokio::test]
async fn search_folds_case_beyond_ascii() {
    let srv = TestServer::fresh().await;
    let (_admin, bea) = two_users(&srv).await;
    for (title, query) in [
        ("ПРИВЕТ Мир", "привет мир"),
        ("ΑΘΗΝΑ", "αθηνα"),
        ("ÆØÅ", "æøå"),
    ] {
        let chat = new_chat(&bea, title, "ЗДРАВСТВУЙ", "ok").await;
        let found = bea
            .get(&format!(
                "/api/v1/chats/search?text={}",
                common::urlencode(query)
            ))
            .await
            .body;
        assert!(
            found
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == chat["id"]),
            "{query}: {found}"
        );
    }
    let found = bea
        .get(&format!(
            "/api/v1/chats/search?text={}",
            common::urlencode("здравствуй")
        ))
        .await
        .body;
    assert_eq!(
        found.as_array().unwrap().len(),
        3,
        "message content too: {found}"
    );
}
