//! Upstream's `skills` router (`/api/v1/skills/*`): markdown instructions
//! (`SKILL.md` plus optional supporting files) with versions and sharing.
//! Zip/`.skill` packages (export, import, load from URL) are not supported.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::{opt_str, req_str, validation};
use super::prompts::{grants_field, not_found, perms_allow_any, ID_TAKEN};
use super::tools::history::{history_page, history_wire, PageQuery};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::db::now_secs;
use crate::db::prompts::user_briefs;
use crate::db::skills::{self as rows, NewSkill, SkillRow};
use crate::db::workspace_history::{self as history, HistoryRow, Kind};
use crate::error::messages::{ACCESS_PROHIBITED as PROHIBITED, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workspace::skills::readable;

const PAGE_SIZE: usize = 30;
const PACKAGES_UNSUPPORTED: &str =
    "Skill packages (.zip / .skill archives and loading from a URL) are not supported by this server; \
     use JSON export and create skills in the editor.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/skills/", get(list_skills))
        .route("/api/v1/skills/list", get(search))
        .route("/api/v1/skills/export", get(export))
        .route("/api/v1/skills/create", post(create))
        .route("/api/v1/skills/load/url", post(load_url_unsupported))
        .route("/api/v1/skills/import/preview", post(packages_unsupported))
        .route("/api/v1/skills/import", post(packages_unsupported))
        .route("/api/v1/skills/id/{id}", get(get_one))
        .route("/api/v1/skills/id/{id}/update", post(update))
        .route("/api/v1/skills/id/{id}/access/update", post(update_access))
        .route("/api/v1/skills/id/{id}/toggle", post(toggle))
        .route("/api/v1/skills/id/{id}/delete", delete(delete_one))
        .route("/api/v1/skills/id/{id}/files", get(files))
        .route("/api/v1/skills/id/{id}/files/content", get(file_content))
        .route("/api/v1/skills/id/{id}/history", get(history_list))
        .route("/api/v1/skills/id/{id}/history/diff", get(history_diff))
        .route("/api/v1/skills/id/{id}/history/diff/file", get(file_diff))
        .route(
            "/api/v1/skills/id/{id}/history/{history_id}",
            get(history_entry).delete(history_delete),
        )
        .route("/api/v1/skills/id/{id}/update/version", post(set_version))
        .route("/api/v1/skills/id/{id}/clone", post(clone))
}

async fn packages_unsupported(VerifiedUser(_c): VerifiedUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(PACKAGES_UNSUPPORTED.into()))
}

/// Loading a skill package from a URL is an admin route upstream: refuse
/// others first, then say it is not supported.
async fn load_url_unsupported(AdminUser(_c): AdminUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(PACKAGES_UNSUPPORTED.into()))
}

fn conflict(current: Option<&str>) -> Response {
    let mut detail = json!({"code": "version_conflict"});
    if let Some(c) = current {
        detail["current_version_id"] = json!(c);
    }
    (StatusCode::CONFLICT, Json(json!({"detail": detail}))).into_response()
}

async fn users_of(
    state: &AppState,
    list: &[(SkillRow, Vec<GrantRow>)],
) -> ApiResult<HashMap<String, Value>> {
    let ids: Vec<String> = list.iter().map(|(s, _)| s.user_id.clone()).collect();
    Ok(state.db.read(move |c| user_briefs(c, &ids)).await?)
}

#[derive(Deserialize)]
struct ListQuery {
    query: Option<String>,
}

