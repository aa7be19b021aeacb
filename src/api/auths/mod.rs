//! `/api/v1/auths`: sign-up, sign-in, the session, profile and password, admin
//! auth settings, adding users and API keys.

use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{extract::State, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::client::ClientIp;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, AuthUser, SessionUser, VerifiedUser};
use crate::auth::session::{self, check_password, issue_token, profile_image_path, Session};
use crate::auth::Caller;
use crate::auth::{jwt, mfa, password, permissions};
use crate::db::{self, now_secs, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auths/", get(session))
        .route("/api/v1/auths/signin", post(signin))
        .route("/api/v1/auths/signup", post(signup))
        .route("/api/v1/auths/signout", get(signout).post(signout))
        .route("/api/v1/auths/update/profile", post(update_profile))
        .route("/api/v1/auths/update/timezone", post(update_timezone))
        .route("/api/v1/auths/update/password", post(update_password))
        .route("/api/v1/auths/add", post(add_user))
        .route("/api/v1/auths/admin/details", get(admin_details))
        .route(
            "/api/v1/auths/admin/config",
            get(get_admin_config).post(set_admin_config),
        )
        .route(
            "/api/v1/auths/admin/config/ldap/server",
            get(get_ldap_server).post(set_ldap_server),
        )
        .route(
            "/api/v1/auths/admin/config/ldap",
            get(get_ldap_config).post(set_ldap_config),
        )
        .route(
            "/api/v1/auths/admin/config/oauth",
            get(get_oauth_config).post(set_oauth_config),
        )
        .route(
            "/api/v1/auths/api_key",
            get(get_api_key).post(create_api_key).delete(delete_api_key),
        )
}

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

/// The session object as the answer, with its cookie.
pub(crate) fn session_reply(session: Session) -> Response {
    let mut resp = Json(session.body).into_response();
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&session.cookie).expect("cookie is ASCII"),
    );
    resp
}

/// The session object the frontend keeps after sign-in, plus the cookie.
pub(crate) async fn session_response(
    state: &AppState,
    user: &UserRow,
    token: String,
    exp: Option<i64>,
    extended: bool,
) -> ApiResult<Response> {
    Ok(session_reply(
        session::open(state, user, token, exp, extended).await?,
    ))
}

/// Second-factor answers are never cached, refusals included.
pub(crate) fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn session(
    State(state): State<AppState>,
    SessionUser(caller): SessionUser,
) -> ApiResult<Response> {
    // Answering with the presented token also re-sets the cookie that `<img>` URLs need.
    let exp = caller.claims.as_ref().and_then(|c| c.exp);
    session_response(&state, &caller.user, caller.token.clone(), exp, true).await
}

#[derive(Deserialize)]
struct SigninForm {
    email: String,
    password: String,
}

async fn signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(form): JsonBody<SigninForm>,
) -> ApiResult<Response> {
    if !state.settings.webui_auth {
        return signin_without_auth(&state).await;
    }
    if !state.config.get_bool("ui.enable_login_form") {
        return Err(ApiError::forbidden(
            "Password sign-in is disabled on this server.",
        ));
    }
    let email = form.email.trim().to_lowercase();
    // Failures count per address and per (address, account), so failures from
    // elsewhere never lock the owner out; successes are not counted.
    if !state.signin_limiter.allows(ip, &email) {
        return Err(ApiError::TooManyRequests(
            "Too many failed sign-in attempts. Wait a few minutes and try again.".into(),
        ));
    }
    let outcome = check_password(&state, &email, form.password).await;
    if matches!(&outcome, Err(ApiError::BadRequest(_))) {
        state.signin_limiter.failed(ip, &email);
    }
    let user = outcome?;
    // MFA policy on: the password opens the second step (auth/mfa.rs), not a session.
    if state.config.get_bool("auth.mfa.enable") {
        let body = mfa::start_login(&state, &user.id, &user.role, "password").await?;
        return Ok(no_store(Json(body).into_response()));
    }
    let (token, exp) = issue_token(&state, &user.id).await?;
    session_response(&state, &user, token, exp, false).await
}

/// The account `WEBUI_AUTH=false` signs everyone in as, and its password.
const NO_AUTH_EMAIL: &str = "admin@localhost";
const NO_AUTH_PASSWORD: &str = "admin";

