//! OpenID Connect Back-Channel Logout: the provider posts a signed logout
//! token naming a subject; that account's SSO sessions end, and so do its
//! session tokens and sockets.

use serde_json::Value;

use super::id_token::{self, Expect, JwtError};
use crate::db;
use crate::state::AppState;

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Checks the logout token and ends the sessions of the account it names.
/// `Err` carries the description of an `invalid_request` answer.
pub async fn logout(state: &AppState, logout_token: Option<&str>) -> Result<(), String> {
    let raw = logout_token
        .filter(|t| !t.is_empty())
        .ok_or("Missing logout_token parameter")?;
    if raw.len() > 16 * 1024 {
        return Err("Malformed logout_token".into());
    }
    let unverified =
        jsonwebtoken::dangerous::insecure_decode::<serde_json::Map<String, Value>>(raw)
            .map_err(|_| "Malformed logout_token")?
            .claims;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or("logout_token missing iss claim")?
        .to_string();
    let oauth = &state.oauth;
    let mut matched = None;
    for p in &oauth.settings.providers {
        if !p.is_openid() {
            continue;
        }
        if let Ok(ep) = oauth.endpoints(p).await {
            if ep.issuer.as_deref() == Some(issuer.as_str()) {
                matched = ep.jwks.clone().map(|j| (p, j));
                break;
            }
        }
    }
    let (p, jwks_uri) = matched.ok_or("No configured provider matches token issuer")?;
    let want = Expect {
        issuer: &issuer,
        audience: &p.client_id,
        check_exp: false,
        required: &["iat", "events"],
        require_kid: true,
    };
    let keys = oauth
        .jwks(&jwks_uri, false)
        .await
        .map_err(|_| "Failed to validate logout_token")?;
    let claims = match id_token::verify(raw, &keys, &want) {
        Err(JwtError::UnknownKey) => {
            let keys = oauth
                .jwks(&jwks_uri, true)
                .await
                .map_err(|_| "Failed to validate logout_token")?;
            id_token::verify(raw, &keys, &want)
        }
        other => other,
    }
    .map_err(|e| format!("Invalid logout_token: {e}"))?;
    if !claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|e| e.contains_key(LOGOUT_EVENT))
    {
        return Err("Missing backchannel-logout event claim".into());
    }
    if claims.contains_key("nonce") {
        return Err("logout_token must not contain nonce".into());
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let sid = claims
        .get("sid")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let Some(sub) = sub else {
        if sid.is_some() {
            // Sessions are not keyed by the provider's sid: nothing to end.
            return Ok(());
        }
        return Err("logout_token must contain sub or sid".into());
    };
    let (provider, sub) = (p.name.clone(), sub.to_string());
    let stamp = db::new_id();
    let ended = state
        .db
        .write(move |tx| {
            let Some(user) = db::oauth::user_by_sub(tx, &provider, &sub)? else {
                return Ok(None);
            };
            db::oauth::delete_sessions_of_user(tx, &user.id, None)?;
            // A new stamp revokes every session token the account holds.
            db::auths::set_session_stamp(tx, &user.id, &stamp)?;
            Ok(Some(user.id))
        })
        .await
        .map_err(|_| "Failed to end the sessions")?;
    if let Some(user_id) = ended {
        crate::auth::sessions::refresh(state, &user_id).await;
        tracing::info!(user = %user_id, "back-channel logout ended the account's sessions");
    }
    Ok(())
}
