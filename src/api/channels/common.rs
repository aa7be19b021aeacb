//! Shared by the channel, message and webhook handlers: the feature gate, who
//! may read or write a channel, and loading a channel with its wire form.

use rusqlite::Connection;
use serde_json::Value;

use crate::api::chats::DEFAULT_ERROR;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::channels::{self, ChannelRow};
use crate::error::messages::{NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Channels must be on; with a caller, non-admins need `features.channels`.
pub(super) async fn check_enabled(state: &AppState, caller: Option<&Caller>) -> ApiResult<()> {
    if !state.config.get_bool("channels.enable") {
        return Err(ApiError::forbidden("Channels is disabled"));
    }
    if let Some(caller) = caller {
        if !caller.is_admin() {
            let perms = permissions::effective(state, caller.id()).await?;
            if !permissions::allows(&perms, "features.channels") {
                return Err(ApiError::unauthorized(UNAUTHORIZED));
            }
        }
    }
    Ok(())
}

pub(super) use crate::access::channel_allows as has_access;

pub(super) fn forbidden() -> ApiError {
    ApiError::forbidden(DEFAULT_ERROR)
}

pub(super) use crate::channels::wire::channel_wire;

/// The channel (404 when missing) after `check` passed inside the same read.
pub(super) async fn load<F>(state: &AppState, id: &str, check: F) -> ApiResult<(ChannelRow, Value)>
where
    F: FnOnce(&Connection, &ChannelRow) -> ApiResult<()> + Send + 'static,
{
    let id = id.to_string();
    state
        .db
        .try_read(move |c| {
            let Some(ch) = channels::get(c, &id)? else {
                return Err(ApiError::not_found(NOT_FOUND));
            };
            check(c, &ch)?;
            let w = channel_wire(c, &ch)?;
            Ok((ch, w))
        })
        .await
}

/// Loads the channel and requires `permission` on it.
pub(super) async fn load_with(
    state: &AppState,
    caller: &Caller,
    id: &str,
    permission: &'static str,
) -> ApiResult<(ChannelRow, Value)> {
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    load(state, id, move |c, ch| {
        if has_access(c, ch, &uid, admin, permission)? {
            Ok(())
        } else {
            Err(forbidden())
        }
    })
    .await
}

/// Loads the channel; only its creator or an admin passes.
pub(super) async fn load_owned(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(ChannelRow, Value)> {
    let (uid, admin) = (caller.id().to_string(), caller.is_admin());
    load(state, id, move |_, ch| {
        if admin || ch.user_id == uid {
            Ok(())
        } else {
            Err(forbidden())
        }
    })
    .await
}

pub(super) use crate::channels::author_wire as name_wire;