/// `WEBUI_AUTH=false`: everyone is the single local admin `admin@localhost`,
/// created on first use. A data folder that already has other accounts is
/// refused rather than handing out one of them.
async fn signin_without_auth(state: &AppState) -> ApiResult<Response> {
    let (existing, users) = state
        .db
        .read(|c| {
            Ok((
                db::users::get_by_email(c, NO_AUTH_EMAIL)?,
                db::users::count(c)?,
            ))
        })
        .await?;
    let user = match existing {
        Some(_) => check_password(state, NO_AUTH_EMAIL, NO_AUTH_PASSWORD.into()).await?,
        None if users > 0 => {
            return Err(ApiError::bad_request(
                "Authentication cannot be turned off while this server has accounts. \
                 WEBUI_AUTH=false needs a fresh data folder.",
            ))
        }
        None => {
            create_user(
                state,
                "User",
                NO_AUTH_EMAIL,
                NO_AUTH_PASSWORD,
                "/user.png",
                &default_role(state),
            )
            .await?
        }
    };
    let (token, exp) = issue_token(state, &user.id).await?;
    session_response(state, &user, token, exp, false).await
}

/// The role new sign-ups get (`DEFAULT_USER_ROLE`), pending when unknown.
fn default_role(state: &AppState) -> String {
    let role = state.config.get_str("ui.default_user_role");
    if ["pending", "user", "admin"].contains(&role.as_str()) {
        role
    } else {
        "pending".into()
    }
}

#[derive(Deserialize)]
struct SignupForm {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    profile_image_url: Option<String>,
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace())
        && !domain.contains('@')
}

pub(crate) fn check_new_password(pw: &str) -> ApiResult<()> {
    if pw.is_empty() {
        return Err(ApiError::bad_request("The password must not be empty."));
    }
    if pw.len() > password::BCRYPT_MAX_BYTES {
        return Err(ApiError::bad_request(
            "The password is too long: at most 72 bytes.",
        ));
    }
    Ok(())
}

pub(crate) fn check_image_url(url: &str) -> ApiResult<()> {
    crate::limits::check_image_url("profile_image_url", url)
}

/// Inserts the `user` and `auth` rows; the first account ever becomes admin and
/// closes sign-up, as upstream does.
async fn create_user(
    state: &AppState,
    name: &str,
    email: &str,
    pw: &str,
    image: &str,
    role: &str,
) -> ApiResult<UserRow> {
    let hash = password::hash_bounded(pw.to_string(), state.settings.password_hash_argon2).await?;
    let (id, stamp, now) = (db::new_id(), db::new_id(), now_secs());
    let default_group = state.config.get_str("ui.default_group_id");
    let (name, email, image, role) = (
        name.to_string(),
        email.to_string(),
        image.to_string(),
        role.to_string(),
    );
    let created = state
        .db
        .write(move |tx| {
            if db::users::get_by_email(tx, &email)?.is_some() {
                return Ok(None);
            }
            let first = db::users::count(tx)? == 0;
            let role = if first { "admin".to_string() } else { role };
            db::users::insert(
                tx,
                &db::users::NewUser {
                    id: &id,
                    name: &name,
                    email: &email,
                    role: &role,
                    profile_image_url: &image,
                    now,
                },
            )?;
            db::auths::insert(tx, &id, &email, &hash, &stamp)?;
            if !default_group.is_empty() && db::groups::get(tx, &default_group)?.is_some() {
                db::groups::add_members(tx, &default_group, std::slice::from_ref(&id), now)?;
            }
            Ok(Some((
                db::users::get(tx, &id)?.expect("just inserted"),
                first,
            )))
        })
        .await?;
    let Some((user, first)) = created else {
        return Err(ApiError::bad_request(
            "This email is already registered. Sign in instead, or use another email.",
        ));
    };
    if first {
        state
            .config
            .set("ui.enable_signup", Value::Bool(false))
            .await?;
    }
    Ok(user)
}

async fn signup(
    State(state): State<AppState>,
    JsonBody(form): JsonBody<SignupForm>,
) -> ApiResult<Response> {
    let has_users = state.db.read(db::users::count).await? > 0;
    if !state.settings.webui_auth && has_users {
        return Err(ApiError::forbidden(
            "Sign-up is not available when authentication is turned off.",
        ));
    }
    if state.settings.webui_auth
        && has_users
        && (!state.config.get_bool("ui.enable_signup")
            || !state.config.get_bool("ui.enable_login_form"))
    {
        return Err(ApiError::forbidden(
            "Sign-up is disabled on this server. Ask an administrator for an account.",
        ));
    }
    let email = form.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::bad_request("The email address is not valid."));
    }
    if form.name.trim().is_empty() {
        return Err(ApiError::bad_request("The name must not be empty."));
    }
    crate::limits::check_name("name", &form.name)?;
    check_new_password(&form.password)?;
    let image = form.profile_image_url.unwrap_or_else(|| "/user.png".into());
    check_image_url(&image)?;
    let role = default_role(&state);
    let user = create_user(
        &state,
        form.name.trim(),
        &email,
        &form.password,
        &image,
        &role,
    )
    .await?;
    let (token, exp) = issue_token(&state, &user.id).await?;
    session_response(&state, &user, token, exp, false).await
}

