//! Export, import and sync of workspace models.

use std::collections::HashSet;

use axum::extract::{Query, State};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{
    base_ids, check_background, id_taken, image_type, load, parse_form, perms_allow, unauthorized,
    valid_id,
};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::access_grants::{self, GrantRow, NewGrant};
use crate::db::models::{self as rows, ModelForm, ModelRow};
use crate::db::now_secs;
use crate::error::messages::ACCESS_PROHIBITED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Reads an uploaded image file for export as a data URI.
async fn background_data(state: &AppState, url: &str) -> ApiResult<String> {
    let path = super::common::background_file(state, url)
        .await?
        .and_then(|(_, path)| path)
        .ok_or_else(|| ApiError::bad_request("The background image file is missing."))?;
    let data = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::bad_request("The background image file is missing."))?;
    if data.len() > 5 * 1024 * 1024 {
        return Err(ApiError::bad_request(
            "Background image must be at most 5 MiB.",
        ));
    }
    let mime = image_type(&data).ok_or_else(|| {
        ApiError::bad_request("The background image is not a PNG, JPEG, WebP or GIF.")
    })?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&data)
    ))
}

pub(super) async fn export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    if !perms_allow(&state, &caller, "workspace.models_export").await? {
        return Err(unauthorized());
    }
    let ids: Option<Vec<String>> = {
        let v: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .map(|(_, v)| v.clone())
            .collect();
        (!v.is_empty()).then_some(v)
    };
    let bypass = access::admin_bypass(&caller);
    let groups = access::group_ids(&state, caller.id()).await?;
    let list = state.db.read(rows::all_with_grants).await?;
    let selected: Vec<(ModelRow, Vec<GrantRow>)> = list
        .into_iter()
        .filter(|(m, _)| m.base_model_id.is_some())
        .filter(|(m, _)| ids.as_ref().is_none_or(|ids| ids.contains(&m.id)))
        .filter(|(m, g)| bypass || access::owner_or_grant(&caller, &m.user_id, g, &groups, "write"))
        .collect();
    if let Some(ids) = &ids {
        let wanted: HashSet<&String> = ids.iter().collect();
        let got: HashSet<&String> = selected.iter().map(|(m, _)| &m.id).collect();
        if wanted != got {
            return Err(ApiError::forbidden(ACCESS_PROHIBITED));
        }
    }
    let mut out = Vec::with_capacity(selected.len());
    for (m, g) in selected {
        let mut v = rows::wire(&m, &g);
        if let Some(url) = v["meta"]["background_image_url"]
            .as_str()
            .map(str::to_string)
        {
            let data = background_data(&state, &url).await.map_err(|_| {
                ApiError::bad_request(format!("Could not export background for model {}.", m.id))
            })?;
            v["background_image_data"] = json!(data);
            v["meta"]["background_image_url"] = Value::Null;
        }
        out.push(v);
    }
    Ok(Json(Value::Array(out)))
}

#[derive(Deserialize)]
pub(super) struct ImportForm {
    models: Vec<Value>,
}

