//! Shared by the sections: the session answer and its cookie, checks of what
//! a form sends, creating an account, and the user's wire shape.

use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub(super) use crate::accounts::{create_user, valid_email};
use crate::auth::password;
use crate::auth::session::{self, profile_image_path, Session};
use crate::db::users::UserRow;
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

/// Creates the account a sign-up or the admin's add-user form asks for: the
/// picture defaults to `/user.png` and must be an acceptable image URL.
pub(super) async fn create_from_form(
    state: &AppState,
    name: &str,
    email: &str,
    password: &str,
    image: Option<String>,
    role: &str,
) -> ApiResult<UserRow> {
    let image = image.unwrap_or_else(|| "/user.png".into());
    check_image_url(&image)?;
    create_user(state, name.trim(), email, password, &image, role).await
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
