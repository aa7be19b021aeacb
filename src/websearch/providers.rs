//! One function per search provider with a documented HTTP API: the request
//! each provider expects and where its answer keeps the link, title and
//! snippet of a result. Settings come from `web.search.*` (and the
//! `web.loader.firecrawl_*` pair for Firecrawl).

use std::time::Duration;

use serde_json::{json, Value};

use super::{filter, SearchError, SearchResult};
use crate::state::AppState;

/// Longest a provider may take to answer.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from a provider.
const MAX_ANSWER: usize = 8 * 1024 * 1024;
const USER_AGENT: &str = "Mozilla/5.0 (compatible; open-webui web search)";

/// What one search asks for.
pub struct Ask<'a> {
    pub query: &'a str,
    pub count: usize,
    pub filter: &'a [String],
    pub chat_id: Option<&'a str>,
}

fn client() -> &'static reqwest::Client {
    static C: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .unwrap_or_default()
    })
}

/// `WEB_SEARCH_PROVIDER_ORIGIN` (for a gateway, or a local stand-in in
/// tests) replaces the scheme, host and port of the providers' fixed
/// endpoints; the path is kept.
fn fixed(url: &str) -> String {
    match std::env::var("WEB_SEARCH_PROVIDER_ORIGIN") {
        Ok(origin) if !origin.trim().is_empty() => {
            let path = reqwest::Url::parse(url)
                .map(|u| {
                    let mut p = u.path().to_string();
                    if let Some(q) = u.query() {
                        p.push('?');
                        p.push_str(q);
                    }
                    p
                })
                .unwrap_or_default();
            format!("{}{}", origin.trim().trim_end_matches('/'), path)
        }
        _ => url.to_string(),
    }
}

fn cfg(state: &AppState, key: &str) -> String {
    state.config.get_str(&format!("web.search.{key}"))
}

fn need(state: &AppState, key: &str, env: &str) -> Result<String, SearchError> {
    let v = cfg(state, key);
    if v.trim().is_empty() {
        return Err(SearchError::Setup(format!(
            "No {env} is set; add it in Admin Settings > Web Search."
        )));
    }
    Ok(v)
}

/// Sends a request and reads its JSON answer (refusing error statuses).
async fn send(req: reqwest::RequestBuilder, provider: &str) -> Result<Value, SearchError> {
    let resp = req
        .send()
        .await
        .map_err(|e| SearchError::Provider(format!("{provider} could not be reached: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(SearchError::Provider(format!(
            "{provider} answered HTTP {}",
            status.as_u16()
        )));
    }
    let body = crate::webfetch::read_limited(resp, MAX_ANSWER)
        .await
        .map_err(|e| SearchError::Provider(format!("{provider}: {e}")))?;
    serde_json::from_slice(&body)
        .map_err(|_| SearchError::Provider(format!("{provider} did not answer JSON")))
}

/// `k=v&…`, form-encoded.
fn encode(pairs: &[(&str, &str)]) -> String {
    let Ok(mut u) = reqwest::Url::parse("http://q/") else {
        return String::new();
    };
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or("").to_string()
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn list(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Results read from a provider's items: link, title and snippet keys.
fn read(items: &[Value], link: &str, title: &str, snippet: &str) -> Vec<SearchResult> {
    items
        .iter()
        .filter_map(|i| {
            Some(SearchResult {
                link: s(i, link).filter(|l| !l.is_empty())?,
                title: s(i, title),
                snippet: s(i, snippet),
            })
        })
        .collect()
}

fn sort_by(items: &mut [Value], key: &str, descending: bool) {
    let num = |v: &Value| v.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    items.sort_by(|a, b| {
        let o = num(a).total_cmp(&num(b));
        if descending {
            o.reverse()
        } else {
            o
        }
    });
}

fn finish(results: Vec<SearchResult>, a: &Ask<'_>, cut: bool) -> Vec<SearchResult> {
    let mut r = filter::apply(results, a.filter);
    if cut {
        r.truncate(a.count);
    }
    r
}

pub async fn searxng(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let mut url = need(state, "searxng_query_url", "SEARXNG_QUERY_URL")?;
    if url.contains("<query>") {
        url = url.split('?').next().unwrap_or("").to_string();
    }
    let language = cfg(state, "searxng_language");
    let language = language.trim().trim_end_matches(',');
    let language = if language.is_empty() { "all" } else { language };
    let req = client().get(&url).header("Accept", "text/html").query(&[
        ("q", a.query),
        ("format", "json"),
        ("pageno", "1"),
        ("safesearch", "1"),
        ("language", language),
        ("time_range", ""),
        ("categories", ""),
        ("theme", "simple"),
        ("image_proxy", "0"),
    ]);
    let answer = send(req, "SearXNG").await?;
    let mut items = list(answer.get("results"));
    sort_by(&mut items, "score", true);
    Ok(finish(read(&items, "url", "title", "content"), a, true))
}

pub async fn brave(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "brave_search_api_key", "BRAVE_SEARCH_API_KEY")?;
    let url = fixed("https://api.search.brave.com/res/v1/web/search");
    let req = || {
        client()
            .get(&url)
            .header("Accept", "application/json")
            .header("X-Subscription-Token", &key)
            .query(&[("q", a.query.to_string()), ("count", a.count.to_string())])
    };
    let answer = match send(req(), "Brave Search").await {
        // A rate limit answer is tried once more after a short pause.
        Err(SearchError::Provider(m)) if m.ends_with("HTTP 429") => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            send(req(), "Brave Search").await?
        }
        other => other?,
    };
    let items = list(answer.pointer("/web/results"));
    Ok(finish(read(&items, "url", "title", "description"), a, true))
}

