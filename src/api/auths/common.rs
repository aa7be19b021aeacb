//! Shared by the sections: the session answer and its cookie, checks of what
//! a form sends, creating an account, and the user's wire shape.

use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::password;
use crate::auth::session::{self, profile_image_path, Session};
use crate::db::{self, now_secs, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The session object as the answer, with its cookie.
pub(crate) fn session_reply(session: Session) -> Response {
    let mut resp = Json(session.body).into_response();
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&session.cookie).expect("cookie is ASCII"),
    );
    resp
}

/// The session object the frontend keeps after sign-in, plus the cookie.
pub(crate) async fn session_response(
    state: &AppState,
    user: &UserRow,
    token: String,
    exp: Option<i64>,
    extended: bool,
) -> ApiResult<Response> {
    Ok(session_reply(
        session::open(state, user, token, exp, extended).await?,
    ))
}

/// Second-factor answers are never cached, refusals included.
pub(crate) fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub(super) fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace())
        && !domain.contains('@')
}

pub(crate) fn check_new_password(pw: &str) -> ApiResult<()> {
    if pw.is_empty() {
        return Err(ApiError::bad_request("The password must not be empty."));
    }
    if pw.len() > password::BCRYPT_MAX_BYTES {
        return Err(ApiError::bad_request(
            "The password is too long: at most 72 bytes.",
        ));
    }
    Ok(())
}

pub(crate) fn check_image_url(url: &str) -> ApiResult<()> {
    crate::limits::check_image_url("profile_image_url", url)
}

/// Inserts the `user` and `auth` rows; the first account ever becomes admin and
/// closes sign-up, as upstream does.
pub(super) async fn create_user(
    state: &AppState,
    name: &str,
    email: &str,
    pw: &str,
    image: &str,
    role: &str,
) -> ApiResult<UserRow> {
    let hash = password::hash_bounded(pw.to_string(), state.settings.password_hash_argon2).await?;
    let (id, stamp, now) = (db::new_id(), db::new_id(), now_secs());
    let default_group = state.config.get_str("ui.default_group_id");
    let (name, email, image, role) = (
        name.to_string(),
        email.to_string(),
        image.to_string(),
        role.to_string(),
    );
    let created = state
        .db
        .write(move |tx| {
            if db::users::get_by_email(tx, &email)?.is_some() {
                return Ok(None);
            }
            let first = db::users::count(tx)? == 0;
            let role = if first { "admin".to_string() } else { role };
            db::users::insert(
                tx,
                &db::users::NewUser {
                    id: &id,
                    name: &name,
                    email: &email,
                    role: &role,
                    profile_image_url: &image,
                    now,
                },
            )?;
            db::auths::insert(tx, &id, &email, &hash, &stamp)?;
            if !default_group.is_empty() && db::groups::get(tx, &default_group)?.is_some() {
                db::groups::add_members(tx, &default_group, std::slice::from_ref(&id), now)?;
            }
            Ok(Some((
                db::users::get(tx, &id)?.expect("just inserted"),
                first,
            )))
        })
        .await?;
    let Some((user, first)) = created else {
        return Err(ApiError::bad_request(
            "This email is already registered. Sign in instead, or use another email.",
        ));
    };
    if first {
        state
            .config
            .set("ui.enable_signup", Value::Bool(false))
            .await?;
    }
    Ok(user)
}

pub fn user_json(u: &UserRow) -> Value {
    json!({
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "profile_image_url": u.profile_image_url.clone().unwrap_or_else(|| profile_image_path(&u.id)),
        "username": u.username,
        "bio": u.bio,
        "gender": u.gender,
        "date_of_birth": u.date_of_birth,
        "timezone": u.timezone,
        "status_emoji": u.status_emoji,
        "status_message": u.status_message,
        "status_expires_at": u.status_expires_at,
        "info": u.info,
        "settings": u.settings,
        "last_active_at": u.last_active_at,
        "updated_at": u.updated_at,
        "created_at": u.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        assert!(valid_email("a@b.c"));
        assert!(valid_email("admin@localhost"));
        assert!(!valid_email("nope"));
        assert!(!valid_email("a b@c.d"));
        assert!(!valid_email("@c.d"));
        assert!(!valid_email("a@b@c"));
    }
}
