//! One error type for every handler and the domain code they call. The HTTP
//! layer (src/api/error_response.rs) renders it as FastAPI's `{"detail": ...}`
//! body so the official frontend can show `.detail` in its toasts. Internal
//! causes are logged with a short reference and never sent to the client.

pub mod messages;

// The `http` crate's status type (the one the HTTP layer uses), through reqwest.
use reqwest::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// FastAPI's request validation shape: `{"detail": [{loc, msg, type}]}`.
    #[error("invalid request body")]
    Validation(serde_json::Value),
    #[error("{0}")]
    TooManyRequests(String),
    /// The feature exists upstream but this server does not implement it (yet).
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Unavailable(String),
    /// A provider behind us failed or answered nonsense.
    #[error("{0}")]
    BadGateway(String),
    /// A server behind us did not answer in time (504).
    #[error("{0}")]
    GatewayTimeout(String),
    /// A server the admin asked us to check answered with an error; 500 with
    /// that server's reason (upstream's status for failed verifications).
    #[error("{0}")]
    RemoteFailure(String),
    /// A server behind us (a pipelines server) refused with this status; its
    /// own `detail`, whatever JSON it is, is passed on as it came.
    #[error("{}", relayed_text(.detail))]
    Relayed {
        status: StatusCode,
        detail: serde_json::Value,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A relayed `detail` as one line of text (strings as they are).
fn relayed_text(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::Unauthorized(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    /// The generic "not found" used for resources a caller may not see either,
    /// so that a missing id and a foreign id look the same.
    pub fn not_found_default() -> Self {
        Self::NotFound("We could not find what you're looking for.".into())
    }
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Relayed { status, .. } => *status,
            Self::RemoteFailure(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(e.into())
    }
}
