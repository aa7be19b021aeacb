//! Chunk rows, vectors and the embedding cache in one redb file
//! (`DATA_DIR/vector_db/chunks.redb`).
//!
//! Tables:
//! * `collections`: name → next sequence number;
//! * `chunks`: (collection, seq) → JSON `{id, text, metadata}`;
//! * `vectors`: (collection, seq) → little-endian f32s;
//! * `embed_cache`: sha256(engine, model, text) → little-endian f32s.
//!
//! Searches read a collection's vectors into one contiguous row-major matrix
//! kept in memory (loaded on first search, appended to on insert, dropped on
//! delete), within a total budget; the least recently used collections are
//! evicted beyond it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ChunkIn, Hit};

const COLLECTIONS: TableDefinition<&str, u64> = TableDefinition::new("collections");
const CHUNKS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("chunks");
const VECTORS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("vectors");
const EMBED_CACHE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("embed_cache");

/// redb page cache for this file.
const REDB_CACHE_BYTES: usize = 16 << 20;

/// The embedding cache holds at most this many vectors; the write that
/// would pass it starts the cache afresh (a lost entry only costs a
/// recomputation). Without a bound, every distinct text ever embedded (each
/// upload, each chat's query) stayed in the file after its file was deleted.
const EMBED_CACHE_MAX_ENTRIES: usize = 20_000;

/// In-memory vector matrices are kept up to this many f32s in total (512 MiB).
const MATRIX_BUDGET_FLOATS: usize = 128 << 20;

#[derive(Serialize, Deserialize)]
struct Row {
    id: String,
    text: String,
    #[serde(default)]
    metadata: Map<String, Value>,
}

impl Row {
    /// The stored chunk as a hit of `collection` with no score.
    fn unscored(self, collection: &str) -> Hit {
        Hit {
            collection: collection.to_string(),
            id: self.id,
            text: self.text,
            metadata: self.metadata,
            score: 0.0,
        }
    }
}

/// A collection's vectors as one row-major matrix; `seqs` is ascending.
pub struct Matrix {
    pub dim: usize,
    pub seqs: Vec<u64>,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    pub fn row_of(&self, seq: u64) -> Option<&[f32]> {
        let i = self.seqs.binary_search(&seq).ok()?;
        Some(&self.data[i * self.dim..(i + 1) * self.dim])
    }
}

struct Cached {
    matrix: Arc<RwLock<Matrix>>,
    last_use: u64,
}

#[derive(Default)]
struct Mem {
    map: HashMap<String, Cached>,
    tick: u64,
    /// Bumped by every write, so a matrix read from a snapshot older than a
    /// write is used once but not cached.
    generation: u64,
}

pub struct Store {
    db: Database,
    mem: Mutex<Mem>,
}

/// A stored chunk handed to the BM25 index.
pub struct NewRow {
    pub seq: u64,
    pub text: String,
}

pub(crate) fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub(crate) fn bytes_to_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn meta_matches(meta: &Map<String, Value>, key: &str, value: &str) -> bool {
    match meta.get(key) {
        Some(Value::String(s)) => s == value,
        Some(Value::Number(n)) => n.to_string() == value,
        Some(Value::Bool(b)) => b.to_string() == value,
        _ => false,
    }
}

