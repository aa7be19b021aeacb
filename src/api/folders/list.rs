//! Reading folders: the user's tree (repaired on the way), shared folders,
//! one folder.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, State};
use axum::Json;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::common::{check_enabled, not_found};
use crate::api::extract::VerifiedUser;
use crate::db::folders::{self, FolderRow};
use crate::db::{access_grants, now_secs};
use crate::error::ApiResult;
use crate::state::AppState;

/// Fixes `GET /api/v1/folders/` makes before answering.
enum Repair {
    /// A missing or looping parent would hide the folder: back to the root.
    ToRoot(String),
    /// File entries the user can no longer read are dropped.
    Files(String, Vec<Value>),
}

fn repairs_needed(
    c: &Connection,
    uid: &str,
    admin: bool,
    rows: &[FolderRow],
) -> rusqlite::Result<Vec<Repair>> {
    let parent: HashMap<&str, Option<&str>> = rows
        .iter()
        .map(|f| (f.id.as_str(), f.parent_id.as_deref()))
        .collect();
    let in_cycle = |id: &str| {
        let mut seen = HashSet::from([id]);
        let mut cur = parent.get(id).copied().flatten();
        while let Some(p) = cur {
            if p == id {
                return true;
            }
            if !seen.insert(p) {
                return false;
            }
            cur = parent.get(p).copied().flatten();
        }
        false
    };
    let mut out = Vec::new();
    for f in rows {
        if let Some(p) = f.parent_id.as_deref() {
            if !parent.contains_key(p) || in_cycle(&f.id) {
                out.push(Repair::ToRoot(f.id.clone()));
            }
        }
        if let Some(files) = f.files().filter(|_| !admin) {
            let readable = folders::readable_files(c, uid, false, files)?;
            if readable.len() != files.as_array().map_or(0, Vec::len) {
                out.push(Repair::Files(f.id.clone(), readable));
            }
        }
    }
    Ok(out)
}

pub(super) async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let u = uid.clone();
    let (rows, fixes) = state
        .db
        .read(move |c| {
            let rows = folders::list(c, &u)?;
            let fixes = repairs_needed(c, &u, admin, &rows)?;
            Ok((rows, fixes))
        })
        .await?;
    if fixes.is_empty() {
        return Ok(Json(rows.iter().map(FolderRow::wire_list).collect()));
    }
    let rows = state
        .db
        .write(move |tx| {
            let now = now_secs();
            for fix in fixes {
                match fix {
                    Repair::ToRoot(id) => {
                        folders::set_parent(tx, &id, &uid, None, now)?;
                    }
                    Repair::Files(id, files) => {
                        let mut data = Map::new();
                        data.insert("files".into(), Value::Array(files));
                        folders::update(tx, &id, &uid, None, Some(&data), None, now)?;
                    }
                }
            }
            folders::list(tx, &uid)
        })
        .await?;
    Ok(Json(rows.iter().map(FolderRow::wire_list).collect()))
}

pub(super) async fn shared(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.user.id.clone();
    let out = state
        .db
        .read(move |c| {
            let perms = folders::shared_folder_permissions(c, &uid)?;
            let mut shared: Vec<FolderRow> = Vec::new();
            for (id, _) in &perms {
                if let Some(f) = folders::get(c, id)? {
                    shared.push(f);
                }
            }
            shared.sort_by_key(|f| std::cmp::Reverse(f.updated_at));
            let perm_of: HashMap<String, String> = perms.into_iter().collect();
            let mut names: HashMap<String, String> = HashMap::new();
            let mut name_of = |c: &Connection, id: &str| -> rusqlite::Result<String> {
                if let Some(n) = names.get(id) {
                    return Ok(n.clone());
                }
                let n = folders::owner_name(c, id)?.unwrap_or_else(|| "Unknown".into());
                names.insert(id.to_string(), n.clone());
                Ok(n)
            };
            let entry = |f: &FolderRow, owner_name: String, permission: &str| {
                let mut v = f.wire();
                v["owner_name"] = json!(owner_name);
                v["permission"] = json!(permission);
                v
            };
            let mut results: Vec<Value> = Vec::new();
            for f in &shared {
                let p = if f.user_id == uid {
                    "write"
                } else {
                    perm_of[&f.id].as_str()
                };
                results.push(entry(f, name_of(c, &f.user_id)?, p));
            }
            // Subfolders inherit the share of their ancestor.
            for f in &shared {
                for child in folders::descendants(c, &f.id, &f.user_id)? {
                    let p = if f.user_id == uid || child.user_id == uid {
                        "write"
                    } else {
                        perm_of[&f.id].as_str()
                    };
                    match results.iter_mut().find(|r| r["id"] == child.id.as_str()) {
                        Some(r) => {
                            if p == "write" {
                                r["permission"] = json!("write");
                            }
                        }
                        None => {
                            let n = name_of(c, &child.user_id)?;
                            results.push(entry(&child, n, p));
                        }
                    }
                }
            }
            Ok(results)
        })
        .await?;
    Ok(Json(out))
}

pub(super) async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let out = state
        .db
        .read(move |c| {
            let (folder, write) = match folders::get_for_user(c, &id, &uid)? {
                Some(f) => (f, true),
                None => match folders::get(c, &id)? {
                    Some(f) if admin || folders::has_access(c, &uid, &f, "read")? => {
                        let write = admin || folders::has_access(c, &uid, &f, "write")?;
                        (f, write)
                    }
                    _ => return Ok(None),
                },
            };
            let grants: Vec<Value> = access_grants::by_resource(c, "folder", &id)?
                .iter()
                .map(access_grants::GrantRow::wire)
                .collect();
            let mut v = folder.wire();
            v["access_grants"] = json!(grants);
            v["write_access"] = json!(write);
            Ok(Some(v))
        })
        .await?;
    out.map(Json).ok_or_else(not_found)
}
