//! Web search: asking the admin's search provider (`web.search.engine`)
//! for pages, loading those pages behind the local-address guard
//! ([`crate::webfetch`]) and keeping them for retrieval, either embedded
//! into a per-user collection or, with
//! `BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL`, as whole documents.
//!
//! Used by `POST /api/v1/retrieval/process/web/search`, by a chat turn with
//! the web search switch on, and by the `search_web` / `fetch_url` tools.

pub mod filter;
mod load;
mod providers;

use std::fmt;

use futures::future::join_all;
use serde_json::{json, Map, Value};

use crate::auth::{permissions, Caller};
use crate::error::messages::ACCESS_PROHIBITED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use load::{load_pages, Doc};

/// One result of a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub link: String,
    pub title: Option<String>,
    pub snippet: Option<String>,
}

impl SearchResult {
    pub fn to_json(&self) -> Value {
        json!({"link": self.link, "title": self.title, "snippet": self.snippet})
    }
}

/// Why a search gave nothing.
#[derive(Debug, Clone)]
pub enum SearchError {
    /// The engine is not set up (no key, no URL, unknown engine).
    Setup(String),
    /// The provider failed or answered something unreadable.
    Provider(String),
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::Setup(m) | SearchError::Provider(m) => f.write_str(m),
        }
    }
}

/// Engines upstream runs through a Python library; this server names what
/// is missing instead.
const LIBRARY_ENGINES: &[(&str, &str)] = &[
    ("duckduckgo", "the DDGS Python library"),
    ("sougou", "the Tencent Cloud SDK"),
];

/// Most results one query may ask for.
const MAX_RESULTS: usize = 50;

/// `web.search.result_count`, kept between 1 and [`MAX_RESULTS`].
pub fn result_count(state: &AppState) -> usize {
    let n = state.config.get("web.search.result_count");
    let n = n
        .as_u64()
        .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(3);
    (n as usize).clamp(1, MAX_RESULTS)
}

/// `web.search.domain.filter_list`, as strings.
pub fn filter_list(state: &AppState) -> Vec<String> {
    crate::json::str_list(Some(&state.config.get("web.search.domain.filter_list")))
}

/// One query to the configured engine.
pub async fn search(
    state: &AppState,
    query: &str,
    count: usize,
    user_id: &str,
    chat_id: Option<&str>,
) -> Result<Vec<SearchResult>, SearchError> {
    let engine = state.config.get_str("web.search.engine");
    let filter = filter_list(state);
    let ask = providers::Ask {
        query,
        count,
        filter: &filter,
        chat_id,
    };
    let (s, a) = (state, &ask);
    match engine.as_str() {
        "searxng" => providers::searxng(s, a).await,
        "brave" => providers::brave(s, a).await,
        "tavily" => providers::tavily(s, a).await,
        "google_pse" => providers::google_pse(s, a).await,
        "kagi" => providers::kagi(s, a).await,
        "exa" => providers::exa(s, a).await,
        "perplexity" => providers::perplexity(s, a).await,
        "perplexity_search" => providers::perplexity_search(s, a).await,
        "jina" => providers::jina(s, a).await,
        "serper" => providers::serper(s, a).await,
        "serpapi" => providers::serpapi(s, a).await,
        "serply" => providers::serply(s, a).await,
        "searchapi" => providers::searchapi(s, a).await,
        "bing" => providers::bing(s, a).await,
        "firecrawl" => providers::firecrawl(s, a).await,
        "external" => providers::external(s, a, user_id).await,
        "" => Err(SearchError::Setup(
            "No web search engine is chosen; pick one in Admin Settings > Web Search.".into(),
        )),
        other => match LIBRARY_ENGINES.iter().find(|(e, _)| *e == other) {
            Some((_, lib)) => Err(SearchError::Setup(format!(
                "The '{other}' search engine needs {lib}, which this server does not include; choose another engine."
            ))),
            None => Err(SearchError::Setup(format!(
                "The '{other}' search engine is not available on this server; choose another engine."
            ))),
        },
    }
}

/// Whether the caller may search: the admin switch, then the user's
/// `features.web_search` permission (admins always may).
pub async fn allowed(state: &AppState, caller: &Caller) -> bool {
    if !state.config.get_bool("web.search.enable") {
        return false;
    }
    caller.is_admin()
        || permissions::effective(state, caller.id())
            .await
            .is_ok_and(|p| permissions::allows(&p, "features.web_search"))
}

/// The queries of one search run, each sent to the engine (at most
/// `web.search.concurrent_requests` at a time; 0 means all at once).
async fn search_queries(
    state: &AppState,
    caller: &Caller,
    queries: &[String],
    chat_id: Option<&str>,
) -> Result<Vec<SearchResult>, SearchError> {
    let count = result_count(state);
    let limit = state
        .config
        .get("web.search.concurrent_requests")
        .as_u64()
        .unwrap_or(0) as usize;
    let limit = if limit == 0 {
        queries.len().max(1)
    } else {
        limit
    };
    let mut found = Vec::new();
    for batch in queries.chunks(limit) {
        let runs = batch
            .iter()
            .map(|q| search(state, q, count, caller.id(), chat_id));
        for r in join_all(runs).await {
            found.extend(r?);
        }
    }
    Ok(found)
}

