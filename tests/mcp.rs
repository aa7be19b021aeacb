//! MCP tool servers over the real wire: an MCP server written here with
//! rmcp's server side (streamable HTTP on a local port), the app on
//! 127.0.0.1:0, and a scripted OpenAI-compatible model that streams its tool
//! calls in pieces. The admin verifies and saves the connection, users see it
//! listed when they may, and the model's calls reach the server with the
//! connection's credentials; every failure is a result the model reads.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use axum::Router;
use common::scripted::{tool_names, Script};
use common::TestServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorData, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde_json::{json, Value};

// ------------------------------------------------------------ the MCP server

/// A 1×1 PNG, base64.
const PIXEL: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// Our stand-in MCP server: a weather lookup (text plus structured
/// content), a tool that always reports an error, and a slow one.
#[derive(Clone)]
struct Fake;

impl ServerHandler for Fake {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Always give temperatures in Celsius.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let city = json!({"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]});
        let nothing = json!({"type": "object", "properties": {}});
        Ok(serde_json::from_value(json!({"tools": [
            {"name": "weather", "description": "Weather of a city", "inputSchema": city},
            {"name": "fail", "description": "Always fails", "inputSchema": nothing},
            {"name": "slow", "description": "Takes its time", "inputSchema": nothing},
            {"name": "snapshot", "description": "A camera picture", "inputSchema": nothing},
        ]}))
        .unwrap())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "weather" => {
                let city = args.get("city").and_then(Value::as_str).unwrap_or("?");
                json!({"content": [{"type": "text", "text": format!("Sunny in {city}.")}],
                       "structuredContent": {"city": city, "celsius": 21}})
            }
            "fail" => json!({"content": [{"type": "text", "text": "the sensor is offline"}],
                             "isError": true}),
            "snapshot" => json!({"content": [
                {"type": "text", "text": "camera 1"},
                {"type": "image", "data": PIXEL, "mimeType": "image/png"},
            ]}),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(20)).await;
                json!({"content": [{"type": "text", "text": "finally"}]})
            }
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        };
        let result: CallToolResult = serde_json::from_value(result).unwrap();
        Ok(result.into())
    }
}

/// What the MCP server saw, a switch that makes it answer 503, and the
/// session ids it answers 404 for (as a restarted server would).
#[derive(Clone, Default)]
struct McpSide {
    inbox: common::Inbox,
    down: Arc<AtomicBool>,
    forgotten: Arc<Mutex<Vec<String>>>,
}

impl McpSide {
    /// Forgets every session opened so far.
    fn forget_sessions(&self) {
        let ids: Vec<String> = self
            .inbox
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r.headers.get("mcp-session-id"))
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        assert!(!ids.is_empty(), "sessions were used");
        self.forgotten.lock().unwrap().extend(ids);
    }

    /// The JSON-RPC methods the server was asked, in order.
    fn methods(&self) -> Vec<String> {
        self.inbox
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|v| v["method"].as_str().map(str::to_string))
            .collect()
    }
}

/// Starts the MCP server; its URL ends in `/mcp`.
async fn mcp_server() -> (String, McpSide) {
    let side = McpSide::default();
    let service: StreamableHttpService<Fake, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Fake),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let seen = side.clone();
    let app = Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    if seen.down.load(Ordering::SeqCst) {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
                            .into_response();
                    }
                    let session = req
                        .headers()
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    // Only messages are refused: the open event stream stays
                    // up, so the client learns of it when it next asks.
                    let posted = req.method() == axum::http::Method::POST;
                    if posted
                        && session.is_some_and(|id| seen.forgotten.lock().unwrap().contains(&id))
                    {
                        return (axum::http::StatusCode::NOT_FOUND, "no such session")
                            .into_response();
                    }
                    let (parts, body) = req.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                    seen.inbox.lock().unwrap().push(common::Received {
                        path: parts.uri.path().to_string(),
                        headers: parts.headers.clone(),
                        body: body.clone(),
                    });
                    let req = axum::extract::Request::from_parts(parts, body.into());
                    next.run(req).await
                }
            },
        ));
    (format!("{}/mcp", common::serve(app).await), side)
}

// ------------------------------------------------------- the scripted model

