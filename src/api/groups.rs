//! `/api/v1/groups`: user groups with permissions, nesting and members.

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::permissions;
use crate::db::{self, groups::GroupRow, now_secs};
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/groups/", get(list))
        .route("/api/v1/groups/create", post(create))
        .route("/api/v1/groups/id/{id}", get(get_one))
        .route("/api/v1/groups/id/{id}/info", get(info))
        .route("/api/v1/groups/id/{id}/export", get(export))
        .route("/api/v1/groups/id/{id}/users", post(users_of))
        .route("/api/v1/groups/id/{id}/update", post(update))
        .route("/api/v1/groups/id/{id}/users/add", post(add_users))
        .route("/api/v1/groups/id/{id}/users/remove", post(remove_users))
        .route("/api/v1/groups/id/{id}/delete", delete(remove))
        .route("/api/v1/groups/id/{id}/preview", get(preview))
        .route("/api/v1/groups/id/{id}/members", get(members))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    share: Option<bool>,
}

/// Admins see every group; others the groups they belong to (by nesting too),
/// narrowed by `share` to the ones they may share to.
async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let member = (!caller.is_admin()).then(|| caller.user.id.clone());
    let share = if caller.is_admin() { None } else { q.share };
    let rows = state
        .db
        .read(move |c| db::groups::list(c, member.as_deref(), share))
        .await?;
    Ok(Json(Value::Array(
        rows.iter().map(|(g, n)| g.wire(*n)).collect(),
    )))
}

/// Shared by create and update: upstream's `GroupForm`.
#[derive(Deserialize)]
struct GroupForm {
    name: String,
    description: String,
    #[serde(default)]
    permissions: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
    /// Absent = unchanged on update; `null` = top level.
    #[serde(default, deserialize_with = "present")]
    parent_group_id: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Checks `data.config.default_models` and removes blanks and duplicates.
fn clean_data(data: Option<Value>) -> ApiResult<Option<Value>> {
    let Some(mut data) = data else {
        return Ok(None);
    };
    if data.is_null() {
        return Ok(None);
    }
    if !data.is_object() {
        return Err(ApiError::bad_request("Group data must be an object."));
    }
    let Some(config) = data.get_mut("config") else {
        return Ok(Some(data));
    };
    if !config.is_object() {
        return Err(ApiError::bad_request("Group config must be an object."));
    }
    if let Some(models) = config.get_mut("default_models") {
        if !models.is_null() {
            let list = models.as_array().cloned().unwrap_or_default();
            let ok = models.is_array()
                && list
                    .iter()
                    .all(|m| m.as_str().is_some_and(|s| !s.trim().is_empty()));
            if !ok {
                return Err(ApiError::bad_request(
                    "Default models must be a list of non-empty model IDs.",
                ));
            }
            let mut seen = Vec::<String>::new();
            for m in list {
                let s = m.as_str().unwrap_or_default().trim().to_string();
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            *models = json!(seen);
        }
    }
    Ok(Some(data))
}

fn parent_error(e: db::groups::ParentError) -> ApiError {
    match e {
        db::groups::ParentError::NotFound => ApiError::not_found("Parent group not found."),
        db::groups::ParentError::Cycle => {
            ApiError::bad_request("A group cannot be its own parent or a descendant of itself.")
        }
        db::groups::ParentError::Db(e) => e.into(),
    }
}

async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(f): JsonBody<GroupForm>,
) -> ApiResult<Json<Value>> {
    if f.name.trim().is_empty() {
        return Err(ApiError::bad_request("The group name must not be empty."));
    }
    let mut data = clean_data(f.data)?.unwrap_or_else(|| json!({}));
    if !data.get("config").is_some_and(Value::is_object) {
        data["config"] = json!({});
    }
    if data["config"].get("share").is_none() {
        data["config"]["share"] = crate::auth::group_sync::default_share();
    }
    let parent = f.parent_group_id.flatten();
    if parent.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "Parent group must be a group ID or null.",
        ));
    }
    let (id, now, uid) = (db::new_id(), now_secs(), admin.user.id.clone());
    let perms = f.permissions.filter(|p| !p.is_null());
    let (name, description) = (f.name, f.description);
    let out = state
        .db
        .try_write(move |tx| -> ApiResult<_> {
            if let Some(p) = &parent {
                db::groups::check_parent(tx, None, p).map_err(parent_error)?;
            }
            db::groups::insert(
                tx,
                &db::groups::NewGroup {
                    id: &id,
                    user_id: &uid,
                    name: &name,
                    description: &description,
                    data: &data,
                    permissions: perms.as_ref(),
                    parent_group_id: parent.as_deref(),
                    now,
                },
            )?;
            Ok(db::groups::get(tx, &id)?.expect("just inserted"))
        })
        .await?;
    Ok(Json(out.wire(0)))
}

