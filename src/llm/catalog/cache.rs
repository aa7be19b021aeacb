//! The base list's cache: what it holds, when it is fresh, one fetch at a
//! time and refreshing a stale list in the background.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fetch::fetch_all;
use crate::llm::connections;
use crate::state::AppState;

const CACHE_KEY: &str = "llm:models:base";

#[derive(Serialize, Deserialize)]
struct Cached {
    sig: String,
    at_ms: u64,
    models: Vec<Value>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How long a fetched list counts as fresh (`MODELS_CACHE_TTL`, seconds,
/// default 1; empty = until the connections change). A stale list is still
/// served while a background fetch replaces it.
fn fresh_for() -> Option<Duration> {
    static T: OnceLock<Option<Duration>> = OnceLock::new();
    *T.get_or_init(|| match std::env::var("MODELS_CACHE_TTL") {
        Ok(v) if v.trim().is_empty() => None,
        Ok(v) => Some(Duration::from_secs(v.trim().parse().unwrap_or(1))),
        Err(_) => Some(Duration::from_secs(1)),
    })
}

/// Drops the cached model list; the next request fetches it again. Call it
/// whenever a connection setting changes.
pub fn invalidate(state: &AppState) {
    if let Err(e) = state.cache.remove(CACHE_KEY) {
        tracing::warn!(error = %e, "could not drop the cached model list");
    }
}

/// One fetch at a time per data folder (tests run several servers in one process).
fn fetch_lock(state: &AppState) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    map.entry(state.settings.data_dir.clone())
        .or_default()
        .clone()
}

fn read_cache(state: &AppState, sig: &str) -> Option<Cached> {
    match state.cache.get::<Cached>(CACHE_KEY) {
        Ok(Some(c)) if c.sig == sig => Some(c),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the cached model list");
            None
        }
    }
}

fn is_stale(state: &AppState, c: &Cached) -> bool {
    if state.config.get_bool("models.base_models_cache") {
        return false;
    }
    match fresh_for() {
        Some(ttl) => now_ms().saturating_sub(c.at_ms) >= ttl.as_millis() as u64,
        None => false,
    }
}

/// Every connection's models, merged: OpenAI's first, then Ollama's.
/// `refresh` skips the cache.
pub(crate) async fn base_models(state: &AppState, refresh: bool) -> Vec<Value> {
    let sig = connections::signature(state);
    if !refresh {
        if let Some(c) = read_cache(state, &sig) {
            if !is_stale(state, &c) {
                return c.models;
            }
            // A stale list: the fresh one is waited for a moment, so a model
            // added at the provider shows up as soon as the list expires; a
            // slow provider gets the stale list served meanwhile.
            return refreshed(state, &sig).await.unwrap_or(c.models);
        }
    }
    let lock = fetch_lock(state);
    let _guard = lock.lock().await;
    if !refresh {
        // Another request may have fetched while this one waited.
        if let Some(c) = read_cache(state, &sig) {
            return c.models;
        }
    }
    fetch_and_store(state, &sig).await
}

/// How long a request waits for a fresh list before it is served the stale one.
const STALE_WAIT: Duration = Duration::from_secs(2);

/// Fetches the list again (once, whoever asks) in a task of its own that
/// finishes even when the asker stops waiting; the fresh list, if it came
/// within [`STALE_WAIT`].
async fn refreshed(state: &AppState, sig: &str) -> Option<Vec<Value>> {
    let (state, sig) = (state.clone(), sig.to_string());
    let task = tokio::spawn(async move {
        let lock = fetch_lock(&state);
        let _guard = lock.lock().await;
        match read_cache(&state, &sig) {
            Some(c) if !is_stale(&state, &c) => c.models,
            _ => fetch_and_store(&state, &sig).await,
        }
    });
    tokio::time::timeout(STALE_WAIT, task).await.ok()?.ok()
}

async fn fetch_and_store(state: &AppState, sig: &str) -> Vec<Value> {
    let mut models = fetch_all(state).await;
    if models.is_empty() {
        // Every connection failing at once is more likely a blip than an
        // empty installation: keep showing what was there.
        if let Ok(Some(prev)) = state.cache.get::<Cached>(CACHE_KEY) {
            if prev.sig == sig {
                models = prev.models;
            }
        }
    }
    let entry = Cached {
        sig: sig.to_string(),
        at_ms: now_ms(),
        models: models.clone(),
    };
    let cache = state.cache.clone();
    let stored = tokio::task::spawn_blocking(move || {
        cache.put(CACHE_KEY, &entry, Some(Duration::from_secs(86_400)))
    })
    .await;
    if let Ok(Err(e)) = stored {
        tracing::warn!(error = %e, "could not cache the model list");
    }
    models
}
