//! HTTP routes. One module per upstream router, nested under its prefix here.

pub mod actions;
pub mod analytics;
pub mod apps;
pub mod audio;
pub mod auths;
pub mod automations;
pub mod calendars;
pub mod channels;
pub mod chat;
pub mod chats;
pub mod client;
pub mod compression;
pub mod configs;
pub mod error_response;
pub mod evaluations;
pub mod events;
pub mod extract;
pub mod files;
pub mod folders;
pub mod form;
pub mod functions;
pub mod groups;
pub mod images;
pub mod knowledge;
pub mod llm_response;
pub mod memories;
pub mod messages;
pub mod mfa;
pub mod models;
pub mod notes;
pub mod notifications;
pub mod oauth;
pub mod ollama;
pub mod openai;
pub mod pipelines;
pub mod prompts;
pub mod ranged;
pub mod retrieval;
pub mod root;
pub mod scim;
pub mod search;
pub mod skills;
pub mod tasks;
pub mod terminals;
pub mod tools;
pub mod user_content;
pub mod users;
pub mod utils;
pub mod workspace_common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::limits;
use crate::state::AppState;

pub fn app(state: AppState) -> Router {
    utils::clean_download_leftovers(&state.settings.data_dir);
    // Routes carry their full upstream paths (with FastAPI's trailing slashes),
    // so a grep for a path finds its handler.
    // SCIM exists only when switched on (`ENABLE_SCIM`), as upstream mounts it.
    let scim = if state.settings.scim.enabled {
        scim::router()
    } else {
        Router::new()
    };
    Router::new()
        .merge(scim)
        .merge(root::router())
        .merge(apps::router())
        .merge(auths::router())
        .merge(mfa::router())
        .merge(oauth::router())
        .merge(actions::router())
        .merge(events::router())
        .merge(notifications::router())
        .merge(users::router())
        .merge(groups::router())
        .merge(analytics::router())
        .merge(utils::router())
        .merge(audio::router())
        .merge(images::router())
        .merge(configs::router())
        .merge(chats::router())
        .merge(folders::router())
        .merge(models::router())
        .merge(openai::router())
        .merge(ollama::router())
        .merge(pipelines::router())
        .merge(tasks::router())
        .merge(chat::router())
        .merge(messages::router())
        .merge(search::router())
        .merge(prompts::router())
        .merge(tools::router())
        .merge(functions::router())
        .merge(skills::router())
        .merge(evaluations::router())
        .merge(notes::router())
        .merge(channels::router())
        .merge(files::router())
        .merge(knowledge::router())
        .merge(retrieval::router())
        .merge(memories::router())
        .merge(terminals::router())
        .merge(calendars::router())
        .merge(automations::router())
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), body_limit))
        .layer(middleware::from_fn(process_time))
        // No response of ours is ever to be content-sniffed (API, files, SPA).
        .layer(nosniff_layer())
        .layer(cors(&state))
        .with_state(state)
}

/// Sets `X-Content-Type-Options: nosniff` on every response that lacks it.
pub fn nosniff_layer() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    )
}

/// Unknown API paths get FastAPI's JSON 404; everything else is the SPA.
async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    let is_api = ["/api/", "/openai/", "/ollama/", "/ws/", "/oauth/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/api";
    if is_api {
        return ApiError::not_found("Not Found").into_response();
    }
    crate::web::fallback(req).await
}

/// Routes whose bodies may legitimately be large (whole chats with images,
/// completions with images, imports): they get `MAX_REQUEST_BODY_BYTES`
/// (64 MiB by default); every other route gets [`limits::DEFAULT_BODY_BYTES`].
const LARGE_BODY_PREFIXES: [&str; 17] = [
    "/api/chat/",
    "/api/v1/chat/",
    "/openai/",
    "/ollama/",
    "/api/v1/chats/",
    "/api/v1/tasks/",
    "/api/v1/evaluations/",
    "/api/v1/notes/",
    "/api/v1/channels/",
    "/api/v1/images/",
    "/api/v1/retrieval/",
    "/api/v1/files/",
    "/api/v1/knowledge/",
    "/api/v1/configs/import",
    "/api/v1/models/import",
    "/api/v1/models/sync",
    // UI settings may carry a chat background picture as a data URL.
    "/api/v1/users/user/settings/update",
];

/// The most body bytes a request to `path` may send.
fn body_limit_for(state: &AppState, method: &Method, path: &str) -> u64 {
    let large = state.settings.max_body_bytes as u64;
    if method == Method::POST && path == "/api/v1/files/" {
        return crate::files::upload_cap(state).saturating_add(limits::UPLOAD_OVERHEAD_BYTES);
    }
    // Model files for an Ollama server (admins only; streamed to disk).
    if method == Method::POST && path.starts_with("/ollama/models/upload") {
        return crate::llm::ollama_files::MAX_FILE_BYTES
            .saturating_add(limits::UPLOAD_OVERHEAD_BYTES);
    }
    // Proxied to a terminal server: uploads into its file system included.
    if path.starts_with("/api/v1/terminals/") {
        return crate::files::upload_cap(state).saturating_add(limits::UPLOAD_OVERHEAD_BYTES);
    }
    if LARGE_BODY_PREFIXES.iter().any(|p| path.starts_with(p)) {
        large
    } else {
        large.min(limits::DEFAULT_BODY_BYTES as u64)
    }
}

/// Refuses a declared-too-large body at once and caps a streamed one, so no
/// route reads more than its limit (the extractors answer 413).
async fn body_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = body_limit_for(&state, req.method(), req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        let msg = if req.uri().path() == "/api/v1/files/" {
            format!(
                "File size exceeds the maximum allowed size of {} MB.",
                crate::files::upload_cap(&state) / (1024 * 1024)
            )
        } else {
            format!("Request body is too large (at most {limit} bytes here).")
        };
        return ApiError::PayloadTooLarge(msg).into_response();
    }
    let req = req.map(|b| Body::new(http_body_util::Limited::new(b, limit as usize)));
    next.run(req).await
}

async fn process_time(req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    let mut resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    if let Ok(v) = HeaderValue::from_str(&format!("{secs:.6}")) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-process-time"), v);
    }
    resp
}

fn cors(state: &AppState) -> CorsLayer {
    let origins = &state.settings.cors_allow_origin;
    // Credentials are allowed, so a literal `*` cannot be sent back: mirror the
    // request's origin instead, which is what a wildcard with credentials means.
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::mirror_request()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        AllowOrigin::list(list)
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::HEAD,
        ])
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600))
}
