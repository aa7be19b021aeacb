//! Retrieval engine: embeddings, chunking, per-collection vector + BM25
//! indexes and hybrid search.
//!
//! The engine is reachable as the field `state.rag` (an `Arc<Rag>`). Creating
//! it does no I/O: the vector store, the BM25 index and the embedding model are
//! opened on first use, so idle memory is not affected.
//!
//! On disk everything lives under `DATA_DIR/vector_db/`:
//! * `chunks.redb` — chunk rows (id, text, metadata), their vectors and the
//!   embedding cache (see [`store`]);
//! * `bm25/` — one tantivy index holding every collection's chunks, with the
//!   collection name as a filter field (see [`bm25`]).
//!
//! Collection names follow upstream: `file-<file id>`, `<knowledge id>`,
//! `user-memory-<user id>`.
//!
//! All CPU work (model inference, index writes, scoring) runs on the blocking
//! pool, with at most one embedding batch at a time, so the async workers stay
//! free for chat traffic.

pub mod bm25;
pub mod chunk;
pub mod context;
pub mod embed;
pub mod extract;
pub mod knowledge;
pub mod memories;
pub mod processing;
pub mod reindex;
pub mod search;
pub mod store;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use serde_json::{Map, Value};

use crate::config::ConfigStore;

pub use chunk::{chunk, chunk_detailed, Chunk, ChunkOpts, Splitter};

/// A chunk to index: its text and the metadata stored with it (upstream keeps
/// `file_id`, `name`, `source`, `hash`, `start_index`, … here).
#[derive(Debug, Clone, Default)]
pub struct ChunkIn {
    pub text: String,
    pub metadata: Map<String, Value>,
}

/// One stored chunk, as found by [`Rag::search`] or listed by [`Rag::documents`].
#[derive(Debug, Clone)]
pub struct Hit {
    pub collection: String,
    /// The chunk id (a uuid, as upstream's vector stores use).
    pub id: String,
    pub text: String,
    pub metadata: Map<String, Value>,
    /// Relevance, higher is better; see [`Rag::search`] for the scale.
    pub score: f32,
}

/// Query options (upstream's `rag.*` query settings).
#[derive(Debug, Clone)]
pub struct SearchOpts {
    /// How many chunks to return in total.
    pub k: usize,
    /// Vector + BM25 (true) or vector only (false).
    pub hybrid: bool,
    /// Weight of the BM25 ranking in the fusion, 0..=1 (vector gets `1 - w`).
    pub bm25_weight: f32,
    /// Hybrid only: chunks whose cosine similarity is below this are dropped.
    pub relevance_threshold: f32,
}

impl SearchOpts {
    /// `rag.top_k`, `rag.enable_hybrid_search`, `rag.hybrid_bm25_weight`,
    /// `rag.relevance_threshold`.
    pub fn from_config(config: &impl AsRef<ConfigStore>) -> SearchOpts {
        let config = config.as_ref();
        SearchOpts {
            k: config_f64(config, "rag.top_k").map_or(3, |v| v.max(0.0) as usize),
            hybrid: config.get_bool("rag.enable_hybrid_search"),
            bm25_weight: config_f64(config, "rag.hybrid_bm25_weight").unwrap_or(0.5) as f32,
            relevance_threshold: config_f64(config, "rag.relevance_threshold").unwrap_or(0.0)
                as f32,
        }
    }
}

impl Default for SearchOpts {
    fn default() -> Self {
        SearchOpts {
            k: 3,
            hybrid: false,
            bm25_weight: 0.5,
            relevance_threshold: 0.0,
        }
    }
}

