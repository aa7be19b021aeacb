//! Web search over real HTTP: each provider family asked the way its API
//! documents and its answer read (a local stand-in replays the documented
//! shapes), the domain filter, the pages loaded through the guarded fetcher
//! and kept whole or embedded, `/retrieval/process/web/search`, and a chat
//! turn with the web search switch in legacy mode (queries by the task
//! model, statuses, cited sources) and in native mode (`search_web` /
//! `fetch_url` tools).
//!
//! The pages and stand-ins listen on loopback, so every test allows local
//! fetches with `ENABLE_LOCAL_WEB_FETCH` (as an on-premises admin would).

mod common;
#[path = "data/support.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{any, get};
use axum::{Json, Router};
use common::scripted::{tool_names, Script};
use common::{Client, TestServer};
use serde_json::{json, Value};

/// What the stand-in saw: method, path with query, headers, body.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Value,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn hit(title: &str, snippet_key: &str, extra: Value) -> Value {
    let mut v = json!({"title": title});
    v[snippet_key] = json!(format!("about {title}"));
    if let Value::Object(m) = extra {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
}

/// The answer of each provider family, chosen by method, path and body.
fn provider_answer(method: &Method, uri: &Uri, body: &Value) -> Value {
    let path = uri.path();
    let url = |host: &str, i: u32| format!("https://{host}.example/{i}");
    match (method.as_str(), path) {
        ("GET", "/res/v1/web/search") => json!({"web": {"results": [
            hit("Brave one", "description", json!({"url": url("brave", 1)})),
            hit("Brave two", "description", json!({"url": url("blocked", 2)})),
        ]}}),
        // One page of results: asking from result 11 on finds nothing.
        ("GET", "/customsearch/v1")
            if !uri.query().unwrap_or("").contains("start=1&")
                && !uri.query().unwrap_or("").ends_with("start=1") =>
        {
            json!({})
        }
        ("GET", "/customsearch/v1") => json!({"items": [
            hit("PSE one", "snippet", json!({"link": url("pse", 1)})),
        ]}),
        ("POST", "/api/v1/search") => json!({"data": {"search": [
            hit("Kagi one", "snippet", json!({"url": url("kagi", 1)})),
        ]}}),
        ("GET", "/api/v1/search") => json!({
            "organic_results": [hit("SearchApi one", "snippet", json!({"link": url("searchapi", 1)}))],
            "top_stories": [hit("SearchApi story", "snippet", json!({"link": url("searchapi", 2)}))],
        }),
        ("POST", "/chat/completions") => json!({
            "choices": [{"message": {"role": "assistant", "content": "Perplexity says hi"}}],
            "citations": [url("pplx", 1), url("pplx", 2)],
        }),
        ("POST", "/") => json!({"data": [
            hit("Jina one", "content", json!({"url": url("jina", 1)})),
        ]}),
        ("POST", "/v2/search") => json!({"success": true, "data": {"web": [
            {"url": url("firecrawl", 1), "title": "Firecrawl one", "description": "about Firecrawl one"},
            {"metadata": {"sourceURL": url("firecrawl", 2), "title": "Firecrawl two",
                          "description": "about Firecrawl two"}},
        ]}}),
        ("GET", "/search") => json!({"organic_results": [
            hit("SerpApi second", "snippet", json!({"link": url("serpapi", 2), "position": 2})),
            hit("SerpApi first", "snippet", json!({"link": url("serpapi", 1), "position": 1})),
        ]}),
        ("GET", "/searxng") => json!({"results": [
            hit("Searx low", "content", json!({"url": url("searx", 2), "score": 0.1})),
            hit("Searx high", "content", json!({"url": url("searx", 1), "score": 3.0})),
        ]}),
        ("GET", "/v7.0/search") => json!({"webPages": {"value": [
            {"url": url("bing", 1), "name": "Bing one", "snippet": "about Bing one"},
        ]}}),
        ("GET", p) if p.starts_with("/v1/search/") => json!({"results": [
            hit("Serply one", "description", json!({"link": url("serply", 1), "realPosition": 1})),
        ]}),
        ("POST", "/search") if body.get("numResults").is_some() => json!({"results": [
            hit("Exa one", "text", json!({"url": url("exa", 1)})),
        ]}),
        ("POST", "/search") if body.get("search_depth").is_some() => json!({"results": [
            hit("Tavily one", "content", json!({"url": url("tavily", 1)})),
        ]}),
        ("POST", "/search") if body.get("max_results").is_some() => json!({"results": [
            hit("Pplx search one", "snippet", json!({"url": url("pplxsearch", 1)})),
        ]}),
        ("POST", "/search") => json!({"organic": [
            hit("Serper two", "snippet", json!({"link": url("serper", 2), "position": 2})),
            hit("Serper one", "snippet", json!({"link": url("serper", 1), "position": 1})),
        ]}),
        _ => json!({"unexpected": path}),
    }
}

