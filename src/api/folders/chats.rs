//! The chats of a folder: the shared-folder chat list and the read mark.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::common::{check_enabled, forbidden, not_found};
use crate::api::extract::VerifiedUser;
use crate::api::form::query_opt_int;
use crate::db::chats;
use crate::db::folders;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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

pub(super) async fn shared_chats(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let page = query_opt_int(&q, "page")?;
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

pub(super) async fn mark_read(
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
