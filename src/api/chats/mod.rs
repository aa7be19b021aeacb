//! `/api/v1/chats`: chat lists, search, the chat object, messages, tags,
//! pin/archive/folder moves, sharing, clone/fork, import/export and stats.
//!
//! Access follows upstream: the owner sees and changes a chat; admins may read
//! any chat while `ENABLE_ADMIN_CHAT_ACCESS` is on; others only through access
//! grants (a live share, a shared folder). Refusals use upstream's codes,
//! mostly 401, and never carry the chat.

use std::collections::{HashMap, HashSet};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::access::{self, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, OptionalUser, VerifiedUser};
use crate::auth::permissions;
use crate::auth::Caller;
use crate::chat::history;
use crate::db::chats::{
    self, ChatRow, ChatTitleRow, ListFilter, NewChat, SortBy, TitleQuery, PAGE_SIZE,
};
use crate::db::{self, access_grants, chat_messages, folders, now_secs, shared_chats, tags};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const DEFAULT_ERROR: &str = "Something went wrong :/";
const INVALID_TOKEN: &str =
    "Your session has expired or the token is invalid. Please sign in again.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/chats/", get(list).delete(delete_all))
        .route("/api/v1/chats/list", get(list))
        .route("/api/v1/chats/read", post(mark_all_read))
        .route("/api/v1/chats/stats/usage", get(stats_usage))
        .route("/api/v1/chats/stats/export", get(stats_export))
        .route(
            "/api/v1/chats/stats/export/{chat_id}",
            get(stats_export_one),
        )
        .route("/api/v1/chats/list/user/{user_id}", get(list_for_user))
        .route("/api/v1/chats/new", post(create))
        .route("/api/v1/chats/import", post(import))
        .route("/api/v1/chats/config", get(get_config).post(set_config))
        .route("/api/v1/chats/search", get(search))
        .route("/api/v1/chats/folder/{folder_id}", get(folder_chats))
        .route(
            "/api/v1/chats/folder/{folder_id}/list",
            get(folder_chat_list),
        )
        .route("/api/v1/chats/pinned", get(pinned))
        .route("/api/v1/chats/all", get(export_all))
        .route("/api/v1/chats/all/archived", get(all_archived))
        .route("/api/v1/chats/all/tags", get(all_tags))
        .route("/api/v1/chats/all/db", get(all_in_db))
        .route("/api/v1/chats/archived", get(archived))
        .route("/api/v1/chats/archived/count", get(archived_count))
        .route("/api/v1/chats/archive/all", post(archive_all))
        .route("/api/v1/chats/unarchive/all", post(unarchive_all))
        .route(
            "/api/v1/chats/share/all",
            axum::routing::delete(unshare_all),
        )
        .route("/api/v1/chats/shared", get(shared_list))
        .route("/api/v1/chats/share/{share_id}", get(get_shared))
        .route("/api/v1/chats/tags", post(list_by_tag))
        .route(
            "/api/v1/chats/shared/{id}/access/update",
            post(update_share_access),
        )
        .route("/api/v1/chats/shared/{id}/access", get(get_share_access))
        .route(
            "/api/v1/chats/{id}",
            get(get_chat).post(update_chat).delete(delete_chat),
        )
        .route("/api/v1/chats/{id}/compact", post(compact))
        .route("/api/v1/chats/{id}/params", patch(update_params))
        .route(
            "/api/v1/chats/{id}/messages/{message_id}",
            post(update_message).delete(delete_message),
        )
        .route(
            "/api/v1/chats/{id}/messages/{message_id}/event",
            post(message_event),
        )
        .route("/api/v1/chats/{id}/pinned", get(pinned_status))
        .route("/api/v1/chats/{id}/pin", post(toggle_pin))
        .route("/api/v1/chats/{id}/fork", post(fork))
        .route("/api/v1/chats/{id}/clone", post(clone))
        .route("/api/v1/chats/{id}/clone/shared", post(clone_shared))
        .route("/api/v1/chats/{id}/archive", post(toggle_archive))
        .route("/api/v1/chats/{id}/share", post(share).delete(unshare))
        .route("/api/v1/chats/{id}/unread", post(mark_unread))
        .route("/api/v1/chats/{id}/folder", post(move_to_folder))
        .route(
            "/api/v1/chats/{id}/tags",
            get(chat_tags).post(add_tag).delete(remove_tag),
        )
}

// ---------------------------------------------------------------------------
// Shared helpers

/// `ERROR_MESSAGES.DEFAULT(msg)`.
pub fn error_default(msg: &str) -> String {
    format!("[ERROR: {msg}]")
}

type Params = Query<HashMap<String, String>>;

fn query_error(key: &str, msg: &str, kind: &str) -> ApiError {
    ApiError::Validation(json!([{ "loc": ["query", key], "msg": msg, "type": kind }]))
}

pub fn q_int(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| query_error(key, "Input should be a valid integer", "int_parsing")),
    }
}

pub fn q_bool(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<bool>> {
    match q.get(key).map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) => match v.as_str() {
            "1" | "true" | "t" | "yes" | "y" | "on" => Ok(Some(true)),
            "0" | "false" | "f" | "no" | "n" | "off" => Ok(Some(false)),
            _ => Err(query_error(
                key,
                "Input should be a valid boolean",
                "bool_parsing",
            )),
        },
    }
}

fn page_of(q: &HashMap<String, String>) -> ApiResult<Option<i64>> {
    Ok(q_int(q, "page")?.map(crate::limits::page))
}

/// What the closures running on the blocking pool need to know about the caller.
#[derive(Clone)]
struct Who {
    id: String,
    name: String,
    admin: bool,
    admin_chat_access: bool,
}

fn who(state: &AppState, caller: &Caller) -> Who {
    Who {
        id: caller.user.id.clone(),
        name: caller.user.name.clone(),
        admin: caller.is_admin(),
        admin_chat_access: state.settings.env_flags.enable_admin_chat_access,
    }
}

/// Upstream's `get_accessible_chat_by_id`: the owner; an admin reading (with
/// admin chat access, or an internal chat); a reader of a live share; a reader
/// of the chat's folder (writers too when the folder is shared in `continue` mode).
fn accessible(
    c: &Connection,
    w: &Who,
    chat: ChatRow,
    write: bool,
) -> rusqlite::Result<Option<ChatRow>> {
    if chat.user_id == w.id || (w.admin && !write && (w.admin_chat_access || chat.is_internal())) {
        return Ok(Some(chat));
    }
    if let Some(shared) = shared_chats::get_by_chat_id(c, &chat.id)? {
        if shared.share_mode() == Some("continue")
            && shared_chats::user_has_grant(c, &w.id, "shared_chat", &chat.id, "read")?
        {
            return Ok(Some(chat));
        }
    }
    if let Some(fid) = chat.folder_id.as_deref() {
        if let Some(folder) = folders::get(c, fid)? {
            if (!write || folder.share_mode() == Some("continue"))
                && folders::has_access(c, &w.id, &folder, "read")?
            {
                return Ok(Some(chat));
            }
        }
    }
    Ok(None)
}

fn load_accessible(
    c: &Connection,
    w: &Who,
    id: &str,
    write: bool,
) -> rusqlite::Result<Option<ChatRow>> {
    match chats::get(c, id)? {
        Some(chat) => accessible(c, w, chat, write),
        None => Ok(None),
    }
}

