//! OpenAI connections set to the Responses API, over the real wire: a
//! stand-in provider answers `/v1/responses` with event streams sent in
//! small pieces (or whole JSON results); the browser's chat flow stores the
//! reply as the provider shaped it, API clients get Chat Completions, and
//! `/openai/responses` relays what the provider said.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use common::{serve, TestServer};

const MODEL: &str = "resp-model";

/// One answer of the stand-in.
enum Answer {
    /// Responses events, sent as SSE in pieces of a few bytes.
    Events(Vec<Value>),
    Json(StatusCode, Value),
    Text(StatusCode, &'static str),
}

#[derive(Clone, Default)]
struct Provider {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Provider {
    fn answer(&self, a: Answer) {
        self.answers.lock().unwrap().push_back(a);
    }

    fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    fn router(&self) -> Router {
        async fn models() -> Json<Value> {
            Json(json!({"object": "list", "data": [{"id": MODEL, "object": "model"}]}))
        }
        async fn respond(State(p): State<Provider>, Json(body): Json<Value>) -> Response {
            p.seen.lock().unwrap().push(body);
            let next = p.answers.lock().unwrap().pop_front();
            match next {
                Some(Answer::Json(status, v)) => (status, Json(v)).into_response(),
                Some(Answer::Text(status, t)) => (status, t).into_response(),
                Some(Answer::Events(events)) => {
                    let text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
                    // Pieces that cut lines, events and UTF-8 text apart.
                    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = text
                        .into_bytes()
                        .chunks(7)
                        .map(|c| Ok(c.to_vec()))
                        .collect();
                    let body = Body::from_stream(futures::stream::iter(pieces));
                    ([("content-type", "text/event-stream")], body).into_response()
                }
                None => (StatusCode::INTERNAL_SERVER_ERROR, "no answer queued").into_response(),
            }
        }
        Router::new()
            .route("/v1/models", get(models))
            .route("/v1/responses", post(respond))
            .with_state(self.clone())
    }
}

async fn setup() -> (TestServer, common::Client, Provider) {
    let provider = Provider::default();
    let base = serve(provider.router()).await;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let r = admin
        .post(
            "/openai/config/update",
            json!({"ENABLE_OPENAI_API": true, "OPENAI_API_BASE_URLS": [format!("{base}/v1")],
                   "OPENAI_API_KEYS": ["sk-test"],
                   "OPENAI_API_CONFIGS": {"0": {"enable": true, "api_type": "responses"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ollama = admin.get("/ollama/config").await.body;
    ollama["ENABLE_OLLAMA_API"] = json!(false);
    admin.post("/ollama/config/update", ollama).await;
    (srv, admin, provider)
}

/// Sends a chat turn the way the browser does; returns the stored reply.
async fn ask(admin: &common::Client, content: &str, n: u32) -> Value {
    let (uid, aid) = (format!("u-{n}"), format!("a-{n}"));
    let body = json!({
        "stream": true, "model": MODEL, "params": {"max_tokens": 40}, "features": {},
        "session_id": "not-a-socket", "id": aid, "parent_id": null,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": content}],
        "user_message": {"id": uid, "parentId": null, "childrenIds": [aid], "role": "user",
                          "content": content, "timestamp": 1, "models": [MODEL]},
        "background_tasks": {},
    });
    let started = admin.post("/api/chat/completions", body).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    for _ in 0..200 {
        let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
        let m = &chat["chat"]["history"]["messages"][&aid];
        if m["done"] == json!(true) {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the reply {aid} was never finished");
}

fn added(index: u64, item: Value) -> Value {
    json!({"type": "response.output_item.added", "output_index": index, "item": item})
}

fn completed(usage: Value) -> Value {
    json!({"type": "response.completed", "response": {"id": "resp_1", "usage": usage}})
}

fn items<'a>(m: &'a Value, kind: &str) -> Vec<&'a Value> {
    m["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_tool_round_is_sent_streamed_and_stored_as_the_provider_shaped_it() {
    let (_srv, admin, provider) = setup().await;
    provider.answer(Answer::Events(vec![
        json!({"type": "response.created", "response": {"id": "resp_1"}}),
        added(0, json!({"type": "reasoning", "id": "rs_1", "summary": []})),
        json!({"type": "response.reasoning_summary_part.added", "output_index": 0,
               "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0,
               "summary_index": 0, "delta": "look at the clock"}),
        json!({"type": "response.reasoning_text.delta", "output_index": 0, "delta": "tick – tock"}),
        added(
            1,
            json!({"type": "function_call", "id": "fc_1", "call_id": "call_1",
                        "name": "get_current_timestamp", "arguments": ""}),
        ),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "}"}),
        completed(json!({"input_tokens": 10, "output_tokens": 4, "total_tokens": 14})),
    ]));
    let cited = json!({"type": "message", "id": "msg_2", "role": "assistant", "content": [
        {"type": "output_text", "text": "It is late.", "annotations": [
            {"type": "url_citation", "url": "https://time.example", "title": "Clock"}]}]});
    provider.answer(Answer::Events(vec![
        added(
            0,
            json!({"type": "message", "id": "msg_2", "role": "assistant", "content": []}),
        ),
        json!({"type": "response.content_part.added", "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": ""}}),
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "It is "}),
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "late."}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": cited}),
        completed(json!({"input_tokens": 20, "output_tokens": 2, "total_tokens": 22})),
    ]));

    let m = ask(&admin, "what time is it?", 1).await;

    let seen = provider.seen();
    assert_eq!(seen.len(), 2, "one request per round");
    let first = &seen[0];
    assert_eq!(first["instructions"], "Be brief.");
    assert_eq!(first["max_output_tokens"], 40);
    assert_eq!(first["stream"], true);
    assert_eq!(
        first["input"],
        json!([{"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "what time is it?"}]}])
    );
    for gone in ["messages", "max_tokens", "stream_options"] {
        assert!(first.get(gone).is_none(), "{gone} was sent");
    }
    let clock = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "get_current_timestamp")
        .expect("the clock tool is offered");
    assert_eq!(
        (&clock["type"], &clock["strict"]),
        (&json!("function"), &json!(false))
    );
    assert!(clock.get("function").is_none(), "the tool is flat");
    let follow_up = seen[1]["input"].as_array().unwrap();
    let n = follow_up.len();
    assert_eq!(
        follow_up[n - 2],
        json!({"type": "function_call", "call_id": "call_1",
               "name": "get_current_timestamp", "arguments": "{}"})
    );
    assert_eq!(follow_up[n - 1]["type"], "function_call_output");
    assert_eq!(follow_up[n - 1]["call_id"], "call_1");

    assert_eq!(m["content"], "It is late.");
    assert!(m.get("error").is_none_or(Value::is_null), "{m}");
    let [thought] = items(&m, "reasoning")[..] else {
        panic!("one reasoning item: {m}")
    };
    assert_eq!(thought["status"], "completed");
    assert_eq!(thought["summary"][0]["text"], "look at the clock");
    assert_eq!(thought["content"][0]["text"], "tick – tock");
    let [call] = items(&m, "function_call")[..] else {
        panic!("one call: {m}")
    };
    assert_eq!(
        (&call["call_id"], &call["arguments"]),
        (&json!("call_1"), &json!("{}"))
    );
    let [result] = items(&m, "function_call_output")[..] else {
        panic!("one result: {m}")
    };
    assert!(result["output"][0]["text"]
        .as_str()
        .unwrap()
        .contains("current_timestamp"));
    assert_eq!(items(&m, "message")[0]["id"], "msg_2");
    assert_eq!(
        m["sources"][0]["source"],
        json!({"name": "Clock", "url": "https://time.example"})
    );
    let u = &m["usage"];
    assert_eq!(
        (&u["input_tokens"], &u["output_tokens"], &u["total_tokens"]),
        (&json!(30), &json!(6), &json!(36))
    );
}

#[tokio::test]
async fn refusals_final_outputs_and_failures_are_stored() {
    let (_srv, admin, provider) = setup().await;
    let pos = json!({"output_index": 0, "content_index": 0});
    let with = |mut v: Value| {
        v.as_object_mut()
            .unwrap()
            .extend(pos.as_object().unwrap().clone());
        v
    };
    provider.answer(Answer::Events(vec![
        added(0, json!({"type": "message", "id": "msg_r", "role": "assistant", "content": []})),
        with(json!({"type": "response.content_part.added", "part": {"type": "refusal", "refusal": ""}})),
        with(json!({"type": "response.refusal.delta", "delta": "Not "})),
        with(json!({"type": "response.refusal.delta", "delta": "that."})),
        completed(json!({"total_tokens": 3})),
    ]));
    let m = ask(&admin, "something forbidden", 1).await;
    assert_eq!(
        items(&m, "message")[0]["content"],
        json!([{"type": "refusal", "refusal": "Not that."}])
    );
    assert!(m.get("error").is_none_or(Value::is_null), "{m}");

    let last_word = json!({"type": "message", "id": "msg_9", "role": "assistant",
                           "content": [{"type": "output_text", "text": "the final word"}]});
    provider.answer(Answer::Events(vec![
        added(
            0,
            json!({"type": "message", "id": "msg_1", "role": "assistant", "content": []}),
        ),
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "a draft"}),
        json!({"type": "response.completed", "response": {"output": [last_word]}}),
    ]));
    assert_eq!(ask(&admin, "decide", 2).await["content"], "the final word");

    provider.answer(Answer::Events(vec![
        added(
            0,
            json!({"type": "message", "id": "msg_1", "role": "assistant", "content": []}),
        ),
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "kept"}),
        json!({"type": "response.completed", "response": {"output": []}}),
    ]));
    assert_eq!(
        ask(&admin, "empty final output", 3).await["content"],
        "kept"
    );

