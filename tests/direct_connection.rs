//! Chats with a model of the user's own direct connection: the server asks
//! the user's tab over its socket (`request:chat:completion`, acknowledged)
//! and stores what the tab forwards on the private channel. The tab here is a
//! small Engine.IO v4 / Socket.IO v5 client over a WebSocket, because it must
//! answer the server's acknowledgement requests.

mod common;

use std::sync::{Arc, Mutex};

use common::TestServer;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// How the fake tab answers each request, in order.
#[derive(Clone)]
enum Answer {
    /// Forward these frames, then `{"done": true}`, then acknowledge `{status: true}`.
    Stream(Vec<Value>),
    /// Acknowledge with this value (a whole completion or a refusal).
    Ack(Value),
}

type Requests = Arc<Mutex<Vec<Value>>>;

/// Connects a tab for `token`; returns its session id and what it was asked.
async fn tab(srv: &TestServer, token: &str, answers: Vec<Answer>) -> (String, Requests) {
    let (mut ws, sid) = common::tab::signed_in(srv, token).await;
    let requests: Requests = Arc::default();
    let seen = requests.clone();
    tokio::spawn(async move {
        let mut answers = answers.into_iter();
        while let Some(Ok(m)) = ws.next().await {
            let Ok(t) = m.to_text() else { continue };
            if t == "2" {
                let _ = ws.send(Message::text("3")).await;
                continue;
            }
            let Some((digits, call)) = common::tab::call_of(t) else {
                continue;
            };
            let data = &call["data"];
            if data["type"] != "request:chat:completion" {
                continue;
            }
            let request = data["data"].clone();
            seen.lock().unwrap().push(request.clone());
            let channel = request["channel"].as_str().unwrap().to_string();
            let ack = match answers.next() {
                Some(Answer::Stream(frames)) => {
                    for f in frames.into_iter().chain([json!({"done": true})]) {
                        let _ = ws
                            .send(Message::text(format!("42{}", json!([channel, f]))))
                            .await;
                    }
                    json!({"status": true})
                }
                Some(Answer::Ack(v)) => v,
                None => json!({"error": "no answer lined up"}),
            };
            let _ = ws.send(common::tab::ack(&digits, &ack)).await;
        }
    });
    (sid, requests)
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    let body = json!({"object": "chat.completion.chunk",
                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Value::String(format!("data: {body}"))
}

fn turn(session_id: &str, content: &str, stream: bool) -> Value {
    json!({
        "stream": stream, "model": "my-own-model", "params": {}, "features": {},
        "session_id": session_id, "id": "a-1",
        "model_item": {"id": "my-own-model", "name": "my-own-model", "direct": true, "urlIdx": 0,
                       "owned_by": "openai", "connection_type": "external"},
        "message_ids": [{"model_id": "my-own-model", "message_id": "a-1", "modelIdx": 0}],
        "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": content, "timestamp": 1, "models": ["my-own-model"]},
        "background_tasks": {}
    })
}

/// Waits (bounded) until the reply is done or failed, and returns it.
async fn reply(c: &common::Client, chat_id: &str) -> Value {
    common::scripted::finished_reply(c, chat_id, "a-1").await
}

async fn ask(c: &common::Client, body: Value) -> Value {
    let r = c.post("/api/chat/completions", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let chat_id = r.body["chat_id"].as_str().unwrap().to_string();
    reply(c, &chat_id).await
}

#[tokio::test]
async fn the_callers_tab_answers_and_the_reply_is_stored() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (bea, bea_id) = common::add_user_with_id(&srv, &admin, "Bea").await;
    let token = bea.token.clone().unwrap();
    let usage = json!({"prompt_tokens": 3, "completion_tokens": 2});
    let (sid, requests) = tab(
        &srv,
        &token,
        vec![
            Answer::Stream(vec![
                chunk(json!({"role": "assistant", "content": ""}), None),
                chunk(json!({"content": "hi "}), None),
                // A frame may also come as an object.
                json!({"choices": [{"index": 0, "delta": {"content": "there"}}]}),
                Value::String(format!(
                    "data: {}",
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage})
                )),
            ]),
            Answer::Ack(json!({"object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "whole answer"}}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 2}})),
            Answer::Ack(json!({"error": {"message": "invalid api key"}})),
        ],
    )
    .await;

    let a = ask(&bea, turn(&sid, "hello", true)).await;
    assert_eq!(a["content"], "hi there", "{a}");
    assert_eq!(a["usage"]["input_tokens"], 3, "{a}");
    {
        let reqs = requests.lock().unwrap();
        let r = &reqs[0];
        assert_eq!(r["session_id"], sid.as_str());
        assert_eq!(r["model"]["id"], "my-own-model");
        assert_eq!(r["form_data"]["model"], "my-own-model");
        assert_eq!(r["form_data"]["stream"], true);
        assert_eq!(
            r["form_data"]["messages"],
            json!([{"role": "user", "content": "hello"}])
        );
        assert!(r["channel"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{bea_id}:{sid}:")));
    }

    // A non-streamed request: the tab acknowledges with the whole answer.
    let a = ask(&bea, turn(&sid, "hello again", false)).await;
    assert_eq!(a["content"], "whole answer", "{a}");
    assert_eq!(requests.lock().unwrap()[1]["form_data"]["stream"], false);

    // A refusal is the reply's error, in the tab's words.
    let a = ask(&bea, turn(&sid, "once more", true)).await;
    assert!(a["error"].to_string().contains("invalid api key"), "{a}");
    assert_eq!(a["content"], "");
}

#[tokio::test]
async fn only_the_callers_own_live_tab_is_asked() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (owner, _) = common::add_user_with_id(&srv, &admin, "Owner").await;
    let (stranger, _) = common::add_user_with_id(&srv, &admin, "Stranger").await;
    let (sid, requests) = tab(
        &srv,
        owner.token.as_deref().unwrap(),
        vec![Answer::Stream(vec![chunk(
            json!({"content": "x"}),
            Some("stop"),
        )])],
    )
    .await;

    let a = ask(&stranger, turn(&sid, "use their provider", true)).await;
    assert!(
        a["error"]
            .to_string()
            .contains("Client session disconnected"),
        "{a}"
    );
    let a = ask(&owner, turn("no-such-session", "hello", true)).await;
    assert!(
        a["error"]
            .to_string()
            .contains("Client session disconnected"),
        "{a}"
    );
    assert!(requests.lock().unwrap().is_empty());
}