/// What one search run produced.
pub struct Outcome {
    /// The results whose page was loaded, in the engine's order.
    pub items: Vec<SearchResult>,
    /// The loaded pages' addresses, each once.
    pub urls: Vec<String>,
    /// The collection the pages were embedded into (none in bypass mode).
    pub collection: Option<String>,
    /// The whole pages, in bypass mode.
    pub docs: Vec<Doc>,
    pub loaded: usize,
}

impl Outcome {
    /// The answer of `/retrieval/process/web/search`.
    pub fn to_json(&self) -> Value {
        let items: Vec<Value> = self.items.iter().map(SearchResult::to_json).collect();
        match &self.collection {
            Some(name) => json!({
                "status": true,
                "collection_names": [name],
                "items": items,
                "filenames": self.urls,
                "loaded_count": self.loaded,
            }),
            None => json!({
                "status": true,
                "collection_name": null,
                "filenames": self.urls,
                "items": items,
                "docs": self.docs.iter().map(Doc::to_json).collect::<Vec<_>>(),
                "loaded_count": self.loaded,
            }),
        }
    }
}

fn search_failed(e: impl fmt::Display) -> ApiError {
    ApiError::bad_request(format!("The web search failed: {e}"))
}

/// Searches, loads the pages and keeps them for retrieval. Refuses with
/// 403 when web search is off or not permitted, 400 when the engine
/// fails, 404 when nothing was found or nothing could be loaded.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    queries: &[String],
    chat_id: Option<&str>,
) -> ApiResult<Outcome> {
    if !allowed(state, caller).await {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    let queries: Vec<String> = queries
        .iter()
        .map(|q| q.chars().take(2000).collect())
        .take(10)
        .collect();
    let found = search_queries(state, caller, &queries, chat_id)
        .await
        .map_err(search_failed)?;
    let mut urls: Vec<String> = Vec::new();
    for r in &found {
        if !urls.contains(&r.link) {
            urls.push(r.link.clone());
        }
    }
    if urls.is_empty() {
        return Err(ApiError::not_found("The web search found no results."));
    }
    let docs = if state.config.get_bool("web.search.bypass_web_loader") {
        found
            .iter()
            .filter_map(|r| {
                let snippet = r.snippet.clone()?;
                let mut m = Map::new();
                m.insert("source".into(), json!(r.link));
                m.insert("title".into(), json!(r.title));
                m.insert("snippet".into(), json!(snippet));
                m.insert("link".into(), json!(r.link));
                Some(Doc {
                    content: snippet,
                    metadata: m,
                })
            })
            .collect()
    } else {
        load_pages(state, &found).await
    };
    let mut urls: Vec<String> = Vec::new();
    for d in &docs {
        if let Some(u) = d.metadata.get("source").and_then(Value::as_str) {
            if !urls.iter().any(|x| x == u) {
                urls.push(u.to_string());
            }
        }
    }
    let mut items: Vec<SearchResult> = Vec::new();
    for r in found {
        if urls.contains(&r.link) && !items.iter().any(|i| i.link == r.link) {
            items.push(r);
        }
    }
    let loaded = docs.len();
    if state
        .config
        .get_bool("web.search.bypass_embedding_and_retrieval")
    {
        return Ok(Outcome {
            items,
            urls,
            collection: None,
            docs,
            loaded,
        });
    }
    if !docs.iter().any(|d| !d.content.trim().is_empty()) {
        return Err(ApiError::not_found(
            "None of the pages the web search found could be loaded.",
        ));
    }
    let name = collection_name(caller.id(), &queries);
    load::embed(state, caller, &name, &docs).await?;
    Ok(Outcome {
        items,
        urls,
        collection: Some(name),
        docs: Vec::new(),
        loaded,
    })
}

/// `web-search-<user id>-<hash of the queries>`, at most 63 characters:
/// one per user and question, so retrieval can tell whose it is.
pub fn collection_name(user_id: &str, queries: &[String]) -> String {
    let hash = crate::rag::processing::sha256_hex(&queries.join("-"));
    format!("web-search-{user_id}-{hash}")
        .chars()
        .take(63)
        .collect()
}

/// Whether a collection name is the caller's own web search collection.
pub fn owns_collection(user_id: &str, name: &str) -> bool {
    name.strip_prefix("web-search-")
        .and_then(|rest| rest.strip_prefix(user_id))
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hash| !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_are_owned_and_short() {
        let uid = "0b7c9d36-3f39-4e4b-9d7c-2f0d2b0e6a11";
        let n = collection_name(uid, &["a".into(), "b".into()]);
        assert_eq!(n.len(), 63);
        assert!(owns_collection(uid, &n));
        assert!(!owns_collection("0b7c9d36", &n));
        assert!(!owns_collection(uid, "file-x"));
    }
}
