//! Chats filed in a folder: who may start one there, and the folder's system
//! prompt reaching the model for members it is shared with and for
//! automations filed in it.

mod common;

use std::time::Duration;

use common::scripted::Script;
use common::{Client, TestServer};
use serde_json::{json, Value};

const MODEL: &str = "mock-gpt";
const PROMPT: &str = "Answer as the harbour master.";

async fn setup() -> (TestServer, Client, Script) {
    let script = Script::default();
    let base = common::serve(script.router()).await;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    common::connect_openai(&admin, &format!("{base}/v1")).await;
    common::open_model_to_everyone(&admin, MODEL, "Helper").await;
    (srv, admin, script)
}

async fn folder(owner: &Client) -> String {
    let r = owner
        .post("/api/v1/folders/", json!({"name": "Harbour"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = owner
        .post(
            &format!("/api/v1/folders/{id}/update"),
            json!({"name": "Harbour", "data": {"system_prompt": PROMPT}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

/// Starts a chat in the folder; the answer's status and body.
async fn start_in(c: &Client, folder_id: &str, question: &str) -> (u16, Value) {
    let body = json!({
        "stream": true, "model": MODEL, "params": {}, "folder_id": folder_id,
        "session_id": "not-a-socket", "id": "a-1", "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": question, "timestamp": 1, "models": [MODEL]},
        "background_tasks": {},
    });
    let r = c.post("/api/chat/completions", body).await;
    (r.status.as_u16(), r.body)
}

/// The system message of the request that carried `question`.
async fn system_sent(script: &Script, question: &str) -> String {
    for _ in 0..400 {
        let mut all = script.requests();
        all.extend(script.task_requests.lock().unwrap().clone());
        let found = all.into_iter().find(|r| {
            r["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["content"] == question))
        });
        if let Some(r) = found {
            return r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["role"] == "system")
                .and_then(|m| m["content"].as_str())
                .unwrap_or("")
                .to_string();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no request carried {question:?}");
}

#[tokio::test]
async fn a_writing_member_starts_chats_in_a_shared_folder_under_its_prompt() {
    let (srv, admin, script) = setup().await;
    let (bea, bea_id) = common::add_user_with_id(&srv, &admin, "Bea").await;
    let (carl, _) = common::add_user_with_id(&srv, &admin, "Carl").await;
    let fid = folder(&admin).await;

    // Not shared yet: the folder is nobody else's to file chats in.
    let (status, body) = start_in(&bea, &fid, "may I moor?").await;
    assert_eq!(status, 404, "{body}");

    let grants = json!({"access_grants": [
        {"principal_type": "user", "principal_id": bea_id, "permission": "read"},
        {"principal_type": "user", "principal_id": bea_id, "permission": "write"},
    ]});
    let r = admin
        .post(&format!("/api/v1/folders/{fid}/access/update"), grants)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    script.queue(json!({"text": "Berth four."}));
    let (status, body) = start_in(&bea, &fid, "where may I moor?").await;
    assert_eq!(status, 200, "{body}");
    let chat_id = body["chat_id"].as_str().unwrap().to_string();
    assert!(system_sent(&script, "where may I moor?")
        .await
        .starts_with(PROMPT));
    let chat = bea.get(&format!("/api/v1/chats/{chat_id}")).await;
    assert_eq!(chat.body["folder_id"], json!(fid), "{}", chat.body);

    // Someone the folder is not shared with still cannot file chats there.
    let (status, body) = start_in(&carl, &fid, "and me?").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn an_automation_filed_in_a_folder_runs_under_its_prompt() {
    let (_srv, admin, script) = setup().await;
    let fid = folder(&admin).await;
    let prompt = "List the ships in port.";
    let created = admin
        .post(
            "/api/v1/automations/create",
            json!({
                "name": "Harbour log", "folder_id": fid, "is_active": false,
                "data": {"prompt": prompt, "model_id": MODEL,
                         "rrule": "DTSTART:20990101T090000\nRRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0",
                         "target": {"type": "chat"}},
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(&format!("/api/v1/automations/{id}/run"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(system_sent(&script, prompt).await.starts_with(PROMPT));
}
