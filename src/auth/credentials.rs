//! From a presented credential to the [`Caller`]: the token comes from
//! `Authorization: Bearer …`, else the `token` cookie, else `x-api-key` (the
//! HTTP side is src/api/extract.rs). A value starting with `sk-` is an API key;
//! anything else must be a session JWT whose `session_stamp` still matches the
//! user's `auth` row.

use super::caller::Caller;
use super::{jwt, permissions, session};
use crate::db::{self, users::UserRow};
use crate::error::ApiError;
use crate::state::AppState;

/// The caller a presented credential stands for, requesting `path`: an API
/// key (`sk-…`) or a session JWT that is still valid.
pub async fn resolve(state: &AppState, token: &str, path: &str) -> Result<Caller, ApiError> {
    if token.starts_with("sk-") {
        return resolve_api_key(state, token, path).await;
    }
    let Some(claims) = jwt::decode_token(&state.settings.secret_key, token) else {
        return Err(ApiError::unauthorized("Invalid token"));
    };
    let Some((user, claims)) = session::user_from_claims(state, claims).await else {
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

#[cfg(test)]
mod tests {
    use super::*;

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
