//! Extractors that turn a request into the calling user: where the request
//! carries its credential, and the refusal (with a stale cookie cleared) when
//! `crate::auth::credentials` does not accept it.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::auth::caller::Caller;
use crate::auth::credentials::resolve;
use crate::auth::permissions::ACCESS_PROHIBITED;
use crate::error::ApiError;
use crate::state::AppState;

pub fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Where a request carries its credentials, in upstream's order of preference.
pub fn token_from_parts(parts: &Parts) -> Option<String> {
    token_from_headers(&parts.headers)
}

/// `Authorization: Bearer …`, else the `token` cookie, else `x-api-key`.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some((scheme, cred)) = v.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") && !cred.trim().is_empty() {
                return Some(cred.trim().to_string());
            }
        }
    }
    if let Some(t) = cookie_token_in(headers) {
        return Some(t);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn cookie_token(parts: &Parts) -> Option<String> {
    cookie_token_in(&parts.headers)
}

fn cookie_token_in(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, "token"))
        .filter(|t| !t.is_empty())
}

/// The path a request was made to, before any router nesting stripped it.
fn request_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<OriginalUri>()
        .map(|u| u.0.path())
        .unwrap_or_else(|| parts.uri.path())
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
        .and_then(|c| matches_trusted_header(parts, state, c))
        .map_err(|error| AuthRejection {
            clear_cookie: cookie_token(parts).is_some()
                && matches!(error, ApiError::Unauthorized(_)),
            error,
        })
}

/// Behind a trusted proxy, a session token presented next to the proxy's
/// header for someone else is refused (API keys are not the proxy's concern).
fn matches_trusted_header(
    parts: &Parts,
    state: &AppState,
    caller: Caller,
) -> Result<Caller, ApiError> {
    let Some(header) = state.settings.trusted.email.as_deref() else {
        return Ok(caller);
    };
    if caller.via_api_key {
        return Ok(caller);
    }
    let named = parts
        .headers
        .get(header)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_lowercase())
        .unwrap_or_default();
    if named.is_empty() || named == caller.user.email {
        Ok(caller)
    } else {
        Err(ApiError::unauthorized(
            "This session belongs to someone other than the proxy names. Sign in again.",
        ))
    }
}

/// The caller, refused with a 401 unless their role is one of `roles`.
async fn caller_with_role(
    parts: &Parts,
    state: &AppState,
    roles: &[&str],
) -> Result<Caller, AuthRejection> {
    let c = caller(parts, state).await?;
    if roles.contains(&c.user.role.as_str()) {
        Ok(c)
    } else {
        Err(ApiError::unauthorized(ACCESS_PROHIBITED).into())
    }
}

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
        caller_with_role(parts, state, &["user", "admin"])
            .await
            .map(VerifiedUser)
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AuthRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller_with_role(parts, state, &["admin"])
            .await
            .map(AdminUser)
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
        let found = resolve(state, &token, request_path(parts))
            .await
            .and_then(|c| matches_trusted_header(parts, state, c));
        Ok(OptionalUser(found.ok()))
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
}
