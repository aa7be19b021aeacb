//! Reading and writing upstream's `JSON` columns.
//!
//! They are declared `JSON`, which gives SQLite NUMERIC affinity: objects and
//! strings are stored as JSON text, but a bare JSON number lands as INTEGER or
//! REAL, some rows hold SQL NULL and others the text `'null'`. Reads accept all
//! of these; writes always bind JSON text, which SQLite then stores exactly as
//! the Python server would.

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde_json::Value;

/// A JSON column value, tolerant of every storage form upstream produces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonCol(pub Value);

impl FromSql for JsonCol {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(JsonCol(match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::from(i),
            ValueRef::Real(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            ValueRef::Text(t) | ValueRef::Blob(t) => match serde_json::from_slice(t) {
                Ok(v) => v,
                // Not JSON at all: keep the text rather than lose it.
                Err(_) => Value::String(String::from_utf8_lossy(t).into_owned()),
            },
        }))
    }
}

impl ToSql for JsonCol {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0.to_string()))
    }
}

impl JsonCol {
    pub fn into_inner(self) -> Value {
        self.0
    }
}

/// JSON text for binding, e.g. `json_text(&v)`.
pub fn json_text(v: &Value) -> String {
    v.to_string()
}

/// An optional JSON column: SQL NULL and the text `'null'` both read as `None`.
pub fn opt(v: JsonCol) -> Option<Value> {
    match v.0 {
        Value::Null => None,
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn reads_every_storage_form() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t (v JSON);
             INSERT INTO t VALUES ('{\"a\":1}'), ('\"text\"'), ('null'), (NULL), ('5'), ('0.5'), ('not json');",
        )
        .unwrap();
        let mut st = c.prepare("SELECT v, typeof(v) FROM t").unwrap();
        let rows: Vec<(JsonCol, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows[0].0 .0, serde_json::json!({"a": 1}));
        assert_eq!(rows[1].0 .0, serde_json::json!("text"));
        assert_eq!(rows[2].0 .0, Value::Null);
        assert_eq!(rows[3].0 .0, Value::Null);
        // NUMERIC affinity turned the text '5' into an INTEGER, as upstream's rows show.
        assert_eq!(rows[4].1, "integer");
        assert_eq!(rows[4].0 .0, serde_json::json!(5));
        assert_eq!(rows[5].1, "real");
        assert_eq!(rows[6].0 .0, serde_json::json!("not json"));
    }

    #[test]
    fn writes_json_text_with_upstream_affinity() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (v JSON)").unwrap();
        for v in [
            serde_json::json!(3),
            serde_json::json!({"x": [1]}),
            Value::Null,
        ] {
            c.execute("INSERT INTO t VALUES (?1)", [JsonCol(v)])
                .unwrap();
        }
        let kinds: Vec<String> = c
            .prepare("SELECT typeof(v) FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(kinds, ["integer", "text", "text"]);
    }
}
