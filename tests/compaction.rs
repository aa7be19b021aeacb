//! Context compaction over the wire: a chat past its token threshold is
//! summarised before the turn, the summary is stored as a checkpoint and
//! replayed in the system message; `POST /api/v1/chats/{id}/compact` does the
//! same on request; `GET /api/v1/chats/{id}` reports the context usage.
//! The provider is a fake OpenAI-compatible server that records every request.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{Client, TestServer};
use serde_json::{json, Value};

const SYSTEM: &str = "You are a careful travel agent.";

/// How the fake provider answers a (non-streamed) summary request.
#[derive(Clone)]
enum Summary {
    Text(&'static str),
    ReasoningOnly(&'static str),
    Empty,
    Fails,
}

#[derive(Clone)]
struct Provider {
    seen: Arc<Mutex<Vec<Value>>>,
    summary: Arc<Mutex<Summary>>,
    /// Streamed replies to give, in order: `{"calls": [[id, name]]}` or
    /// `{"text": …}`; "the answer" when none is queued.
    replies: Arc<Mutex<std::collections::VecDeque<Value>>>,
}

impl Provider {
    fn requests(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
    fn summary_requests(&self) -> Vec<Value> {
        let all = self.requests();
        all.into_iter()
            .filter(|b| b["stream"] != json!(true))
            .collect()
    }
    /// The messages of the last streamed (turn) request.
    fn last_turn(&self) -> Vec<Value> {
        let turns: Vec<Value> = self
            .requests()
            .into_iter()
            .filter(|b| b["stream"] == json!(true))
            .collect();
        turns.last().expect("no turn reached the provider")["messages"]
            .as_array()
            .cloned()
            .unwrap()
    }
    fn answer_summaries(&self, s: Summary) {
        *self.summary.lock().unwrap() = s;
    }
    fn queue(&self, reply: Value) {
        self.replies.lock().unwrap().push_back(reply);
    }
    fn forget(&self) {
        self.seen.lock().unwrap().clear();
    }
}

async fn provider() -> (String, Provider) {
    async fn models() -> Json<Value> {
        Json(json!({"object": "list", "data": [
            {"id": "mock-gpt", "object": "model", "created": 1, "owned_by": "mock"},
            {"id": "mock-summary", "object": "model", "created": 1, "owned_by": "mock"}]}))
    }
    async fn chat(State(p): State<Provider>, Json(body): Json<Value>) -> Response {
        p.seen.lock().unwrap().push(body.clone());
        if body["stream"] != json!(true) {
            let message = match p.summary.lock().unwrap().clone() {
                Summary::Text(t) => json!({"role": "assistant", "content": t}),
                Summary::ReasoningOnly(r) => {
                    json!({"role": "assistant", "content": "", "reasoning_content": r})
                }
                Summary::Empty => json!({"role": "assistant", "content": ""}),
                Summary::Fails => {
                    let err = json!({"error": {"message": "summary model is down"}});
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(err))
                        .into_response();
                }
            };
            return Json(
                json!({"id": "c1", "object": "chat.completion", "created": 1,
                "model": body["model"], "choices": [{"index": 0, "message": message,
                "finish_reason": "stop"}]}),
            )
            .into_response();
        }
        let reply = p.replies.lock().unwrap().pop_front();
        let reply = reply.unwrap_or(json!({"text": "the answer"}));
        let chunk = |delta: Value, finish: Value| {
            let c = json!({"id": "c2", "object": "chat.completion.chunk", "created": 1,
                "model": body["model"], "choices": [{"index": 0, "delta": delta,
                "finish_reason": finish}]});
            format!("data: {c}\n\n")
        };
        let mut out = String::new();
        if let Some(calls) = reply["calls"].as_array() {
            for (i, c) in calls.iter().enumerate() {
                out.push_str(&chunk(
                    json!({"tool_calls": [{"index": i, "id": c[0], "type": "function",
                        "function": {"name": c[1], "arguments": "{}"}}]}),
                    Value::Null,
                ));
            }
            out.push_str(&chunk(json!({}), json!("tool_calls")));
        } else {
            out.push_str(&chunk(json!({"content": reply["text"]}), Value::Null));
            out.push_str(&chunk(json!({}), json!("stop")));
        }
        out.push_str("data: [DONE]\n\n");
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(axum::body::Body::from(out))
            .unwrap()
    }
    let p = Provider {
        seen: Arc::new(Mutex::new(vec![])),
        summary: Arc::new(Mutex::new(Summary::Text("THE SUMMARY"))),
        replies: Arc::new(Mutex::new(Default::default())),
    };
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .with_state(p.clone());
    (common::serve(app).await, p)
}

async fn setup() -> (TestServer, Client, Provider) {
    let (base, p) = provider().await;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    common::connect_openai(&admin, &format!("{base}/v1")).await;
    let mut ollama = admin.get("/ollama/config").await.body;
    ollama["ENABLE_OLLAMA_API"] = json!(false);
    admin.post("/ollama/config/update", ollama).await;
    (srv, admin, p)
}

/// Switches compaction on (or off) with these chat settings.
async fn configure(admin: &Client, enable: bool, extra: Value) {
    let mut cfg = admin.get("/api/v1/chats/config").await.body;
    cfg["ENABLE_CONTEXT_COMPACTION"] = json!(enable);
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let saved = admin.post("/api/v1/chats/config", cfg).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

/// Compaction on, with `tokens` as both the threshold and the cap.
async fn compact_at(admin: &Client, tokens: u64) {
    configure(
        admin,
        true,
        json!({"CONTEXT_COMPACTION_TOKEN_THRESHOLD": tokens, "CONTEXT_COMPACTION_TOKEN_CAP": tokens}),
    )
    .await;
}

/// Stores a chat of `n` question/answer pairs (each about 100 tokens long
/// with `filler`) and returns its id and the message ids in order.
async fn seed(client: &Client, n: usize, filler: usize) -> (String, Vec<String>) {
    seed_with(client, n, filler, None).await
}

/// [`seed`] with a provider's usage report on the last answer.
async fn seed_with(
    client: &Client,
    n: usize,
    filler: usize,
    last_usage: Option<Value>,
) -> (String, Vec<String>) {
    let mut messages = serde_json::Map::new();
    let mut ids: Vec<String> = vec![];
    for i in 1..=n {
        for (role, word) in [("user", "question"), ("assistant", "answer")] {
            let id = format!("{role}-{i}");
            let mut m = json!({"id": id, "role": role, "timestamp": i,
                "content": format!("{word} {i} {}", "x".repeat(filler)),
                "parentId": ids.last(), "childrenIds": []});
            if role == "assistant" {
                m["model"] = json!("mock-gpt");
                m["done"] = json!(true);
            }
            if let Some(parent) = ids.last() {
                messages[parent]["childrenIds"] = json!([id]);
            }
            messages.insert(id.clone(), m);
            ids.push(id);
        }
    }
    if let (Some(u), Some(last)) = (last_usage, ids.last()) {
        messages[last]["usage"] = u;
    }
    let history = json!({"currentId": ids.last(), "messages": messages});
    let created = client
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "Trip", "models": ["mock-gpt"], "history": history}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    (created.body["id"].as_str().unwrap().to_string(), ids)
}

/// One turn as an API client runs it (answered once the reply is stored).
async fn turn(client: &Client, chat_id: &str, parent: &str, text: &str, params: Value) -> String {
    let user_id = format!("u-{}", uuid::Uuid::new_v4());
    let reply_id = format!("a-{}", uuid::Uuid::new_v4());
    let body = json!({
        "model": "mock-gpt", "stream": true, "chat_id": chat_id, "id": reply_id,
        "parent_id": parent, "params": params,
        "user_message": {"id": user_id, "role": "user", "content": text, "parentId": parent},
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        "background_tasks": {"title_generation": false, "tags_generation": false},
    });
    let done = client.post("/api/chat/completions", body).await;
    assert_eq!(done.status, 200, "{}", done.body);
    reply_id
}

async fn stored(client: &Client, chat_id: &str) -> Value {
    client.get(&format!("/api/v1/chats/{chat_id}")).await.body
}

fn contents(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            m["content"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(10)
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_chat_past_its_threshold_is_summarised_before_the_turn() {
    let (_srv, admin, p) = setup().await;
    compact_at(&admin, 50).await;
    let (chat_id, ids) = seed(&admin, 3, 400).await;
    let reply = turn(&admin, &chat_id, &ids[5], "question 4", json!({})).await;

    let summaries = p.summary_requests();
    assert_eq!(summaries.len(), 1, "one summary request");
    assert_eq!(summaries[0]["model"], "mock-gpt", "the chat's own model");
    let prompt = summaries[0]["messages"][0]["content"].as_str().unwrap();
    let (old, recent) = prompt
        .split_once("### Recent Messages Kept In Context:")
        .unwrap();
    assert!(
        old.contains("question 1") && old.contains("answer 2"),
        "{old}"
    );
    assert!(recent.contains("question 3") && !recent.contains("question 1"));

    let sent = p.last_turn();
    let roles: Vec<&str> = sent.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let system = sent[0]["content"].as_str().unwrap();
    assert!(system.starts_with(SYSTEM), "{system}");
    assert!(
        system.contains("[CONVERSATION SUMMARY]\nTHE SUMMARY"),
        "{system}"
    );
    assert!(sent[1]["content"]
        .as_str()
        .unwrap()
        .starts_with("question 3"));

    // The checkpoint is on the first kept message, not on the new question.
    let chat = stored(&admin, &chat_id).await;
    let messages = &chat["chat"]["history"]["messages"];
    assert_eq!(messages[&ids[4]]["contextSummary"], "THE SUMMARY");
    let with_summary = messages
        .as_object()
        .unwrap()
        .values()
        .filter(|m| m.get("contextSummary").is_some_and(|s| !s.is_null()))
        .count();
    assert_eq!(with_summary, 1);

    // The next turn, now under a high threshold, starts from the checkpoint.
    compact_at(&admin, 1_000_000).await;
    p.forget();
    turn(&admin, &chat_id, &reply, "question 5", json!({})).await;
    assert!(p.summary_requests().is_empty());
    let sent = p.last_turn();
    assert!(sent[0]["content"].as_str().unwrap().contains("THE SUMMARY"));
    assert_eq!(
        contents(&sent[1..]),
        [
            "question 3",
            "answer 3 x",
            "question 4",
            "the answer",
            "question 5"
        ]
    );
}

#[tokio::test]
async fn reported_usage_decides_and_is_reported() {
    let (_srv, admin, p) = setup().await;
    compact_at(&admin, 80_000).await;
    // Short messages, but the provider said the last call was big (Ollama's words).
    let usage = json!({"prompt_eval_count": 90_000, "eval_count": 500});
    let (chat_id, ids) = seed_with(&admin, 2, 0, Some(usage)).await;

    let report = stored(&admin, &chat_id).await["context_usage"].clone();
    assert_eq!(report["tokens"], 90_500, "{report}");
    assert_eq!(report["threshold"], 80_000);
    assert_eq!(report["percent"], 113);
    turn(&admin, &chat_id, &ids[3], "question 3", json!({})).await;
    assert_eq!(p.summary_requests().len(), 1, "the usage did not count");

    // A chat's own threshold is capped by the global one (the cap), and a lower
    // one wins. The small chats here count about 50 tokens.
    p.forget();
    let (small, ids) = seed(&admin, 3, 0).await;
    turn(&admin, &small, &ids[5], "q", json!({})).await;
    assert!(p.summary_requests().is_empty());
    assert_eq!(p.last_turn().len(), 8);
    let (small, ids) = seed(&admin, 3, 0).await;
    turn(
        &admin,
        &small,
        &ids[5],
        "q",
        json!({"compact_token_threshold": 20}),
    )
    .await;
    assert_eq!(p.summary_requests().len(), 1, "the chat's lower threshold");
    compact_at(&admin, 20).await;
    let (small, ids) = seed(&admin, 3, 0).await;
    let own = json!({"compact_token_threshold": 1_000_000});
    turn(&admin, &small, &ids[5], "q", own).await;
    assert_eq!(p.summary_requests().len(), 2, "the global cap");
}

#[tokio::test]
async fn while_off_nothing_is_compacted_or_reported() {
    let (_srv, admin, p) = setup().await;
    let (chat_id, ids) = seed(&admin, 3, 400).await;
    assert_eq!(stored(&admin, &chat_id).await["context_usage"], Value::Null);
    turn(&admin, &chat_id, &ids[5], "question 4", json!({})).await;
    assert!(p.summary_requests().is_empty());
    assert_eq!(p.last_turn().len(), 8);
    let r = admin
        .post(&format!("/api/v1/chats/{chat_id}/compact"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"ok": true, "compacted": false, "reason": "disabled", "context_usage": null})
    );
}

#[tokio::test]
async fn summaries_without_text_and_failed_summaries() {
    let (_srv, admin, p) = setup().await;
    compact_at(&admin, 50).await;

    p.answer_summaries(Summary::ReasoningOnly("FROM REASONING"));
    let (chat_id, ids) = seed(&admin, 3, 400).await;
    turn(&admin, &chat_id, &ids[5], "question 4", json!({})).await;
    let chat = stored(&admin, &chat_id).await;
    assert_eq!(
        chat["chat"]["history"]["messages"][&ids[4]]["contextSummary"],
        "FROM REASONING"
    );

    p.answer_summaries(Summary::Empty);
    let (chat_id, ids) = seed(&admin, 3, 400).await;
    turn(&admin, &chat_id, &ids[5], "question 4", json!({})).await;
    let chat = stored(&admin, &chat_id).await;
    let fallback = chat["chat"]["history"]["messages"][&ids[4]]["contextSummary"].clone();
    assert!(
        fallback.as_str().unwrap().starts_with("- user: question 1"),
        "{fallback}"
    );

    // A failing summary model: the turn goes on with the whole history.
    p.answer_summaries(Summary::Fails);
    p.forget();
    let (chat_id, ids) = seed(&admin, 3, 400).await;
    let reply = turn(&admin, &chat_id, &ids[5], "question 4", json!({})).await;
    assert_eq!(p.summary_requests().len(), 1);
    let sent = p.last_turn();
    assert_eq!(sent.len(), 8, "{sent:?}");
    assert!(!sent[0]["content"].as_str().unwrap().contains("SUMMARY"));
    let chat = stored(&admin, &chat_id).await;
    let messages = chat["chat"]["history"]["messages"].as_object().unwrap();
    assert!(messages
        .values()
        .all(|m| m.get("contextSummary").is_none_or(Value::is_null)));
    assert_eq!(messages[&reply]["content"], "the answer");
}

#[tokio::test]
async fn the_compaction_model_is_used_when_it_exists() {
    let (_srv, admin, p) = setup().await;
    for (configured, expected) in [("mock-summary", "mock-summary"), ("gone", "mock-gpt")] {
        configure(
            &admin,
            true,
            json!({"CONTEXT_COMPACTION_TOKEN_THRESHOLD": 50,
            "CONTEXT_COMPACTION_TOKEN_CAP": 50, "CONTEXT_COMPACTION_MODEL": configured}),
        )
        .await;
        p.forget();
        let (chat_id, ids) = seed(&admin, 3, 400).await;
        turn(&admin, &chat_id, &ids[5], "question 4", json!({})).await;
        let summaries = p.summary_requests();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0]["model"], expected);
    }
}

#[tokio::test]
async fn the_compact_route() {
    let (srv, admin, p) = setup().await;
    compact_at(&admin, 1_000_000).await;
    let (chat_id, ids) = seed(&admin, 3, 0).await;
    let url = format!("/api/v1/chats/{chat_id}/compact");
    let before = stored(&admin, &chat_id).await["context_usage"].clone();
    assert!(before["tokens"].as_i64().unwrap() > 0, "{before}");

    // Another user's chat is not theirs to compact.
    let bob = common::add_user(&srv, &admin, "Bob").await;
    let refused = bob.post(&url, json!({})).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(p.requests().is_empty());

    let r = admin.send(reqwest::Method::POST, &url, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["compacted"], true, "{}", r.body);
    assert_eq!(
        (
            r.body["dropped_messages"].clone(),
            r.body["kept_messages"].clone()
        ),
        (json!(5), json!(1))
    );
    assert_eq!(r.body["summary_chars"], "THE SUMMARY".len());
    assert!(r.body["context_usage"]["tokens"].as_i64() < before["tokens"].as_i64());
    let chat = stored(&admin, &chat_id).await;
    assert_eq!(
        chat["chat"]["history"]["messages"][&ids[5]]["contextSummary"],
        "THE SUMMARY"
    );
    let prompt = p.summary_requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let (old, recent) = prompt
        .split_once("### Recent Messages Kept In Context:")
        .unwrap();
    assert!(old.contains("question 1") && old.contains("answer 2") && recent.contains("answer 3"));

    // Nothing left to fold in until the chat goes on.
    let again = admin.post(&url, json!({})).await;
    assert_eq!(
        (
            again.body["compacted"].clone(),
            again.body["reason"].clone()
        ),
        (json!(false), json!("too_short"))
    );

    // The next turn gets the summary and what follows it; a second compaction
    // builds on the first summary.
    p.answer_summaries(Summary::Text("SECOND"));
    let reply = turn(&admin, &chat_id, &ids[5], "question 4", json!({})).await;
    let sent = p.last_turn();
    assert!(sent[0]["content"]
        .as_str()
        .unwrap()
        .ends_with("[CONVERSATION SUMMARY]\nTHE SUMMARY"));
    assert_eq!(contents(&sent[1..]), ["answer 3 ", "question 4"]);
    let r = admin.post(&url, json!({"model": "mock-summary"})).await;
    assert_eq!(r.body["compacted"], true, "{}", r.body);
    let last = p.summary_requests().pop().unwrap();
    assert_eq!(last["model"], "mock-summary");
    assert!(last["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("### Previous Summary:\nTHE SUMMARY"));
    let chat = stored(&admin, &chat_id).await;
    assert_eq!(
        chat["chat"]["history"]["messages"][&reply]["contextSummary"],
        "SECOND"
    );

    // A chat whose messages name no model, and which lists none, cannot say which to use.
    let created = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "x", "models": [], "history": {"currentId": "m2", "messages": {
                "m1": {"id": "m1", "role": "user", "content": "a", "parentId": null, "childrenIds": ["m2"]},
                "m2": {"id": "m2", "role": "assistant", "content": "b", "parentId": "m1", "childrenIds": []}}}}}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap();
    let r = admin
        .post(&format!("/api/v1/chats/{id}/compact"), json!({}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn a_tool_loop_is_compacted_between_rounds_and_resumed_from_its_marker() {
    let (_srv, admin, p) = setup().await;
    configure(
        &admin,
        true,
        json!({"CONTEXT_COMPACTION_TOKEN_THRESHOLD": 50,
        "CONTEXT_COMPACTION_TOKEN_CAP": 50, "CONTEXT_COMPACTION_RETENTION_PERCENTAGE": 10}),
    )
    .await;
    p.queue(json!({"calls": [["call_a", "get_current_timestamp"]]}));
    p.queue(json!({"calls": [["call_b", "get_current_timestamp"]]}));
    p.queue(json!({"text": "It is late."}));
    let question = format!("what time is it? {}", "x".repeat(400));
    // A browser turn (a socket session), which is offered the built-in tools.
    let body = json!({
        "model": "mock-gpt", "stream": true, "id": "a-1", "parent_id": null,
        "session_id": "not-a-socket",
        "user_message": {"id": "u-1", "role": "user", "content": question, "parentId": null},
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        "background_tasks": {},
    });
    let started = admin.post("/api/chat/completions", body).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let mut reply = Value::Null;
    for _ in 0..200 {
        reply = stored(&admin, &chat_id).await["chat"]["history"]["messages"]["a-1"].clone();
        if reply["done"] == json!(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(reply["done"], true, "{reply}");

    // One summary, after the second batch: the third call starts at that batch,
    // with the question in front and the summary as its own system message.
    assert_eq!(p.summary_requests().len(), 1);
    let sent = p.last_turn();
    let roles: Vec<&str> = sent.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["system", "system", "user", "assistant", "tool"],
        "{sent:?}"
    );
    assert_eq!(sent[0]["content"], SYSTEM);
    assert_eq!(sent[1]["content"], "[CONVERSATION SUMMARY]\nTHE SUMMARY");
    assert_eq!(sent[3]["tool_calls"][0]["id"], "call_b");
    let output = reply["output"].as_array().unwrap();
    let marker = output
        .iter()
        .find(|i| i["type"] == "open_webui:context_compaction")
        .expect("a compaction marker in the output");
    assert_eq!(
        (marker["call_id"].clone(), marker["summary"].clone()),
        (json!("call_b"), json!("THE SUMMARY"))
    );
    assert_eq!(reply["content"], "It is late.");

    // The next turn starts from the marker: the question, the kept batch and the answer.
    compact_at(&admin, 1_000_000).await;
    turn(&admin, &chat_id, "a-1", "and tomorrow?", json!({})).await;
    let sent = p.last_turn();
    let roles: Vec<&str> = sent.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"],
        "{sent:?}"
    );
    assert!(sent[0]["content"]
        .as_str()
        .unwrap()
        .ends_with("[CONVERSATION SUMMARY]\nTHE SUMMARY"));
    assert_eq!(sent[2]["tool_calls"][0]["id"], "call_b");
    assert_eq!(sent[4]["content"], "It is late.");
}
