//! Gzip / brotli for API answers.
//!
//! Only whole bodies of a known size (at least [`MIN_BYTES`]) in a textual
//! data type are compressed: JSON lists and documents. Streams (SSE,
//! NDJSON, file downloads) have no known size and pass untouched, so every
//! chunk still reaches the client as soon as it is written; the frontend's
//! files carry their own precompressed encoding and are left alone too.

use tower_http::compression::predicate::Predicate;
use tower_http::compression::CompressionLayer;

/// Below this the framing costs more than compression saves.
pub const MIN_BYTES: u64 = 1024;

#[derive(Clone, Copy, Default)]
pub struct ApiAnswers;

impl Predicate for ApiAnswers {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        if response.status() == axum::http::StatusCode::PARTIAL_CONTENT {
            return false;
        }
        let h = response.headers();
        if h.contains_key(axum::http::header::CONTENT_ENCODING)
            || h.contains_key(axum::http::header::CONTENT_RANGE)
        {
            return false;
        }
        let textual = h
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = crate::limits::media_type(ct);
                ct == "application/json"
                    || ct.ends_with("+json")
                    || matches!(ct.as_str(), "text/plain" | "text/csv" | "text/markdown")
            })
            .unwrap_or(false);
        textual
            && response
                .body()
                .size_hint()
                .exact()
                .is_some_and(|n| n >= MIN_BYTES)
    }
}

pub fn layer() -> CompressionLayer<ApiAnswers> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .compress_when(ApiAnswers)
}
