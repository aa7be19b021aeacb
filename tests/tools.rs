//! Native tool calling in the browser's chat flow, over real HTTP against a
//! scripted OpenAI-compatible provider: the model calls built-in tools in
//! streamed pieces, the server runs them, feeds the results back, stores the
//! calls in the message's `output` and replays them in the next turn.

mod common;

use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::scripted::{tool_names, Script};
use common::TestServer;
use serde_json::{json, Value};

async fn setup() -> (TestServer, common::Client, Script) {
    common::scripted::server_with_script().await
}

fn turn(content: &str, chat_id: Option<&str>, parent: Option<&str>, n: u32) -> Value {
    let (uid, aid) = (format!("u-{n}"), format!("a-{n}"));
    let mut body = json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": {},
        "session_id": "not-a-socket", "id": aid, "parent_id": parent,
        "user_message": {"id": uid, "parentId": parent, "childrenIds": [aid], "role": "user",
                          "content": content, "timestamp": 1, "models": ["mock-gpt"]},
        "background_tasks": {},
    });
    if let Some(c) = chat_id {
        body["chat_id"] = json!(c);
    }
    body
}

/// The stored assistant message once it has `done` (or `output` with a
/// pending call).
async fn stored(admin: &common::Client, chat_id: &str, id: &str) -> Value {
    for _ in 0..200 {
        let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await.body;
        let m = &chat["chat"]["history"]["messages"][id];
        let pending = m["output"]
            .as_array()
            .is_some_and(|o| o.iter().any(|i| i["status"] == "pending"));
        if m["done"] == json!(true) || pending {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the reply {id} was never finished");
}

#[tokio::test]
async fn a_tool_round_runs_is_stored_and_is_replayed() {
    let (_srv, admin, script) = setup().await;
    script.queue(json!({"calls": [
        ["call_clock", "get_current_timestamp", "{}"],
        ["call_gone", "no_such_tool", "{}"],
        ["call_list", "calculate_timestamp", "[1, 2]"],
    ]}));
    script.queue(json!({"text": "It is now."}));
    let started = admin
        .post(
            "/api/chat/completions",
            turn("what time is it?", None, None, 1),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let m = stored(&admin, &chat_id, "a-1").await;

    let requests = script.requests();
    assert_eq!(requests.len(), 2, "one call per round");
    let names = tool_names(&requests[0]);
    for expected in [
        "get_current_timestamp",
        "calculate_timestamp",
        "ask_user",
        "search_chats",
    ] {
        assert!(names.contains(&expected.to_string()), "{names:?}");
    }
    // Memory tools need the chat's memory switch.
    assert!(!names.iter().any(|n| n.contains("memor")), "{names:?}");
    assert_eq!(
        tool_names(&requests[1]),
        names,
        "the same tools every round"
    );

    // The follow-up carries the calls and one result for each.
    let msgs = requests[1]["messages"].as_array().unwrap();
    let n = msgs.len();
    assert_eq!(msgs[n - 4]["role"], "assistant");
    assert_eq!(msgs[n - 4]["tool_calls"].as_array().unwrap().len(), 3);
    assert_eq!(
        msgs[n - 4]["tool_calls"][0]["function"]["arguments"],
        "{}",
        "the pieces of the arguments are joined"
    );
    let results: Vec<(String, String)> = msgs[n - 3..]
        .iter()
        .map(|m| {
            assert_eq!(m["role"], "tool");
            (
                m["tool_call_id"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(results[0].0, "call_clock");
    let clock: Value = serde_json::from_str(&results[0].1).unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((clock["current_timestamp"].as_i64().unwrap() - now).abs() < 60);
    assert!(results[1].1.starts_with("Error:") && results[1].1.contains("not found"));
    assert!(
        results[2].1.contains("must be a JSON object"),
        "{}",
        results[2].1
    );

    // Stored as the browser renders it.
    assert_eq!(m["content"], "It is now.");
    let output = m["output"].as_array().unwrap();
    let calls: Vec<&Value> = output
        .iter()
        .filter(|i| i["type"] == "function_call")
        .collect();
    let outputs: Vec<&Value> = output
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .collect();
    assert_eq!((calls.len(), outputs.len()), (3, 3));
    assert_eq!(calls[0]["status"], "completed");
    assert_eq!(calls[1]["status"], "failed");
    assert_eq!(calls[1]["name"], "no_such_tool");
    assert!(outputs[0]["id"].as_str().unwrap().starts_with("fco_"));
    assert_eq!(output.last().unwrap()["type"], "message");

    // The next turn replays the stored calls with their results.
    script.queue(json!({"text": "You are welcome."}));
    let next = admin
        .post(
            "/api/chat/completions",
            turn("thanks", Some(&chat_id), Some("a-1"), 2),
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    stored(&admin, &chat_id, "a-2").await;
    let replay = script.requests()[2]["messages"].clone();
    let roles: Vec<&str> = replay
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .filter(|r| *r != "system")
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "tool",
            "tool",
            "tool",
            "assistant",
            "user"
        ]
    );
}

#[tokio::test]
async fn a_question_for_the_user_pauses_the_turn() {
    let (_srv, admin, script) = setup().await;
    let question = json!({"questions": [{"id": "q1", "question": "Which one?", "options": [
        {"label": "A", "description": "first"}, {"label": "B", "description": "second"}]}]});
    script.queue(json!({"calls": [["call_ask", "ask_user", question.to_string()]]}));
    let started = admin
        .post(
            "/api/chat/completions",
            turn("help me choose", None, None, 1),
        )
        .await;
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let m = stored(&admin, &chat_id, "a-1").await;
    let call = m["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["status"], "pending");
    assert_eq!(m["done"], json!(false));
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["timeout_ms"], 120_000);
    assert_eq!(args["questions"][0]["header"], "Question 1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(script.requests().len(), 1, "nothing more goes to the model");

    // Approving a question is refused; answering it lets the model go on.
    let path = format!("/api/v1/chats/{chat_id}/messages/a-1/resolve");
    let approve = admin
        .post(&path, json!({"call_id": "call_ask", "action": "approve"}))
        .await;
    assert_eq!(approve.status, 400, "{}", approve.body);
    script.queue(json!({"text": "B it is."}));
    let answered = admin
        .post(
            &path,
            json!({"call_id": "call_ask", "action": "answer", "answers": {"q1": "B"}}),
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert_eq!(answered.body["task_ids"].as_array().unwrap().len(), 1);
    let again = admin
        .post(
            &path,
            json!({"call_id": "call_ask", "action": "answer", "answers": {"q1": "A"}}),
        )
        .await;
    assert_eq!(again.status, 409, "an answered question stays answered");
    let m = stored(&admin, &chat_id, "a-1").await;
    assert_eq!(m["content"], "B it is.");
    let resumed = script.requests()[1].clone();
    assert!(tool_names(&resumed).contains(&"ask_user".to_string()));
    let tool_msg = resumed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .expect("the answer reaches the model");
    let answer: Value = serde_json::from_str(tool_msg["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer,
        json!({"status": "answered", "answers": {"q1": "B"}})
    );
    let call = m["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["status"], "completed");

    // Two questions at once are refused, and the model hears why.
    script.queue(json!({"calls": [
        ["call_a", "ask_user", question.to_string()],
        ["call_b", "ask_user", question.to_string()],
    ]}));
    script.queue(json!({"text": "One at a time, then."}));
    let again = admin
        .post("/api/chat/completions", turn("again", None, None, 2))
        .await;
    let chat_id = again.body["chat_id"].as_str().unwrap().to_string();
    let m = stored(&admin, &chat_id, "a-2").await;
    assert_eq!(m["content"], "One at a time, then.");
    let last = script.requests().last().unwrap().clone();
    let refusals: Vec<&Value> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(refusals.len(), 2);
    assert!(refusals
        .iter()
        .all(|r| r["content"].as_str().unwrap().contains("did not run")));
}

#[tokio::test]
async fn memory_tools_write_the_callers_memories() {
    let (_srv, admin, script) = setup().await;
    let mut body = turn("remember that I like tea", None, None, 1);
    body["features"] = json!({"memory": true});
    script.queue(json!({"calls": [["call_m", "add_memory", r#"{"content": "Likes tea"}"#]]}));
    script.queue(json!({"text": "Noted."}));
    let started = admin.post("/api/chat/completions", body).await;
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let m = stored(&admin, &chat_id, "a-1").await;
    assert_eq!(m["content"], "Noted.");
    assert!(tool_names(&script.requests()[0]).contains(&"add_memory".to_string()));
    let memories = admin.get("/api/v1/memories/").await.body;
    let list = memories.as_array().expect("a list of memories");
    assert_eq!(list.len(), 1, "{memories}");
    assert_eq!(list[0]["content"], "Likes tea");
}

/// A stand-in OpenAPI tool server: a weather lookup that wants the
/// connection's key, and an operation that always fails.
async fn weather_server() -> (String, common::Inbox) {
    let inbox: common::Inbox = Default::default();
    let doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "Weather API", "version": "1"},
        "paths": {
            "/weather/{city}": {"get": {
                "operationId": "lookup_weather",
                "description": "Current weather of a city",
                "parameters": [
                    {"name": "city", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "units", "in": "query", "schema": {"type": "string"}}
                ]
            }},
            "/broken": {"post": {"operationId": "broken_op", "summary": "Always fails"}}
        }
    });
    let log = inbox.clone();
    let app = Router::new()
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .route(
            "/weather/{city}",
            get(
                |axum::extract::Path(city): axum::extract::Path<String>,
                 axum::extract::RawQuery(q): axum::extract::RawQuery,
                 headers: axum::http::HeaderMap| async move {
                    if headers.get("authorization").and_then(|v| v.to_str().ok())
                        != Some("Bearer wx-secret")
                    {
                        return (axum::http::StatusCode::UNAUTHORIZED, "no key").into_response();
                    }
                    Json(json!({"city": city, "query": q, "sky": "clear"})).into_response()
                },
            ),
        )
        .route(
            "/broken",
            post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "it broke") }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(common::Received {
                        path: req.uri().path().to_string(),
                        headers: req.headers().clone(),
                        body: Default::default(),
                    });
                    next.run(req).await
                }
            },
        ));
    (common::serve(app).await, inbox)
}

/// Stores the admin's tool-server connections.
async fn save_tool_servers(admin: &common::Client, conns: Value) {
    let saved = admin
        .post(
            "/api/v1/configs/tool_servers",
            json!({"TOOL_SERVER_CONNECTIONS": conns}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

#[tokio::test]
async fn an_openapi_tool_server_is_verified_listed_and_called() {
    let (srv, admin, script) = setup().await;
    let (base, inbox) = weather_server().await;
    let conn = json!({"url": base, "path": "openapi.json", "type": "openapi", "auth_type": "bearer",
        "key": "wx-secret", "config": {"enable": true}, "info": {"id": "wx", "name": "Weather"}});

    let verified = admin
        .post("/api/v1/configs/tool_servers/verify", conn.clone())
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(verified.body["paths"]["/weather/{city}"].is_object());
    let mut down = conn.clone();
    down["url"] = json!("http://127.0.0.1:9");
    let refused = admin
        .post("/api/v1/configs/tool_servers/verify", down)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // The same address verified as an MCP server: it does not speak MCP.
    let mut mcp = conn.clone();
    mcp["type"] = json!("mcp");
    let mcp = admin.post("/api/v1/configs/tool_servers/verify", mcp).await;
    assert_eq!(mcp.status, 400);
    assert!(mcp.body["detail"].as_str().unwrap().contains("MCP"));

    save_tool_servers(&admin, json!([conn])).await;
    let listed = admin.get("/api/v1/tools/").await.body;
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "server:wx")
        .unwrap_or_else(|| panic!("the server is listed: {listed}"));
    assert_eq!(entry["name"], "Weather");
    // A connection without grants is for admins only.
    let (user, user_id) = common::add_user_with_id(&srv, &admin, "Uma").await;
    let theirs = user.get("/api/v1/tools/").await.body;
    assert!(!theirs.to_string().contains("server:wx"), "{theirs}");
    // A read grant naming the user lets them see it.
    let mut shared = conn.clone();
    shared["config"]["access_grants"] =
        json!([{"principal_type": "user", "principal_id": user_id, "permission": "read"}]);
    save_tool_servers(&admin, json!([shared])).await;
    let theirs = user.get("/api/v1/tools/").await.body;
    assert!(theirs.to_string().contains("server:wx"), "{theirs}");

    script.queue(json!({"calls": [
        ["c_wx", "lookup_weather", r#"{"city": "Oslo Vest", "units": "metric"}"#],
        ["c_broken", "broken_op", "{}"],
    ]}));
    script.queue(json!({"text": "Clear skies in Oslo."}));
    let mut body = turn("weather in Oslo?", None, None, 1);
    body["tool_ids"] = json!(["server:wx"]);
    let started = admin.post("/api/chat/completions", body).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let m = stored(&admin, &chat_id, "a-1").await;
    assert_eq!(m["content"], "Clear skies in Oslo.");

    let requests = script.requests();
    let names = tool_names(&requests[0]);
    assert!(names.contains(&"lookup_weather".to_string()), "{names:?}");
    let spec = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "lookup_weather")
        .unwrap()
        .clone();
    assert_eq!(spec["function"]["parameters"]["required"], json!(["city"]));

    let results: Vec<Value> = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .cloned()
        .collect();
    assert_eq!(results.len(), 2);
    let weather: Value = serde_json::from_str(results[0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        weather,
        json!({"city": "Oslo Vest", "query": "units=metric", "sky": "clear"})
    );
    let broken = results[1]["content"].as_str().unwrap();
    assert!(
        broken.contains("HTTP error 500") && broken.contains("it broke"),
        "{broken}"
    );
    let called = common::received_at(&inbox, "/weather/Oslo%20Vest");
    assert_eq!(called.len(), 1, "the path parameter is encoded");

    let output = m["output"].as_array().unwrap();
    let status_of = |name: &str| {
        output
            .iter()
            .find(|i| i["type"] == "function_call" && i["name"] == name)
            .map(|i| i["status"].clone())
    };
    assert_eq!(status_of("lookup_weather"), Some(json!("completed")));
    assert_eq!(status_of("broken_op"), Some(json!("failed")));
}

#[tokio::test]
async fn prompt_based_calling_runs_the_picked_tools_first() {
    let (_srv, admin, script) = setup().await;
    let (base, inbox) = weather_server().await;
    let conn = json!({"url": base, "path": "openapi.json", "auth_type": "bearer", "key": "wx-secret",
        "config": {"enable": true}, "info": {"id": "wx", "name": "Weather"}});
    save_tool_servers(&admin, json!([conn])).await;
    script.tasks.lock().unwrap().push_back(
        r#"Sure: {"tool_calls": [{"name": "lookup_weather", "parameters": {"city": "Bergen", "bogus": 1}}, {"name": "made_up", "parameters": {}}]}"#.into(),
    );
    script.queue(json!({"text": "Clear in Bergen."}));
    let mut body = turn("weather in Bergen?", None, None, 1);
    body["tool_ids"] = json!(["server:wx"]);
    body["params"] = json!({"function_calling": "legacy"});
    let started = admin.post("/api/chat/completions", body).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = started.body["chat_id"].as_str().unwrap().to_string();
    let m = stored(&admin, &chat_id, "a-1").await;
    assert_eq!(m["content"], "Clear in Bergen.");

    let task = script.task_requests.lock().unwrap()[0].clone();
    let system = task["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("lookup_weather"),
        "the specs reach the task model"
    );
    assert!(task["messages"][1]["content"]
        .as_str()
        .unwrap()
        .ends_with("Query: weather in Bergen?"));
    assert_eq!(
        common::received_at(&inbox, "/weather/Bergen").len(),
        1,
        "the picked tool ran once, the unknown one not at all"
    );

    let answer_request = &script.requests()[0];
    assert!(answer_request.get("tools").is_none(), "no native tools");
    let last = answer_request["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let text = last["content"].as_str().unwrap();
    assert!(
        text.contains("\"sky\": \"clear\"") && text.contains("weather in Bergen?"),
        "{text}"
    );
    let source = &m["sources"][0];
    assert_eq!(source["tool_result"], true, "{m}");
    assert_eq!(source["source"]["name"], "server:wx/lookup_weather");
    assert_eq!(
        source["metadata"][0]["parameters"],
        json!({"city": "Bergen"})
    );
}
