//! `/api/v1/folders`: nested chat folders with a system prompt and files in
//! `data`, an icon in `meta`, sharing through access grants.

use std::collections::{HashMap, HashSet};

use super::chats::AccessForm;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::chats::{error_default, q_bool, q_int};
use crate::access::{self, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::folders::{self, FolderRow};
use crate::db::{self, access_grants, chats, now_secs};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/folders/", get(list).post(create))
        .route("/api/v1/folders/shared", get(shared))
        .route("/api/v1/folders/{id}", get(get_one).delete(delete))
        .route("/api/v1/folders/{id}/update", post(update))
        .route("/api/v1/folders/{id}/update/parent", post(update_parent))
        .route(
            "/api/v1/folders/{id}/update/expanded",
            post(update_expanded),
        )
        .route("/api/v1/folders/{id}/access/update", post(update_access))
        .route("/api/v1/folders/{id}/shared/chats", get(shared_chats))
        .route("/api/v1/folders/{id}/read", post(mark_read))
}

fn forbidden() -> ApiError {
    ApiError::forbidden(ACCESS_PROHIBITED)
}

fn not_found() -> ApiError {
    ApiError::not_found(NOT_FOUND)
}

/// Folders must be enabled, and non-admins need `features.folders`.
async fn check_enabled(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if state.config.get("folders.enable") == Value::Bool(false) {
        return Err(forbidden());
    }
    if !caller.is_admin() {
        let perms = permissions::effective(state, caller.id()).await?;
        if !permissions::allows(&perms, "features.folders") {
            return Err(forbidden());
        }
    }
    Ok(())
}

/// Whether `user` may read every file entry (`None` means no files at all).
fn can_read_all(
    c: &Connection,
    user_id: &str,
    is_admin: bool,
    entries: Option<&Value>,
) -> rusqlite::Result<bool> {
    match entries {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Array(a)) if a.is_empty() => Ok(true),
        Some(v @ Value::Array(a)) => {
            Ok(folders::readable_files(c, user_id, is_admin, v)?.len() == a.len())
        }
        Some(_) => Ok(false),
    }
}

fn user_role(c: &Connection, user_id: &str) -> rusqlite::Result<Option<String>> {
    Ok(db::users::get(c, user_id)?.map(|u| u.role))
}

// ---------------------------------------------------------------------------

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

