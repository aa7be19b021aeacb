//! Admin edits of a user: reading, updating (role, profile, password),
//! deleting, revoking sessions and previewing what they can reach.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::api::form::{query_error, query_opt_int};
use crate::db::{self, now_secs};
use crate::error::messages::NOT_FOUND as USER_NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::{id_names, info_json, ACTION_PROHIBITED};

async fn load_user(state: &AppState, id: String) -> ApiResult<db::users::UserRow> {
    state
        .db
        .read(move |c| db::users::get(c, &id))
        .await?
        .ok_or_else(|| ApiError::bad_request(USER_NOT_FOUND))
}

pub(super) async fn get_user(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let u = load_user(&state, user_id.clone()).await?;
    let groups = state
        .db
        .read(move |c| db::groups::of_member(c, &user_id, false))
        .await?;
    let mut v = crate::api::auths::user_json(&u);
    v["groups"] = json!(id_names(&groups));
    v["is_active"] = json!(db::users::is_active(&u, now_secs()));
    Ok(Json(v))
}

pub(super) async fn user_info(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let u = load_user(&state, user_id.clone()).await?;
    let groups = state
        .db
        .read(move |c| db::groups::of_member(c, &user_id, false))
        .await?;
    Ok(Json(info_json(&u, Some(id_names(&groups)), now_secs())))
}

pub(super) async fn user_active(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let u = state.db.read(move |c| db::users::get(c, &user_id)).await?;
    let active = u.is_some_and(|u| db::users::is_active(&u, now_secs()));
    Ok(Json(json!({"active": active})))
}

#[derive(serde::Deserialize)]
pub(super) struct UpdateUserForm {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    profile_image_url: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The primary admin (first account) may only be edited by itself and stays admin.
pub(super) async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user_id): Path<String>,
    JsonBody(f): JsonBody<UpdateUserForm>,
) -> ApiResult<Json<Value>> {
    let first = state.db.read(db::users::first_admin).await?;
    if first.as_ref().is_some_and(|p| p.id == user_id) {
        if admin.id() != user_id {
            return Err(ApiError::forbidden(ACTION_PROHIBITED));
        }
        if f.role.as_deref().is_some_and(|r| r != "admin") {
            return Err(ApiError::forbidden(ACTION_PROHIBITED));
        }
    }
    let user = load_user(&state, user_id.clone()).await?;
    if let Some(r) = &f.role {
        if !["pending", "user", "admin"].contains(&r.as_str()) {
            return Err(ApiError::bad_request(
                "role must be pending, user or admin.",
            ));
        }
    }
    let email = f.email.as_ref().map(|e| e.trim().to_lowercase());
    if let Some(e) = &email {
        if e != &user.email.to_lowercase() {
            let e2 = e.clone();
            let taken = state
                .db
                .read(move |c| db::users::get_by_email(c, &e2))
                .await?
                .is_some();
            if taken {
                return Err(ApiError::bad_request(
                    "Uh-oh! This email is already registered. Sign in with your existing account or choose another email to start anew.",
                ));
            }
        }
    }
    if let Some(url) = &f.profile_image_url {
        crate::api::auths::check_image_url(url)?;
    }
    if let Some(name) = &f.name {
        if name.trim().is_empty() {
            return Err(ApiError::bad_request("The name must not be empty."));
        }
        crate::limits::check_name("name", name)?;
    }
    let new_hash = match f.password.as_deref().filter(|p| !p.is_empty()) {
        Some(pw) => {
            crate::api::auths::check_new_password(pw)?;
            let (pw, argon) = (pw.to_string(), state.settings.password_hash_argon2);
            Some(
                tokio::task::spawn_blocking(move || crate::auth::password::hash(&pw, argon))
                    .await??,
            )
        }
        None => None,
    };
    let update = db::users::AdminUpdate {
        role: f.role,
        name: f.name.map(|n| n.trim().to_string()),
        email,
        profile_image_url: f.profile_image_url,
    };
    let (id, now, stamp) = (user_id.clone(), now_secs(), db::new_id());
    let updated = state
        .db
        .try_write(move |tx| {
            if let Some(h) = &new_hash {
                db::auths::update_password(tx, &id, h)?;
                // Sessions signed with the old password stop working.
                db::auths::set_session_stamp(tx, &id, &stamp)?;
            }
            if !update.is_empty() {
                db::users::admin_update(tx, &id, &update, now)?;
            }
            db::users::get(tx, &id)?.ok_or_else(|| ApiError::bad_request(USER_NOT_FOUND))
        })
        .await?;
    crate::auth::sessions::refresh(&state, &updated.id).await;
    Ok(Json(crate::api::auths::user_json(&updated)))
}

