//! A small persistent cache on redb (`DATA_DIR/cache/cache.redb`): byte values
//! with an expiry, under string keys. A corrupt or unreadable file is moved aside
//! and rebuilt; the cache is never worth failing start-up for.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

// Value layout: 8 bytes big-endian expiry (unix ms, 0 = never) + payload.
const CACHE_BYTES: usize = 4 << 20;
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

#[derive(Clone)]
pub struct Cache {
    db: Arc<Database>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Cache {
    pub fn open(dir: &Path) -> anyhow::Result<Cache> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("cache.redb");
        let db = match Self::open_file(&path) {
            Ok(db) => db,
            Err(e) => {
                let aside = PathBuf::from(format!("{}.corrupt-{}", path.display(), now_ms()));
                tracing::warn!(error = %e, "cache file unreadable; moving it to {} and starting empty", aside.display());
                let _ = std::fs::rename(&path, &aside);
                Self::open_file(&path)?
            }
        };
        Ok(Cache { db: Arc::new(db) })
    }

    fn open_file(path: &Path) -> anyhow::Result<Database> {
        // redb would otherwise keep up to 1 GiB of pages in memory; this
        // cache holds a few small entries.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(db)
    }

    pub fn put_bytes(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> anyhow::Result<()> {
        let expiry = ttl.map(|t| now_ms() + t.as_millis() as u64).unwrap_or(0);
        let mut buf = Vec::with_capacity(8 + value.len());
        buf.extend_from_slice(&expiry.to_be_bytes());
        buf.extend_from_slice(value);
        let tx = self.db.begin_write()?;
        tx.open_table(TABLE)?.insert(key, buf.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    pub fn get_bytes(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let Some(v) = table.get(key)? else {
            return Ok(None);
        };
        let raw = v.value();
        if raw.len() < 8 {
            return Ok(None);
        }
        let expiry = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
        if expiry != 0 && expiry <= now_ms() {
            return Ok(None);
        }
        Ok(Some(raw[8..].to_vec()))
    }

    pub fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> anyhow::Result<()> {
        self.put_bytes(key, &serde_json::to_vec(value)?, ttl)
    }

    /// A value that no longer decodes (e.g. written by another version) is a miss.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        Ok(self
            .get_bytes(key)?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    pub fn remove(&self, key: &str) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(TABLE)?.remove(key)?;
        tx.commit()?;
        Ok(())
    }

    /// Drops expired entries; returns how many.
    pub fn purge_expired(&self) -> anyhow::Result<usize> {
        let now = now_ms();
        let tx = self.db.begin_write()?;
        let removed;
        {
            let mut table = tx.open_table(TABLE)?;
            let expired: Vec<String> = table
                .iter()?
                .filter_map(|e| e.ok())
                .filter(|(_, v)| {
                    let raw = v.value();
                    raw.len() >= 8 && {
                        let exp = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
                        exp != 0 && exp <= now
                    }
                })
                .map(|(k, _)| k.value().to_string())
                .collect();
            removed = expired.len();
            for k in expired {
                table.remove(k.as_str())?;
            }
        }
        tx.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path()).unwrap();
        c.put("a", &vec![1, 2, 3], None).unwrap();
        assert_eq!(c.get::<Vec<i32>>("a").unwrap(), Some(vec![1, 2, 3]));
        c.put("b", &"x", Some(Duration::from_millis(1))).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.get::<String>("b").unwrap(), None);
        assert_eq!(c.purge_expired().unwrap(), 1);
        c.remove("a").unwrap();
        assert_eq!(c.get::<Vec<i32>>("a").unwrap(), None);
    }

    #[test]
    fn corrupt_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cache.redb"),
            b"this is not a redb file at all",
        )
        .unwrap();
        let c = Cache::open(dir.path()).unwrap();
        c.put("k", &1, None).unwrap();
        assert_eq!(c.get::<i32>("k").unwrap(), Some(1));
        let moved = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("corrupt")
            })
            .count();
        assert_eq!(moved, 1);
    }
}
