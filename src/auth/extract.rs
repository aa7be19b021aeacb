//! Extractors that turn a request into the calling user.
//!
//! The token comes from `Authorization: Bearer …`, else the `token` cookie, else
//! `x-api-key`. A value starting with `sk-` is an API key; anything else must be
//! a session JWT whose `session_stamp` still matches the user's `auth` row.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::jwt::{self, Claims};
use super::permissions;
use crate::db::{self, users::UserRow};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    pub via_api_key: bool,
    pub claims: Option<Claims>,
    /// The credential as presented (JWT or API key).
    pub token: String,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.user.role == "admin"
    }
    pub fn id(&self) -> &str {
        &self.user.id
    }
}

pub fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Where a request carries its credentials, in upstream's order of preference.
pub fn token_from_parts(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some((scheme, cred)) = v.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") && !cred.trim().is_empty() {
                return Some(cred.trim().to_string());
            }
        }
    }
    if let Some(t) = cookie_token(parts) {
        return Some(t);
    }
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, "token"))
        .filter(|t| !t.is_empty())
}

/// A valid session JWT's user, or None. Used by the socket too.
pub async fn user_from_jwt(state: &AppState, token: &str) -> Option<(UserRow, Claims)> {
    let claims = jwt::decode_token(&state.settings.secret_key, token)?;
    user_from_claims(state, claims).await
}

/// The user of already verified claims, if the session is still valid.
async fn user_from_claims(state: &AppState, claims: Claims) -> Option<(UserRow, Claims)> {
    if !matches!(claims.typ.as_str(), "session" | "automation" | "subagent") {
        return None;
    }
    let id = claims.id.clone();
    let (user, auth) = state
        .db
        .read(move |c| Ok((db::users::get(c, &id)?, db::auths::get(c, &id)?)))
        .await
        .ok()?;
    let user = user?;
    // The stamp check revokes tokens after a password change or sign-out-everywhere.
    let stored = auth.and_then(|a| a.session_stamp);
    if stored.is_some() && stored != claims.session_stamp {
        return None;
    }
    // While the MFA policy applies to how this session was opened, only sessions
    // that passed the second step count, and only while the account still has
    // a usable authenticator (switching MFA on locks out older sessions).
    if claims.typ == "session" && mfa_required(state, claims.auth_method.as_deref()) {
        let id = claims.id.clone();
        let mfa = state
            .db
            .read(move |c| db::mfa::get(c, &id))
            .await
            .ok()
            .flatten()
            .map(|a| a.mfa);
        let usable = mfa.is_some_and(|m| m.secret.is_some() && !m.reset_required);
        if !claims.mfa_verified || !usable {
            return None;
        }
    }
    Some((user, claims))
}

/// Whether the MFA policy covers sessions opened with `auth_method`
/// (OAuth and trusted-header sign-ins may be exempted by the admin).
fn mfa_required(state: &AppState, auth_method: Option<&str>) -> bool {
    if !state.config.get_bool("auth.mfa.enable") {
        return false;
    }
    match auth_method.unwrap_or("") {
        "oauth" => !state.config.get_bool("auth.mfa.allow_oauth_bypass"),
        "trusted_header" => !state
            .config
            .get_bool("auth.mfa.allow_trusted_header_bypass"),
        _ => true,
    }
}

/// The path a request was made to, before any router nesting stripped it.
fn request_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<OriginalUri>()
        .map(|u| u.0.path())
        .unwrap_or_else(|| parts.uri.path())
}

async fn resolve(state: &AppState, token: &str, path: &str) -> Result<Caller, ApiError> {
    if token.starts_with("sk-") {
        return resolve_api_key(state, token, path).await;
    }
    let Some(claims) = jwt::decode_token(&state.settings.secret_key, token) else {
        return Err(ApiError::unauthorized("Invalid token"));
    };
    let Some((user, claims)) = user_from_claims(state, claims).await else {
        return Err(ApiError::unauthorized(
            "Your session has expired or the token is invalid. Please sign in again.",
        ));
    };
    touch_last_active(state, &user);
    Ok(Caller {
        user,
        via_api_key: false,
        claims: Some(claims),
        token: token.to_string(),
    })
}