/// A config value read as a number; numbers stored as strings are accepted.
pub(crate) fn config_f64(config: &impl AsRef<ConfigStore>, key: &str) -> Option<f64> {
    match config.as_ref().get(key) {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// The retrieval engine. Cheap to create; everything heavy is opened lazily.
pub struct Rag {
    lazy: Arc<Lazy>,
    pub(crate) embedder: embed::Embedder,
    /// Serialises writers (add / delete / reset) so the vector rows and the
    /// BM25 index change together.
    write_lock: tokio::sync::Mutex<()>,
}

/// What [`Rag`] opens on first use.
struct Lazy {
    dir: PathBuf,
    store: OnceLock<Arc<store::Store>>,
    bm25: OnceLock<Arc<bm25::Bm25>>,
    open_lock: std::sync::Mutex<()>,
}

impl Lazy {
    fn open_parts(&self) -> anyhow::Result<(Arc<store::Store>, Arc<bm25::Bm25>)> {
        let _guard = self.open_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(s), Some(b)) = (self.store.get(), self.bm25.get()) {
            return Ok((s.clone(), b.clone()));
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let s = match self.store.get() {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(store::Store::open(&self.dir.join("chunks.redb"))?);
                let _ = self.store.set(s.clone());
                s
            }
        };
        let b = Arc::new(bm25::Bm25::open(&self.dir.join("bm25"))?);
        let marker = dirty_marker(&self.dir);
        match reconcile(&s, &b, marker.exists()) {
            Ok(()) => {
                let _ = std::fs::remove_file(&marker);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reconcile the BM25 index with the chunk store")
            }
        }
        let _ = self.bm25.set(b.clone());
        Ok((s, b))
    }
}

fn dirty_marker(dir: &std::path::Path) -> PathBuf {
    dir.join(".write-in-progress")
}

/// The on-disk mark of a write between the chunk store and BM25: made (and
/// synced) before the first commit, removed after the second succeeded.
struct WriteMark(PathBuf);

impl WriteMark {
    fn set(dir: &std::path::Path) -> anyhow::Result<WriteMark> {
        let path = dirty_marker(dir);
        std::fs::File::create(&path)?.sync_all()?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(WriteMark(path))
    }

    /// Both halves committed.
    fn clear(self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The chunk store (redb) is the commit point of the retrieval engine; the
/// BM25 index is derived from it and written second. A crash between the two
/// leaves BM25 short of the last insert, or holding chunks a delete removed.
/// Every write marks the folder first ([`WriteMark`]) and clears the mark once
/// both halves committed; before first use, when a mark was left behind (or
/// the counts differ), the two are compared key by key and BM25 is brought
/// back in line with the store.
fn reconcile(store: &store::Store, bm25: &bm25::Bm25, marked: bool) -> anyhow::Result<()> {
    if !marked && store.chunk_count()? == bm25.num_docs() {
        return Ok(());
    }
    let chunks = store.all_chunks()?;
    let stored: std::collections::HashSet<(&str, u64)> =
        chunks.iter().map(|(c, s, _)| (c.as_str(), *s)).collect();
    let indexed_keys = bm25.all_keys()?;
    let indexed: std::collections::HashSet<(&str, u64)> =
        indexed_keys.iter().map(|(c, s)| (c.as_str(), *s)).collect();
    let mut missing: std::collections::BTreeMap<&str, Vec<store::NewRow>> = Default::default();
    for (c, seq, text) in &chunks {
        if !indexed.contains(&(c.as_str(), *seq)) {
            missing.entry(c).or_default().push(store::NewRow {
                seq: *seq,
                text: text.clone(),
            });
        }
    }
    let mut extra: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for (c, seq) in &indexed_keys {
        let key = (c.as_str(), *seq);
        if !stored.contains(&key) {
            extra.entry(c).or_default().push(*seq);
        } else if !seen.insert(key) {
            // Indexed twice: drop every copy, then index it once again.
            extra.entry(c).or_default().push(*seq);
            if let Some((_, _, text)) = chunks.iter().find(|(cc, s, _)| cc == c && s == seq) {
                missing.entry(c).or_default().push(store::NewRow {
                    seq: *seq,
                    text: text.clone(),
                });
            }
        }
    }
    let (added, removed): (usize, usize) = (
        missing.values().map(Vec::len).sum(),
        extra.values().map(Vec::len).sum(),
    );
    for (c, seqs) in extra {
        bm25.delete_seqs(c, &seqs)?;
    }
    for (c, rows) in missing {
        bm25.add(c, &rows)?;
    }
    tracing::warn!(
        added,
        removed,
        "BM25 index repaired to match the chunk store (an earlier run stopped mid-write)"
    );
    Ok(())
}

impl Rag {
    /// `dir` is `DATA_DIR/vector_db`; nothing is touched until first use.
    pub fn new(dir: PathBuf) -> Rag {
        Rag {
            lazy: Arc::new(Lazy {
                dir,
                store: OnceLock::new(),
                bm25: OnceLock::new(),
                open_lock: std::sync::Mutex::new(()),
            }),
            embedder: embed::Embedder::new(),
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.lazy.dir
    }

    /// Whether the local embedding model has been loaded (it never is before
    /// the first local embedding).
    pub fn embedder_loaded(&self) -> bool {
        self.embedder.local_loaded()
    }

    /// Opens the store and the BM25 index (once), on the blocking pool.
    async fn parts(&self) -> anyhow::Result<(Arc<store::Store>, Arc<bm25::Bm25>)> {
        if let (Some(s), Some(b)) = (self.lazy.store.get(), self.lazy.bm25.get()) {
            return Ok((s.clone(), b.clone()));
        }
        let lazy = self.lazy.clone();
        tokio::task::spawn_blocking(move || lazy.open_parts()).await?
    }

    /// Embeds `texts` with the configured engine (`rag.embedding_engine`: ""
    /// = the local BERT model, `openai`, `azure_openai`, `ollama`) and model.
    /// Vectors are L2-normalised; identical texts come from the cache.
    pub async fn embed(
        &self,
        config: &impl AsRef<ConfigStore>,
        texts: Vec<String>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let (store, _) = self.parts().await?;
        self.embedder.embed(config.as_ref(), &store, texts).await
    }

    /// Embeds and stores `chunks` in `collection` (created on first add).
    /// Returns how many chunks were stored.
    pub async fn add(
        &self,
        config: &impl AsRef<ConfigStore>,
        collection: &str,
        chunks: Vec<ChunkIn>,
    ) -> anyhow::Result<usize> {
        let chunks: Vec<ChunkIn> = chunks
            .into_iter()
            .filter(|c| !c.text.trim().is_empty())
            .collect();
        if chunks.is_empty() {
            return Ok(0);
        }
        let (store, bm25) = self.parts().await?;
        let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
        let vectors = self.embedder.embed(config.as_ref(), &store, texts).await?;
        let _w = self.write_lock.lock().await;
        let collection = collection.to_string();
        let dir = self.lazy.dir.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let mark = WriteMark::set(&dir)?;
            let rows = store.insert(&collection, chunks, vectors)?;
            let n = rows.len();
            bm25.add(&collection, &rows)?;
            mark.clear();
            Ok(n)
        })
        .await?
    }

    pub async fn delete_collection(&self, collection: &str) -> anyhow::Result<()> {
        let (store, bm25) = self.parts().await?;
        let _w = self.write_lock.lock().await;
        let collection = collection.to_string();
        let dir = self.lazy.dir.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mark = WriteMark::set(&dir)?;
            store.delete_collection(&collection)?;
            bm25.delete_collection(&collection)?;
            mark.clear();
            Ok(())
        })
        .await?
    }

    /// Deletes the chunks of `collection` whose metadata `key` equals `value`
    /// (string or number compared as text), e.g. `file_id`.
    pub async fn delete_where(
        &self,
        collection: &str,
        key: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let (store, bm25) = self.parts().await?;
        let _w = self.write_lock.lock().await;
        let (collection, key, value) = (collection.to_string(), key.to_string(), value.to_string());
        let dir = self.lazy.dir.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mark = WriteMark::set(&dir)?;
            let seqs = store.delete_where(&collection, &key, &value)?;
            bm25.delete_seqs(&collection, &seqs)?;
            mark.clear();
            Ok(())
        })
        .await?
    }

    pub async fn has_collection(&self, collection: &str) -> bool {
        let Ok((store, _)) = self.parts().await else {
            return false;
        };
        let collection = collection.to_string();
        tokio::task::spawn_blocking(move || store.has_collection(&collection))
            .await
            .unwrap_or(false)
    }

    /// Every chunk of the collection in insertion order, with score 0.
    pub async fn documents(&self, collection: &str) -> anyhow::Result<Vec<Hit>> {
        let (store, _) = self.parts().await?;
        let collection = collection.to_string();
        tokio::task::spawn_blocking(move || store.documents(&collection)).await?
    }

    /// Best chunks for `query` across `collections`, best first.
    ///
    /// Vector only (`hybrid == false`, upstream's default): exact cosine
    /// search; `score` is `(1 + cos) / 2` in 0..=1, as upstream reports for its
    /// default vector store, and no threshold is applied (as upstream).
    ///
    /// Hybrid: see [`search::fuse`]. The candidates are the vector top-n and
    /// the BM25 top-n (n = max(4k, 20)), ordered by weighted reciprocal-rank
    /// fusion; `score` is the raw cosine similarity of the chunk to the query
    /// (what upstream reports after its embedding re-ranking) and chunks below
    /// `relevance_threshold` are dropped.
    pub async fn search(
        &self,
        config: &impl AsRef<ConfigStore>,
        collections: &[String],
        query: &str,
        opts: &SearchOpts,
    ) -> anyhow::Result<Vec<Hit>> {
        if opts.k == 0 || collections.is_empty() {
            return Ok(Vec::new());
        }
        let (store, bm25) = self.parts().await?;
        let qvec = self
            .embedder
            .embed(config.as_ref(), &store, vec![query.to_string()])
            .await?
            .pop()
            .context("no query embedding")?;
        let collections = collections.to_vec();
        let query = query.to_string();
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || {
            search::run(&store, &bm25, &collections, &query, &qvec, &opts)
        })
        .await?
    }

    /// Drops every collection (vectors, chunks and BM25 documents). The
    /// embedding cache is kept.
    pub async fn reset(&self) -> anyhow::Result<()> {
        let (store, bm25) = self.parts().await?;
        let _w = self.write_lock.lock().await;
        let dir = self.lazy.dir.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mark = WriteMark::set(&dir)?;
            store.reset()?;
            bm25.reset()?;
            mark.clear();
            Ok(())
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> ChunkIn {
        ChunkIn {
            text: text.to_string(),
            metadata: Map::new(),
        }
    }

    #[test]
    fn bm25_is_brought_back_in_line_with_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store::Store::open(&tmp.path().join("chunks.redb")).unwrap();
        let bm25 = bm25::Bm25::open(&tmp.path().join("bm25")).unwrap();
        let rows = store
            .insert(
                "kb",
                vec![
                    chunk("alpha apples"),
                    chunk("beta bananas"),
                    chunk("gamma grapes"),
                ],
                vec![vec![1.0, 0.0]; 3],
            )
            .unwrap();
        // As after a crash between the two commits: BM25 got only the first
        // row, and still holds a row a delete already removed from the store.
        bm25.add("kb", &rows[..1]).unwrap();
        bm25.add(
            "gone",
            &[store::NewRow {
                seq: 0,
                text: "zombie text".into(),
            }],
        )
        .unwrap();
        bm25.add("kb", &rows[..1]).unwrap(); // and a duplicate
                                             // The counts happen to agree (3 and 3): only the write mark tells.
        assert_eq!(store.chunk_count().unwrap(), bm25.num_docs());
        reconcile(&store, &bm25, false).unwrap();
        assert!(
            bm25.search(&["gone".to_string()], "zombie", 5)
                .unwrap()
                .len()
                == 1
        );
        reconcile(&store, &bm25, true).unwrap();
        assert_eq!(bm25.num_docs(), 3);
        let mut keys = bm25.all_keys().unwrap();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                ("kb".to_string(), 0),
                ("kb".to_string(), 1),
                ("kb".to_string(), 2)
            ]
        );
        let hits = bm25.search(&["kb".to_string()], "grapes", 5).unwrap();
        assert_eq!(hits.len(), 1);
        assert!(bm25
            .search(&["gone".to_string()], "zombie", 5)
            .unwrap()
            .is_empty());
        // Consistent now: a second pass changes nothing.
        reconcile(&store, &bm25, true).unwrap();
        assert_eq!(bm25.num_docs(), 3);
    }
}