async fn signout() -> Response {
    let mut resp = Json(json!({"status": true})).into_response();
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("token=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"),
    );
    resp
}

#[derive(Deserialize)]
struct ProfileForm {
    name: String,
    profile_image_url: String,
    #[serde(default)]
    bio: Option<String>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    date_of_birth: Option<String>,
}

pub fn user_json(u: &UserRow) -> Value {
    json!({
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "profile_image_url": u.profile_image_url.clone().unwrap_or_else(|| profile_image_path(&u.id)),
        "username": u.username,
        "bio": u.bio,
        "gender": u.gender,
        "date_of_birth": u.date_of_birth,
        "timezone": u.timezone,
        "status_emoji": u.status_emoji,
        "status_message": u.status_message,
        "status_expires_at": u.status_expires_at,
        "info": u.info,
        "settings": u.settings,
        "last_active_at": u.last_active_at,
        "updated_at": u.updated_at,
        "created_at": u.created_at,
    })
}

async fn update_profile(
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
struct TimezoneForm {
    timezone: String,
}

async fn update_timezone(
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
struct PasswordForm {
    password: String,
    new_password: String,
}

async fn update_password(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(form): JsonBody<PasswordForm>,
) -> ApiResult<Json<bool>> {
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

#[derive(Deserialize)]
struct AddUserForm {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    profile_image_url: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

async fn add_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
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
    let image = form.profile_image_url.unwrap_or_else(|| "/user.png".into());
    check_image_url(&image)?;
    let user = create_user(
        &state,
        form.name.trim(),
        &email,
        &form.password,
        &image,
        &role,
    )
    .await?;
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

async fn admin_details(
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

async fn get_admin_config(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(admin_config_values(&state))
}

fn expiry_is_valid(s: &str) -> bool {
    s == "-1" || s == "0" || jwt::parse_expiry(s).is_some()
}

async fn set_admin_config(
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

async fn create_api_key(
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

async fn get_api_key(
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

async fn delete_api_key(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        assert!(valid_email("a@b.c"));
        assert!(valid_email("admin@localhost"));
        assert!(!valid_email("nope"));
        assert!(!valid_email("a b@c.d"));
        assert!(!valid_email("@c.d"));
        assert!(!valid_email("a@b@c"));
    }
}

// ------------------------------------------------------------ LDAP and OAuth settings
// Stored and returned in upstream's shapes; signing in through LDAP or OAuth is
// not part of this server (those endpoints answer 501 / are absent).

/// Wire field → config key of the LDAP server form.
const LDAP_SERVER_KEYS: &[(&str, &str)] = &[
    ("label", "ldap.server.label"),
    ("host", "ldap.server.host"),
    ("port", "ldap.server.port"),
    ("attribute_for_mail", "ldap.server.attribute_for_mail"),
    ("default_email_domain", "ldap.server.default_email_domain"),
    (
        "attribute_for_username",
        "ldap.server.attribute_for_username",
    ),
    ("app_dn", "ldap.server.app_dn"),
    ("app_dn_password", "ldap.server.app_password"),
    ("search_base", "ldap.server.users_dn"),
    ("search_filters", "ldap.server.search_filter"),
    ("use_tls", "ldap.server.use_tls"),
    ("certificate_path", "ldap.server.ca_cert_file"),
    ("validate_cert", "ldap.server.validate_cert"),
    ("ciphers", "ldap.server.ciphers"),
    ("enable_group_management", "ldap.group.enable_management"),
    ("enable_group_creation", "ldap.group.enable_creation"),
    ("attribute_for_groups", "ldap.server.attribute_for_groups"),
];

fn values_of(state: &AppState, keys: &[(&str, &str)]) -> Value {
    Value::Object(
        keys.iter()
            .map(|(wire, key)| (wire.to_string(), state.config.get(key)))
            .collect(),
    )
}

async fn get_ldap_server(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(values_of(&state, LDAP_SERVER_KEYS))
}

#[derive(Deserialize)]
struct LdapServerForm {
    label: String,
    host: String,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default = "ldap_mail_attr")]
    attribute_for_mail: String,
    #[serde(default)]
    default_email_domain: String,
    #[serde(default = "ldap_uid_attr")]
    attribute_for_username: String,
    app_dn: String,
    app_dn_password: String,
    search_base: String,
    #[serde(default)]
    search_filters: String,
    #[serde(default = "yes")]
    use_tls: bool,
    #[serde(default)]
    certificate_path: Option<String>,
    #[serde(default = "yes")]
    validate_cert: bool,
    #[serde(default = "ldap_ciphers")]
    ciphers: Option<String>,
    #[serde(default)]
    enable_group_management: bool,
    #[serde(default)]
    enable_group_creation: bool,
    #[serde(default = "ldap_groups_attr")]
    attribute_for_groups: String,
}

fn ldap_mail_attr() -> String {
    "mail".into()
}
fn ldap_uid_attr() -> String {
    "uid".into()
}
fn ldap_groups_attr() -> String {
    "memberOf".into()
}
fn ldap_ciphers() -> Option<String> {
    Some("ALL".into())
}
fn yes() -> bool {
    true
}

async fn set_ldap_server(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<LdapServerForm>,
) -> ApiResult<Json<Value>> {
    for (name, v) in [
        ("label", &f.label),
        ("host", &f.host),
        ("attribute_for_mail", &f.attribute_for_mail),
        ("attribute_for_username", &f.attribute_for_username),
        ("search_base", &f.search_base),
    ] {
        if v.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Required field {name} is empty"
            )));
        }
    }
    if f.enable_group_management && f.attribute_for_groups.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Required field attribute_for_groups is empty",
        ));
    }
    state
        .config
        .set_many(vec![
            ("ldap.server.label", json!(f.label)),
            ("ldap.server.host", json!(f.host)),
            ("ldap.server.port", json!(f.port)),
            (
                "ldap.server.attribute_for_mail",
                json!(f.attribute_for_mail),
            ),
            (
                "ldap.server.default_email_domain",
                json!(f.default_email_domain),
            ),
            (
                "ldap.server.attribute_for_username",
                json!(f.attribute_for_username),
            ),
            ("ldap.server.app_dn", json!(f.app_dn)),
            ("ldap.server.app_password", json!(f.app_dn_password)),
            ("ldap.server.users_dn", json!(f.search_base)),
            ("ldap.server.search_filter", json!(f.search_filters)),
            ("ldap.server.use_tls", json!(f.use_tls)),
            ("ldap.server.ca_cert_file", json!(f.certificate_path)),
            ("ldap.server.validate_cert", json!(f.validate_cert)),
            ("ldap.server.ciphers", json!(f.ciphers)),
            (
                "ldap.group.enable_management",
                json!(f.enable_group_management),
            ),
            ("ldap.group.enable_creation", json!(f.enable_group_creation)),
            (
                "ldap.server.attribute_for_groups",
                json!(f.attribute_for_groups),
            ),
        ])
        .await?;
    Ok(Json(values_of(&state, LDAP_SERVER_KEYS)))
}

