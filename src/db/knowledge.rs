//! Knowledge bases: `knowledge`, its files (`knowledge_file`) and folders
//! inside it (`knowledge_directory`). Sharing is in `access_grant` with
//! `resource_type = 'knowledge'`.

use std::collections::HashMap;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::access_grants::{self, GrantRow};
use super::files::FileRow;
use super::json::{opt, JsonCol};
use super::table;

pub const RESOURCE: &str = "knowledge";
pub const PAGE_SIZE: i64 = 30;

#[derive(Debug, Clone)]
pub struct KnowledgeRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: String,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, user_id, name, description, meta, created_at, updated_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<KnowledgeRow> {
    let created_at = r.get::<_, Option<i64>>(5)?.unwrap_or(0);
    Ok(KnowledgeRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        description: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        meta: opt(r.get::<_, JsonCol>(4)?),
        created_at,
        updated_at: r.get::<_, Option<i64>>(6)?.unwrap_or(created_at),
    })
}

impl KnowledgeRow {
    /// `KnowledgeModel`: the row with its grants.
    pub fn wire(&self, grants: &[GrantRow]) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "description": self.description,
            "meta": self.meta,
            "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    pub fn is_external(&self) -> bool {
        self.meta
            .as_ref()
            .and_then(|m| m.get("source"))
            .and_then(Value::as_str)
            == Some("external")
    }
}

#[derive(Debug, Clone)]
pub struct DirectoryRow {
    pub id: String,
    pub knowledge_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub user_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DirectoryRow {
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "knowledge_id": self.knowledge_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "user_id": self.user_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

fn dir_from_row(r: &rusqlite::Row) -> rusqlite::Result<DirectoryRow> {
    Ok(DirectoryRow {
        id: r.get(0)?,
        knowledge_id: r.get(1)?,
        parent_id: r.get(2)?,
        name: r.get(3)?,
        user_id: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const DIR_COLUMNS: &str = "id, knowledge_id, parent_id, name, user_id, created_at, updated_at";

pub fn insert(
    c: &Connection,
    id: &str,
    user_id: &str,
    name: &str,
    description: &str,
    now: i64,
) -> rusqlite::Result<KnowledgeRow> {
    c.execute(
        "INSERT INTO knowledge (id, user_id, name, description, meta, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?5)",
        params![id, user_id, name, description, now],
    )?;
    Ok(get(c, id)?.expect("just inserted"))
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<KnowledgeRow>> {
    table::get(c, "knowledge", COLUMNS, id, from_row)
}

pub fn get_with_grants(
    c: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(KnowledgeRow, Vec<GrantRow>)>> {
    table::with_grants(c, RESOURCE, id, get(c, id)?)
}

pub fn all(c: &Connection) -> rusqlite::Result<Vec<KnowledgeRow>> {
    table::newest_first(c, "knowledge", COLUMNS, from_row)
}

pub fn update(
    c: &Connection,
    id: &str,
    name: &str,
    description: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE knowledge SET name = ?1, description = ?2, updated_at = ?3 WHERE id = ?4",
        params![name, description, now, id],
    )? > 0)
}

pub fn touch(c: &Connection, id: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE knowledge SET updated_at = ?1 WHERE id = ?2",
        params![now, id],
    )?;
    Ok(())
}

pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.execute("DELETE FROM knowledge_file WHERE knowledge_id = ?1", [id])?;
    c.execute(
        "DELETE FROM knowledge_directory WHERE knowledge_id = ?1",
        [id],
    )?;
    access_grants::delete_for(c, RESOURCE, &[id.to_string()])?;
    Ok(c.execute("DELETE FROM knowledge WHERE id = ?1", [id])? > 0)
}

/// Unlinks every file (and, if asked, every directory) of a knowledge base.
pub fn reset(
    c: &Connection,
    id: &str,
    include_directories: bool,
    now: i64,
) -> rusqlite::Result<()> {
    c.execute("DELETE FROM knowledge_file WHERE knowledge_id = ?1", [id])?;
    if include_directories {
        c.execute(
            "DELETE FROM knowledge_directory WHERE knowledge_id = ?1",
            [id],
        )?;
    }
    touch(c, id, now)
}

/// Files of a knowledge base, newest change first.
pub fn files_of(c: &Connection, id: &str) -> rusqlite::Result<Vec<FileRow>> {
    let mut st = c.prepare(
        "SELECT file_id FROM knowledge_file WHERE knowledge_id = ?1 ORDER BY created_at",
    )?;
    let ids: Vec<String> = st
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    super::files::get_many(c, &ids)
}

pub fn file_count(c: &Connection, id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM knowledge_file WHERE knowledge_id = ?1",
        [id],
        |r| r.get(0),
    )
}

pub fn has_file(c: &Connection, id: &str, file_id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT count(*) FROM knowledge_file WHERE knowledge_id = ?1 AND file_id = ?2",
        [id, file_id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

pub fn add_file(
    c: &Connection,
    id: &str,
    file_id: &str,
    user_id: &str,
    directory_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO knowledge_file (id, user_id, knowledge_id, file_id, created_at, updated_at, directory_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) \
         ON CONFLICT (knowledge_id, file_id) DO UPDATE SET directory_id = excluded.directory_id, updated_at = excluded.updated_at",
        params![super::new_id(), user_id, id, file_id, now, directory_id],
    )?;
    touch(c, id, now)
}

pub fn remove_file(c: &Connection, id: &str, file_id: &str, now: i64) -> rusqlite::Result<bool> {
    let n = c.execute(
        "DELETE FROM knowledge_file WHERE knowledge_id = ?1 AND file_id = ?2",
        [id, file_id],
    )?;
    touch(c, id, now)?;
    Ok(n > 0)
}

pub fn move_file(
    c: &Connection,
    id: &str,
    file_id: &str,
    directory_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE knowledge_file SET directory_id = ?1, updated_at = ?2 WHERE knowledge_id = ?3 AND file_id = ?4",
        params![directory_id, now, id, file_id],
    )? > 0)
}

/// Knowledge bases that contain a file.
pub fn by_file(c: &Connection, file_id: &str) -> rusqlite::Result<Vec<KnowledgeRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {} FROM knowledge k JOIN knowledge_file kf ON kf.knowledge_id = k.id WHERE kf.file_id = ?1",
        COLUMNS
            .split(", ")
            .map(|c| format!("k.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let rows = st.query_map([file_id], from_row)?;
    rows.collect()
}

/// The brief user object lists embed (`UserResponse`).
pub fn users_brief(c: &Connection, ids: &[String]) -> rusqlite::Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(400) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut st = c.prepare(&format!(
            "SELECT id, name, email, role, profile_image_url FROM user WHERE id IN ({marks})"
        ))?;
        let rows = st.query_map(params_from_iter(chunk.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                json!({
                    "id": r.get::<_, String>(0)?,
                    "name": r.get::<_, Option<String>>(1)?,
                    "email": r.get::<_, Option<String>>(2)?,
                    "role": r.get::<_, Option<String>>(3)?,
                    "profile_image_url": r.get::<_, Option<String>>(4)?,
                }),
            ))
        })?;
        for r in rows {
            let (id, v) = r?;
            out.insert(id, v);
        }
    }
    Ok(out)
}