async fn setup() -> (TestServer, common::Client, Script) {
    let script = Script::default();
    let app = script.router();
    let base = common::serve(app).await;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    common::connect_openai(&admin, &format!("{base}/v1")).await;
    // Everyone may chat with the scripted model.
    common::open_model_to_everyone(&admin, "mock-gpt", "mock-gpt").await;
    (srv, admin, script)
}

fn turn(content: &str, tool_ids: Value) -> Value {
    json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": {},
        "session_id": "not-a-socket", "id": "a-1", "parent_id": null, "tool_ids": tool_ids,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": content, "timestamp": 1, "models": ["mock-gpt"]},
        "background_tasks": {},
    })
}

/// Starts a turn and waits for its stored assistant message.
async fn run_turn(who: &common::Client, body: Value) -> Value {
    common::scripted::run_turn(who, body, "a-1").await
}

/// The tool results the model was given, by call id.
fn tool_results(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn call_status(message: &Value, name: &str) -> Option<Value> {
    message["output"]
        .as_array()?
        .iter()
        .find(|i| i["type"] == "function_call" && i["name"] == name)
        .map(|i| i["status"].clone())
}

async fn save_tool_servers(admin: &common::Client, conns: Value) {
    let saved = admin
        .post(
            "/api/v1/configs/tool_servers",
            json!({"TOOL_SERVER_CONNECTIONS": conns}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

fn connection(url: &str) -> Value {
    json!({"url": url, "path": "", "type": "mcp", "auth_type": "bearer", "key": "mcp-secret",
        "headers": {"X-Caller": "{{USER_NAME}}"},
        "config": {"enable": true, "function_name_filter_list": "!slow"},
        "info": {"id": "fake", "name": "Fake MCP", "description": "weather and more"}})
}

// -------------------------------------------------------------------- tests

#[tokio::test]
async fn an_mcp_server_is_verified_listed_and_called() {
    let (_srv, admin, script) = setup().await;
    let (url, side) = mcp_server().await;
    let conn = connection(&url);

    let verified = admin
        .post("/api/v1/configs/tool_servers/verify", conn.clone())
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert_eq!(verified.body["status"], true);
    let specs = verified.body["specs"].as_array().unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["weather", "fail", "slow", "snapshot"]);
    assert_eq!(specs[0]["parameters"]["required"], json!(["city"]));
    assert_eq!(specs[0]["description"], "Weather of a city");

    let mut down = conn.clone();
    down["url"] = json!("http://127.0.0.1:9/mcp");
    let refused = admin
        .post("/api/v1/configs/tool_servers/verify", down)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Failed to create MCP client"),
        "{detail}"
    );
    let mut oauth = conn.clone();
    oauth["auth_type"] = json!("oauth_2.1");
    let oauth = admin
        .post("/api/v1/configs/tool_servers/verify", oauth)
        .await;
    assert_eq!(oauth.status, 400, "{}", oauth.body);
    assert!(oauth.body["detail"].as_str().unwrap().contains("oauth_2.1"));

    save_tool_servers(&admin, json!([conn])).await;
    let listed = admin.get("/api/v1/tools/").await.body;
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "server:mcp:fake")
        .unwrap_or_else(|| panic!("the MCP server is listed: {listed}"))
        .clone();
    assert_eq!(entry["name"], "Fake MCP");
    assert_eq!(entry["meta"]["description"], "weather and more");
    let specs = admin.get("/api/v1/tools/id/server:mcp:fake/specs").await;
    assert_eq!(specs.status, 200, "{}", specs.body);
    assert_eq!(
        specs.body["specs"],
        json!([{"name": "weather", "description": "Weather of a city"},
               {"name": "fail", "description": "Always fails"},
               {"name": "snapshot", "description": "A camera picture"}]),
        "the name filter holds here too"
    );
    let unknown = admin.get("/api/v1/tools/id/server:mcp:nope/specs").await;
    assert_eq!(unknown.status, 404);

    script.queue(json!({"calls": [
        ["c_wx", "fake_weather", r#"{"city": "Oslo"}"#],
        ["c_fail", "fake_fail", "{}"],
    ]}));
    script.queue(json!({"text": "Sunny and 21 in Oslo."}));
    let m = run_turn(&admin, turn("weather in Oslo?", json!(["server:mcp:fake"]))).await;
    assert_eq!(m["content"], "Sunny and 21 in Oslo.");

    let requests = script.requests();
    assert_eq!(requests.len(), 2);
    let names = tool_names(&requests[0]);
    for expected in ["fake_weather", "fake_fail", "get_current_timestamp"] {
        assert!(names.contains(&expected.to_string()), "{names:?}");
    }
    assert!(
        !names.contains(&"fake_slow".to_string()),
        "the name filter holds"
    );
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("Always give temperatures in Celsius."),
        "the server's instructions reach the model: {system}"
    );

    let results = tool_results(&requests[1]);
    assert_eq!(results.len(), 2);
    let weather: Value = serde_json::from_str(&results[0].1).unwrap();
    assert_eq!(
        weather,
        json!({"results": ["Sunny in Oslo.", {"city": "Oslo", "celsius": 21}]})
    );
    let failed: Value = serde_json::from_str(&results[1].1).unwrap();
    assert_eq!(failed, json!({"error": "the sensor is offline"}));
    assert_eq!(call_status(&m, "fake_weather"), Some(json!("completed")));
    assert_eq!(call_status(&m, "fake_fail"), Some(json!("failed")));
    let stored_result = m["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == "c_wx")
        .expect("the result is stored with the message")
        .to_string();
    assert!(stored_result.contains("Sunny in Oslo."), "{stored_result}");

    // Verifying opened one session and showing the tools another, which
    // the turn used for its listing and both calls; a second turn too.
    let handshakes = |m: &[String]| {
        m.iter()
            .filter(|m| *m == "initialize" || *m == "server/discover")
            .count()
    };
    let before = side.methods();
    assert_eq!(handshakes(&before), 2, "{before:?}");
    assert_eq!(
        before.iter().filter(|m| *m == "tools/call").count(),
        2,
        "{before:?}"
    );
    script.queue(json!({"text": "Still sunny."}));
    run_turn(&admin, turn("and now?", json!(["server:mcp:fake"]))).await;
    let after = side.methods();
    assert_eq!(handshakes(&after), 2, "the session is reused: {after:?}");
    assert_eq!(after.last().map(String::as_str), Some("tools/list"));

    // Every request carried the connection's key and custom header.
    let seen = side.inbox.lock().unwrap();
    assert!(!seen.is_empty());
    for r in seen.iter() {
        let header = |n: &str| {
            r.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        assert_eq!(
            header("authorization").as_deref(),
            Some("Bearer mcp-secret")
        );
        assert_eq!(header("x-caller").as_deref(), Some("Admin"));
    }
}

#[tokio::test]
async fn only_users_with_access_get_the_tools() {
    let (srv, admin, script) = setup().await;
    let (url, side) = mcp_server().await;
    let (user, user_id) = common::add_user_with_id(&srv, &admin, "Uma").await;
    let mut conn = connection(&url);
    conn["auth_type"] = json!("session");
    save_tool_servers(&admin, json!([conn.clone()])).await;

    // Without grants the connection is for admins only.
    let theirs = user.get("/api/v1/tools/").await.body;
    assert!(!theirs.to_string().contains("server:mcp:fake"), "{theirs}");
    let specs = user.get("/api/v1/tools/id/server:mcp:fake/specs").await;
    assert_eq!(specs.status, 404, "{}", specs.body);
    script.queue(json!({"text": "No tools for you."}));
    let m = run_turn(&user, turn("weather?", json!(["server:mcp:fake"]))).await;
    assert_eq!(m["content"], "No tools for you.");
    let names = tool_names(&script.requests()[0]);
    assert!(!names.iter().any(|n| n.starts_with("fake_")), "{names:?}");
    assert!(
        side.inbox.lock().unwrap().is_empty(),
        "the server is not contacted"
    );

    // A read grant lets the user list and use it, with their own session.
    conn["config"]["access_grants"] =
        json!([{"principal_type": "user", "principal_id": user_id, "permission": "read"}]);
    save_tool_servers(&admin, json!([conn])).await;
    let theirs = user.get("/api/v1/tools/").await.body;
    assert!(theirs.to_string().contains("server:mcp:fake"), "{theirs}");
    script.queue(json!({"calls": [["c1", "fake_weather", r#"{"city": "Bergen"}"#]]}));
    script.queue(json!({"text": "Sunny in Bergen."}));
    let m = run_turn(
        &user,
        turn("weather in Bergen?", json!(["server:mcp:fake"])),
    )
    .await;
    assert_eq!(m["content"], "Sunny in Bergen.");
    assert_eq!(call_status(&m, "fake_weather"), Some(json!("completed")));
    let token = user.token.clone().unwrap();
    let seen = side.inbox.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(
        |r| r.headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {token}"))
    ));
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_result_not_a_failed_chat() {
    let (_srv, admin, script) = setup().await;
    let (url, side) = mcp_server().await;
    let mut gone = connection("http://127.0.0.1:9/mcp");
    gone["info"]["id"] = json!("gone");
    save_tool_servers(&admin, json!([connection(&url), gone])).await;

    // A server that cannot be reached at all offers no tools; the turn goes on.
    script.queue(json!({"calls": [["c0", "gone_weather", r#"{"city": "Oslo"}"#]]}));
    script.queue(json!({"text": "That server is away."}));
    let m = run_turn(&admin, turn("weather?", json!(["server:mcp:gone"]))).await;
    assert_eq!(m["content"], "That server is away.");
    let first = &script.requests()[0];
    assert!(!tool_names(first).iter().any(|n| n.starts_with("gone_")));
    let results = tool_results(&script.requests()[1]);
    assert!(results[0].1.contains("not found"), "{:?}", results);

    // A server that goes away after listing its tools: the call's result
    // says so and the model still answers.
    let down = side.down.clone();
    *script.on_ask.lock().unwrap() = Some(Arc::new(move || down.store(true, Ordering::SeqCst)));
    script.queue(json!({"calls": [["c1", "fake_weather", r#"{"city": "Oslo"}"#]]}));
    script.queue(json!({"text": "The weather service is down."}));
    let m = run_turn(&admin, turn("weather now?", json!(["server:mcp:fake"]))).await;
    assert_eq!(m["content"], "The weather service is down.");
    assert!(m.get("error").is_none_or(Value::is_null), "{m}");
    let requests = script.requests();
    assert!(tool_names(&requests[2]).contains(&"fake_weather".to_string()));
    let results = tool_results(&requests[3]);
    let error: Value = serde_json::from_str(&results[0].1).unwrap();
    assert_eq!(
        error["error"], "the MCP server fake could not be reached",
        "no address or cause is shown: {error}"
    );
    assert_eq!(call_status(&m, "fake_weather"), Some(json!("failed")));
}

#[tokio::test]
async fn a_slow_tool_times_out_into_an_error_result() {
    // Read at each call; 3 s leaves the other tests of this binary (which
    // `cargo test` runs in the same process) ample time for their calls.
    std::env::set_var("AIOHTTP_CLIENT_TIMEOUT_TOOL_SERVER", "3");
    let (_srv, admin, script) = setup().await;
    let (url, _side) = mcp_server().await;
    let mut conn = connection(&url);
    conn["config"]["function_name_filter_list"] = json!("");
    save_tool_servers(&admin, json!([conn])).await;
    script.queue(json!({"calls": [["c1", "fake_slow", "{}"]]}));
    script.queue(json!({"text": "It took too long."}));
    let started = std::time::Instant::now();
    let m = run_turn(&admin, turn("be slow", json!(["server:mcp:fake"]))).await;
    assert_eq!(m["content"], "It took too long.");
    assert!(started.elapsed() < Duration::from_secs(15));
    let results = tool_results(&script.requests()[1]);
    let error: Value = serde_json::from_str(&results[0].1).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("did not answer"),
        "{error}"
    );
}

#[tokio::test]
async fn prompt_based_calling_runs_mcp_tools_first() {
    let (_srv, admin, script) = setup().await;
    let (url, _side) = mcp_server().await;
    save_tool_servers(&admin, json!([connection(&url)])).await;
    script.tasks.lock().unwrap().push_back(
        r#"{"tool_calls": [{"name": "fake_weather", "parameters": {"city": "Tromsø"}}]}"#.into(),
    );
    script.queue(json!({"text": "Sunny in Tromsø."}));
    let mut body = turn("weather in Tromsø?", json!(["server:mcp:fake"]));
    body["params"] = json!({"function_calling": "legacy"});
    let m = run_turn(&admin, body).await;
    assert_eq!(m["content"], "Sunny in Tromsø.");
    let request = &script.requests()[0];
    assert!(request.get("tools").is_none(), "no native tools");
    let last = request["messages"].as_array().unwrap().last().unwrap();
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .contains("Sunny in Tromsø."),
        "{last}"
    );
    assert_eq!(
        m["sources"][0]["source"]["name"],
        "server:mcp:fake/fake_weather"
    );
}

#[tokio::test]
async fn a_session_the_server_forgot_is_opened_again() {
    let (_srv, admin, script) = setup().await;
    let (url, side) = mcp_server().await;
    save_tool_servers(&admin, json!([connection(&url)])).await;
    script.queue(json!({"text": "Hello."}));
    run_turn(&admin, turn("hi", json!(["server:mcp:fake"]))).await;
    let first = side.methods();
    assert_eq!(first.iter().filter(|m| *m == "initialize").count(), 1);

    side.forget_sessions();
    script.queue(json!({"calls": [["c1", "fake_weather", r#"{"city": "Oslo"}"#]]}));
    script.queue(json!({"text": "Sunny."}));
    let m = run_turn(&admin, turn("weather?", json!(["server:mcp:fake"]))).await;
    assert_eq!(m["content"], "Sunny.");
    assert_eq!(call_status(&m, "fake_weather"), Some(json!("completed")));
    let methods = side.methods();
    assert_eq!(
        methods.iter().filter(|m| *m == "initialize").count(),
        2,
        "a new session replaced the forgotten one: {methods:?}"
    );
    let results = tool_results(&script.requests()[2]);
    assert!(results[0].1.contains("Sunny in Oslo."), "{results:?}");

    // Forgotten between listing and calling: the call still runs, once.
    let forget = side.clone();
    *script.on_ask.lock().unwrap() = Some(Arc::new(move || forget.forget_sessions()));
    script.queue(json!({"calls": [["c2", "fake_weather", r#"{"city": "Bodø"}"#]]}));
    script.queue(json!({"text": "Sunny in Bodø."}));
    let m = run_turn(&admin, turn("and Bodø?", json!(["server:mcp:fake"]))).await;
    assert_eq!(call_status(&m, "fake_weather"), Some(json!("completed")));
    let results = tool_results(&script.requests()[4]);
    assert!(results[0].1.contains("Sunny in Bodø."), "{results:?}");
    let calls = side.methods().iter().filter(|m| *m == "tools/call").count();
    assert_eq!(calls, 2, "each call ran once");
}

#[tokio::test]
async fn a_picture_a_tool_returns_is_kept_and_shown_to_the_model() {
    let (_srv, admin, script) = setup().await;
    let (url, _side) = mcp_server().await;
    save_tool_servers(&admin, json!([connection(&url)])).await;
    script.queue(json!({"calls": [["c_snap", "fake_snapshot", "{}"]]}));
    script.queue(json!({"text": "Two boats."}));
    let m = run_turn(&admin, turn("show the camera", json!(["server:mcp:fake"]))).await;
    assert_eq!(m["content"], "Two boats.");

    // The stored result keeps the picture as the user's file.
    let result = m["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == "c_snap")
        .cloned()
        .expect("the call's result is stored");
    let link = result["output"][1]["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(result["output"][1]["type"], "input_image");
    assert!(
        link.starts_with("/api/v1/files/") && link.ends_with("/content"),
        "{link}"
    );
    assert_eq!(result["files"], json!([{"type": "image", "url": link}]));
    let file = admin
        .http
        .get(format!("{}{link}", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/png");

    // The model reads the text and then sees the picture itself.
    let follow_up = &script.requests()[1];
    let results = tool_results(follow_up);
    assert!(results[0].1.contains("camera 1"), "{results:?}");
    let last = follow_up["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "user");
    assert_eq!(
        last["content"][1]["image_url"]["url"],
        format!("data:image/png;base64,{PIXEL}")
    );
}
