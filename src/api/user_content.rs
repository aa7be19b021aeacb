//! Responses that carry bytes users supplied (profile pictures, uploaded
//! files): only raster images are shown inline, everything else is a
//! download, and the browser is told not to run or sniff anything in them.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::limits;

/// For documents made of user bytes: no script, no plugins, no network, a
/// unique origin (`sandbox`), so even a mislabelled file cannot act as us.
pub const CSP: &str =
    "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox";

/// Adds `nosniff` and the user-content CSP.
pub fn protect(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
}

/// A stored image URL decoded to a response, when it is a base64 `data:` URL
/// of a raster type. Anything else (SVG, HTML, broken base64) gives `None`,
/// and the caller serves its default picture.
pub fn data_image(url: &str, etag: Option<String>) -> Option<Response> {
    if !url.get(..5)?.eq_ignore_ascii_case("data:") {
        return None;
    }
    let (head, data) = url[5..].split_once(',')?;
    let mut parts = head.split(';');
    let mime = parts.next()?.trim().to_ascii_lowercase();
    if !parts.any(|p| p.eq_ignore_ascii_case("base64")) || !limits::is_inline_image(&mime) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()?;
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&mime).ok()?);
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    if let Some(t) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(header::ETAG, t);
    }
    protect(h);
    Some(resp)
}

/// Whether stored `http(s)` profile image URLs are redirected to
/// (`ENABLE_PROFILE_IMAGE_URL_FORWARDING`). Off unless set to `true`: a
/// redirect from our origin to any host a user chose is an open redirect and
/// leaks the viewer's address to that host. (Upstream forwards by default.)
pub fn forwarding_enabled() -> bool {
    crate::settings::env_bool("ENABLE_PROFILE_IMAGE_URL_FORWARDING", false)
}

/// `302 Found` to `location` (an absolute http(s) URL only when forwarding
/// is on; callers check).
pub fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Whether a stored URL is an absolute http(s) URL.
pub fn is_remote(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A transparent 1x1 PNG, for when the frontend's pictures are not embedded.
const BLANK_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0x50,
    0x0f, 0x00, 0x04, 0x85, 0x01, 0x80, 0x84, 0xa9, 0x8c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// An embedded static picture (`static/user.png`, …) as a response; a
/// blank PNG when the frontend is not embedded.
pub fn static_image(asset: &str) -> Response {
    let bytes = crate::web::asset_bytes(asset).unwrap_or_else(|| BLANK_PNG.to_vec());
    let mut resp = ([(header::CONTENT_TYPE, "image/png")], bytes).into_response();
    protect(resp.headers_mut());
    resp
}

/// Content types a user's uploaded file may be shown inline with. Anything
/// that could run script (HTML, SVG, XML, JavaScript, unknown) is a download.
pub fn inline_file_type(ct: &str) -> bool {
    let ct = limits::media_type(ct);
    ct == "application/pdf"
        || ct == "text/plain"
        || limits::is_inline_image(&ct)
        || ct.starts_with("audio/")
        || ct.starts_with("video/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raster_data_urls_decode() {
        assert!(data_image("data:image/png;base64,iVBORw0KGgo=", None).is_some());
        assert!(data_image("data:image/svg+xml;base64,PHN2Zz4=", None).is_none());
        assert!(data_image("data:text/html;base64,PGI+", None).is_none());
        assert!(data_image("data:image/png,raw", None).is_none());
        assert!(data_image("https://x/y.png", None).is_none());
    }

    #[test]
    fn inline_types() {
        assert!(inline_file_type("image/png"));
        assert!(inline_file_type("application/pdf"));
        assert!(inline_file_type("text/plain; charset=utf-8"));
        assert!(!inline_file_type("image/svg+xml"));
        assert!(!inline_file_type("text/html"));
        assert!(!inline_file_type("image/x-icon"));
        assert!(!inline_file_type("application/xml"));
        assert!(!inline_file_type(""));
    }
}
