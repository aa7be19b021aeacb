//! The `folder` table: PK (id, user_id), nested through `parent_id`; `data`
//! holds the folder's system prompt and files, `meta` its icon.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Map, Value};

use super::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct FolderRow {
    pub id: String,
    pub parent_id: Option<String>,
    pub user_id: String,
    pub name: String,
    pub items: Option<Value>,
    pub meta: Option<Value>,
    pub data: Option<Value>,
    pub is_expanded: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Unread chats in this folder and its subfolders (filled by [`list`]).
    pub unread_count: i64,
}

impl FolderRow {
    /// The full folder object (`FolderModel`).
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "parent_id": self.parent_id,
            "user_id": self.user_id,
            "name": self.name,
            "items": self.items,
            "meta": self.meta,
            "data": self.data,
            "is_expanded": self.is_expanded,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The sidebar entry (`FolderNameIdResponse`).
    pub fn wire_list(&self) -> Value {
        let meta = self
            .meta
            .as_ref()
            .map(|m| json!({"icon": m.get("icon").cloned().unwrap_or(Value::Null)}));
        json!({
            "id": self.id,
            "name": self.name,
            "meta": meta,
            "parent_id": self.parent_id,
            "is_expanded": self.is_expanded,
            "unread_count": self.unread_count,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    pub fn share_mode(&self) -> Option<&str> {
        self.data.as_ref()?.get("share_mode")?.as_str()
    }

    pub fn files(&self) -> Option<&Value> {
        self.data.as_ref()?.get("files")
    }
}

const COLUMNS: &str =
    "id, parent_id, user_id, name, items, meta, data, is_expanded, created_at, updated_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<FolderRow> {
    Ok(FolderRow {
        id: r.get(0)?,
        parent_id: r.get(1)?,
        user_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        items: opt(r.get::<_, JsonCol>(4)?),
        meta: opt(r.get::<_, JsonCol>(5)?),
        data: opt(r.get::<_, JsonCol>(6)?),
        is_expanded: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
        created_at: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(9)?.unwrap_or(0),
        unread_count: 0,
    })
}

fn query(
    c: &Connection,
    where_sql: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<Vec<FolderRow>> {
    let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM folder WHERE {where_sql}"))?;
    let rows = st.query_map(args, from_row)?;
    rows.collect()
}

/// Chats that count as unread: changed since last read, and no reply still streaming.
pub const UNREAD_SQL: &str = "ch.updated_at > COALESCE(ch.last_read_at, 0) \
    AND NOT EXISTS (SELECT 1 FROM chat_message m WHERE m.chat_id = ch.id AND m.role = 'assistant' AND m.done = 0)";

/// Unread chats per folder, each folder also counting its subfolders.
pub fn unread_counts(c: &Connection, user_id: &str) -> rusqlite::Result<HashMap<String, i64>> {
    let folders = query(c, "user_id = ?1", [user_id])?;
    let parent: HashMap<String, Option<String>> = folders
        .iter()
        .map(|f| (f.id.clone(), f.parent_id.clone()))
        .collect();
    let mut counts: HashMap<String, i64> = folders.iter().map(|f| (f.id.clone(), 0)).collect();
    let mut st = c.prepare(&format!(
        "SELECT ch.folder_id, count(*) FROM chat ch WHERE ch.user_id = ?1 AND ch.folder_id IS NOT NULL \
           AND (ch.archived = 0 OR ch.archived IS NULL) AND {UNREAD_SQL} GROUP BY ch.folder_id"
    ))?;
    let direct: Vec<(String, i64)> = st
        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (folder_id, n) in direct {
        if !counts.contains_key(&folder_id) {
            continue;
        }
        let mut seen = HashSet::new();
        let mut cur = Some(folder_id);
        while let Some(id) = cur {
            if !seen.insert(id.clone()) {
                break;
            }
            if let Some(v) = counts.get_mut(&id) {
                *v += n;
            }
            cur = parent.get(&id).cloned().flatten();
        }
    }
    Ok(counts)
}

/// The user's folders in table order, with their unread counts.
pub fn list(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<FolderRow>> {
    let mut rows = query(c, "user_id = ?1 ORDER BY rowid", [user_id])?;
    let counts = unread_counts(c, user_id)?;
    for f in &mut rows {
        f.unread_count = counts.get(&f.id).copied().unwrap_or(0);
    }
    Ok(rows)
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<FolderRow>> {
    Ok(query(c, "id = ?1 LIMIT 1", [id])?.into_iter().next())
}

pub fn get_for_user(
    c: &Connection,
    id: &str,
    user_id: &str,
) -> rusqlite::Result<Option<FolderRow>> {
    Ok(query(c, "id = ?1 AND user_id = ?2", params![id, user_id])?
        .into_iter()
        .next())
}

/// A sibling with the same name, compared case-insensitively.
pub fn find_by_parent_and_name(
    c: &Connection,
    parent_id: Option<&str>,
    user_id: &str,
    name: &str,
) -> rusqlite::Result<Option<FolderRow>> {
    let rows = query(
        c,
        "parent_id IS ?1 AND user_id = ?2",
        params![parent_id, user_id],
    )?;
    let lname = name.to_lowercase();
    Ok(rows.into_iter().find(|f| f.name.to_lowercase() == lname))
}

pub fn children(
    c: &Connection,
    parent_id: &str,
    user_id: &str,
) -> rusqlite::Result<Vec<FolderRow>> {
    query(
        c,
        "parent_id = ?1 AND user_id = ?2 ORDER BY updated_at DESC",
        params![parent_id, user_id],
    )
}

/// Every folder below `id` (not `id` itself), deepest first; cycles are cut.
pub fn descendants(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<Vec<FolderRow>> {
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::from([id.to_string()]);
    let mut stack = vec![id.to_string()];
    while let Some(cur) = stack.pop() {
        for child in children(c, &cur, user_id)? {
            if seen.insert(child.id.clone()) {
                stack.push(child.id.clone());
                out.push(child);
            }
        }
    }
    out.reverse();
    Ok(out)
}

/// `id` and every folder below it, when `id` belongs to the user.
pub fn subtree_ids(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<Vec<String>> {
    if get_for_user(c, id, user_id)?.is_none() {
        return Ok(vec![]);
    }
    let mut ids = vec![id.to_string()];
    ids.extend(descendants(c, id, user_id)?.into_iter().map(|f| f.id));
    Ok(ids)
}

/// Creates a folder; absent `data`/`meta` are stored as JSON `null` like upstream.
pub fn insert(
    c: &Connection,
    user_id: &str,
    name: &str,
    parent_id: Option<&str>,
    data: Option<&Value>,
    meta: Option<&Value>,
    now: i64,
) -> rusqlite::Result<FolderRow> {
    let id = super::new_id();
    c.execute(
        "INSERT INTO folder (id, parent_id, user_id, name, items, meta, data, is_expanded, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'null', ?5, ?6, 0, ?7, ?7)",
        params![
            id,
            parent_id,
            user_id,
            name,
            JsonCol(meta.cloned().unwrap_or(Value::Null)),
            JsonCol(data.cloned().unwrap_or(Value::Null)),
            now
        ],
    )?;
    Ok(get(c, &id)?.expect("just inserted"))
}

/// Renames and/or shallow-merges `data` and `meta` into the stored objects.
pub fn update(
    c: &Connection,
    id: &str,
    user_id: &str,
    name: Option<&str>,
    data: Option<&Map<String, Value>>,
    meta: Option<&Map<String, Value>>,
    now: i64,
) -> rusqlite::Result<Option<FolderRow>> {
    let Some(mut f) = get_for_user(c, id, user_id)? else {
        return Ok(None);
    };
    if let Some(n) = name {
        f.name = n.to_string();
    }
    let merge = |old: &Option<Value>, new: &Map<String, Value>| {
        let mut m = old
            .as_ref()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in new {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    };
    if let Some(d) = data {
        f.data = Some(merge(&f.data, d));
    }
    if let Some(m) = meta {
        f.meta = Some(merge(&f.meta, m));
    }
    c.execute(
        "UPDATE folder SET name = ?3, data = ?4, meta = ?5, updated_at = ?6 WHERE id = ?1 AND user_id = ?2",
        params![
            id,
            user_id,
            f.name,
            JsonCol(f.data.clone().unwrap_or(Value::Null)),
            JsonCol(f.meta.clone().unwrap_or(Value::Null)),
            now
        ],
    )?;
    get_for_user(c, id, user_id)
}

pub fn set_parent(
    c: &Connection,
    id: &str,
    user_id: &str,
    parent_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<FolderRow>> {
    c.execute(
        "UPDATE folder SET parent_id = ?3, updated_at = ?4 WHERE id = ?1 AND user_id = ?2",
        params![id, user_id, parent_id, now],
    )?;
    get_for_user(c, id, user_id)
}

pub fn set_expanded(
    c: &Connection,
    id: &str,
    user_id: &str,
    expanded: bool,
    now: i64,
) -> rusqlite::Result<Option<FolderRow>> {
    c.execute(
        "UPDATE folder SET is_expanded = ?3, updated_at = ?4 WHERE id = ?1 AND user_id = ?2",
        params![id, user_id, expanded, now],
    )?;
    get_for_user(c, id, user_id)
}

/// Deletes the folder and everything below it; returns the deleted ids.
pub fn delete_subtree(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<Vec<String>> {
    let ids = subtree_ids(c, id, user_id)?;
    for fid in &ids {
        c.execute(
            "DELETE FROM folder WHERE id = ?1 AND user_id = ?2",
            params![fid, user_id],
        )?;
    }
    Ok(ids)
}

/// Folder names compare with `_` and spaces alike, case-insensitively.
pub fn normalize_name(name: &str) -> String {
    name.split(|ch: char| ch.is_whitespace() || ch == '_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Ids of the user's folders named like any of `names`, with their subfolders
/// (what a `folder:` search filter matches).
pub fn ids_matching_names(
    c: &Connection,
    user_id: &str,
    names: &[String],
) -> rusqlite::Result<Vec<String>> {
    let wanted: Vec<String> = names.iter().map(|n| normalize_name(n)).collect();
    if wanted.is_empty() {
        return Ok(vec![]);
    }
    let mut out: Vec<String> = Vec::new();
    for f in query(c, "user_id = ?1", [user_id])? {
        if wanted.contains(&normalize_name(&f.name)) {
            if !out.contains(&f.id) {
                out.push(f.id.clone());
            }
            for d in descendants(c, &f.id, user_id)? {
                if !out.contains(&d.id) {
                    out.push(d.id);
                }
            }
        }
    }
    Ok(out)
}

/// Access to a folder: its owner, or a grant on it or on any ancestor.
pub fn has_access(
    c: &Connection,
    user_id: &str,
    folder: &FolderRow,
    permission: &str,
) -> rusqlite::Result<bool> {
    let mut seen = HashSet::new();
    let mut cur = Some(folder.clone());
    while let Some(f) = cur {
        if !seen.insert(f.id.clone()) {
            break;
        }
        if f.user_id == user_id
            || super::shared_chats::user_has_grant(c, user_id, "folder", &f.id, permission)?
        {
            return Ok(true);
        }
        cur = match &f.parent_id {
            Some(p) => get(c, p)?,
            None => None,
        };
    }
    Ok(false)
}

/// Write access to the folder with this id; false when it does not exist.
pub fn has_write_access(c: &Connection, user_id: &str, folder_id: &str) -> rusqlite::Result<bool> {
    match get(c, folder_id)? {
        Some(f) => has_access(c, user_id, &f, "write"),
        None => Ok(false),
    }
}

/// The shared root of an owned folder tree (the topmost folder with grants,
/// else the top folder), or `None` when any folder on the way is not the user's.
fn owned_root(
    c: &Connection,
    user_id: &str,
    folder_id: Option<&str>,
) -> rusqlite::Result<Option<String>> {
    let mut seen = HashSet::new();
    let mut shared_root: Option<String> = None;
    let mut cur = folder_id.map(str::to_string);
    while let Some(id) = cur {
        if !seen.insert(id.clone()) {
            return Ok(None);
        }
        let Some(f) = get(c, &id)? else {
            return Ok(None);
        };
        if f.user_id != user_id {
            return Ok(None);
        }
        if !super::access_grants::by_resource(c, "folder", &f.id)?.is_empty() {
            shared_root = Some(f.id.clone());
        }
        match f.parent_id {
            None => return Ok(Some(shared_root.unwrap_or(f.id))),
            Some(p) => cur = Some(p),
        }
    }
    Ok(None)
}

/// A folder owner may move another user's chat only within one shared tree.
pub fn has_chat_move_access(
    c: &Connection,
    user_id: &str,
    source: Option<&str>,
    target: Option<&str>,
) -> rusqlite::Result<bool> {
    let src = owned_root(c, user_id, source)?;
    Ok(src.is_some() && src == owned_root(c, user_id, target)?)
}

/// `{folder_id: "read"|"write"}` for folders shared by the user or with them.
pub fn shared_folder_permissions(
    c: &Connection,
    user_id: &str,
) -> rusqlite::Result<Vec<(String, String)>> {
    let sql = "WITH RECURSIVE g(id) AS ( \
         SELECT group_id FROM group_member WHERE user_id = :uid \
         UNION SELECT grp.parent_group_id FROM \"group\" grp JOIN g ON grp.id = g.id \
               WHERE grp.parent_group_id IS NOT NULL) \
       SELECT resource_id, permission FROM access_grant WHERE resource_type = 'folder' AND ( \
         resource_id IN (SELECT id FROM folder WHERE user_id = :uid) \
         OR (principal_type = 'user' AND principal_id IN ('*', :uid)) \
         OR (principal_type = 'group' AND principal_id IN (SELECT id FROM g))) ORDER BY rowid";
    let mut st = c.prepare(sql)?;
    let rows: Vec<(String, String)> = st
        .query_map(rusqlite::named_params! {":uid": user_id}, |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out: Vec<(String, String)> = Vec::new();
    for (id, perm) in rows {
        match out.iter_mut().find(|(i, _)| *i == id) {
            Some((_, p)) => {
                if p != "write" {
                    *p = perm;
                }
            }
            None => out.push((id, perm)),
        }
    }
    Ok(out)
}

pub fn owner_name(c: &Connection, user_id: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT name FROM \"user\" WHERE id = ?1", [user_id], |r| {
        r.get(0)
    })
    .optional()
    .map(Option::flatten)
}

/// Whether `user` may read each folder file entry (`{type: file|collection|note, id}`);
/// returns the readable entries. Entries of any other shape are dropped.
pub fn readable_files(
    c: &Connection,
    user_id: &str,
    is_admin: bool,
    entries: &Value,
) -> rusqlite::Result<Vec<Value>> {
    let Some(list) = entries.as_array() else {
        return Ok(vec![]);
    };
    let valid: Vec<&Value> = list
        .iter()
        .filter(|e| {
            matches!(
                e.get("type").and_then(Value::as_str),
                Some("file" | "collection" | "note")
            ) && e
                .get("id")
                .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        })
        .collect();
    if is_admin {
        return Ok(valid.into_iter().cloned().collect());
    }
    let groups = super::access_grants::group_ids_of(c, user_id)?;
    let grant =
        |rt: &str, id: &str| super::access_grants::has_access(c, user_id, &groups, rt, id, "read");
    let mut out = Vec::new();
    for e in valid {
        let id = e["id"].as_str().unwrap_or_default();
        let ok = match e["type"].as_str() {
            Some("file") => {
                let owner: Option<Option<String>> = c
                    .query_row("SELECT user_id FROM file WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?;
                match owner {
                    None => false,
                    Some(o) if o.as_deref() == Some(user_id) => true,
                    Some(_) => {
                        // Through a knowledge base the user owns or may read.
                        let mut st = c.prepare(
                            "SELECT k.id, k.user_id FROM knowledge k JOIN knowledge_file kf ON kf.knowledge_id = k.id \
                             WHERE kf.file_id = ?1",
                        )?;
                        let kbs: Vec<(String, Option<String>)> = st
                            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<rusqlite::Result<_>>()?;
                        let mut any = false;
                        for (kid, kowner) in kbs {
                            if kowner.as_deref() == Some(user_id) || grant("knowledge", &kid)? {
                                any = true;
                                break;
                            }
                        }
                        any
                    }
                }
            }
            Some("collection") => {
                let owner: Option<Option<String>> = c
                    .query_row("SELECT user_id FROM knowledge WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .optional()?;
                match owner {
                    None => false,
                    Some(o) => o.as_deref() == Some(user_id) || grant("knowledge", id)?,
                }
            }
            _ => {
                let owner: Option<Option<String>> = c
                    .query_row("SELECT user_id FROM note WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?;
                match owner {
                    None => false,
                    Some(o) => o.as_deref() == Some(user_id) || grant("note", id)?,
                }
            }
        };
        if ok {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// Clears the folder of the owner's automations that pointed into deleted folders.
pub fn clear_automation_folders(
    c: &Connection,
    user_id: &str,
    folder_ids: &[String],
) -> rusqlite::Result<()> {
    for fid in folder_ids {
        c.execute(
            "UPDATE automation SET folder_id = NULL WHERE user_id = ?1 AND folder_id = ?2",
            params![user_id, fid],
        )?;
    }
    Ok(())
}
