//! The provider tokens of a sign-in (`oauth_session`), Fernet-encrypted as
//! upstream stores them, and refreshed at the provider within five minutes
//! of their expiry before anything forwards them.

use std::sync::Arc;

use serde_json::{json, Value};

use super::guard;
use crate::auth::mfa::{fernet_decrypt, fernet_encrypt};
use crate::db::{self, now_secs, oauth::SessionRow};
use crate::state::AppState;

/// Refresh this long before the access (or ID) token expires.
const REFRESH_MARGIN: i64 = 300;
/// Assumed lifetime when the provider names none but gives a refresh token.
const DEFAULT_EXPIRY: i64 = 3600;
/// Stored for tokens that never expire.
const NEVER: i64 = 253_402_300_799;

/// Stamps `issued_at` and a numeric `expires_at` on a token answer.
fn normalize_expiry(token: &mut Value, now: i64) -> i64 {
    let exp = match (
        token.get("expires_at").and_then(Value::as_f64),
        token.get("expires_in").and_then(Value::as_f64),
    ) {
        (Some(at), _) => at as i64,
        (None, Some(inn)) => now + inn as i64,
        _ if token.get("refresh_token").is_some_and(|r| !r.is_null()) => now + DEFAULT_EXPIRY,
        _ => NEVER,
    };
    if let Some(m) = token.as_object_mut() {
        m.insert("issued_at".into(), json!(now));
        m.insert("expires_at".into(), json!(exp));
    }
    exp
}

fn seal(state: &AppState, token: &Value) -> String {
    fernet_encrypt(&state.oauth.key, &token.to_string(), now_secs())
}

fn open(state: &AppState, row: &SessionRow) -> Option<Value> {
    let plain = fernet_decrypt(&state.oauth.key, &row.token)?;
    serde_json::from_str(&plain).ok()
}

/// Stores a sign-in's tokens; keeps at most `OAUTH_MAX_SESSIONS_PER_USER` per
/// provider (the newest). Returns the session id.
pub async fn store(
    state: &AppState,
    user_id: &str,
    provider: &str,
    mut token: Value,
) -> anyhow::Result<String> {
    let now = now_secs();
    let expires_at = normalize_expiry(&mut token, now);
    let row = SessionRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_string(),
        provider: provider.to_string(),
        token: seal(state, &token),
        expires_at,
        created_at: now,
        updated_at: now,
    };
    let keep = state.oauth.settings.max_sessions.max(1);
    let id = row.id.clone();
    state
        .db
        .write(move |tx| {
            let old: Vec<SessionRow> = db::oauth::sessions_of_user(tx, &row.user_id)?
                .into_iter()
                .filter(|s| s.provider == row.provider)
                .collect();
            for s in old.iter().skip(keep - 1) {
                db::oauth::delete_session(tx, &s.id)?;
            }
            db::oauth::insert_session(tx, &row)
        })
        .await?;
    Ok(id)
}

/// What the admin sees of a user's sessions (never the tokens).
pub async fn list_for_user(state: &AppState, user_id: &str) -> anyhow::Result<Vec<Value>> {
    let id = user_id.to_string();
    let rows = state
        .db
        .read(move |c| db::oauth::sessions_of_user(c, &id))
        .await?;
    Ok(rows
        .iter()
        .map(|s| json!({"id": s.id, "user_id": s.user_id, "provider": s.provider, "expires_at": s.expires_at}))
        .collect())
}

/// Ends the caller's sessions with `provider`; false when there were none.
pub async fn delete_for_provider(
    state: &AppState,
    user_id: &str,
    provider: &str,
) -> anyhow::Result<bool> {
    let (u, p) = (user_id.to_string(), provider.to_string());
    let n = state
        .db
        .write(move |tx| db::oauth::delete_sessions_of_user(tx, &u, Some(&p)))
        .await?;
    Ok(n > 0)
}

/// The stored ID token of a session (for the provider's end-session page).
pub async fn id_token(state: &AppState, session_id: &str) -> Option<(String, Option<String>)> {
    let id = session_id.to_string();
    let row = state
        .db
        .read(move |c| db::oauth::session(c, &id))
        .await
        .ok()??;
    let token = open(state, &row)?;
    let idt = token
        .get("id_token")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some((row.provider, idt))
}

fn effective_expiry(row: &SessionRow, token: &Value) -> i64 {
    let id_exp = token
        .get("id_token")
        .and_then(Value::as_str)
        .and_then(|t| jsonwebtoken::dangerous::insecure_decode::<Value>(t).ok())
        .and_then(|d| d.claims.get("exp").and_then(Value::as_i64));
    match id_exp {
        Some(e) => row.expires_at.min(e),
        None => row.expires_at,
    }
}

