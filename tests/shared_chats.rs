//! A chat shared with "Allow replies": a granted member adds turns to the
//! owner's live chat (attributed to them, without the owner's chat
//! variables), "Clone only" and strangers are refused, and a joined tab
//! follows read access.

mod common;

use common::mock_llm::MockLlm;
use common::{add_user_with_role, admin, connect_openai, Client, TestServer};
use serde_json::{json, Value};

const MODEL: &str = "codename";

async fn setup() -> (TestServer, MockLlm, Client, Client, String, Client) {
    let llm = MockLlm::openai(&["mock-gpt"]).await;
    let srv = TestServer::fresh().await;
    let owner = admin(&srv).await;
    connect_openai(&owner, &llm.url).await;
    owner.get("/api/models").await;
    let r = owner
        .post(
            "/api/v1/models/create",
            json!({"id": MODEL, "name": MODEL, "base_model_id": "mock-gpt", "meta": {},
                   "params": {"system": "Codename: {{chat.variables.codename | text}}."}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Admins, so that model access is never what refuses them.
    let (member, member_id) = add_user_with_role(&srv, &owner, "Mia", "admin").await;
    let (stranger, _) = add_user_with_role(&srv, &owner, "Sam", "admin").await;
    (srv, llm, owner, member, member_id, stranger)
}

fn turn(chat_id: &str, n: u32, parent: &str, question: &str) -> Value {
    let (u, a) = (format!("u{n}"), format!("a{n}"));
    json!({
        "model": MODEL, "stream": true, "chat_id": chat_id, "id": a, "parent_id": parent,
        "user_message": {"id": u, "parentId": parent, "childrenIds": [a], "role": "user",
                          "content": question, "timestamp": n, "models": [MODEL]},
        "message_ids": [{"model_id": MODEL, "message_id": a, "modelIdx": 0}],
        "background_tasks": {},
    })
}

/// The system text of the provider request that carried `question`.
fn system_for(llm: &MockLlm, question: &str) -> String {
    let req = llm
        .chat_requests()
        .into_iter()
        .find(|r| r.body.to_string().contains(question))
        .expect("the provider got the question");
    req.body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn share(owner: &Client, chat_id: &str, member_id: &str, mode: Value) {
    let r = owner
        .post(
            &format!("/api/v1/chats/{chat_id}/share"),
            json!({"share_mode": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let grants =
        json!([{"principal_type": "user", "principal_id": member_id, "permission": "read"}]);
    let r = owner
        .post(
            &format!("/api/v1/chats/shared/{chat_id}/access/update"),
            json!({"access_grants": grants, "share_mode": mode}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_member_replies_in_the_owners_chat_only_while_replies_are_allowed() {
    let (srv, llm, owner, member, member_id, stranger) = setup().await;
    let history = json!({"currentId": "a1", "messages": {
        "u1": {"id": "u1", "role": "user", "content": "Plan the trip", "timestamp": 1,
               "models": [MODEL], "childrenIds": ["a1"], "parentId": null},
        "a1": {"id": "a1", "role": "assistant", "content": "Sure.", "parentId": "u1",
               "childrenIds": [], "model": MODEL, "done": true, "timestamp": 2}}});
    let r = owner
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "Trip", "models": [MODEL], "history": history}}),
        )
        .await;
    let chat_id = r.body["id"].as_str().unwrap().to_string();
    let r = owner
        .post(
            &format!("/api/v1/chats/{chat_id}"),
            json!({"chat": {}, "variables": {"codename": "Bluebird"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Not shared yet: the member cannot add a turn.
    let r = member
        .post("/api/chat/completions", turn(&chat_id, 2, "a1", "may I?"))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    share(&owner, &chat_id, &member_id, json!("continue")).await;
    let r = owner
        .post(
            "/api/chat/completions",
            turn(&chat_id, 2, "a1", "owner asks"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = member
        .post(
            "/api/chat/completions",
            turn(&chat_id, 3, "a2", "member asks"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = stranger
        .post(
            "/api/chat/completions",
            turn(&chat_id, 4, "a3", "stranger asks"),
        )
        .await;
    assert_eq!(
        r.status, 404,
        "a reader without a grant may not write: {}",
        r.body
    );

    assert_eq!(system_for(&llm, "owner asks"), "Codename: Bluebird.");
    assert_eq!(
        system_for(&llm, "member asks"),
        "Codename: .",
        "the owner's variables stay private"
    );

    let chat = owner.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    let messages = &chat["chat"]["history"]["messages"];
    assert_eq!(messages["u3"]["user_id"], member_id.as_str());
    assert_eq!(
        messages["u3"]["user"],
        json!({"id": member_id, "name": "Mia"})
    );
    assert_eq!(messages["a3"]["content"], "Hello from the mock.");
    assert_eq!(messages["a3"]["user_id"], member_id.as_str());
    assert_eq!(chat["chat"]["history"]["currentId"], "a3");
    assert_eq!(chat["variables"], json!({"codename": "Bluebird"}));

    // The member's view keeps meta on their own reply only.
    let seen = member.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    assert_eq!(seen["variables"], json!({}));
    assert!(
        seen["chat"]["history"]["messages"]["a3"]
            .get("meta")
            .is_some(),
        "{seen}"
    );
    assert!(
        seen["chat"]["history"]["messages"]["a2"]
            .get("meta")
            .is_none(),
        "{seen}"
    );

    // Back to "Clone only": the live chat closes to the member.
    share(&owner, &chat_id, &member_id, Value::Null).await;
    let r = member
        .post("/api/chat/completions", turn(&chat_id, 5, "a3", "and now?"))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let chat = owner.get(&format!("/api/v1/chats/{chat_id}")).await.body;
    assert!(chat["chat"]["history"]["messages"].get("u5").is_none());
    srv.stop().await;
}