/// The chat as a viewer sees it (upstream's `shared_chat_response`): for
/// anyone but the owner, chat variables and tool/param settings are removed;
/// `meta` of other people's messages is dropped; user messages carry their
/// author as `{id, name}`.
fn viewer_response(c: &Connection, row: &ChatRow, viewer: Option<&str>) -> rusqlite::Result<Value> {
    let mut data = chats::response(row);
    let is_owner = viewer == Some(row.user_id.as_str());
    if !is_owner {
        data["variables"] = json!({});
        if let Some(chat) = data["chat"].as_object_mut() {
            for k in [
                "params",
                "tool_servers",
                "tool_ids",
                "filter_ids",
                "variables",
            ] {
                chat.remove(k);
            }
        }
    }
    let owner = row.user_id.clone();
    let mut authors: HashMap<String, Value> = HashMap::new();
    let mut wanted: Vec<String> = Vec::new();
    history::for_each_message(&mut data["chat"], |m| {
        if m.get("role").and_then(Value::as_str) == Some("user") {
            let author = m
                .get("user")
                .filter(|u| u.is_object())
                .cloned()
                .unwrap_or(json!({}));
            let author_id = m
                .get("user_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    author
                        .get("id")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| owner.clone());
            m["user_id"] = Value::String(author_id.clone());
            let name = author
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if author.get("id").and_then(Value::as_str) == Some(author_id.as_str()) {
                if let Some(name) = name {
                    authors.insert(author_id.clone(), json!({"id": author_id, "name": name}));
                }
            }
            wanted.push(author_id);
        }
        let msg_author = m
            .get("user_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(&owner);
        if viewer != Some(msg_author) {
            if let Some(o) = m.as_object_mut() {
                o.remove("meta");
            }
        }
    });
    for id in wanted {
        if !authors.contains_key(&id) {
            if let Some(u) = db::users::get(c, &id)? {
                authors.insert(id.clone(), json!({"id": id, "name": u.name}));
            }
        }
    }
    history::for_each_message(&mut data["chat"], |m| {
        if m.get("role").and_then(Value::as_str) == Some("user") {
            let uid = m["user_id"].as_str().unwrap_or_default().to_string();
            m["user"] = authors
                .get(&uid)
                .cloned()
                .unwrap_or(json!({"id": uid, "name": ""}));
        }
    });
    Ok(data)
}

/// Attributes client-supplied messages to the caller.
fn set_message_authors(chat: &mut Value, w: &Who) {
    history::for_each_message(chat, |m| {
        m["user_id"] = Value::String(w.id.clone());
        if m.get("role").and_then(Value::as_str) == Some("user") {
            m["user"] = json!({"id": w.id, "name": w.name});
        }
    });
}

fn active_set(state: &AppState, user_id: &str) -> HashSet<String> {
    state.tasks.active_chat_ids(user_id).into_iter().collect()
}

fn titles(state: &AppState, user_id: &str, rows: &[ChatTitleRow]) -> Json<Vec<Value>> {
    let active = active_set(state, user_id);
    Json(
        rows.iter()
            .map(|r| r.wire(active.contains(&r.id)))
            .collect(),
    )
}

async fn allowed(state: &AppState, caller: &Caller, key: &str) -> ApiResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let perms = permissions::effective(state, caller.id()).await?;
    Ok(permissions::allows(&perms, key))
}

/// Users forced into temporary chats may not store chats.
async fn require_creation(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if caller.is_admin() {
        return Ok(());
    }
    let perms = permissions::effective(state, caller.id()).await?;
    if permissions::allows(&perms, "chat.temporary")
        && permissions::allows(&perms, "chat.temporary_enforced")
    {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(())
}

async fn require_import(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !allowed(state, caller, "chat.import").await? {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(())
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::unauthorized(msg)
}

/// Parses an optional JSON object body (`Form | None = None` upstream).
fn optional_object(body: &Bytes) -> ApiResult<Option<Map<String, Value>>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(Value::Null) => Ok(None),
        Ok(_) => Err(ApiError::Validation(json!([{
            "loc": ["body"], "msg": "Input should be a valid dictionary or object", "type": "model_type"
        }]))),
        Err(e) => Err(ApiError::Validation(json!([{
            "loc": ["body"], "msg": format!("JSON decode error: {e}"), "type": "json_invalid"
        }]))),
    }
}

fn opt_str_field(m: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::Validation(json!([{
            "loc": ["body", key], "msg": "Input should be a valid string", "type": "string_type"
        }]))),
    }
}

fn folder_unread_json(c: &Connection, user_id: &str) -> rusqlite::Result<Value> {
    let counts = folders::unread_counts(c, user_id)?;
    Ok(Value::Object(
        counts
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect(),
    ))
}

// ---------------------------------------------------------------------------
// Lists

async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let f = ListFilter {
        include_pinned: q_bool(&q, "include_pinned")?.unwrap_or(false),
        include_folders: q_bool(&q, "include_folders")?.unwrap_or(false),
        page: page_of(&q)?.map(|p| (PAGE_SIZE, (p - 1) * PAGE_SIZE)),
        sort: SortBy::parse(q.get("sort_by").map_or("updated_at", String::as_str)),
        ascending: q.get("sort_dir").map(String::as_str) == Some("asc"),
        ..Default::default()
    };
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| chats::list_titles(c, &uid, &f))
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

async fn mark_all_read(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let (n, counts) = state
        .db
        .write(move |tx| {
            Ok((
                chats::mark_all_read(tx, &uid, None)?,
                folder_unread_json(tx, &uid)?,
            ))
        })
        .await?;
    Ok(Json(
        json!({"updated_count": n, "folder_unread_counts": counts}),
    ))
}

async fn pinned(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let f = ListFilter {
        only_pinned: true,
        ..Default::default()
    };
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| chats::list_titles(c, &uid, &f))
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

fn title_query(q: &HashMap<String, String>) -> ApiResult<TitleQuery> {
    let order = match (q.get("order_by"), q.get("direction")) {
        (Some(col), Some(dir)) if !col.is_empty() && !dir.is_empty() => {
            if !chats::ORDERABLE.contains(&col.as_str()) {
                return Err(ApiError::bad_request("Invalid order_by field"));
            }
            let asc = match dir.to_lowercase().as_str() {
                "asc" => true,
                "desc" => false,
                _ => return Err(ApiError::bad_request("Invalid direction for ordering")),
            };
            Some((col.clone(), asc))
        }
        _ => None,
    };
    Ok(TitleQuery {
        query: q.get("query").cloned(),
        order,
    })
}