/// The provider stand-in: every request logged and answered by family.
async fn providers() -> (String, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let app = Router::new().fallback(any(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = l2.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                log.lock().unwrap().push(Seen {
                    method: method.to_string(),
                    uri: uri.to_string(),
                    headers,
                    body: body.clone(),
                });
                Json(provider_answer(&method, &uri, &body))
            }
        },
    ));
    (common::serve(app).await, log)
}

/// Web pages on loopback, and an external search engine listing them.
async fn site() -> (String, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let page = |text: &'static str| {
        get(move || async move {
            axum::response::Html(format!(
                "<html><head><title>t</title></head><body><p>{text}</p></body></html>"
            ))
        })
    };
    let app = Router::new()
        .route("/tides", page("High tide is at noon in the harbour."))
        .route("/ferry", page("The ferry leaves at seven every morning."))
        .route("/missing", get(|| async { (axum::http::StatusCode::NOT_FOUND, "gone") }))
        .route(
            "/engine",
            axum::routing::post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let log = l2.clone();
                async move {
                    log.lock().unwrap().push(Seen {
                        method: "POST".into(),
                        uri: "/engine".into(),
                        headers: headers.clone(),
                        body: body.clone(),
                    });
                    let host = headers["host"].to_str().unwrap().to_string();
                    Json(json!([
                        {"link": format!("http://{host}/tides"), "title": "Tides", "snippet": "tide times"},
                        {"link": format!("http://{host}/ferry"), "title": "Ferry", "snippet": "ferry times"},
                        {"link": format!("http://{host}/missing"), "title": "Gone", "snippet": "nothing"},
                    ]))
                }
            }),
        );
    (common::serve(app).await, log)
}

fn allow_local_and(origin: Option<&str>) {
    std::env::set_var("ENABLE_LOCAL_WEB_FETCH", "true");
    if let Some(o) = origin {
        std::env::set_var("WEB_SEARCH_PROVIDER_ORIGIN", o);
    }
}