async fn get_ldap_config(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(json!({"ENABLE_LDAP": state.config.get("ldap.enable")}))
}

#[derive(Deserialize)]
struct LdapToggleForm {
    #[serde(default)]
    enable_ldap: Option<bool>,
}

async fn set_ldap_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<LdapToggleForm>,
) -> ApiResult<Json<Value>> {
    state
        .config
        .set("ldap.enable", json!(f.enable_ldap))
        .await?;
    Ok(Json(
        json!({"ENABLE_LDAP": state.config.get("ldap.enable")}),
    ))
}

/// Wire field → config key of the OAuth/OIDC form, with the value a fresh
/// install reports when nothing was saved.
const OAUTH_KEYS: &[(&str, &str, &str)] = &[
    ("ENABLE_OAUTH", "oauth.enable", "false"),
    ("ENABLE_OAUTH_SIGNUP", "oauth.enable_signup", "false"),
    (
        "OAUTH_MERGE_ACCOUNTS_BY_EMAIL",
        "oauth.merge_accounts_by_email",
        "false",
    ),
    ("OAUTH_AUTO_REDIRECT", "oauth.auto_redirect", "false"),
    ("OAUTH_ALLOWED_DOMAINS", "oauth.allowed_domains", r#"["*"]"#),
    ("OAUTH_BLOCKED_GROUPS", "oauth.blocked_groups", r#""[]""#),
    (
        "ENABLE_OAUTH_ROLE_MANAGEMENT",
        "oauth.enable_role_mapping",
        "false",
    ),
    ("OAUTH_ROLES_CLAIM", "oauth.roles_claim", r#""roles""#),
    ("OAUTH_ADMIN_ROLES", "oauth.admin_roles", r#"["admin"]"#),
    (
        "OAUTH_ALLOWED_ROLES",
        "oauth.allowed_roles",
        r#"["user","admin"]"#,
    ),
    (
        "ENABLE_OAUTH_GROUP_MANAGEMENT",
        "oauth.enable_group_mapping",
        "false",
    ),
    (
        "ENABLE_OAUTH_GROUP_CREATION",
        "oauth.enable_group_creation",
        "false",
    ),
    ("OAUTH_GROUP_CLAIM", "oauth.group_claim", r#""groups""#),
    (
        "OAUTH_GROUP_DEFAULT_SHARE",
        "oauth.group_default_share",
        r#""members""#,
    ),
    ("OAUTH_PROVIDER_NAME", "oauth.provider_name", r#""SSO""#),
    ("OPENID_PROVIDER_URL", "oauth.provider_url", r#""""#),
    ("OAUTH_CLIENT_ID", "oauth.client_id", r#""""#),
    ("OAUTH_CLIENT_SECRET", "oauth.client_secret", r#""""#),
    ("OPENID_REDIRECT_URI", "oauth.redirect_uri", r#""""#),
    ("OAUTH_SCOPES", "oauth.scopes", r#""openid email profile""#),
    (
        "OAUTH_CODE_CHALLENGE_METHOD",
        "oauth.code_challenge_method",
        r#""""#,
    ),
    (
        "OAUTH_TOKEN_ENDPOINT_AUTH_METHOD",
        "oauth.token_endpoint_auth_method",
        r#""""#,
    ),
    (
        "OPENID_END_SESSION_ENDPOINT",
        "oauth.end_session_endpoint",
        r#""""#,
    ),
    ("OAUTH_TIMEOUT", "oauth.timeout", r#""""#),
    ("OAUTH_CLIENT_TIMEOUT", "oauth.client.timeout", r#""""#),
    ("OAUTH_EMAIL_CLAIM", "oauth.email_claim", r#""email""#),
    ("OAUTH_USERNAME_CLAIM", "oauth.username_claim", r#""name""#),
    ("OAUTH_PICTURE_CLAIM", "oauth.picture_claim", r#""picture""#),
    ("OAUTH_SUB_CLAIM", "oauth.sub_claim", r#""""#),
    ("OAUTH_AUDIENCE", "oauth.audience", r#""""#),
    (
        "OAUTH_UPDATE_EMAIL_ON_LOGIN",
        "oauth.update_email_on_login",
        "false",
    ),
    (
        "OAUTH_UPDATE_NAME_ON_LOGIN",
        "oauth.update_name_on_login",
        "false",
    ),
    (
        "OAUTH_UPDATE_PICTURE_ON_LOGIN",
        "oauth.update_picture_on_login",
        "false",
    ),
    (
        "OAUTH_REFRESH_TOKEN_INCLUDE_SCOPE",
        "oauth.refresh_token.include_scope",
        "false",
    ),
];

/// Lists kept as lists in the table but edited as comma text.
const OAUTH_COMMA_LISTS: &[&str] = &[
    "OAUTH_ALLOWED_DOMAINS",
    "OAUTH_ADMIN_ROLES",
    "OAUTH_ALLOWED_ROLES",
];

fn oauth_values(state: &AppState) -> Value {
    let mut m = Map::new();
    for (wire, key, default) in OAUTH_KEYS {
        let mut v = state.config.get(key);
        if v.is_null() {
            v = serde_json::from_str(default).unwrap_or(Value::Null);
        }
        if *wire == "OAUTH_BLOCKED_GROUPS" && v.is_array() {
            v = Value::String(v.to_string());
        } else if OAUTH_COMMA_LISTS.contains(wire) {
            if let Value::Array(items) = &v {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                v = Value::String(parts.join(","));
            }
        }
        m.insert(wire.to_string(), v);
    }
    m.insert("ENABLE_OAUTH_PERSISTENT_CONFIG".into(), Value::Bool(true));
    Value::Object(m)
}

async fn get_oauth_config(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(oauth_values(&state))
}

async fn set_oauth_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut updates: Vec<(&'static str, Value)> = Vec::new();
    for (wire, key, _) in OAUTH_KEYS {
        let Some(v) = form.get(*wire) else { continue };
        if v.is_null() {
            continue;
        }
        let v = match v {
            Value::String(s) if OAUTH_COMMA_LISTS.contains(wire) => Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        updates.push((key, v));
    }
    state.config.set_many(updates).await?;
    Ok(Json(oauth_values(&state)))
}
