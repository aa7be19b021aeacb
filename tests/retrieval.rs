//! `/api/v1/retrieval` settings and queries, chat retrieval (the passage in
//! the prompt, `sources` on the saved message), memories, the web-fetch
//! guard, the reindex of a Python-written data folder and the real local
//! embedding model.

mod common;
#[path = "data/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::mock_llm::MockLlm;
use common::{Client, TestServer};
use serde_json::{json, Value};
use support::*;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn documents_settings_save_and_reload() {
    let server = TestServer::fresh().await;
    let c = server.client();
    let admin = c.with_token(
        c.signup("Admin", "admin@example.com", "pass-admin-1")
            .await
            .body["token"]
            .as_str()
            .unwrap(),
    );
    let capture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            common::fixture_dir()
                .join("../../reference/openwebui-0.12.4/captures/http/retrieval_config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let got = admin.get("/api/v1/retrieval/config").await;
    assert_eq!(got.status, 200);
    // Every key the UI reads, top level and `web`.
    assert_eq!(keys(&got.body), keys(&capture["body"]));
    assert_eq!(keys(&got.body["web"]), keys(&capture["body"]["web"]));
    assert_eq!(got.body["TOP_K"], 3);
    assert_eq!(got.body["CHUNK_SIZE"], 1000);

    // What the admin page sends back (the whole object, edited), then reload.
    let mut form = got.body.clone();
    form["TOP_K"] = json!(7);
    form["CHUNK_SIZE"] = json!(500);
    form["ENABLE_RAG_HYBRID_SEARCH"] = json!(true);
    form["RELEVANCE_THRESHOLD"] = json!(0.2);
    form["RAG_TEMPLATE"] = json!("Use {{CONTEXT}} to answer {{QUERY}}");
    form["FILE_MAX_SIZE"] = json!("");
    form["web"]["WEB_SEARCH_RESULT_COUNT"] = json!(5);
    form["web"]["WEB_SEARCH_DOMAIN_FILTER_LIST"] = json!(["example.org"]);
    let saved = admin.post("/api/v1/retrieval/config/update", form).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let again = admin.get("/api/v1/retrieval/config").await.body;
    assert_eq!(again["TOP_K"], 7);
    assert_eq!(again["CHUNK_SIZE"], 500);
    assert_eq!(again["ENABLE_RAG_HYBRID_SEARCH"], true);
    assert_eq!(again["RELEVANCE_THRESHOLD"], 0.2);
    assert_eq!(again["RAG_TEMPLATE"], "Use {{CONTEXT}} to answer {{QUERY}}");
    assert_eq!(again["FILE_MAX_SIZE"], Value::Null);
    assert_eq!(again["web"]["WEB_SEARCH_RESULT_COUNT"], 5);
    assert_eq!(
        again["web"]["WEB_SEARCH_DOMAIN_FILTER_LIST"],
        json!(["example.org"])
    );
    // Partial updates leave the rest alone.
    let r = admin
        .post("/api/v1/retrieval/config/update", json!({"TOP_K": 4}))
        .await;
    assert_eq!(r.body["TOP_K"], 4);
    assert_eq!(r.body["CHUNK_SIZE"], 500);

    // Bad input and unsupported engines are refused clearly.
    let bad = admin
        .post("/api/v1/retrieval/config/update", json!({"TOP_K": "many"}))
        .await;
    assert_eq!(bad.status, 422);
    let tika = admin
        .post(
            "/api/v1/retrieval/config/update",
            json!({"CONTENT_EXTRACTION_ENGINE": "tika"}),
        )
        .await;
    assert_eq!(tika.status, 400);
    assert!(tika.body["detail"]
        .as_str()
        .unwrap()
        .contains("not supported"));

    // Embedding settings.
    let e = admin.get("/api/v1/retrieval/embedding").await.body;
    assert_eq!(e["RAG_EMBEDDING_ENGINE"], "");
    assert_eq!(
        e["RAG_EMBEDDING_MODEL"],
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    let e = admin
        .post(
            "/api/v1/retrieval/embedding/update",
            json!({"RAG_EMBEDDING_ENGINE": "ollama", "RAG_EMBEDDING_MODEL": " nomic-embed-text ",
                   "ollama_config": {"url": "http://127.0.0.1:9", "key": ""}}),
        )
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.body["RAG_EMBEDDING_MODEL"], "nomic-embed-text");
    assert_eq!(e.body["ollama_config"]["url"], "http://127.0.0.1:9");
    assert_eq!(
        admin.get("/api/v1/retrieval/embedding").await.body["RAG_EMBEDDING_ENGINE"],
        "ollama"
    );

    // Admin only.
    let user = second_user(&admin, &c, "u@example.com").await;
    assert_eq!(user.get("/api/v1/retrieval/config").await.status, 401);
    assert_eq!(
        user.post("/api/v1/retrieval/config/update", json!({"TOP_K": 1}))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn text_queries_web_guard_and_resets() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;

    let r = admin
        .post(
            "/api/v1/retrieval/process/text",
            json!({"name": "note", "content": "Octopuses have three hearts and blue blood."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let coll = r.body["collection_name"].as_str().unwrap().to_string();
    assert_eq!(coll.len(), 64);
    let q = admin
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": coll, "query": "how many hearts"}),
        )
        .await;
    assert!(
        q.body["documents"][0][0]
            .as_str()
            .unwrap()
            .contains("three hearts"),
        "{}",
        q.body
    );
    assert!(q.body["distances"][0][0].as_f64().unwrap() > 0.5);

    // Hybrid search (BM25 + vectors) through the same endpoint.
    let r = admin
        .post(
            "/api/v1/retrieval/process/text",
            json!({"name": "more", "content": "Squids have three hearts too.\n\nStarfish have no brain at all.", "collection_name": null}),
        )
        .await;
    let coll2 = r.body["collection_name"].as_str().unwrap().to_string();
    admin
        .post(
            "/api/v1/retrieval/config/update",
            json!({"ENABLE_RAG_HYBRID_SEARCH": true}),
        )
        .await;
    let q = admin
        .post(
            "/api/v1/retrieval/query/collection",
            json!({"collection_names": [coll, coll2], "query": "three hearts", "k": 5}),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    let docs: Vec<&str> = q.body["documents"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        docs.iter().any(|d| d.contains("Octopuses")) && docs.iter().any(|d| d.contains("Squids")),
        "{docs:?}"
    );
    admin
        .post(
            "/api/v1/retrieval/config/update",
            json!({"ENABLE_RAG_HYBRID_SEARCH": false}),
        )
        .await;

    // Web loads are refused for loopback / private addresses by default.
    let llm = MockLlm::openai(&["m"]).await;
    for url in [
        llm.url.clone(),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://[::1]:80/".into(),
        "file:///etc/passwd".into(),
    ] {
        let r = admin
            .post("/api/v1/retrieval/process/web", json!({"url": url}))
            .await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
    }
    assert!(
        llm.requests().is_empty(),
        "the guard must stop the request before it is sent"
    );
    // Web search is off until an admin turns it on.
    let r = admin
        .post(
            "/api/v1/retrieval/process/web/search",
            json!({"queries": ["x"]}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Delete by file hash, then reset the store.
    let id = upload_ok(&admin, "n.txt", "text/plain", b"Narwhal tusks are teeth.").await;
    let r = admin
        .post(
            "/api/v1/retrieval/delete",
            json!({"collection_name": format!("file-{id}"), "file_id": id}),
        )
        .await;
    assert_eq!(r.body, json!({"status": true}));
    let q = admin
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": format!("file-{id}"), "query": "narwhal"}),
        )
        .await;
    assert!(
        q.body["documents"][0].as_array().unwrap().is_empty(),
        "{}",
        q.body
    );
    assert_eq!(
        admin
            .post("/api/v1/retrieval/reset/db", json!({}))
            .await
            .status,
        200
    );
    let q = admin
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": coll, "query": "hearts"}),
        )
        .await;
    assert!(q.body["documents"][0].as_array().unwrap().is_empty());
    assert_eq!(
        admin
            .post("/api/v1/retrieval/reset/uploads", json!({}))
            .await
            .body,
        json!(true)
    );
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("uploads"))
            .unwrap()
            .count(),
        0
    );
}

async fn with_provider(admin: &Client, llm: &MockLlm) {
    let mut cfg = admin.get("/openai/config").await.body;
    cfg["ENABLE_OPENAI_API"] = json!(true);
    cfg["OPENAI_API_BASE_URLS"] = json!([llm.url]);
    cfg["OPENAI_API_KEYS"] = json!(["x"]);
    let r = admin.post("/openai/config/update", cfg).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A server with mock embeddings and a mock OpenAI provider; the admin set up.
async fn rag_chat() -> (TestServer, MockEmbed, MockLlm, Client, Client) {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let llm = MockLlm::openai(&["mock-gpt"]).await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    with_provider(&admin, &llm).await;
    (server, mock, llm, c, admin)
}

fn chat_body(content: &str, files: Value, features: Value) -> Value {
    json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": features,
        "session_id": "not-a-socket", "files": files,
        "id": "a-1",
        "message_ids": [{"model_id": "mock-gpt", "message_id": "a-1", "modelIdx": 0}],
        "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": content, "timestamp": 1, "models": ["mock-gpt"]},
        "background_tasks": {"title_generation": false, "tags_generation": false, "follow_up_generation": false}
    })
}

/// The saved assistant message once it is done.
async fn finished_message(c: &Client, chat_id: &str) -> Value {
    for _ in 0..200 {
        let r = c.get(&format!("/api/v1/chats/{chat_id}")).await;
        let m = &r.body["chat"]["history"]["messages"]["a-1"];
        if m["done"] == true {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the answer never finished");
}

fn prompt_text(llm: &MockLlm) -> String {
    llm.chat_requests()
        .iter()
        .map(|s| s.body["messages"].to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn chat_with_attached_file_gets_the_passage_and_keeps_sources() {
    let (_server, _mock, llm, c, admin) = rag_chat().await;
    admin
        .post(
            "/api/v1/retrieval/config/update",
            json!({"RAG_TEMPLATE": "CONTEXT START\n{{CONTEXT}}\nCONTEXT END\nQ: {{QUERY}}"}),
        )
        .await;

    let text = "Lighthouse keeper log.\n\nThe lamp on Skerryvore is lit at dusk and trimmed every four hours.\n";
    let id = upload_ok(&admin, "log.txt", "text/plain", text.as_bytes()).await;
    let file_item = json!([{"type": "file", "id": id, "name": "log.txt", "status": "uploaded",
                            "file": {"id": id, "filename": "log.txt", "data": {"content": "x"}}}]);
    let r = admin
        .post(
            "/api/chat/completions",
            chat_body("How often is the lamp trimmed?", file_item, json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    let msg = finished_message(&admin, &chat_id).await;

    let prompt = prompt_text(&llm);
    assert!(prompt.contains("CONTEXT START"), "{prompt}");
    assert!(prompt.contains("trimmed every four hours"), "{prompt}");
    assert!(
        prompt.contains("<source id=\\\"1\\\" name=\\\"log.txt\\\">"),
        "{prompt}"
    );
    assert!(
        prompt.contains("Q: How often is the lamp trimmed?"),
        "{prompt}"
    );

    let sources = msg["sources"].as_array().expect("sources saved");
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["source"]["id"], json!(id));
    assert!(sources[0]["document"][0]
        .as_str()
        .unwrap()
        .contains("Skerryvore"));
    assert_eq!(sources[0]["metadata"][0]["file_id"], json!(id));
    assert!(sources[0]["source"]["file"]["data"]
        .get("content")
        .is_none());

    // Another user's file id in the body is ignored (no access, no leak).
    let bob = second_user(&admin, &c, "bob@example.com").await;
    let before = llm.chat_requests().len();
    let r = bob
        .post(
            "/api/chat/completions",
            chat_body(
                "What about the lamp?",
                json!([{"type": "file", "id": id}]),
                json!({}),
            ),
        )
        .await;
    if r.status == 200 {
        let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
        let msg = finished_message(&bob, &chat_id).await;
        assert!(
            msg.get("sources").is_none() || msg["sources"].is_null(),
            "{msg}"
        );
        let later: Vec<String> = llm.chat_requests()[before..]
            .iter()
            .map(|s| s.body["messages"].to_string())
            .collect();
        assert!(later.iter().all(|p| !p.contains("Skerryvore")), "{later:?}");
    }
}

#[tokio::test]
async fn memories_crud_query_and_chat_injection() {
    let (_server, _mock, llm, c, admin) = rag_chat().await;

    assert_eq!(admin.get("/api/v1/memories/").await.body, json!([]));
    let a = admin
        .post(
            "/api/v1/memories/add",
            json!({"content": "My dog is called Pixel."}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["type"], "context");
    let b = admin
        .post(
            "/api/v1/memories/add",
            json!({"content": "I prefer tea over coffee.", "type": "user"}),
        )
        .await;
    let bid = b.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .post("/api/v1/memories/add", json!({"content": "  "}))
            .await
            .status,
        400
    );

    let q = admin
        .post(
            "/api/v1/memories/query",
            json!({"content": "what is my dog called", "k": 1}),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["ids"][0][0], a.body["id"]);
    assert_eq!(q.body["documents"][0][0], "My dog is called Pixel.");

    let u = admin
        .post(
            &format!("/api/v1/memories/{bid}/update"),
            json!({"content": "I prefer green tea."}),
        )
        .await;
    assert_eq!(u.body["content"], "I prefer green tea.");
    assert_eq!(
        admin.post("/api/v1/memories/reset", json!({})).await.body,
        json!(true)
    );
    let q = admin
        .post(
            "/api/v1/memories/query",
            json!({"content": "green tea", "k": 1}),
        )
        .await;
    assert_eq!(q.body["ids"][0][0], json!(bid));

    // In a chat with the memory feature on, they reach the model.
    let r = admin
        .post(
            "/api/chat/completions",
            chat_body("Name my dog please", json!([]), json!({"memory": true})),
        )
        .await;
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    finished_message(&admin, &chat_id).await;
    let prompt = prompt_text(&llm);
    assert!(
        prompt.contains("I prefer green tea.") && prompt.contains("Pixel"),
        "{prompt}"
    );

    // Another user sees none of them.
    let bob = second_user(&admin, &c, "bob@example.com").await;
    assert_eq!(bob.get("/api/v1/memories/").await.body, json!([]));
    assert_eq!(
        bob.delete(&format!("/api/v1/memories/{bid}")).await.body,
        json!(false)
    );
    assert_eq!(
        bob.post("/api/v1/retrieval/query/doc", json!({"collection_name": format!("user-memory-{}", admin_id(&admin).await), "query": "dog"}))
            .await
            .status,
        403
    );

    assert_eq!(
        admin.delete(&format!("/api/v1/memories/{bid}")).await.body,
        json!(true)
    );
    assert_eq!(
        admin
            .get("/api/v1/memories/")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        admin.delete("/api/v1/memories/delete/user").await.body,
        json!(true)
    );
    assert_eq!(admin.get("/api/v1/memories/").await.body, json!([]));
    assert_eq!(
        admin
            .post("/api/v1/memories/query", json!({"content": "dog"}))
            .await
            .status,
        404
    );
}

async fn admin_id(c: &Client) -> String {
    c.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn reindex_rebuilds_a_python_data_folder() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture_dir(), tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("webui_secret_key.txt")).unwrap();
    let server = TestServer::start(common::settings_for(tmp.path(), Some(secret.trim()))).await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = c.login("admin@example.com", "Admin-pass-1").await;
    use_mock_embeddings(&admin, &mock).await;
    let alice = c.login("alice@example.com", "Alice-pass-1").await;
    let kb = "c394b1e8-63f4-4b8f-a3ec-e1e026a4f9bd";

    // Nothing is searchable yet: the Chroma store is not read.
    let q = json!({"collection_names": [kb], "query": "green tea water temperature"});
    let r = alice
        .post("/api/v1/retrieval/query/collection", q.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["documents"][0].as_array().unwrap().is_empty());

    let state = server.state.clone().unwrap();
    let sum = open_webui::rag::reindex::run(&state, true).await.unwrap();
    assert_eq!(sum.files, 3, "{sum:?}");
    assert_eq!(sum.files_failed, 0);
    assert_eq!(sum.knowledge_bases, 1);
    assert_eq!(sum.memories, 4);

    let r = alice.post("/api/v1/retrieval/query/collection", q).await;
    assert!(
        r.body["documents"][0][0]
            .as_str()
            .unwrap()
            .contains("Green tea"),
        "{}",
        r.body
    );
    let m = alice
        .post(
            "/api/v1/memories/query",
            json!({"content": "my cat", "k": 1}),
        )
        .await;
    assert!(
        m.body["documents"][0][0].as_str().unwrap().contains("Miso"),
        "{}",
        m.body
    );
    server.stop().await;
}

/// The real local model (`assets/models/`, put there by install.sh): the
/// default engine answers a query with the right passage.
#[tokio::test]
async fn local_embedding_model_when_installed() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/models");
    let present = std::fs::read_dir(&dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if !present {
        eprintln!(
            "skipped: no local embedding model in {} (run ./install.sh)",
            dir.display()
        );
        return;
    }
    let server = TestServer::fresh().await;
    let c = server.client();
    let admin = c.with_token(
        c.signup("Admin", "admin@example.com", "pass-admin-1")
            .await
            .body["token"]
            .as_str()
            .unwrap(),
    );
    let id = upload_ok(
        &admin,
        "animals.md",
        "text/markdown",
        b"# Cats\nCats sleep up to sixteen hours a day.\n\n# Bicycles\nA bicycle chain needs oil every few hundred kilometres.\n",
    )
    .await;
    let r = admin
        .post(
            "/api/v1/retrieval/query/doc",
            json!({"collection_name": format!("file-{id}"), "query": "how long do felines rest", "k": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["documents"][0][0]
            .as_str()
            .unwrap()
            .contains("sixteen hours"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn model_knowledge_and_attached_collections_reach_the_prompt() {
    let (_server, _mock, llm, _c, admin) = rag_chat().await;

    let kb = admin
        .post(
            "/api/v1/knowledge/create",
            json!({"name": "Recipes", "description": ""}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let f = upload_ok(
        &admin,
        "bread.txt",
        "text/plain",
        b"Sourdough bread proofs overnight in the fridge before baking.",
    )
    .await;
    let r = admin
        .post(
            &format!("/api/v1/knowledge/{kb}/file/add"),
            json!({"file_id": f}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A workspace model that carries the knowledge base.
    let r = admin
        .post(
            "/api/v1/models/create",
            json!({"id": "baker", "base_model_id": "mock-gpt", "name": "Baker",
                   "meta": {"knowledge": [{"type": "collection", "id": kb, "name": "Recipes"}]},
                   "params": {}, "access_grants": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut body = chat_body("How long does sourdough bread proof?", json!([]), json!({}));
    body["model"] = json!("baker");
    body["message_ids"][0]["model_id"] = json!("baker");
    body["user_message"]["models"] = json!(["baker"]);
    let r = admin.post("/api/chat/completions", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let msg = finished_message(&admin, r.body["chat_id"].as_str().unwrap()).await;
    assert!(
        prompt_text(&llm).contains("proofs overnight"),
        "{}",
        prompt_text(&llm)
    );
    assert_eq!(msg["sources"][0]["source"]["id"], json!(kb));

    // The collection attached to a message (the `#` picker), whole-document mode.
    let before = llm.chat_requests().len();
    let r = admin
        .post(
            "/api/chat/completions",
            chat_body(
                "Summarise the recipes",
                json!([{"type": "collection", "id": kb, "name": "Recipes", "context": "full"}]),
                json!({}),
            ),
        )
        .await;
    let msg = finished_message(&admin, r.body["chat_id"].as_str().unwrap()).await;
    let later: String = llm.chat_requests()[before..]
        .iter()
        .map(|s| s.body["messages"].to_string())
        .collect();
    assert!(
        later.contains("Sourdough bread proofs overnight"),
        "{later}"
    );
    assert_eq!(msg["sources"][0]["metadata"][0]["name"], "bread.txt");
}

/// `open-webui reindex --data-dir …` on a copy of the Python data folder,
/// with the real local model (skipped when it is not installed).
#[tokio::test]
async fn reindex_command_line() {
    let models = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/models");
    if !std::fs::read_dir(&models)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
    {
        eprintln!(
            "skipped: no local embedding model in {} (run ./install.sh)",
            models.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture_dir(), tmp.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_open-webui"))
        .arg("reindex")
        .arg("--data-dir")
        .arg(tmp.path())
        .env("WEBUI_SECRET_KEY", "k")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("reindexed 3 files (0 failed), 1 knowledge bases (0 file errors), 4 memories"),
        "{err}"
    );
    assert!(tmp.path().join("vector_db").is_dir());
}

/// An API client's `files` reach the provider's prompt too (no chat, no socket).
#[tokio::test]
async fn api_client_files_reach_the_prompt() {
    let (server, _mock, llm, _c, admin) = rag_chat().await;
    let text = "Order 4471 shipped on a Tuesday from the Skerryvore depot.\n";
    let id = upload_ok(&admin, "orders.txt", "text/plain", text.as_bytes()).await;
    for stream in [false, true] {
        let before = llm.chat_requests().len();
        let r = admin
            .http
            .post(server.url("/api/chat/completions"))
            .bearer_auth(admin.token.as_deref().unwrap())
            .json(&json!({"model": "mock-gpt", "stream": stream,
                          "messages": [{"role": "user", "content": "When did order 4471 ship?"}],
                          "files": [{"type": "file", "id": id}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap();
        let sent: Vec<String> = llm.chat_requests()[before..]
            .iter()
            .map(|s| s.body["messages"].to_string())
            .collect();
        assert!(
            sent.iter().any(|p| p.contains("Skerryvore depot")),
            "stream={stream}: {sent:?}"
        );
    }
}

/// Memories reach the prompt in one stable order (case-insensitive, by path
/// and text), whatever order they were saved in.
#[tokio::test]
async fn memory_context_is_in_a_stable_order() {
    let (_server, _mock, llm, _c, admin) = rag_chat().await;
    for content in ["Zeta note", "alpha note", "Beta note"] {
        let r = admin
            .post(
                "/api/v1/memories/add",
                json!({"content": content, "type": "user", "path": "work/project"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = admin
        .post(
            "/api/chat/completions",
            chat_body("what do you remember?", json!([]), json!({"memory": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    finished_message(&admin, &chat_id).await;
    let system = llm.chat_requests().last().unwrap().body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let entries: Vec<&str> = system
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    assert_eq!(
        entries,
        [
            "work/project: alpha note",
            "work/project: Beta note",
            "work/project: Zeta note"
        ],
        "{system}"
    );
}