async fn list(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderForm {
    name: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    meta: Option<Map<String, Value>>,
    #[serde(default)]
    parent_id: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<FolderForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    crate::limits::check_name("name", &form.name)?;
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let out = state
        .db
        .try_write(move |tx| {
            if folders::find_by_parent_and_name(tx, form.parent_id.as_deref(), &uid, &form.name)?
                .is_some()
            {
                return Err(ApiError::bad_request(error_default(
                    "Folder already exists",
                )));
            }
            let files = form.data.as_ref().and_then(|d| d.get("files"));
            if form.data.as_ref().is_some_and(|d| d.contains_key("files"))
                && !can_read_all(tx, &uid, admin, files)?
            {
                return Err(forbidden());
            }
            let mut owner = uid.clone();
            if let Some(pid) = form.parent_id.as_deref() {
                if let Some(parent) = folders::get(tx, pid)?.filter(|p| p.user_id != uid) {
                    // A subfolder inside someone else's shared folder belongs to that folder's owner.
                    if !admin && !folders::has_access(tx, &uid, &parent, "write")? {
                        return Err(forbidden());
                    }
                    if form.data.as_ref().is_some_and(|d| d.contains_key("files")) {
                        let Some(role) = user_role(tx, &parent.user_id)? else {
                            return Err(not_found());
                        };
                        if !can_read_all(tx, &parent.user_id, role == "admin", files)? {
                            return Err(forbidden());
                        }
                    }
                    owner = parent.user_id.clone();
                }
            }
            let data = form.data.map(Value::Object);
            let meta = form.meta.map(Value::Object);
            let f = folders::insert(
                tx,
                &owner,
                &form.name,
                form.parent_id.as_deref(),
                data.as_ref(),
                meta.as_ref(),
                now_secs(),
            )?;
            Ok(f.wire())
        })
        .await?;
    Ok(Json(out))
}

async fn shared(
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

async fn get_one(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderUpdateForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    meta: Option<Map<String, Value>>,
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<FolderUpdateForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    if let Some(name) = &form.name {
        crate::limits::check_name("name", name)?;
    }
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let out = state
        .db
        .try_write(move |tx| {
            let folder = match folders::get_for_user(tx, &id, &uid)? {
                Some(f) => f,
                None => match folders::get(tx, &id)? {
                    Some(f) if admin || folders::has_access(tx, &uid, &f, "write")? => f,
                    _ => return Err(not_found()),
                },
            };
            if let Some(mode) = form.data.as_ref().and_then(|d| d.get("share_mode")) {
                let current = folder
                    .data
                    .as_ref()
                    .and_then(|d| d.get("share_mode"))
                    .cloned()
                    .unwrap_or(Value::Null);
                if !admin && uid != folder.user_id && *mode != current {
                    return Err(forbidden());
                }
            }
            if let Some(name) = &form.name {
                if let Some(other) = folders::find_by_parent_and_name(
                    tx,
                    folder.parent_id.as_deref(),
                    &folder.user_id,
                    name,
                )? {
                    if other.id != id {
                        return Err(ApiError::bad_request(error_default(
                            "Folder already exists",
                        )));
                    }
                }
            }
            if let Some(files) = form.data.as_ref().and_then(|d| d.get("files")) {
                let owner_admin = if folder.user_id == uid {
                    admin
                } else {
                    match user_role(tx, &folder.user_id)? {
                        Some(r) => r == "admin",
                        None => return Err(not_found()),
                    }
                };
                if !can_read_all(tx, &folder.user_id, owner_admin, Some(files))? {
                    return Err(forbidden());
                }
                // Editors send back the owner's entries; only new ones are checked against the editor.
                let existing = folder
                    .files()
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let added: Vec<Value> = files
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|e| !existing.contains(e))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if !can_read_all(tx, &uid, admin, Some(&Value::Array(added)))? {
                    return Err(forbidden());
                }
            }
            let updated = folders::update(
                tx,
                &id,
                &folder.user_id,
                form.name.as_deref(),
                form.data.as_ref(),
                form.meta.as_ref(),
                now_secs(),
            )?;
            updated
                .map(|f| f.wire())
                .ok_or_else(|| ApiError::bad_request(error_default("Error updating folder")))
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct ParentForm {
    #[serde(default)]
    parent_id: Option<String>,
}

async fn update_parent(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<ParentForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.user.id.clone();
    let out = state
        .db
        .try_write(move |tx| {
            let Some(folder) = folders::get_for_user(tx, &id, &uid)? else {
                return Err(not_found());
            };
            let target = form.parent_id.as_deref().filter(|p| !p.is_empty());
            if let Some(other) = folders::find_by_parent_and_name(tx, target, &uid, &folder.name)? {
                if other.id != id {
                    return Err(ApiError::bad_request(error_default(
                        "Folder already exists",
                    )));
                }
            }
            if let Some(t) = target {
                if folders::subtree_ids(tx, &id, &uid)?.iter().any(|s| s == t) {
                    return Err(ApiError::bad_request(error_default(
                        "Cannot move a folder into itself or one of its subfolders",
                    )));
                }
            }
            let f = folders::set_parent(tx, &id, &uid, target, now_secs())?;
            f.map(|f| f.wire()).ok_or_else(not_found)
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct ExpandedForm {
    is_expanded: bool,
}

async fn update_expanded(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<ExpandedForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let out = state
        .db
        .write(move |tx| {
            if folders::get_for_user(tx, &id, &uid)?.is_some() {
                return folders::set_expanded(tx, &id, &uid, form.is_expanded, now_secs());
            }
            // Someone else's folder: the expand state is the owner's, so leave it alone.
            match folders::get(tx, &id)? {
                Some(f) if admin || folders::has_access(tx, &uid, &f, "read")? => Ok(Some(f)),
                _ => Ok(None),
            }
        })
        .await?;
    out.map(|f| Json(f.wire())).ok_or_else(not_found)
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    if let Some(m) = &form.share_mode {
        if !(m.is_null() || m == "continue") {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", "share_mode"], "msg": "Input should be 'continue'", "type": "literal_error"
            }])));
        }
    }
    let id2 = id.clone();
    let folder = state
        .db
        .read(move |c| folders::get(c, &id2))
        .await?
        .ok_or_else(not_found)?;
    // Editing a folder's contents does not make one its sharing manager.
    if !caller.is_admin() && caller.user.id != folder.user_id {
        return Err(forbidden());
    }
    let requested = Value::Array(form.access_grants);
    let grants = access::validated_grants(&state, &caller, Kind::Folder, &requested).await?;
    let out = state
        .db
        .write(move |tx| {
            let now = now_secs();
            access_grants::replace(tx, "folder", &id, &grants, now)?;
            let mut folder = folder;
            if let Some(mode) = form.share_mode {
                let mut data = Map::new();
                data.insert("share_mode".into(), mode);
                if let Some(f) =
                    folders::update(tx, &id, &folder.user_id, None, Some(&data), None, now)?
                {
                    folder = f;
                }
            }
            let grants: Vec<Value> = access_grants::by_resource(tx, "folder", &id)?
                .iter()
                .map(access_grants::GrantRow::wire)
                .collect();
            let mut v = folder.wire();
            v["access_grants"] = json!(grants);
            Ok(v)
        })
        .await?;
    Ok(Json(out))
}

/// Authors of the user messages of a chat: their `user_id`, else `user.id`, else the owner.
fn participants(chat: &chats::ChatRow) -> Vec<String> {
    let mut msgs: Vec<&Value> = Vec::new();
    match chat.history_messages() {
        Some(m) => msgs.extend(m.values()),
        None => {
            if let Some(a) = chat.chat.get("messages").and_then(Value::as_array) {
                msgs.extend(a.iter());
            }
        }
    }
    let nonblank = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut out: Vec<String> = msgs
        .into_iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .filter_map(|m| {
            nonblank(m.get("user_id"))
                .or_else(|| nonblank(m.get("user").and_then(|u| u.get("id"))))
                .or_else(|| Some(chat.user_id.trim().to_string()).filter(|s| !s.is_empty()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn shared_chats(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let page = q_int(&q, "page")?;
    if page.is_some_and(|p| p < 1) {
        return Err(ApiError::Validation(json!([{
            "loc": ["query", "page"], "msg": "Input should be greater than or equal to 1", "type": "greater_than_equal"
        }])));
    }
    let sort = chats::SortBy::parse(q.get("sort_by").map_or("unread_updated_at", String::as_str));
    let asc = q.get("sort_dir").map(String::as_str) == Some("asc");
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let uid2 = uid.clone();
    let out = state
        .db
        .try_read(move |c| {
            let Some(folder) = folders::get(c, &id)? else { return Err(not_found()) };
            let has_write = folder.user_id == uid || admin || folders::has_access(c, &uid, &folder, "write")?;
            let has_read = has_write || folders::has_access(c, &uid, &folder, "read")?;
            if !has_read {
                return Err(forbidden());
            }
            const LIMIT: i64 = 10;
            let (limit, skip) = match page {
                Some(p) => (LIMIT, crate::limits::page_offset(p, LIMIT)),
                None => (60, 0),
            };
            let rows = chats::list_in_folder_all_users(c, &id, sort, asc, &uid, limit, skip)?;
            let total = match page {
                Some(_) => chats::count_in_folder_all_users(c, &id)?,
                None => rows.len() as i64,
            };
            let mut names: HashMap<String, Option<String>> = HashMap::new();
            let mut list = Vec::new();
            for (row, owner) in &rows {
                let parts = match chats::get(c, &row.id)? {
                    Some(chat) => participants(&chat),
                    None => vec![],
                };
                for pid in parts.iter().chain(std::iter::once(owner)) {
                    if !names.contains_key(pid) {
                        names.insert(pid.clone(), folders::owner_name(c, pid)?);
                    }
                }
                let mut people: Vec<Value> = parts
                    .iter()
                    .map(|p| json!({"id": p, "name": names.get(p).cloned().flatten()}))
                    .collect();
                people.sort_by_key(|a| {
                    let id = a["id"].as_str().unwrap_or_default().to_string();
                    let name = a["name"].as_str().unwrap_or_default().to_lowercase();
                    (id != *owner, name.is_empty(), name, id)
                });
                let last_read = if *owner != uid { Some(row.updated_at) } else { row.last_read_at };
                list.push(json!({
                    "id": row.id,
                    "title": row.title,
                    "user_id": owner,
                    "updated_at": row.updated_at,
                    "created_at": row.created_at,
                    "last_read_at": last_read,
                    "owner_name": names.get(owner).cloned().flatten().unwrap_or_else(|| "Unknown".into()),
                    "participants": people,
                    "active": false,
                    "readonly": *owner != uid,
                }));
            }
            let mut resp = json!({
                "chats": list,
                "folder_permission": if has_write { "write" } else { "read" },
            });
            if page.is_some() {
                resp["total"] = json!(total);
                resp["has_more"] = json!(skip + limit < total);
            }
            Ok(resp)
        })
        .await?;
    let active: HashSet<String> = state.tasks.active_chat_ids(&uid2).into_iter().collect();
    let mut out = out;
    if let Some(list) = out["chats"].as_array_mut() {
        for ch in list {
            let id = ch["id"].as_str().unwrap_or_default().to_string();
            ch["active"] = json!(state.tasks.is_chat_active(&id) || active.contains(&id));
        }
    }
    Ok(Json(out))
}

async fn mark_read(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let out = state
        .db
        .try_write(move |tx| {
            let Some(folder) = folders::get(tx, &id)? else {
                return Err(not_found());
            };
            let owner_or_admin = folder.user_id == uid || admin;
            if !owner_or_admin && !folders::has_access(tx, &uid, &folder, "read")? {
                return Err(forbidden());
            }
            let ids = if owner_or_admin {
                folders::subtree_ids(tx, &id, &folder.user_id)?
            } else {
                vec![id.clone()]
            };
            let n = chats::mark_all_read(tx, &uid, Some(&ids))?;
            let counts: Map<String, Value> = folders::unread_counts(tx, &uid)?
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            Ok(json!({
                "folder_id": id,
                "folder_ids": ids,
                "updated_count": n,
                "folder_unread_counts": counts,
            }))
        })
        .await?;
    Ok(Json(out))
}

async fn delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, &caller).await?;
    let delete_contents = q_bool(&q, "delete_contents")?.unwrap_or(true);
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let (id2, uid2) = (id.clone(), uid.clone());
    let (folder, subtree, chat_count) = state
        .db
        .read(move |c| {
            let folder = match folders::get_for_user(c, &id2, &uid2)? {
                Some(f) => Some(f),
                None => folders::get(c, &id2)?,
            };
            let Some(folder) = folder else {
                return Ok((None, vec![], 0));
            };
            let ids = folders::subtree_ids(c, &id2, &folder.user_id)?;
            let n = chats::count_in_folders(c, &ids, &folder.user_id)?;
            Ok((Some(folder), ids, n))
        })
        .await?;
    let folder = folder.ok_or_else(not_found)?;
    // Deleting cascades into the owner's chats: owners and admins only.
    if folder.user_id != uid && !admin {
        return Err(forbidden());
    }
    if delete_contents && chat_count > 0 && !admin {
        let perms = permissions::effective(&state, caller.id()).await?;
        if !permissions::allows(&perms, "chat.delete") {
            return Err(forbidden());
        }
    }
    let owner = folder.user_id.clone();
    let deleted_chats = state
        .db
        .write(move |tx| {
            let mut gone = Vec::new();
            if delete_contents {
                for fid in &subtree {
                    for chat in chats::in_folders(tx, std::slice::from_ref(fid), &owner)? {
                        gone.push(chat.id);
                    }
                }
            }
            let ids = folders::delete_subtree(tx, &id, &owner)?;
            for fid in &ids {
                if delete_contents {
                    chats::delete_in_folder(tx, &owner, fid)?;
                }
                chats::move_folder_chats(tx, fid, None)?;
            }
            access_grants::delete_for(tx, "folder", &ids)?;
            folders::clear_automation_folders(tx, &owner, &ids)?;
            Ok(gone)
        })
        .await?;
    for chat_id in deleted_chats {
        state.tasks.cancel_chat(&chat_id);
    }
    Ok(Json(true))
}
