//! Changing folders: create, update, move, expand, share access, delete.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::common::{can_read_all, check_enabled, forbidden, not_found, user_role};
use crate::access::{self, Kind};
use crate::api::chats::{error_default, AccessForm};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::query_opt_bool;
use crate::auth::permissions;
use crate::db::folders;
use crate::db::{access_grants, chats, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FolderForm {
    name: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    meta: Option<Map<String, Value>>,
    #[serde(default)]
    parent_id: Option<String>,
}

pub(super) async fn create(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FolderUpdateForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    meta: Option<Map<String, Value>>,
}

pub(super) async fn update(
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
pub(super) struct ParentForm {
    #[serde(default)]
    parent_id: Option<String>,
}

pub(super) async fn update_parent(
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
pub(super) struct ExpandedForm {
    is_expanded: bool,
}

pub(super) async fn update_expanded(
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

pub(super) async fn update_access(
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
    crate::socket::chat_access::refresh(&state, None).await;
    Ok(Json(out))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, &caller).await?;
    let delete_contents = query_opt_bool(&q, "delete_contents")?.unwrap_or(true);
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
