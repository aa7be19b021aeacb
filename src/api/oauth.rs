//! OAuth / OpenID Connect sign-in routes (domain: src/auth/oauth/): the
//! redirect to the provider, its callback (cookies and the redirect to the
//! sign-in page the frontend expects), the provider's back-channel logout and
//! the SSO session routes.

use axum::extract::{Form, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, HOST, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::extract::{cookie_value, AdminUser, VerifiedUser};
use crate::auth::oauth::{self, sessions, Callback, Outcome};
use crate::db::now_secs;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The cookie binding a started login to the browser that started it.
const STATE_COOKIE: &str = "oauth_state";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/{provider}/login", get(login))
        .route("/oauth/{provider}/login/callback", get(callback))
        .route("/oauth/{provider}/callback", get(callback))
        .route("/oauth/backchannel-logout", post(backchannel_logout))
        .route("/api/v1/users/{user_id}/oauth/sessions", get(user_sessions))
        .route(
            "/api/v1/auths/oauth/sessions/{*provider}",
            delete(delete_own_session),
        )
}

/// How the browser reached us: `webui.url` when set, else its Host header.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let configured = state.config.get_str("webui.url");
    if !configured.trim().is_empty() {
        return configured.trim().trim_end_matches('/').to_string();
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && !h.contains(['/', '\\', '@', ' ']))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}:{}", state.settings.host, state.settings.port));
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

fn cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
    http_only: bool,
    path: &str,
) -> HeaderValue {
    let mut c = format!(
        "{name}={value}; Path={path}; SameSite={}",
        state.settings.cookie_same_site
    );
    if http_only {
        c.push_str("; HttpOnly");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={}", age.max(0)));
    }
    if state.settings.cookie_secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

fn redirect(status: StatusCode, location: &str) -> Response {
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn login(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let base = base_url(&state, &headers);
    let start = oauth::start_login(&state, &provider, &base).await?;
    let mut resp = redirect(StatusCode::FOUND, &start.location);
    let bind = cookie(
        &state,
        STATE_COOKIE,
        &start.state,
        Some(600),
        true,
        "/oauth",
    );
    resp.headers_mut().append(SET_COOKIE, bind);
    Ok(resp)
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Ok(Query(q)) = query else {
        return Err(ApiError::bad_request("The sign-in callback is malformed."));
    };
    let cookie_state = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, STATE_COOKIE));
    let cb = Callback {
        code: q.code,
        state: q.state,
        error: q.error,
        cookie_state,
    };
    let outcome = oauth::finish_login(&state, &provider, cb).await?;
    let landing = format!("{}/auth", base_url(&state, &headers));
    let clear_state = cookie(&state, STATE_COOKIE, "", Some(0), true, "/oauth");
    let mut resp = match outcome {
        Outcome::Refused(msg) => redirect(
            StatusCode::TEMPORARY_REDIRECT,
            &format!("{landing}?error={}", query_escape(&msg)),
        ),
        Outcome::Pending => redirect(
            StatusCode::TEMPORARY_REDIRECT,
            &format!("{landing}?pending=1"),
        ),
        Outcome::Mfa { challenge_token } => {
            let mut r = redirect(StatusCode::TEMPORARY_REDIRECT, &format!("{landing}?mfa=1"));
            let c = cookie(
                &state,
                "mfa_challenge",
                &challenge_token,
                Some(300),
                true,
                "/api/v1/auths/mfa",
            );
            r.headers_mut().append(SET_COOKIE, c);
            r
        }
        Outcome::SignedIn {
            token,
            exp,
            oauth_session_id,
            id_token,
            ..
        } => {
            let mut r = redirect(StatusCode::TEMPORARY_REDIRECT, &landing);
            let age = exp.map(|e| e - now_secs());
            let h = r.headers_mut();
            // The sign-in page reads this one from script, so it is not HttpOnly.
            h.append(SET_COOKIE, cookie(&state, "token", &token, age, false, "/"));
            if let Some(sid) = oauth_session_id {
                h.append(
                    SET_COOKIE,
                    cookie(&state, "oauth_session_id", &sid, age, true, "/"),
                );
            }
            if let Some(idt) = id_token.filter(|_| state.oauth.settings.id_token_cookie) {
                h.append(
                    SET_COOKIE,
                    cookie(&state, "oauth_id_token", &idt, age, true, "/"),
                );
            }
            r
        }
    };
    resp.headers_mut().append(SET_COOKIE, clear_state);
    Ok(resp)
}

#[derive(Deserialize)]
struct LogoutForm {
    logout_token: Option<String>,
}

/// Answers in the shape the back-channel logout spec asks for, not `{"detail"}`.
async fn backchannel_logout(
    State(state): State<AppState>,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !state.oauth.settings.backchannel_logout {
        return ApiError::NotFound("Not Found".into()).into_response();
    }
    let token = form.ok().and_then(|Form(f)| f.logout_token);
    match oauth::backchannel::logout(&state, token.as_deref()).await {
        Ok(()) => (StatusCode::OK, Json(json!({}))).into_response(),
        Err(why) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": why})),
        )
            .into_response(),
    }
}

async fn user_sessions(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let list = sessions::list_for_user(&state, &user_id).await?;
    if list.is_empty() {
        return Err(ApiError::bad_request(
            "No such user, or the user has no SSO session.",
        ));
    }
    Ok(Json(list))
}

async fn delete_own_session(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(provider): Path<String>,
) -> ApiResult<Json<bool>> {
    if !sessions::delete_for_provider(&state, &caller.user.id, &provider).await? {
        return Err(ApiError::NotFound(
            "No OAuth session found for this provider".into(),
        ));
    }
    let event = crate::notify::Event::new("auth.oauth_session.deleted", Some(&caller.user))
        .subject("user", &caller.user.id)
        .data(json!({"provider": provider}));
    crate::notify::publish(&state, event);
    Ok(Json(true))
}
