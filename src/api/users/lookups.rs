//! Looking users up: the admin list, lookups for sharing and mentions,
//! groups and effective permissions, and profile pictures.

use crate::api::form::SearchQuery;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::permissions;
use crate::db::{self, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::info_json;

fn default_image() -> Response {
    crate::api::user_content::static_image("static/user.png")
}

/// A raster data URL is decoded and served inline; an http(s) URL is
/// redirected to only when `ENABLE_PROFILE_IMAGE_URL_FORWARDING=true`;
/// anything else (SVG, paths, empty) is the default avatar.
pub(super) async fn profile_image(
    State(state): State<AppState>,
    VerifiedUser(_caller): VerifiedUser,
    Path(user_id): Path<String>,
) -> ApiResult<Response> {
    use crate::api::user_content;
    let url = state
        .db
        .read(move |c| db::users::profile_image_url(c, &user_id))
        .await?
        .ok_or_else(ApiError::not_found_default)?
        .unwrap_or_default();
    if user_content::is_remote(&url) {
        if user_content::forwarding_enabled() && crate::limits::valid_image_url(&url) {
            return Ok(user_content::found(&url));
        }
        return Ok(default_image());
    }
    Ok(user_content::data_image(&url, None).unwrap_or_else(default_image))
}

/// Upstream's page size for the admin user list.
const USERS_PAGE: i64 = 30;

pub(super) async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let page = crate::limits::page(q.page.unwrap_or(1));
    let descending = q.direction.as_deref() != Some("asc");
    let (users, total, groups) = state
        .db
        .read(move |c| {
            let (users, total) = db::users::list(
                c,
                q.query.as_deref(),
                q.order_by.as_deref(),
                descending,
                USERS_PAGE,
                (page - 1) * USERS_PAGE,
            )?;
            let mut groups = Vec::with_capacity(users.len());
            for u in &users {
                groups.push(db::groups::ids_of_member(c, &u.id)?);
            }
            Ok((users, total, groups))
        })
        .await?;
    let users: Vec<Value> = users
        .iter()
        .zip(groups)
        .map(|(u, g)| {
            let mut v = crate::api::auths::user_json(u);
            v["group_ids"] = serde_json::json!(g);
            v
        })
        .collect();
    Ok(Json(serde_json::json!({"users": users, "total": total})))
}

pub(super) async fn all_users(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> ApiResult<Json<Value>> {
    let users = state.db.read(db::users::all).await?;
    let now = now_secs();
    let list: Vec<Value> = users.iter().map(|u| info_json(u, None, now)).collect();
    Ok(Json(json!({"total": list.len(), "users": list})))
}

/// Paged user lookup for sharing dialogs and mentions, open to verified users.
pub(super) async fn search_users(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let page = crate::limits::page(q.page.unwrap_or(1));
    let descending = q.direction.as_deref() != Some("asc");
    let (users, total) = state
        .db
        .read(move |c| {
            db::users::list(
                c,
                q.query.as_deref(),
                q.order_by.as_deref(),
                descending,
                USERS_PAGE,
                (page - 1) * USERS_PAGE,
            )
        })
        .await?;
    let now = now_secs();
    let list: Vec<Value> = users.iter().map(|u| info_json(u, None, now)).collect();
    Ok(Json(json!({"users": list, "total": total})))
}

#[derive(serde::Deserialize)]
pub(super) struct InheritQuery {
    #[serde(default)]
    include_inherited: bool,
}

async fn groups_response(state: &AppState, user_id: String, inherited: bool) -> ApiResult<Value> {
    let (direct, all) = state
        .db
        .read(move |c| {
            let direct = db::groups::of_member(c, &user_id, false)?;
            let all = if inherited {
                Some(db::groups::of_member(c, &user_id, true)?)
            } else {
                None
            };
            Ok((direct, all))
        })
        .await?;
    let model = |g: &db::groups::GroupRow| {
        let mut v = g.wire(0);
        v.as_object_mut().expect("object").remove("member_count");
        v
    };
    let Some(all) = all else {
        return Ok(Value::Array(direct.iter().map(model).collect()));
    };
    let direct_ids: std::collections::HashSet<&str> =
        direct.iter().map(|g| g.id.as_str()).collect();
    Ok(Value::Array(
        all.iter()
            .map(|g| {
                let mut v = model(g);
                v["membership_type"] = json!(if direct_ids.contains(g.id.as_str()) {
                    "direct"
                } else {
                    "inherited"
                });
                v
            })
            .collect(),
    ))
}

pub(super) async fn my_groups(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<InheritQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        groups_response(&state, caller.user.id, q.include_inherited).await?,
    ))
}

pub(super) async fn user_groups(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(user_id): Path<String>,
    Query(q): Query<InheritQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        groups_response(&state, user_id, q.include_inherited).await?,
    ))
}

pub(super) async fn my_permissions(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    Ok(Json(permissions::effective(&state, caller.id()).await?))
}
