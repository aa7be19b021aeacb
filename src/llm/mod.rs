//! Model providers: OpenAI-compatible and Ollama connections, the merged model
//! list behind `/api/models`, and talking to a model (streamed, complete, or
//! passed through to an API client).
//!
//! Connections come from the config keys `openai.*` / `ollama.*` (several base
//! URLs, one key and one `api_configs["<idx>"]` entry per URL). The merged base
//! list is cached in redb and refreshed in the background once stale, so a slow
//! or dead connection costs at most one bounded wait after a config change.

pub mod anthropic;
mod catalog;
mod connections;
mod http;
pub mod ollama_files;
mod ollama_wire;
mod payload;
mod pytext;
pub mod responses;
pub mod stream;
pub mod variables;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub mod delta;
pub use catalog::invalidate;
pub use delta::ToolCallDelta;
pub use http::model_list_timeout;
pub use payload::{apply_model_params, apply_system_prompt};

pub(crate) use catalog::{
    all_models, base_models, bypass_model_access, check_access, ollama_url_indexes, provider_of,
    UNSUPPORTED_OPENAI,
};
pub(crate) use connections::{configs_for_urls, ollama_connections, openai_connections, Conn};
pub(crate) use http::{
    auth_headers, client, error_message, forward, is_azure, request_timeout, send_error,
    status_error, title_case_client,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Ollama,
}

/// Where and how to reach one model.
#[derive(Debug, Clone)]
pub struct ModelTarget {
    pub provider: Provider,
    /// The connection's base URL without a trailing slash (`…/v1` for OpenAI).
    pub base_url: String,
    pub api_key: Option<String>,
    /// The id the upstream knows (the connection's `prefix_id.` stripped).
    pub upstream_id: String,
    pub url_idx: usize,
    /// The connection's `api_configs` entry (`{}` when none): auth type,
    /// extra headers, Azure settings.
    pub api_config: Value,
}

#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// The id the caller asked for (a preset's own id for presets).
    pub id: String,
    pub target: ModelTarget,
    /// The model's `/api/models` entry.
    pub model_item: Value,
    /// `models.default_params` overlaid with the workspace model's params
    /// (including `system` when set); `{}` when there are none.
    pub params: Value,
    /// For an arena model: the model picked to answer (its target is `target`).
    pub selected_model_id: Option<String>,
    /// The workspace model's `params.model_controls` (the presets people
    /// pick in chat), `{}` when it has none. Not part of `params`.
    pub controls: Value,
    /// A model of the caller's own direct connection: their browser tab
    /// runs the completion (see `chat::direct`).
    pub direct: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Content(String),
    Reasoning(String),
    /// `{prompt_tokens, completion_tokens, total_tokens, …}`.
    Usage(Value),
    /// A piece of a tool call the model is making (OpenAI's
    /// `delta.tool_calls[]`); pieces with the same `index` belong together.
    ToolCall(ToolCallDelta),
    /// The last upstream chunk in OpenAI `chat.completion.chunk` shape (with
    /// `usage` when the provider reported it).
    Finish {
        reason: Option<String>,
        last_chunk: Value,
    },
    /// OpenRouter-style `reasoning_details` pieces (also found under
    /// `provider_specific_fields`), kept so the same model can be handed its
    /// reasoning back.
    ReasoningDetails(Vec<Value>),
    /// One `response.*` event of a connection that speaks the Responses API,
    /// as the provider sent it (see [`responses::reduce`]).
    Responses(Value),
}

/// A failed provider call. The text is shown to the user as it is.
#[derive(thiserror::Error, Debug)]
pub enum LlmError {
    #[error("Could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("The model provider at {url} did not answer within {secs} seconds")]
    Timeout { url: String, secs: u64 },
    #[error("The model provider answered {status}: {message}")]
    Status {
        status: u16,
        message: String,
        body: Value,
    },
    #[error("The model provider sent an error: {0}")]
    Upstream(String),
    #[error("The connection to the model provider broke off mid-answer: {0}")]
    Interrupted(String),
    #[error("The model provider's answer could not be read: {0}")]
    Decode(String),
}

impl LlmError {
    /// What a chat shows for the failure: a provider's refusal in its own
    /// words, other failures as they are described above.
    pub fn chat_text(&self) -> String {
        match self {
            LlmError::Status { message, .. } if !message.trim().is_empty() => message.clone(),
            LlmError::Upstream(message) if !message.trim().is_empty() => message.clone(),
            LlmError::Connect { .. } => {
                tracing::warn!(error = %self, "a chat could not reach its model provider");
                crate::error::messages::SERVER_CONNECTION_ERROR.to_string()
            }
            other => other.to_string(),
        }
    }
}

impl LlmError {
    /// The HTTP status to answer an API client with.
    pub fn http_status(&self) -> u16 {
        match self {
            LlmError::Status { status, .. } => *status,
            LlmError::Timeout { .. } => 504,
            _ => 500,
        }
    }
}

