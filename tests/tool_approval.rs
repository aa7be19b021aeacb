//! Tool approval over the real wire: with tool permissions on and the chat's
//! `tool_approval_mode` set to `ask`, a saved chat's reply pauses before each
//! tool call until the user approves or rejects it through `/resolve`; a
//! temporary chat asks the user's tab instead. A scripted OpenAI-compatible
//! provider plays the model.

mod common;

use std::time::Duration;

use common::scripted::Script;
use common::tab::{answering_tab, Tab};
use serde_json::{json, Value};

fn turn(chat_id: Option<&str>, session: &str, n: u32) -> Value {
    let (uid, aid) = (format!("u-{n}"), format!("a-{n}"));
    let mut body = json!({
        "stream": true, "model": "mock-gpt", "features": {},
        "params": {"tool_approval_mode": "ask"},
        "session_id": session, "id": aid, "parent_id": null,
        "user_message": {"id": uid, "parentId": null, "childrenIds": [aid], "role": "user",
                          "content": "what time is it twice?", "timestamp": 1, "models": ["mock-gpt"]},
        "messages": [{"role": "user", "content": "what time is it twice?"}],
        "background_tasks": {},
    });
    if let Some(c) = chat_id {
        body["chat_id"] = json!(c);
    }
    body
}

async fn permissions_on(admin: &common::Client) {
    let mut form = admin.get("/api/v1/chats/config").await.body;
    form["ENABLE_TOOL_PERMISSIONS"] = json!(true);
    let saved = admin.post("/api/v1/chats/config", form).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

fn output(m: &Value) -> Vec<Value> {
    m["output"].as_array().cloned().unwrap_or_default()
}

fn call<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["type"] == "function_call" && i["call_id"] == id)
        .unwrap_or_else(|| panic!("no call {id} in {items:?}"))
}

fn result<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == id)
}

/// The stored reply once `ready` says so.
async fn stored_when(
    client: &common::Client,
    chat_id: &str,
    id: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let chat = client.get(&format!("/api/v1/chats/{chat_id}")).await.body;
        let m = chat["chat"]["history"]["messages"][id].clone();
        if ready(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the reply {id} never got there");
}

fn waits_on(id: &'static str) -> impl Fn(&Value) -> bool {
    move |m: &Value| {
        output(m)
            .iter()
            .any(|i| i["call_id"] == id && i["status"] == "pending" && i["type"] == "function_call")
    }
}

#[tokio::test]
async fn each_call_waits_for_the_users_decision() {
    let (_srv, admin, script) = common::scripted::server_with_script().await;
    permissions_on(&admin).await;
    script.queue(json!({"calls": [
        ["call_a", "get_current_timestamp", "{}"],
        ["call_b", "get_current_timestamp", "{}"],
    ]}));
    let started = admin
        .post("/api/chat/completions", turn(None, "no-tab", 1))
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();

    // Paused before anything ran: the first call shown, the second queued.
    let m = stored_when(&admin, &chat_id, "a-1", waits_on("call_a")).await;
    let items = output(&m);
    assert_eq!(m["done"], json!(false));
    assert_eq!(call(&items, "call_b")["status"], "queued");
    assert!(result(&items, "call_a").is_none() && result(&items, "call_b").is_none());
    assert_eq!(m["meta"]["params"]["tool_approval_mode"], "ask");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(script.requests().len(), 1, "the model waits too");

    // Approving the first runs it and shows the second.
    let path = format!("/api/v1/chats/{chat_id}/messages/a-1/resolve");
    let approved = admin
        .post(&path, json!({"call_id": "call_a", "action": "approve"}))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["task_ids"].as_array().unwrap().len(), 1);
    let m = stored_when(&admin, &chat_id, "a-1", waits_on("call_b")).await;
    let items = output(&m);
    assert_eq!(call(&items, "call_a")["status"], "completed");
    assert_eq!(call(&items, "call_a")["approved"], json!(true));
    let ran = result(&items, "call_a").expect("the approved call ran");
    assert!(ran["output"][0]["text"].as_str().unwrap().contains("20"));
    assert!(result(&items, "call_b").is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(script.requests().len(), 1, "one call is still undecided");

    // Rejecting the second leaves nothing to decide: the model reads both.
    script.queue(json!({"text": "One of them ran."}));
    let rejected = admin
        .post(&path, json!({"call_id": "call_b", "action": "reject"}))
        .await;
    assert_eq!(rejected.status, 200, "{}", rejected.body);
    let again = admin
        .post(&path, json!({"call_id": "call_b", "action": "approve"}))
        .await;
    assert_eq!(again.status, 409, "a rejected call stays rejected");
    let m = stored_when(&admin, &chat_id, "a-1", |m| m["done"] == json!(true)).await;
    assert_eq!(m["content"], "One of them ran.");
    let items = output(&m);
    assert_eq!(call(&items, "call_b")["status"], "rejected");
    let follow_up = script.requests()[1].clone();
    let tools: Vec<&Value> = follow_up["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(tools.len(), 2, "{follow_up}");
    assert_eq!(tools[0]["tool_call_id"], "call_a");
    assert!(tools[1]["content"].as_str().unwrap().contains("declined"));
}

#[tokio::test]
async fn without_the_permission_switch_calls_run_at_once() {
    let (_srv, admin, script) = common::scripted::server_with_script().await;
    script.queue(json!({"calls": [["call_a", "get_current_timestamp", "{}"]]}));
    script.queue(json!({"text": "It is late."}));
    let started = admin
        .post("/api/chat/completions", turn(None, "no-tab", 1))
        .await;
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let m = stored_when(&admin, &chat_id, "a-1", |m| m["done"] == json!(true)).await;
    assert_eq!(m["content"], "It is late.");
    assert_eq!(call(&output(&m), "call_a")["status"], "completed");
}

#[tokio::test]
async fn a_temporary_chat_asks_the_tab_for_each_call() {
    let (srv, admin, script) = common::scripted::server_with_script().await;
    permissions_on(&admin).await;
    let token = admin.token.clone().unwrap();

    // A tab that approves: the call runs.
    let (sid, asked) = answering_tab(&srv, &token, "confirmation", Tab::Answers(json!(true))).await;
    script.queue(json!({"calls": [["call_a", "get_current_timestamp", "{}"]]}));
    script.queue(json!({"text": "Approved and done."}));
    let r = admin
        .post("/api/chat/completions", turn(Some("local:t1"), &sid, 1))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let follow_up = wait_for_requests(&script, 2).await;
    let tool = last_tool_message(&follow_up);
    assert!(!tool.contains("did not approve"), "{tool}");
    let got = asked.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["data"]["data"]["tool_call"]["name"],
        "get_current_timestamp"
    );
    assert_eq!(got[0]["chat_id"], "local:t1");

    // A tab that says no: the model reads that the call did not run.
    let (sid, _) = answering_tab(&srv, &token, "confirmation", Tab::Answers(json!(false))).await;
    script.queue(json!({"calls": [["call_b", "get_current_timestamp", "{}"]]}));
    script.queue(json!({"text": "Fine."}));
    admin
        .post("/api/chat/completions", turn(Some("local:t2"), &sid, 2))
        .await;
    let follow_up = wait_for_requests(&script, 4).await;
    assert!(last_tool_message(&follow_up).contains("did not approve"));
}

async fn wait_for_requests(script: &Script, n: usize) -> Value {
    for _ in 0..200 {
        let seen = script.requests();
        if seen.len() >= n {
            return seen[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the model was asked fewer than {n} times");
}

fn last_tool_message(request: &Value) -> String {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}
