//! Creating (also by cloning), reading, updating, sharing, toggling and
//! deleting a skill.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::common::{authorized, conflict, snapshot_at};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::{opt_str, req_str, validation};
use crate::api::prompts::{grants_field, not_found, perms_allow_any, ID_TAKEN};
use crate::api::workspace_common::replace_grants;
use crate::auth::Caller;
use crate::db::access_grants;
use crate::db::now_secs;
use crate::db::prompts::user_briefs;
use crate::db::skills::{self as rows, NewSkill, SkillRow};
use crate::error::messages::{ACCESS_PROHIBITED as PROHIBITED, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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

pub(super) async fn create_from(
    state: &AppState,
    caller: &Caller,
    body: &Value,
) -> ApiResult<Value> {
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

pub(super) async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(create_from(&state, &caller, &body).await?))
}

pub(super) async fn get_one(
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
    let refuse = access::Refusals {
        missing: not_found(),
        denied: ApiError::unauthorized(UNAUTHORIZED),
    };
    let (admin, get) = (access::admin_bypass(caller), rows::get_with_grants);
    let (s, _) = access::load_allowed(state, caller, get, id, admin, "write", refuse).await?;
    Ok(s)
}

pub(super) async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, Response> {
    update_from(&state, &caller, &id, &body).await.map(Json)
}

/// A save of skill `id` from an update form; a stale `expected_version_id`
/// answers the 409 version conflict. Also used by the import's Replace.
pub(super) async fn update_from(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: &Value,
) -> Result<Value, Response> {
    let er = |e: ApiError| e.into_response();
    let body = body.clone();
    req_str(&body, "id").map_err(er)?;
    let name = req_str(&body, "name").map_err(er)?.to_string();
    let s = writable(state, caller, id).await.map_err(er)?;
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
        Some(Ok(v)) => Ok(v),
    }
}

pub(super) async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let requested = crate::api::prompts::required_grants_field(&body)?;
    writable(&state, &caller, &id).await?;
    let kind = access::Kind::Skill;
    replace_grants(
        &state,
        &caller,
        kind,
        rows::RESOURCE,
        id,
        &requested,
        |c, id| Ok(rows::get_with_grants(c, id)?.map(|(s, g)| rows::wire(&s, &g, true))),
    )
    .await
}

pub(super) async fn toggle(
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

pub(super) async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    writable(&state, &caller, &id).await?;
    Ok(Json(state.db.write(move |c| rows::delete(c, &id)).await?))
}

pub(super) async fn clone(
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
