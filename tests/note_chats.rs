//! A chat opened from a note is given the note's attached files as context,
//! and its system prompt names the note.

mod common;
#[path = "data/support.rs"]
mod support;

use serde_json::{json, Value};
use support::upload_ok;

const FACT: &str = "The pilot boat waits at the lighthouse at noon.";

#[tokio::test]
async fn a_note_chat_is_given_the_notes_files() {
    let (srv, admin, script) = common::scripted::server_with_script().await;
    srv.state
        .clone()
        .unwrap()
        .config
        .set_many(vec![("notes.enable", json!(true))])
        .await
        .unwrap();
    let file_id = upload_ok(&admin, "pilot.txt", "text/plain", FACT.as_bytes()).await;
    let picture = json!({"type": "image", "id": "pic", "url": "data:image/png;base64,AAAA"});
    let entry = json!({"type": "file", "id": file_id, "url": file_id, "name": "pilot.txt",
                       "status": "uploaded", "collection_name": format!("file-{file_id}")});
    let note = admin
        .post(
            "/api/v1/notes/create",
            json!({"title": "Harbour", "data": {"content": {"md": "see the file"},
                   "files": [entry, picture]}}),
        )
        .await;
    assert_eq!(note.status, 200, "{}", note.body);
    let note_id = note.body["id"].as_str().unwrap().to_string();

    // Asks in the chat as the browser does; what the model was sent.
    let ask = |chat_id: String, question: &'static str| {
        let (admin, script) = (
            admin.with_token(admin.token.as_deref().unwrap()),
            script.clone(),
        );
        async move {
            let body = json!({
                "stream": true, "model": "mock-gpt", "params": {}, "chat_id": chat_id,
                "session_id": "not-a-socket", "id": "a-1", "parent_id": null,
                "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"],
                                 "role": "user", "content": question, "timestamp": 1,
                                 "models": ["mock-gpt"]},
                "background_tasks": {},
            });
            let r = admin.post("/api/chat/completions", body).await;
            assert_eq!(r.status, 200, "{}", r.body);
            for _ in 0..200 {
                let found = script
                    .requests()
                    .into_iter()
                    .find(|r| r["messages"].to_string().contains(question));
                if let Some(found) = found {
                    return found;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the model was never asked {question:?}");
        }
    };
    let opened = admin
        .post(&format!("/api/v1/notes/{note_id}/chat"), json!({}))
        .await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    let chat_id = opened.body["id"].as_str().unwrap().to_string();
    let system = opened.body["chat"]["params"]["system"]
        .as_str()
        .unwrap_or("");
    assert!(system.contains(&note_id), "{}", opened.body);
    script.queue(json!({"text": "At noon."}));
    let sent = ask(chat_id, "when does the pilot boat wait?").await;
    assert!(sent["messages"].to_string().contains(FACT), "{sent}");
    assert!(
        !sent["messages"].to_string().contains("AAAA"),
        "pictures stay out"
    );

    // An ordinary chat is not given the note's files.
    let plain = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "x", "models": ["mock-gpt"], "history": {"messages": {}}}}),
        )
        .await;
    let plain_id = plain.body["id"].as_str().unwrap().to_string();
    script.queue(json!({"text": "No idea."}));
    let sent: Value = ask(plain_id, "and the pilot boat?").await;
    assert!(!sent["messages"].to_string().contains(FACT), "{sent}");
}