async fn archived(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let page = page_of(&q)?.unwrap_or(1);
    let tq = title_query(&q)?;
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            chats::list_filtered(c, &uid, Some(true), &tq, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

async fn list_for_user(
    State(state): State<AppState>,
    AdminUser(_caller): AdminUser,
    Path(user_id): Path<String>,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    if !state.settings.env_flags.enable_admin_chat_access {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let page = page_of(&q)?.unwrap_or(1);
    let tq = title_query(&q)?;
    let uid = user_id.clone();
    let rows = state
        .db
        .read(move |c| chats::list_filtered(c, &uid, None, &tq, PAGE_SIZE, (page - 1) * PAGE_SIZE))
        .await?;
    Ok(titles(&state, &user_id, &rows))
}

async fn archived_count(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let n = state
        .db
        .read(move |c| chats::count_archived(c, &uid))
        .await?;
    Ok(Json(json!(n)))
}

async fn all_tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state.db.read(move |c| tags::list_for_user(c, &uid)).await?;
    Ok(Json(rows.iter().map(tags::TagRow::wire).collect()))
}

async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let Some(text) = q.get("text").cloned() else {
        return Err(query_error("text", "Field required", "missing"));
    };
    let page = page_of(&q)?.unwrap_or(1);
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .write(move |tx| {
            let found = chats::search(tx, &uid, &text, (page - 1) * PAGE_SIZE, PAGE_SIZE)?;
            let needle = chats::search_content_query(&text);
            let rows: Vec<ChatTitleRow> = found
                .iter()
                .map(|r| ChatTitleRow {
                    id: r.id.clone(),
                    title: r.title.clone(),
                    updated_at: r.updated_at,
                    created_at: r.created_at,
                    last_read_at: r.last_read_at,
                    archived: r.archived,
                    snippet: chats::search_snippet(&r.chat, &needle),
                })
                .collect();
            // A lone `tag:x` search that finds nothing retires the unused tag.
            let words: Vec<&str> = text.trim().split(' ').collect();
            if page == 1 && words.len() == 1 && rows.is_empty() {
                if let Some(tag) = words[0].strip_prefix("tag:") {
                    let tag = tag.replace("tag:", "");
                    if chats::count_by_tag(tx, &tags::normalize_id(&tag), &uid)? == 0 {
                        tags::delete_by_name(tx, &tag, &uid)?;
                    }
                }
            }
            Ok(rows)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

async fn folder_chats(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(folder_id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            let mut ids = vec![folder_id.clone()];
            if folders::get_for_user(c, &folder_id, &uid)?.is_some() {
                ids.extend(
                    folders::descendants(c, &folder_id, &uid)?
                        .into_iter()
                        .map(|f| f.id),
                );
            }
            chats::in_folders(c, &ids, &uid)
        })
        .await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}

async fn folder_chat_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(folder_id): Path<String>,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    const LIMIT: i64 = 10;
    let page = page_of(&q)?.unwrap_or(1);
    let sort = SortBy::parse(q.get("sort_by").map_or("unread_updated_at", String::as_str));
    let asc = q.get("sort_dir").map(String::as_str) == Some("asc");
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            chats::list_in_folder(c, &folder_id, &uid, sort, asc, LIMIT, (page - 1) * LIMIT)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

#[derive(Deserialize)]
struct TagFilterForm {
    name: String,
    #[serde(default)]
    skip: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn list_by_tag(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<TagFilterForm>,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .write(move |tx| {
            let rows = chats::list_by_tag(
                tx,
                &uid,
                &form.name,
                crate::limits::skip(form.skip.unwrap_or(0)),
                crate::limits::limit(form.limit.unwrap_or(50)),
            )?;
            if rows.is_empty() {
                tags::delete_by_name(tx, &form.name, &uid)?;
            }
            Ok(rows)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

// ---------------------------------------------------------------------------
// Whole-collection exports

/// `GET /api/v1/chats/all`: every chat as one NDJSON line, read in batches.
async fn export_all(State(state): State<AppState>, VerifiedUser(caller): VerifiedUser) -> Response {
    const BATCH: i64 = 100;
    let uid = caller.user.id.clone();
    let stream = futures::stream::unfold(Some(0i64), move |offset| {
        let (state, uid) = (state.clone(), uid.clone());
        async move {
            let offset = offset?;
            let u = uid.clone();
            let rows = state
                .db
                .read(move |c| {
                    chats::all_for_user(c, &u, false, None, false, Some((BATCH, offset)))
                })
                .await;
            match rows {
                Ok(rows) if !rows.is_empty() => {
                    let mut buf = Vec::new();
                    for r in &rows {
                        buf.extend_from_slice(chats::response(r).to_string().as_bytes());
                        buf.push(b'\n');
                    }
                    let next = (rows.len() as i64 == BATCH).then_some(offset + BATCH);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), next))
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(error = ?e, "chat export failed");
                    None
                }
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn all_archived(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| chats::all_for_user(c, &uid, true, None, false, None))
        .await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}

async fn all_in_db(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Vec<Value>>> {
    if !state.settings.env_flags.enable_admin_export {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let rows = state.db.read(chats::all_chats).await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}

// ---------------------------------------------------------------------------
// Bulk changes

async fn delete_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    if caller.user.role == "user" && !allowed(&state, &caller, "chat.delete").await? {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let uid = caller.user.id.clone();
    let ids = state
        .db
        .write(move |tx| {
            let tag_ids: Vec<String> = tags::list_for_user(tx, &uid)?
                .into_iter()
                .map(|t| t.id)
                .collect();
            let chat_ids: Vec<String> = chats::all_for_user(tx, &uid, false, None, false, None)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            chats::delete_all_for_user(tx, &uid)?;
            chats::delete_orphan_tags(tx, &tag_ids, &uid, 0)?;
            Ok(chat_ids)
        })
        .await?;
    for id in ids {
        state.tasks.cancel_chat(&id);
    }
    Ok(Json(true))
}

async fn archive_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    state
        .db
        .write(move |tx| chats::archive_all(tx, &uid))
        .await?;
    Ok(Json(true))
}

async fn unarchive_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    state
        .db
        .write(move |tx| {
            let tag_ids = chats::archived_tag_ids(tx, &uid)?;
            chats::unarchive_all(tx, &uid)?;
            tags::ensure_exist(tx, &tag_ids, &uid)
        })
        .await?;
    Ok(Json(true))
}

async fn unshare_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    state
        .db
        .write(move |tx| {
            let chat_ids = shared_chats::chat_ids_by_user(tx, &uid)?;
            shared_chats::delete_all_by_user(tx, &uid)?;
            for id in &chat_ids {
                chats::set_share_id(tx, id, None)?;
            }
            access_grants::delete_for(tx, "shared_chat", &chat_ids)?;
            Ok(())
        })
        .await?;
    Ok(Json(true))
}

// ---------------------------------------------------------------------------
// Create and import

#[derive(Deserialize)]
struct ChatForm {
    chat: Map<String, Value>,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    folder_id: Option<String>,
}

/// Refuses a chat whose title or tag names are longer than the limits.
fn check_chat_fields(chat: &Map<String, Value>) -> ApiResult<()> {
    if let Some(t) = chat.get("title").and_then(Value::as_str) {
        crate::limits::check_title("title", t)?;
    }
    for tag in chat
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        crate::limits::check_name("tags", tag)?;
    }
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ChatForm>,
) -> ApiResult<Json<Value>> {
    require_creation(&state, &caller).await?;
    check_chat_fields(&form.chat)?;
    let w = who(&state, &caller);
    let row = state
        .db
        .write(move |tx| {
            if let Some(fid) = form.folder_id.as_deref() {
                if !folders::has_write_access(tx, &w.id, fid)? {
                    return Ok(None);
                }
            }
            let mut chat = Value::Object(form.chat);
            set_message_authors(&mut chat, &w);
            let n = NewChat {
                id: db::new_id(),
                user_id: w.id.clone(),
                chat,
                folder_id: form.folder_id,
                meta: json!({}),
                variables: form.variables.map(Value::Object).unwrap_or(json!({})),
                ..Default::default()
            };
            chats::insert(tx, &n, now_secs()).map(Some)
        })
        .await?;
    match row {
        Some(r) => Ok(Json(chats::response(&r))),
        None => Err(ApiError::not_found(NOT_FOUND)),
    }
}

#[derive(Deserialize)]
struct ImportForm {
    chat: Map<String, Value>,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    folder_id: Option<String>,
    #[serde(default)]
    meta: Option<Map<String, Value>>,
    #[serde(default)]
    pinned: Option<bool>,
    #[serde(default)]
    archived: Option<bool>,
    #[serde(default)]
    current_message_id: Option<String>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    updated_at: Option<i64>,
}

#[derive(Deserialize)]
struct ImportBody {
    chats: Vec<ImportForm>,
}

/// Inserts imported chats for `w`: folders the caller cannot write are
/// dropped, every message gets an author, tag rows are created.
fn import_rows(
    c: &Connection,
    w: &Who,
    forms: Vec<ImportForm>,
    now: i64,
) -> rusqlite::Result<Vec<ChatRow>> {
    let mut out = Vec::new();
    let mut tag_ids: Vec<String> = Vec::new();
    for f in forms {
        let folder_id = match f.folder_id {
            Some(fid) if folders::has_write_access(c, &w.id, &fid)? => Some(fid),
            _ => None,
        };
        let mut chat = Value::Object(f.chat);
        history::fill_message_authors(&mut chat, &w.id);
        let meta = f.meta.map(Value::Object).unwrap_or(json!({}));
        for t in meta
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = t.as_str() {
                if !tag_ids.iter().any(|x| x == t) {
                    tag_ids.push(t.to_string());
                }
            }
        }
        let n = NewChat {
            id: db::new_id(),
            user_id: w.id.clone(),
            chat,
            folder_id,
            meta,
            variables: f.variables.map(Value::Object).unwrap_or(json!({})),
            pinned: f.pinned.unwrap_or(false),
            archived: f.archived.unwrap_or(false),
            current_message_id: f.current_message_id.filter(|s| !s.is_empty()),
            created_at: f.created_at,
            updated_at: f.updated_at,
        };
        out.push(chats::insert(c, &n, now)?);
    }
    tags::ensure_exist(c, &tag_ids, &w.id)?;
    Ok(out)
}

async fn import(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<ImportBody>,
) -> ApiResult<Json<Vec<Value>>> {
    require_import(&state, &caller).await?;
    require_creation(&state, &caller).await?;
    for f in &body.chats {
        check_chat_fields(&f.chat)?;
    }
    let w = who(&state, &caller);
    let rows = state
        .db
        .write(move |tx| {
            let mut forms = body.chats;
            for f in &mut forms {
                let mut chat = Value::Object(std::mem::take(&mut f.chat));
                set_message_authors(&mut chat, &w);
                f.chat = match chat {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
            }
            import_rows(tx, &w, forms, now_secs())
        })
        .await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}

// ---------------------------------------------------------------------------
// Admin chat settings

const CONFIG_KEYS: [(&str, &str); 11] = [
    ("CONTEXT_COMPACTION_MODEL", "chat.context_compaction.model"),
    (
        "ENABLE_CONTEXT_COMPACTION",
        "chat.context_compaction.enable",
    ),
    (
        "CONTEXT_COMPACTION_TOKEN_THRESHOLD",
        "chat.context_compaction.token_threshold",
    ),
    (
        "CONTEXT_COMPACTION_TOKEN_CAP",
        "chat.context_compaction.token_cap",
    ),
    (
        "CONTEXT_COMPACTION_RETENTION_PERCENTAGE",
        "chat.context_compaction.retention_percentage",
    ),
    (
        "CONTEXT_COMPACTION_PROMPT_TEMPLATE",
        "chat.context_compaction.prompt_template",
    ),
    ("ENABLE_TOOL_PERMISSIONS", "chat.tool_permissions.enable"),
    ("ENABLE_TOOL_SEARCH", "chat.tool_search.enable"),
    (
        "TOOL_SEARCH_DEFER_THRESHOLD",
        "chat.tool_search.defer_threshold",
    ),
    (
        "TOOL_SEARCH_ALWAYS_LOADED",
        "chat.tool_search.always_loaded",
    ),
    (
        "TOOL_SEARCH_DEFER_BUILTIN_TOOLS",
        "chat.tool_search.defer_builtin_tools",
    ),
];

fn config_values(state: &AppState) -> Value {
    let mut m = Map::new();
    for (field, key) in CONFIG_KEYS {
        m.insert(field.into(), state.config.get(key));
    }
    if m["CONTEXT_COMPACTION_MODEL"].is_null() {
        m.insert("CONTEXT_COMPACTION_MODEL".into(), json!(""));
    }
    if m["CONTEXT_COMPACTION_TOKEN_CAP"].is_null() {
        let t = m
            .get("CONTEXT_COMPACTION_TOKEN_THRESHOLD")
            .cloned()
            .unwrap_or(json!(80000));
        m.insert("CONTEXT_COMPACTION_TOKEN_CAP".into(), t);
    }
    if m["CONTEXT_COMPACTION_RETENTION_PERCENTAGE"].is_null() {
        m.insert("CONTEXT_COMPACTION_RETENTION_PERCENTAGE".into(), json!(40));
    }
    Value::Object(m)
}

async fn get_config(State(state): State<AppState>, AdminUser(_c): AdminUser) -> Json<Value> {
    Json(config_values(&state))
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct ChatConfigForm {
    #[serde(default)]
    CONTEXT_COMPACTION_MODEL: Option<String>,
    ENABLE_CONTEXT_COMPACTION: bool,
    #[serde(default)]
    CONTEXT_COMPACTION_TOKEN_THRESHOLD: Option<i64>,
    #[serde(default)]
    CONTEXT_COMPACTION_TOKEN_CAP: Option<i64>,
    #[serde(default)]
    CONTEXT_COMPACTION_RETENTION_PERCENTAGE: Option<i64>,
    CONTEXT_COMPACTION_PROMPT_TEMPLATE: String,
    #[serde(default)]
    ENABLE_TOOL_PERMISSIONS: bool,
    #[serde(default)]
    ENABLE_TOOL_SEARCH: bool,
    #[serde(default = "default_defer_threshold")]
    TOOL_SEARCH_DEFER_THRESHOLD: i64,
    #[serde(default)]
    TOOL_SEARCH_ALWAYS_LOADED: Vec<String>,
    #[serde(default = "default_true")]
    TOOL_SEARCH_DEFER_BUILTIN_TOOLS: bool,
}

fn default_defer_threshold() -> i64 {
    400
}

fn default_true() -> bool {
    true
}

async fn set_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(f): JsonBody<ChatConfigForm>,
) -> ApiResult<Json<Value>> {
    let threshold = f.CONTEXT_COMPACTION_TOKEN_THRESHOLD.unwrap_or(80000).max(1);
    let cap = f
        .CONTEXT_COMPACTION_TOKEN_CAP
        .filter(|c| *c != 0)
        .unwrap_or(threshold)
        .max(1);
    let retention = f
        .CONTEXT_COMPACTION_RETENTION_PERCENTAGE
        .unwrap_or(40)
        .clamp(10, 50);
    let always: Vec<String> = f
        .TOOL_SEARCH_ALWAYS_LOADED
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    state
        .config
        .set_many(vec![
            (
                "chat.context_compaction.model",
                json!(f.CONTEXT_COMPACTION_MODEL.unwrap_or_default()),
            ),
            (
                "chat.context_compaction.enable",
                json!(f.ENABLE_CONTEXT_COMPACTION),
            ),
            ("chat.context_compaction.token_threshold", json!(threshold)),
            ("chat.context_compaction.token_cap", json!(cap)),
            (
                "chat.context_compaction.retention_percentage",
                json!(retention),
            ),
            (
                "chat.context_compaction.prompt_template",
                json!(f.CONTEXT_COMPACTION_PROMPT_TEMPLATE),
            ),
            (
                "chat.tool_permissions.enable",
                json!(f.ENABLE_TOOL_PERMISSIONS),
            ),
            ("chat.tool_search.enable", json!(f.ENABLE_TOOL_SEARCH)),
            (
                "chat.tool_search.defer_threshold",
                json!(f.TOOL_SEARCH_DEFER_THRESHOLD.max(0)),
            ),
            ("chat.tool_search.always_loaded", json!(always)),
            (
                "chat.tool_search.defer_builtin_tools",
                json!(f.TOOL_SEARCH_DEFER_BUILTIN_TOOLS),
            ),
        ])
        .await?;
    Ok(Json(config_values(&state)))
}

// ---------------------------------------------------------------------------
// Sharing

/// The snapshot of a share, shaped like a chat row (id = share token).
fn snapshot_row(s: &shared_chats::SharedChatRow) -> ChatRow {
    ChatRow {
        id: s.id.clone(),
        user_id: s.user_id.clone(),
        title: s.title.clone(),
        chat: s.chat.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
        share_id: Some(s.id.clone()),
        archived: false,
        pinned: false,
        meta: json!({}),
        folder_id: None,
        last_read_at: None,
        current_message_id: None,
        tasks: None,
        summary: None,
        variables: json!({}),
        timer_at: None,
    }
}

enum ShareView {
    Found(Value),
    Denied(&'static str),
}

/// `GET /api/v1/chats/share/{share_id}`: open (`anyone`) shares, the owner,
/// admins with chat access and grantees read it; a live (`continue`) share
/// shows the chat as it is now to those who may continue it.
fn read_share(c: &Connection, w: Option<&Who>, share_id: &str) -> rusqlite::Result<ShareView> {
    if let Some(shared) = shared_chats::get(c, share_id)? {
        let can_read = match w {
            None => false,
            Some(w) => {
                (w.admin && w.admin_chat_access)
                    || shared.user_id == w.id
                    || shared_chats::user_has_grant(
                        c,
                        &w.id,
                        "shared_chat",
                        &shared.chat_id,
                        "read",
                    )?
            }
        };
        if shared_chats::has_anyone_grant(c, "shared_chat", &shared.chat_id, "read")? || can_read {
            let live = match w {
                Some(w) if shared.share_mode() == Some("continue") => {
                    load_accessible(c, w, &shared.chat_id, true)?.is_some()
                }
                _ => false,
            };
            let row = if live {
                chats::get(c, &shared.chat_id)?
            } else {
                Some(snapshot_row(&shared))
            };
            if let Some(row) = row {
                let mut data = viewer_response(c, &row, w.map(|w| w.id.as_str()))?;
                data["chat"]["share_mode"] = if live { json!("continue") } else { Value::Null };
                return Ok(ShareView::Found(data));
            }
        }
        return Ok(ShareView::Denied(if w.is_some() {
            ACCESS_PROHIBITED
        } else {
            INVALID_TOKEN
        }));
    }
    if let Some(w) = w.filter(|w| w.admin && w.admin_chat_access) {
        if let Some(row) = chats::get(c, share_id)? {
            let writable = accessible(c, w, row.clone(), true)?.is_some();
            let mut data = viewer_response(c, &row, Some(&w.id))?;
            data["chat"]["share_mode"] = if writable {
                json!("continue")
            } else {
                Value::Null
            };
            return Ok(ShareView::Found(data));
        }
    }
    Ok(ShareView::Denied(NOT_FOUND))
}

fn verified(state: &AppState, caller: Option<Caller>) -> Option<Who> {
    caller
        .filter(|c| c.user.role == "user" || c.user.role == "admin")
        .map(|c| who(state, &c))
}

async fn get_shared(
    State(state): State<AppState>,
    OptionalUser(caller): OptionalUser,
    Path(share_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = verified(&state, caller);
    match state
        .db
        .read(move |c| read_share(c, w.as_ref(), &share_id))
        .await?
    {
        ShareView::Found(v) => Ok(Json(v)),
        ShareView::Denied(msg) => Err(unauthorized(msg)),
    }
}

async fn share(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if !allowed(&state, &caller, "chat.share").await? {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let form = optional_object(&body)?;
    let mode: Option<Value> = match form.as_ref().and_then(|f| f.get("share_mode")) {
        None => None,
        Some(Value::Null) => Some(Value::Null),
        Some(Value::String(s)) if s == "continue" => Some(json!("continue")),
        Some(_) => {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", "share_mode"], "msg": "Input should be 'continue'", "type": "literal_error"
            }])))
        }
    };
    let uid = caller.user.id.clone();
    let row = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Ok(None);
            };
            let now = now_secs();
            if let Some(sid) = chat.share_id.as_deref() {
                if shared_chats::refresh(tx, sid, mode.clone(), now)?.is_some() {
                    return chats::get(tx, &id);
                }
            }
            let sid = db::new_id();
            let m = mode.as_ref().and_then(Value::as_str);
            if shared_chats::create(tx, &sid, &id, &uid, m, now)?.is_none() {
                return Ok(None);
            }
            chats::set_share_id(tx, &id, Some(&sid))?;
            chats::get(tx, &id)
        })
        .await?;
    match row {
        Some(r) => Ok(Json(chats::response(&r))),
        None => Err(unauthorized(ACCESS_PROHIBITED)),
    }
}

async fn unshare(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    let ok = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Ok(false);
            };
            shared_chats::delete_by_chat_id(tx, &id)?;
            if chat.share_id.is_some() {
                chats::set_share_id(tx, &id, None)?;
            }
            access_grants::delete_for(tx, "shared_chat", std::slice::from_ref(&id))?;
            Ok(true)
        })
        .await?;
    if !ok {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    Ok(Json(true))
}

