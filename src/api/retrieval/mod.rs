//! `/api/v1/retrieval`: the admin "Documents" settings, embedding settings,
//! indexing of files / text / web pages, queries and vector-store resets.
//!
//! Settings are the `rag.*` (and related) rows of the `config` table, spoken
//! as upstream's UPPER_SNAKE names. Web *search* belongs to a later
//! integration and answers 501 here.

mod config;
mod config_keys;
mod process;
mod query;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

use config::{get_config, get_embedding, update_config, update_embedding};
use process::{
    process_file, process_files_batch, process_text, process_web, process_youtube, web_search,
};
use query::{delete_entries, query_collection, query_doc, reset_db, reset_uploads};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/retrieval/embedding", get(get_embedding))
        .route("/api/v1/retrieval/embedding/update", post(update_embedding))
        .route("/api/v1/retrieval/config", get(get_config))
        .route("/api/v1/retrieval/config/update", post(update_config))
        .route("/api/v1/retrieval/process/file", post(process_file))
        .route("/api/v1/retrieval/process/text", post(process_text))
        .route("/api/v1/retrieval/process/url", post(process_web))
        .route("/api/v1/retrieval/process/web", post(process_web))
        .route("/api/v1/retrieval/process/youtube", post(process_youtube))
        .route("/api/v1/retrieval/process/web/search", post(web_search))
        .route(
            "/api/v1/retrieval/process/files/batch",
            post(process_files_batch),
        )
        .route("/api/v1/retrieval/query/doc", post(query_doc))
        .route("/api/v1/retrieval/query/collection", post(query_collection))
        .route("/api/v1/retrieval/delete", post(delete_entries))
        .route("/api/v1/retrieval/reset/db", post(reset_db))
        .route("/api/v1/retrieval/reset/uploads", post(reset_uploads))
}
