//! Admin side of authentication: adding users, the admin contact shown to
//! pending users, and the general authentication settings.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, AuthUser};
use crate::auth::jwt;
use crate::auth::session::{issue_token, profile_image_path};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::{check_new_password, create_from_form, valid_email};

/// Wire name → config key of the admin "General / Authentication" settings.
const ADMIN_CONFIG_KEYS: &[(&str, &str)] = &[
    ("ENABLE_MFA", "auth.mfa.enable"),
    ("MFA_ALLOW_OAUTH_BYPASS", "auth.mfa.allow_oauth_bypass"),
    (
        "MFA_ALLOW_TRUSTED_HEADER_BYPASS",
        "auth.mfa.allow_trusted_header_bypass",
    ),
    ("SHOW_ADMIN_DETAILS", "auth.admin.show"),
    ("ADMIN_EMAIL", "auth.admin.email"),
    ("WEBUI_URL", "webui.url"),
    ("ENABLE_LOGIN_FORM", "ui.enable_login_form"),
    ("ENABLE_SIGNUP", "ui.enable_signup"),
    ("ENABLE_API_KEYS", "auth.enable_api_keys"),
    (
        "ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS",
        "auth.api_key.endpoint_restrictions",
    ),
    (
        "API_KEYS_ALLOWED_ENDPOINTS",
        "auth.api_key.allowed_endpoints",
    ),
    ("DEFAULT_USER_ROLE", "ui.default_user_role"),
    ("DEFAULT_GROUP_ID", "ui.default_group_id"),
    (
        "DEFAULT_INTERFACE_SETTINGS",
        "ui.default_interface_settings",
    ),
    ("I18N", "ui.i18n"),
    ("JWT_EXPIRES_IN", "auth.jwt_expiry"),
    ("ENABLE_COMMUNITY_SHARING", "ui.enable_community_sharing"),
    ("ENABLE_MESSAGE_RATING", "ui.enable_message_rating"),
    ("ENABLE_FOLDERS", "folders.enable"),
    ("FOLDER_MAX_FILE_COUNT", "folders.max_file_count"),
    ("AUTOMATION_MAX_COUNT", "automations.max_count"),
    ("AUTOMATION_MIN_INTERVAL", "automations.min_interval"),
    ("ENABLE_AUTOMATIONS", "automations.enable"),
    ("ENABLE_CHANNELS", "channels.enable"),
    ("ENABLE_ENCRYPTED_CHANNELS", "channels.encryption.enable"),
    ("ENABLE_APPS", "apps.enable"),
    (
        "CHANNEL_MODEL_RESPONSE_MODE",
        "channels.model_response_mode",
    ),
    ("ENABLE_CALENDAR", "calendar.enable"),
    ("ENABLE_MEMORIES", "memories.enable"),
    (
        "ENABLE_MEMORY_SYSTEM_CONTEXT",
        "memories.system_context.enable",
    ),
    ("ENABLE_SKILL_LAZY_LOADING", "skills.lazy_loading.enable"),
    ("SKILL_CONTENT_MAX_CHARS", "skills.content_max_chars"),
    ("SKILL_PREVIEW_MAX_CHARS", "skills.preview_max_chars"),
    ("ENABLE_NOTES", "notes.enable"),
    ("ENABLE_USER_WEBHOOKS", "ui.enable_user_webhooks"),
    ("ENABLE_USER_STATUS", "users.enable_status"),
    (
        "PENDING_USER_OVERLAY_TITLE",
        "ui.pending_user_overlay_title",
    ),
    (
        "PENDING_USER_OVERLAY_CONTENT",
        "ui.pending_user_overlay_content",
    ),
    ("RESPONSE_WATERMARK", "ui.watermark"),
];