async fn list_skills(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let (list, _) = readable(&state, &caller).await?;
    let users = users_of(&state, &list).await?;
    let needle = q.query.map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    Ok(Json(
        list.iter()
            .filter(|(s, _)| {
                needle
                    .as_ref()
                    .is_none_or(|n| s.name.to_lowercase().contains(n))
            })
            .map(|(s, g)| {
                let mut v = rows::wire(s, g, false);
                v["user"] = users.get(&s.user_id).cloned().unwrap_or(Value::Null);
                v
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct SearchQuery {
    query: Option<String>,
    view_option: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
    page: Option<i64>,
}

async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let (list, groups) = readable(&state, &caller).await?;
    let users = users_of(&state, &list).await?;
    let needle = q
        .query
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let mut items: Vec<(SkillRow, Vec<GrantRow>)> = list
        .into_iter()
        .filter(|(s, _)| {
            let u = users.get(&s.user_id);
            let uf = |k: &str| {
                u.and_then(|u| u.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_lowercase()
            };
            let text_ok = needle.as_ref().is_none_or(|n| {
                s.name.to_lowercase().contains(n)
                    || s.description
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(n)
                    || s.id.to_lowercase().contains(n)
                    || uf("name").contains(n)
                    || uf("email").contains(n)
                    || s.meta.to_string().to_lowercase().contains(n)
            });
            let view_ok = match q.view_option.as_deref() {
                Some("created") => s.user_id == caller.id(),
                Some("shared") => s.user_id != caller.id(),
                _ => true,
            };
            text_ok && view_ok
        })
        .collect();
    match q.order_by.as_deref() {
        Some("name") => items.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
        Some("created_at") => items.sort_by_key(|a| a.0.created_at),
        _ => items.sort_by_key(|a| a.0.updated_at),
    }
    let explicit = matches!(
        q.order_by.as_deref(),
        Some("name") | Some("created_at") | Some("updated_at")
    );
    if !(explicit && q.direction.as_deref() == Some("asc")) {
        items.reverse();
    }
    let total = items.len();
    let page = q.page.unwrap_or(1).max(1) as usize;
    let by = access::admin_bypass(&caller);
    let out: Vec<Value> = items
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(s, g)| {
            let mut v = rows::wire(s, g, false);
            v["user"] = users.get(&s.user_id).cloned().unwrap_or(Value::Null);
            v["write_access"] =
                json!(by || access::owner_or_grant(&caller, &s.user_id, g, &groups, "write"));
            v
        })
        .collect();
    Ok(Json(json!({"items": out, "total": total})))
}

/// A skill the caller may read (or write): 404 when missing, 403 otherwise.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    id: &str,
    perm: &str,
) -> ApiResult<(SkillRow, Vec<GrantRow>)> {
    let idc = id.to_string();
    let (s, g) = state
        .db
        .read(move |c| rows::get_with_grants(c, &idc))
        .await?
        .ok_or_else(|| ApiError::not_found("Skill not found"))?;
    if access::admin_bypass(caller) {
        return Ok((s, g));
    }
    let groups = access::group_ids(state, caller.id()).await?;
    if !access::owner_or_grant(caller, &s.user_id, &g, &groups, perm) {
        return Err(ApiError::forbidden("Access denied"));
    }
    Ok((s, g))
}

/// The live snapshot, or a history entry's.
async fn snapshot_at(state: &AppState, s: &SkillRow, version: Option<&str>) -> ApiResult<Value> {
    match version {
        None => Ok(rows::snapshot(s)),
        Some(v) if Some(v) == s.version_id.as_deref() => Ok(rows::snapshot(s)),
        Some(v) => Ok(entry(state, &s.id, v).await?.snapshot),
    }
}

async fn entry(state: &AppState, id: &str, version: &str) -> ApiResult<HistoryRow> {
    let (id, v) = (id.to_string(), version.to_string());
    state
        .db
        .read(move |c| history::get(c, Kind::Skill, &id, &v))
        .await?
        .ok_or_else(|| ApiError::not_found("Skill version not found"))
}

async fn export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    if !perms_allow_any(&state, &caller, &["workspace.skills_export"]).await? {
        return Err(ApiError::forbidden("Export permission required"));
    }
    let mut format = "json".to_string();
    let mut ids: Option<Vec<String>> = None;
    let mut version: Option<String> = None;
    for (k, v) in form_pairs(raw.as_deref().unwrap_or("")) {
        match k.as_str() {
            "format" => format = v,
            "ids" => ids.get_or_insert_with(Vec::new).push(v),
            "version_id" => version = Some(v),
            _ => {}
        }
    }
    if version.is_some() && ids.as_ref().is_none_or(|i| i.len() != 1) {
        return Err(ApiError::bad_request(
            "Select one skill to export a historical version",
        ));
    }
    if format == "zip" || format == "skill" {
        return Err(ApiError::NotImplemented(PACKAGES_UNSUPPORTED.into()));
    }
    if format != "json" {
        return Err(ApiError::bad_request(
            "Export format must be json, zip, or skill",
        ));
    }
    let skills: Vec<SkillRow> = match &ids {
        Some(list) => {
            let mut out = Vec::new();
            for id in list {
                out.push(authorized(&state, &caller, id, "read").await?.0);
            }
            out
        }
        None => readable(&state, &caller)
            .await?
            .0
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
    };
    let mut packages = Vec::new();
    for s in &skills {
        let snap = snapshot_at(&state, s, version.as_deref()).await?;
        packages.push(json!({
            "id": s.id,
            "name": snap.get("name"),
            "description": snap.get("description"),
            "meta": snap.get("meta"),
            "files": rows::files_of(&snap),
            "is_active": s.is_active,
        }));
    }
    if ids.as_ref().is_some_and(|i| i.len() == 1) {
        return Ok(Json(packages.pop().unwrap_or(Value::Null)));
    }
    Ok(Json(Value::Array(packages)))
}

/// `application/x-www-form-urlencoded` pairs, repeated keys kept.
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Files of a create request: `data.files`, `files`, or `content` as SKILL.md.
fn form_files(body: &Value) -> ApiResult<Vec<Value>> {
    let data_files = body
        .get("data")
        .filter(|d| !d.is_null())
        .map(|d| d.get("files"));
    let files = body.get("files").filter(|f| !f.is_null());
    if data_files.is_some() && files.is_some() {
        return Err(ApiError::bad_request("Provide data or files, not both"));
    }
    let list = match (data_files, files) {
        (Some(Some(Value::Array(a))), _) => a.clone(),
        (Some(_), _) => {
            return Err(validation(
                "data",
                "Input should be a valid dictionary with files",
            ))
        }
        (None, Some(Value::Array(a))) => a.clone(),
        (None, Some(_)) => return Err(validation("files", "Input should be a valid list")),
        (None, None) => vec![json!({
            "path": "SKILL.md",
            "content": opt_str(body, "content")?.unwrap_or_default(),
        })],
    };
    rows::validate_files(&list, &[]).map_err(ApiError::bad_request)
}

fn form_meta(body: &Value) -> ApiResult<Value> {
    match body.get("meta") {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(validation("meta", "Input should be a valid dictionary")),
    }
}

fn form_active(body: &Value) -> ApiResult<Option<bool>> {
    match body.get("is_active") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(validation("is_active", "Input should be a valid boolean")),
    }
}

async fn create_from(state: &AppState, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let id = req_str(body, "id")?.to_lowercase().replace(' ', "-");
    let name = req_str(body, "name")?.to_string();
    let description = opt_str(body, "description")?;
    let meta = form_meta(body)?;
    let is_active = form_active(body)?.unwrap_or(true);
    let message = opt_str(body, "commit_message")?;
    if !perms_allow_any(
        state,
        caller,
        &["workspace.skills", "workspace.skills_import"],
    )
    .await?
    {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(ApiError::bad_request(
            "Something went wrong :/ Invalid skill ID",
        ));
    }
    let files = form_files(body)?;
    let grants =
        access::allowed_grants(state, caller, access::Kind::Skill, &grants_field(body)?).await?;
    let uid = caller.id().to_string();
    let now = now_secs();
    let n = NewSkill {
        id,
        name,
        description,
        meta,
        files,
        is_active,
        commit_message: message,
    };
    state
        .db
        .try_write(move |c| {
            if rows::get(c, &n.id)?.is_some() {
                return Err(ApiError::bad_request(ID_TAKEN));
            }
            if rows::name_taken(c, &n.name)? {
                return Err(ApiError::Conflict(
                    "A skill with this name already exists".into(),
                ));
            }
            let s = rows::insert(c, &uid, &n, &grants, now)?;
            let g = access_grants::by_resource(c, rows::RESOURCE, &s.id)?;
            Ok(rows::wire(&s, &g, false))
        })
        .await
}

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(create_from(&state, &caller, &body).await?))
}

