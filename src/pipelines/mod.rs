//! Pipelines servers: separate HTTP services, configured as OpenAI
//! connections, whose `/models` answer carries a `pipelines` key. Their
//! models are either `pipe`s (answering like any model) or `filter`s that see
//! a chat request before the model does (`inlet`) and the finished messages
//! after it answered (`outlet`).
//!
//! [`admin`] is what the admin's Pipelines settings page asks a server for
//! (list, add from a URL, upload a `.py` file, delete, valves);
//! [`filters`] runs the filters around a chat turn. Both reach a server
//! through the connection at index `urlIdx` of `openai.api_base_urls`, with
//! that index's key as a bearer token.

pub mod admin;
pub mod filters;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use filters::{has_outlet, inlet, outlet, user_info};

/// Answers of a server to the settings page (lists, valves) are read up to this size.
const MAX_ADMIN_ANSWER: usize = 8 * 1024 * 1024;
/// Error bodies are read up to this size, for their `detail`.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// One pipelines server: the OpenAI connection at an index.
#[derive(Debug, Clone)]
pub struct Server {
    pub idx: usize,
    /// Base URL without a trailing slash.
    pub url: String,
    pub key: String,
}

impl Server {
    /// `{url}/{segments…}`, each segment percent-encoded as one path
    /// segment (a pipeline id can never reach another path or the query).
    fn endpoint(&self, segments: &[&str]) -> ApiResult<reqwest::Url> {
        let invalid = || {
            ApiError::bad_request(format!(
                "The connection at index {} has no valid URL.",
                self.idx
            ))
        };
        let mut url = reqwest::Url::parse(&self.url).map_err(|_| invalid())?;
        url.path_segments_mut()
            .map_err(|_| invalid())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

/// The OpenAI connection at `idx`, or `None` when there is none (or it has no key entry).
pub fn server_at(state: &AppState, idx: usize) -> Option<Server> {
    let (_, conns) = crate::llm::openai_connections(state);
    let conn = conns.into_iter().nth(idx)?;
    Some(Server {
        idx,
        url: conn.url,
        key: conn.key?,
    })
}

/// [`server_at`] for an index a request named: unknown ones are a 404.
pub fn server(state: &AppState, idx: Option<i64>) -> ApiResult<Server> {
    idx.and_then(|i| usize::try_from(i).ok())
        .and_then(|i| server_at(state, i))
        .ok_or_else(|| ApiError::not_found("No OpenAI connection exists at that index (urlIdx)."))
}

/// Reads an answer's body, refused past `max` bytes.
async fn body_of(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    crate::webfetch::read_limited(resp, max).await
}

/// A refusal of the server (non-2xx) as our error: its status, and its own
/// `detail` when its body has one.
async fn refusal(resp: reqwest::Response) -> ApiError {
    let status = resp.status();
    // Only error statuses are passed on; anything else (a redirect that was
    // not followed) becomes a bad gateway.
    let ours = if status.is_client_error() || status.is_server_error() {
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
    } else {
        StatusCode::BAD_GATEWAY
    };
    let bytes = body_of(resp, MAX_ERROR_BODY).await.unwrap_or_default();
    let detail = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("detail").cloned())
        .filter(|d| !d.is_null())
        .unwrap_or_else(|| json!(format!("The pipelines server answered {status}.")));
    ApiError::Relayed {
        status: ours,
        detail,
    }
}

/// Sends a request of the settings page to a server and reads its JSON
/// object answer. An unreachable server is a 404 (as upstream answers);
/// a refusal keeps the server's status and `detail`.
async fn exchange(server: &Server, req: reqwest::RequestBuilder) -> ApiResult<Value> {
    let resp = req
        .bearer_auth(&server.key)
        .timeout(crate::llm::request_timeout().unwrap_or(std::time::Duration::from_secs(300)))
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(url = %server.url, error = %e, "pipelines server unreachable");
            ApiError::not_found(format!(
                "The pipelines server at {} could not be reached.",
                server.url
            ))
        })?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await);
    }
    let bytes = body_of(resp, MAX_ADMIN_ANSWER)
        .await
        .map_err(|e| ApiError::BadGateway(format!("The pipelines server's answer: {e}")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ApiError::BadGateway(
            "The pipelines server's answer is not a JSON object.".into(),
        )),
    }
}
