//! `/api/v1/users`: the admin user list and edits, user lookups for sharing,
//! default and effective permissions, and the caller's own settings, status,
//! info and variables.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::permissions;
use crate::db::{self, now_secs};
use crate::error::messages::NOT_FOUND as USER_NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/", get(list_users))
        .route("/api/v1/users/all", get(all_users))
        .route("/api/v1/users/search", get(search_users))
        .route("/api/v1/users/groups", get(my_groups))
        .route("/api/v1/users/permissions", get(my_permissions))
        .route(
            "/api/v1/users/default/permissions",
            get(get_default_permissions).post(set_default_permissions),
        )
        .route(
            "/api/v1/users/default/permissions/defaults",
            get(builtin_default_permissions),
        )
        .route("/api/v1/users/user/settings", get(get_settings))
        .route("/api/v1/users/user/settings/update", post(update_settings))
        .route("/api/v1/users/user/status", get(get_status))
        .route("/api/v1/users/user/status/update", post(update_status))
        .route("/api/v1/users/user/info", get(get_info))
        .route("/api/v1/users/user/info/update", post(update_info))
        .route("/api/v1/users/user/variables", get(get_variables))
        .route(
            "/api/v1/users/user/variables/update",
            post(update_variables),
        )
        .route("/api/v1/users/usage", get(usage))
        .route("/api/v1/users/{user_id}", get(get_user).delete(delete_user))
        .route("/api/v1/users/{user_id}/info", get(user_info))
        .route("/api/v1/users/{user_id}/active", get(user_active))
        .route("/api/v1/users/{user_id}/update", post(update_user))
        .route("/api/v1/users/{user_id}/groups", get(user_groups))
        .route("/api/v1/users/{user_id}/preview", get(user_preview))
        .route(
            "/api/v1/users/{user_id}/sessions/revoke",
            post(revoke_sessions),
        )
        .route("/api/v1/users/{user_id}/profile/image", get(profile_image))
}

const ACTION_PROHIBITED: &str = "The requested action has been restricted as a security measure.";

#[derive(serde::Deserialize)]
struct SettingsQuery {
    #[serde(default)]
    raw: bool,
}

/// Merges `settings` over `defaults`, recursing into objects and skipping nulls.
fn merge_over(defaults: &Value, settings: &Value) -> Value {
    let mut out = defaults.clone();
    if let (Value::Object(o), Value::Object(s)) = (&mut out, settings) {
        for (k, v) in s {
            if v.is_null() {
                continue;
            }
            let merged = match o.get(k) {
                Some(d @ Value::Object(_)) if v.is_object() => merge_over(d, v),
                _ => v.clone(),
            };
            o.insert(k.clone(), merged);
        }
    }
    out
}