async fn shared_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let page = page_of(&q)?.unwrap_or(1);
    let order = match (q.get("order_by"), q.get("direction")) {
        (Some(col), Some(dir)) if !col.is_empty() && !dir.is_empty() => {
            if ![
                "id",
                "chat_id",
                "user_id",
                "title",
                "created_at",
                "updated_at",
            ]
            .contains(&col.as_str())
            {
                return Err(ApiError::bad_request("Invalid order_by field"));
            }
            let asc = match dir.to_lowercase().as_str() {
                "asc" => true,
                "desc" => false,
                _ => return Err(ApiError::bad_request("Invalid direction for ordering")),
            };
            Some((col.clone(), asc))
        }
        _ => None,
    };
    let query = q.get("query").cloned();
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            shared_chats::list_by_user(
                c,
                &uid,
                query.as_deref(),
                order.as_ref().map(|(c, a)| (c.as_str(), *a)),
                (page - 1) * PAGE_SIZE,
                PAGE_SIZE,
            )
        })
        .await?;
    Ok(Json(rows))
}

/// Chats an admin may manage the sharing of: their own, or any with admin chat access.
fn managed_chat(c: &Connection, w: &Who, id: &str) -> rusqlite::Result<Option<ChatRow>> {
    if w.admin && w.admin_chat_access {
        chats::get(c, id)
    } else {
        chats::get_for_user(c, id, &w.id)
    }
}