/// Deletes a user and what was theirs; nobody deletes the primary admin or themselves.
pub(super) async fn delete_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<bool>> {
    let first = state.db.read(db::users::first_admin).await?;
    if first.is_some_and(|p| p.id == user_id) || admin.id() == user_id {
        return Err(ApiError::forbidden(ACTION_PROHIBITED));
    }
    let deleted = crate::accounts::delete_user(&state, &user_id).await?;
    crate::auth::sessions::refresh(&state, &user_id).await;
    if !deleted {
        return Err(ApiError::internal(anyhow::anyhow!("user row not found")));
    }
    Ok(Json(true))
}

/// Signs the user out everywhere by rotating their session stamp.
pub(super) async fn revoke_sessions(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<bool>> {
    let target = state
        .db
        .read({
            let id = user_id.clone();
            move |c| db::users::get(c, &id)
        })
        .await?;
    if target.is_none() {
        return Err(ApiError::not_found("User not found."));
    }
    let first = state.db.read(db::users::first_admin).await?;
    if first.is_some_and(|p| p.id == user_id) && admin.id() != user_id {
        return Err(ApiError::forbidden(ACTION_PROHIBITED));
    }
    let stamp = db::new_id();
    let id = user_id.clone();
    state
        .db
        .write(move |tx| db::auths::set_session_stamp(tx, &id, &stamp))
        .await?;
    crate::auth::sessions::refresh(&state, &user_id).await;
    Ok(Json(true))
}

/// What a user can reach: their groups and the models, knowledge bases and
/// tools they own or are granted read access to.
pub(super) async fn user_preview(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .read(move |c| {
            let Some(user) = db::users::get(c, &user_id)? else {
                return Ok(None);
            };
            let groups = db::groups::of_member(c, &user_id, true)?;
            let gids: std::collections::HashSet<String> =
                groups.iter().map(|g| g.id.clone()).collect();
            let mut sections = serde_json::Map::new();
            for (name, table, rtype, active_only) in [
                ("models", "model", "model", true),
                ("knowledge", "knowledge", "knowledge", false),
                ("tools", "tool", "tool", false),
            ] {
                let rows = db::groups::owned_resources(c, table, active_only)?;
                let foreign: Vec<String> = rows
                    .iter()
                    .filter(|r| r.2 != user_id)
                    .map(|r| r.0.clone())
                    .collect();
                let granted =
                    db::access_grants::accessible_ids(c, &user_id, &gids, rtype, &foreign, "read")?;
                let items: Vec<Value> = rows
                    .iter()
                    .filter(|r| r.2 == user_id || granted.contains(&r.0))
                    .map(|r| json!({"id": r.0, "name": r.1}))
                    .collect();
                sections.insert(
                    name.to_string(),
                    json!({"items": items, "total": rows.len()}),
                );
            }
            let mut v = json!({
                "user": {"id": user.id, "name": user.name},
                "groups": id_names(&groups),
            });
            for (k, s) in sections {
                v[k] = s;
            }
            Ok(Some(v))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(USER_NOT_FOUND))?;
    Ok(Json(out))
}

/// The caller's own usage page: totals, heatmaps, top models and tools.
pub(super) async fn usage(
    State(state): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let days = query_opt_int(&q, "days")?;
    if let Some(d) = days {
        if d < 7 {
            return Err(query_error(
                "days",
                "Input should be greater than or equal to 7",
                "greater_than_equal",
            ));
        }
        if d > 732 {
            return Err(query_error(
                "days",
                "Input should be less than or equal to 732",
                "less_than_equal",
            ));
        }
    }
    let start = query_opt_int(&q, "start_date")?;
    let end = query_opt_int(&q, "end_date")?;
    let period = crate::usage::period(days, start, end, now_secs()).map_err(|_| {
        ApiError::bad_request("The start date of the period is after its end date.")
    })?;
    let report = crate::usage::report(
        &state.db,
        c.id(),
        c.user.timezone.as_deref(),
        period,
        now_secs(),
    )
    .await?;
    Ok(Json(report))
}
