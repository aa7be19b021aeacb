//! Memory vectors: each user's memories are one collection,
//! `user-memory-<user id>`, one chunk per memory with `memory_id` in its
//! metadata.

use serde_json::{json, Map, Value};

use super::{ChunkIn, Hit, SearchOpts};
use crate::db::memories::{self, MemoryRow};
use crate::state::AppState;

/// The collection of a user's memories.
pub fn collection(user_id: &str) -> String {
    format!("user-memory-{user_id}")
}

fn chunk_of(m: &MemoryRow) -> ChunkIn {
    let mut meta = Map::new();
    meta.insert("memory_id".into(), json!(m.id));
    meta.insert("created_at".into(), json!(m.created_at));
    meta.insert("updated_at".into(), json!(m.updated_at));
    meta.insert("type".into(), json!(m.kind));
    meta.insert("path".into(), json!(m.path));
    ChunkIn {
        text: m.vector_text(),
        metadata: meta,
    }
}

/// Replaces the vector of one memory.
pub async fn upsert_vector(state: &AppState, m: &MemoryRow) -> anyhow::Result<()> {
    let c = collection(&m.user_id);
    state.rag.delete_where(&c, "memory_id", &m.id).await?;
    state.rag.add(state, &c, vec![chunk_of(m)]).await?;
    Ok(())
}

/// Removes the vector of one memory (a failure is left to the next reindex).
pub async fn remove_vector(state: &AppState, user_id: &str, memory_id: &str) {
    let _ = state
        .rag
        .delete_where(&collection(user_id), "memory_id", memory_id)
        .await;
}

/// Drops all of a user's memory vectors.
pub async fn remove_all_vectors(state: &AppState, user_id: &str) -> anyhow::Result<()> {
    state.rag.delete_collection(&collection(user_id)).await
}

/// The memories of a user closest to `query` (at least one asked for), above
/// `rag.relevance_threshold`, with the memories' own ids as hit ids (upstream
/// stores one vector per memory).
pub async fn search(
    state: &AppState,
    user_id: &str,
    query: &str,
    k: Option<usize>,
) -> anyhow::Result<Vec<Hit>> {
    let opts = SearchOpts {
        k: k.unwrap_or(1).max(1),
        hybrid: false,
        ..SearchOpts::from_config(state)
    };
    let mut hits = state
        .rag
        .search(state, &[collection(user_id)], query, &opts)
        .await?;
    let threshold = super::config_f64(state, "rag.relevance_threshold").unwrap_or(0.0) as f32;
    if threshold > 0.0 {
        hits.retain(|h| h.score >= threshold);
    }
    for h in &mut hits {
        if let Some(mid) = h.metadata.get("memory_id").and_then(Value::as_str) {
            h.id = mid.to_string();
        }
    }
    Ok(hits)
}

/// Rebuilds a user's memory collection; returns how many memories it holds.
pub async fn reindex_user(
    state: &AppState,
    user_id: &str,
    rows: Vec<MemoryRow>,
) -> anyhow::Result<usize> {
    let c = collection(user_id);
    state.rag.delete_collection(&c).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let n = rows.len();
    state
        .rag
        .add(state, &c, rows.iter().map(chunk_of).collect())
        .await?;
    Ok(n)
}

/// Rebuilds every user's memory vectors; returns (users, memories).
pub async fn reindex_everyone(state: &AppState) -> anyhow::Result<(usize, usize)> {
    let rows = state.db.read(memories::all).await?;
    let mut by_user: std::collections::BTreeMap<String, Vec<MemoryRow>> = Default::default();
    for r in rows {
        by_user.entry(r.user_id.clone()).or_default().push(r);
    }
    let users = by_user.len();
    let mut total = 0;
    for (uid, rows) in by_user {
        total += reindex_user(state, &uid, rows).await?;
    }
    Ok((users, total))
}
