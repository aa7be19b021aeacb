//! [`ApiError`] as an HTTP response (FastAPI's `{"detail": ...}` body), the
//! answer to a panicked handler, and the JSON body extractor whose
//! rejections are `ApiError`s.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            Self::Validation(detail) | Self::Relayed { detail, .. } => json!({ "detail": detail }),
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
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(crate::limits::media_type)
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::Validation(json!([{
                "loc": ["body"],
                "msg": "Expected a JSON body with Content-Type: application/json",
                "type": "missing",
            }])));
        }
        let parsed = {
            match axum::body::Bytes::from_request(req, state).await {
                Ok(bytes) => match axum::Json::<T>::from_bytes(&bytes) {
                    // A lone UTF-16 surrogate escape (`\ud800`) cannot become
                    // text; such escapes are dropped and the body read again.
                    Err(JsonRejection::JsonSyntaxError(e)) => {
                        match crate::json::without_lone_surrogates(&bytes) {
                            Some(clean) => axum::Json::<T>::from_bytes(&clean),
                            None => Err(JsonRejection::JsonSyntaxError(e)),
                        }
                    }
                    other => other,
                },
                Err(e) => Err(JsonRejection::BytesRejection(e)),
            }
        };
        match parsed {
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
