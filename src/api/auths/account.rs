//! The caller's own account: profile, timezone, password and API key.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AuthUser, VerifiedUser};
use crate::auth::Caller;
use crate::auth::{password, permissions};
use crate::db::{self, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::{check_image_url, check_new_password, user_json};

#[derive(Deserialize)]
pub(super) struct ProfileForm {
    name: String,
    profile_image_url: String,
    #[serde(default)]
    bio: Option<String>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    date_of_birth: Option<String>,
}

pub(super) async fn update_profile(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ProfileForm>,
) -> ApiResult<Json<Value>> {
    if form.name.trim().is_empty() {
        return Err(ApiError::bad_request("The name must not be empty."));
    }
    crate::limits::check_name("name", &form.name)?;
    check_image_url(&form.profile_image_url)?;
    if let Some(d) = &form.date_of_birth {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            return Err(ApiError::bad_request(
                "date_of_birth must be a date like 1990-01-31.",
            ));
        }
    }
    let id = caller.user.id.clone();
    let update = db::users::ProfileUpdate {
        name: form.name.trim().to_string(),
        profile_image_url: form.profile_image_url,
        bio: form.bio,
        gender: form.gender,
        date_of_birth: form.date_of_birth,
    };
    let now = now_secs();
    let user = state
        .db
        .write(move |tx| {
            db::users::update_profile(tx, &id, &update, now)?;
            db::users::get(tx, &id)
        })
        .await?
        .ok_or_else(ApiError::not_found_default)?;
    Ok(Json(user_json(&user)))
}

#[derive(Deserialize)]
pub(super) struct TimezoneForm {
    timezone: String,
}

pub(super) async fn update_timezone(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(form): JsonBody<TimezoneForm>,
) -> ApiResult<Json<Value>> {
    if form.timezone.len() > 64 {
        return Err(ApiError::bad_request("The timezone name is too long."));
    }
    let id = caller.user.id.clone();
    state
        .db
        .write(move |tx| db::users::update_timezone(tx, &id, &form.timezone))
        .await?;
    Ok(Json(json!({"status": true})))
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    password: String,
    new_password: String,
}

pub(super) async fn update_password(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(form): JsonBody<PasswordForm>,
) -> ApiResult<Json<bool>> {
    if state.settings.trusted.email.is_some() {
        return Err(ApiError::bad_request(
            "Passwords are managed by the sign-in proxy in front of this server.",
        ));
    }
    let id = caller.user.id.clone();
    let auth = state
        .db
        .read(move |c| db::auths::get(c, &id))
        .await?
        .ok_or_else(|| ApiError::bad_request("This account has no password."))?;
    if !password::verify_bounded(form.password, auth.password).await? {
        return Err(ApiError::bad_request("The current password is incorrect."));
    }
    check_new_password(&form.new_password)?;
    let hash =
        password::hash_bounded(form.new_password, state.settings.password_hash_argon2).await?;
    let id = caller.user.id.clone();
    // A new stamp signs out every other session, like upstream's disconnect.
    let stamp = db::new_id();
    state
        .db
        .write(move |tx| {
            db::auths::update_password(tx, &id, &hash)?;
            db::auths::set_session_stamp(tx, &id, &stamp)
        })
        .await?;
    crate::auth::sessions::refresh(&state, &caller.user.id).await;
    Ok(Json(true))
}

async fn api_key_allowed(state: &AppState, caller: &Caller) -> ApiResult<()> {
    let allowed = state.config.get_bool("auth.enable_api_keys")
        && (caller.is_admin()
            || permissions::allows(
                &permissions::effective(state, caller.id()).await?,
                "features.api_keys",
            ));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "API key creation is not allowed in the environment.",
        ))
    }
}

pub(super) async fn create_api_key(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> ApiResult<Json<Value>> {
    api_key_allowed(&state, &caller).await?;
    let key = format!("sk-{}", uuid::Uuid::new_v4().simple());
    let (id, k, now) = (caller.user.id.clone(), key.clone(), now_secs());
    state
        .db
        .write(move |tx| db::api_keys::replace_for_user(tx, &id, &k, now))
        .await?;
    Ok(Json(json!({"api_key": key})))
}

pub(super) async fn get_api_key(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> ApiResult<Json<Value>> {
    api_key_allowed(&state, &caller).await?;
    let id = caller.user.id.clone();
    match state
        .db
        .read(move |c| db::api_keys::get_for_user(c, &id))
        .await?
    {
        Some(k) => Ok(Json(json!({"api_key": k}))),
        None => Err(ApiError::not_found(
            "No API key has been created for this account yet.",
        )),
    }
}

pub(super) async fn delete_api_key(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> ApiResult<Json<bool>> {
    api_key_allowed(&state, &caller).await?;
    let id = caller.user.id.clone();
    let n = state
        .db
        .write(move |tx| db::api_keys::delete_for_user(tx, &id))
        .await?;
    Ok(Json(n > 0))
}
