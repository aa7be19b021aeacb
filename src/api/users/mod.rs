//! `/api/v1/users`: the admin user list and edits, user lookups for sharing,
//! default and effective permissions, and the caller's own settings, status,
//! info and variables.
//!
//! Layout: `common.rs` (what the sections share), `lookups.rs`,
//! `defaults.rs` (default permissions), `own.rs` (the caller's own data) and
//! `admin.rs` (admin edits).

mod admin;
mod common;
mod defaults;
mod lookups;
mod own;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

use admin::{
    delete_user, get_user, revoke_sessions, update_user, usage, user_active, user_info,
    user_preview,
};
use defaults::{builtin_default_permissions, get_default_permissions, set_default_permissions};
use lookups::{
    all_users, list_users, my_groups, my_permissions, profile_image, search_users, user_groups,
};
use own::{
    get_info, get_settings, get_status, get_variables, update_info, update_settings, update_status,
    update_variables,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/", get(list_users))
        .route("/api/v1/users/all", get(all_users))
        .route("/api/v1/users/search", get(search_users))
        .route("/api/v1/users/groups", get(my_groups))
        .route("/api/v1/users/permissions", get(my_permissions))
        .route(
            "/api/v1/users/default/permissions",
            get(get_default_permissions).post(set_default_permissions),
        )
        .route(
            "/api/v1/users/default/permissions/defaults",
            get(builtin_default_permissions),
        )
        .route("/api/v1/users/user/settings", get(get_settings))
        .route("/api/v1/users/user/settings/update", post(update_settings))
        .route("/api/v1/users/user/status", get(get_status))
        .route("/api/v1/users/user/status/update", post(update_status))
        .route("/api/v1/users/user/info", get(get_info))
        .route("/api/v1/users/user/info/update", post(update_info))
        .route("/api/v1/users/user/variables", get(get_variables))
        .route(
            "/api/v1/users/user/variables/update",
            post(update_variables),
        )
        .route("/api/v1/users/usage", get(usage))
        .route("/api/v1/users/{user_id}", get(get_user).delete(delete_user))
        .route("/api/v1/users/{user_id}/info", get(user_info))
        .route("/api/v1/users/{user_id}/active", get(user_active))
        .route("/api/v1/users/{user_id}/update", post(update_user))
        .route("/api/v1/users/{user_id}/groups", get(user_groups))
        .route("/api/v1/users/{user_id}/preview", get(user_preview))
        .route(
            "/api/v1/users/{user_id}/sessions/revoke",
            post(revoke_sessions),
        )
        .route("/api/v1/users/{user_id}/profile/image", get(profile_image))
}