pub async fn tavily(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "tavily_api_key", "TAVILY_API_KEY")?;
    let base = std::env::var("TAVILY_API_BASE_URL")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| fixed("https://api.tavily.com"));
    let depth = cfg(state, "tavily_search_depth");
    let depth = if depth.is_empty() {
        "basic".into()
    } else {
        depth
    };
    let req = client()
        .post(format!("{}/search", base.trim_end_matches('/')))
        .bearer_auth(key)
        .json(&json!({"query": a.query, "max_results": a.count, "search_depth": depth}));
    let answer = send(req, "Tavily").await?;
    let items = list(answer.get("results"));
    Ok(finish(read(&items, "url", "title", "content"), a, false))
}

pub async fn google_pse(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = cfg(state, "google_pse_api_key");
    let cx = cfg(state, "google_pse_engine_id");
    if key.is_empty() || cx.is_empty() {
        return Err(SearchError::Setup(
            "No GOOGLE_PSE_API_KEY or GOOGLE_PSE_ENGINE_ID is set; add them in Admin Settings > Web Search.".into(),
        ));
    }
    let referer = state.config.get_str("webui.url");
    let url = fixed("https://www.googleapis.com/customsearch/v1");
    let mut items: Vec<Value> = Vec::new();
    let mut start = 1;
    // The API gives at most 10 results a page.
    while items.len() < a.count && start <= 91 {
        let page = (a.count - items.len()).min(10);
        let mut req = client().get(&url).query(&[
            ("cx", cx.as_str()),
            ("q", a.query),
            ("key", key.as_str()),
            ("num", &page.to_string()),
            ("start", &start.to_string()),
        ]);
        if !referer.is_empty() {
            req = req.header("Referer", &referer);
        }
        let answer = send(req, "Google PSE").await?;
        let got = list(answer.get("items"));
        if got.is_empty() {
            break;
        }
        items.extend(got);
        start += 10;
    }
    Ok(finish(read(&items, "link", "title", "snippet"), a, false))
}

pub async fn kagi(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "kagi_search_api_key", "KAGI_SEARCH_API_KEY")?;
    let req = client()
        .post(fixed("https://kagi.com/api/v1/search"))
        .bearer_auth(key)
        .json(&json!({"query": a.query, "limit": a.count}));
    let answer = send(req, "Kagi").await?;
    let items = list(answer.pointer("/data/search"));
    Ok(finish(read(&items, "url", "title", "snippet"), a, false))
}

pub async fn exa(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "exa_api_key", "EXA_API_KEY")?;
    let max = state
        .config
        .get("web.search.exa_max_content_length")
        .as_u64()
        .map(|n| n as usize);
    let text = match max {
        Some(n) => json!({"maxCharacters": n}),
        None => json!(true),
    };
    let domains = if a.filter.is_empty() {
        Value::Null
    } else {
        json!(a.filter)
    };
    let req = client()
        .post(fixed("https://api.exa.ai/search"))
        .bearer_auth(key)
        .json(&json!({
            "query": a.query,
            "numResults": a.count.max(1),
            "includeDomains": domains,
            "contents": {"text": text},
            "type": "auto",
        }));
    let answer = send(req, "Exa").await?;
    let mut out = read(&list(answer.get("results")), "url", "title", "text");
    if let Some(n) = max {
        for r in &mut out {
            if let Some(t) = &mut r.snippet {
                *t = t.chars().take(n).collect();
            }
        }
    }
    Ok(out)
}