async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let idc = id.clone();
    let (s, g) = state
        .db
        .read(move |c| rows::get_with_grants(c, &idc))
        .await?
        .ok_or_else(not_found)?;
    let groups = access::group_ids(&state, caller.id()).await?;
    let by = access::admin_bypass(&caller);
    if !(by || access::owner_or_grant(&caller, &s.user_id, &g, &groups, "read")) {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    let write = by || access::owner_or_grant(&caller, &s.user_id, &g, &groups, "write");
    let ids = vec![s.user_id.clone()];
    let users = state.db.read(move |c| user_briefs(c, &ids)).await?;
    let mut v = rows::wire(&s, &g, false);
    v["content"] = json!(s.content);
    v["user"] = users.get(&s.user_id).cloned().unwrap_or(Value::Null);
    v["write_access"] = json!(write);
    Ok(Json(v))
}

async fn writable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<SkillRow> {
    let idc = id.to_string();
    let (s, g) = state
        .db
        .read(move |c| rows::get_with_grants(c, &idc))
        .await?
        .ok_or_else(not_found)?;
    if !access::admin_bypass(caller) {
        let groups = access::group_ids(state, caller.id()).await?;
        if !access::owner_or_grant(caller, &s.user_id, &g, &groups, "write") {
            return Err(ApiError::unauthorized(UNAUTHORIZED));
        }
    }
    Ok(s)
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, Response> {
    let er = |e: ApiError| e.into_response();
    req_str(&body, "id").map_err(er)?;
    let name = req_str(&body, "name").map_err(er)?.to_string();
    let s = writable(&state, &caller, &id).await.map_err(er)?;
    let expected = opt_str(&body, "expected_version_id").map_err(er)?;
    if let Some(e) = &expected {
        if Some(e.as_str()) != s.version_id.as_deref() {
            return Err(conflict(s.version_id.as_deref()));
        }
    }
    let present = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    let changes = ["files", "data", "operations"]
        .iter()
        .filter(|k| present(k))
        .count();
    if changes > 0 && expected.is_none() {
        return Err(er(ApiError::bad_request(
            "expected_version_id is required for file updates",
        )));
    }
    if changes > 1 {
        return Err(er(ApiError::bad_request(
            "Provide data, files, or operations, not more than one",
        )));
    }
    let previous = rows::files_of(&s.data);
    let mut files = if present("data") {
        match body["data"].get("files") {
            Some(Value::Array(a)) => a.clone(),
            _ => {
                return Err(er(validation(
                    "data",
                    "Input should be a valid dictionary with files",
                )))
            }
        }
    } else if present("files") {
        match &body["files"] {
            Value::Array(a) => a.clone(),
            _ => return Err(er(validation("files", "Input should be a valid list"))),
        }
    } else {
        previous.clone()
    };
    if present("operations") {
        let ops = body["operations"]
            .as_array()
            .cloned()
            .ok_or_else(|| er(validation("operations", "Input should be a valid list")))?;
        files = rows::apply_operations(&files, &ops).map_err(|e| er(ApiError::bad_request(e)))?;
    }
    if let Some(content) = opt_str(&body, "content").map_err(er)? {
        files.retain(|f| f.get("path").and_then(Value::as_str) != Some("SKILL.md"));
        files.push(json!({"path": "SKILL.md", "content": content}));
    }
    let files =
        rows::validate_files(&files, &previous).map_err(|e| er(ApiError::bad_request(e)))?;
    let description = if body.get("description").is_some() {
        opt_str(&body, "description").map_err(er)?
    } else {
        s.description.clone()
    };
    let meta = if body.get("meta").is_some() {
        form_meta(&body).map_err(er)?
    } else {
        s.meta.clone()
    };
    let is_active = form_active(&body).map_err(er)?.unwrap_or(s.is_active);
    let message = opt_str(&body, "commit_message").map_err(er)?;
    let uid = caller.id().to_string();
    let now = now_secs();
    let result = state
        .db
        .write(move |c| {
            // Re-read under the write lock: another save may have landed.
            let Some(cur) = rows::get(c, &s.id)? else {
                return Ok(None);
            };
            if cur.version_id != s.version_id {
                return Ok(Some(Err(cur.version_id)));
            }
            let updated = rows::update(
                c,
                &cur,
                &name,
                description.as_deref(),
                &meta,
                files,
                is_active,
                message.as_deref(),
                &uid,
                now,
            )?;
            let g = access_grants::by_resource(c, rows::RESOURCE, &updated.id)?;
            Ok(Some(Ok(rows::wire(&updated, &g, true))))
        })
        .await
        .map_err(|e| er(ApiError::Internal(e)))?;
    match result {
        None => Err(er(not_found())),
        Some(Err(current)) => Err(conflict(current.as_deref())),
        Some(Ok(v)) => Ok(Json(v)),
    }
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let requested = crate::api::prompts::required_grants_field(&body)?;
    writable(&state, &caller, &id).await?;
    let grants = access::validated_grants(&state, &caller, access::Kind::Skill, &requested).await?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            access_grants::replace(c, rows::RESOURCE, &id, &grants, now)?;
            Ok(rows::get_with_grants(c, &id)?.map(|(s, g)| rows::wire(&s, &g, true)))
        })
        .await?;
    Ok(Json(v.unwrap_or(Value::Null)))
}

