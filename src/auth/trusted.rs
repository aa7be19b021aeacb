//! Sign-in behind an authenticating reverse proxy: the proxy names the person
//! in request headers (`WEBUI_AUTH_TRUSTED_EMAIL_HEADER` and the optional
//! name, groups and role headers) and the server believes it. The first
//! request creates the account; the groups header (when it lists any) sets
//! the memberships among existing groups; a valid role header sets the role.

use serde_json::json;

use crate::db::{self, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the proxy's headers said, already read from the request.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub email: String,
    pub name: Option<String>,
    pub groups: Option<String>,
    pub role: Option<String>,
}

/// Decodes `%XX` escapes (UTF-8); anything malformed is kept as written.
pub fn percent_decode(s: &str) -> String {
    match percent_encoding::percent_decode_str(s).decode_utf8() {
        Ok(v) => v.into_owned(),
        Err(_) => s.to_string(),
    }
}

/// The bytes `%XX` escapes stand for; a `%` not followed by two hex digits
/// stays as it is.
pub fn percent_decode_bytes(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// Group names of a comma-separated header value, blanks dropped.
pub fn group_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// Finds or creates the account the proxy named and applies its groups and role.
pub async fn sign_in(state: &AppState, id: Identity) -> ApiResult<UserRow> {
    let email = id.email.trim().to_lowercase();
    if !crate::accounts::valid_email(&email) || email.len() > 320 {
        return Err(ApiError::bad_request(
            "The proxy's email header does not hold a valid address.",
        ));
    }
    let lookup = email.clone();
    let existing = state
        .db
        .read(move |c| db::users::get_by_email(c, &lookup))
        .await?;
    let mut user = match existing {
        Some(u) => u,
        None => {
            let name = id
                .name
                .as_deref()
                .map(percent_decode)
                .map(|n| n.trim().chars().take(255).collect::<String>())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| email.clone());
            let role = crate::accounts::default_role(state);
            let random = db::new_id();
            let created =
                crate::accounts::create_user(state, &name, &email, &random, "/user.png", &role)
                    .await;
            match created {
                Ok(u) => {
                    let event = crate::notify::Event::new("user.created", Some(&u))
                        .subject("user", &u.id)
                        .data(json!({"role": u.role}))
                        .source("trusted_header");
                    crate::notify::publish(state, event);
                    u
                }
                // Two first requests at once: the other one created it.
                Err(e) => {
                    let lookup = email.clone();
                    state
                        .db
                        .read(move |c| db::users::get_by_email(c, &lookup))
                        .await?
                        .ok_or(e)?
                }
            }
        }
    };
    if let Some(groups) = id.groups.as_deref() {
        let names = group_names(groups);
        if !names.is_empty() {
            crate::auth::group_sync::sync(state, &user.id, names, false).await?;
        }
    }
    if let Some(role) = id.role.as_deref() {
        let role = role.trim().to_lowercase();
        if ["admin", "user", "pending"].contains(&role.as_str()) && role != user.role {
            let (uid, r, now) = (user.id.clone(), role.clone(), db::now_secs());
            state
                .db
                .write(move |tx| db::users::update_role(tx, &uid, &r, now))
                .await?;
            user.role = role;
            let event = crate::notify::Event::new("user.role_updated", Some(&user))
                .subject("user", &user.id)
                .data(json!({"role": user.role}))
                .source("trusted_header");
            crate::notify::publish(state, event);
            crate::auth::sessions::refresh(state, &user.id).await;
        } else if !role.is_empty() && !["admin", "user", "pending"].contains(&role.as_str()) {
            tracing::warn!("ignoring a trusted role header that names no role");
        }
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_url_decoded() {
        assert_eq!(percent_decode("J%C3%B6rg%20%C3%98"), "Jörg Ø");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%zzb"), "a%zzb");
        assert_eq!(percent_decode("%ff"), "%ff");
    }

    #[test]
    fn group_lists() {
        assert_eq!(group_names(" red , blue,,"), ["red", "blue"]);
        assert!(group_names("").is_empty());
    }
}
