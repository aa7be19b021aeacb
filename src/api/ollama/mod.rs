//! Routes of upstream's `ollama` router (`/ollama/*`): the Ollama
//! connections' settings and Ollama's own API relayed to the server that
//! hosts the requested model. Streams are copied through unbuffered.

mod admin;
mod calls;
mod common;
mod lists;
mod settings;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

use admin::{copy, create, delete_model, download_model, pull, push, unload, upload_model};
use calls::{chat, generate, relayed, show, v1_models};
pub(crate) use common::server_choice;
use lists::{ps, tags, version};
use settings::{get_config, status, update_config, verify};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ollama/", get(status).head(status))
        .route("/ollama/verify", post(verify))
        .route("/ollama/config", get(get_config))
        .route("/ollama/config/update", post(update_config))
        .route("/ollama/api/tags", get(tags))
        .route("/ollama/api/tags/{url_idx}", get(tags))
        .route("/ollama/api/ps", get(ps))
        .route("/ollama/api/version", get(version))
        .route("/ollama/api/version/{url_idx}", get(version))
        .route("/ollama/api/unload", post(unload))
        .route("/ollama/api/pull", post(pull))
        .route("/ollama/api/pull/{url_idx}", post(pull))
        .route("/ollama/api/push", axum::routing::delete(push))
        .route("/ollama/api/push/{url_idx}", axum::routing::delete(push))
        .route("/ollama/api/create", post(create))
        .route("/ollama/api/create/{url_idx}", post(create))
        .route("/ollama/api/copy", post(copy))
        .route("/ollama/api/copy/{url_idx}", post(copy))
        .route("/ollama/api/delete", axum::routing::delete(delete_model))
        .route(
            "/ollama/api/delete/{url_idx}",
            axum::routing::delete(delete_model),
        )
        .route("/ollama/api/show", post(show))
        .route("/ollama/api/embed", post(relayed("/api/embed", None)))
        .route(
            "/ollama/api/embed/{url_idx}",
            post(relayed("/api/embed", None)),
        )
        .route(
            "/ollama/api/embeddings",
            post(relayed("/api/embeddings", None)),
        )
        .route(
            "/ollama/api/embeddings/{url_idx}",
            post(relayed("/api/embeddings", None)),
        )
        .route("/ollama/api/generate", post(generate))
        .route("/ollama/api/generate/{url_idx}", post(generate))
        .route("/ollama/api/chat", post(chat))
        .route("/ollama/api/chat/{url_idx}", post(chat))
        .route(
            "/ollama/v1/completions",
            post(relayed("/v1/completions", Some(false))),
        )
        .route(
            "/ollama/v1/completions/{url_idx}",
            post(relayed("/v1/completions", Some(false))),
        )
        .route(
            "/ollama/v1/embeddings",
            post(relayed("/v1/embeddings", None)),
        )
        .route(
            "/ollama/v1/embeddings/{url_idx}",
            post(relayed("/v1/embeddings", None)),
        )
        .route(
            "/ollama/v1/chat/completions",
            post(relayed("/v1/chat/completions", Some(false))),
        )
        .route(
            "/ollama/v1/chat/completions/{url_idx}",
            post(relayed("/v1/chat/completions", Some(false))),
        )
        .route("/ollama/v1/messages", post(relayed("/v1/messages", None)))
        .route(
            "/ollama/v1/messages/{url_idx}",
            post(relayed("/v1/messages", None)),
        )
        .route("/ollama/v1/responses", post(relayed("/v1/responses", None)))
        .route(
            "/ollama/v1/responses/{url_idx}",
            post(relayed("/v1/responses", None)),
        )
        .route("/ollama/v1/models", get(v1_models))
        .route("/ollama/v1/models/{url_idx}", get(v1_models))
        .route("/ollama/models/download", post(download_model))
        .route("/ollama/models/download/{url_idx}", post(download_model))
        .route(
            "/ollama/models/upload",
            post(upload_model).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/ollama/models/upload/{url_idx}",
            post(upload_model).layer(DefaultBodyLimit::disable()),
        )
}
