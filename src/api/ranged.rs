//! Byte ranges of stored files (RFC 9110 §14): audio/video seeking and PDF
//! viewers ask for parts of an upload.
//!
//! One range per request (`bytes=a-b`, `bytes=a-`, `bytes=-n`); a request for
//! several ranges gets the whole file (allowed: a server may ignore Range), a
//! malformed header too. A range that starts past the end is a 416 with
//! `Content-Range: bytes */<length>`.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// What a Range header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    Whole,
    /// Inclusive first and last byte.
    Part(u64, u64),
    Unsatisfiable,
}

pub fn parse(range: Option<&HeaderValue>, len: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().strip_prefix("bytes="))
    else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-n: the last n bytes
        (true, false) => match num(b) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if len == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(len.saturating_sub(n), len - 1),
            None => Wanted::Whole,
        },
        (false, _) => {
            let Some(first) = num(a) else {
                return Wanted::Whole;
            };
            let last = if b.is_empty() {
                u64::MAX
            } else {
                match num(b) {
                    Some(l) if l >= first => l,
                    _ => return Wanted::Whole,
                }
            };
            if first >= len {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(first, last.min(len - 1))
            }
        }
        (true, true) => Wanted::Whole,
    }
}

/// Streams `file` (already open, `len` bytes) whole or the part `headers`
/// ask for, with `Accept-Ranges: bytes`. Content type and disposition are the
/// caller's to add.
pub async fn respond(
    mut file: tokio::fs::File,
    len: u64,
    headers: &HeaderMap,
) -> std::io::Result<Response> {
    let wanted = if headers.contains_key(header::IF_RANGE) {
        // No validators are sent, so a conditional range never matches.
        Wanted::Whole
    } else {
        parse(headers.get(header::RANGE), len)
    };
    let mut resp = match wanted {
        Wanted::Whole => {
            let mut r = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            r
        }
        Wanted::Part(first, last) => {
            file.seek(std::io::SeekFrom::Start(first)).await?;
            let count = last - first + 1;
            let part = file.take(count);
            let mut r = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(part)));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Wanted::Unsatisfiable => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
    };
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, len: u64) -> Wanted {
        parse(Some(&HeaderValue::from_str(s).unwrap()), len)
    }

    #[test]
    fn forms() {
        assert_eq!(p("bytes=0-9", 100), Wanted::Part(0, 9));
        assert_eq!(p("bytes=90-", 100), Wanted::Part(90, 99));
        assert_eq!(p("bytes=90-500", 100), Wanted::Part(90, 99));
        assert_eq!(p("bytes=-10", 100), Wanted::Part(90, 99));
        assert_eq!(p("bytes=-500", 100), Wanted::Part(0, 99));
        assert_eq!(p("bytes=100-", 100), Wanted::Unsatisfiable);
        assert_eq!(p("bytes=-0", 100), Wanted::Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Wanted::Unsatisfiable);
        assert_eq!(p("bytes=5-1", 100), Wanted::Whole);
        assert_eq!(p("bytes=0-1,5-6", 100), Wanted::Whole);
        assert_eq!(p("items=0-1", 100), Wanted::Whole);
        assert_eq!(p("bytes=x-1", 100), Wanted::Whole);
        assert_eq!(p("bytes=+1-2", 100), Wanted::Whole);
        assert_eq!(parse(None, 100), Wanted::Whole);
    }
}
