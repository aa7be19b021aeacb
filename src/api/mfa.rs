//! `/api/v1/auths/mfa/*`: the routes of the authenticator-app second factor
//! (the steps themselves are in `crate::auth::mfa`). Nothing they answer may be
//! cached; a passed sign-in step answers like a password sign-in.

use axum::extract::State;
use axum::http::header::{COOKIE, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auths::{no_store, session_reply};
use crate::api::error_response::JsonBody;
use crate::api::extract::SessionUser;
use crate::auth::mfa::{self, invalid_request, Passed};
use crate::auth::session;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const CHALLENGE_COOKIE: &str = "mfa_challenge";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auths/mfa/status", get(status))
        .route("/api/v1/auths/mfa/challenge", post(challenge_from_cookie))
        .route("/api/v1/auths/mfa/enroll/start", post(enroll_start))
        .route("/api/v1/auths/mfa/enroll/confirm", post(enroll_confirm))
        .route("/api/v1/auths/mfa/verify", post(verify))
        .route("/api/v1/auths/mfa/replace", post(replace))
        .route(
            "/api/v1/auths/mfa/recovery/codes",
            post(recovery_codes_route),
        )
        .route("/api/v1/auths/mfa/recover", post(recover))
        // Nothing these routes answer may be cached, refusals included.
        .layer(axum::middleware::map_response(|resp: Response| async {
            no_store(resp)
        }))
}

fn clear_cookie(resp: &mut Response) {
    resp.headers_mut().append(
        SET_COOKIE,
        HeaderValue::from_static(
            "mfa_challenge=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/api/v1/auths/mfa; SameSite=lax",
        ),
    );
}

/// Opens the session of a passed second step, optionally with an extra
/// top-level field, and clears the challenge cookie.
async fn finish_login(
    state: &AppState,
    passed: Passed,
    extra: Option<(&str, Value)>,
) -> ApiResult<Response> {
    let mut opened = session::open(state, &passed.user, passed.token, passed.exp, false).await?;
    if let Some((key, value)) = extra {
        opened.body[key] = value;
    }
    let mut resp = session_reply(opened);
    clear_cookie(&mut resp);
    Ok(no_store(resp))
}

// ---------------------------------------------------------------- forms

/// The JSON body of an MFA route. Any malformed body gets upstream's one
/// generic 422, so the refusal says nothing about which field was wrong.
struct MfaForm<T>(T);

impl<S, T> axum::extract::FromRequest<S> for MfaForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match JsonBody::<T>::from_request(req, state).await {
            Ok(JsonBody(v)) => Ok(MfaForm(v)),
            Err(ApiError::PayloadTooLarge(m)) => Err(ApiError::PayloadTooLarge(m)),
            Err(_) => Err(invalid_request()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeForm {
    challenge_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyForm {
    challenge_token: String,
    code: String,
    #[serde(default)]
    recovery: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactorForm {
    code: String,
    #[serde(default)]
    recovery: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverForm {
    challenge_token: String,
    reset_token: String,
}

// ---------------------------------------------------------------- handlers

async fn status(
    State(state): State<AppState>,
    SessionUser(caller): SessionUser,
) -> ApiResult<Response> {
    let body = mfa::status(&state, &caller).await?;
    Ok(no_store(Json(body).into_response()))
}

async fn challenge_from_cookie(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let configured = state.config.get_str("webui.url");
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = if configured.is_empty() {
        format!("http://{host}")
    } else {
        let t = configured.trim_end_matches('/');
        match t
            .find("://")
            .and_then(|i| t[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(end) => t[..end].to_string(),
            None => t.to_string(),
        }
    };
    if origin != Some(expected.as_str()) {
        return Err(ApiError::forbidden("Invalid request origin."));
    }
    let token = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == CHALLENGE_COOKIE)
        .map(|(_, v)| v.trim_matches('"').to_string())
        .unwrap_or_default();
    let mut resp = match mfa::pending_challenge(&state, &token).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    clear_cookie(&mut resp);
    Ok(no_store(resp))
}

async fn enroll_start(
    State(state): State<AppState>,
    MfaForm(form): MfaForm<ChallengeForm>,
) -> ApiResult<Response> {
    let body = mfa::enroll_start(&state, &form.challenge_token).await?;
    Ok(no_store(Json(body).into_response()))
}

async fn enroll_confirm(
    State(state): State<AppState>,
    MfaForm(form): MfaForm<VerifyForm>,
) -> ApiResult<Response> {
    match mfa::enroll_confirm(&state, &form.challenge_token, &form.code).await? {
        mfa::Enrolled::Replaced { recovery_codes } => Ok(no_store(
            Json(json!({ "recovery_codes": recovery_codes })).into_response(),
        )),
        mfa::Enrolled::SignedIn {
            passed,
            recovery_codes,
        } => {
            finish_login(
                &state,
                *passed,
                Some(("recovery_codes", json!(recovery_codes))),
            )
            .await
        }
    }
}

async fn verify(
    State(state): State<AppState>,
    MfaForm(form): MfaForm<VerifyForm>,
) -> ApiResult<Response> {
    let passed = mfa::verify(&state, &form.challenge_token, &form.code, form.recovery).await?;
    finish_login(&state, passed, None).await
}

async fn replace(
    State(state): State<AppState>,
    SessionUser(caller): SessionUser,
    MfaForm(form): MfaForm<FactorForm>,
) -> ApiResult<Response> {
    let body = mfa::replace(&state, &caller, &form.code, form.recovery).await?;
    Ok(no_store(Json(body).into_response()))
}

async fn recovery_codes_route(
    State(state): State<AppState>,
    SessionUser(caller): SessionUser,
    MfaForm(form): MfaForm<FactorForm>,
) -> ApiResult<Response> {
    let codes = mfa::regenerate_recovery_codes(&state, &caller, &form.code, form.recovery).await?;
    Ok(no_store(
        Json(json!({ "recovery_codes": codes })).into_response(),
    ))
}

async fn recover(
    State(state): State<AppState>,
    MfaForm(form): MfaForm<RecoverForm>,
) -> ApiResult<Response> {
    let body = mfa::recover(&state, &form.challenge_token, &form.reset_token).await?;
    Ok(no_store(Json(body).into_response()))
}
