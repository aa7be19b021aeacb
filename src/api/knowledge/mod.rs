//! `/api/v1/knowledge`: knowledge bases, their files and folders.
//!
//! A knowledge base's chunks live in the collection named by its id. Access:
//! the owner, admins (while `BYPASS_ADMIN_ACCESS_CONTROL` is on, the
//! default) and whoever its `access_grant` rows name (users, groups, `*`).
//! Refusal codes follow upstream (mostly 400 / 401 with its messages).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::{lenient_page, query_bool};
use crate::access::{admin_bypass, allowed_grants, group_ids, rights, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::db::files::{self, FileRow};
use crate::db::knowledge::{self, DirectoryRow, KnowledgeRow, RESOURCE};
use crate::db::{new_id, now_secs};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::files::can_access_file;
use crate::rag::knowledge::{
    self as kbs, dir_paths, embed_metadata, spawn_embed_metadata, IndexAs,
};
use crate::rag::processing::{index_file, IndexOpts};
use crate::state::AppState;

const FILE_NOT_PROCESSED: &str = "Extracted content is not available for this file. Please ensure that the file is processed before proceeding.";
const EXTERNAL_READ_ONLY: &str = "External knowledge bases are read-only.";

type Params = Query<HashMap<String, String>>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/knowledge/", get(list))
        .route("/api/v1/knowledge/search", get(search))
        .route("/api/v1/knowledge/search/files", get(search_files))
        .route("/api/v1/knowledge/create", post(create))
        .route("/api/v1/knowledge/reindex", post(reindex_all))
        .route("/api/v1/knowledge/metadata/reindex", post(reindex_metadata))
        .route("/api/v1/knowledge/{id}", get(get_one))
        .route("/api/v1/knowledge/{id}/update", post(update))
        .route("/api/v1/knowledge/{id}/access/update", post(update_access))
        .route("/api/v1/knowledge/{id}/files/pending", get(pending_files))
        .route("/api/v1/knowledge/{id}/files", get(list_files))
        .route("/api/v1/knowledge/{id}/file/add", post(add_file))
        .route("/api/v1/knowledge/{id}/file/update", post(update_file))
        .route("/api/v1/knowledge/{id}/file/remove", post(remove_file))
        .route("/api/v1/knowledge/{id}/file/move", post(move_file))
        .route(
            "/api/v1/knowledge/{id}/files/batch/add",
            post(add_files_batch),
        )
        .route("/api/v1/knowledge/{id}/delete", delete(delete_one))
        .route("/api/v1/knowledge/{id}/reset", post(reset))
        .route("/api/v1/knowledge/{id}/export", get(export))
        .route("/api/v1/knowledge/{id}/sync/diff", post(sync_diff))
        .route("/api/v1/knowledge/{id}/sync/cleanup", post(sync_cleanup))
        .route(
            "/api/v1/knowledge/external/connections",
            get(external_list).post(external),
        )
        .route(
            "/api/v1/knowledge/external/connections/{cid}",
            get(external).patch(external).delete(external),
        )
        .route(
            "/api/v1/knowledge/external/connections/{cid}/test",
            post(external),
        )
        .route(
            "/api/v1/knowledge/external/connections/{cid}/retrieve-test",
            post(external),
        )
        .route("/api/v1/knowledge/external/source/test", post(external))
        .route(
            "/api/v1/knowledge/external/knowledge/create",
            post(external),
        )
        .route("/api/v1/knowledge/external/source/create", post(external))
        .route(
            "/api/v1/knowledge/external/source/{sid}",
            axum::routing::patch(external),
        )
        .route("/api/v1/knowledge/{id}/dirs/create", post(create_dir))
        .route(
            "/api/v1/knowledge/{id}/dirs/{dir_id}/update",
            post(update_dir),
        )
        .route(
            "/api/v1/knowledge/{id}/dirs/{dir_id}/delete",
            delete(delete_dir),
        )
}

struct Access {
    kb: KnowledgeRow,
    grants: Vec<GrantRow>,
    read: bool,
    write: bool,
}

