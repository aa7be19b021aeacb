//! Memories as a tree of paths, over real HTTP: batches of operations from
//! an API client and from a model's `update_memory` call, browsing by path,
//! and what a batch refused halfway leaves behind (nothing).

mod common;

use std::time::Duration;

use common::scripted::Script;
use common::TestServer;
use serde_json::{json, Value};

async fn setup() -> (TestServer, common::Client, Script) {
    common::scripted::server_with_script().await
}

async fn memories(c: &common::Client) -> Vec<Value> {
    c.get("/api/v1/memories/")
        .await
        .body
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn batches_write_all_or_nothing_and_answer_without_meta() {
    let (_srv, admin, _script) = setup().await;
    let add =
        |content: &str, path: &str| json!({"action": "add", "content": content, "path": path});
    let r = admin
        .post(
            "/api/v1/memories/update",
            json!({"operations": [add("tea", "work//prefs/"), add("boss is Ann", "work")]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body.as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["status"], "created");
    assert_eq!(results[0]["memory"]["path"], "work/prefs");
    assert!(results[0]["memory"].get("meta").is_none(), "{}", r.body);
    let tea = memory(&admin, "tea").await;
    assert_eq!(tea["meta"]["created_by"], "tool");
    assert_eq!(tea["meta"]["model"], Value::Null);

    // The same memory again is skipped, not doubled.
    let again = admin
        .post(
            "/api/v1/memories/update",
            json!({"operations": [add("tea", "work/prefs")]}),
        )
        .await;
    assert_eq!(again.body[0]["status"], "skipped");
    assert_eq!(again.body[0]["reason"], "duplicate");

    // A batch naming a memory that is not the caller's changes nothing.
    let tea = tea["id"].as_str().unwrap().to_string();
    let refused = admin
        .post(
            "/api/v1/memories/update",
            json!({"operations": [
                {"action": "move", "id": tea, "path": "home"},
                {"action": "remove", "id": "no-such-memory"},
            ]}),
        )
        .await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(memory(&admin, "tea").await["path"], "work/prefs");

    for (body, status) in [
        (json!({"operations": []}), 400),
        (
            json!({"operations": [{"action": "replace", "content": "x"}]}),
            400,
        ),
        (
            json!({"operations": [{"action": "add", "content": "x", "path": "a/../b"}]}),
            400,
        ),
        (json!({"operations": [{"action": "explode"}]}), 422),
    ] {
        let r = admin.post("/api/v1/memories/update", body.clone()).await;
        assert_eq!(r.status, status, "{body} -> {}", r.body);
    }
    assert_eq!(memories(&admin).await.len(), 2);

    // Browsing: the path read names parents and children, without meta.
    admin
        .post(
            "/api/v1/memories/update",
            json!({"operations": [add("green", "work/prefs/tea")]}),
        )
        .await;
    let read = admin
        .post("/api/v1/memories/path", json!({"path": "work/prefs"}))
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["parents"], json!(["work"]));
    assert_eq!(read.body["children"], json!(["work/prefs/tea"]));
    let contents: Vec<&str> = read.body["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(m.get("meta").is_none());
            m["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(contents, ["tea", "green", "boss is Ann"]);
    let groups = admin.post("/api/v1/memories/paths", json!({})).await;
    assert_eq!(groups.body["count"], 3, "{}", groups.body);
    let found = admin
        .post("/api/v1/memories/search", json!({"query": "ANN"}))
        .await;
    assert_eq!(found.body.as_array().unwrap().len(), 1, "{}", found.body);
    assert_eq!(
        admin
            .post("/api/v1/memories/path", json!({"path": "/"}))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn a_models_batch_records_the_chat_and_the_model_id() {
    let (_srv, admin, script) = setup().await;
    let ops = json!({"operations": [{"action": "add", "content": "likes tea", "path": "prefs"}]});
    script.queue(json!({"calls": [["call_m", "update_memory", ops.to_string()]]}));
    script.queue(json!({"text": "Noted."}));
    let body = json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": {"memory": true},
        "session_id": "not-a-socket", "id": "a-1", "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": "remember tea", "timestamp": 1, "models": ["mock-gpt"]},
        "background_tasks": {},
    });
    let started = admin.post("/api/chat/completions", body).await;
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let mut list = Vec::new();
    for _ in 0..200 {
        list = memories(&admin).await;
        if !list.is_empty() && script.requests().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["meta"]["model"], "mock-gpt");
    assert_eq!(list[0]["meta"]["chat_id"], json!(chat_id));
    assert_eq!(list[0]["meta"]["message_id"], "a-1");
    let second = script.requests()[1].clone();
    let result = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result went back to the model")
        .clone();
    let parsed: Value = serde_json::from_str(result["content"].as_str().unwrap()).unwrap();
    assert_eq!(parsed[0]["status"], "created");
    assert!(parsed[0]["memory"].get("meta").is_none(), "{parsed}");
}

/// The stored memory with this text.
async fn memory(c: &common::Client, content: &str) -> Value {
    memories(c)
        .await
        .into_iter()
        .find(|m| m["content"] == content)
        .unwrap_or_else(|| panic!("no memory says {content:?}"))
}