/// A usable token of the user's session `session_id`: refreshed first when it
/// is about to expire; `None` (and the session dropped) when the provider
/// refuses the refresh.
pub async fn token(state: &AppState, user_id: &str, session_id: &str) -> Option<Value> {
    let id = session_id.to_string();
    let row = state
        .db
        .read(move |c| db::oauth::session(c, &id))
        .await
        .ok()??;
    if row.user_id != user_id || row.provider.starts_with("mcp:") {
        return None;
    }
    let token = open(state, &row)?;
    if now_secs() + REFRESH_MARGIN < effective_expiry(&row, &token) {
        return Some(token);
    }
    let lock = {
        let mut locks = guard(&state.oauth.refresh_locks);
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(row.id.clone()).or_default().clone()
    };
    let _held = lock.lock().await;
    // Another request may have refreshed it while we waited.
    let id = row.id.clone();
    let current = state
        .db
        .read(move |c| db::oauth::session(c, &id))
        .await
        .ok()??;
    if current.token != row.token {
        return open(state, &current);
    }
    match refresh(state, &row, &token).await {
        Ok(new) => Some(new),
        Err(e) => {
            tracing::warn!(provider = %row.provider, "token refresh failed, the session is dropped: {e}");
            let id = row.id.clone();
            let _ = state
                .db
                .write(move |tx| db::oauth::delete_session(tx, &id))
                .await;
            None
        }
    }
}

async fn refresh(state: &AppState, row: &SessionRow, old: &Value) -> Result<Value, String> {
    let refresh_token = old
        .get("refresh_token")
        .and_then(Value::as_str)
        .ok_or("no refresh token")?
        .to_string();
    let oauth = &state.oauth;
    let p = oauth
        .settings
        .provider(&row.provider)
        .ok_or("the provider is no longer configured")?;
    let ep = oauth.endpoints(p).await?;
    let mut form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token.clone()),
    ];
    if state.config.get_bool("oauth.refresh_token.include_scope") && !p.scope.is_empty() {
        form.push(("scope", p.scope.clone()));
    }
    let mut new = oauth.token_request(p, &ep.token, form).await?;
    if let Some(m) = new.as_object_mut() {
        m.entry("refresh_token")
            .or_insert(Value::String(refresh_token));
    }
    let now = now_secs();
    let expires_at = normalize_expiry(&mut new, now);
    let sealed = seal(state, &new);
    let id = row.id.clone();
    state
        .db
        .write(move |tx| db::oauth::update_session_token(tx, &id, &sealed, expires_at, now))
        .await
        .map_err(|e| e.to_string())?;
    Ok(new)
}

/// The access token forwarded for the user to `system_oauth` connections:
/// from the browser's `oauth_session_id` cookie, else the user's most
/// recently updated SSO session.
pub async fn system_access_token(
    state: &AppState,
    user_id: &str,
    cookie_session: Option<&str>,
) -> Option<String> {
    let mut token = match cookie_session {
        Some(sid) => self::token(state, user_id, sid).await,
        None => None,
    };
    if token.is_none() && cookie_session.is_none() {
        let id = user_id.to_string();
        let rows = state
            .db
            .read(move |c| db::oauth::sessions_of_user(c, &id))
            .await
            .ok()?;
        if let Some(best) = rows
            .iter()
            .filter(|s| !s.provider.starts_with("mcp:"))
            .max_by_key(|s| s.updated_at)
        {
            token = self::token(state, user_id, &best.id).await;
        }
    }
    token?
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Where the browser goes after signing out of an SSO session: the
/// configured `OPENID_END_SESSION_ENDPOINT`, else the provider's
/// `end_session_endpoint` with the ID token as hint. `Ok(None)`: the provider
/// has no such page; `Err`: it could not be asked.
pub async fn end_session_url(
    state: &AppState,
    oauth_session_id: &str,
) -> Result<Option<String>, String> {
    let configured = state.config.get_str("oauth.end_session_endpoint");
    if !configured.is_empty() {
        return Ok(Some(configured));
    }
    let Some((provider, id_token)) = id_token(state, oauth_session_id).await else {
        return Ok(None);
    };
    let Some(p) = state.oauth.settings.provider(&provider) else {
        return Ok(None);
    };
    if !p.is_openid() {
        return Ok(None);
    }
    let ep = state.oauth.endpoints(p).await?;
    let Some(logout) = ep.end_session else {
        return Ok(None);
    };
    let mut url = reqwest::Url::parse(&logout).map_err(|e| e.to_string())?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(hint) = id_token {
            q.append_pair("id_token_hint", &hint);
        }
        let back = &state.oauth.settings.signout_redirect_url;
        if !back.is_empty() {
            q.append_pair("post_logout_redirect_uri", back);
        }
    }
    Ok(Some(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_normalized() {
        let mut t = json!({"access_token": "a", "expires_in": 60});
        assert_eq!(normalize_expiry(&mut t, 1000), 1060);
        assert_eq!(t["expires_at"], json!(1060));
        let mut r = json!({"access_token": "a", "refresh_token": "r"});
        assert_eq!(normalize_expiry(&mut r, 0), DEFAULT_EXPIRY);
        let mut n = json!({"access_token": "a"});
        assert_eq!(normalize_expiry(&mut n, 0), NEVER);
    }
}