pub async fn perplexity(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "perplexity_api_key", "PERPLEXITY_API_KEY")?;
    let model = cfg(state, "perplexity_model");
    let usage = cfg(state, "perplexity_search_context_usage");
    let req = client()
        .post(fixed("https://api.perplexity.ai/chat/completions"))
        .bearer_auth(key)
        .json(&json!({
            "model": if model.is_empty() { "sonar".into() } else { model },
            "messages": [
                {"role": "system", "content": "Answer the search with facts and cite where they come from."},
                {"role": "user", "content": a.query},
            ],
            "temperature": 0.2,
            "stream": false,
            "web_search_options": {"search_context_usage": if usage.is_empty() { "medium".into() } else { usage }},
        }));
    let answer = send(req, "Perplexity").await?;
    let content = answer
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .unwrap_or("");
    let results = list(answer.get("citations"))
        .iter()
        .filter_map(Value::as_str)
        .take(a.count)
        .enumerate()
        .map(|(i, link)| SearchResult {
            link: link.to_string(),
            title: Some(format!("Source {}", i + 1)),
            snippet: Some(if i == 0 {
                content.into()
            } else {
                String::new()
            }),
        })
        .collect();
    Ok(finish(results, a, true))
}

pub async fn perplexity_search(
    state: &AppState,
    a: &Ask<'_>,
) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "perplexity_api_key", "PERPLEXITY_API_KEY")?;
    let url = cfg(state, "perplexity_search_api_url");
    let url = if url.is_empty() {
        fixed("https://api.perplexity.ai/search")
    } else {
        url
    };
    let req = client()
        .post(url)
        .bearer_auth(key)
        .json(&json!({"query": a.query, "max_results": a.count}));
    let answer = send(req, "Perplexity Search").await?;
    let items = list(answer.get("results"));
    Ok(finish(read(&items, "url", "title", "snippet"), a, false))
}

pub async fn jina(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = cfg(state, "jina_api_key");
    let base = cfg(state, "jina_api_base_url");
    let url = if base.trim().is_empty() {
        fixed("https://s.jina.ai/")
    } else {
        base
    };
    let req = client()
        .post(url)
        .header("Accept", "application/json")
        .header("Authorization", key)
        .header("X-Retain-Images", "none")
        .json(&json!({"q": a.query, "count": a.count.min(10)}));
    let answer = send(req, "Jina").await?;
    Ok(read(&list(answer.get("data")), "url", "title", "content"))
}

pub async fn serper(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "serper_api_key", "SERPER_API_KEY")?;
    let req = client()
        .post(fixed("https://google.serper.dev/search"))
        .header("X-API-KEY", key)
        .json(&json!({"q": a.query}));
    let answer = send(req, "Serper").await?;
    let mut items = list(answer.get("organic"));
    sort_by(&mut items, "position", false);
    Ok(finish(read(&items, "link", "title", "snippet"), a, true))
}

pub async fn serpapi(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "serpapi_api_key", "SERPAPI_API_KEY")?;
    let engine = cfg(state, "serpapi_engine");
    let engine = if engine.is_empty() {
        "google".into()
    } else {
        engine
    };
    let req = client().get(fixed("https://serpapi.com/search")).query(&[
        ("engine", engine.as_str()),
        ("q", a.query),
        ("api_key", key.as_str()),
    ]);
    let answer = send(req, "SerpApi").await?;
    let mut items = list(answer.get("organic_results"));
    sort_by(&mut items, "position", false);
    Ok(finish(read(&items, "link", "title", "snippet"), a, true))
}

pub async fn serply(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "serply_api_key", "SERPLY_API_KEY")?;
    let query = encode(&[
        ("q", a.query),
        ("language", "en"),
        ("num", "10"),
        ("gl", "US"),
        ("hl", "us"),
    ]);
    // Serply takes the query right after the path, without a `?`.
    let req = client()
        .get(format!(
            "{}{query}",
            fixed("https://api.serply.io/v1/search/")
        ))
        .header("X-API-KEY", key)
        .header("X-User-Agent", "desktop")
        .header("User-Agent", "open-webui")
        .header("X-Proxy-Location", "US");
    let answer = send(req, "Serply").await?;
    let mut items = list(answer.get("results"));
    sort_by(&mut items, "realPosition", false);
    Ok(finish(
        read(&items, "link", "title", "description"),
        a,
        true,
    ))
}

