//! Signing in (also without authentication), up and out, and the current
//! session.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::api::client::ClientIp;
use crate::api::error_response::JsonBody;
use crate::api::extract::{token_from_headers, SessionUser};
use crate::auth::session::{check_password, issue_token};
use crate::auth::{mfa, trusted};
use crate::db::{self, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::{
    check_new_password, create_from_form, create_user, no_store, session_response, valid_email,
};

pub(super) async fn session(
    State(state): State<AppState>,
    SessionUser(caller): SessionUser,
) -> ApiResult<Response> {
    // Answering with the presented token also re-sets the cookie that `<img>` URLs need.
    let exp = caller.claims.as_ref().and_then(|c| c.exp);
    session_response(&state, &caller.user, caller.token.clone(), exp, true).await
}

#[derive(Deserialize)]
pub(super) struct SigninForm {
    email: String,
    password: String,
}

pub(super) async fn signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(form): JsonBody<SigninForm>,
) -> ApiResult<Response> {
    if !state.settings.enable_password_auth {
        return Err(ApiError::forbidden(
            "Password sign-in is disabled on this server.",
        ));
    }
    if let Some(header) = state.settings.trusted.email.as_deref() {
        return trusted_signin(&state, &headers, header).await;
    }
    if !state.settings.webui_auth {
        return signin_without_auth(&state).await;
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
    finish_signin(&state, &outcome?, "password").await
}

/// Issues the session, or with the MFA policy on opens the second step
/// (auth/mfa.rs) instead; a trusted proxy may be allowed to skip it.
async fn finish_signin(state: &AppState, user: &UserRow, source: &str) -> ApiResult<Response> {
    let bypass = source == "trusted_header"
        && state
            .config
            .get_bool("auth.mfa.allow_trusted_header_bypass");
    if state.config.get_bool("auth.mfa.enable") && !bypass {
        let body = mfa::start_login(state, &user.id, &user.role, source).await?;
        return Ok(no_store(Json(body).into_response()));
    }
    let (token, exp) = issue_token(state, &user.id).await?;
    session_response(state, user, token, exp, false).await
}

/// A header's text; bytes that are not ASCII are read as UTF-8.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The proxy named the person in `email_header` (auth/trusted.rs).
async fn trusted_signin(
    state: &AppState,
    headers: &HeaderMap,
    email_header: &str,
) -> ApiResult<Response> {
    let Some(email) = header_text(headers, email_header) else {
        return Err(ApiError::bad_request(
            "The trusted sign-in header is missing from the request.",
        ));
    };
    let t = &state.settings.trusted;
    let identity = trusted::Identity {
        email,
        name: t.name.as_deref().and_then(|h| header_text(headers, h)),
        groups: t.groups.as_deref().and_then(|h| header_text(headers, h)),
        role: t.role.as_deref().and_then(|h| header_text(headers, h)),
    };
    let user = trusted::sign_in(state, identity).await?;
    finish_signin(state, &user, "trusted_header").await
}

#[derive(Deserialize)]
pub(super) struct LdapForm {
    user: String,
    password: String,
}

/// `POST /api/v1/auths/ldap`: the directory decides (auth/ldap.rs).
pub(super) async fn ldap_signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(form): JsonBody<LdapForm>,
) -> ApiResult<Response> {
    if !state.config.get_bool("ldap.enable") {
        return Err(ApiError::bad_request("LDAP sign-in is not enabled."));
    }
    if !state.settings.enable_password_auth {
        return Err(ApiError::forbidden(
            "Password sign-in is disabled on this server.",
        ));
    }
    let key = format!("ldap:{}", form.user.trim().to_lowercase());
    if !state.signin_limiter.allows(ip, &key) {
        return Err(ApiError::TooManyRequests(
            "Too many failed sign-in attempts. Wait a few minutes and try again.".into(),
        ));
    }
    let outcome = crate::auth::ldap::sign_in(&state, &form.user, &form.password).await;
    if matches!(&outcome, Err(ApiError::BadRequest(_))) {
        state.signin_limiter.failed(ip, &key);
    }
    finish_signin(&state, &outcome?, "ldap").await
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
                "Authentication cannot be turned off on a server with existing users. \
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
                &crate::accounts::default_role(state),
            )
            .await?
        }
    };
    let (token, exp) = issue_token(state, &user.id).await?;
    session_response(state, &user, token, exp, false).await
}

#[derive(Deserialize)]
pub(super) struct SignupForm {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    profile_image_url: Option<String>,
}

pub(super) async fn signup(
    State(state): State<AppState>,
    JsonBody(form): JsonBody<SignupForm>,
) -> ApiResult<Response> {
    let has_users = state.db.read(db::users::count).await? > 0;
    if !state.settings.webui_auth && has_users {
        return Err(ApiError::forbidden(
            "Sign-up is not available when authentication is turned off.",
        ));
    }
    let login_form = state.config.get_bool("ui.enable_login_form");
    let closed = if has_users {
        !state.config.get_bool("ui.enable_signup") || !login_form
    } else {
        !login_form && !state.settings.enable_initial_admin_signup
    };
    if state.settings.webui_auth && closed {
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
    let role = crate::accounts::default_role(&state);
    let image = form.profile_image_url;
    let user = create_from_form(&state, &form.name, &email, &form.password, image, &role).await?;
    let created = crate::notify::Event::new("user.created", Some(&user))
        .subject("user", &user.id)
        .data(json!({"role": user.role}));
    crate::notify::publish(&state, created);
    let signup = crate::notify::Event::new("auth.signup", Some(&user))
        .subject("user", &user.id)
        .data(json!({"email": user.email}));
    crate::notify::publish(&state, signup);
    let (token, exp) = issue_token(&state, &user.id).await?;
    session_response(&state, &user, token, exp, false).await
}

/// Clears the cookie and ends the presented session token for good (API
/// keys are not touched: they are deleted on their own route).
pub(super) async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = token_from_headers(&headers).filter(|t| !t.starts_with("sk-")) {
        crate::auth::session::revoke_token(&state, &token);
    }
    // Signed in through a provider: its end-session page comes next.
    let oauth_session = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| crate::api::extract::cookie_value(h, "oauth_session_id"))
        .filter(|s| !s.is_empty() && s.len() <= 64);
    let mut body = json!({"status": true});
    if let Some(sid) = &oauth_session {
        match crate::auth::oauth::end_session_url(&state, sid).await {
            Ok(Some(url)) => body["redirect_url"] = json!(url),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("cannot reach the identity provider to sign out: {e}");
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "Failed to sign out from the identity provider."
                )));
            }
        }
    }
    // Otherwise the page the deployment names for after sign-out, if any.
    if body.get("redirect_url").is_none() {
        if let Some(url) = &state.settings.signout_redirect_url {
            body["redirect_url"] = json!(url);
        }
    }
    let mut resp = Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        SET_COOKIE,
        HeaderValue::from_static("token=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"),
    );
    h.append(
        SET_COOKIE,
        HeaderValue::from_static("oauth_id_token=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"),
    );
    if oauth_session.is_some() {
        h.append(
            SET_COOKIE,
            HeaderValue::from_static(
                "oauth_session_id=; Max-Age=0; Path=/; HttpOnly; SameSite=lax",
            ),
        );
    }
    Ok(resp)
}