/// The saved settings; unless `raw`, the admin's default interface settings
/// fill what the user has not set.
async fn get_settings(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<SettingsQuery>,
) -> Json<Value> {
    let saved = caller.user.settings.unwrap_or(Value::Null);
    let defaults = state.config.get("ui.default_interface_settings");
    if q.raw || defaults.as_object().is_none_or(|d| d.is_empty()) {
        return Json(saved);
    }
    let mut out = match saved {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    let ui = out
        .get("ui")
        .filter(|u| u.is_object())
        .cloned()
        .unwrap_or(json!({}));
    out["ui"] = merge_over(&defaults, &ui);
    Json(out)
}

/// Keys of upstream's interface-settings model: dropped from `ui` for users
/// without the `settings.interface` permission.
const INTERFACE_KEYS: &[&str] = &[
    "autoTags",
    "autoFollowUps",
    "highContrastMode",
    "detectArtifacts",
    "responseAutoCopy",
    "showUsername",
    "showUpdateToast",
    "showChangelog",
    "showEmojiInCall",
    "voiceInterruption",
    "displayMultiModelResponsesInTabs",
    "chatFadeStreamingText",
    "richTextInput",
    "showFormattingToolbar",
    "insertPromptAsRichText",
    "promptAutocomplete",
    "insertSuggestionPrompt",
    "keepFollowUpPrompts",
    "insertFollowUpPrompt",
    "regenerateMenu",
    "enableMessageQueue",
    "largeTextAsFile",
    "copyFormatted",
    "collapseCodeBlocks",
    "renderMarkdownInUserMessages",
    "renderMarkdownInAssistantMessages",
    "expandDetails",
    "chatHoverPreview",
    "renderMarkdownInPreviews",
    "chatBubble",
    "widescreenMode",
    "splitLargeChunks",
    "scrollOnBranchChange",
    "scrollOnResponseGeneration",
    "showFilesOnTerminalSelect",
    "temporaryChatByDefault",
    "userLocation",
    "showChatTitleInTab",
    "iframeSandboxAllowScripts",
    "iframeSandboxAllowSameOrigin",
    "iframeSandboxAllowForms",
    "iframeSandboxAllowDownloads",
    "terminalPreviewAllowSameOrigin",
    "stylizedPdfExport",
    "hapticFeedback",
    "ctrlEnterToSend",
    "showFloatingActionButtons",
    "imageCompression",
    "imageCompressionInChannels",
    "landingPageMode",
    "chatDirection",
    "terminalFileDisplay",
    "defaultUploadContext",
    "webSearch",
    "models",
    "backgroundImageUrl",
    "fontFamily",
    "textScale",
    "title",
    "imageCompressionSize",
    "floatingActionButtons",
];

/// Stores the settings object, as upstream does, dropping the parts the caller
/// may not set, and echoes what was stored.
async fn update_settings(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(mut settings): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !settings.is_object() {
        return Err(ApiError::bad_request("Settings must be a JSON object."));
    }
    if !caller.is_admin() {
        let perms = permissions::effective(&state, caller.id()).await?;
        let may = |k: &str| permissions::allows(&perms, k);
        if let Some(ui) = settings.get_mut("ui").and_then(Value::as_object_mut) {
            if !may("settings.interface") {
                for k in INTERFACE_KEYS {
                    ui.remove(*k);
                }
            }
            if !(may("chat.controls") && may("chat.system_prompt")) {
                ui.remove("system");
            }
            if !may("features.direct_tool_servers") {
                ui.remove("toolServers");
            }
            if !may("features.webhooks") {
                if let Some(n) = ui.get_mut("notifications").and_then(Value::as_object_mut) {
                    n.remove("webhook_url");
                }
            }
        }
        if !may("features.webhooks") {
            if let Some(o) = settings.as_object_mut() {
                o.remove("notifications");
            }
        }
    }
    let (id, s, now) = (caller.user.id.clone(), settings.clone(), now_secs());
    state
        .db
        .write(move |tx| db::users::update_settings(tx, &id, &s, now))
        .await?;
    Ok(Json(settings))
}

async fn get_info(VerifiedUser(caller): VerifiedUser) -> Json<Value> {
    Json(caller.user.info.unwrap_or(Value::Null))
}

fn default_image() -> Response {
    crate::api::user_content::static_image("static/user.png")
}

/// A raster data URL is decoded and served inline; an http(s) URL is
/// redirected to only when `ENABLE_PROFILE_IMAGE_URL_FORWARDING=true`;
/// anything else (SVG, paths, empty) is the default avatar.
async fn profile_image(
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

#[derive(serde::Deserialize)]
struct ListQuery {
    query: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
    page: Option<i64>,
}

async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(q): Query<ListQuery>,
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

// ------------------------------------------------------------------ lookups

/// Upstream's `UserInfoResponse`: what any verified user may learn about another.
fn info_json(u: &db::users::UserRow, groups: Option<Vec<Value>>, now: i64) -> Value {
    json!({
        "status_emoji": u.status_emoji,
        "status_message": u.status_message,
        "status_expires_at": u.status_expires_at,
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "bio": u.bio,
        "last_active_at": u.last_active_at,
        "timezone": u.timezone,
        "groups": groups.unwrap_or_default(),
        "is_active": db::users::is_active(u, now),
    })
}

fn id_names(groups: &[db::groups::GroupRow]) -> Vec<Value> {
    groups
        .iter()
        .map(|g| json!({"id": g.id, "name": g.name}))
        .collect()
}

async fn all_users(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> ApiResult<Json<Value>> {
    let users = state.db.read(db::users::all).await?;
    let now = now_secs();
    let list: Vec<Value> = users.iter().map(|u| info_json(u, None, now)).collect();
    Ok(Json(json!({"total": list.len(), "users": list})))
}

/// Paged user lookup for sharing dialogs and mentions, open to verified users.
async fn search_users(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
    Query(q): Query<ListQuery>,
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
struct InheritQuery {
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

async fn my_groups(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<InheritQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        groups_response(&state, caller.user.id, q.include_inherited).await?,
    ))
}

async fn user_groups(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(user_id): Path<String>,
    Query(q): Query<InheritQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        groups_response(&state, user_id, q.include_inherited).await?,
    ))
}

async fn my_permissions(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    Ok(Json(permissions::effective(&state, caller.id()).await?))
}

// ------------------------------------------------------- default permissions

/// The six sections of upstream's `UserPermissions` form.
const PERMISSION_SECTIONS: &[&str] = &[
    "workspace",
    "sharing",
    "access_grants",
    "chat",
    "features",
    "settings",
];

/// Shapes a permissions object like upstream's form: every section present with
/// every known flag (missing ones from the built-in defaults), unknown flags dropped.
fn permissions_form(p: &Value) -> Value {
    let builtin = permissions::builtin_defaults();
    let mut out = serde_json::Map::new();
    for section in PERMISSION_SECTIONS {
        let mut sec = serde_json::Map::new();
        if let Some(Value::Object(defaults)) = builtin.get(*section) {
            for (k, dv) in defaults {
                let v = p
                    .get(*section)
                    .and_then(|s| s.get(k))
                    .filter(|v| v.is_boolean())
                    .cloned()
                    .unwrap_or_else(|| dv.clone());
                sec.insert(k.clone(), v);
            }
        }
        out.insert(section.to_string(), Value::Object(sec));
    }
    Value::Object(out)
}

async fn get_default_permissions(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    let mut p = match state.config.get("user.permissions") {
        v @ Value::Object(_) => v,
        _ => json!({}),
    };
    permissions::fill_missing(&mut p, &permissions::builtin_defaults());
    Json(permissions_form(&p))
}

async fn set_default_permissions(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let Some(obj) = form.as_object() else {
        return Err(ApiError::bad_request("Permissions must be a JSON object."));
    };
    for section in PERMISSION_SECTIONS {
        if !obj.get(*section).is_some_and(Value::is_object) {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", section],
                "msg": "Field required",
                "type": "missing",
            }])));
        }
    }
    let stored = permissions_form(&form);
    state.config.set("user.permissions", stored.clone()).await?;
    Ok(Json(stored))
}

