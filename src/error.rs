//! One error type for every handler. It renders FastAPI's `{"detail": ...}` body so
//! the official frontend can show `.detail` in its toasts. Internal causes are logged
//! with a short reference and never sent to the client.

pub mod messages;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
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
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            Self::Validation(detail) => json!({ "detail": detail }),
            Self::Internal(err) => {
                let reference = uuid::Uuid::new_v4().simple().to_string();
                let reference = &reference[..8];
                tracing::error!(error = ?err, reference, "internal error");
                json!({ "detail": format!("Internal server error (reference {reference}); see the server log.") })
            }
            other => json!({ "detail": other.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}

/// The answer to a request whose handler panicked: the same 500 as any other
/// internal error, with a reference to find the panic in the log.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    ApiError::Internal(anyhow::anyhow!("request handler panicked: {msg}")).into_response()
}

/// JSON body extractor whose rejections use the FastAPI error shape (422 for
/// schema problems, 400 for unparsable JSON, 413 for oversized bodies).
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Validation(json!([{
                "loc": ["body"],
                "msg": e.body_text(),
                "type": "value_error",
            }]))),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::Validation(json!([{
                "loc": ["body"],
                "msg": format!("JSON decode error: {}", e.body_text()),
                "type": "json_invalid",
            }]))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::Validation(json!([{
                "loc": ["body"],
                "msg": "Expected a JSON body with Content-Type: application/json",
                "type": "missing",
            }]))),
            Err(JsonRejection::BytesRejection(e)) => {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Err(ApiError::PayloadTooLarge(
                        "Request body is too large.".into(),
                    ))
                } else {
                    Err(ApiError::bad_request(e.body_text()))
                }
            }
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}
