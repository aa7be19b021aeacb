//! Creating, reading, updating, toggling, sharing and deleting a workspace
//! model.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{
    base_ids, check_background, check_controls, id_taken, load, load_wire, parse_form, perms_allow,
    prohibited, unauthorized, valid_id, IdQuery,
};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::api::form::validation;
use crate::audio;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::db::models::{self as rows, ModelForm};
use crate::db::now_secs;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A model's own call voice and its call avatar's settings (422), the
/// avatar rewritten in its stored form.
pub(super) fn check_voice_settings(meta: &mut Value) -> ApiResult<()> {
    audio::voice::check_model_voice(meta)?;
    audio::avatar::settings::normalize(meta)
}

/// Any admin, the owner or a write grant may change a model.
async fn may_write(
    state: &AppState,
    caller: &Caller,
    owner: &str,
    grants: &[GrantRow],
) -> ApiResult<bool> {
    access::allows(state, caller, caller.is_admin(), owner, grants, "write").await
}

/// The model exists (else 401 "not found") and the caller may change it
/// (else 401).
async fn changeable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let Some((m, g)) = load(state, id).await? else {
        return Err(ApiError::unauthorized(NOT_FOUND));
    };
    if !may_write(state, caller, &m.user_id, &g).await? {
        return Err(unauthorized());
    }
    Ok(())
}

pub(super) async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !perms_allow(&state, &caller, "workspace.models").await? {
        return Err(unauthorized());
    }
    let mut p = parse_form(&body)?;
    check_voice_settings(&mut p.form.meta)?;
    if !valid_id(&p.form.id) {
        return Err(ApiError::bad_request(
            "The model id is too long. Please make sure your model id is less than 256 characters long.",
        ));
    }
    if load(&state, &p.form.id).await?.is_some() {
        return Err(id_taken());
    }
    if !caller.is_admin() {
        if p.form.base_model_id.is_none() {
            return Err(unauthorized());
        }
        if base_ids(&state).await?.contains(&p.form.id) {
            return Err(id_taken());
        }
    }
    check_background(&state, &caller, &p.form.meta, None).await?;
    audio::avatar::files::verify(&state, &caller, p.form.meta.get("voice_avatar"), None).await?;
    check_controls(&state, &p).await?;
    let grants = match &p.grants {
        Some(g) => access::allowed_grants(&state, &caller, access::Kind::Model, g).await?,
        None => vec![],
    };
    p.form.is_active = Some(p.form.is_active.unwrap_or(true));
    let (form, uid, now) = (p.form.clone(), caller.id().to_string(), now_secs());
    state
        .db
        .write(move |tx| rows::insert(tx, &form, &uid, &grants, now))
        .await?;
    Ok(Json(load_wire(&state, &p.form.id).await?))
}