/// Body of the share-access updates of chats and folders.
#[derive(Deserialize)]
pub(crate) struct AccessForm {
    pub access_grants: Vec<Value>,
    #[serde(default, deserialize_with = "present")]
    pub share_mode: Option<Value>,
}

/// `Some(value)` whenever the key is present, null included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

async fn update_share_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    let mode = match &form.share_mode {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s == "continue" => Some(Some("continue".to_string())),
        Some(_) => {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", "share_mode"], "msg": "Input should be 'continue'", "type": "literal_error"
            }])))
        }
    };
    let w = who(&state, &caller);
    let (w2, id2) = (w.clone(), id.clone());
    if state
        .db
        .read(move |c| managed_chat(c, &w2, &id2))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    let requested = Value::Array(form.access_grants);
    let grants = access::validated_grants(&state, &caller, Kind::SharedChat, &requested).await?;
    let row = state
        .db
        .try_write(move |tx| -> ApiResult<_> {
            access_grants::replace(tx, "shared_chat", &id, &grants, now_secs())?;
            // The chat may have gone since the check above: undo the grants then.
            let chat = managed_chat(tx, &w, &id)?.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
            if let (Some(mode), Some(sid)) = (mode, chat.share_id.clone()) {
                shared_chats::set_share_mode(tx, &sid, mode.as_deref())?;
            }
            Ok(chat)
        })
        .await?;
    Ok(Json(chats::response(&row)))
}

async fn get_share_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let w = who(&state, &caller);
    let grants = state
        .db
        .read(move |c| {
            if managed_chat(c, &w, &id)?.is_none() {
                return Ok(None);
            }
            access_grants::by_resource(c, "shared_chat", &id).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(
        grants
            .iter()
            .map(|g| {
                json!({"id": g.id, "principal_type": g.principal_type, "principal_id": g.principal_id,
                       "permission": g.permission})
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------
// One chat

async fn get_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let chat_id = id.clone();
    let mut data = state
        .db
        .read(move |c| {
            let Some(chat) = load_accessible(c, &w, &id, false)? else {
                return Ok(None);
            };
            let writable = accessible(c, &w, chat.clone(), true)?.is_some();
            let mut data = viewer_response(c, &chat, Some(&w.id))?;
            data["chat"]["share_mode"] = if writable {
                json!("continue")
            } else {
                Value::Null
            };
            Ok(Some(data))
        })
        .await?;
    if let Some(chat) = data.as_mut().and_then(|d| d.get_mut("chat")) {
        crate::chat::live::overlay(&state, &chat_id, chat);
    }
    data.map(Json).ok_or_else(|| unauthorized(NOT_FOUND))
}

async fn update_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<ChatForm>,
) -> ApiResult<Json<Value>> {
    check_chat_fields(&form.chat)?;
    let w = who(&state, &caller);
    let out = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get(tx, &id)? else {
                return Err(unauthorized(ACCESS_PROHIBITED));
            };
            let mut incoming = form.chat;
            if chat.user_id != w.id {
                // The owner of a shared folder may rename chats others keep in it, nothing more.
                let folder_ok = match chat.folder_id.as_deref() {
                    Some(fid) => folders::get_for_user(tx, fid, &w.id)?.is_some(),
                    None => false,
                };
                let only_title = incoming.len() == 1 && incoming.contains_key("title");
                if !folder_ok || !only_title || form.variables.is_some() || form.folder_id.is_some()
                {
                    return Err(unauthorized(ACCESS_PROHIBITED));
                }
                match incoming.get("title").and_then(Value::as_str).map(str::trim) {
                    Some(t) if !t.is_empty() => {
                        incoming.insert("title".into(), Value::String(t.to_string()));
                    }
                    _ => return Err(ApiError::bad_request(error_default("Invalid title"))),
                }
            }
            let mut v = Value::Object(incoming);
            set_message_authors(&mut v, &w);
            let incoming = match v {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let touch = incoming.contains_key("history") || incoming.contains_key("messages");
            let Some(row) = chats::update_chat(tx, &id, &incoming, touch, now_secs())? else {
                return Err(unauthorized(ACCESS_PROHIBITED));
            };
            if let Some(vars) = form.variables {
                chats::set_variables(tx, &id, &Value::Object(vars))?;
            }
            let row = chats::get(tx, &id)?.unwrap_or(row);
            if row.user_id != w.id {
                return Ok(viewer_response(tx, &row, Some(&w.id))?);
            }
            Ok(chats::response(&row))
        })
        .await?;
    Ok(Json(out))
}

async fn update_params(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let out = state
        .db
        .try_write(move |tx| {
            if chats::get_for_user(tx, &id, &uid)?.is_none() {
                return Err(unauthorized(ACCESS_PROHIBITED));
            }
            chats::update_params(tx, &id, &params)?.ok_or_else(|| ApiError::not_found(NOT_FOUND))
        })
        .await?;
    Ok(Json(out))
}

async fn compact(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    if state
        .db
        .read(move |c| chats::get_for_user(c, &id, &uid))
        .await?
        .is_none()
    {
        return Err(unauthorized(NOT_FOUND));
    }
    Err(ApiError::NotImplemented(
        "Context compaction is not supported by this server.".into(),
    ))
}

/// Owner, or an admin with chat access: who may edit messages and send events.
fn message_editor(chat: &ChatRow, w: &Who) -> bool {
    chat.user_id == w.id || (w.admin && w.admin_chat_access)
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    voice: Option<Map<String, Value>>,
}

async fn update_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<MessageForm>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let (content, voice) = (form.content.clone(), form.voice.clone());
    let (cid, mid) = (id.clone(), message_id.clone());
    let row = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get(tx, &cid)? else {
                return Err(unauthorized(ACCESS_PROHIBITED));
            };
            if !message_editor(&chat, &w) {
                return Err(unauthorized(ACCESS_PROHIBITED));
            }
            let mut updates = Map::new();
            if let Some(c) = &content {
                updates.insert("content".into(), Value::String(c.clone()));
            }
            if let Some(v) = &voice {
                if Value::Object(v.clone()).to_string().len() > 100_000 {
                    return Err(ApiError::bad_request("Voice metadata is too large"));
                }
                let exists = chat
                    .history_messages()
                    .is_some_and(|m| m.contains_key(&mid))
                    || chat_messages::messages_map(tx, &cid)?.is_some_and(|m| m.contains_key(&mid));
                if !exists {
                    return Err(ApiError::not_found(NOT_FOUND));
                }
                updates.insert("meta".into(), json!({"voice": v}));
            }
            if updates.is_empty() {
                return Err(ApiError::bad_request("No message changes supplied"));
            }
            let row = chats::upsert_message_with(
                tx,
                &cid,
                &mid,
                &Value::Object(updates),
                None,
                true,
                now_secs(),
            )?;
            row.ok_or_else(|| unauthorized(ACCESS_PROHIBITED))
        })
        .await?;
    if let Some(io) = state.io() {
        let data = match &form.content {
            Some(c) => {
                json!({"type": "chat:message", "data": {"chat_id": id, "message_id": message_id, "content": c}})
            }
            None => {
                json!({"type": "chat:message:voice", "data": {"chat_id": id, "message_id": message_id, "voice": form.voice}})
            }
        };
        let payload = json!({"chat_id": id, "message_id": message_id, "data": data});
        let _ = io
            .to(crate::events::user_room(&row.user_id))
            .emit("events", &payload)
            .await;
    }
    Ok(Json(chats::response(&row)))
}

async fn delete_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let row = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get(tx, &id)? else {
                return Ok(None);
            };
            if !message_editor(&chat, &w) {
                return Ok(None);
            }
            chats::delete_message(tx, &id, &message_id, now_secs())
        })
        .await?;
    row.map(|r| Json(chats::response(&r)))
        .ok_or_else(|| unauthorized(ACCESS_PROHIBITED))
}