/// A file row as listed inside a knowledge base, with who added it.
pub struct LinkedFile {
    pub file: FileRow,
    pub added_by: String,
    pub directory_id: Option<String>,
}

pub fn linked_files(c: &Connection, id: &str) -> rusqlite::Result<Vec<LinkedFile>> {
    let mut st = c.prepare(
        "SELECT file_id, user_id, directory_id FROM knowledge_file WHERE knowledge_id = ?1",
    )?;
    let links: Vec<(String, String, Option<String>)> = st
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let ids: Vec<String> = links.iter().map(|l| l.0.clone()).collect();
    let mut files: HashMap<String, FileRow> = super::files::get_many(c, &ids)?
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    Ok(links
        .into_iter()
        .filter_map(|(fid, uid, dir)| {
            files.remove(&fid).map(|file| LinkedFile {
                file,
                added_by: uid,
                directory_id: dir,
            })
        })
        .collect())
}

pub fn directories(c: &Connection, id: &str) -> rusqlite::Result<Vec<DirectoryRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {DIR_COLUMNS} FROM knowledge_directory WHERE knowledge_id = ?1 ORDER BY name"
    ))?;
    let rows = st.query_map([id], dir_from_row)?;
    rows.collect()
}

pub fn directory(c: &Connection, dir_id: &str) -> rusqlite::Result<Option<DirectoryRow>> {
    c.query_row(
        &format!("SELECT {DIR_COLUMNS} FROM knowledge_directory WHERE id = ?1"),
        [dir_id],
        dir_from_row,
    )
    .optional()
}

pub fn insert_directory(c: &Connection, d: &DirectoryRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO knowledge_directory (id, knowledge_id, parent_id, name, user_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![d.id, d.knowledge_id, d.parent_id, d.name, d.user_id, d.created_at, d.updated_at],
    )?;
    Ok(())
}

pub fn update_directory(
    c: &Connection,
    dir_id: &str,
    name: &str,
    parent_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE knowledge_directory SET name = ?1, parent_id = ?2, updated_at = ?3 WHERE id = ?4",
        params![name, parent_id, now, dir_id],
    )?;
    Ok(())
}

/// Deletes a directory and its sub-directories. With `move_files` the files
/// inside go to the directory's parent (or the root) and an empty list is
/// returned; otherwise they are unlinked and their ids returned.
pub fn delete_directory(
    c: &Connection,
    knowledge_id: &str,
    dir_id: &str,
    move_files: bool,
    now: i64,
) -> rusqlite::Result<Vec<String>> {
    let all = directories(c, knowledge_id)?;
    let parent = all
        .iter()
        .find(|d| d.id == dir_id)
        .and_then(|d| d.parent_id.clone());
    let mut doomed = vec![dir_id.to_string()];
    let mut i = 0;
    while i < doomed.len() {
        let cur = doomed[i].clone();
        for d in &all {
            if d.parent_id.as_deref() == Some(cur.as_str()) && !doomed.contains(&d.id) {
                doomed.push(d.id.clone());
            }
        }
        i += 1;
    }
    let mut file_ids = Vec::new();
    for d in &doomed {
        if move_files {
            c.execute(
                "UPDATE knowledge_file SET directory_id = ?1, updated_at = ?2 \
                 WHERE knowledge_id = ?3 AND directory_id = ?4",
                params![parent, now, knowledge_id, d],
            )?;
        } else {
            let mut st = c.prepare(
                "SELECT file_id FROM knowledge_file WHERE knowledge_id = ?1 AND directory_id = ?2",
            )?;
            let ids: Vec<String> = st
                .query_map([knowledge_id, d.as_str()], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            file_ids.extend(ids);
            c.execute(
                "DELETE FROM knowledge_file WHERE knowledge_id = ?1 AND directory_id = ?2",
                [knowledge_id, d.as_str()],
            )?;
        }
        c.execute(
            "DELETE FROM knowledge_directory WHERE id = ?1",
            [d.as_str()],
        )?;
    }
    Ok(file_ids)
}