async fn access(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Option<Access>> {
    let groups = group_ids(state, caller.id()).await?;
    let kid = id.to_string();
    let Some((kb, grants)) = state
        .db
        .read(move |c| knowledge::get_with_grants(c, &kid))
        .await?
    else {
        return Ok(None);
    };
    let may = rights(caller, &kb.user_id, &grants, &groups);
    Ok(Some(Access {
        kb,
        grants,
        read: may.read,
        write: may.write || caller.is_admin(),
    }))
}

/// The knowledge base if the caller may change it (400 otherwise, as upstream).
async fn writable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Access> {
    let a = access(state, caller, id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if a.kb.is_external() {
        return Err(ApiError::bad_request(EXTERNAL_READ_ONLY));
    }
    if !a.write {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    Ok(a)
}

async fn file_metadatas(state: &AppState, id: &str) -> ApiResult<Value> {
    let kid = id.to_string();
    let rows = state.db.read(move |c| knowledge::files_of(c, &kid)).await?;
    Ok(Value::Array(
        rows.iter().map(FileRow::wire_metadata).collect(),
    ))
}

/// `KnowledgeFilesResponse` with the current files.
async fn with_files(state: &AppState, a: &Access) -> ApiResult<Json<Value>> {
    let kid = a.kb.id.clone();
    let fresh = state
        .db
        .read(move |c| knowledge::get_with_grants(c, &kid))
        .await?;
    let (kb, grants) = fresh.unwrap_or((a.kb.clone(), a.grants.clone()));
    let mut out = kb.wire(&grants);
    out["files"] = file_metadatas(state, &kb.id).await?;
    out["write_access"] = json!(a.write);
    Ok(Json(out))
}

#[derive(Default)]
struct ListFilter {
    query: Option<String>,
    view_option: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
}

async fn list_accessible(
    state: &AppState,
    caller: &Caller,
    f: ListFilter,
    page: i64,
) -> ApiResult<Json<Value>> {
    let groups = group_ids(state, caller.id()).await?;
    let uid = caller.id().to_string();
    let sees_all = admin_bypass(caller);
    let (rows, grants, users, counts) = state
        .db
        .read(move |c| {
            let rows = knowledge::all(c)?;
            let grants = access_grants::by_type(c, RESOURCE)?;
            let owners: Vec<String> = rows
                .iter()
                .map(|k| k.user_id.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let users = knowledge::users_brief(c, &owners)?;
            let mut counts = HashMap::new();
            for k in &rows {
                counts.insert(k.id.clone(), knowledge::file_count(c, &k.id)?);
            }
            Ok((rows, grants, users, counts))
        })
        .await?;
    let empty = Vec::new();
    let q = f.query.as_deref().map(str::to_lowercase);
    let mut items: Vec<(KnowledgeRow, bool)> = rows
        .into_iter()
        .filter_map(|k| {
            let g = grants.get(&k.id).unwrap_or(&empty);
            let owner = k.user_id == uid;
            let write = owner || sees_all || access_grants::grants_allow(g, &uid, &groups, "write");
            let read = write || access_grants::grants_allow(g, &uid, &groups, "read");
            if !read {
                return None;
            }
            match f.view_option.as_deref() {
                Some("created") if !owner => return None,
                Some("shared") if owner => return None,
                _ => {}
            }
            if let Some(q) = &q {
                let u = users.get(&k.user_id);
                let field = |key: &str| {
                    u.and_then(|u| u.get(key))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_lowercase()
                };
                let hit = k.name.to_lowercase().contains(q)
                    || k.description.to_lowercase().contains(q)
                    || field("name").contains(q)
                    || field("email").contains(q);
                if !hit {
                    return None;
                }
            }
            Some((k, write))
        })
        .collect();
    let asc = f.direction.as_deref() == Some("asc");
    match f.order_by.as_deref() {
        Some("name") => items.sort_by_key(|a| a.0.name.to_lowercase()),
        Some("created_at") => items.sort_by_key(|a| a.0.created_at),
        _ => items.sort_by_key(|a| a.0.updated_at),
    }
    let default_desc = f.order_by.is_none() || !asc;
    if default_desc {
        items.reverse();
    }
    let total = items.len();
    let skip = ((page - 1) * knowledge::PAGE_SIZE) as usize;
    let out: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(knowledge::PAGE_SIZE as usize)
        .map(|(k, write)| {
            let mut v = k.wire(grants.get(&k.id).unwrap_or(&empty));
            v["user"] = users.get(&k.user_id).cloned().unwrap_or(Value::Null);
            v["file_count"] = json!(counts.get(&k.id).copied().unwrap_or(0));
            v["write_access"] = json!(write);
            v
        })
        .collect();
    Ok(Json(json!({"items": out, "total": total})))
}

async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    list_accessible(&state, &caller, ListFilter::default(), lenient_page(&p)).await
}

async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let f = ListFilter {
        query: p.get("query").filter(|s| !s.is_empty()).cloned(),
        view_option: p.get("view_option").cloned(),
        order_by: p
            .get("order_by")
            .filter(|s| matches!(s.as_str(), "name" | "created_at" | "updated_at"))
            .cloned(),
        direction: p
            .get("direction")
            .filter(|s| matches!(s.as_str(), "asc" | "desc"))
            .cloned(),
    };
    if p.get("source").map(String::as_str) == Some("external") {
        return Ok(Json(json!({"items": [], "total": 0})));
    }
    list_accessible(&state, &caller, f, lenient_page(&p)).await
}

fn linked_wire(
    f: &knowledge::LinkedFile,
    users: &HashMap<String, Value>,
    paths: &HashMap<String, String>,
) -> Value {
    let mut v = f.file.wire_listed(false);
    if let Some(o) = v.as_object_mut() {
        o.remove("data");
    }
    v["directory_id"] = json!(f.directory_id);
    v["directory_path"] = json!(f
        .directory_id
        .as_ref()
        .and_then(|d| paths.get(d))
        .cloned()
        .unwrap_or_default());
    v["has_original"] = json!(f.file.path.as_deref().is_some_and(|p| !p.is_empty()));
    v["user"] = users.get(&f.added_by).cloned().unwrap_or(Value::Null);
    v
}

async fn search_files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let groups = group_ids(&state, caller.id()).await?;
    let uid = caller.id().to_string();
    let q = p
        .get("query")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    let with_content = query_bool(&p, "include_content", false)?;
    let page = lenient_page(&p);
    let rows = state
        .db
        .read(move |c| {
            let grants = access_grants::by_type(c, RESOURCE)?;
            let mut out = vec![];
            for kb in knowledge::all(c)? {
                let g = grants.get(&kb.id).cloned().unwrap_or_default();
                if kb.user_id != uid && !access_grants::grants_allow(&g, &uid, &groups, "read") {
                    continue;
                }
                let files = knowledge::linked_files(c, &kb.id)?;
                for f in files {
                    out.push((kb.clone(), g.clone(), f));
                }
            }
            let ids: Vec<String> = out.iter().map(|x| x.2.added_by.clone()).collect();
            let users = knowledge::users_brief(c, &ids)?;
            Ok((out, users))
        })
        .await?;
    let (mut all, users) = rows;
    if let Some(q) = &q {
        all.retain(|(_, _, f)| {
            f.file.filename.to_lowercase().contains(q)
                || (with_content && f.file.content().to_lowercase().contains(q))
        });
    }
    all.sort_by(|a, b| {
        b.2.file
            .updated_at
            .cmp(&a.2.file.updated_at)
            .then(a.2.file.id.cmp(&b.2.file.id))
    });
    let total = all.len();
    let paths = HashMap::new();
    let items: Vec<Value> = all
        .iter()
        .skip(((page - 1) * knowledge::PAGE_SIZE) as usize)
        .take(knowledge::PAGE_SIZE as usize)
        .map(|(kb, g, f)| {
            let mut v = linked_wire(f, &users, &paths);
            v["collection"] = kb.wire(g);
            v
        })
        .collect();
    Ok(Json(
        json!({"items": items, "directories": [], "breadcrumbs": [], "total": total}),
    ))
}

#[derive(Deserialize)]
struct KnowledgeForm {
    name: String,
    description: String,
    #[serde(default)]
    access_grants: Option<Value>,
}

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<KnowledgeForm>,
) -> ApiResult<Json<Value>> {
    crate::limits::check_name("name", &form.name)?;
    if !caller.is_admin() {
        let perms = permissions::effective(&state, caller.id()).await?;
        if !permissions::allows(&perms, "workspace.knowledge") {
            return Err(ApiError::unauthorized(UNAUTHORIZED));
        }
    }
    let grants = allowed_grants(
        &state,
        &caller,
        Kind::Knowledge,
        form.access_grants.as_ref().unwrap_or(&Value::Null),
    )
    .await?;
    let id = new_id();
    let uid = caller.id().to_string();
    let now = now_secs();
    let (kb, g) = state
        .db
        .write(move |c| {
            let kb = knowledge::insert(c, &id, &uid, &form.name, &form.description, now)?;
            let g = access_grants::replace(c, RESOURCE, &id, &grants, now)?;
            Ok((kb, g))
        })
        .await?;
    spawn_embed_metadata(&state, kb.clone());
    let mut out = kb.wire(&g);
    out["files"] = Value::Null;
    Ok(Json(out))
}