#[derive(Deserialize)]
struct EventForm {
    #[serde(rename = "type")]
    kind: String,
    data: Map<String, Value>,
}

/// Relays an event about a message to the chat owner's tabs.
async fn message_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<EventForm>,
) -> ApiResult<Json<bool>> {
    let w = who(&state, &caller);
    let cid = id.clone();
    let chat = state.db.read(move |c| chats::get(c, &cid)).await?;
    let Some(chat) = chat.filter(|c| message_editor(c, &w)) else {
        return Err(unauthorized(ACCESS_PROHIBITED));
    };
    let Some(io) = state.io() else {
        return Ok(Json(false));
    };
    let payload = json!({"chat_id": id, "message_id": message_id, "data": {"type": form.kind, "data": form.data}});
    let sent = io
        .to(crate::events::user_room(&chat.user_id))
        .emit("events", &payload)
        .await
        .is_ok();
    Ok(Json(sent))
}

async fn delete_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let w = who(&state, &caller);
    if !w.admin && !allowed(&state, &caller, "chat.delete").await? {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let (w2, id2) = (w.clone(), id.clone());
    let chat = state
        .db
        .read(move |c| {
            Ok(chats::get(c, &id2)?
                .filter(|chat| chat.user_id == w2.id || (w2.admin && w2.admin_chat_access)))
        })
        .await?;
    let Some(chat) = chat else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    // Stop generations first so nothing writes into the chat once it is gone.
    state.tasks.cancel_chat(&id);
    let children = state
        .db
        .write(move |tx| {
            chats::delete_orphan_tags(tx, &chat.tag_ids(), &chat.user_id, 1)?;
            let children = chats::internal_children(tx, &id, &chat.user_id)?;
            for child in &children {
                chats::delete(tx, child)?;
            }
            chats::delete(tx, &id)?;
            Ok(children)
        })
        .await?;
    for child in children {
        state.tasks.cancel_chat(&child);
    }
    Ok(Json(true))
}

async fn pinned_status(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    let chat = state
        .db
        .read(move |c| chats::get_for_user(c, &id, &uid))
        .await?;
    chat.map(|c| Json(c.pinned))
        .ok_or_else(|| unauthorized(DEFAULT_ERROR))
}

async fn toggle_pin(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let row = state
        .db
        .write(move |tx| {
            if chats::get_for_user(tx, &id, &uid)?.is_none() {
                return Ok(None);
            }
            chats::toggle_pinned(tx, &id, now_secs())
        })
        .await?;
    row.map(|r| Json(chats::response(&r)))
        .ok_or_else(|| unauthorized(DEFAULT_ERROR))
}

async fn toggle_archive(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let cid = id.clone();
    let row = state
        .db
        .write(move |tx| {
            if chats::get_for_user(tx, &cid, &uid)?.is_none() {
                return Ok(None);
            }
            let row = chats::toggle_archived(tx, &cid, now_secs())?;
            if let Some(r) = row.as_ref().filter(|r| !r.archived) {
                tags::ensure_exist(tx, &r.tag_ids(), &uid)?;
            }
            Ok(row)
        })
        .await?;
    let Some(row) = row else {
        return Err(unauthorized(DEFAULT_ERROR));
    };
    if row.archived {
        state.tasks.cancel_chat(&id);
    }
    Ok(Json(chats::response(&row)))
}

async fn mark_unread(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let out = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Ok(None);
            };
            chats::set_last_read_at(tx, &id, &uid, 0)?;
            Ok(Some(json!({
                "chat_id": id,
                "last_read_at": 0,
                "folder_id": chat.folder_id,
                "folder_unread_counts": folder_unread_json(tx, &uid)?,
            })))
        })
        .await?;
    out.map(Json).ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

#[derive(Deserialize)]
struct FolderIdForm {
    #[serde(default)]
    folder_id: Option<String>,
}

async fn move_to_folder(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<FolderIdForm>,
) -> ApiResult<Json<Value>> {
    let w = who(&state, &caller);
    let out = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get(tx, &id)? else {
                return Err(unauthorized(DEFAULT_ERROR));
            };
            let target = form.folder_id.as_deref();
            if chat.user_id != w.id
                && !folders::has_chat_move_access(tx, &w.id, chat.folder_id.as_deref(), target)?
            {
                return Err(unauthorized(DEFAULT_ERROR));
            }
            if let Some(fid) = target {
                if !folders::has_write_access(tx, &w.id, fid)? {
                    return Err(ApiError::not_found(NOT_FOUND));
                }
            }
            let Some(row) = chats::set_folder(tx, &id, &w.id, target, now_secs())? else {
                return Err(unauthorized(DEFAULT_ERROR));
            };
            if row.user_id != w.id {
                return Ok(viewer_response(tx, &row, Some(&w.id))?);
            }
            Ok(chats::response(&row))
        })
        .await?;
    Ok(Json(out))
}

// ---------------------------------------------------------------------------
// Tags of one chat

async fn chat_tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let w = who(&state, &caller);
    let rows = state
        .db
        .read(move |c| {
            let Some(chat) = load_accessible(c, &w, &id, false)? else {
                return Ok(None);
            };
            tags::get_by_ids(c, &chat.tag_ids(), &chat.user_id).map(Some)
        })
        .await?
        .ok_or_else(|| unauthorized(NOT_FOUND))?;
    Ok(Json(rows.iter().map(tags::TagRow::wire).collect()))
}

#[derive(Deserialize)]
struct TagForm {
    name: String,
}

async fn add_tag(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<TagForm>,
) -> ApiResult<Json<Vec<Value>>> {
    crate::limits::check_name("name", &form.name)?;
    let uid = caller.user.id.clone();
    let out = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Err(unauthorized(DEFAULT_ERROR));
            };
            let tag_id = tags::normalize_id(&form.name);
            if tag_id == "none" {
                return Err(ApiError::bad_request(error_default(
                    "Tag name cannot be 'None'",
                )));
            }
            let ids = if chat.tag_ids().contains(&tag_id) {
                chat.tag_ids()
            } else {
                chats::add_tags(tx, &id, &uid, std::slice::from_ref(&form.name))?
            };
            Ok(tags::get_by_ids(tx, &ids, &uid)?)
        })
        .await?;
    Ok(Json(out.iter().map(tags::TagRow::wire).collect()))
}

async fn remove_tag(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<TagForm>,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let out = state
        .db
        .write(move |tx| {
            if chats::get_for_user(tx, &id, &uid)?.is_none() {
                return Ok(None);
            }
            chats::remove_tag(tx, &id, &form.name)?;
            if chats::count_by_tag(tx, &tags::normalize_id(&form.name), &uid)? == 0 {
                tags::delete_by_name(tx, &form.name, &uid)?;
            }
            let ids = chats::get(tx, &id)?
                .map(|c| c.tag_ids())
                .unwrap_or_default();
            tags::get_by_ids(tx, &ids, &uid).map(Some)
        })
        .await?
        .ok_or_else(|| unauthorized(NOT_FOUND))?;
    Ok(Json(out.iter().map(tags::TagRow::wire).collect()))
}

// ---------------------------------------------------------------------------
// Copies: clone, clone of a share, fork

#[derive(Deserialize)]
struct CloneForm {
    #[serde(default)]
    title: Option<String>,
}

async fn clone(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<CloneForm>,
) -> ApiResult<Json<Value>> {
    if let Some(t) = &form.title {
        crate::limits::check_title("title", t)?;
    }
    require_import(&state, &caller).await?;
    require_creation(&state, &caller).await?;
    let w = who(&state, &caller);
    let row = state
        .db
        .write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &w.id)? else {
                return Ok(None);
            };
            let mut copy = chat.chat.as_object().cloned().unwrap_or_default();
            copy.insert("originalChatId".into(), Value::String(chat.id.clone()));
            copy.insert(
                "branchPointMessageId".into(),
                chat.chat
                    .pointer("/history/currentId")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            let title = form
                .title
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| format!("Clone of {}", chat.title));
            copy.insert("title".into(), Value::String(title));
            let forms = vec![ImportForm {
                chat: copy,
                variables: chat.variables.as_object().cloned(),
                folder_id: chat.folder_id.clone(),
                meta: chat.meta.as_object().cloned(),
                pinned: Some(chat.pinned),
                archived: None,
                current_message_id: None,
                created_at: None,
                updated_at: None,
            }];
            Ok(import_rows(tx, &w, forms, now_secs())?.pop())
        })
        .await?;
    row.map(|r| Json(chats::response(&r)))
        .ok_or_else(|| unauthorized(DEFAULT_ERROR))
}

