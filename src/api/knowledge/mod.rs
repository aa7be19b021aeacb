//! `/api/v1/knowledge`: knowledge bases, their files and folders.
//!
//! A knowledge base's chunks live in the collection named by its id. Access:
//! the owner, admins (while `BYPASS_ADMIN_ACCESS_CONTROL` is on, the
//! default) and whoever its `access_grant` rows name (users, groups, `*`).
//! Refusal codes follow upstream (mostly 400 / 401 with its messages).

mod bases;
mod common;
mod dirs;
mod files;
mod list;
mod transfer;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

use bases::{
    create, delete_one, get_one, reindex_all, reindex_metadata, reset, update, update_access,
};
use dirs::{create_dir, delete_dir, update_dir};
use files::{
    add_file, add_files_batch, list_files, move_file, pending_files, remove_file, update_file,
};
use list::{list, search, search_files};
use transfer::{export, external, external_list, sync_cleanup, sync_diff};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/knowledge/", get(list))
        .route("/api/v1/knowledge/search", get(search))
        .route("/api/v1/knowledge/search/files", get(search_files))
        .route("/api/v1/knowledge/create", post(create))
        .route("/api/v1/knowledge/reindex", post(reindex_all))
        .route("/api/v1/knowledge/metadata/reindex", post(reindex_metadata))
        .route("/api/v1/knowledge/{id}", get(get_one))
        .route("/api/v1/knowledge/{id}/update", post(update))
        .route("/api/v1/knowledge/{id}/access/update", post(update_access))
        .route("/api/v1/knowledge/{id}/files/pending", get(pending_files))
        .route("/api/v1/knowledge/{id}/files", get(list_files))
        .route("/api/v1/knowledge/{id}/file/add", post(add_file))
        .route("/api/v1/knowledge/{id}/file/update", post(update_file))
        .route("/api/v1/knowledge/{id}/file/remove", post(remove_file))
        .route("/api/v1/knowledge/{id}/file/move", post(move_file))
        .route(
            "/api/v1/knowledge/{id}/files/batch/add",
            post(add_files_batch),
        )
        .route("/api/v1/knowledge/{id}/delete", delete(delete_one))
        .route("/api/v1/knowledge/{id}/reset", post(reset))
        .route("/api/v1/knowledge/{id}/export", get(export))
        .route("/api/v1/knowledge/{id}/sync/diff", post(sync_diff))
        .route("/api/v1/knowledge/{id}/sync/cleanup", post(sync_cleanup))
        .route(
            "/api/v1/knowledge/external/connections",
            get(external_list).post(external),
        )
        .route(
            "/api/v1/knowledge/external/connections/{cid}",
            get(external).patch(external).delete(external),
        )
        .route(
            "/api/v1/knowledge/external/connections/{cid}/test",
            post(external),
        )
        .route(
            "/api/v1/knowledge/external/connections/{cid}/retrieve-test",
            post(external),
        )
        .route("/api/v1/knowledge/external/source/test", post(external))
        .route(
            "/api/v1/knowledge/external/knowledge/create",
            post(external),
        )
        .route("/api/v1/knowledge/external/source/create", post(external))
        .route(
            "/api/v1/knowledge/external/source/{sid}",
            axum::routing::patch(external),
        )
        .route("/api/v1/knowledge/{id}/dirs/create", post(create_dir))
        .route(
            "/api/v1/knowledge/{id}/dirs/{dir_id}/update",
            post(update_dir),
        )
        .route(
            "/api/v1/knowledge/{id}/dirs/{dir_id}/delete",
            delete(delete_dir),
        )
}
