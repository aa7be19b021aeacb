//! `/api/v1/folders`: nested chat folders with a system prompt and files in
//! `data`, an icon in `meta`, sharing through access grants.
//!
//! One file per section: `common` holds what the sections share, this file
//! only declares them and builds the router.

mod chats;
mod common;
mod edit;
mod list;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

use chats::{mark_read, shared_chats};
use edit::{create, delete, update, update_access, update_expanded, update_parent};
use list::{get_one, list, shared};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/folders/", get(list).post(create))
        .route("/api/v1/folders/shared", get(shared))
        .route("/api/v1/folders/{id}", get(get_one).delete(delete))
        .route("/api/v1/folders/{id}/update", post(update))
        .route("/api/v1/folders/{id}/update/parent", post(update_parent))
        .route(
            "/api/v1/folders/{id}/update/expanded",
            post(update_expanded),
        )
        .route("/api/v1/folders/{id}/access/update", post(update_access))
        .route("/api/v1/folders/{id}/shared/chats", get(shared_chats))
        .route("/api/v1/folders/{id}/read", post(mark_read))
}