/// Gives messages authored by the source chat's owner to the copier.
fn reassign_owner_messages(chat: &mut Value, source_owner: &str, w: &Who) {
    history::for_each_message(chat, |m| {
        let author = m
            .get("user_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(source_owner);
        if author == source_owner {
            m["user_id"] = Value::String(w.id.clone());
            if m.get("role").and_then(Value::as_str) == Some("user") {
                m["user"] = json!({"id": w.id, "name": w.name});
            }
        }
    });
}

async fn clone_shared(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_import(&state, &caller).await?;
    require_creation(&state, &caller).await?;
    let w = who(&state, &caller);
    let out = state
        .db
        .try_write(move |tx| {
            let shared = shared_chats::get(tx, &id)?;
            if let Some(s) = &shared {
                let permitted = (w.admin && w.admin_chat_access)
                    || s.user_id == w.id
                    || shared_chats::has_anyone_grant(tx, "shared_chat", &s.chat_id, "read")?
                    || shared_chats::user_has_grant(tx, &w.id, "shared_chat", &s.chat_id, "read")?;
                if !permitted {
                    return Err(unauthorized(ACCESS_PROHIBITED));
                }
            }
            let mut chat = shared.as_ref().map(snapshot_row);
            if let Some(s) = &shared {
                let can_read = (w.admin && w.admin_chat_access)
                    || s.user_id == w.id
                    || shared_chats::user_has_grant(tx, &w.id, "shared_chat", &s.chat_id, "read")?;
                if s.share_mode() == Some("continue") && can_read {
                    chat = chats::get(tx, &s.chat_id)?;
                }
            }
            if chat.is_none() && w.admin && w.admin_chat_access {
                chat = chats::get(tx, &id)?;
            }
            let Some(chat) = chat else {
                return Err(unauthorized(NOT_FOUND));
            };
            let mut copy = viewer_response(tx, &chat, Some(&w.id))?["chat"].take();
            copy["originalChatId"] = Value::String(chat.id.clone());
            copy["branchPointMessageId"] = chat
                .chat
                .pointer("/history/currentId")
                .cloned()
                .unwrap_or(Value::Null);
            copy["title"] = Value::String(format!("Clone of {}", chat.title));
            reassign_owner_messages(&mut copy, &chat.user_id, &w);
            let forms = vec![ImportForm {
                chat: copy.as_object().cloned().unwrap_or_default(),
                variables: None,
                folder_id: None,
                meta: chat.meta.as_object().cloned(),
                pinned: Some(chat.pinned),
                archived: None,
                current_message_id: None,
                created_at: None,
                updated_at: None,
            }];
            let row = import_rows(tx, &w, forms, now_secs())?.pop();
            row.ok_or_else(|| ApiError::internal(anyhow::anyhow!("clone produced no chat")))
        })
        .await?;
    Ok(Json(chats::response(&out)))
}

/// The branch ending at `source`, as a fresh linear history.
fn fork_history(
    messages: &Map<String, Value>,
    source: &str,
) -> Result<(Value, Vec<Value>), &'static str> {
    if messages.is_empty() {
        return Err("chat has no messages to fork");
    }
    let mut branch: Vec<(String, Value)> = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = Some(source.to_string());
    while let Some(id) = cur {
        if !seen.insert(id.clone()) {
            return Err("message branch contains a cycle");
        }
        let Some(m) = messages.get(&id).filter(|m| m.is_object()) else {
            return Err("message not found");
        };
        cur = m
            .get("parentId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        branch.push((id, m.clone()));
    }
    let mut map = Map::new();
    let mut ordered = Vec::new();
    let mut parent: Option<String> = None;
    for (id, mut m) in branch.into_iter().rev() {
        m["id"] = Value::String(id.clone());
        m["parentId"] = parent.clone().map_or(Value::Null, Value::String);
        m["childrenIds"] = json!([]);
        if let Some(p) = &parent {
            map[p]["childrenIds"] = json!([id]);
        }
        map.insert(id.clone(), m.clone());
        ordered.push(m);
        parent = Some(id);
    }
    // The ordered list mirrors the final map (child links included).
    let ordered = ordered
        .iter()
        .map(|m| map[m["id"].as_str().unwrap_or_default()].clone())
        .collect();
    Ok((json!({"messages": map, "currentId": source}), ordered))
}

async fn fork(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    require_import(&state, &caller).await?;
    let form = optional_object(&body)?;
    let wanted = match &form {
        Some(f) => opt_str_field(f, "message_id")?,
        None => None,
    };
    let w = who(&state, &caller);
    let (w2, id2) = (w.clone(), id.clone());
    let (chat, messages) = state
        .db
        .try_read(move |c| {
            if let Some(chat) = load_accessible(c, &w2, &id2, false)? {
                let map = chats::messages_map(c, &chat)?;
                return Ok((chat, map));
            }
            // Not a chat id the caller may read: maybe a share token.
            match read_share(c, Some(&w2), &id2)? {
                ShareView::Found(v) => {
                    let row = chat_row_from_response(&v);
                    let map = row.history_messages().cloned().unwrap_or_default();
                    Ok((row, map))
                }
                ShareView::Denied(msg) => Err(unauthorized(msg)),
            }
        })
        .await?;
    let is_snapshot = chat.share_id.as_deref() == Some(chat.id.as_str());
    let is_owner = chat.user_id == w.id;
    if !is_snapshot && state.tasks.is_chat_active(&chat.id) {
        return Err(ApiError::Conflict(
            "Wait for the current response to finish before forking.".into(),
        ));
    }
    let source = wanted
        .filter(|s| !s.is_empty())
        .or_else(|| chat.current_message_id.clone())
        .or_else(|| {
            chat.chat
                .pointer("/history/currentId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| ApiError::bad_request("chat has no messages to fork"))?;
    let (mut history, ordered) = fork_history(&messages, &source).map_err(|e| {
        if e == "message not found" {
            ApiError::not_found(e)
        } else {
            ApiError::bad_request(e)
        }
    })?;
    let stored = chat.history_messages().cloned().unwrap_or_default();
    if let Some(ms) = history.get_mut("messages").and_then(Value::as_object_mut) {
        for (mid, m) in ms.iter_mut() {
            if let Some(author) = stored
                .get(mid)
                .and_then(|s| s.get("user"))
                .filter(|u| u.is_object())
            {
                if author.get("id").is_some() && author.get("id") == m.get("user_id") {
                    m["user"] = author.clone();
                }
            }
            if m.get("role").and_then(Value::as_str) != Some("assistant")
                || m.get("done") != Some(&Value::Bool(false))
            {
                continue;
            }
            let awaiting = m
                .get("output")
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    items.iter().any(|i| {
                        i.get("type").and_then(Value::as_str) == Some("function_call")
                            && matches!(
                                i.get("status").and_then(Value::as_str),
                                Some("pending" | "queued" | "requires_approval")
                            )
                    })
                });
            if !awaiting {
                m["done"] = json!(true);
            }
        }
    }
    // The legacy list follows the (possibly updated) history messages.
    let ordered: Vec<Value> = ordered
        .iter()
        .map(|m| history["messages"][m["id"].as_str().unwrap_or_default()].clone())
        .collect();
    let mut copy = chat.chat.as_object().cloned().unwrap_or_default();
    copy.remove("currentId");
    copy.remove("share_mode");
    copy.insert("originalChatId".into(), Value::String(chat.id.clone()));
    copy.insert("branchPointMessageId".into(), Value::String(source.clone()));
    copy.insert(
        "title".into(),
        Value::String(format!("{} (fork)", chat.title)),
    );
    copy.insert("history".into(), history);
    copy.insert("messages".into(), Value::Array(ordered));
    require_creation(&state, &caller).await?;
    let row = state
        .db
        .write(move |tx| {
            let mut copy = Value::Object(copy);
            if !is_owner {
                let mut view_row = chat.clone();
                view_row.chat = copy;
                copy = viewer_response(tx, &view_row, Some(&w.id))?["chat"].take();
                reassign_owner_messages(&mut copy, &chat.user_id, &w);
            }
            let mut meta = if is_owner {
                chat.meta.as_object().cloned().unwrap_or_default()
            } else {
                Map::new()
            };
            meta.insert("forked_from".into(), Value::String(chat.id.clone()));
            meta.insert(
                "forked_from_message_id".into(),
                Value::String(source.clone()),
            );
            let folder_id = match chat.folder_id.clone().filter(|_| is_owner) {
                Some(f) if folders::has_write_access(tx, &w.id, &f)? => Some(f),
                _ => None,
            };
            let n = NewChat {
                id: db::new_id(),
                user_id: w.id.clone(),
                chat: copy,
                folder_id,
                meta: Value::Object(meta),
                variables: if is_owner {
                    chat.variables.clone()
                } else {
                    json!({})
                },
                pinned: is_owner && chat.pinned,
                ..Default::default()
            };
            chats::insert(tx, &n, now_secs())
        })
        .await?;
    Ok(Json(chats::response(&row)))
}

/// A chat row from a `ChatResponse`-shaped object (what the share view returns).
fn chat_row_from_response(v: &Value) -> ChatRow {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let i = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    ChatRow {
        id: s("id").unwrap_or_default(),
        user_id: s("user_id").unwrap_or_default(),
        title: s("title").unwrap_or_default(),
        chat: v.get("chat").cloned().unwrap_or(json!({})),
        created_at: i("created_at"),
        updated_at: i("updated_at"),
        share_id: s("share_id"),
        archived: v.get("archived").and_then(Value::as_bool).unwrap_or(false),
        pinned: v.get("pinned").and_then(Value::as_bool).unwrap_or(false),
        meta: v
            .get("meta")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({})),
        folder_id: s("folder_id"),
        last_read_at: None,
        current_message_id: s("current_message_id"),
        tasks: None,
        summary: None,
        variables: v
            .get("variables")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({})),
        timer_at: None,
    }
}

