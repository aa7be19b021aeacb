//! Knowledge bases as the retrieval engine sees them: each one's chunks live
//! in the collection named by its id, and its name and description are one
//! vector in [`KNOWLEDGE_BASES_COLLECTION`] (to find a knowledge base by
//! meaning). Adding, removing and rebuilding files, directories, export and
//! folder sync are here; who may do what is decided by the caller.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{json, Value};

use super::processing::{caller_for, index_into};
use crate::auth::Caller;
use crate::db::access_grants::GrantRow;
use crate::db::files::{self, FileRow};
use crate::db::knowledge::{self, DirectoryRow, KnowledgeRow};
use crate::db::now_secs;
use crate::error::{ApiError, ApiResult};
use crate::files::delete_file_everywhere;
use crate::state::AppState;

/// The collection holding one vector per knowledge base (name + description).
pub const KNOWLEDGE_BASES_COLLECTION: &str = "knowledge-bases";

/// Stores a knowledge base's name and description as one vector, so it can
/// be found by meaning. Failures only log (as upstream).
pub async fn embed_metadata(state: &AppState, kb: &KnowledgeRow) -> bool {
    let text = if kb.description.is_empty() {
        kb.name.clone()
    } else {
        format!("{}\n\n{}", kb.name, kb.description)
    };
    let _ = state
        .rag
        .delete_where(KNOWLEDGE_BASES_COLLECTION, "knowledge_base_id", &kb.id)
        .await;
    let mut m = serde_json::Map::new();
    m.insert("knowledge_base_id".into(), json!(kb.id));
    match state
        .rag
        .add(
            state,
            KNOWLEDGE_BASES_COLLECTION,
            vec![super::ChunkIn { text, metadata: m }],
        )
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, knowledge = %kb.id, "cannot embed knowledge base metadata");
            false
        }
    }
}

/// [`embed_metadata`] in the background.
pub fn spawn_embed_metadata(state: &AppState, kb: KnowledgeRow) {
    let st = state.clone();
    tokio::spawn(async move {
        embed_metadata(&st, &kb).await;
    });
}

/// Whose id rebuilt chunks carry as `created_by`.
#[derive(Clone, Copy)]
pub enum IndexAs<'a> {
    /// The same caller for every knowledge base.
    Caller(&'a Caller),
    /// Each knowledge base's owner (the first admin when the owner is gone;
    /// a knowledge base with neither is skipped).
    Owner,
}

/// What [`reindex`] did.
#[derive(Debug, Default)]
pub struct Rebuilt {
    /// Knowledge bases whose collection was rebuilt.
    pub rebuilt: usize,
    /// Files that could not be indexed again.
    pub failed_files: Vec<String>,
}

/// Rebuilds the collections of `kbs` (external ones are left alone) from
/// their files' text; with `names`, their name vectors too. `progress` is
/// told of each rebuilt knowledge base. A collection that cannot be cleared
/// is logged and skipped.
pub async fn reindex(
    state: &AppState,
    kbs: &[KnowledgeRow],
    by: IndexAs<'_>,
    names: bool,
    progress: &mut (dyn FnMut(&KnowledgeRow) + Send),
) -> anyhow::Result<Rebuilt> {
    let mut out = Rebuilt::default();
    for kb in kbs {
        if kb.is_external() {
            continue;
        }
        if let Err(e) = state.rag.delete_collection(&kb.id).await {
            tracing::error!(error = %e, knowledge = %kb.id, "cannot clear collection");
            continue;
        }
        let kid = kb.id.clone();
        let kfiles = state.db.read(move |c| knowledge::files_of(c, &kid)).await?;
        let owner;
        let caller = match by {
            IndexAs::Caller(c) => c,
            IndexAs::Owner => match caller_for(state, &kb.user_id).await {
                Some(c) => {
                    owner = c;
                    &owner
                }
                None => continue,
            },
        };
        for f in kfiles {
            let r = index_into(state, caller, &kb.id, &f).await;
            if let Err(e) = r {
                tracing::warn!(knowledge = %kb.id, file = %f.id, error = %e, "knowledge file not reindexed");
                out.failed_files.push(f.id.clone());
            }
        }
        out.rebuilt += 1;
        if names {
            embed_metadata(state, kb).await;
        }
        progress(kb);
    }
    Ok(out)
}