/// The allowed-path list of `API_KEYS_ALLOWED_ENDPOINTS`: comma-separated
/// paths, blanks ignored (a JSON list is read the same way).
pub fn allowed_endpoints(value: &serde_json::Value) -> Vec<String> {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A path is reachable when it is an allowed entry or lies below one
/// (`/api/v1/chats` allows `/api/v1/chats/…` but not `/api/v1/chatsx`).
pub fn endpoint_allowed(allowed: &[String], path: &str) -> bool {
    allowed.iter().any(|a| {
        path == a
            || path
                .strip_prefix(a.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

const KEY_PATH_REFUSED: &str = "This API key may not be used for this endpoint.";

async fn resolve_api_key(state: &AppState, key: &str, path: &str) -> Result<Caller, ApiError> {
    if !state.config.get_bool("auth.enable_api_keys") {
        return Err(ApiError::forbidden(
            "API keys are not enabled on this server.",
        ));
    }
    let k = key.to_string();
    let found = state
        .db
        .read(move |c| {
            let Some(row) = db::api_keys::find(c, &k)? else {
                return Ok(None);
            };
            Ok(db::users::get(c, &row.user_id)?.map(|u| (u, row.expires_at)))
        })
        .await?;
    let Some((user, expires_at)) = found else {
        return Err(ApiError::unauthorized("Invalid API key."));
    };
    if expires_at.is_some_and(|e| e > 0 && e < db::now_secs()) {
        return Err(ApiError::unauthorized("This API key has expired."));
    }
    if user.role != "admin" {
        let perms = permissions::effective(state, &user.id).await?;
        if !permissions::allows(&perms, "features.api_keys") {
            return Err(ApiError::forbidden("Your account may not use API keys."));
        }
    }
    // Checked here rather than in a middleware, so it holds however the key
    // was presented (header, cookie or x-api-key).
    if state.config.get_bool("auth.api_key.endpoint_restrictions") {
        let allowed = allowed_endpoints(&state.config.get("auth.api_key.allowed_endpoints"));
        if !endpoint_allowed(&allowed, path) {
            return Err(ApiError::forbidden(KEY_PATH_REFUSED));
        }
    }
    let (db2, k) = (state.db.clone(), key.to_string());
    tokio::spawn(async move {
        let now = db::now_secs();
        let _ = db2.write(move |tx| db::api_keys::touch(tx, &k, now)).await;
    });
    Ok(Caller {
        user,
        via_api_key: true,
        claims: None,
        token: key.to_string(),
    })
}

/// Refreshes `user.last_active_at` at most once a minute per user, off the request path.
fn touch_last_active(state: &AppState, user: &UserRow) {
    let now = db::now_secs();
    if user.last_active_at.is_some_and(|t| now - t < 60) {
        return;
    }
    let (db2, id) = (state.db.clone(), user.id.clone());
    tokio::spawn(async move {
        let _ = db2
            .write(move |tx| db::users::touch_last_active(tx, &id, now))
            .await;
    });
}

/// An auth failure; also clears a stale `token` cookie, as upstream does.
pub struct AuthRejection {
    error: ApiError,
    clear_cookie: bool,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut resp = self.error.into_response();
        if self.clear_cookie {
            resp.headers_mut().append(
                SET_COOKIE,
                HeaderValue::from_static("token=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"),
            );
        }
        resp
    }
}

impl From<ApiError> for AuthRejection {
    fn from(error: ApiError) -> Self {
        AuthRejection {
            error,
            clear_cookie: false,
        }
    }
}

async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, AuthRejection> {
    let Some(token) = token_from_parts(parts) else {
        return Err(ApiError::unauthorized("Not authenticated").into());
    };
    resolve(state, &token, request_path(parts))
        .await
        .map_err(|error| AuthRejection {
            clear_cookie: cookie_token(parts).is_some()
                && matches!(error, ApiError::Unauthorized(_)),
            error,
        })
}

const LOW_ROLE: &str =
    "You do not have permission to access this resource. Please ask your administrator for access.";

/// Any signed-in account, pending ones included.
pub struct AuthUser(pub Caller);
/// A `user` or `admin`.
pub struct VerifiedUser(pub Caller);
/// An `admin`.
pub struct AdminUser(pub Caller);
/// Any signed-in account, but through a human session (no API keys).
pub struct SessionUser(pub Caller);
/// The caller if the request carries valid credentials.
pub struct OptionalUser(pub Option<Caller>);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AuthRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller(parts, state).await.map(AuthUser)
    }
}

impl FromRequestParts<AppState> for VerifiedUser {
    type Rejection = AuthRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let c = caller(parts, state).await?;
        if c.user.role == "user" || c.user.role == "admin" {
            Ok(VerifiedUser(c))
        } else {
            Err(ApiError::unauthorized(LOW_ROLE).into())
        }
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AuthRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let c = caller(parts, state).await?;
        if c.user.role == "admin" {
            Ok(AdminUser(c))
        } else {
            Err(ApiError::unauthorized(LOW_ROLE).into())
        }
    }
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = AuthRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let c = caller(parts, state).await?;
        if c.via_api_key {
            return Err(ApiError::forbidden("A human session is required.").into());
        }
        Ok(SessionUser(c))
    }
}

impl FromRequestParts<AppState> for OptionalUser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = token_from_parts(parts) else {
            return Ok(OptionalUser(None));
        };
        Ok(OptionalUser(
            resolve(state, &token, request_path(parts)).await.ok(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        assert_eq!(
            cookie_value("a=1; token=abc; b=2", "token").as_deref(),
            Some("abc")
        );
        assert_eq!(cookie_value("xtoken=1", "token"), None);
    }

    #[test]
    fn allowed_endpoint_list_and_matching() {
        let list = allowed_endpoints(&serde_json::json!(" /api/v1/chats, ,/api/models ,"));
        assert_eq!(list, vec!["/api/v1/chats", "/api/models"]);
        assert!(endpoint_allowed(&list, "/api/v1/chats"));
        assert!(endpoint_allowed(&list, "/api/v1/chats/"));
        assert!(endpoint_allowed(&list, "/api/v1/chats/abc/tags"));
        assert!(endpoint_allowed(&list, "/api/models"));
        assert!(!endpoint_allowed(&list, "/api/v1/chatsx"));
        assert!(!endpoint_allowed(&list, "/api/v1/auths/"));
        assert!(!endpoint_allowed(&[], "/api/models"));
        let arr = allowed_endpoints(&serde_json::json!(["/a", " /b "]));
        assert_eq!(arr, vec!["/a", "/b"]);
    }
}