pub async fn searchapi(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = need(state, "searchapi_api_key", "SEARCHAPI_API_KEY")?;
    let engine = cfg(state, "searchapi_engine");
    let engine = if engine.is_empty() {
        "google".into()
    } else {
        engine
    };
    let mut params = vec![
        ("engine", engine.clone()),
        ("q", a.query.to_string()),
        ("api_key", key),
    ];
    if engine.starts_with("google") {
        params.push(("link", "resolved".into()));
    }
    let req = client()
        .get(fixed("https://www.searchapi.io/api/v1/search"))
        .query(&params);
    let answer = send(req, "SearchApi").await?;
    let mut items = list(answer.get("organic_results"));
    items.extend(list(answer.get("top_stories")));
    Ok(finish(read(&items, "link", "title", "snippet"), a, true))
}

pub async fn bing(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let key = cfg(state, "bing_search_v7_subscription_key");
    let endpoint = cfg(state, "bing_search_v7_endpoint");
    let endpoint = if endpoint.is_empty() {
        fixed("https://api.bing.microsoft.com/v7.0/search")
    } else {
        endpoint
    };
    let locale = state.config.get_str("ui.default_locale");
    let locale = if locale.is_empty() {
        "en-US".into()
    } else {
        locale
    };
    let req = client()
        .get(endpoint)
        .header("Ocp-Apim-Subscription-Key", key)
        .query(&[
            ("q", a.query.to_string()),
            ("mkt", locale),
            ("count", a.count.to_string()),
        ]);
    let answer = send(req, "Bing").await?;
    let items = list(answer.pointer("/webPages/value"));
    Ok(finish(read(&items, "url", "name", "snippet"), a, false))
}

pub async fn firecrawl(state: &AppState, a: &Ask<'_>) -> Result<Vec<SearchResult>, SearchError> {
    let base = state.config.get_str("web.loader.firecrawl_api_url");
    let base = if base.trim().is_empty() {
        fixed("https://api.firecrawl.dev")
    } else {
        base
    };
    let base = base.trim_end_matches('/');
    let url = if base.ends_with("/v2") {
        format!("{base}/search")
    } else {
        format!("{base}/v2/search")
    };
    let key = state.config.get_str("web.loader.firecrawl_api_key");
    let mut req = client()
        .post(url)
        .timeout(Duration::from_secs(a.count as u64 * 3 + 10))
        .json(&json!({
            "query": a.query,
            "limit": a.count,
            "timeout": a.count * 3000,
            "ignoreInvalidURLs": true,
        }));
    if !key.is_empty() {
        req = req.bearer_auth(key);
    }
    let answer = send(req, "Firecrawl").await?;
    let data = answer.get("data").cloned().unwrap_or(Value::Null);
    let items = match &data {
        Value::Array(a) => a.clone(),
        _ => list(data.get("web")),
    };
    let meta = |i: &Value, k: &str| i.get("metadata").and_then(|m| s(m, k));
    let results = items
        .iter()
        .filter_map(|i| {
            let link = s(i, "url")
                .or_else(|| s(i, "link"))
                .or_else(|| meta(i, "url"))
                .or_else(|| meta(i, "sourceURL"))
                .or_else(|| meta(i, "source_url"))
                .filter(|l| !l.is_empty())?;
            Some(SearchResult {
                link,
                title: s(i, "title").or_else(|| meta(i, "title")),
                snippet: s(i, "description")
                    .or_else(|| s(i, "snippet"))
                    .or_else(|| meta(i, "description")),
            })
        })
        .collect();
    Ok(finish(results, a, true))
}

pub async fn external(
    state: &AppState,
    a: &Ask<'_>,
    user_id: &str,
) -> Result<Vec<SearchResult>, SearchError> {
    let url = need(state, "external_web_search_url", "EXTERNAL_WEB_SEARCH_URL")?;
    let key = cfg(state, "external_web_search_api_key");
    let mut req = client()
        .post(url)
        .bearer_auth(key)
        .json(&json!({"query": a.query, "count": a.count}));
    if let Some(chat) = a.chat_id.filter(|c| !c.is_empty()) {
        let name = std::env::var("FORWARD_SESSION_INFO_HEADER_CHAT_ID")
            .unwrap_or_else(|_| "X-OpenWebUI-Chat-Id".into());
        req = req.header(name, chat);
    }
    let _ = user_id;
    let answer = send(req, "The external search engine").await?;
    let items = match answer {
        Value::Array(a) => a,
        _ => {
            return Err(SearchError::Provider(
                "The external search engine did not answer a list of results".into(),
            ))
        }
    };
    Ok(finish(read(&items, "link", "title", "snippet"), a, true))
}