// ---------------------------------------------------------------------------
// Statistics

fn content_length(m: &Value) -> usize {
    match m.get("content") {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .map(|p| {
                p.get("text")
                    .and_then(Value::as_str)
                    .map_or(0, |t| t.chars().count())
            })
            .sum(),
        _ => 0,
    }
}

fn average(total: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        total / n as f64
    }
}

fn bump(map: &mut Map<String, Value>, key: &str) {
    let n = map.get(key).and_then(Value::as_i64).unwrap_or(0);
    map.insert(key.into(), json!(n + 1));
}

struct Aggregate {
    models: Map<String, Value>,
    message_count: usize,
    history_models: Map<String, Value>,
    history_message_count: usize,
    users: usize,
    assistants: usize,
    avg_response: f64,
    avg_user_len: f64,
    avg_assistant_len: f64,
    last_message_at: Option<Value>,
}

fn aggregate(chat: &ChatRow, skip_zero_timestamps: bool) -> Option<Aggregate> {
    let messages = chat.history_messages()?;
    let current = chat
        .chat
        .pointer("/history/currentId")
        .and_then(Value::as_str);
    let mut history_models = Map::new();
    let (mut users, mut assistants) = (Vec::new(), Vec::new());
    for m in messages.values() {
        match m.get("role").and_then(Value::as_str) {
            Some("user") => users.push(m),
            Some("assistant") => {
                assistants.push(m);
                if let Some(model) = m
                    .get("model")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    bump(&mut history_models, model);
                }
            }
            _ => {}
        }
    }
    let mut times = Vec::new();
    for m in &assistants {
        let Some(parent) = m
            .get("parentId")
            .and_then(Value::as_str)
            .and_then(|p| messages.get(p))
        else {
            continue;
        };
        let t1 = m.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0);
        let t0 = parent
            .get("timestamp")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if skip_zero_timestamps && (t1 == 0.0 || t0 == 0.0) {
            continue;
        }
        times.push(t1 - t0);
    }
    let path = current
        .map(|c| history::path_to(messages, c))
        .unwrap_or_default();
    let mut models = Map::new();
    for m in path.iter().rev() {
        if m.get("role").and_then(Value::as_str) == Some("assistant") {
            if let Some(model) = m
                .get("model")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                bump(&mut models, model);
            }
        }
    }
    Some(Aggregate {
        models,
        message_count: path.len(),
        history_models,
        history_message_count: messages.len(),
        users: users.len(),
        assistants: assistants.len(),
        avg_response: average(times.iter().sum(), times.len()),
        avg_user_len: average(
            users.iter().map(|m| content_length(m) as f64).sum(),
            users.len(),
        ),
        avg_assistant_len: average(
            assistants.iter().map(|m| content_length(m) as f64).sum(),
            assistants.len(),
        ),
        last_message_at: path
            .last()
            .map(|m| m.get("timestamp").cloned().unwrap_or(Value::Null)),
    })
}

async fn stats_usage(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Value>> {
    let per_page = crate::limits::limit(q_int(&q, "items_per_page")?.unwrap_or(50));
    let page = page_of(&q)?.unwrap_or(1);
    let uid = caller.user.id.clone();
    let (rows, total) = state
        .db
        .read(move |c| {
            Ok((
                chats::all_for_user(
                    c,
                    &uid,
                    false,
                    None,
                    false,
                    Some((per_page, (page - 1) * per_page)),
                )?,
                chats::count_for_user(c, &uid, None)?,
            ))
        })
        .await?;
    let mut items = Vec::new();
    for chat in &rows {
        if chat
            .chat
            .pointer("/history/currentId")
            .and_then(Value::as_str)
            .is_none()
        {
            continue;
        }
        let Some(a) = aggregate(chat, false) else {
            continue;
        };
        let Some(last) = a.last_message_at else {
            continue;
        };
        items.push(json!({
            "id": chat.id,
            "models": a.models,
            "message_count": a.message_count,
            "history_models": a.history_models,
            "history_message_count": a.history_message_count,
            "history_user_message_count": a.users,
            "history_assistant_message_count": a.assistants,
            "average_response_time": a.avg_response,
            "average_user_message_content_length": a.avg_user_len,
            "average_assistant_message_content_length": a.avg_assistant_len,
            "tags": chat.tag_ids(),
            "last_message_at": last,
            "updated_at": chat.updated_at,
            "created_at": chat.created_at,
        }));
    }
    Ok(Json(json!({"items": items, "total": total})))
}

fn stats_export_item(chat: &ChatRow) -> Value {
    let a = aggregate(chat, true);
    let mut export = Map::new();
    if let Some(ms) = chat.history_messages() {
        for (k, m) in ms {
            let (Some(id), Some(role)) = (
                m.get("id").and_then(Value::as_str),
                m.get("role").and_then(Value::as_str),
            ) else {
                continue;
            };
            let annotation = m.get("annotation");
            export.insert(
                k.clone(),
                json!({
                    "id": id,
                    "role": role,
                    "model": m.get("model").and_then(Value::as_str),
                    "content_length": content_length(m),
                    "token_count": null,
                    "timestamp": m.get("timestamp").and_then(Value::as_i64),
                    "rating": annotation.and_then(|x| x.get("rating")).and_then(Value::as_i64),
                    "tags": annotation.and_then(|x| x.get("tags")).filter(|t| t.is_array()),
                }),
            );
        }
    }
    let stats = match a {
        Some(a) => json!({
            "average_response_time": a.avg_response,
            "average_user_message_content_length": a.avg_user_len,
            "average_assistant_message_content_length": a.avg_assistant_len,
            "models": a.models,
            "message_count": a.message_count,
            "history_models": a.history_models,
            "history_message_count": a.history_message_count,
            "history_user_message_count": a.users,
            "history_assistant_message_count": a.assistants,
        }),
        None => json!({
            "average_response_time": 0.0, "average_user_message_content_length": 0.0,
            "average_assistant_message_content_length": 0.0, "models": {}, "message_count": 0,
            "history_models": {}, "history_message_count": 0, "history_user_message_count": 0,
            "history_assistant_message_count": 0,
        }),
    };
    json!({
        "id": chat.id,
        "user_id": chat.user_id,
        "created_at": chat.created_at,
        "updated_at": chat.updated_at,
        "tags": chat.tag_ids(),
        "stats": stats,
        "chat": {"history": {"messages": export, "currentId": chat.chat.pointer("/history/currentId").and_then(Value::as_str)}},
    })
}

fn may_export_stats(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !caller.is_admin() && !state.config.get_bool("ui.enable_community_sharing") {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    Ok(())
}

async fn stats_export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Response> {
    may_export_stats(&state, &caller)?;
    const LIMIT: i64 = 10;
    let updated_at = q_int(&q, "updated_at")?.filter(|t| *t != 0);
    let page = page_of(&q)?.unwrap_or(1);
    let stream = q_bool(&q, "stream")?.unwrap_or(false);
    let uid = caller.user.id.clone();
    if stream {
        let u = uid.clone();
        let rows = state
            .db
            .read(move |c| chats::all_for_user(c, &u, false, updated_at, true, None))
            .await?;
        let mut body = String::new();
        for r in &rows {
            body.push_str(&stats_export_item(r).to_string());
            body.push('\n');
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=chat-stats-export-{uid}.jsonl"),
                ),
            ],
            body,
        )
            .into_response());
    }
    let (rows, total) = state
        .db
        .read(move |c| {
            Ok((
                chats::all_for_user(
                    c,
                    &uid,
                    false,
                    updated_at,
                    true,
                    Some((LIMIT, (page - 1) * LIMIT)),
                )?,
                chats::count_for_user(c, &uid, updated_at)?,
            ))
        })
        .await?;
    let items: Vec<Value> = rows.iter().map(stats_export_item).collect();
    Ok(
        Json(json!({"type": "chats", "items": items, "total": total, "page": page}))
            .into_response(),
    )
}

async fn stats_export_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(chat_id): Path<String>,
) -> ApiResult<Json<Value>> {
    may_export_stats(&state, &caller)?;
    let chat = state.db.read(move |c| chats::get(c, &chat_id)).await?;
    let Some(chat) = chat else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    if chat.user_id != caller.user.id
        && !(caller.is_admin() && state.settings.env_flags.enable_admin_chat_access)
    {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    Ok(Json(stats_export_item(&chat)))
}