pub(super) async fn get_model(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<Value>> {
    let Some((m, g)) = load(&state, &q.id).await? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let groups = access::group_ids(&state, caller.id()).await?;
    let write = access::admin_bypass(&caller)
        || access::owner_or_grant(&caller, &m.user_id, &g, &groups, "write");
    if !write && !access_grants::grants_allow(&g, caller.id(), &groups, "read") {
        return Err(prohibited());
    }
    let mut v = rows::wire(&m, &g);
    if !write {
        v["params"] = json!({});
    }
    v["user"] = Value::Null;
    v["write_access"] = json!(write);
    Ok(Json(v))
}

pub(super) async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let mut p = parse_form(&body)?;
    check_voice_settings(&mut p.form.meta)?;
    let Some((current, grants)) = load(&state, &p.form.id).await? else {
        return Err(ApiError::unauthorized(NOT_FOUND));
    };
    if !may_write(&state, &caller, &current.user_id, &grants).await? {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    if !p.has_base {
        p.form.base_model_id = current.base_model_id.clone();
    }
    if !caller.is_admin() && current.base_model_id.is_some() && p.form.base_model_id.is_none() {
        return Err(unauthorized());
    }
    // Keys the editor leaves out keep their stored values.
    if let Some(meta) = p.form.meta.as_object_mut() {
        for key in ["profile_image_url", "voice_avatar", "background_image_url"] {
            if !p.meta_keys.contains(key) {
                if let Some(v) = current.meta.get(key) {
                    meta.insert(key.into(), v.clone());
                }
            }
        }
    }
    if !p.params_has_controls {
        if let (Some(params), Some(c)) = (
            p.form.params.as_object_mut(),
            current.params.get("model_controls"),
        ) {
            params.insert("model_controls".into(), c.clone());
        }
    }
    check_background(&state, &caller, &p.form.meta, Some(&current.meta)).await?;
    audio::avatar::files::verify(
        &state,
        &caller,
        p.form.meta.get("voice_avatar"),
        current.meta.get("voice_avatar"),
    )
    .await?;
    check_controls(&state, &p).await?;
    if !p.has_active {
        p.form.is_active = None;
    }
    let (form, uid, now) = (p.form.clone(), caller.id().to_string(), now_secs());
    state
        .db
        .write(move |tx| rows::update(tx, &current, &form, &uid, now))
        .await?;
    Ok(Json(load_wire(&state, &p.form.id).await?))
}

pub(super) async fn toggle(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<Value>> {
    changeable(&state, &caller, &q.id).await?;
    let (id, now) = (q.id.clone(), now_secs());
    state.db.write(move |tx| rows::toggle(tx, &id, now)).await?;
    Ok(Json(load_wire(&state, &q.id).await?))
}

#[derive(Deserialize)]
pub(super) struct AccessForm {
    id: String,
    name: Option<String>,
    access_grants: Vec<Value>,
}

pub(super) async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    if !valid_id(&form.id) {
        return Err(validation("id", "String should match pattern '^\\S+$'"));
    }
    let existing = load(&state, &form.id).await?;
    let (row, grants) = match existing {
        Some(x) => x,
        None => {
            // A provider's model gets a minimal row so that it can be shared.
            if !caller.is_admin() {
                return Err(ApiError::forbidden(ACCESS_PROHIBITED));
            }
            let f = ModelForm {
                id: form.id.clone(),
                base_model_id: None,
                name: form.name.clone().unwrap_or_else(|| form.id.clone()),
                params: json!({}),
                meta: json!({}),
                is_active: Some(true),
                commit_message: None,
            };
            let (uid, now) = (caller.id().to_string(), now_secs());
            state
                .db
                .write(move |tx| rows::insert(tx, &f, &uid, &[], now))
                .await?;
            load(&state, &form.id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("model row vanished")))?
        }
    };
    if !may_write(&state, &caller, &row.user_id, &grants).await? {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let requested = Value::Array(form.access_grants.clone());
    let allowed =
        access::validated_grants(&state, &caller, access::Kind::Model, &requested).await?;
    let (id, now) = (form.id.clone(), now_secs());
    state
        .db
        .write(move |tx| {
            access_grants::replace(tx, rows::RESOURCE, &id, &allowed, now)?;
            rows::touch(tx, &id, now)
        })
        .await?;
    Ok(Json(load_wire(&state, &form.id).await?))
}

#[derive(Deserialize)]
pub(super) struct IdForm {
    id: String,
}

pub(super) async fn delete_model(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<IdForm>,
) -> ApiResult<Json<bool>> {
    changeable(&state, &caller, &form.id).await?;
    let ids = vec![form.id];
    let n = state.db.write(move |tx| rows::delete(tx, &ids)).await?;
    Ok(Json(n > 0))
}

pub(super) async fn delete_all(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<bool>> {
    state
        .db
        .write(|tx| {
            let ids = rows::all_ids(tx)?;
            rows::delete(tx, &ids)
        })
        .await?;
    Ok(Json(true))
}