pub(super) async fn import(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ImportForm>,
) -> ApiResult<Json<bool>> {
    if !perms_allow(&state, &caller, "workspace.models_import").await? {
        return Err(unauthorized());
    }
    let groups = access::group_ids(&state, caller.id()).await?;
    let mut known_bases: Option<HashSet<String>> = None;
    for mut data in form.models {
        let Some(id) = data.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        if !valid_id(&id) {
            continue;
        }
        if data.get("base_model_id").and_then(Value::as_str) == Some(id.as_str()) {
            data["base_model_id"] = Value::Null;
        }
        if data
            .get("background_image_data")
            .is_some_and(|b| !b.is_null())
        {
            // Storing uploads belongs to the files API; the image is left out.
            tracing::warn!(model = %id, "import: background image not imported");
        }
        if let Some(o) = data.as_object_mut() {
            o.remove("background_image_data");
        }
        match load(&state, &id).await? {
            Some((current, grants)) => {
                if !caller.is_admin()
                    && !access::owner_or_grant(&caller, &current.user_id, &grants, &groups, "write")
                {
                    return Err(id_taken());
                }
                let base_given = data
                    .get("base_model_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let base_key_present = data.get("base_model_id").is_some();
                if !caller.is_admin()
                    && current.base_model_id.is_some()
                    && base_key_present
                    && base_given.is_none()
                {
                    tracing::warn!(model = %id, "import: a user may not turn a preset into a base model");
                    continue;
                }
                let mut meta = rows::normalize_meta(&current.meta);
                if let (Some(m), Some(new)) = (
                    meta.as_object_mut(),
                    data.get("meta").and_then(Value::as_object),
                ) {
                    for (k, v) in new {
                        m.insert(k.clone(), v.clone());
                    }
                }
                let merged = json!({
                    "id": id,
                    "base_model_id": if base_key_present { base_given.map(Value::String).unwrap_or(Value::Null) } else { json!(current.base_model_id) },
                    "name": data.get("name").and_then(Value::as_str).unwrap_or(&current.name),
                    "meta": meta,
                    "params": data.get("params").filter(|p| p.is_object()).cloned().unwrap_or_else(|| json!({})),
                    "is_active": data.get("is_active").and_then(Value::as_bool).unwrap_or(current.is_active),
                });
                let mut p = parse_form(&merged)
                    .map_err(|_| ApiError::bad_request(format!("Invalid model {id}.")))?;
                super::write::check_voice_settings(&mut p.form.meta)?;
                check_background(&state, &caller, &p.form.meta, Some(&current.meta)).await?;
                crate::audio::avatar::files::verify(
                    &state,
                    &caller,
                    p.form.meta.get("voice_avatar"),
                    current.meta.get("voice_avatar"),
                )
                .await?;
                let (f, uid, now) = (p.form, caller.id().to_string(), now_secs());
                state
                    .db
                    .write(move |tx| rows::update(tx, &current, &f, &uid, now))
                    .await?;
            }
            None => {
                if let Some(o) = data.as_object_mut() {
                    if !o.get("meta").is_some_and(Value::is_object) {
                        o.insert("meta".into(), json!({}));
                    }
                    if !o.get("params").is_some_and(Value::is_object) {
                        o.insert("params".into(), json!({}));
                    }
                }
                let mut p = parse_form(&data)
                    .map_err(|_| ApiError::bad_request(format!("Invalid model {id}.")))?;
                super::write::check_voice_settings(&mut p.form.meta)?;
                if !caller.is_admin() {
                    if p.form.base_model_id.is_none() {
                        continue;
                    }
                    if known_bases.is_none() {
                        known_bases = Some(base_ids(&state).await?);
                    }
                    if known_bases.as_ref().is_some_and(|b| b.contains(&id)) {
                        return Err(id_taken());
                    }
                }
                check_background(&state, &caller, &p.form.meta, None).await?;
                crate::audio::avatar::files::verify(
                    &state,
                    &caller,
                    p.form.meta.get("voice_avatar"),
                    None,
                )
                .await?;
                let grants = match &p.grants {
                    Some(g) => {
                        access::allowed_grants(&state, &caller, access::Kind::Model, g).await?
                    }
                    None => vec![],
                };
                let mut f = p.form;
                f.is_active = Some(f.is_active.unwrap_or(true));
                let (uid, now) = (caller.id().to_string(), now_secs());
                state
                    .db
                    .write(move |tx| rows::insert(tx, &f, &uid, &grants, now))
                    .await?;
            }
        }
    }
    Ok(Json(true))
}

#[derive(Deserialize)]
pub(super) struct SyncForm {
    #[serde(default)]
    models: Vec<Value>,
}

/// Makes the table hold exactly the given models (admin tooling).
pub(super) async fn sync(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    JsonBody(form): JsonBody<SyncForm>,
) -> ApiResult<Json<Value>> {
    let mut parsed = Vec::with_capacity(form.models.len());
    for m in &form.models {
        parsed.push(parse_form(m)?);
    }
    let uid = caller.id().to_string();
    let now = now_secs();
    let keep: Vec<String> = parsed.iter().map(|p| p.form.id.clone()).collect();
    let work: Vec<(ModelForm, bool, Vec<NewGrant>)> = parsed
        .into_iter()
        .map(|p| {
            let grants = p
                .grants
                .as_ref()
                .map(access_grants::normalize)
                .unwrap_or_default();
            (p.form, p.has_active, grants)
        })
        .collect();
    state
        .db
        .write(move |tx| {
            for (mut f, has_active, grants) in work {
                match rows::get(tx, &f.id)? {
                    Some(current) => {
                        if !has_active {
                            f.is_active = None;
                        }
                        rows::update(tx, &current, &f, &uid, now)?;
                    }
                    None => {
                        f.is_active = Some(f.is_active.unwrap_or(true));
                        rows::insert(tx, &f, &uid, &grants, now)?;
                    }
                }
            }
            let gone: Vec<String> = rows::all_ids(tx)?
                .into_iter()
                .filter(|id| !keep.contains(id))
                .collect();
            rows::delete(tx, &gone)
        })
        .await?;
    let list = state.db.read(rows::all_with_grants).await?;
    let ids: HashSet<String> = form
        .models
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    Ok(Json(Value::Array(
        list.iter()
            .filter(|(m, _)| ids.contains(&m.id))
            .map(|(m, g)| rows::wire(m, g))
            .collect(),
    )))
}
