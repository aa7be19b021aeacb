//! `/api/v1/chats`: chat lists, search, the chat object, messages, tags,
//! pin/archive/folder moves, sharing, clone/fork, import/export and stats.
//!
//! Access follows upstream: the owner sees and changes a chat; admins may read
//! any chat while `ENABLE_ADMIN_CHAT_ACCESS` is on; others only through access
//! grants (a live share, a shared folder). Refusals use upstream's codes,
//! mostly 401, and never carry the chat.
//!
//! One file per section: `common` holds what the sections share, this file
//! only declares them and builds the router.

mod collection;
mod common;
mod config;
mod copies;
mod create;
mod lists;
mod one;
mod sharing;
mod stats;
mod tags;

use axum::routing::{get, patch, post};
use axum::Router;

use crate::state::AppState;

use collection::{
    all_archived, all_in_db, archive_all, delete_all, export_all, unarchive_all, unshare_all,
};
use config::{get_config, set_config};
use copies::{clone, clone_shared, fork};
use create::{create, import};
use lists::{
    all_tags, archived, archived_count, folder_chat_list, folder_chats, list, list_by_tag,
    list_for_user, mark_all_read, pinned, search,
};
use one::{
    compact, delete_chat, delete_message, get_chat, mark_unread, message_event, move_to_folder,
    pinned_status, toggle_archive, toggle_pin, update_chat, update_message, update_params,
};
use sharing::{get_share_access, get_shared, share, shared_list, unshare, update_share_access};
use stats::{stats_export, stats_export_one, stats_usage};
use tags::{add_tag, chat_tags, remove_tag};

pub use common::{error_default, DEFAULT_ERROR};
pub(crate) use sharing::AccessForm;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/chats/", get(list).delete(delete_all))
        .route("/api/v1/chats/list", get(list))
        .route("/api/v1/chats/read", post(mark_all_read))
        .route("/api/v1/chats/stats/usage", get(stats_usage))
        .route("/api/v1/chats/stats/export", get(stats_export))
        .route(
            "/api/v1/chats/stats/export/{chat_id}",
            get(stats_export_one),
        )
        .route("/api/v1/chats/list/user/{user_id}", get(list_for_user))
        .route("/api/v1/chats/new", post(create))
        .route("/api/v1/chats/import", post(import))
        .route("/api/v1/chats/config", get(get_config).post(set_config))
        .route("/api/v1/chats/search", get(search))
        .route("/api/v1/chats/folder/{folder_id}", get(folder_chats))
        .route(
            "/api/v1/chats/folder/{folder_id}/list",
            get(folder_chat_list),
        )
        .route("/api/v1/chats/pinned", get(pinned))
        .route("/api/v1/chats/all", get(export_all))
        .route("/api/v1/chats/all/archived", get(all_archived))
        .route("/api/v1/chats/all/tags", get(all_tags))
        .route("/api/v1/chats/all/db", get(all_in_db))
        .route("/api/v1/chats/archived", get(archived))
        .route("/api/v1/chats/archived/count", get(archived_count))
        .route("/api/v1/chats/archive/all", post(archive_all))
        .route("/api/v1/chats/unarchive/all", post(unarchive_all))
        .route(
            "/api/v1/chats/share/all",
            axum::routing::delete(unshare_all),
        )
        .route("/api/v1/chats/shared", get(shared_list))
        .route("/api/v1/chats/share/{share_id}", get(get_shared))
        .route("/api/v1/chats/tags", post(list_by_tag))
        .route(
            "/api/v1/chats/shared/{id}/access/update",
            post(update_share_access),
        )
        .route("/api/v1/chats/shared/{id}/access", get(get_share_access))
        .route(
            "/api/v1/chats/{id}",
            get(get_chat).post(update_chat).delete(delete_chat),
        )
        .route("/api/v1/chats/{id}/compact", post(compact))
        .route("/api/v1/chats/{id}/params", patch(update_params))
        .route(
            "/api/v1/chats/{id}/messages/{message_id}",
            post(update_message).delete(delete_message),
        )
        .route(
            "/api/v1/chats/{id}/messages/{message_id}/event",
            post(message_event),
        )
        .route("/api/v1/chats/{id}/pinned", get(pinned_status))
        .route("/api/v1/chats/{id}/pin", post(toggle_pin))
        .route("/api/v1/chats/{id}/fork", post(fork))
        .route("/api/v1/chats/{id}/clone", post(clone))
        .route("/api/v1/chats/{id}/clone/shared", post(clone_shared))
        .route("/api/v1/chats/{id}/archive", post(toggle_archive))
        .route("/api/v1/chats/{id}/share", post(share).delete(unshare))
        .route("/api/v1/chats/{id}/unread", post(mark_unread))
        .route("/api/v1/chats/{id}/folder", post(move_to_folder))
        .route(
            "/api/v1/chats/{id}/tags",
            get(chat_tags).post(add_tag).delete(remove_tag),
        )
}