/// Indexes a file into a knowledge base and links it (into `dir`, if given).
/// An indexing failure is a 400 with its message.
pub async fn add_file(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    file: &FileRow,
    dir: Option<String>,
) -> ApiResult<()> {
    index_into(state, caller, kb_id, file)
        .await
        .map_err(ApiError::bad_request)?;
    let (kid, fid, uid) = (kb_id.to_string(), file.id.clone(), caller.id().to_string());
    let now = now_secs();
    state
        .db
        .write(move |c| {
            knowledge::add_file(
                c,
                &kid,
                &fid,
                &uid,
                dir.as_deref().filter(|d| !d.is_empty()),
                now,
            )
        })
        .await?;
    Ok(())
}

/// Adds files that are not linked yet, each into its directory; returns
/// `<file id>: <error>` for those that could not be indexed.
pub async fn add_files(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    items: &[(&FileRow, Option<String>)],
) -> ApiResult<Vec<String>> {
    let mut errors = vec![];
    for (file, dir) in items {
        let (kid, fid) = (kb_id.to_string(), file.id.clone());
        if state
            .db
            .read(move |c| knowledge::has_file(c, &kid, &fid))
            .await?
        {
            continue;
        }
        let r = index_into(state, caller, kb_id, file).await;
        match r {
            Ok(()) => {
                let (kid, fid, uid, dir) = (
                    kb_id.to_string(),
                    file.id.clone(),
                    caller.id().to_string(),
                    dir.clone().filter(|d| !d.is_empty()),
                );
                let now = now_secs();
                state
                    .db
                    .write(move |c| knowledge::add_file(c, &kid, &fid, &uid, dir.as_deref(), now))
                    .await?;
            }
            Err(e) => errors.push(format!("{}: {e}", file.id)),
        }
    }
    Ok(errors)
}

/// After a file left a knowledge base: its chunks leave the collection, and
/// with `delete` the file itself goes too when the caller owns it (or is an
/// admin).
async fn after_unlink(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    file_id: &str,
    file: Option<&FileRow>,
    delete: bool,
) -> ApiResult<()> {
    if let Err(e) = state.rag.delete_where(kb_id, "file_id", file_id).await {
        tracing::debug!(error = %e, "knowledge chunk cleanup");
    }
    if let Some(file) = file {
        if delete && (file.user_id == caller.id() || caller.is_admin()) {
            delete_file_everywhere(state, file).await?;
        }
    }
    Ok(())
}

/// Unlinks a file; with `delete_file` the file is deleted as well (see
/// [`after_unlink`]). False when the file was not in the knowledge base.
pub async fn remove_file(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    file: &FileRow,
    delete_file: bool,
) -> ApiResult<bool> {
    let (kid, fid) = (kb_id.to_string(), file.id.clone());
    let now = now_secs();
    let removed = state
        .db
        .write(move |c| {
            if !knowledge::has_file(c, &kid, &fid)? {
                return Ok(false);
            }
            knowledge::remove_file(c, &kid, &fid, now)
        })
        .await?;
    if !removed {
        return Ok(false);
    }
    after_unlink(state, caller, kb_id, &file.id, Some(file), delete_file).await?;
    Ok(true)
}

/// Unlinks files a folder sync found gone (deleting those no other knowledge
/// base holds) and removes the directories it found gone.
pub async fn sync_cleanup(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    file_ids: &[String],
    dir_ids: &[String],
) -> ApiResult<()> {
    for fid in file_ids {
        let (kid, f2) = (kb_id.to_string(), fid.clone());
        let now = now_secs();
        let removed = state
            .db
            .write(move |c| {
                if !knowledge::has_file(c, &kid, &f2)? {
                    return Ok(None);
                }
                knowledge::remove_file(c, &kid, &f2, now)?;
                Ok(Some((
                    files::get(c, &f2)?,
                    knowledge::by_file(c, &f2)?.is_empty(),
                )))
            })
            .await?;
        let Some((file, orphan)) = removed else {
            continue;
        };
        after_unlink(state, caller, kb_id, fid, file.as_ref(), orphan).await?;
    }
    for did in dir_ids.iter().rev() {
        let (kid, d2) = (kb_id.to_string(), did.clone());
        let now = now_secs();
        state
            .db
            .write(move |c| {
                match knowledge::directory(c, &d2)? {
                    Some(d) if d.knowledge_id == kid => {
                        knowledge::delete_directory(c, &kid, &d2, false, now)?;
                    }
                    _ => {}
                }
                Ok(())
            })
            .await?;
    }
    Ok(())
}

