//! An API client of a browser session that turns a feature on (`features`:
//! `{"memory": true}`) gets the built-in tools run by the server and the
//! final answer, plain or as a stream; without features the request goes to
//! the provider as it is. A scripted OpenAI-compatible provider plays the model.

mod common;

use common::scripted::tool_names;
use serde_json::{json, Value};

fn ask(features: Value, stream: bool) -> Value {
    json!({
        "model": "mock-gpt", "stream": stream, "features": features, "session_id": "api-1",
        "messages": [{"role": "user", "content": "remember that I like tea"}],
    })
}

#[tokio::test]
async fn features_run_the_built_in_tools_and_answer_at_the_end() {
    let (_srv, admin, script) = common::scripted::server_with_script().await;
    script.queue(json!({"calls": [["call_m", "add_memory", r#"{"content": "Likes tea"}"#]]}));
    script.queue(json!({"text": "Noted."}));
    let r = admin
        .post("/api/chat/completions", ask(json!({"memory": true}), false))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "chat.completion");
    assert_eq!(r.body["choices"][0]["message"]["content"], "Noted.");
    let requests = script.requests();
    assert_eq!(requests.len(), 2, "the model read the tool's result");
    assert!(tool_names(&requests[0]).contains(&"add_memory".to_string()));
    let memories = admin.get("/api/v1/memories/").await.body;
    assert_eq!(memories[0]["content"], "Likes tea", "{memories}");

    // The same as a stream: the final answer, then [DONE].
    script.queue(json!({"text": "Still tea."}));
    let streamed = admin
        .http
        .post(format!("{}/api/chat/completions", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .json(&ask(json!({"memory": true}), true))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    assert!(streamed.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = streamed.text().await.unwrap();
    assert!(text.contains("\"content\":\"Still tea.\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[tokio::test]
async fn without_features_the_provider_gets_the_request_as_it_is() {
    let (_srv, admin, script) = common::scripted::server_with_script().await;
    script.queue(json!({"text": "Hello."}));
    let relayed = admin
        .http
        .post(format!("{}/api/chat/completions", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .json(&ask(json!({"memory": false}), true))
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), 200);
    assert!(relayed.text().await.unwrap().contains("Hello."));
    assert!(tool_names(&script.requests()[0]).is_empty());
    let unknown = admin
        .post(
            "/api/chat/completions",
            json!({"model": "nope", "features": {"memory": true}, "session_id": "api-1",
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.body["detail"], "Model not found");
}
