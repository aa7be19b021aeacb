//! Models answering in channels: a mention (or a reply to a model's message)
//! gets the model's answer written into a channel message, in the thread or
//! in the channel as `CHANNEL_MODEL_RESPONSE_MODE` says.

mod common;

use std::time::Duration;

use common::scripted::Script;
use common::{Client, TestServer};
use serde_json::{json, Value};

async fn setup() -> (TestServer, Client, Script) {
    let script = Script::default();
    let base = common::serve(script.router()).await;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    common::connect_openai(&admin, &format!("{base}/v1")).await;
    common::enable_channels(&srv).await;
    (srv, admin, script)
}

async fn channel(c: &Client) -> String {
    let r = c
        .post("/api/v1/channels/create", json!({"name": "harbour"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn say(c: &Client, ch: &str, form: Value) -> String {
    let r = c
        .post(&format!("/api/v1/channels/{ch}/messages/post"), form)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// Every message of the channel, thread replies included.
async fn everything(c: &Client, ch: &str) -> Vec<Value> {
    let top = c.get(&format!("/api/v1/channels/{ch}/messages")).await;
    let mut all = top.body.as_array().cloned().unwrap_or_default();
    for m in top.body.as_array().cloned().unwrap_or_default() {
        let id = m["id"].as_str().unwrap();
        let t = c
            .get(&format!("/api/v1/channels/{ch}/messages/{id}/thread"))
            .await;
        all.extend(t.body.as_array().cloned().unwrap_or_default());
    }
    all
}

/// The model's finished answers (`meta.done`), once there are `n`.
async fn answers(c: &Client, ch: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let mut done: Vec<Value> = everything(c, ch)
            .await
            .into_iter()
            .filter(|m| m["meta"]["model_id"].is_string() && m["meta"]["done"] == true)
            .collect();
        done.sort_by_key(|m| m["created_at"].as_i64());
        done.dedup_by(|a, b| a["id"] == b["id"]);
        if done.len() >= n {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the model did not answer {n} time(s) in the channel");
}

#[tokio::test]
async fn a_mentioned_model_answers_in_the_thread_and_again_when_replied_to() {
    let (_srv, admin, script) = setup().await;
    let ch = channel(&admin).await;
    script.queue(json!({"text": "High tide is at noon."}));
    let asked = say(
        &admin,
        &ch,
        json!({"content": "<@M:mock-gpt|Tidy> when is high tide?"}),
    )
    .await;
    let [reply] = answers(&admin, &ch, 1).await.try_into().unwrap();
    assert_eq!(reply["content"], "High tide is at noon.", "{reply}");
    assert_eq!(reply["parent_id"], json!(asked), "answered in the thread");
    assert_eq!(reply["meta"]["model_id"], "mock-gpt");
    let sent = script.requests().pop().unwrap();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(
        messages.last().unwrap()["content"],
        "Admin: Tidy when is high tide?"
    );
    // The thread so far is in the system prompt, mentions shown by label.
    let system = messages[0]["content"].as_str().unwrap();
    assert!(
        system.contains("Admin: Tidy when is high tide?"),
        "{system}"
    );
    assert!(
        !common::scripted::tool_names(&sent).contains(&"create_tasks".to_string()),
        "a channel turn has no task list"
    );

    // Replies go to the channel itself when the admin says so; replying to
    // the model's message asks it again without a mention.
    let r = admin.get("/api/v1/auths/admin/config").await;
    let mut cfg = r.body;
    cfg["CHANNEL_MODEL_RESPONSE_MODE"] = json!("channel");
    let r = admin.post("/api/v1/auths/admin/config", cfg).await;
    assert_eq!(r.status, 200, "{}", r.body);
    script.queue(json!({"text": "And low tide at six."}));
    let rid = reply["id"].as_str().unwrap();
    say(
        &admin,
        &ch,
        json!({"content": "and low tide?", "reply_to_id": rid}),
    )
    .await;
    let all = answers(&admin, &ch, 2).await;
    let second = all.iter().find(|m| m["id"] != reply["id"]).unwrap();
    assert_eq!(second["content"], "And low tide at six.");
    assert_eq!(second["parent_id"], Value::Null, "{second}");
}

#[tokio::test]
async fn unknown_or_unreadable_models_do_not_answer() {
    let (srv, admin, script) = setup().await;
    let ch = channel(&admin).await;
    // Bea may write in the channel but may not use the model.
    let (bea, bea_id) = common::add_user_with_id(&srv, &admin, "Bea").await;
    let grants = json!({"access_grants": [
        {"principal_type": "user", "principal_id": bea_id, "permission": "read"},
        {"principal_type": "user", "principal_id": bea_id, "permission": "write"}]});
    let r = admin
        .post(&format!("/api/v1/channels/{ch}/access/update"), grants)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    say(
        &admin,
        &ch,
        json!({"content": "<@M:no-such-model|Ghost> hello?"}),
    )
    .await;
    say(&bea, &ch, json!({"content": "<@M:mock-gpt|Tidy> hello?"})).await;
    // A known model asked by the admin answers; the two above never do.
    script.queue(json!({"text": "Here."}));
    say(
        &admin,
        &ch,
        json!({"content": "<@M:mock-gpt|Tidy> roll call"}),
    )
    .await;
    let [only] = answers(&admin, &ch, 1).await.try_into().unwrap();
    assert_eq!(only["content"], "Here.");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = everything(&admin, &ch)
        .await
        .into_iter()
        .filter(|m| m["meta"]["model_id"].is_string())
        .count();
    assert_eq!(started, 1, "only one reply was ever started");
    assert_eq!(script.requests().len(), 1);
}

/// An automation aimed at a channel posts its prompt there as its owner's
/// message and the model answers it in the thread; the run records the
/// channel. Creating one for a channel the user may not write to, or one
/// that does not exist, is refused.
#[tokio::test]
async fn an_automation_posts_into_a_channel_and_its_model_answers() {
    let (srv, admin, script) = setup().await;
    let ch = channel(&admin).await;
    script.queue(json!({"text": "Fair winds all day."}));
    let form = |ch: &str| {
        json!({"name": "Forecast", "data": {"prompt": "What is the weather like?", "model_id": "mock-gpt",
               "rrule": "RRULE:FREQ=DAILY", "target": {"type": "channel", "channel_id": ch}}})
    };
    let r = admin.post("/api/v1/automations/create", form(&ch)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["target"]["channel_id"], ch.as_str());
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(&format!("/api/v1/automations/{id}/run"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let answer = answers(&admin, &ch, 1).await.remove(0);
    assert_eq!(answer["content"], "Fair winds all day.");
    assert_eq!(answer["meta"]["automation_id"], id.as_str());
    let all = everything(&admin, &ch).await;
    let prompt = all
        .iter()
        .find(|m| m["content"] == "What is the weather like?")
        .expect("the prompt is posted in the channel");
    assert_eq!(answer["parent_id"], prompt["id"], "answered in the thread");
    assert_eq!(
        common::scripted::last_user_text(&script.requests()[0]),
        format!("{}: What is the weather like?", "Admin")
    );
    let mut run = Value::Null;
    for _ in 0..100 {
        let runs = admin.get(&format!("/api/v1/automations/{id}/runs")).await;
        if let Some(first) = runs.body.as_array().and_then(|a| a.first()) {
            run = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["chat_id"], format!("channel:{ch}"));

    // Refusals when the automation is saved.
    let (bob, _) = common::add_user_with_id(&srv, &admin, "bob").await;
    common::set_default_permission(&admin, "features.automations", true).await;
    let r = bob.post("/api/v1/automations/create", form(&ch)).await;
    assert_eq!(r.status, 403, "a channel Bob may not write to: {}", r.body);
    let r = admin
        .post("/api/v1/automations/create", form("no-such-channel"))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}