async fn load(state: &AppState, id: String) -> ApiResult<(GroupRow, i64)> {
    state
        .db
        .read(move |c| {
            let Some(g) = db::groups::get(c, &id)? else {
                return Ok(None);
            };
            let n = db::groups::member_count(c, &id)?;
            Ok(Some((g, n)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

async fn get_one(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (g, n) = load(&state, id).await?;
    Ok(Json(g.wire(n)))
}

async fn info(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (g, n) = load(&state, id).await?;
    Ok(Json(g.info_wire(n)))
}

async fn export(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (g, n) = load(&state, id.clone()).await?;
    let ids = state
        .db
        .read(move |c| db::groups::member_ids(c, &id))
        .await?;
    let mut v = g.wire(n);
    v["user_ids"] = json!(ids);
    Ok(Json(v))
}

/// Direct members as upstream's `UserInfoResponse` list.
async fn users_of(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let users = state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for uid in db::groups::member_ids(c, &id)? {
                if let Some(u) = db::users::get(c, &uid)? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await?;
    let now = now_secs();
    Ok(Json(Value::Array(
        users
            .iter()
            .map(|u| {
                json!({
                    "status_emoji": u.status_emoji,
                    "status_message": u.status_message,
                    "status_expires_at": u.status_expires_at,
                    "id": u.id, "name": u.name, "email": u.email, "role": u.role,
                    "bio": u.bio, "last_active_at": u.last_active_at, "timezone": u.timezone,
                    "groups": [], "is_active": db::users::is_active(u, now),
                })
            })
            .collect(),
    )))
}

async fn update(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
    JsonBody(f): JsonBody<GroupForm>,
) -> ApiResult<Json<Value>> {
    if f.name.trim().is_empty() {
        return Err(ApiError::bad_request("The group name must not be empty."));
    }
    let data = clean_data(f.data)?;
    if matches!(&f.parent_group_id, Some(Some(p)) if p.is_empty()) {
        return Err(ApiError::bad_request(
            "Parent group must be a group ID or null.",
        ));
    }
    let now = now_secs();
    let out = state
        .db
        .try_write(move |tx| {
            let Some(mut g) = db::groups::get(tx, &id)? else {
                return Err(ApiError::not_found("Group not found."));
            };
            if let Some(parent) = &f.parent_group_id {
                if let Some(p) = parent {
                    db::groups::check_parent(tx, Some(&id), p).map_err(parent_error)?;
                }
                g.parent_group_id = parent.clone();
            }
            let parent_before = g.parent_group_id.clone();
            let permissions_before = g.permissions.clone();
            g.name = f.name;
            g.description = f.description;
            if let Some(p) = f.permissions.filter(|p| !p.is_null()) {
                g.permissions = Some(p);
            }
            // Whose rights the save changes: everyone in the group and below it.
            let affected =
                if g.permissions != permissions_before || g.parent_group_id != parent_before {
                    db::groups::effective_member_ids(tx, &id)?
                } else {
                    Vec::new()
                };
            if let Some(new) = data {
                // Shallow merge, with `config` merged one level deeper.
                let mut merged = g.data.clone().filter(Value::is_object).unwrap_or(json!({}));
                let old_config = merged.get("config").cloned().filter(Value::is_object);
                for (k, v) in new.as_object().into_iter().flatten() {
                    merged[k] = v.clone();
                }
                let mut config = old_config.unwrap_or(json!({}));
                for (k, v) in new
                    .get("config")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    config[k] = v.clone();
                }
                merged["config"] = config;
                g.data = Some(merged);
            }
            g.updated_at = now;
            db::groups::update(tx, &g)?;
            let n = db::groups::member_count(tx, &id)?;
            Ok((g.wire(n), affected))
        })
        .await?;
    let (out, affected) = out;
    crate::auth::sessions::refresh_access(&state, &affected).await;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct UserIdsForm {
    #[serde(default)]
    user_ids: Option<Vec<String>>,
}

async fn add_users(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
    JsonBody(f): JsonBody<UserIdsForm>,
) -> ApiResult<Json<Value>> {
    change_members(&state, id, f.user_ids.unwrap_or_default(), true).await
}

async fn remove_users(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
    JsonBody(f): JsonBody<UserIdsForm>,
) -> ApiResult<Json<Value>> {
    let out = change_members(&state, id, f.user_ids.unwrap_or_default(), false).await?;
    // Leaving a group can end access to chats shared with it.
    crate::socket::chat_access::refresh(&state, None).await;
    Ok(out)
}

async fn change_members(
    state: &AppState,
    id: String,
    user_ids: Vec<String>,
    add: bool,
) -> ApiResult<Json<Value>> {
    let now = now_secs();
    let out = state
        .db
        .write(move |tx| {
            if db::groups::get(tx, &id)?.is_none() {
                return Ok(None);
            }
            let before = db::groups::effective_member_ids(tx, &id)?;
            if add {
                db::groups::add_members(tx, &id, &user_ids, now)?;
            } else {
                db::groups::remove_members(tx, &id, &user_ids, now)?;
            }
            let after = db::groups::effective_member_ids(tx, &id)?;
            // The members who joined or left, and whose rights changed with it.
            let changed: Vec<String> = user_ids
                .into_iter()
                .filter(|u| before.contains(u) != after.contains(u))
                .collect();
            let g = db::groups::get(tx, &id)?.expect("exists");
            let n = db::groups::member_count(tx, &id)?;
            Ok(Some((g.wire(n), changed)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Group not found."))?;
    let (out, changed) = out;
    crate::auth::sessions::refresh_access(state, &changed).await;
    Ok(Json(out))
}

/// Deletes the group; its sub-groups move up to its parent.
async fn remove(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let now = now_secs();
    let found = state
        .db
        .write(move |tx| {
            if db::groups::get(tx, &id)?.is_none() {
                return Ok(None);
            }
            let members = db::groups::effective_member_ids(tx, &id)?;
            db::groups::delete(tx, &id, now)?;
            Ok(Some(members))
        })
        .await?;
    let Some(members) = found else {
        return Err(ApiError::not_found("Group not found."));
    };
    crate::auth::sessions::refresh_access(&state, &members).await;
    Ok(Json(true))
}

/// What members of the group can reach, and its permissions: its own, those
/// inherited from the defaults and its ancestors, and the combination.
async fn preview(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = state
        .db
        .read(move |c| {
            let Some(g) = db::groups::get(c, &id)? else {
                return Ok(None);
            };
            let chain = db::groups::ancestor_ids(c, &id)?;
            let gids: std::collections::HashSet<String> = chain.iter().cloned().collect();
            let mut ancestors = Vec::new();
            for a in chain.iter().filter(|a| **a != id) {
                if let Some(row) = db::groups::get(c, a)? {
                    ancestors.push(row);
                }
            }
            let mut sections = serde_json::Map::new();
            for (name, table, rtype, active_only) in [
                ("models", "model", "model", true),
                ("knowledge", "knowledge", "knowledge", false),
                ("tools", "tool", "tool", false),
            ] {
                let rows = db::groups::owned_resources(c, table, active_only)?;
                let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
                let granted = db::access_grants::accessible_ids(c, "", &gids, rtype, &ids, "read")?;
                let items: Vec<Value> = rows
                    .iter()
                    .filter(|r| granted.contains(&r.0))
                    .map(|r| json!({"id": r.0, "name": r.1}))
                    .collect();
                sections.insert(name.into(), json!({"items": items, "total": rows.len()}));
            }
            Ok(Some((g, ancestors, sections)))
        })
        .await?;
    let Some((g, ancestors, sections)) = found else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let mut inherited = match state.config.get("user.permissions") {
        v @ Value::Object(_) => v,
        _ => json!({}),
    };
    permissions::fill_missing(&mut inherited, permissions::builtin_defaults());
    for a in &ancestors {
        if let Some(p) = &a.permissions {
            permissions::combine(&mut inherited, p);
        }
    }
    let mut effective = inherited.clone();
    if let Some(p) = &g.permissions {
        permissions::combine(&mut effective, p);
    }
    // The deepest group with default models wins (then the older, then the id).
    let parents: std::collections::HashMap<&str, Option<&str>> = ancestors
        .iter()
        .chain(std::iter::once(&g))
        .map(|r| (r.id.as_str(), r.parent_group_id.as_deref()))
        .collect();
    let depth = |start: &str| {
        let (mut d, mut cur) = (0usize, parents.get(start).copied().flatten());
        while let Some(p) = cur {
            if d > parents.len() {
                break;
            }
            d += 1;
            cur = parents.get(p).copied().flatten();
        }
        d
    };
    let mut configured: Vec<(usize, &GroupRow)> = ancestors
        .iter()
        .chain(std::iter::once(&g))
        .filter(|r| r.default_models().is_some())
        .map(|r| (depth(&r.id), r))
        .collect();
    configured.sort_by(|x, y| {
        y.0.cmp(&x.0)
            .then(x.1.created_at.cmp(&y.1.created_at))
            .then(x.1.id.cmp(&y.1.id))
    });
    let (effective_models, source) = match configured.first() {
        Some((_, w)) => (w.default_models().unwrap_or(json!([])), json!(w.id)),
        None => {
            let list: Vec<String> = state
                .config
                .get_str("ui.default_models")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            (json!(list), Value::Null)
        }
    };
    let mut out = json!({
        "group": {"id": g.id, "name": g.name},
        "default_models": {
            "local": g.default_models(),
            "effective": effective_models,
            "source_group_id": source,
        },
        "permissions": g.permissions.clone().unwrap_or(json!({})),
        "inherited_permissions": inherited,
        "effective_permissions": effective,
    });
    for (k, v) in sections {
        out[k] = v;
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct MembersQuery {
    #[serde(default)]
    membership: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

async fn members(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(id): Path<String>,
    Query(q): Query<MembersQuery>,
) -> ApiResult<Json<Value>> {
    let membership = q.membership.unwrap_or_else(|| "effective".into());
    if !["direct", "inherited", "effective"].contains(&membership.as_str()) {
        return Err(ApiError::Validation(json!([{
            "loc": ["query", "membership"],
            "msg": "Input should be 'direct', 'inherited' or 'effective'",
            "type": "literal_error",
        }])));
    }
    let page = q.page.unwrap_or(1);
    if page < 1 {
        return Err(ApiError::Validation(json!([{
            "loc": ["query", "page"],
            "msg": "Input should be greater than or equal to 1",
            "type": "greater_than_equal",
        }])));
    }
    let query = q.query.unwrap_or_default();
    let page_data = state
        .db
        .read(move |c| {
            if db::groups::get(c, &id)?.is_none() {
                return Ok(None);
            }
            db::groups::members(c, &id, &membership, &query, page).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Group not found."))?;
    let now = now_secs();
    let items: Vec<Value> = page_data
        .items
        .iter()
        .map(|m| {
            let u = &m.user;
            json!({
                "status_emoji": u.status_emoji,
                "status_message": u.status_message,
                "status_expires_at": u.status_expires_at,
                "id": u.id, "name": u.name, "email": u.email, "role": u.role,
                "bio": u.bio, "last_active_at": u.last_active_at, "timezone": u.timezone,
                "groups": [], "is_active": db::users::is_active(u, now),
                "membership_type": if m.direct { "direct" } else { "inherited" },
                "via_group_ids": m.via,
            })
        })
        .collect();
    Ok(Json(json!({
        "items": items,
        "total": page_data.total,
        "counts": {
            "direct": page_data.direct,
            "effective": page_data.effective,
            "inherited": page_data.effective - page_data.direct,
        },
    })))
}
