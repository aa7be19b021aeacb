//! A knowledge base itself: create, reindex, read, update, share, reset
//! and delete.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{access, with_files, writable, Params};
use crate::access::{allowed_grants, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::api::form::query_bool;
use crate::auth::permissions;
use crate::db::access_grants;
use crate::db::knowledge::{self, RESOURCE};
use crate::db::{new_id, now_secs};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::rag::knowledge::{self as kbs, embed_metadata, spawn_embed_metadata, IndexAs};
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct KnowledgeForm {
    name: String,
    description: String,
    #[serde(default)]
    access_grants: Option<Value>,
}

pub(super) async fn create(
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

pub(super) async fn reindex_all(
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

pub(super) async fn reindex_metadata(
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

pub(super) async fn get_one(
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

pub(super) async fn update(
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
pub(super) struct AccessForm {
    access_grants: Value,
}

pub(super) async fn update_access(
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

pub(super) async fn delete_one(
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

pub(super) async fn reset(
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