async fn toggle(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    writable(&state, &caller, &id).await?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(s) = rows::toggle(c, &id, now)? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &s.id)?;
            Ok(Some(rows::wire(&s, &g, true)))
        })
        .await?;
    v.map(Json).ok_or_else(not_found)
}

async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    writable(&state, &caller, &id).await?;
    Ok(Json(state.db.write(move |c| rows::delete(c, &id)).await?))
}

#[derive(Deserialize)]
struct FilesQuery {
    version_id: Option<String>,
    path: Option<String>,
}

async fn files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<FilesQuery>,
) -> ApiResult<Json<Value>> {
    let (s, _) = authorized(&state, &caller, &id, "read").await?;
    let snap = snapshot_at(&state, &s, q.version_id.as_deref()).await?;
    Ok(Json(json!({
        "version_id": q.version_id.or(s.version_id),
        "files": rows::file_summaries(&rows::files_of(&snap)),
    })))
}

async fn file_content(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<FilesQuery>,
) -> ApiResult<Response> {
    let path = q.path.ok_or_else(|| {
        ApiError::Validation(
            json!([{"loc": ["query", "path"], "msg": "Field required", "type": "missing"}]),
        )
    })?;
    let version = q.version_id.ok_or_else(|| {
        ApiError::Validation(
            json!([{"loc": ["query", "version_id"], "msg": "Field required", "type": "missing"}]),
        )
    })?;
    let (s, _) = authorized(&state, &caller, &id, "read").await?;
    let snap = snapshot_at(&state, &s, Some(&version)).await?;
    let file = rows::files_of(&snap)
        .into_iter()
        .find(|f| f.get("path").and_then(Value::as_str) == Some(path.as_str()))
        .ok_or_else(|| ApiError::not_found("File not found"))?;
    let mime = mime_guess::from_path(&path)
        .first_raw()
        .unwrap_or("application/octet-stream");
    let base = path.rsplit('/').next().unwrap_or(&path);
    let encoded: String = base
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename*=UTF-8''{encoded}"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        rows::file_bytes(&file),
    )
        .into_response())
}