/// Deletes a knowledge base: workspace models forget it, its rows, its
/// collection and its name vector go.
pub async fn delete(state: &AppState, kb_id: &str) -> ApiResult<()> {
    let kid = kb_id.to_string();
    let now = now_secs();
    state
        .db
        .write(move |c| {
            let mut st = c.prepare("SELECT id, meta FROM model")?;
            let rows: Vec<(String, Option<String>)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            drop(st);
            for (mid, meta) in rows {
                let Some(Ok(mut meta)) = meta.map(|m| serde_json::from_str::<Value>(&m)) else {
                    continue;
                };
                let Some(list) = meta.get("knowledge").and_then(Value::as_array).cloned() else {
                    continue;
                };
                let kept: Vec<Value> = list
                    .iter()
                    .filter(|k| k.get("id").and_then(Value::as_str) != Some(kid.as_str()))
                    .cloned()
                    .collect();
                if kept.len() != list.len() {
                    meta["knowledge"] = Value::Array(kept);
                    c.execute(
                        "UPDATE model SET meta = ?1, updated_at = ?2 WHERE id = ?3",
                        rusqlite::params![meta.to_string(), now, mid],
                    )?;
                }
            }
            knowledge::delete(c, &kid)
        })
        .await?;
    if let Err(e) = state.rag.delete_collection(kb_id).await {
        tracing::debug!(error = %e, "knowledge collection cleanup");
    }
    let _ = state
        .rag
        .delete_where(KNOWLEDGE_BASES_COLLECTION, "knowledge_base_id", kb_id)
        .await;
    Ok(())
}

/// Empties a knowledge base: its collection, the files the caller owns (or
/// all, for an admin) and its links (and directories, with `include_dirs`).
/// Returns the emptied knowledge base with its grants.
pub async fn reset(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    include_dirs: bool,
) -> ApiResult<Option<(KnowledgeRow, Vec<GrantRow>)>> {
    let kid = kb_id.to_string();
    let kfiles = state.db.read(move |c| knowledge::files_of(c, &kid)).await?;
    if let Err(e) = state.rag.delete_collection(kb_id).await {
        tracing::debug!(error = %e, "knowledge collection cleanup");
    }
    for f in &kfiles {
        if f.user_id == caller.id() || caller.is_admin() {
            delete_file_everywhere(state, f).await?;
        }
    }
    let kid = kb_id.to_string();
    let now = now_secs();
    Ok(state
        .db
        .write(move |c| {
            knowledge::reset(c, &kid, include_dirs, now)?;
            knowledge::get_with_grants(c, &kid)
        })
        .await?)
}