impl Store {
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        // redb's default page cache is 1 GiB; searches work from the in-memory
        // matrices, so a small cache is enough.
        let db = redb::Builder::new()
            .set_cache_size(REDB_CACHE_BYTES)
            .create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(COLLECTIONS)?;
        tx.open_table(CHUNKS)?;
        tx.open_table(VECTORS)?;
        tx.open_table(EMBED_CACHE)?;
        tx.commit()?;
        Ok(Store {
            db,
            mem: Mutex::new(Mem::default()),
        })
    }

    /// Stores chunks with their vectors; returns the new rows (for BM25).
    pub fn insert(
        &self,
        collection: &str,
        chunks: Vec<ChunkIn>,
        vectors: Vec<Vec<f32>>,
    ) -> anyhow::Result<Vec<NewRow>> {
        anyhow::ensure!(
            chunks.len() == vectors.len(),
            "{} chunks but {} vectors",
            chunks.len(),
            vectors.len()
        );
        let dim = vectors.first().map_or(0, Vec::len);
        anyhow::ensure!(
            vectors.iter().all(|v| v.len() == dim && dim > 0),
            "embedding vectors of different or zero sizes"
        );
        // A collection keeps one vector size: mixing models would make the
        // scores meaningless.
        if let Some(existing) = self.dim_of(collection)? {
            anyhow::ensure!(
                existing == dim,
                "collection {collection} holds {existing}-dimensional vectors but the embedding model gives {dim}: reindex it after changing the embedding model"
            );
        }
        let tx = self.db.begin_write()?;
        let mut rows = Vec::with_capacity(chunks.len());
        let mut flat = Vec::with_capacity(chunks.len() * dim);
        {
            let mut cols = tx.open_table(COLLECTIONS)?;
            let mut next = cols.get(collection)?.map_or(0, |v| v.value());
            let mut ct = tx.open_table(CHUNKS)?;
            let mut vt = tx.open_table(VECTORS)?;
            for (chunk, vector) in chunks.into_iter().zip(vectors) {
                let seq = next;
                next += 1;
                let row = Row {
                    id: uuid::Uuid::new_v4().to_string(),
                    text: chunk.text,
                    metadata: chunk.metadata,
                };
                ct.insert((collection, seq), serde_json::to_vec(&row)?.as_slice())?;
                vt.insert((collection, seq), f32s_to_bytes(&vector).as_slice())?;
                flat.extend_from_slice(&vector);
                rows.push(NewRow {
                    seq,
                    text: row.text,
                });
            }
            cols.insert(collection, next)?;
        }
        tx.commit()?;
        // Keep a loaded matrix current instead of reloading it on the next search.
        let mut mem = self.mem.lock().unwrap_or_else(|p| p.into_inner());
        mem.generation += 1;
        if let Some(c) = mem.map.get(collection) {
            let mut m = c.matrix.write().unwrap_or_else(|p| p.into_inner());
            if m.dim == dim || m.is_empty() {
                m.dim = dim;
                m.seqs.extend(rows.iter().map(|r| r.seq));
                m.data.extend_from_slice(&flat);
            }
        }
        Ok(rows)
    }

    /// The vector size of the collection's first row, if it has rows.
    fn dim_of(&self, collection: &str) -> anyhow::Result<Option<usize>> {
        let tx = self.db.begin_read()?;
        let vt = tx.open_table(VECTORS)?;
        let first = vt
            .range((collection, 0u64)..=(collection, u64::MAX))?
            .next();
        Ok(match first {
            Some(entry) => Some(entry?.1.value().len() / 4),
            None => None,
        })
    }

    fn forget(&self, collection: Option<&str>) {
        let mut mem = self.mem.lock().unwrap_or_else(|p| p.into_inner());
        mem.generation += 1;
        match collection {
            Some(c) => {
                mem.map.remove(c);
            }
            None => mem.map.clear(),
        }
    }

    pub fn delete_collection(&self, collection: &str) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut cols = tx.open_table(COLLECTIONS)?;
            cols.remove(collection)?;
            let mut ct = tx.open_table(CHUNKS)?;
            ct.retain_in((collection, 0u64)..=(collection, u64::MAX), |_, _| false)?;
            let mut vt = tx.open_table(VECTORS)?;
            vt.retain_in((collection, 0u64)..=(collection, u64::MAX), |_, _| false)?;
        }
        tx.commit()?;
        self.forget(Some(collection));
        Ok(())
    }

    /// Deletes the chunks whose metadata `key` equals `value`; returns their
    /// sequence numbers.
    pub fn delete_where(
        &self,
        collection: &str,
        key: &str,
        value: &str,
    ) -> anyhow::Result<Vec<u64>> {
        let tx = self.db.begin_write()?;
        let mut gone = Vec::new();
        {
            let mut ct = tx.open_table(CHUNKS)?;
            for entry in ct.range((collection, 0u64)..=(collection, u64::MAX))? {
                let (k, v) = entry?;
                let Ok(row) = serde_json::from_slice::<Row>(v.value()) else {
                    continue;
                };
                if meta_matches(&row.metadata, key, value) {
                    gone.push(k.value().1);
                }
            }
            let mut vt = tx.open_table(VECTORS)?;
            for seq in &gone {
                ct.remove((collection, *seq))?;
                vt.remove((collection, *seq))?;
            }
        }
        tx.commit()?;
        if !gone.is_empty() {
            self.forget(Some(collection));
        }
        Ok(gone)
    }

    /// How many chunks the store holds, over every collection.
    pub fn chunk_count(&self) -> anyhow::Result<u64> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CHUNKS)?;
        Ok(ReadableTableMetadata::len(&table)?)
    }

    /// Every (collection, seq) with its text, in key order: what the BM25
    /// index is rebuilt from when the two disagree.
    pub fn all_chunks(&self) -> anyhow::Result<Vec<(String, u64, String)>> {
        let tx = self.db.begin_read()?;
        let ct = tx.open_table(CHUNKS)?;
        let mut out = Vec::new();
        for entry in ct.iter()? {
            let (k, v) = entry?;
            let (collection, seq) = k.value();
            let text = serde_json::from_slice::<Row>(v.value())
                .map(|r| r.text)
                .unwrap_or_default();
            out.push((collection.to_string(), seq, text));
        }
        Ok(out)
    }

    /// A collection exists while it holds at least one chunk.
    pub fn has_collection(&self, collection: &str) -> bool {
        let Ok(tx) = self.db.begin_read() else {
            return false;
        };
        let Ok(ct) = tx.open_table(CHUNKS) else {
            return false;
        };
        ct.range((collection, 0u64)..=(collection, u64::MAX))
            .map(|mut r| r.next().is_some())
            .unwrap_or(false)
    }

    pub fn documents(&self, collection: &str) -> anyhow::Result<Vec<Hit>> {
        let tx = self.db.begin_read()?;
        let ct = tx.open_table(CHUNKS)?;
        let mut out = Vec::new();
        for entry in ct.range((collection, 0u64)..=(collection, u64::MAX))? {
            let (_, v) = entry?;
            let row: Row = serde_json::from_slice(v.value())?;
            out.push(row.unscored(collection));
        }
        Ok(out)
    }

    /// The chunks at `seqs` (missing ones are skipped), in the given order.
    pub fn chunks(&self, collection: &str, seqs: &[u64]) -> anyhow::Result<Vec<(u64, Hit)>> {
        let tx = self.db.begin_read()?;
        let ct = tx.open_table(CHUNKS)?;
        let mut out = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            if let Some(v) = ct.get((collection, seq))? {
                let row: Row = serde_json::from_slice(v.value())?;
                out.push((seq, row.unscored(collection)));
            }
        }
        Ok(out)
    }

    /// The collection's vectors, loading them on first use.
    pub fn matrix(&self, collection: &str) -> anyhow::Result<Arc<RwLock<Matrix>>> {
        let generation = {
            let mut mem = self.mem.lock().unwrap_or_else(|p| p.into_inner());
            mem.tick += 1;
            let tick = mem.tick;
            if let Some(c) = mem.map.get_mut(collection) {
                c.last_use = tick;
                return Ok(c.matrix.clone());
            }
            mem.generation
        };
        let tx = self.db.begin_read()?;
        let vt = tx.open_table(VECTORS)?;
        let mut m = Matrix {
            dim: 0,
            seqs: Vec::new(),
            data: Vec::new(),
        };
        for entry in vt.range((collection, 0u64)..=(collection, u64::MAX))? {
            let (k, v) = entry?;
            let bytes = v.value();
            let dim = bytes.len() / 4;
            if m.dim == 0 {
                m.dim = dim;
            }
            if dim != m.dim {
                tracing::warn!(collection, "skipping a vector of another size");
                continue;
            }
            m.seqs.push(k.value().1);
            m.data.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        drop(vt);
        drop(tx);
        let floats = m.data.len();
        let matrix = Arc::new(RwLock::new(m));
        let mut mem = self.mem.lock().unwrap_or_else(|p| p.into_inner());
        if mem.generation != generation {
            return Ok(matrix);
        }
        mem.tick += 1;
        let tick = mem.tick;
        // Evict the least recently used matrices beyond the budget.
        let mut total: usize = floats
            + mem
                .map
                .values()
                .map(|c| c.matrix.read().map(|m| m.data.len()).unwrap_or(0))
                .sum::<usize>();
        while total > MATRIX_BUDGET_FLOATS && !mem.map.is_empty() {
            let Some(oldest) = mem
                .map
                .iter()
                .min_by_key(|(_, c)| c.last_use)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(c) = mem.map.remove(&oldest) {
                total -= c.matrix.read().map(|m| m.data.len()).unwrap_or(0);
            }
        }
        let entry = mem.map.entry(collection.to_string()).or_insert(Cached {
            matrix: matrix.clone(),
            last_use: tick,
        });
        entry.last_use = tick;
        Ok(entry.matrix.clone())
    }

    pub fn reset(&self) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        tx.delete_table(COLLECTIONS)?;
        tx.delete_table(CHUNKS)?;
        tx.delete_table(VECTORS)?;
        tx.open_table(COLLECTIONS)?;
        tx.open_table(CHUNKS)?;
        tx.open_table(VECTORS)?;
        tx.commit()?;
        self.forget(None);
        Ok(())
    }

    /// Cached vectors for `keys` (None where missing).
    pub fn cache_get(&self, keys: &[[u8; 32]]) -> anyhow::Result<Vec<Option<Vec<f32>>>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(EMBED_CACHE)?;
        keys.iter()
            .map(|k| Ok(t.get(k.as_slice())?.map(|v| bytes_to_f32s(v.value()))))
            .collect()
    }

    pub fn cache_put(&self, entries: &[([u8; 32], &[f32])]) -> anyhow::Result<()> {
        self.cache_put_within(entries, EMBED_CACHE_MAX_ENTRIES)
    }

    fn cache_put_within(&self, entries: &[([u8; 32], &[f32])], max: usize) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        // A lost cache entry only costs a recomputation: skip the fsync, which
        // would otherwise dominate the latency of embedding one query.
        tx.set_durability(redb::Durability::Eventual);
        let held = tx.open_table(EMBED_CACHE)?.len()? as usize;
        if held + entries.len() > max {
            tx.delete_table(EMBED_CACHE)?;
        }
        {
            let mut t = tx.open_table(EMBED_CACHE)?;
            for (k, v) in entries {
                t.insert(k.as_slice(), f32s_to_bytes(v).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> [u8; 32] {
        [i; 32]
    }

    #[test]
    fn the_embedding_cache_starts_afresh_at_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("chunks.redb")).unwrap();
        let v = [0.5_f32, 1.0, 2.0];
        for i in 0..3 {
            store.cache_put_within(&[(key(i), &v[..])], 3).unwrap();
        }
        let all: Vec<[u8; 32]> = (0..4).map(key).collect();
        let held = store.cache_get(&all).unwrap();
        assert_eq!(held.iter().filter(|h| h.is_some()).count(), 3);
        store.cache_put_within(&[(key(3), &v[..])], 3).unwrap();
        let held = store.cache_get(&all).unwrap();
        assert!(held[..3].iter().all(Option::is_none), "{held:?}");
        assert_eq!(held[3].as_deref(), Some(&v[..]));
        // The default bound is the one cache_put uses.
        store.cache_put(&[(key(9), &v[..])]).unwrap();
        assert!(store.cache_get(&[key(9)]).unwrap()[0].is_some());
    }
}