async fn builtin_default_permissions(AdminUser(_a): AdminUser) -> Json<Value> {
    Json(permissions_form(&permissions::builtin_defaults()))
}

// ------------------------------------------------------ the caller's own data

fn status_enabled(state: &AppState) -> ApiResult<()> {
    if state.config.get_bool("users.enable_status") {
        Ok(())
    } else {
        Err(ApiError::forbidden(ACTION_PROHIBITED))
    }
}

async fn get_status(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    status_enabled(&state)?;
    Ok(Json(crate::api::auths::user_json(&caller.user)))
}

#[derive(serde::Deserialize)]
struct StatusForm {
    #[serde(default)]
    status_emoji: Option<String>,
    #[serde(default)]
    status_message: Option<String>,
    #[serde(default)]
    status_expires_at: Option<i64>,
}

async fn update_status(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(f): JsonBody<StatusForm>,
) -> ApiResult<Json<Value>> {
    status_enabled(&state)?;
    let id = caller.user.id.clone();
    let now = now_secs();
    let user = state
        .db
        .write(move |tx| {
            db::users::update_status(
                tx,
                &id,
                f.status_emoji.as_deref(),
                f.status_message.as_deref(),
                f.status_expires_at,
                now,
            )?;
            db::users::get(tx, &id)
        })
        .await?
        .ok_or_else(|| ApiError::bad_request(USER_NOT_FOUND))?;
    Ok(Json(crate::api::auths::user_json(&user)))
}

