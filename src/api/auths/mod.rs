//! `/api/v1/auths`: sign-up, sign-in, the session, profile and password, admin
//! auth settings, adding users and API keys.
//!
//! Layout: `common.rs` (session replies, form checks, account creation, the
//! user's wire shape), `signing.rs`, `account.rs` (the caller's own
//! account), `admin.rs` and `sso.rs` (LDAP and OAuth settings).

mod account;
mod admin;
mod common;
mod signing;
mod sso;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

use account::{
    create_api_key, delete_api_key, get_api_key, update_password, update_profile, update_timezone,
};
use admin::{add_user, admin_details, get_admin_config, set_admin_config};
use signing::{ldap_signin, session, signin, signout, signup};
use sso::{
    get_ldap_config, get_ldap_server, get_oauth_config, set_ldap_config, set_ldap_server,
    set_oauth_config,
};

pub use common::user_json;
pub(crate) use common::{check_image_url, check_new_password, no_store, session_reply};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auths/", get(session))
        .route("/api/v1/auths/signin", post(signin))
        .route("/api/v1/auths/signup", post(signup))
        .route("/api/v1/auths/ldap", post(ldap_signin))
        .route("/api/v1/auths/signout", get(signout).post(signout))
        .route("/api/v1/auths/update/profile", post(update_profile))
        .route("/api/v1/auths/update/timezone", post(update_timezone))
        .route("/api/v1/auths/update/password", post(update_password))
        .route("/api/v1/auths/add", post(add_user))
        .route("/api/v1/auths/admin/details", get(admin_details))
        .route(
            "/api/v1/auths/admin/config",
            get(get_admin_config).post(set_admin_config),
        )
        .route(
            "/api/v1/auths/admin/config/ldap/server",
            get(get_ldap_server).post(set_ldap_server),
        )
        .route(
            "/api/v1/auths/admin/config/ldap",
            get(get_ldap_config).post(set_ldap_config),
        )
        .route(
            "/api/v1/auths/admin/config/oauth",
            get(get_oauth_config).post(set_oauth_config),
        )
        .route(
            "/api/v1/auths/api_key",
            get(get_api_key).post(create_api_key).delete(delete_api_key),
        )
}
