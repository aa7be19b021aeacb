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
use crate::auth::mfa;
use crate::auth::session::{check_password, issue_token};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::{
    check_image_url, check_new_password, create_user, no_store, session_response, valid_email,
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
