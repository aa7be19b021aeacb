//! Sessions: checking a password, issuing session tokens (JWTs under the
//! account's session stamp) with the object and cookie the frontend keeps,
//! and finding the user of a presented session token. (Closing live sockets
//! when an account changes is `sessions::refresh`.)

use serde_json::{json, Value};

use super::jwt::{self, Claims};
use super::{password, permissions};
use crate::db::{self, now_secs, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn profile_image_path(user_id: &str) -> String {
    format!("/api/v1/users/{user_id}/profile/image")
}

/// The `Set-Cookie` value that carries the session token to the browser.
pub fn cookie(state: &AppState, token: &str, max_age: Option<i64>) -> String {
    let mut c = format!(
        "token={token}; HttpOnly; Path=/; SameSite={}",
        state.settings.cookie_same_site
    );
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={}", age.max(0)));
    }
    if state.settings.cookie_secure {
        c.push_str("; Secure");
    }
    c
}

/// A session to hand out: the object the frontend keeps after sign-in and the
/// `Set-Cookie` value with its token.
pub struct Session {
    pub body: Value,
    pub cookie: String,
}

/// The session object the frontend keeps after sign-in, plus the cookie.
pub async fn open(
    state: &AppState,
    user: &UserRow,
    token: String,
    exp: Option<i64>,
    extended: bool,
) -> ApiResult<Session> {
    let perms = permissions::effective(state, &user.id).await?;
    let mut body = json!({
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "email": user.email,
        "profile_image_url": profile_image_path(&user.id),
        "token": token,
        "token_type": "Bearer",
        "expires_at": exp,
        "permissions": perms,
    });
    if extended {
        let m = body.as_object_mut().expect("object");
        // The session read-back shows the stored picture (a data URL, `/user.png`, ...).
        if let Some(url) = user
            .profile_image_url
            .as_deref()
            .filter(|u| !u.is_empty() && crate::limits::valid_image_url(u))
        {
            m.insert("profile_image_url".into(), json!(url));
        }
        m.insert("bio".into(), json!(user.bio));
        m.insert("gender".into(), json!(user.gender));
        m.insert("date_of_birth".into(), json!(user.date_of_birth));
        m.insert("status_emoji".into(), json!(user.status_emoji));
        m.insert("status_message".into(), json!(user.status_message));
        m.insert("status_expires_at".into(), json!(user.status_expires_at));
    }
    let max_age = exp.map(|e| e - now_secs());
    Ok(Session {
        body,
        cookie: cookie(state, &token, max_age),
    })
}

/// A new session token for `user_id` under the account's session stamp.
pub async fn issue_token(state: &AppState, user_id: &str) -> ApiResult<(String, Option<i64>)> {
    issue_token_for(state, user_id, "password").await
}

/// [`issue_token`] for a sign-in by another method (`oauth`, ...).
pub async fn issue_token_for(
    state: &AppState,
    user_id: &str,
    auth_method: &str,
) -> ApiResult<(String, Option<i64>)> {
    let id = user_id.to_string();
    let auth = state.db.read(move |c| db::auths::get(c, &id)).await?;
    let stamp = match auth.and_then(|a| a.session_stamp) {
        Some(s) => s,
        None => {
            // Rows from before stamps existed: give them one so tokens can be revoked.
            let (id, s) = (user_id.to_string(), db::new_id());
            let s2 = s.clone();
            state
                .db
                .write(move |tx| db::auths::set_session_stamp(tx, &id, &s2))
                .await?;
            s
        }
    };
    let expires_in = jwt::parse_expiry(&state.config.get_str("auth.jwt_expiry"));
    let now = now_secs();
    let mut claims = jwt::new_session_claims(user_id, &stamp, expires_in, now);
    claims.auth_method = Some(auth_method.to_string());
    let token = jwt::create(&state.settings.secret_key, &claims)?;
    Ok((token, claims.exp))
}

const INVALID_CREDENTIALS: &str = "The email or password is incorrect.";

/// The account whose password this is; a 400 when the email or password is wrong.
pub async fn check_password(state: &AppState, email: &str, password: String) -> ApiResult<UserRow> {
    let e = email.to_string();
    let found = state
        .db
        .read(move |c| {
            let Some(auth) = db::auths::get_by_email(c, &e)? else {
                return Ok(None);
            };
            Ok(db::users::get(c, &auth.id)?.map(|u| (auth, u)))
        })
        .await?;
    let invalid = || ApiError::bad_request(INVALID_CREDENTIALS);
    let Some((auth, user)) = found else {
        // Same cost as a real check, so timing does not reveal which emails exist.
        password::verify_bounded(password, password::DUMMY_HASH.to_string()).await?;
        return Err(invalid());
    };
    if !auth.active {
        return Err(invalid());
    }
    // MFA policy on: password attempts also count against the account's budget.
    if state.config.get_bool("auth.mfa.enable") {
        super::mfa::count_password_attempt(state, &auth.id).await?;
    }
    if !password::verify_bounded(password, auth.password).await? {
        return Err(invalid());
    }
    Ok(user)
}

fn revoked_key(jti: &str) -> String {
    format!("revoked_token:{jti}")
}

/// Signing out ends this one token (other sessions of the account stay):
/// its id is kept in the cache until the token would have expired anyway,
/// or for good when it never expires. A token that does not verify, or has
/// no id, has nothing to revoke.
pub fn revoke_token(state: &AppState, token: &str) {
    let Some(claims) = jwt::decode_token(&state.settings.secret_key, token) else {
        return;
    };
    let Some(jti) = claims.jti.filter(|j| !j.is_empty()) else {
        return;
    };
    let ttl = match claims.exp {
        Some(exp) => {
            let left = exp - crate::db::now_secs();
            if left <= 0 {
                return;
            }
            Some(std::time::Duration::from_secs(left as u64))
        }
        None => None,
    };
    if let Err(e) = state.cache.put_bytes(&revoked_key(&jti), b"1", ttl) {
        tracing::warn!("could not record a signed-out token: {e:#}");
    }
}

/// Whether this token was signed out. A cache that cannot be read is
/// logged and the token accepted (as upstream treats an unreachable Redis):
/// a broken cache must not sign every user out.
fn is_revoked(state: &AppState, claims: &Claims) -> bool {
    let Some(jti) = claims.jti.as_deref().filter(|j| !j.is_empty()) else {
        return false;
    };
    match state.cache.get_bytes(&revoked_key(jti)) {
        Ok(found) => found.is_some(),
        Err(e) => {
            tracing::warn!("could not check for a signed-out token: {e:#}");
            false
        }
    }
}

/// A valid session JWT's user, or None. Used by the socket too.
pub async fn user_from_jwt(state: &AppState, token: &str) -> Option<(UserRow, Claims)> {
    let claims = jwt::decode_token(&state.settings.secret_key, token)?;
    user_from_claims(state, claims).await
}

/// The user of already verified claims, if the session is still valid.
pub(crate) async fn user_from_claims(
    state: &AppState,
    claims: Claims,
) -> Option<(UserRow, Claims)> {
    if !matches!(claims.typ.as_str(), "session" | "automation" | "subagent") {
        return None;
    }
    if is_revoked(state, &claims) {
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
    let method = claims.auth_method.as_deref().unwrap_or("");
    if claims.typ == "session" && super::mfa::mfa_required(state, method) {
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