impl From<LlmError> for ApiError {
    fn from(e: LlmError) -> Self {
        match e.http_status() {
            400 => ApiError::bad_request(e.to_string()),
            401 | 403 => ApiError::forbidden(e.to_string()),
            404 => ApiError::not_found(e.to_string()),
            429 => ApiError::TooManyRequests(e.to_string()),
            _ => ApiError::Unavailable(e.to_string()),
        }
    }
}

/// An upstream answer handed on to an API client as it is: the status, the
/// headers worth keeping, and the body. The HTTP layer sends it; the
/// automations read it.
pub struct Relay {
    pub status: StatusCode,
    /// Added to (and replacing) the headers the body's kind implies.
    pub headers: HeaderMap,
    pub body: RelayBody,
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub enum RelayBody {
    /// Copied chunk by chunk as it arrives, never buffered.
    Stream(BoxStream<'static, Result<Bytes, BoxError>>),
    /// Sent as `application/json`.
    Json(Value),
    /// An answer that is not JSON, sent as `text/plain; charset=utf-8`.
    Text(Bytes),
}

impl Relay {
    /// `{"detail": …}` with the status an [`LlmError`] maps to.
    pub fn error(e: &LlmError) -> Relay {
        Relay {
            status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_GATEWAY),
            headers: HeaderMap::new(),
            body: RelayBody::Json(json!({"detail": e.to_string()})),
        }
    }

    /// The whole body, read up to `limit` bytes (JSON serialised as it would be sent).
    pub async fn into_bytes(self, limit: usize) -> anyhow::Result<Bytes> {
        let bytes = match self.body {
            RelayBody::Json(v) => Bytes::from(serde_json::to_vec(&v)?),
            RelayBody::Text(b) => b,
            RelayBody::Stream(mut s) => {
                let mut buf = Vec::new();
                while let Some(chunk) = s.next().await {
                    buf.extend_from_slice(&chunk.map_err(|e| anyhow::anyhow!(e))?);
                    if buf.len() > limit {
                        anyhow::bail!("length limit exceeded");
                    }
                }
                Bytes::from(buf)
            }
        };
        if bytes.len() > limit {
            anyhow::bail!("length limit exceeded");
        }
        Ok(bytes)
    }
}

/// A non-streamed answer.
#[derive(Debug, Clone)]
pub struct Completion {
    pub content: String,
    pub usage: Option<Value>,
    /// The answer in OpenAI `chat.completion` shape.
    pub raw: Value,
}

/// Whether a model item has a capability (`info.meta.capabilities`); a
/// capability it does not mention counts as on.
pub fn model_capability(model: &Value, name: &str) -> bool {
    model
        .pointer("/info/meta/capabilities")
        .and_then(|c| c.get(name))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Whether a category of built-in tools is on for a model item
/// (`info.meta.builtinTools`); a category it does not mention is on.
pub fn builtin_category_on(model: &Value, name: &str) -> bool {
    model
        .pointer("/info/meta/builtinTools")
        .and_then(|c| c.get(name))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// The `/api/models` list for this caller: access-filtered, tags merged,
/// ordered by `ui.model_order_list`.
pub async fn list_models(state: &AppState, caller: &Caller) -> ApiResult<Vec<Value>> {
    catalog::visible_models(state, caller, false).await
}

/// Finds a model for a completion: 404 when unknown, 403 without access.
/// Presets resolve to their base model's connection and carry their params.
pub async fn resolve(
    state: &AppState,
    caller: &Caller,
    model_id: &str,
) -> ApiResult<ResolvedModel> {
    catalog::resolve(state, caller, model_id).await
}

/// Starts a streamed chat completion. `body` is an OpenAI chat request
/// (`messages`, params…); `model` is set from the target. OpenAI SSE and
/// Ollama NDJSON both come out as [`StreamEvent`]s. Dropping the stream
/// closes the upstream connection.
pub async fn stream_chat(
    target: &ModelTarget,
    body: Value,
) -> Result<BoxStream<'static, Result<StreamEvent, LlmError>>, LlmError> {
    stream::stream_chat(target, body).await
}

/// A non-streamed chat completion.
pub async fn complete(target: &ModelTarget, body: Value) -> Result<Completion, LlmError> {
    stream::complete(target, body).await
}

/// Sends an OpenAI chat request on behalf of an API client and relays the
/// answer: SSE chunk by chunk as it arrives, JSON as it is. Errors carry
/// `detail`.
pub async fn openai_passthrough(target: &ModelTarget, body: Value) -> Relay {
    stream::openai_passthrough(target, body).await
}

/// Relays an upstream answer as it is (JSON, text, or a stream when the
/// provider streams); errors gain a `detail`.
pub(crate) async fn forward_response(resp: reqwest::Response) -> Relay {
    http::relay(resp, false).await
}