async fn reindex_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    if !caller.is_admin() {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    let all = state.db.read(knowledge::all).await?;
    kbs::reindex(&state, &all, IndexAs::Caller(&caller), false, &mut |_| {}).await?;
    Ok(Json(json!(true)))
}

async fn reindex_metadata(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    let kbs = state.db.read(knowledge::all).await?;
    let mut ok = 0;
    for kb in &kbs {
        if embed_metadata(&state, kb).await {
            ok += 1;
        }
    }
    Ok(Json(json!({"total": kbs.len(), "success": ok})))
}

async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if !a.read {
        return Err(ApiError::unauthorized(ACCESS_PROHIBITED));
    }
    let mut out = a.kb.wire(&a.grants);
    out["files"] = Value::Null;
    out["write_access"] = json!(a.write);
    Ok(Json(out))
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<KnowledgeForm>,
) -> ApiResult<Json<Value>> {
    crate::limits::check_name("name", &form.name)?;
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if !a.write {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let now = now_secs();
    let kid = id.clone();
    let kb = state
        .db
        .write(move |c| {
            knowledge::update(c, &kid, &form.name, &form.description, now)?;
            knowledge::get(c, &kid)
        })
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    spawn_embed_metadata(&state, kb);
    with_files(&state, &a).await
}

#[derive(Deserialize)]
struct AccessForm {
    access_grants: Value,
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if !a.write {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let grants = allowed_grants(&state, &caller, Kind::Knowledge, &form.access_grants).await?;
    let now = now_secs();
    let kid = id.clone();
    state
        .db
        .write(move |c| access_grants::replace(c, RESOURCE, &kid, &grants, now))
        .await?;
    with_files(&state, &a).await
}

async fn pending_files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
) -> ApiResult<Response> {
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if !a.read {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let fetch = |state: AppState, id: String| async move {
        state
            .db
            .read(move |c| files::pending_for_knowledge(c, &id))
            .await
            .map(|rows| rows.iter().map(|f| f.wire_listed(true)).collect::<Vec<_>>())
    };
    if !query_bool(&p, "stream", false)? {
        return Ok(Json(fetch(state.clone(), id).await?).into_response());
    }
    let stream = futures::stream::unfold(
        (state, id, 0u32, false),
        move |(state, id, n, done)| async move {
            if done || n >= 1200 {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let items = fetch(state.clone(), id.clone()).await.unwrap_or_default();
            let finished = items.is_empty();
            let line = format!("data: {}\n\n", Value::Array(items));
            Some((Ok::<_, std::io::Error>(line), (state, id, n + 1, finished)))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn list_files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if !a.read {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let page = lenient_page(&p);
    let limit = match p.get("limit").and_then(|s| s.parse::<i64>().ok()) {
        Some(l) if caller.is_admin() => crate::limits::limit(l),
        _ => knowledge::PAGE_SIZE,
    };
    let with_content = query_bool(&p, "include_content", false)?;
    let q = p
        .get("query")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    // Present = scope to that directory; empty string = the root level.
    let dir_filter: Option<Option<String>> = p
        .get("directory_id")
        .map(|d| (!d.is_empty()).then(|| d.clone()));
    let kid = id.clone();
    let (mut linked, dirs, users) = state
        .db
        .read(move |c| {
            let linked = knowledge::linked_files(c, &kid)?;
            let dirs = knowledge::directories(c, &kid)?;
            let ids: Vec<String> = linked.iter().map(|l| l.added_by.clone()).collect();
            let users = knowledge::users_brief(c, &ids)?;
            Ok((linked, dirs, users))
        })
        .await?;
    if let Some(d) = &dir_filter {
        linked.retain(|l| &l.directory_id == d);
    }
    if let Some(q) = &q {
        linked.retain(|l| {
            l.file.filename.to_lowercase().contains(q)
                || (with_content && l.file.content().to_lowercase().contains(q))
        });
    }
    match p.get("view_option").map(String::as_str) {
        Some("created") => linked.retain(|l| l.added_by == caller.id()),
        Some("shared") => linked.retain(|l| l.added_by != caller.id()),
        _ => {}
    }
    let asc = p.get("direction").map(String::as_str) == Some("asc");
    match p.get("order_by").map(String::as_str) {
        Some("name") => linked.sort_by(|a, b| {
            a.file
                .filename
                .cmp(&b.file.filename)
                .then(a.file.id.cmp(&b.file.id))
        }),
        Some("created_at") => linked.sort_by(|a, b| {
            a.file
                .created_at
                .cmp(&b.file.created_at)
                .then(a.file.id.cmp(&b.file.id))
        }),
        _ => linked.sort_by(|a, b| {
            a.file
                .updated_at
                .cmp(&b.file.updated_at)
                .then(b.file.id.cmp(&a.file.id))
        }),
    }
    if !asc {
        linked.reverse();
    }
    let total = linked.len();
    let paths = dir_paths(&dirs);
    let items: Vec<Value> = linked
        .iter()
        .skip(((page - 1) * limit) as usize)
        .take(limit as usize)
        .map(|l| linked_wire(l, &users, &paths))
        .collect();
    let current = dir_filter.clone().flatten();
    let children: Vec<Value> = dirs
        .iter()
        .filter(|d| d.parent_id == current)
        .map(DirectoryRow::wire)
        .collect();
    let mut crumbs = vec![];
    let mut cur = current.clone();
    let mut guard = 0;
    while let (Some(c), true) = (cur.clone(), guard < 64) {
        guard += 1;
        match dirs.iter().find(|d| d.id == c) {
            Some(d) => {
                crumbs.push(d.wire());
                cur = d.parent_id.clone();
            }
            None => break,
        }
    }
    crumbs.reverse();
    Ok(Json(json!({
        "items": items,
        "directories": children,
        "breadcrumbs": crumbs,
        "total": total,
    })))
}

#[derive(Deserialize)]
struct FileIdForm {
    file_id: String,
    #[serde(default)]
    directory_id: Option<String>,
}

async fn verify_dir(state: &AppState, kid: &str, dir: Option<&str>, detail: &str) -> ApiResult<()> {
    let Some(d) = dir.filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let d = d.to_string();
    let row = state.db.read(move |c| knowledge::directory(c, &d)).await?;
    match row {
        Some(r) if r.knowledge_id == kid => Ok(()),
        _ => Err(ApiError::not_found(detail)),
    }
}

async fn load_file(state: &AppState, id: &str) -> ApiResult<Option<FileRow>> {
    let id = id.to_string();
    Ok(state.db.read(move |c| files::get(c, &id)).await?)
}

async fn add_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<FileIdForm>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    verify_dir(
        &state,
        &id,
        form.directory_id.as_deref(),
        "Target directory not found.",
    )
    .await?;
    let file = load_file(&state, &form.file_id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if file.data.as_object().is_none_or(|d| d.is_empty()) {
        return Err(ApiError::bad_request(FILE_NOT_PROCESSED));
    }
    if !can_access_file(&state, &caller, &file, "read").await? {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    kbs::add_file(&state, &caller, &id, &file, form.directory_id.clone()).await?;
    with_files(&state, &a).await
}

async fn update_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<FileIdForm>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    let file = load_file(&state, &form.file_id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    let (kid, fid) = (id.clone(), file.id.clone());
    if !state
        .db
        .read(move |c| knowledge::has_file(c, &kid, &fid))
        .await?
    {
        return Err(ApiError::bad_request(NOT_FOUND));
    }
    index_file(
        &state,
        &caller,
        &file,
        IndexOpts {
            collection: Some(id.clone()),
            ..Default::default()
        },
    )
    .await
    .map_err(ApiError::bad_request)?;
    with_files(&state, &a).await
}

async fn remove_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
    JsonBody(form): JsonBody<FileIdForm>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    let delete_file = query_bool(&p, "delete_file", true)?;
    let file = load_file(&state, &form.file_id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if !kbs::remove_file(&state, &caller, &id, &file, delete_file).await? {
        return Err(ApiError::bad_request(NOT_FOUND));
    }
    with_files(&state, &a).await
}

#[derive(Deserialize)]
struct MoveForm {
    file_id: String,
    #[serde(default)]
    directory_id: Option<String>,
}

async fn move_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<MoveForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    let (kid, fid) = (id.clone(), form.file_id.clone());
    if !state
        .db
        .read(move |c| knowledge::has_file(c, &kid, &fid))
        .await?
    {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    verify_dir(
        &state,
        &id,
        form.directory_id.as_deref(),
        "Target directory not found.",
    )
    .await?;
    let now = now_secs();
    let dir = form.directory_id.filter(|d| !d.is_empty());
    state
        .db
        .write(move |c| knowledge::move_file(c, &id, &form.file_id, dir.as_deref(), now))
        .await?;
    Ok(Json(json!({"status": true})))
}

async fn add_files_batch(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(forms): JsonBody<Vec<FileIdForm>>,
) -> ApiResult<Json<Value>> {
    let a = writable(&state, &caller, &id).await?;
    for d in forms.iter().filter_map(|f| f.directory_id.as_deref()) {
        verify_dir(&state, &id, Some(d), "Target directory not found.").await?;
    }
    let ids: Vec<String> = forms.iter().map(|f| f.file_id.clone()).collect();
    let found = state.db.read(move |c| files::get_many(c, &ids)).await?;
    for f in &forms {
        if !found.iter().any(|r| r.id == f.file_id) {
            return Err(ApiError::bad_request(format!(
                "File {} not found",
                f.file_id
            )));
        }
    }
    for f in &found {
        if !can_access_file(&state, &caller, f, "read").await? {
            return Err(ApiError::forbidden(ACCESS_PROHIBITED));
        }
    }
    let items: Vec<(&FileRow, Option<String>)> = forms
        .iter()
        .filter_map(|form| {
            let file = found.iter().find(|r| r.id == form.file_id)?;
            Some((file, form.directory_id.clone()))
        })
        .collect();
    let errors = kbs::add_files(&state, &caller, &id, &items).await?;
    let Json(mut out) = with_files(&state, &a).await?;
    if !errors.is_empty() {
        out["warnings"] = json!({"message": "Some files failed to process", "errors": errors});
    }
    Ok(Json(out))
}

async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = access(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::bad_request(NOT_FOUND))?;
    if !a.write {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    kbs::delete(&state, &id).await?;
    Ok(Json(json!(true)))
}

async fn reset(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    writable(&state, &caller, &id).await?;
    let include_dirs = query_bool(&p, "include_directories", true)?;
    let kb = kbs::reset(&state, &caller, &id, include_dirs).await?;
    Ok(Json(match kb {
        Some((k, g)) => {
            let mut v = k.wire(&g);
            v["files"] = Value::Null;
            v
        }
        None => Value::Null,
    }))
}

/// Upstream's directory routes answer 404 / 403 instead of 400.
async fn writable_403(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Access> {
    let a = access(state, caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if a.kb.is_external() {
        return Err(ApiError::bad_request(EXTERNAL_READ_ONLY));
    }
    if !a.write {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(a)
}

#[derive(Deserialize)]
struct DirCreateForm {
    name: String,
    #[serde(default)]
    parent_id: Option<String>,
}

fn clean_dir_name(name: &str) -> ApiResult<String> {
    let n = name.trim();
    if n.is_empty() || n == "." || n == ".." || n.contains('/') || n.contains('\\') {
        return Err(ApiError::bad_request("Invalid directory name."));
    }
    crate::limits::check_name("name", n)?;
    Ok(n.to_string())
}

async fn create_dir(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<DirCreateForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    let parent = form.parent_id.filter(|p| !p.is_empty());
    verify_dir(
        &state,
        &id,
        parent.as_deref(),
        "Parent directory not found.",
    )
    .await?;
    let now = now_secs();
    let d = DirectoryRow {
        id: new_id(),
        knowledge_id: id.clone(),
        parent_id: parent,
        name: clean_dir_name(&form.name)?,
        user_id: caller.id().to_string(),
        created_at: now,
        updated_at: now,
    };
    if !kbs::create_directory(&state, d.clone()).await? {
        return Err(ApiError::bad_request(
            "Failed to create directory. A directory with this name may already exist at this level.",
        ));
    }
    Ok(Json(d.wire()))
}

#[derive(Deserialize)]
struct DirUpdateForm {
    #[serde(default)]
    name: Option<String>,
    /// `"__unset__"` (or absent) keeps the parent; null moves to the root.
    #[serde(default = "unset")]
    parent_id: Option<String>,
}

fn unset() -> Option<String> {
    Some("__unset__".into())
}

async fn update_dir(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, dir_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<DirUpdateForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    verify_dir(&state, &id, Some(&dir_id), NOT_FOUND).await?;
    let keep_parent = form.parent_id.as_deref() == Some("__unset__");
    let new_parent = if keep_parent {
        None
    } else {
        form.parent_id.clone().filter(|p| !p.is_empty())
    };
    if !keep_parent {
        verify_dir(
            &state,
            &id,
            new_parent.as_deref(),
            "Parent directory not found.",
        )
        .await?;
    }
    let name = match &form.name {
        Some(n) => Some(clean_dir_name(n)?),
        None => None,
    };
    let parent_change = (!keep_parent).then_some(new_parent);
    let out = kbs::update_directory(&state, &id, &dir_id, name, parent_change).await?;
    match out {
        Some(d) => Ok(Json(d.wire())),
        None => Err(ApiError::bad_request(
            "Failed to update directory. This may be caused by a naming conflict or circular move.",
        )),
    }
}

async fn delete_dir(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, dir_id)): Path<(String, String)>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    verify_dir(&state, &id, Some(&dir_id), NOT_FOUND).await?;
    let move_files = query_bool(&p, "move_files", true)?;
    let removed = kbs::delete_directory(&state, &caller, &id, &dir_id, move_files).await?;
    Ok(Json(json!({"status": true, "file_ids": removed})))
}

/// External knowledge connections (remote retrieval services) are not
/// supported by this server.
/// The admin's Integrations tab lists external knowledge connections on load.
/// None can be created here, but a data folder from Python Open WebUI may hold
/// some: list them as upstream does, without their credentials.
async fn external_list(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    let stored = state.config.get("external_knowledge.connections");
    let items: Vec<Value> = stored
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|c| {
            let mut c = c.clone();
            let configured = c
                .remove("auth_config")
                .is_some_and(|a| !a.is_null() && a != json!({}) && a != json!(""));
            c.insert("auth_configured".into(), json!(configured));
            Value::Object(c)
        })
        .collect();
    Ok(Json(json!({"total": items.len(), "items": items})))
}

async fn external(AdminUser(_): AdminUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(
        "External knowledge connections are not supported by this server.".into(),
    ))
}

/// A zip of the knowledge base's extracted texts, one `.txt` per file.
async fn export(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let kid = id.clone();
    let (kb, files) = state
        .db
        .read(move |c| Ok((knowledge::get(c, &kid)?, knowledge::files_of(c, &kid)?)))
        .await?;
    let kb = kb.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if kb.is_external() {
        return Err(ApiError::bad_request(EXTERNAL_READ_ONLY));
    }
    let bytes = kbs::zip_texts(files).await?;
    let safe: String = kb
        .name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        super::files::rfc5987(&format!("{safe}.zip"))
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct SyncDiffForm {
    manifest: Vec<kbs::ManifestEntry>,
}

/// Compares a local folder's manifest with the knowledge base: what to
/// upload, replace, delete, and which directories to create or remove.
async fn sync_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<SyncDiffForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    let plan = kbs::sync_plan(&state, &id, &form.manifest).await?;
    let added: Vec<Value> = plan
        .added
        .iter()
        .map(|(filename, path)| json!({"filename": filename, "path": path}))
        .collect();
    let modified: Vec<Value> = plan
        .modified
        .iter()
        .map(|(filename, path, fid)| {
            json!({"filename": filename, "path": path, "stale_file_id": fid})
        })
        .collect();
    let deleted: Vec<Value> = plan
        .deleted
        .iter()
        .map(|(fid, filename)| json!({"file_id": fid, "filename": filename}))
        .collect();
    Ok(Json(json!({
        "added": added,
        "modified": modified,
        "deleted": deleted,
        "mkdir": plan.mkdir,
        "rmdir": plan.rmdir,
        "unmodified_count": plan.unmodified,
        "directory_map": plan.directory_map,
    })))
}

#[derive(Deserialize)]
struct SyncCleanupForm {
    file_ids: Vec<String>,
    #[serde(default)]
    dir_ids: Vec<String>,
}

/// Removes the files and directories a sync found gone.
async fn sync_cleanup(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<SyncCleanupForm>,
) -> ApiResult<Json<Value>> {
    writable_403(&state, &caller, &id).await?;
    kbs::sync_cleanup(&state, &caller, &id, &form.file_ids, &form.dir_ids).await?;
    Ok(Json(json!({"status": true})))
}
