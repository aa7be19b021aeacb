//! Who may read which knowledge, shared by the knowledge tools
//! (`knowledge.rs`, `knowledge_read.rs`): the caller's groups, readable
//! knowledge bases, and the items attached to the model.

use std::collections::HashSet;

use rusqlite::Connection;
use serde_json::{json, Value};

use super::ToolCx;
use crate::db::access_grants;
use crate::db::files::FileRow;
use crate::db::knowledge::{self as kb_store, KnowledgeRow};

/// Who asks, for decisions taken inside a database read.
pub struct Reader {
    pub user_id: String,
    pub admin: bool,
    pub groups: HashSet<String>,
}

impl Reader {
    pub async fn of(cx: &ToolCx<'_>) -> anyhow::Result<Reader> {
        Ok(Reader {
            user_id: cx.caller.id().to_string(),
            admin: cx.caller.is_admin(),
            groups: crate::access::group_ids(cx.state, cx.caller.id())
                .await
                .map_err(|_| anyhow::anyhow!("Your groups could not be read just now."))?,
        })
    }

    /// Owner or a read (or write) grant; admins only where `with_admin`.
    pub fn reads(
        &self,
        c: &Connection,
        kb: &KnowledgeRow,
        with_admin: bool,
    ) -> rusqlite::Result<bool> {
        if (with_admin && self.admin) || kb.user_id == self.user_id {
            return Ok(true);
        }
        let grants = access_grants::by_resource(c, kb_store::RESOURCE, &kb.id)?;
        Ok(["read", "write"]
            .iter()
            .any(|p| access_grants::grants_allow(&grants, &self.user_id, &self.groups, p)))
    }

    /// The knowledge bases the user owns or is granted, newest first (as
    /// the listing routes without the admin bypass).
    pub fn bases(&self, c: &Connection) -> rusqlite::Result<Vec<KnowledgeRow>> {
        let grants = access_grants::by_type(c, kb_store::RESOURCE)?;
        let mut rows: Vec<KnowledgeRow> = kb_store::all(c)?
            .into_iter()
            .filter(|kb| {
                kb.user_id == self.user_id
                    || grants.get(&kb.id).is_some_and(|g| {
                        ["read", "write"]
                            .iter()
                            .any(|p| access_grants::grants_allow(g, &self.user_id, &self.groups, p))
                    })
            })
            .collect();
        rows.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
        Ok(rows)
    }

    /// An attached knowledge base by id, when it exists and may be read.
    pub fn attached_base(
        &self,
        c: &Connection,
        id: &str,
    ) -> rusqlite::Result<Option<KnowledgeRow>> {
        match kb_store::get(c, id)? {
            Some(kb) if self.reads(c, &kb, true)? => Ok(Some(kb)),
            _ => Ok(None),
        }
    }
}

/// The ids of the attached items of one type.
pub fn attached_ids<'a>(attached: &'a [Value], kind: &str) -> Vec<&'a str> {
    attached
        .iter()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some(kind))
        .filter_map(|i| i.get("id").and_then(Value::as_str))
        .collect()
}

/// The attached bases and files as owned id lists, `(bases, files)`.
pub fn attached_owned(attached: &[Value]) -> (Vec<String>, Vec<String>) {
    let owned = |kind| {
        attached_ids(attached, kind)
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    (owned("collection"), owned("file"))
}

/// Every attached item as `(type, id)`.
pub fn attached_pairs(attached: &[Value]) -> Vec<(String, String)> {
    attached
        .iter()
        .filter_map(|i| {
            Some((
                i.get("type")?.as_str()?.to_string(),
                i.get("id")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

pub fn file_brief(f: &FileRow) -> Value {
    json!({"id": f.id, "filename": f.filename, "updated_at": f.updated_at})
}
