//! Helpers shared by the `/api/v1/folders` sections: refusals, the feature
//! check, file-entry access.

use rusqlite::Connection;
use serde_json::Value;

use crate::auth::permissions;
use crate::auth::Caller;
use crate::db;
use crate::db::folders;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(super) fn forbidden() -> ApiError {
    ApiError::forbidden(ACCESS_PROHIBITED)
}

pub(super) fn not_found() -> ApiError {
    ApiError::not_found(NOT_FOUND)
}

/// Folders must be enabled, and non-admins need `features.folders`.
pub(super) async fn check_enabled(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if state.config.get("folders.enable") == Value::Bool(false) {
        return Err(forbidden());
    }
    if !caller.is_admin() {
        let perms = permissions::effective(state, caller.id()).await?;
        if !permissions::allows(&perms, "features.folders") {
            return Err(forbidden());
        }
    }
    Ok(())
}

/// Whether `user` may read every file entry (`None` means no files at all).
pub(super) fn can_read_all(
    c: &Connection,
    user_id: &str,
    is_admin: bool,
    entries: Option<&Value>,
) -> rusqlite::Result<bool> {
    match entries {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Array(a)) if a.is_empty() => Ok(true),
        Some(v @ Value::Array(a)) => {
            Ok(folders::readable_files(c, user_id, is_admin, v)?.len() == a.len())
        }
        Some(_) => Ok(false),
    }
}

pub(super) fn user_role(c: &Connection, user_id: &str) -> rusqlite::Result<Option<String>> {
    Ok(db::users::get(c, user_id)?.map(|u| u.role))
}