async fn history_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    authorized(&state, &caller, &id, "read").await?;
    Ok(Json(history_page(&state, Kind::Skill, &id, q.page).await?))
}

#[derive(Deserialize)]
struct DiffQuery {
    from_id: String,
    to_id: String,
    path: Option<String>,
}

fn by_path(snapshot: &Value) -> BTreeMap<String, Value> {
    rows::files_of(snapshot)
        .into_iter()
        .filter_map(|f| Some((f.get("path")?.as_str()?.to_string(), f)))
        .collect()
}

async fn history_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    authorized(&state, &caller, &id, "read").await?;
    let before = entry(&state, &id, &q.from_id).await?.snapshot;
    let after = entry(&state, &id, &q.to_id).await?.snapshot;
    let mut metadata = serde_json::Map::new();
    for k in ["name", "description", "meta"] {
        if before.get(k) != after.get(k) {
            metadata.insert(
                k.into(),
                json!({"before": before.get(k), "after": after.get(k)}),
            );
        }
    }
    let (a, b) = (by_path(&before), by_path(&after));
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let files: Vec<Value> = paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| {
            let status = if !a.contains_key(p) {
                "added"
            } else if !b.contains_key(p) {
                "deleted"
            } else {
                "modified"
            };
            let binary = [a.get(p), b.get(p)].iter().any(|f| {
                f.and_then(|f| f.get("encoding"))
                    .is_some_and(|e| !e.is_null())
            });
            json!({"path": p, "status": status, "binary": binary})
        })
        .collect();
    Ok(Json(json!({"metadata": metadata, "files": files})))
}

