//! Loading the pages a search found, through the guarded fetcher, and
//! embedding them into the search's collection.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use super::SearchResult;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// One loaded page (or, without the loader, one result's snippet).
#[derive(Debug, Clone)]
pub struct Doc {
    pub content: String,
    pub metadata: Map<String, Value>,
}

impl Doc {
    pub fn to_json(&self) -> Value {
        json!({"content": self.content, "metadata": self.metadata})
    }
}

/// Pages loaded at once when `web.loader.concurrent_requests` is unset.
const DEFAULT_CONCURRENCY: usize = 10;
/// Longest one page may take when `web.loader.timeout` is unset.
const DEFAULT_PAGE_TIMEOUT: Duration = Duration::from_secs(20);

fn concurrency(state: &AppState) -> usize {
    let v = state.config.get("web.loader.concurrent_requests");
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .map(|n| n as usize)
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_CONCURRENCY)
        .min(32)
}

fn page_timeout(state: &AppState) -> Duration {
    let v = state.config.get("web.loader.timeout");
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(300.0)))
        .unwrap_or(DEFAULT_PAGE_TIMEOUT)
}

/// Loads each result's page (each address once, in the results' order);
/// pages that are refused, fail or time out are left out.
pub async fn load_pages(state: &AppState, results: &[SearchResult]) -> Vec<Doc> {
    let mut seen = std::collections::HashSet::new();
    let wanted: Vec<SearchResult> = results
        .iter()
        .filter(|r| seen.insert(r.link.clone()))
        .cloned()
        .collect();
    let timeout = page_timeout(state);
    let loaded: Vec<Option<Doc>> = stream::iter(wanted)
        .map(|r: SearchResult| {
            let state = state.clone();
            async move { load_one(&state, r, timeout).await }
        })
        .buffered(concurrency(state))
        .collect()
        .await;
    loaded.into_iter().flatten().collect()
}

async fn load_one(state: &AppState, r: SearchResult, timeout: Duration) -> Option<Doc> {
    let fetched =
        tokio::time::timeout(timeout, crate::webfetch::fetch_page_text(state, &r.link)).await;
    let text = match fetched {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::info!(url = %r.link, error = %e, "search result page not loaded");
            return None;
        }
        Err(_) => {
            tracing::info!(url = %r.link, "search result page timed out");
            return None;
        }
    };
    let mut m = Map::new();
    m.insert("source".into(), json!(r.link));
    if let Some(t) = r.title.as_ref().filter(|t| !t.is_empty()) {
        m.insert("title".into(), json!(t));
    }
    Some(Doc {
        content: text,
        metadata: m,
    })
}

/// Embeds the pages into `collection`, replacing what it held.
pub async fn embed(
    state: &AppState,
    caller: &Caller,
    collection: &str,
    docs: &[Doc],
) -> ApiResult<()> {
    let mut first = true;
    for d in docs.iter().filter(|d| !d.content.trim().is_empty()) {
        let mut base = d.metadata.clone();
        let source = base.get("source").cloned().unwrap_or(Value::Null);
        let name = base
            .get("title")
            .cloned()
            .filter(|t| t.as_str().is_some_and(|t| !t.is_empty()))
            .unwrap_or_else(|| source.clone());
        base.insert("name".into(), name);
        base.insert("created_by".into(), json!(caller.id()));
        crate::rag::processing::index_text(state, collection, &d.content, base, first).await?;
        first = false;
    }
    Ok(())
}
