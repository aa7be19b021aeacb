//! The authorization-code flow: the redirect to the provider, and the
//! callback that checks the state, exchanges the code, verifies the ID token,
//! reads userinfo and hands the claims to `account`.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::account::{self, Refusal};
use super::id_token::{self, Expect, JwtError};
use super::providers::ProviderConfig;
use super::{guard, random_token, sessions, OAuth, Pending};
use crate::auth::{mfa, session};
use crate::db::users::UserRow;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a started login may take to come back.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Logins waiting at once; the oldest go first past this.
const MAX_PENDING: usize = 10_000;

pub const LOGIN_FAILED: &str =
    "Signing in with the identity provider failed. Please try again or contact your administrator.";
const STATE_INVALID: &str =
    "This sign-in link is not valid: it expired, was already used or belongs to another browser. Start the sign-in again.";
const UNREACHABLE: &str = "The identity provider could not be reached. Try again later.";

/// Where to send the browser, and the state to remember in its cookie.
pub struct LoginStart {
    pub location: String,
    pub state: String,
}

/// What the provider sent back to the callback.
#[derive(Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// The state cookie the browser presented.
    pub cookie_state: Option<String>,
}

/// How a callback ends.
pub enum Outcome {
    SignedIn {
        user: Box<UserRow>,
        token: String,
        exp: Option<i64>,
        oauth_session_id: Option<String>,
        id_token: Option<String>,
    },
    /// The second factor comes next (MFA policy on).
    Mfa { challenge_token: String },
    /// The account waits for an admin's approval.
    Pending,
    /// Refused: shown to the user on the sign-in page.
    Refused(String),
}

fn provider<'a>(state: &'a AppState, name: &str) -> ApiResult<&'a ProviderConfig> {
    if !state.config.get_bool("oauth.enable") {
        return Err(ApiError::NotFound("Not Found".into()));
    }
    state
        .oauth
        .settings
        .provider(name)
        .ok_or_else(|| ApiError::NotFound("Not Found".into()))
}

fn redirect_uri(p: &ProviderConfig, base_url: &str) -> String {
    if p.redirect_uri.is_empty() {
        format!(
            "{}/oauth/{}/login/callback",
            base_url.trim_end_matches('/'),
            p.name
        )
    } else {
        p.redirect_uri.clone()
    }
}

fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The redirect to the provider's authorize page. `base_url` is how the
/// browser reaches this server (for the default callback URL).
pub async fn start_login(state: &AppState, name: &str, base_url: &str) -> ApiResult<LoginStart> {
    let p = provider(state, name)?;
    let oauth = &state.oauth;
    let ep = oauth.endpoints(p).await.map_err(|e| {
        tracing::warn!(provider = name, "cannot start an OAuth login: {e}");
        ApiError::BadGateway(UNREACHABLE.into())
    })?;
    let mut url =
        reqwest::Url::parse(&ep.authorize).map_err(|_| ApiError::BadGateway(UNREACHABLE.into()))?;
    let (st, nonce, verifier) = (random_token(), random_token(), random_token());
    let redirect = redirect_uri(p, base_url);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code");
        q.append_pair("client_id", &p.client_id);
        q.append_pair("redirect_uri", &redirect);
        q.append_pair("scope", &p.scope);
        q.append_pair("state", &st);
        if p.is_openid() {
            q.append_pair("nonce", &nonce);
        }
        q.append_pair("code_challenge", &pkce_challenge(&verifier));
        q.append_pair("code_challenge_method", "S256");
        let audience = state.config.get_str("oauth.audience");
        if !audience.is_empty() {
            q.append_pair("audience", &audience);
        }
        for (k, v) in &p.authorize_params {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            q.append_pair(k, &v);
        }
    }
    let mut pending = guard(&oauth.pending);
    pending.retain(|_, l| l.created.elapsed() < PENDING_FOR);
    if pending.len() >= MAX_PENDING {
        if let Some(oldest) = pending
            .iter()
            .min_by_key(|(_, l)| l.created)
            .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
    }
    pending.insert(
        st.clone(),
        Pending {
            provider: p.name.clone(),
            nonce,
            verifier,
            redirect_uri: redirect,
            created: Instant::now(),
        },
    );
    Ok(LoginStart {
        location: url.to_string(),
        state: st,
    })
}

/// Takes the login `cb.state` names out of the waiting list (once): 400 when
/// it is unknown, expired, for another provider or not this browser's.
fn take_pending(oauth: &OAuth, name: &str, cb: &Callback) -> ApiResult<Pending> {
    let invalid = || ApiError::bad_request(STATE_INVALID);
    let st = cb
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(invalid)?;
    let login = guard(&oauth.pending).remove(st).ok_or_else(invalid)?;
    if login.created.elapsed() >= PENDING_FOR
        || login.provider != name
        || cb.cookie_state.as_deref() != Some(st)
    {
        return Err(invalid());
    }
    Ok(login)
}

