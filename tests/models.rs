//! Model connections, the merged model list, workspace models with access
//! control, and talking to models — against mock OpenAI and Ollama servers.

mod common;

use std::time::{Duration, Instant};

use common::mock_llm::{closed_port_url, silent_server, Behavior, MockLlm};
use common::{add_user, admin, copy_dir, fixture_dir, settings_for, Client, TestServer};
use futures::StreamExt;
use open_webui::llm::{self, LlmError, ModelTarget, Provider, StreamEvent};
use reqwest::StatusCode;
use serde_json::{json, Value};

const LIST_BOUND_SECS: u64 = 2;

/// A short model-list bound keeps the unreachable-connection tests quick.
/// Set once, before any server of this binary reads it.
fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var(
            "AIOHTTP_CLIENT_TIMEOUT_MODEL_LIST",
            LIST_BOUND_SECS.to_string(),
        );
    });
}

async fn connect(admin: &Client, openai: &[&str], configs: Value, ollama: &[&str]) {
    let keys: Vec<String> = openai.iter().map(|_| "sk-test".to_string()).collect();
    let r = admin
        .post(
            "/openai/config/update",
            json!({
                "ENABLE_OPENAI_API": !openai.is_empty(),
                "OPENAI_API_BASE_URLS": openai,
                "OPENAI_API_KEYS": keys,
                "OPENAI_API_CONFIGS": configs,
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin
        .post(
            "/ollama/config/update",
            json!({"ENABLE_OLLAMA_API": !ollama.is_empty(), "OLLAMA_BASE_URLS": ollama, "OLLAMA_API_CONFIGS": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn find<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing from {list}"))
}

#[tokio::test]
async fn connections_list_both_providers_despite_dead_ones() {
    init();
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let openai = MockLlm::openai(&["gpt-mock", "gpt-other"]).await;
    let ollama = MockLlm::ollama(&["llama3:latest", "qwen:7b"]).await;
    let closed = closed_port_url().await;
    let silent = silent_server().await;

    connect(
        &admin,
        &[openai.url.as_str(), closed.as_str(), silent.url.as_str()],
        json!({"0": {"enable": true, "tags": [{"name": "fast"}], "connection_type": "external"}, "7": {"junk": 1}}),
        &[ollama.url.as_str()],
    )
    .await;

    let cfg = admin.get("/openai/config").await.body;
    assert_eq!(
        cfg["OPENAI_API_KEYS"],
        json!(["sk-test", "sk-test", "sk-test"])
    );
    assert!(
        cfg["OPENAI_API_CONFIGS"].get("7").is_none(),
        "configs for missing URLs are dropped"
    );
    assert_eq!(
        admin.get("/ollama/config").await.body["OLLAMA_BASE_URLS"],
        json!([ollama.url])
    );

    let start = Instant::now();
    let list = admin.get("/api/models").await;
    let took = start.elapsed();
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        took < Duration::from_secs(LIST_BOUND_SECS) + Duration::from_millis(1500),
        "a silent connection held the list for {took:?}"
    );
    let list = list.body;
    let got = ids(&list);
    for id in ["gpt-mock", "gpt-other", "llama3:latest", "qwen:7b"] {
        assert!(got.contains(&id.to_string()), "{id} in {got:?}");
    }
    let gpt = find(&list, "gpt-mock");
    assert_eq!(gpt["owned_by"], "openai");
    assert_eq!(gpt["object"], "model");
    assert_eq!(gpt["connection_type"], "external");
    assert_eq!(gpt["urlIdx"], 0);
    assert_eq!(gpt["name"], "gpt-mock");
    assert_eq!(gpt["openai"]["id"], "gpt-mock");
    assert_eq!(gpt["provider"], "");
    assert_eq!(gpt["tags"], json!([{"name": "fast"}]));
    assert_eq!(gpt["actions"], json!([]));
    assert_eq!(gpt["filters"], json!([]));
    let llama = find(&list, "llama3:latest");
    assert_eq!(llama["owned_by"], "ollama");
    assert_eq!(llama["connection_type"], "local");
    assert_eq!(llama["ollama"]["urls"], json!([0]));
    assert_eq!(llama["loaded"], true, "listed by /api/ps");
    assert_eq!(find(&list, "qwen:7b")["loaded"], false);

    // The key went to the connection.
    let seen = openai.requests();
    assert!(seen
        .iter()
        .any(|s| s.path == "/v1/models" && s.authorization.as_deref() == Some("Bearer sk-test")));

    // Cached: the dead connections cost nothing now.
    let start = Instant::now();
    assert_eq!(admin.get("/api/models").await.status, 200);
    assert!(
        start.elapsed() < Duration::from_millis(800),
        "cached list took {:?}",
        start.elapsed()
    );

    let base = admin.get("/api/models/base").await;
    assert_eq!(base.status, 200);
    assert_eq!(ids(&base.body).len(), 4);
    let tags = admin.get("/ollama/api/tags").await;
    assert_eq!(tags.body["models"].as_array().unwrap().len(), 2);
    assert_eq!(
        admin.get("/openai/models").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        admin.get("/ollama/api/version").await.body["version"],
        "0.6.2"
    );

    // A config change drops the cache: a new model shows up at once.
    openai.set_models(&["gpt-mock", "gpt-other", "gpt-new"]);
    connect(
        &admin,
        &[openai.url.as_str()],
        json!({"0": {"prefix_id": "p"}}),
        &[],
    )
    .await;
    let list = admin.get("/api/models").await.body;
    assert_eq!(ids(&list), vec!["p.gpt-mock", "p.gpt-other", "p.gpt-new"]);

    // ui.model_order_list orders the list, the rest by name.
    let r = admin
        .post(
            "/api/v1/configs/models",
            json!({"DEFAULT_MODELS": null, "DEFAULT_PINNED_MODELS": null, "MODEL_ORDER_LIST": ["p.gpt-new"], "DEFAULT_MODEL_METADATA": {}, "DEFAULT_MODEL_PARAMS": {}}),
        )
        .await;
    if r.status == 200 {
        let list = admin.get("/api/models").await.body;
        assert_eq!(ids(&list), vec!["p.gpt-new", "p.gpt-mock", "p.gpt-other"]);
    }

    // Verify asks the URL with the given key and relays the answer.
    let v = admin
        .post(
            "/openai/verify",
            json!({"url": openai.url, "key": "sk-verify"}),
        )
        .await;
    assert_eq!(v.status, 200);
    assert_eq!(v.body["data"].as_array().unwrap().len(), 3);
    let v = admin
        .post("/openai/verify", json!({"url": closed, "key": ""}))
        .await;
    assert!(v.status.is_server_error());
    assert!(
        v.body["detail"]
            .as_str()
            .unwrap()
            .contains("Could not connect"),
        "{}",
        v.body
    );
    let v = admin
        .post("/ollama/verify", json!({"url": ollama.url}))
        .await;
    assert_eq!(v.body["version"], "0.6.2");

    srv.stop().await;
}

#[tokio::test]
async fn only_dead_connections_give_an_empty_list_quickly() {
    init();
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let (a, b) = (closed_port_url().await, closed_port_url().await);
    connect(&admin, &[a.as_str()], json!({}), &[b.as_str()]).await;
    let start = Instant::now();
    let r = admin.get("/api/models").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], json!([]));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // Disabled APIs are not asked at all.
    let r = admin
        .post(
            "/openai/config/update",
            json!({"ENABLE_OPENAI_API": false, "OPENAI_API_BASE_URLS": [], "OPENAI_API_KEYS": [], "OPENAI_API_CONFIGS": {}}),
        )
        .await;
    assert_eq!(r.body["ENABLE_OPENAI_API"], false);
    assert_eq!(
        admin.get("/openai/models").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Bad input is a 422, not a crash.
    assert_eq!(
        admin
            .post(
                "/openai/config/update",
                json!({"OPENAI_API_BASE_URLS": "x"})
            )
            .await
            .status,
        422
    );
    srv.stop().await;
}

fn preset(id: &str, name: &str, grants: Value) -> Value {
    json!({
        "id": id,
        "base_model_id": "gpt-mock",
        "name": name,
        "meta": {
            "profile_image_url": "/static/favicon.png",
            "description": format!("{name} preset"),
            "capabilities": {"vision": false, "usage": true},
            "tags": [{"name": "fun"}],
        },
        "params": {"system": format!("You are {name}."), "temperature": 0.3},
        "access_grants": grants,
    })
}

#[tokio::test]
async fn workspace_models_and_access_control() {
    init();
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Bob").await;
    let openai = MockLlm::openai(&["gpt-mock"]).await;
    connect(&admin, &[openai.url.as_str()], json!({}), &[]).await;

    let public = json!([{"principal_type": "user", "principal_id": "*", "permission": "read"}]);
    let r = admin
        .post(
            "/api/v1/models/create",
            preset("pirate", "Pirate", public.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["base_model_id"], "gpt-mock");
    assert_eq!(r.body["access_grants"][0]["principal_id"], "*");
    assert_eq!(r.body["is_active"], true);
    assert!(r.body["version_id"].is_string());
    let r = admin
        .post(
            "/api/v1/models/create",
            preset("secret", "Secret", json!([])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Same id again, bad ids, and users without the workspace permission.
    assert_eq!(
        admin
            .post("/api/v1/models/create", preset("secret", "S", json!([])))
            .await
            .status,
        401
    );
    assert_eq!(
        admin
            .post("/api/v1/models/create", preset("has space", "S", json!([])))
            .await
            .status,
        422
    );
    assert_eq!(
        admin
            .post("/api/v1/models/create", json!({"id": "x"}))
            .await
            .status,
        422
    );
    assert_eq!(
        user.post("/api/v1/models/create", preset("mine", "Mine", json!([])))
            .await
            .status,
        401
    );

    // The admin sees everything; presets carry their row but never the system prompt.
    let list = admin.get("/api/models").await.body;
    assert!(ids(&list).contains(&"secret".to_string()));
    let p = find(&list, "pirate");
    assert_eq!(p["preset"], true);
    assert_eq!(p["owned_by"], "openai");
    assert_eq!(p["connection_type"], "external");
    assert_eq!(p["info"]["base_model_id"], "gpt-mock");
    assert_eq!(p["info"]["params"], json!({}));
    assert!(p["info"]["meta"].get("profile_image_url").is_none());
    assert_eq!(p["info"]["meta"]["capabilities"]["usage"], true);
    assert_eq!(p["tags"], json!([{"name": "fun"}]));

    // A user sees public presets only, and no unshared base model.
    let ulist = user.get("/api/models").await.body;
    assert_eq!(ids(&ulist), vec!["pirate"]);
    assert_eq!(user.get("/api/v1/models/model?id=secret").await.status, 401);
    let one = user.get("/api/v1/models/model?id=pirate").await.body;
    assert_eq!(one["write_access"], false);
    assert_eq!(one["params"], json!({}), "read-only callers get no params");
    let full = admin.get("/api/v1/models/model?id=pirate").await.body;
    assert_eq!(full["params"]["system"], "You are Pirate.");
    let wl = user.get("/api/v1/models/list").await.body;
    assert_eq!(wl["total"], 1);
    let wl = admin
        .get("/api/v1/models/list?order_by=name&direction=asc")
        .await
        .body;
    assert_eq!(wl["total"], 2);
    assert_eq!(wl["items"][0]["id"], "pirate");
    assert_eq!(wl["items"][0]["write_access"], true);
    assert_eq!(wl["items"][0]["user"]["name"], "Admin");
    assert_eq!(user.get("/api/v1/models/tags").await.body, json!(["fun"]));

    // Completions enforce the same access; the base model must be shared too.
    let ask =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        user.post("/openai/chat/completions", ask("secret"))
            .await
            .status,
        403
    );
    assert_eq!(
        user.post("/openai/chat/completions", ask("pirate"))
            .await
            .status,
        403
    );
    let r = admin
        .post(
            "/api/v1/models/model/access/update",
            json!({"id": "gpt-mock", "name": "gpt-mock", "access_grants": public}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = user.post("/openai/chat/completions", ask("pirate")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["choices"][0]["message"]["content"],
        "Hello from the mock."
    );
    let sent = openai.chat_requests().pop().unwrap();
    assert_eq!(sent.body["model"], "gpt-mock");
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "You are Pirate."})
    );
    assert_eq!(sent.body["temperature"], 0.3);
    assert!(ids(&user.get("/api/models").await.body).contains(&"gpt-mock".to_string()));

    // Toggle hides a preset from the list; toggling again brings it back.
    let t = admin
        .post("/api/v1/models/model/toggle?id=pirate", json!({}))
        .await;
    assert_eq!(t.body["is_active"], false);
    assert!(!ids(&user.get("/api/models").await.body).contains(&"pirate".to_string()));
    assert_eq!(
        user.post("/api/v1/models/model/toggle?id=pirate", json!({}))
            .await
            .status,
        401
    );
    admin
        .post("/api/v1/models/model/toggle?id=pirate", json!({}))
        .await;

    // Update keeps the profile image when the editor leaves it out, and records history.
    let mut upd = preset("pirate", "Captain", json!(null));
    upd["meta"]
        .as_object_mut()
        .unwrap()
        .remove("profile_image_url");
    let r = admin.post("/api/v1/models/model/update", upd).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Captain");
    assert_eq!(r.body["meta"]["profile_image_url"], "/static/favicon.png");
    assert_eq!(
        r.body["access_grants"].as_array().unwrap().len(),
        1,
        "update leaves grants alone"
    );
    let hist = admin
        .get("/api/v1/models/model/history?id=pirate")
        .await
        .body;
    assert_eq!(hist.as_array().unwrap().len(), 2);
    assert_eq!(
        user.post(
            "/api/v1/models/model/update",
            preset("pirate", "X", json!(null))
        )
        .await
        .status,
        400
    );
    // Entries of the same second have no defined order; the first has no parent.
    let first = hist
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["parent_id"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap();
    let r = admin
        .post(
            "/api/v1/models/model/update/version?id=pirate",
            json!({"version_id": first}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Pirate");

    // Profile images: a static path redirects, unknown ids fall back.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let img = http
        .get(srv.url("/api/v1/models/model/profile/image?id=pirate"))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(img.status(), StatusCode::FOUND);
    assert_eq!(img.headers()["location"], "/static/favicon.png");

    // Export, delete, import.
    let exported = admin.get("/api/v1/models/export").await.body;
    assert_eq!(exported.as_array().unwrap().len(), 2);
    let only = admin.get("/api/v1/models/export?ids=secret").await.body;
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(user.get("/api/v1/models/export").await.status, 401);
    let d = admin
        .post("/api/v1/models/model/delete", json!({"id": "secret"}))
        .await;
    assert_eq!(d.body, true);
    assert!(admin.get("/api/v1/models/model?id=secret").await.status == 404);
    let r = admin
        .post("/api/v1/models/import", json!({"models": exported}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let back = admin.get("/api/v1/models/model?id=secret").await.body;
    assert_eq!(back["name"], "Secret");
    assert_eq!(back["params"]["system"], "You are Secret.");
    assert!(!ids(&user.get("/api/models").await.body).contains(&"secret".to_string()));

    // Sharing with a group the user is in.
    let all = admin.get("/api/v1/models/all").await.body;
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(
        admin
            .get("/api/v1/models/base")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(admin.delete("/api/v1/models/delete/all").await.body, true);
    assert_eq!(admin.get("/api/v1/models/all").await.body, json!([]));
    srv.stop().await;
}

fn target(mock: &MockLlm, provider: Provider, model: &str) -> ModelTarget {
    ModelTarget {
        provider,
        base_url: mock.url.clone(),
        api_key: Some("sk-lib".into()),
        upstream_id: model.into(),
        url_idx: 0,
        api_config: json!({}),
    }
}

async fn collect(
    mut s: futures::stream::BoxStream<'static, Result<StreamEvent, LlmError>>,
) -> (
    String,
    String,
    Option<Value>,
    Option<(Option<String>, Value)>,
    Option<LlmError>,
) {
    let (mut content, mut reasoning, mut usage, mut finish) =
        (String::new(), String::new(), None, None);
    while let Some(ev) = s.next().await {
        match ev {
            Ok(StreamEvent::Content(c)) => content.push_str(&c),
            Ok(StreamEvent::Reasoning(r)) => reasoning.push_str(&r),
            Ok(StreamEvent::Usage(u)) => usage = Some(u),
            Ok(StreamEvent::Finish { reason, last_chunk }) => finish = Some((reason, last_chunk)),
            Ok(StreamEvent::ToolCall(d)) => panic!("the mock sent a tool call: {d:?}"),
            Ok(StreamEvent::ReasoningDetails(d)) => {
                panic!("the mock sent reasoning details: {d:?}")
            }
            Ok(StreamEvent::Responses(e)) => panic!("the mock sent a Responses event: {e}"),
            Err(e) => return (content, reasoning, usage, finish, Some(e)),
        }
    }
    (content, reasoning, usage, finish, None)
}

/// A chat body that asks for usage (providers report it only when asked).
fn chat_body() -> Value {
    json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "max_tokens": 20,
           "stream_options": {"include_usage": true}})
}

#[tokio::test]
async fn stream_and_complete_against_both_providers() {
    init();
    let openai = MockLlm::openai(&["gpt-mock"]).await;
    let ollama = MockLlm::ollama(&["llama3:latest"]).await;
    let reasoning = Behavior {
        reasoning: vec!["Let me".into(), " think".into()],
        ..Behavior::default()
    };
    openai.set(reasoning.clone());
    ollama.set(reasoning);

    for (mock, provider, model) in [
        (&openai, Provider::OpenAi, "gpt-mock"),
        (&ollama, Provider::Ollama, "llama3:latest"),
    ] {
        let t = target(mock, provider, model);
        let s = llm::stream_chat(&t, chat_body()).await.unwrap();
        let (content, reasoning, usage, finish, err) = collect(s).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(content, "Hello from the mock.");
        assert_eq!(reasoning, "Let me think");
        let usage = usage.expect("usage");
        assert!(usage["prompt_tokens"].as_i64().unwrap() > 0);
        assert_eq!(usage["completion_tokens"], 5);
        assert_eq!(
            usage["total_tokens"].as_i64().unwrap(),
            usage["prompt_tokens"].as_i64().unwrap() + 5
        );
        let (reason, last) = finish.expect("finish");
        assert_eq!(reason.as_deref(), Some("stop"));
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert_eq!(last["usage"]["completion_tokens"], 5);

        let done = llm::complete(&t, chat_body()).await.unwrap();
        assert_eq!(done.content, "Hello from the mock.");
        assert_eq!(done.raw["object"], "chat.completion");
        assert_eq!(
            done.raw["choices"][0]["message"]["reasoning_content"],
            "Let me think"
        );
        assert!(done.usage.is_some());
    }
    // What went upstream: OpenAI with usage requested, Ollama with options.
    let sent = openai.chat_requests();
    assert_eq!(sent[0].body["stream"], true);
    assert_eq!(sent[0].body["stream_options"]["include_usage"], true);
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer sk-lib"));
    assert!(sent[1].body.get("stream_options").is_none());
    let sent = ollama.chat_requests();
    assert_eq!(sent[0].body["model"], "llama3:latest");
    assert_eq!(sent[0].body["options"]["temperature"], 0.5);
    assert_eq!(sent[0].body["options"]["num_predict"], 20);
}

#[tokio::test]
async fn provider_failures_are_readable_errors() {
    init();
    let openai = MockLlm::openai(&["gpt-mock"]).await;
    let ollama = MockLlm::ollama(&["llama3:latest"]).await;

    // Error status.
    openai.set(Behavior {
        fail: Some((500, "the mock is on fire".into())),
        ..Behavior::default()
    });
    let e =
        match llm::stream_chat(&target(&openai, Provider::OpenAi, "gpt-mock"), chat_body()).await {
            Err(e) => e,
            Ok(_) => panic!("expected an error"),
        };
    assert_eq!(
        e.to_string(),
        "The model provider answered 500: the mock is on fire"
    );
    let e = llm::complete(&target(&ollama, Provider::Ollama, "nope"), chat_body())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("The model provider answered 404: model \"nope\" not found"),
        "{e}"
    );

    // Nothing listening.
    let closed = closed_port_url().await;
    let dead = ModelTarget {
        base_url: format!("{closed}/v1"),
        ..target(&openai, Provider::OpenAi, "gpt-mock")
    };
    let e = match llm::stream_chat(&dead, chat_body()).await {
        Err(e) => e,
        Ok(_) => panic!("expected an error"),
    };
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("Could not connect to {closed}/v1: ")),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");

    // Dropped mid-answer: the content so far, then an error.
    for (mock, provider, model) in [
        (&openai, Provider::OpenAi, "gpt-mock"),
        (&ollama, Provider::Ollama, "llama3:latest"),
    ] {
        mock.set(Behavior {
            drop_after: Some(2),
            ..Behavior::default()
        });
        let s = llm::stream_chat(&target(mock, provider, model), chat_body())
            .await
            .unwrap();
        let (content, _, _, finish, err) = collect(s).await;
        assert_eq!(content, "Hello from");
        assert!(finish.is_none());
        let err = err.expect("a mid-stream drop is an error");
        assert!(matches!(err, LlmError::Interrupted(_)), "{err:?}");
        assert!(err.to_string().contains("broke off"));

        // An error event inside the stream.
        mock.set(Behavior {
            error_event_after: Some(1),
            ..Behavior::default()
        });
        let s = llm::stream_chat(&target(mock, provider, model), chat_body())
            .await
            .unwrap();
        let (content, _, _, _, err) = collect(s).await;
        assert_eq!(content, "Hello");
        assert_eq!(
            err.unwrap().to_string(),
            "The model provider sent an error: mock stream error"
        );
    }
}

#[tokio::test]
async fn slow_streams_arrive_piece_by_piece_and_dropping_aborts() {
    init();
    let openai = MockLlm::openai(&["gpt-mock"]).await;
    openai.set(Behavior {
        first_token_delay: Duration::from_millis(400),
        token_delay: Duration::from_millis(150),
        ..Behavior::default()
    });
    let t = target(&openai, Provider::OpenAi, "gpt-mock");
    let start = Instant::now();
    let mut s = llm::stream_chat(&t, chat_body()).await.unwrap();
    let mut first_at = None;
    let mut content = String::new();
    while let Some(ev) = s.next().await {
        if let Ok(StreamEvent::Content(c)) = ev {
            first_at.get_or_insert(start.elapsed());
            content.push_str(&c);
        }
    }
    let total = start.elapsed();
    let first_at = first_at.unwrap();
    assert!(first_at >= Duration::from_millis(350), "{first_at:?}");
    assert!(
        total - first_at >= Duration::from_millis(500),
        "pieces were buffered: {first_at:?} / {total:?}"
    );
    assert_eq!(content, "Hello from the mock.");

    // Dropping the stream closes the upstream request.
    let before = openai.cancelled();
    let mut s = llm::stream_chat(&t, chat_body()).await.unwrap();
    loop {
        if let Some(Ok(StreamEvent::Content(_))) = s.next().await {
            break;
        }
    }
    drop(s);
    openai
        .wait_for("the upstream stream to be cancelled", |m| {
            m.cancelled() > before
        })
        .await;
}

#[tokio::test]
async fn passthrough_routes_stream_without_buffering() {
    init();
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let openai = MockLlm::openai(&["gpt-mock"]).await;
    let ollama = MockLlm::ollama(&["llama3:latest"]).await;
    connect(
        &admin,
        &[openai.url.as_str()],
        json!({}),
        &[ollama.url.as_str()],
    )
    .await;
    let slow = Behavior {
        token_delay: Duration::from_millis(200),
        ..Behavior::default()
    };
    openai.set(slow.clone());
    ollama.set(slow);

    for (path, body, ctype) in [
        (
            "/openai/chat/completions",
            json!({"model": "gpt-mock", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
            "text/event-stream",
        ),
        (
            "/ollama/api/chat",
            json!({"model": "llama3:latest", "messages": [{"role": "user", "content": "hi"}]}),
            "application/x-ndjson",
        ),
    ] {
        let start = Instant::now();
        let resp = admin
            .http
            .post(srv.url(path))
            .bearer_auth(admin.token.as_deref().unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ctype));
        let mut chunks = resp.bytes_stream();
        let mut arrivals = Vec::new();
        let mut text = String::new();
        while let Some(c) = chunks.next().await {
            let c = c.unwrap();
            if !c.is_empty() {
                arrivals.push(start.elapsed());
                text.push_str(&String::from_utf8_lossy(&c));
            }
        }
        assert!(arrivals.len() >= 3, "{path}: {} chunks", arrivals.len());
        let spread = *arrivals.last().unwrap() - arrivals[0];
        assert!(
            spread >= Duration::from_millis(600),
            "{path}: buffered ({arrivals:?})"
        );
        assert!(text.contains("mock"), "{text}");
        if path.starts_with("/openai") {
            assert!(text.trim_end().ends_with("data: [DONE]"));
        } else {
            assert!(text.lines().last().unwrap().contains("\"done\":true"));
        }
    }

    // Non-streamed and error answers from the relay.
    let r = admin
        .post(
            "/openai/chat/completions",
            json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.body["object"], "chat.completion");
    openai.set(Behavior {
        fail: Some((429, "slow down".into())),
        ..Behavior::default()
    });
    let r = admin
        .post(
            "/openai/chat/completions",
            json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["detail"], "slow down");
    let r = admin
        .post(
            "/openai/chat/completions",
            json!({"model": "no-such-model", "messages": []}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = admin
        .post(
            "/ollama/api/generate",
            json!({"model": "llama3:latest", "prompt": "x", "stream": false}),
        )
        .await;
    assert_eq!(r.body["response"], "Hello from the mock.");
    let r = admin
        .post("/ollama/api/show", json!({"model": "llama3:latest"}))
        .await;
    assert_eq!(r.body["modelfile"], "FROM llama3:latest");
    srv.stop().await;
}

#[tokio::test]
async fn python_fixture_models_and_grants_work() {
    init();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("webui_secret_key.txt")).unwrap();
    let srv = TestServer::start(settings_for(tmp.path(), Some(&secret))).await;
    let c = srv.client();
    let admin = c.login("admin@example.com", "Admin-pass-1").await;
    let alice = c.login("alice@example.com", "Alice-pass-1").await;
    let mock = MockLlm::openai(&["mock-gpt"]).await;
    // The stored connection points at a port of the machine that made the
    // fixture; aim it at the mock, keeping the stored key.
    let mut cfg = admin.get("/openai/config").await.body;
    assert_eq!(cfg["OPENAI_API_KEYS"], json!(["x"]));
    cfg["OPENAI_API_BASE_URLS"] = json!([mock.url]);
    assert_eq!(admin.post("/openai/config/update", cfg).await.status, 200);
    let r = admin
        .post(
            "/ollama/config/update",
            json!({"ENABLE_OLLAMA_API": false, "OLLAMA_BASE_URLS": [], "OLLAMA_API_CONFIGS": {}}),
        )
        .await;
    assert_eq!(r.status, 200);

    for who in [&admin, &alice] {
        let list = who.get("/api/models").await.body;
        assert_eq!(ids(&list), vec!["mock-gpt", "pirate-helper"]);
        let base = find(&list, "mock-gpt");
        assert_eq!(base["info"]["access_grants"][0]["principal_id"], "*");
        let p = find(&list, "pirate-helper");
        assert_eq!(p["name"], "Pirate Helper");
        assert_eq!(p["preset"], true);
        assert_eq!(p["created"], 1795343713);
        assert_eq!(p["info"]["meta"]["capabilities"]["vision"], true);
        assert_eq!(p["tags"], json!([{"name": "fun"}]));
        assert_eq!(p["info"]["params"], json!({}));
    }
    let r = alice
        .post(
            "/openai/chat/completions",
            json!({"model": "pirate-helper", "messages": [{"role": "user", "content": "ahoy"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = mock.chat_requests().pop().unwrap();
    assert_eq!(sent.authorization.as_deref(), Some("Bearer x"));
    assert_eq!(sent.body["model"], "mock-gpt");
    assert_eq!(sent.body["temperature"], 0.7);
    assert!(sent.body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .starts_with("You are Pirate Helper."));
    let wl = alice.get("/api/v1/models/list").await.body;
    assert_eq!(wl["items"][0]["id"], "pirate-helper");
    assert_eq!(wl["items"][0]["write_access"], false);
    srv.stop().await;
}

/// Model controls: the admin's presets on a model. Nothing picked sends each
/// control's default, a pick sends its option (string values read as JSON)
/// over the chat's own params, picks stay with their model, a pick of a gone
/// option and picks not keyed by model are refused, malformed controls are
/// refused on save.
#[tokio::test]
async fn model_controls_reach_the_provider_as_picked() {
    init();
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Bob").await;
    let openai = MockLlm::openai(&["gpt-mock"]).await;
    connect(&admin, &[openai.url.as_str()], json!({}), &[]).await;
    let thinking = json!({"label": "Thinking", "default": "medium", "options": {
        "low": {"label": "Low", "params": {"reasoning_effort": "low"}},
        "medium": {"label": "Medium", "params": {"reasoning_effort": "medium"}},
        "high": {"label": "High", "params": {"reasoning_effort": "high", "max_tokens": "4096"}},
    }});
    let mut form = preset(
        "tuned",
        "Tuned",
        json!([{"principal_type": "user", "principal_id": "*", "permission": "read"}]),
    );
    form["params"] = json!({"top_p": 0.5, "model_controls": {"thinking": thinking}});
    let r = admin.post("/api/v1/models/create", form.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Users need the base model shared too.
    let r = admin
        .post(
            "/api/v1/models/model/access/update",
            json!({"id": "gpt-mock", "name": "gpt-mock", "access_grants":
                   [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let ask = |model: &str, params: Value| {
        let c = user.with_token(user.token.as_deref().unwrap());
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "params": params});
        async move { c.post("/api/chat/completions", body).await }
    };
    let last = || openai.chat_requests().last().unwrap().body.clone();

    let r = ask("tuned", json!({"temperature": 0.2})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = last();
    assert_eq!(
        (
            sent["reasoning_effort"].clone(),
            sent["top_p"].clone(),
            sent["temperature"].clone()
        ),
        (json!("medium"), json!(0.5), json!(0.2))
    );
    assert!(sent.get("max_tokens").is_none());
    assert!(sent.get("model_controls").is_none() && sent.get("params").is_none());

    let r = ask(
        "tuned",
        json!({"reasoning_effort": "none", "model_controls": {"tuned": {"thinking": "high"}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            last()["reasoning_effort"].clone(),
            last()["max_tokens"].clone()
        ),
        (json!("high"), json!(4096))
    );

    // Picks for another model, or for the plain provider model, do nothing.
    let r = ask(
        "gpt-mock",
        json!({"model_controls": {"tuned": {"thinking": "high"}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(last().get("reasoning_effort").is_none());

    // Usage is asked for on streams of models with the usage capability only.
    for (model, asked) in [("tuned", true), ("gpt-mock", false)] {
        let body = json!({"model": model, "stream": true,
                          "messages": [{"role": "user", "content": "hi"}]});
        user.post("/api/chat/completions", body).await;
        let sent = last();
        assert_eq!(
            sent["stream_options"]["include_usage"] == json!(true),
            asked,
            "{model}: {sent}"
        );
    }

    let before = openai.chat_requests().len();
    let r = ask(
        "tuned",
        json!({"model_controls": {"tuned": {"thinking": "extreme"}}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["detail"],
        "Model control thinking: the selected option is no longer available."
    );
    let r = ask("tuned", json!({"model_controls": ["thinking"]})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["detail"],
        "Model control options must be keyed by model."
    );
    assert_eq!(
        openai.chat_requests().len(),
        before,
        "refusals never reach the provider"
    );

    let mut bad = form.clone();
    bad["id"] = json!("bad-controls");
    bad["params"]["model_controls"]["thinking"]["default"] = json!("extreme");
    let r = admin.post("/api/v1/models/create", bad.clone()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    bad["params"]["model_controls"] = json!({"1st": thinking});
    assert_eq!(admin.post("/api/v1/models/create", bad).await.status, 422);
    assert_eq!(
        admin
            .get("/api/v1/models/model?id=bad-controls")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_refused_ollama_verification_is_a_500_with_the_servers_reason() {
    init();
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let refusing = common::serve(axum::Router::new().route(
        "/api/version",
        axum::routing::get(|| async {
            (
                axum::http::StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "unauthorized: key revoked"})),
            )
        }),
    ))
    .await;
    let silent = common::serve(axum::Router::new().route(
        "/api/version",
        axum::routing::get(|| async { axum::http::StatusCode::FORBIDDEN }),
    ))
    .await;
    let r = admin
        .post("/ollama/verify", json!({"url": refusing, "key": ""}))
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(
        r.body["detail"],
        "Unexpected error: External Error: unauthorized: key revoked"
    );
    let r = admin
        .post("/ollama/verify", json!({"url": silent, "key": ""}))
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.body["detail"], "Unexpected error: HTTP Error: 403");
    let r = admin
        .post("/ollama/verify", json!({"url": closed_port_url().await}))
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.body["detail"], "Open WebUI: Server Connection Error");
    srv.stop().await;
}

#[tokio::test]
async fn anthropic_connections_list_every_page_by_display_name() {
    use axum::extract::Query;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    init();
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let base = common::serve(axum::Router::new().route(
        "/api.anthropic.com/v1/models",
        axum::routing::get(
            move |headers: axum::http::HeaderMap, Query(q): Query<HashMap<String, String>>| {
                let log = log.clone();
                async move {
                    let key = headers
                        .get("x-api-key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    log.lock().unwrap().push((key, q.get("after_id").cloned()));
                    axum::Json(if q.get("after_id").map(String::as_str) == Some("claude-a") {
                        json!({"data": [{"id": "claude-b"}], "has_more": false, "last_id": "claude-b"})
                    } else {
                        json!({"data": [{"id": "claude-a", "display_name": "Claude A"}],
                               "has_more": true, "last_id": "claude-a"})
                    })
                }
            },
        ),
    ))
    .await;
    common::connect_openai(&admin, &format!("{base}/api.anthropic.com/v1")).await;
    let list = admin.get("/api/models").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let names: Vec<(String, String)> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("claude-a".to_string(), "Claude A".to_string()),
            ("claude-b".to_string(), "claude-b".to_string())
        ]
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (Some("sk-test".to_string()), None),
            (Some("sk-test".to_string()), Some("claude-a".to_string()))
        ]
    );
    srv.stop().await;
}