    provider.answer(Answer::Events(vec![
        json!({"type": "response.created", "response": {"id": "resp_1"}}),
        json!({"type": "response.failed", "response": {"error":
            {"code": "server_error", "message": "quota exceeded"}}}),
    ]));
    let failed = ask(&admin, "hello?", 4).await;
    assert!(
        failed["error"].to_string().contains("quota exceeded"),
        "{failed}"
    );

    provider.answer(Answer::Events(vec![
        json!({"type": "error", "code": "server_error", "message": "upstream exploded"}),
    ]));
    let failed = ask(&admin, "hello again?", 5).await;
    assert!(
        failed["error"].to_string().contains("upstream exploded"),
        "{failed}"
    );
}

#[tokio::test]
async fn api_clients_get_chat_completions_and_the_proxy_relays_as_is() {
    let (_srv, admin, provider) = setup().await;
    provider.answer(Answer::Json(
        StatusCode::OK,
        json!({"id": "resp_7", "model": MODEL, "usage": {"total_tokens": 9}, "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "checking"}]},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{\"id\":7}"},
        ]}),
    ));
    let lookup = json!({"name": "lookup", "parameters": {"type": "object"}});
    let r = admin
        .post(
            "/api/chat/completions",
            json!({"model": MODEL, "stream": false, "max_completion_tokens": 30,
                   "messages": [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                                {"role": "user", "content": "find 7"}],
                   "tools": [{"type": "function", "function": lookup}],
                   "tool_choice": {"type": "function", "function": {"name": "lookup"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "chat.completion");
    let choice = &r.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "checking");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "c1", "type": "function",
                "function": {"name": "lookup", "arguments": "{\"id\":7}"}}])
    );
    assert_eq!(r.body["usage"]["total_tokens"], 9);
    let sent = &provider.seen()[0];
    assert_eq!(sent["instructions"], "Be brief.");
    assert_eq!(sent["max_output_tokens"], 30);
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "name": "lookup"})
    );
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": false}])
    );

    let result = json!({"id": "resp_8", "object": "response", "output": []});
    provider.answer(Answer::Json(StatusCode::OK, result.clone()));
    provider.answer(Answer::Json(
        StatusCode::BAD_REQUEST,
        json!({"error": {"message": "bad input"}}),
    ));
    provider.answer(Answer::Text(StatusCode::BAD_GATEWAY, "gateway down"));
    let request =
        json!({"model": MODEL, "input": "hi", "instructions": "Be brief.", "top_p": null});
    let plain = admin.post("/openai/responses", request.clone()).await;
    assert_eq!((plain.status.as_u16(), &plain.body), (200, &result));
    assert_eq!(
        provider.seen()[1],
        json!({"model": MODEL, "input": "hi", "instructions": "Be brief."}),
        "forwarded as sent, without empty fields"
    );
    let refused = admin.post("/openai/responses", request.clone()).await;
    assert_eq!(
        (refused.status.as_u16(), &refused.body),
        (400, &json!({"error": {"message": "bad input"}}))
    );
    let down = raw_post(&admin, "/openai/responses", &request).await;
    assert_eq!((down.0, down.2.as_str()), (502, "gateway down"));

    provider.answer(Answer::Events(vec![
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "streamed"}),
        completed(json!({"total_tokens": 1})),
    ]));
    let mut streaming = request.clone();
    streaming["stream"] = json!(true);
    let (status, ctype, text) = raw_post(&admin, "/openai/responses", &streaming).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    assert!(text.contains("\"delta\":\"streamed\""), "{text}");
}

/// Status, content type and text of a POST's answer.
async fn raw_post(c: &common::Client, path: &str, body: &Value) -> (u16, String, String) {
    let r = c
        .http
        .post(format!("{}{path}", c.base))
        .bearer_auth(c.token.as_deref().unwrap())
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    (status, ctype.unwrap_or_default(), r.text().await.unwrap())
}
