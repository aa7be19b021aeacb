//! Persisted settings, layered as upstream does: every key has an env var and a
//! default; the first start seeds the `config` table from them, after which the
//! table wins (so admin changes survive restarts) unless
//! `ENABLE_PERSISTENT_CONFIG=false`, which rewrites every key from env or its
//! default on each start (changes made at run time then last until a restart).

mod defaults;
pub mod env;

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::Value;

use crate::db::{config_rows, now_secs, Db};

pub use defaults::{ConfigDef, DEFS};

/// Our RAG prompt: `{{CONTEXT}}` receives the retrieved sources, `{{QUERY}}` the question.
pub const DEFAULT_RAG_TEMPLATE: &str = "Answer the question using the numbered sources below where they are relevant.\n\
\n\
- Cite a source by writing its id in square brackets, e.g. [1], right after the sentence that uses it; only cite ids that appear in a <source> tag.\n\
- If the sources do not contain the answer, say so briefly and answer from general knowledge, making clear which parts are not backed by the sources.\n\
- Reply in the language of the question.\n\
\n\
<sources>\n{{CONTEXT}}\n</sources>\n\
\n\
Question: {{QUERY}}";

/// The in-memory view of the `config` table, written through to SQLite.
pub struct ConfigStore {
    db: Db,
    values: RwLock<HashMap<String, Value>>,
}

/// Lets settings readers take the store itself or anything holding it.
impl AsRef<ConfigStore> for ConfigStore {
    fn as_ref(&self) -> &ConfigStore {
        self
    }
}

fn def_default(def: &ConfigDef) -> Value {
    if def.key == "rag.template" {
        return Value::String(DEFAULT_RAG_TEMPLATE.to_string());
    }
    serde_json::from_str(def.default).expect("config defaults are valid JSON")
}

impl ConfigStore {
    /// Seeds missing keys and loads the table. Runs once at start-up.
    pub fn load(db: &Db, persistent: bool) -> anyhow::Result<ConfigStore> {
        let now = now_secs();
        let env_values = env::resolve_all();
        let (values, seeded) = db.with_writer_blocking(|conn| -> anyhow::Result<_> {
            let tx = conn.transaction()?;
            let mut seeded = 0usize;
            for def in DEFS {
                let value = env_values
                    .get(def.key)
                    .cloned()
                    .unwrap_or_else(|| def_default(def));
                if persistent {
                    if config_rows::insert_missing(&tx, def.key, &value, now)? {
                        seeded += 1;
                    }
                } else {
                    // Env (or the default) is authoritative on every start.
                    config_rows::upsert(&tx, def.key, &value, now)?;
                }
            }
            let values: HashMap<String, Value> = config_rows::all(&tx)?.into_iter().collect();
            tx.commit()?;
            Ok((values, seeded))
        })?;
        if seeded > 0 {
            tracing::info!("seeded {seeded} new config defaults");
        }
        Ok(ConfigStore {
            db: db.clone(),
            values: RwLock::new(values),
        })
    }

    pub fn get(&self, key: &str) -> Value {
        if let Some(v) = self
            .values
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            return v.clone();
        }
        DEFS.iter()
            .find(|d| d.key == key)
            .map(def_default)
            .unwrap_or(Value::Null)
    }

    pub fn get_bool(&self, key: &str) -> bool {
        match self.get(key) {
            Value::Bool(b) => b,
            Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    pub fn get_str(&self, key: &str) -> String {
        match self.get(key) {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// Writes the values to the table and the in-memory view in one transaction.
    pub async fn set_many(&self, entries: Vec<(&'static str, Value)>) -> anyhow::Result<()> {
        let now = now_secs();
        let rows: Vec<(String, Value)> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.db
            .write(move |tx| {
                for (k, v) in &rows {
                    config_rows::upsert(tx, k, v, now)?;
                }
                Ok(())
            })
            .await?;
        let mut map = self.values.write().unwrap_or_else(|p| p.into_inner());
        for (k, v) in entries {
            map.insert(k.to_string(), v);
        }
        Ok(())
    }

    pub async fn set(&self, key: &'static str, value: Value) -> anyhow::Result<()> {
        self.set_many(vec![(key, value)]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("webui.db")).unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn table_wins_unless_persistence_is_off() {
        let (_dir, db) = db();
        let store = ConfigStore::load(&db, true).unwrap();
        assert_eq!(store.get_str("ui.default_user_role"), "pending");
        store
            .set("ui.default_user_role", Value::String("user".into()))
            .await
            .unwrap();
        let again = ConfigStore::load(&db, true).unwrap();
        assert_eq!(again.get_str("ui.default_user_role"), "user");
        assert!(again.get_str("rag.template").contains("{{CONTEXT}}"));
        let reset = ConfigStore::load(&db, false).unwrap();
        assert_eq!(reset.get_str("ui.default_user_role"), "pending");
    }
}
