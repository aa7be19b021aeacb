//! Message actions (Python functions: refused honestly) and tool-call approval
//! answers, over real HTTP.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

fn insert_function(srv: &TestServer, id: &str, kind: &str, active: bool) {
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    db.execute(
        "INSERT INTO function (id, user_id, name, type, content, meta, valves, is_active, is_global, updated_at, created_at) \
         VALUES (?1, NULL, ?1, ?2, 'class Action: pass', '{}', '{}', ?3, 0, 0, 0)",
        rusqlite::params![id, kind, active],
    )
    .unwrap();
}

#[tokio::test]
async fn chat_actions_answer_honestly() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let ann = common::add_user(&srv, &admin, "Ann").await;
    insert_function(&srv, "summarize", "action", true);
    insert_function(&srv, "sleepy", "action", false);
    insert_function(&srv, "filt", "filter", true);

    let r = ann
        .post("/api/chat/actions/nope", json!({"model": "m", "id": "x"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["detail"], "Action not found: nope");
    for id in ["sleepy", "filt"] {
        let r = ann
            .post(&format!("/api/chat/actions/{id}"), json!({"model": "m"}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["detail"], format!("Action not available: {id}"));
    }
    let r = ann
        .post(
            "/api/chat/actions/summarize.short",
            json!({"model": "m", "chat_id": "local:abc"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("cannot run Python functions"));

    // Someone else's chat looks missing; the admin's chat is not Ann's.
    let chat = admin
        .post("/api/v1/chats/new", json!({"chat": {"title": "a"}}))
        .await;
    let chat_id = chat.body["id"].as_str().unwrap();
    let r = ann
        .post(
            "/api/chat/actions/summarize",
            json!({"model": "m", "chat_id": chat_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = ann
        .post(
            "/api/chat/actions/summarize",
            json!({"model": "m", "chat_id": "channel:x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        srv.client()
            .post("/api/chat/actions/summarize", json!({}))
            .await
            .status,
        401
    );

    srv.stop().await;
}

#[tokio::test]
async fn resolve_tool_call_refusals() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let ann = common::add_user(&srv, &admin, "Ann").await;

    let history = json!({
        "currentId": "a1",
        "messages": {
            "u1": {"id": "u1", "role": "user", "content": "hi", "parentId": null, "childrenIds": ["a1"]},
            "a1": {"id": "a1", "role": "assistant", "content": "", "parentId": "u1", "childrenIds": [],
                   "output": [
                       {"type": "function_call", "call_id": "done1", "name": "t", "status": "completed"},
                       {"type": "function_call_output", "call_id": "done1", "output": "ok"},
                       {"type": "function_call", "call_id": "wait1", "name": "t", "status": "pending"}
                   ]}
        }
    });
    let chat = ann
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "t", "history": history, "messages": []}}),
        )
        .await;
    assert_eq!(chat.status, 200, "{}", chat.body);
    let id = chat.body["id"].as_str().unwrap();
    let url = |m: &str| format!("/api/v1/chats/{id}/messages/{m}/resolve");

    let r = ann
        .post(&url("a1"), json!({"call_id": "done1", "action": "approve"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["detail"], "Tool call has already been resolved.");
    let r = ann
        .post(&url("a1"), json!({"call_id": "nope", "action": "reject"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["detail"], "Tool call not found.");
    let r = ann
        .post(&url("zz"), json!({"call_id": "done1", "action": "reject"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = ann
        .post(&url("a1"), json!({"call_id": "wait1", "action": "approve"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("no model"));
    let r = ann
        .post(&url("a1"), json!({"call_id": "wait1", "action": "maybe"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Not the owner: refused without revealing the chat.
    let r = admin
        .post(&url("a1"), json!({"call_id": "wait1", "action": "approve"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("You do not have permission"));

    srv.stop().await;
}