/// Merges the posted keys into the caller's `info` object.
async fn update_info(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut info = match caller.user.info {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    info.extend(form);
    let info = Value::Object(info);
    let (id, v, now) = (caller.user.id.clone(), info.clone(), now_secs());
    state
        .db
        .write(move |tx| db::users::update_json_column(tx, &id, "info", &v, now))
        .await?;
    Ok(Json(info))
}

const VARIABLE_VALUE_MAX: usize = 20_000;
const VARIABLES_JSON_MAX: usize = 100_000;

fn valid_variable_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

async fn get_variables(VerifiedUser(caller): VerifiedUser) -> Json<Value> {
    let vars: serde_json::Map<String, Value> = match caller.user.variables {
        Some(Value::Object(m)) => m.into_iter().filter(|(_, v)| v.is_string()).collect(),
        _ => serde_json::Map::new(),
    };
    Json(json!({"variables": vars}))
}

#[derive(serde::Deserialize)]
struct VariablesForm {
    #[serde(default)]
    variables: Value,
}

async fn update_variables(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(f): JsonBody<VariablesForm>,
) -> ApiResult<Json<Value>> {
    let vars = match f.variables {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        _ => return Err(ApiError::bad_request("User variables must be an object.")),
    };
    if Value::Object(vars.clone()).to_string().len() > VARIABLES_JSON_MAX {
        return Err(ApiError::bad_request("User variables are too large."));
    }
    let mut clean = serde_json::Map::new();
    for (k, v) in vars {
        if !valid_variable_key(&k) {
            return Err(ApiError::bad_request(format!(
                "Invalid user variable key: {k}"
            )));
        }
        let Value::String(s) = v else {
            return Err(ApiError::bad_request(format!(
                "User variable must be a string: {k}"
            )));
        };
        let s = s.replace("\r\n", "\n");
        if s.chars().count() > VARIABLE_VALUE_MAX {
            return Err(ApiError::bad_request(format!(
                "User variable is too long: {k}"
            )));
        }
        clean.insert(k, Value::String(s));
    }
    let v = Value::Object(clean);
    let (id, stored, now) = (caller.user.id.clone(), v.clone(), now_secs());
    state
        .db
        .write(move |tx| db::users::update_json_column(tx, &id, "variables", &stored, now))
        .await?;
    Ok(Json(json!({"variables": v})))
}

// ------------------------------------------------------------- admin edits

async fn load_user(state: &AppState, id: String) -> ApiResult<db::users::UserRow> {
    state
        .db
        .read(move |c| db::users::get(c, &id))
        .await?
        .ok_or_else(|| ApiError::bad_request(USER_NOT_FOUND))
}

async fn get_user(
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

async fn user_info(
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

async fn user_active(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let u = state.db.read(move |c| db::users::get(c, &user_id)).await?;
    let active = u.is_some_and(|u| db::users::is_active(&u, now_secs()));
    Ok(Json(json!({"active": active})))
}

#[derive(serde::Deserialize)]
struct UpdateUserForm {
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
async fn update_user(
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
async fn delete_user(
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
async fn revoke_sessions(
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
async fn user_preview(
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

/// Registered so the path is not taken for a user id by `/{user_id}`.
async fn usage(VerifiedUser(_c): VerifiedUser) -> ApiError {
    ApiError::NotImplemented(
        "Personal usage statistics are not available on this server yet; they come with the analytics work."
            .into(),
    )
}