/// The callback: 4xx for requests that are not the answer to a login this
/// browser started; otherwise an [`Outcome`].
pub async fn finish_login(state: &AppState, name: &str, cb: Callback) -> ApiResult<Outcome> {
    let p = provider(state, name)?;
    let login = take_pending(&state.oauth, name, &cb)?;
    if let Some(err) = cb.error.as_deref() {
        let code: String = err
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        tracing::info!(
            provider = name,
            "the identity provider refused the login: {code}"
        );
        return Ok(Outcome::Refused(LOGIN_FAILED.into()));
    }
    let code = cb
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| ApiError::bad_request("The callback carries no authorization code."))?;
    match exchange_and_sign_in(state, p, &login, code).await {
        Ok(outcome) => Ok(outcome),
        Err(why) => {
            tracing::warn!(provider = name, "OAuth sign-in refused: {why}");
            Ok(Outcome::Refused(LOGIN_FAILED.into()))
        }
    }
}

async fn exchange_and_sign_in(
    state: &AppState,
    p: &ProviderConfig,
    login: &Pending,
    code: &str,
) -> Result<Outcome, String> {
    let oauth = &state.oauth;
    let ep = oauth.endpoints(p).await?;
    let form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", login.redirect_uri.clone()),
        ("code_verifier", login.verifier.clone()),
    ];
    let token = oauth.token_request(p, &ep.token, form).await?;
    let mut id_claims = Map::new();
    if let Some(raw) = token.get("id_token").and_then(Value::as_str) {
        if !p.is_openid() {
            return Err("an ID token from a provider without discovery".into());
        }
        id_claims = verify_id_token(oauth, p, &ep, raw, &login.nonce).await?;
    } else if p.is_openid() && p.scope.split_whitespace().any(|s| s == "openid") {
        return Err("the token answer has no ID token".into());
    }
    let access = token
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let email_claim = state.config.get_str("oauth.email_claim");
    let name_claim = state.config.get_str("oauth.username_claim");
    let mut user_data = id_claims.clone();
    if user_data.is_empty()
        || !user_data.contains_key(&email_claim)
        || !user_data.contains_key(&name_claim)
    {
        if let Some(url) = ep.userinfo.as_deref() {
            match oauth.userinfo(url, access).await {
                Ok(mut info) => {
                    if p.name == "feishu" {
                        if let Some(Value::Object(data)) = info.remove("data") {
                            info = data;
                        }
                    }
                    if let (Some(a), Some(b)) = (info.get("sub"), id_claims.get("sub")) {
                        if a != b {
                            return Err("userinfo names another subject than the ID token".into());
                        }
                    }
                    for (k, v) in &id_claims {
                        info.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    user_data = info;
                }
                Err(e) if id_claims.is_empty() => return Err(format!("userinfo: {e}")),
                Err(e) => {
                    tracing::warn!(provider = %p.name, "userinfo failed, using the ID token: {e}")
                }
            }
        }
    }
    if user_data.is_empty() {
        return Err("the provider sent no claims".into());
    }
    let user = match account::resolve(state, p, &user_data, &token).await {
        Ok(u) => u,
        Err(Refusal::Shown(msg)) => return Ok(Outcome::Refused(msg)),
        Err(Refusal::Quiet(why)) => return Err(why),
    };
    let oauth_session_id = match sessions::store(state, &user.id, &p.name, token.clone()).await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!("cannot store the OAuth session: {e}");
            None
        }
    };
    if mfa::mfa_required(state, "oauth") {
        let body = mfa::start_login(state, &user.id, &user.role, "oauth")
            .await
            .map_err(|e| e.to_string())?;
        return Ok(match body.get("challenge_token").and_then(Value::as_str) {
            Some(t) => Outcome::Mfa {
                challenge_token: t.to_string(),
            },
            None => Outcome::Pending,
        });
    }
    let (token_str, exp) = session::issue_token_for(state, &user.id, "oauth")
        .await
        .map_err(|e| e.to_string())?;
    Ok(Outcome::SignedIn {
        user: Box::new(user),
        token: token_str,
        exp,
        oauth_session_id,
        id_token: token
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

async fn verify_id_token(
    oauth: &OAuth,
    p: &ProviderConfig,
    ep: &super::client::Endpoints,
    raw: &str,
    nonce: &str,
) -> Result<Map<String, Value>, String> {
    let issuer = ep.issuer.as_deref().ok_or("discovery names no issuer")?;
    let jwks_uri = ep.jwks.as_deref().ok_or("discovery names no key set")?;
    let want = Expect {
        issuer,
        audience: &p.client_id,
        check_exp: true,
        required: &["sub", "iat"],
        require_kid: false,
    };
    let keys = oauth.jwks(jwks_uri, false).await?;
    let claims = match id_token::verify(raw, &keys, &want) {
        Ok(c) => c,
        // The provider may have rotated its keys: fetch them again once.
        Err(JwtError::UnknownKey) | Err(JwtError::Invalid(_)) => {
            let keys = oauth.jwks(jwks_uri, true).await?;
            id_token::verify(raw, &keys, &want).map_err(|e| format!("ID token: {e}"))?
        }
    };
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err("the ID token's nonce is not this login's".into());
    }
    Ok(claims)
}