#[derive(Deserialize)]
pub(super) struct AddUserForm {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    profile_image_url: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

pub(super) async fn add_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(form): JsonBody<AddUserForm>,
) -> ApiResult<Json<Value>> {
    let email = form.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::bad_request("The email address is not valid."));
    }
    check_new_password(&form.password)?;
    crate::limits::check_name("name", &form.name)?;
    let role = form.role.unwrap_or_else(|| "pending".into());
    if !["pending", "user", "admin"].contains(&role.as_str()) {
        return Err(ApiError::bad_request(
            "role must be pending, user or admin.",
        ));
    }
    let image = form.profile_image_url;
    let user = create_from_form(&state, &form.name, &email, &form.password, image, &role).await?;
    let created = crate::notify::Event::new("user.created", Some(&admin.user))
        .subject("user", &user.id)
        .source("admin")
        .data(json!({"role": user.role}));
    crate::notify::publish(&state, created);
    let (token, _) = issue_token(&state, &user.id).await?;
    Ok(Json(json!({
        "token": token,
        "token_type": "Bearer",
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "profile_image_url": profile_image_path(&user.id),
    })))
}

pub(super) async fn admin_details(
    State(state): State<AppState>,
    AuthUser(_c): AuthUser,
) -> ApiResult<Json<Value>> {
    if !state.config.get_bool("auth.admin.show") {
        return Err(ApiError::bad_request(
            "Admin details are hidden on this server.",
        ));
    }
    let configured = state.config.get("auth.admin.email");
    let admin = state.db.read(db::users::first_admin).await?;
    let email = match configured {
        Value::String(s) if !s.is_empty() => s,
        _ => admin.as_ref().map(|a| a.email.clone()).unwrap_or_default(),
    };
    Ok(Json(json!({
        "name": admin.map(|a| a.name).unwrap_or_default(),
        "email": email,
    })))
}

fn admin_config_values(state: &AppState) -> Value {
    let mut m = Map::new();
    for (wire, key) in ADMIN_CONFIG_KEYS {
        m.insert(wire.to_string(), state.config.get(key));
    }
    Value::Object(m)
}

pub(super) async fn get_admin_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    Json(admin_config_values(&state))
}

fn expiry_is_valid(s: &str) -> bool {
    s == "-1" || s == "0" || jwt::parse_expiry(s).is_some()
}

pub(super) async fn set_admin_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut updates: Vec<(&'static str, Value)> = Vec::new();
    for (wire, key) in ADMIN_CONFIG_KEYS {
        let Some(v) = form.get(*wire) else { continue };
        let current = state.config.get(key);
        let v = match *wire {
            "DEFAULT_USER_ROLE" if !matches!(v.as_str(), Some("pending" | "user" | "admin")) => {
                continue
            }
            "CHANNEL_MODEL_RESPONSE_MODE" if !matches!(v.as_str(), Some("thread" | "channel")) => {
                continue
            }
            "JWT_EXPIRES_IN" if !v.as_str().is_some_and(expiry_is_valid) => continue,
            "DEFAULT_INTERFACE_SETTINGS" if v.is_null() => json!({}),
            "FOLDER_MAX_FILE_COUNT" | "AUTOMATION_MAX_COUNT" | "AUTOMATION_MIN_INTERVAL" => match v
            {
                Value::Number(_) => v.clone(),
                Value::String(s) if s.trim().is_empty() => json!(""),
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(n) => json!(n),
                    Err(_) => {
                        return Err(ApiError::bad_request(format!(
                            "{wire} must be a whole number or empty."
                        )))
                    }
                },
                Value::Null => json!(""),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "{wire} must be a whole number or empty."
                    )))
                }
            },
            _ => v.clone(),
        };
        // Keep stored types stable: a boolean setting only accepts booleans.
        if current.is_boolean() && !v.is_boolean() {
            return Err(ApiError::bad_request(format!(
                "{wire} must be true or false."
            )));
        }
        updates.push((key, v));
    }
    state.config.set_many(updates).await?;
    let mut out = admin_config_values(&state);
    out.as_object_mut()
        .expect("object")
        .insert("sessions_revoked".into(), json!(false));
    Ok(Json(out))
}