async fn save_web(admin: &Client, changes: Value) {
    let mut web = admin.get("/api/v1/retrieval/config").await.body["web"].clone();
    for (k, v) in changes.as_object().unwrap() {
        web[k] = v.clone();
    }
    let r = admin
        .post("/api/v1/retrieval/config/update", json!({"web": web}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

fn links(answer: &Value) -> Vec<String> {
    answer["items"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|i| i["link"].as_str().unwrap().to_string())
        .collect()
}

/// An engine, its key setting, the links it must yield, a header it must send.
type Case = (
    &'static str,
    &'static str,
    Vec<&'static str>,
    (&'static str, &'static str),
);

#[tokio::test]
async fn each_provider_is_asked_as_documented_and_read() {
    let (origin, log) = providers().await;
    allow_local_and(Some(&origin));
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let base = json!({
        "ENABLE_WEB_SEARCH": true, "WEB_SEARCH_RESULT_COUNT": 5,
        "BYPASS_WEB_SEARCH_WEB_LOADER": true, "BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL": true,
        "WEB_SEARCH_DOMAIN_FILTER_LIST": ["!blocked.example"],
        "SEARXNG_QUERY_URL": format!("{origin}/searxng?q=<query>"),
        "BING_SEARCH_V7_ENDPOINT": format!("{origin}/v7.0/search"),
        "FIRECRAWL_API_BASE_URL": origin, "FIRECRAWL_API_KEY": "fc-key",
        "PERPLEXITY_SEARCH_API_URL": format!("{origin}/search"),
        "JINA_API_BASE_URL": format!("{origin}/"),
    });
    save_web(&admin, base).await;
    // (engine, its key setting, the links it must yield, a header it must send)
    let cases: Vec<Case> = vec![
        (
            "brave",
            "BRAVE_SEARCH_API_KEY",
            vec!["https://brave.example/1"],
            ("x-subscription-token", "k-brave"),
        ),
        (
            "google_pse",
            "GOOGLE_PSE_API_KEY",
            vec!["https://pse.example/1"],
            ("", ""),
        ),
        (
            "kagi",
            "KAGI_SEARCH_API_KEY",
            vec!["https://kagi.example/1"],
            ("authorization", "Bearer k-kagi"),
        ),
        (
            "searchapi",
            "SEARCHAPI_API_KEY",
            vec!["https://searchapi.example/1", "https://searchapi.example/2"],
            ("", ""),
        ),
        (
            "perplexity",
            "PERPLEXITY_API_KEY",
            vec!["https://pplx.example/1", "https://pplx.example/2"],
            ("authorization", "Bearer k-perplexity"),
        ),
        (
            "perplexity_search",
            "PERPLEXITY_API_KEY",
            vec!["https://pplxsearch.example/1"],
            ("authorization", "Bearer k-perplexity_search"),
        ),
        (
            "jina",
            "JINA_API_KEY",
            vec!["https://jina.example/1"],
            ("authorization", "k-jina"),
        ),
        (
            "firecrawl",
            "",
            vec!["https://firecrawl.example/1", "https://firecrawl.example/2"],
            ("authorization", "Bearer fc-key"),
        ),
        (
            "serpapi",
            "SERPAPI_API_KEY",
            vec!["https://serpapi.example/1", "https://serpapi.example/2"],
            ("", ""),
        ),
        (
            "searxng",
            "",
            vec!["https://searx.example/1", "https://searx.example/2"],
            ("", ""),
        ),
        (
            "bing",
            "BING_SEARCH_V7_SUBSCRIPTION_KEY",
            vec!["https://bing.example/1"],
            ("ocp-apim-subscription-key", "k-bing"),
        ),
        (
            "serply",
            "SERPLY_API_KEY",
            vec!["https://serply.example/1"],
            ("x-api-key", "k-serply"),
        ),
        (
            "exa",
            "EXA_API_KEY",
            vec!["https://exa.example/1"],
            ("authorization", "Bearer k-exa"),
        ),
        (
            "tavily",
            "TAVILY_API_KEY",
            vec!["https://tavily.example/1"],
            ("authorization", "Bearer k-tavily"),
        ),
        (
            "serper",
            "SERPER_API_KEY",
            vec!["https://serper.example/1", "https://serper.example/2"],
            ("x-api-key", "k-serper"),
        ),
    ];
    for (engine, key, want, (header, value)) in cases {
        let mut change = json!({"WEB_SEARCH_ENGINE": engine, "GOOGLE_PSE_ENGINE_ID": "cx-1"});
        if !key.is_empty() {
            change[key] = json!(format!("k-{engine}"));
        }
        save_web(&admin, change).await;
        let before = log.lock().unwrap().len();
        let r = admin
            .post(
                "/api/v1/retrieval/process/web/search",
                json!({"queries": ["harbour tides"]}),
            )
            .await;
        assert_eq!(r.status, 200, "{engine}: {}", r.body);
        assert_eq!(links(&r.body), want, "{engine}: {}", r.body);
        assert_eq!(r.body["filenames"], json!(want), "{engine}");
        assert!(r.body["collection_name"].is_null(), "{engine}");
        // Without the loader, each document is the result's snippet.
        let first_doc = &r.body["docs"][0];
        assert_eq!(
            first_doc["metadata"]["source"],
            json!(want[0]),
            "{engine}: {}",
            r.body
        );
        assert!(
            first_doc["content"].as_str().unwrap().len() > 3,
            "{engine}: {}",
            r.body
        );
        let seen = log.lock().unwrap()[before..].to_vec();
        // Google PSE pages on until a page comes back empty.
        let calls = if engine == "google_pse" { 2 } else { 1 };
        assert_eq!(seen.len(), calls, "{engine}: {seen:?}");
        let asked = &seen[0];
        let text = format!("{} {}", asked.uri, asked.body);
        assert!(
            text.contains("harbour") && text.contains("tides"),
            "{engine} was not sent the query: {text}"
        );
        if !header.is_empty() {
            assert_eq!(
                asked.headers.get(header).and_then(|v| v.to_str().ok()),
                Some(value),
                "{engine}: {:?}",
                asked.headers
            );
        }
        match engine {
            "google_pse" => {
                assert!(asked.uri.contains("cx=cx-1") && asked.uri.contains("key=k-google_pse"))
            }
            "searchapi" => {
                assert!(asked.uri.contains("link=resolved") && asked.uri.contains("engine=google"))
            }
            "searxng" => {
                assert!(asked.uri.contains("format=json") && asked.uri.starts_with("/searxng?"))
            }
            "tavily" => assert_eq!(asked.body["max_results"], 5),
            "kagi" => assert_eq!(asked.body["limit"], 5),
            "brave" => assert!(asked.uri.contains("count=5")),
            _ => {}
        }
    }
    // Engines that need a Python library say what is missing.
    save_web(&admin, json!({"WEB_SEARCH_ENGINE": "duckduckgo"})).await;
    let r = admin
        .post(
            "/api/v1/retrieval/process/web/search",
            json!({"queries": ["x"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("DDGS"),
        "{}",
        r.body
    );
    // A provider without its key is refused before any request.
    save_web(
        &admin,
        json!({"WEB_SEARCH_ENGINE": "brave", "BRAVE_SEARCH_API_KEY": ""}),
    )
    .await;
    let before = log.lock().unwrap().len();
    let r = admin
        .post(
            "/api/v1/retrieval/process/web/search",
            json!({"queries": ["x"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(log.lock().unwrap().len(), before);
}

async fn external_engine(admin: &Client, base: &str, extra: Value) {
    let mut settings = json!({
        "ENABLE_WEB_SEARCH": true, "WEB_SEARCH_ENGINE": "external",
        "EXTERNAL_WEB_SEARCH_URL": format!("{base}/engine"),
        "EXTERNAL_WEB_SEARCH_API_KEY": "engine-key", "WEB_SEARCH_RESULT_COUNT": 3,
        "BYPASS_WEB_SEARCH_WEB_LOADER": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    save_web(admin, settings).await;
}

#[tokio::test]
async fn pages_are_loaded_then_kept_whole_or_embedded_for_their_owner() {
    let (base, log) = site().await;
    allow_local_and(None);
    let srv = TestServer::fresh().await;
    let embed = support::MockEmbed::start().await;
    let admin = support::admin_with_embeddings(&srv.client(), &embed).await;
    let user = common::add_user(&srv, &admin, "reader").await;
    let search = json!({"queries": ["when is high tide"]});

    // Off: refused for everyone.
    let r = admin
        .post("/api/v1/retrieval/process/web/search", search.clone())
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Whole pages: what the loader read, the unreadable page left out.
    external_engine(
        &admin,
        &base,
        json!({"BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL": true}),
    )
    .await;
    let r = admin
        .post("/api/v1/retrieval/process/web/search", search.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let asked = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(asked.method, "POST");
    assert_eq!(
        asked.body,
        json!({"query": "when is high tide", "count": 3})
    );
    assert_eq!(asked.headers["authorization"], "Bearer engine-key");
    assert_eq!(r.body["loaded_count"], 2, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.body);
    assert!(r.body["docs"][0]["content"]
        .as_str()
        .unwrap()
        .contains("High tide is at noon"));
    assert_eq!(
        r.body["docs"][0]["metadata"]["source"],
        json!(format!("{base}/tides"))
    );

    // Embedded: one collection named for the user, readable by them only.
    external_engine(
        &admin,
        &base,
        json!({"BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL": false}),
    )
    .await;
    let r = user
        .post("/api/v1/retrieval/process/web/search", search.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let name = r.body["collection_names"][0].as_str().unwrap().to_string();
    assert!(
        name.starts_with("web-search-") && name.len() <= 63,
        "{name}"
    );
    assert_eq!(r.body["filenames"].as_array().unwrap().len(), 2);
    let q = json!({"collection_names": [name], "query": "ferry morning", "k": 2});
    let own = user
        .post("/api/v1/retrieval/query/collection", q.clone())
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(
        own.body.to_string().contains("ferry leaves at seven"),
        "{}",
        own.body
    );
    let other = common::add_user(&srv, &admin, "other").await;
    let theirs = other.post("/api/v1/retrieval/query/collection", q).await;
    assert_eq!(theirs.status, 403, "{}", theirs.body);

    // A user without the web search permission is refused.
    common::set_default_permission(&admin, "features.web_search", false).await;
    let r = user
        .post("/api/v1/retrieval/process/web/search", search)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // The config tells the frontend web search is on.
    let config = admin.get("/api/config").await.body;
    assert_eq!(config["features"]["enable_web_search"], true, "{config}");
}

const MODEL: &str = "mock-gpt";

async fn chat_env() -> (TestServer, Client, Script, String, Log, support::MockEmbed) {
    let (site_base, log) = site().await;
    allow_local_and(None);
    let script = Script::default();
    let llm = common::serve(script.router()).await;
    let srv = TestServer::fresh().await;
    let embed = support::MockEmbed::start().await;
    let admin = support::admin_with_embeddings(&srv.client(), &embed).await;
    common::connect_openai(&admin, &format!("{llm}/v1")).await;
    assert_eq!(admin.get("/api/models?refresh=true").await.status, 200);
    (srv, admin, script, site_base, log, embed)
}

/// One stored chat turn; returns the stored reply.
async fn stored_turn(admin: &Client, features: Value, params: Value, files: Value) -> Value {
    let history = json!({"currentId": "a", "messages": {
        "u": {"id": "u", "role": "user", "content": "when is high tide?",
              "childrenIds": ["a"], "parentId": null, "timestamp": 1},
        "a": {"id": "a", "role": "assistant", "content": "", "parentId": "u",
              "childrenIds": [], "model": MODEL, "done": false, "timestamp": 2}}});
    let created = admin
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "Tides", "models": [MODEL], "history": history}}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            "/api/chat/completions",
            json!({"model": MODEL, "stream": true, "chat_id": id, "id": "a",
                   "messages": [{"role": "user", "content": "when is high tide?"}],
                   "features": features, "params": params, "files": files,
                   "background_tasks": {"title_generation": false, "tags_generation": false}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for _ in 0..200 {
        let reply = admin.get(&format!("/api/v1/chats/{id}")).await.body["chat"]["history"]
            ["messages"]["a"]
            .clone();
        if reply["done"] == json!(true) {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the reply never finished");
}

#[tokio::test]
async fn a_legacy_turn_searches_with_the_task_models_queries_and_cites_the_pages() {
    let (_srv, admin, script, base, log, _embed) = chat_env().await;
    external_engine(
        &admin,
        &base,
        json!({"BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL": true}),
    )
    .await;
    script
        .tasks
        .lock()
        .unwrap()
        .push_back(r#"{"queries": ["harbour tide times"]}"#.into());
    script.queue(json!({"text": "Noon."}));
    let reply = stored_turn(
        &admin,
        json!({"web_search": true}),
        json!({"function_calling": "legacy"}),
        json!([]),
    )
    .await;
    let asked = log
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the engine was asked");
    assert_eq!(asked.body["query"], "harbour tide times");
    let steps: Vec<Value> = reply["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"].as_str().unwrap_or("").starts_with("web_search"))
        .cloned()
        .collect();
    assert_eq!(steps.len(), 3, "{reply}");
    assert_eq!(steps[0]["description"], "Searching the web");
    assert_eq!(steps[1]["action"], "web_search_queries_generated");
    assert_eq!(steps[1]["queries"], json!(["harbour tide times"]));
    assert_eq!(steps[2]["description"], "Searched {{count}} sites");
    assert_eq!(steps[2]["urls"].as_array().unwrap().len(), 2, "{reply}");
    let sources = reply["sources"].as_array().expect("cited sources");
    assert_eq!(sources[0]["source"]["type"], "web_search", "{reply}");
    assert_eq!(
        sources[0]["metadata"][0]["source"],
        json!(format!("{base}/tides"))
    );
    let sent = script.requests().last().unwrap().to_string();
    assert!(sent.contains("High tide is at noon"), "{sent}");

    // Switched off by the admin: no step, nothing searched. A page the user
    // pasted (read by /retrieval/process/url) is still cited by its address.
    let searched = log.lock().unwrap().len();
    save_web(&admin, json!({"ENABLE_WEB_SEARCH": false})).await;
    let ferry = format!("{base}/ferry");
    let pasted = admin
        .post(
            "/api/v1/retrieval/process/url?process=false",
            json!({"url": ferry}),
        )
        .await;
    assert_eq!(pasted.status, 200, "{}", pasted.body);
    let item = json!({"type": "text", "name": ferry, "context": "full", "url": ferry,
        "file": {"data": {"content": pasted.body["content"]}, "meta": {"name": ferry, "source": ferry}}});
    script.queue(json!({"text": "Seven."}));
    let reply = stored_turn(
        &admin,
        json!({"web_search": true}),
        json!({"function_calling": "legacy"}),
        json!([item]),
    )
    .await;
    assert_eq!(log.lock().unwrap().len(), searched);
    let steps = reply["statusHistory"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !steps
            .iter()
            .any(|s| s["action"].as_str().unwrap_or("").starts_with("web_search")),
        "{reply}"
    );
    assert_eq!(
        reply["sources"][0]["metadata"][0]["source"],
        json!(ferry),
        "{reply}"
    );
    let sent = script.requests().last().unwrap().to_string();
    assert!(sent.contains("ferry leaves at seven"), "{sent}");
}

#[tokio::test]
async fn a_native_turn_gets_search_web_and_fetch_url() {
    let (_srv, admin, script, base, _log, _embed) = chat_env().await;
    external_engine(&admin, &base, json!({})).await;
    let tides = format!("{base}/tides");
    script.queue(json!({"calls": [["c1", "search_web", r#"{"query": "tides", "count": 1}"#]]}));
    script.queue(json!({"calls": [["c2", "fetch_url", json!({"url": tides}).to_string()]]}));
    script.queue(json!({"text": "Noon."}));
    let body = json!({
        "stream": true, "model": MODEL, "params": {}, "features": {"web_search": true},
        "session_id": "not-a-socket", "id": "a-1", "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": "tides?", "timestamp": 1, "models": [MODEL]},
        "background_tasks": {},
    });
    let r = admin.post("/api/chat/completions", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for _ in 0..400 {
        if script.requests().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let seen = script.requests();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let offered = tool_names(&seen[0]);
    assert!(offered.contains(&"search_web".to_string()), "{offered:?}");
    assert!(offered.contains(&"fetch_url".to_string()), "{offered:?}");
    let results: Vec<String> = seen[2]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    let found: Value = serde_json::from_str(&results[0]).unwrap();
    assert_eq!(
        found,
        json!([{"link": tides, "title": "Tides", "snippet": "tide times"}])
    );
    assert!(results[1].contains("High tide is at noon"), "{results:?}");
    // The fetched page is cited: the question goes out again with its marker
    // (search results are not cited, so the round before is unchanged).
    let question = common::scripted::last_user_text;
    assert_eq!(question(&seen[1]), "tides?");
    let cited = question(&seen[2]);
    let marker = format!("<source id=\"1\" name=\"{tides}\"></source>");
    assert!(cited.contains(&marker), "{cited}");
    assert!(cited.contains("tides?"), "{cited}");

    // Without the switch the tools are not offered.
    script.queue(json!({"text": "Hm."}));
    let mut off = body;
    off["features"] = json!({});
    off["id"] = json!("a-2");
    assert_eq!(admin.post("/api/chat/completions", off).await.status, 200);
    for _ in 0..400 {
        if script.requests().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let offered = tool_names(&script.requests()[3]);
    assert!(!offered.contains(&"search_web".to_string()), "{offered:?}");
}