/// Forgets every knowledge base: the whole vector store is reset first.
pub async fn delete_all(state: &AppState) -> ApiResult<()> {
    state.rag.reset().await?;
    state
        .db
        .write(|c| {
            for k in knowledge::all(c)? {
                knowledge::delete(c, &k.id)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// A zip of the files' extracted texts, one `.txt` per file (files without
/// text are left out; clashing names get a number).
pub async fn zip_texts(kfiles: Vec<FileRow>) -> ApiResult<Vec<u8>> {
    let bytes = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut used = HashSet::new();
        for f in &kfiles {
            if f.content().is_empty() {
                continue;
            }
            let base = crate::files::sanitize_filename(&f.filename);
            let mut name = if base.ends_with(".txt") {
                base
            } else {
                format!("{base}.txt")
            };
            let mut n = 1;
            while !used.insert(name.clone()) {
                n += 1;
                name = format!("{n}-{name}");
            }
            w.start_file(name, opts)?;
            w.write_all(f.content().as_bytes())?;
        }
        Ok(w.finish()?.into_inner())
    })
    .await??;
    Ok(bytes)
}

// ------------------------------------------------------------------ directories

/// Each directory's path from the root (`a/b/c`), by id.
pub fn dir_paths(dirs: &[DirectoryRow]) -> HashMap<String, String> {
    let by_id: HashMap<&str, &DirectoryRow> = dirs.iter().map(|d| (d.id.as_str(), d)).collect();
    let mut out = HashMap::new();
    for d in dirs {
        let mut names = vec![];
        let mut seen = HashSet::new();
        let mut cur = Some(d.id.as_str());
        while let Some(id) = cur {
            if !seen.insert(id) {
                break;
            }
            let Some(x) = by_id.get(id) else { break };
            names.push(x.name.clone());
            cur = x.parent_id.as_deref();
        }
        names.reverse();
        out.insert(d.id.clone(), names.join("/"));
    }
    out
}

/// Creates a directory; false when one of that name exists at that level.
pub async fn create_directory(state: &AppState, d: DirectoryRow) -> ApiResult<bool> {
    Ok(state
        .db
        .write(move |c| {
            let clash = knowledge::directories(c, &d.knowledge_id)?
                .iter()
                .any(|x| x.parent_id == d.parent_id && x.name == d.name);
            if clash {
                return Ok(false);
            }
            knowledge::insert_directory(c, &d)?;
            Ok(true)
        })
        .await?)
}

/// Renames and / or moves a directory (`new_parent`: `None` keeps the
/// parent, `Some(None)` moves it to the root). `None` when it is gone, the
/// move would make a cycle, or the name is taken at the target level.
pub async fn update_directory(
    state: &AppState,
    kb_id: &str,
    dir_id: &str,
    name: Option<String>,
    new_parent: Option<Option<String>>,
) -> ApiResult<Option<DirectoryRow>> {
    let now = now_secs();
    let (kid, did) = (kb_id.to_string(), dir_id.to_string());
    Ok(state
        .db
        .write(move |c| {
            let dirs = knowledge::directories(c, &kid)?;
            let Some(cur) = dirs.iter().find(|d| d.id == did).cloned() else {
                return Ok(None);
            };
            let parent = match new_parent {
                None => cur.parent_id.clone(),
                Some(p) => p,
            };
            // No cycles: the new parent may not be the directory or below it.
            let mut p = parent.clone();
            let mut steps = 0;
            while let Some(pid) = p {
                if pid == did || steps > 256 {
                    return Ok(None);
                }
                steps += 1;
                p = dirs
                    .iter()
                    .find(|d| d.id == pid)
                    .and_then(|d| d.parent_id.clone());
            }
            let name = name.unwrap_or(cur.name.clone());
            if dirs
                .iter()
                .any(|d| d.id != did && d.parent_id == parent && d.name == name)
            {
                return Ok(None);
            }
            knowledge::update_directory(c, &did, &name, parent.as_deref(), now)?;
            knowledge::directory(c, &did)
        })
        .await?)
}

/// Deletes a directory (its files move up with `move_files`, else they leave
/// the knowledge base and are deleted when nothing else holds them and the
/// caller owns them). Returns the ids of the files that left.
pub async fn delete_directory(
    state: &AppState,
    caller: &Caller,
    kb_id: &str,
    dir_id: &str,
    move_files: bool,
) -> ApiResult<Vec<String>> {
    let now = now_secs();
    let (kid, did) = (kb_id.to_string(), dir_id.to_string());
    let removed = state
        .db
        .write(move |c| knowledge::delete_directory(c, &kid, &did, move_files, now))
        .await?;
    for fid in &removed {
        if let Err(e) = state.rag.delete_where(kb_id, "file_id", fid).await {
            tracing::debug!(error = %e, "knowledge chunk cleanup");
        }
        let f2 = fid.clone();
        let (file, still_linked) = state
            .db
            .read(move |c| Ok((files::get(c, &f2)?, !knowledge::by_file(c, &f2)?.is_empty())))
            .await?;
        if let Some(file) = file {
            if !still_linked && (file.user_id == caller.id() || caller.is_admin()) {
                delete_file_everywhere(state, &file).await?;
            }
        }
    }
    Ok(removed)
}

// ------------------------------------------------------------------ folder sync

/// One file of a local folder, as a sync client lists it.
#[derive(Deserialize)]
pub struct ManifestEntry {
    pub filename: String,
    #[serde(default)]
    pub path: String,
    pub checksum: String,
}

/// What a folder sync has to do.
#[derive(Debug, Default)]
pub struct SyncPlan {
    /// (filename, path) to upload.
    pub added: Vec<(String, String)>,
    /// (filename, path, id of the file it replaces).
    pub modified: Vec<(String, String, String)>,
    /// (file id, filename) gone from the folder.
    pub deleted: Vec<(String, String)>,
    /// Directory paths to create, parents first.
    pub mkdir: Vec<String>,
    /// Directory ids to remove.
    pub rmdir: Vec<String>,
    pub unmodified: usize,
    /// Existing directories: path → id.
    pub directory_map: HashMap<String, String>,
}

/// Compares a local folder's manifest with the knowledge base: what to
/// upload, replace, delete, and which directories to create or remove.
/// Uploads of the last hour still being processed count as present.
pub async fn sync_plan(
    state: &AppState,
    kb_id: &str,
    manifest: &[ManifestEntry],
) -> ApiResult<SyncPlan> {
    let kid = kb_id.to_string();
    let (dirs, linked, pending) = state
        .db
        .read(move |c| {
            Ok((
                knowledge::directories(c, &kid)?,
                knowledge::linked_files(c, &kid)?,
                files::pending_for_knowledge(c, &kid)?,
            ))
        })
        .await?;
    let path_by_id = dir_paths(&dirs);
    let id_by_path: HashMap<String, String> = path_by_id
        .iter()
        .map(|(k, v)| (v.clone(), k.clone()))
        .collect();
    let hour_ago = now_secs() - 3600;
    let pending: HashSet<(String, String, String)> = pending
        .iter()
        .filter(|f| f.created_at >= hour_ago)
        .map(|f| {
            let dir = f
                .meta
                .pointer("/data/directory_id")
                .and_then(Value::as_str)
                .and_then(|d| path_by_id.get(d))
                .cloned()
                .unwrap_or_default();
            let hash = f
                .meta
                .get("file_hash")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (dir, f.filename.clone(), hash)
        })
        .collect();
    let mut indexed: HashMap<(String, String), (String, Option<String>)> = HashMap::new();
    for l in &linked {
        let dir = l
            .directory_id
            .as_ref()
            .and_then(|d| path_by_id.get(d))
            .cloned()
            .unwrap_or_default();
        let sum = l
            .file
            .meta
            .get("file_hash")
            .and_then(Value::as_str)
            .map(str::to_string);
        indexed.insert((dir, l.file.filename.clone()), (l.file.id.clone(), sum));
    }
    let mut plan = SyncPlan::default();
    let mut keys = HashSet::new();
    let mut required: HashSet<String> = HashSet::new();
    for e in manifest {
        let key = (e.path.clone(), e.filename.clone());
        keys.insert(key.clone());
        if !e.path.is_empty() {
            let segs: Vec<&str> = e.path.split('/').collect();
            for d in 1..=segs.len() {
                required.insert(segs[..d].join("/"));
            }
        }
        match indexed.get(&key) {
            None if pending.contains(&(e.path.clone(), e.filename.clone(), e.checksum.clone())) => {
                plan.unmodified += 1
            }
            None => plan.added.push((e.filename.clone(), e.path.clone())),
            Some((fid, sum)) if sum.as_deref() != Some(e.checksum.as_str()) => plan
                .modified
                .push((e.filename.clone(), e.path.clone(), fid.clone())),
            Some(_) => plan.unmodified += 1,
        }
    }
    for (key, (fid, _)) in &indexed {
        if !keys.contains(key) {
            plan.deleted.push((fid.clone(), key.1.clone()));
        }
    }
    plan.mkdir = required
        .iter()
        .filter(|p| !id_by_path.contains_key(*p))
        .cloned()
        .collect();
    plan.mkdir
        .sort_by_key(|p| (p.matches('/').count(), p.clone()));
    plan.rmdir = id_by_path
        .iter()
        .filter(|(p, _)| !required.contains(*p))
        .map(|(_, d)| d.clone())
        .collect();
    plan.directory_map = id_by_path;
    Ok(plan)
}