async fn file_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let path = q.path.clone().ok_or_else(|| {
        ApiError::Validation(
            json!([{"loc": ["query", "path"], "msg": "Field required", "type": "missing"}]),
        )
    })?;
    authorized(&state, &caller, &id, "read").await?;
    let before = by_path(&entry(&state, &id, &q.from_id).await?.snapshot).remove(&path);
    let after = by_path(&entry(&state, &id, &q.to_id).await?.snapshot).remove(&path);
    if before.is_none() && after.is_none() {
        return Err(ApiError::not_found("File not found"));
    }
    if [&before, &after].iter().any(|f| {
        f.as_ref()
            .and_then(|f| f.get("encoding"))
            .is_some_and(|e| !e.is_null())
    }) {
        return Ok(Json(json!({"binary": true})));
    }
    let text = |f: &Option<Value>| {
        f.as_ref()
            .and_then(|f| f.get("content").and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    };
    let (ta, tb) = (text(&before), text(&after));
    let short = |s: &str| s.chars().take(7).collect::<String>();
    let diff = history::unified_diff(
        &ta,
        &tb,
        &format!("{}/{path}", short(&q.from_id)),
        &format!("{}/{path}", short(&q.to_id)),
    )
    .join("\n");
    Ok(Json(json!({
        "binary": false,
        "line_endings_only": diff.is_empty() && ta != tb,
        "diff": diff,
    })))
}

async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authorized(&state, &caller, &id, "read").await?;
    let h = entry(&state, &id, &history_id).await?;
    let mut v = history_wire(Kind::Skill, &h, false);
    if let Some(o) = v.as_object_mut() {
        o.remove("user");
    }
    let mut snap = h.snapshot.clone();
    let summaries = rows::file_summaries(&rows::files_of(&h.snapshot));
    if let Some(o) = snap.as_object_mut() {
        o.insert("data".into(), json!({"files": summaries}));
    }
    v["snapshot"] = snap;
    Ok(Json(v))
}

async fn history_delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    let (s, _) = authorized(&state, &caller, &id, "write").await?;
    super::tools::history::history_remove(
        &state,
        Kind::Skill,
        &id,
        s.version_id.as_deref(),
        &history_id,
    )
    .await
}

async fn set_version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, Response> {
    let er = |e: ApiError| e.into_response();
    let version = req_str(&body, "version_id").map_err(er)?.to_string();
    let expected = req_str(&body, "expected_version_id")
        .map_err(er)?
        .to_string();
    let (s, _) = authorized(&state, &caller, &id, "write")
        .await
        .map_err(er)?;
    if s.version_id.as_deref() != Some(expected.as_str()) {
        return Err(conflict(s.version_id.as_deref()));
    }
    let h = entry(&state, &id, &version).await.map_err(er)?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(s) = rows::set_version(c, &id, &h.snapshot, &h.id, now)? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &s.id)?;
            Ok(Some(rows::wire(&s, &g, true)))
        })
        .await
        .map_err(|e| er(ApiError::Internal(e)))?;
    v.map(Json)
        .ok_or_else(|| er(ApiError::not_found("Skill not found")))
}

async fn clone(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let new_id = req_str(&body, "id")?.to_string();
    let name = req_str(&body, "name")?.to_string();
    let version = opt_str(&body, "version_id")?;
    let (s, _) = authorized(&state, &caller, &id, "read").await?;
    let snap = snapshot_at(&state, &s, version.as_deref()).await?;
    let form = json!({
        "id": new_id,
        "name": name,
        "description": snap.get("description"),
        "meta": snap.get("meta"),
        "data": {"files": rows::files_of(&snap)},
        "is_active": s.is_active,
        "access_grants": [],
    });
    Ok(Json(create_from(&state, &caller, &form).await?))
}

#[cfg(test)]
mod tests {
    use crate::workspace::skills::mentioned_skill_ids;

    #[test]
    fn mentions() {
        assert_eq!(
            mentioned_skill_ids("use <$code-review|Code review> and </tone|Tone> or <$x1>"),
            vec!["code-review", "tone", "x1"]
        );
        assert!(mentioned_skill_ids("<b>bold</b> <$Bad> </x> a < b").is_empty());
    }
}
