//! The bounds every user-supplied value is held to, in one place, with the
//! small helpers the HTTP edge uses to apply them.
//!
//! - Request bodies: [`DEFAULT_BODY_BYTES`] for ordinary routes; routes that
//!   carry whole chats, images or imports get `MAX_REQUEST_BODY_BYTES`
//!   (64 MiB by default; see `api::LARGE_BODY_PREFIXES`); uploads get
//!   `rag.file.max_size` / `FILE_MAX_SIZE` (MB), or [`DEFAULT_UPLOAD_BYTES`]
//!   when unset, plus [`UPLOAD_OVERHEAD_BYTES`]. Too large is a 413.
//! - Text: names and titles longer than [`MAX_NAME_CHARS`] /
//!   [`MAX_TITLE_CHARS`] characters are refused with a 422 whose `detail`
//!   names the field, never truncated silently.
//! - Paging and retrieval: `page`, `skip`, `limit` and `k` are clamped.
//! - Pictures: only raster data URLs, http(s) URLs and the server's own
//!   paths are stored ([`valid_image_url`]); stored remote pictures are only
//!   redirected to with `ENABLE_PROFILE_IMAGE_URL_FORWARDING=true`.

use serde_json::json;

use crate::error::{ApiError, ApiResult};

/// Request bodies of ordinary JSON routes.
pub const DEFAULT_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Upload size cap when `rag.file.max_size` / `FILE_MAX_SIZE` is unset
/// (upstream: unlimited).
pub const DEFAULT_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;
/// Bytes of multipart overhead (boundaries, headers, the metadata part)
/// allowed on top of the file itself.
pub const UPLOAD_OVERHEAD_BYTES: u64 = 1024 * 1024;
/// The `metadata` part of an upload (a small JSON object).
pub const UPLOAD_METADATA_BYTES: usize = 64 * 1024;

/// Names: user, folder, channel, knowledge, model, prompt, tag, webhook.
pub const MAX_NAME_CHARS: usize = 1_000;
/// Titles: chat and note titles (the page may use a first message as title).
pub const MAX_TITLE_CHARS: usize = 10_000;

/// Results a retrieval query may ask for (`k`, `top_k`, `k_reranker`).
pub const MAX_K: usize = 1_000;
/// Highest page number accepted; larger values are treated as this page.
pub const MAX_PAGE: i64 = 1_000_000;
/// Largest `limit` a list query may ask for.
pub const MAX_LIMIT: i64 = 1_000;
/// Largest `skip`/offset a list query may ask for.
pub const MAX_SKIP: i64 = 1_000_000_000;

/// Refuses a text longer than `max` characters.
pub fn check_len(field: &str, value: &str, max: usize) -> ApiResult<()> {
    // Bytes bound characters from above, so most values need no count.
    if value.len() <= max || value.chars().count() <= max {
        return Ok(());
    }
    Err(ApiError::Validation(json!([{
        "type": "string_too_long",
        "loc": ["body", field],
        "msg": format!("{field} must be at most {max} characters long."),
        "ctx": {"max_length": max},
    }])))
}

/// A name (see [`MAX_NAME_CHARS`]).
pub fn check_name(field: &str, value: &str) -> ApiResult<()> {
    check_len(field, value, MAX_NAME_CHARS)
}

/// A title (see [`MAX_TITLE_CHARS`]).
pub fn check_title(field: &str, value: &str) -> ApiResult<()> {
    check_len(field, value, MAX_TITLE_CHARS)
}

/// A page number in `1..=MAX_PAGE` (anything lower is page 1).
pub fn page(p: i64) -> i64 {
    p.clamp(1, MAX_PAGE)
}

/// The row offset of 1-based `page` with `size` rows per page, never
/// overflowing and never negative.
pub fn page_offset(page: i64, size: i64) -> i64 {
    (self::page(page) - 1).saturating_mul(size.max(0))
}

/// A `limit` in `1..=MAX_LIMIT`.
pub fn limit(l: i64) -> i64 {
    l.clamp(1, MAX_LIMIT)
}

/// A `skip` in `0..=MAX_SKIP`.
pub fn skip(s: i64) -> i64 {
    s.clamp(0, MAX_SKIP)
}

/// A retrieval `k` in `1..=MAX_K`.
pub fn k(k: usize) -> usize {
    k.clamp(1, MAX_K)
}

/// Raster image types shown inline when users supply the bytes. SVG, HTML,
/// XML and everything else may carry script and are never served inline.
pub const INLINE_IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A content type without its parameters, lower-cased (`Audio/WAV; x=1` → `audio/wav`).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether `content_type` (parameters ignored) is one of [`INLINE_IMAGE_TYPES`].
pub fn is_inline_image(content_type: &str) -> bool {
    INLINE_IMAGE_TYPES.contains(&media_type(content_type).as_str())
}

/// Static pictures the server itself assigns as profile images.
const STATIC_IMAGE_PATHS: [&str; 3] = ["/user.png", "/favicon.png", "/static/favicon.png"];

/// Whether `url` is an acceptable stored profile image: empty, one of the
/// server's own static pictures or profile-image routes, an http(s) URL with a
/// host, or a base64 `data:` URL of a raster type. SVG data URLs, other
/// schemes, scheme-relative and arbitrary relative paths are refused.
pub fn valid_image_url(url: &str) -> bool {
    if url.is_empty() || STATIC_IMAGE_PATHS.contains(&url) || is_own_profile_route(url) {
        return true;
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let rest = &url[url.find("://").map(|i| i + 3).unwrap_or(0)..];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        return !host.is_empty()
            && !authority.contains('@')
            && !host.starts_with(':')
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    }
    if url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        let Some((head, _)) = url[5..].split_once(',') else {
            return false;
        };
        let mut parts = head.split(';');
        let mime = parts.next().unwrap_or("");
        let base64 = parts.any(|p| p.eq_ignore_ascii_case("base64"));
        return base64 && is_inline_image(mime);
    }
    false
}

/// `/api/v1/users/{id}/profile/image` with a plain id segment.
fn is_own_profile_route(url: &str) -> bool {
    url.strip_prefix("/api/v1/users/")
        .and_then(|r| r.strip_suffix("/profile/image"))
        .is_some_and(|id| !id.is_empty() && !id.contains(['/', '?', '#', '\\', '%']))
}

/// The refusal (422, as a field validation) for an image URL
/// [`valid_image_url`] does not accept.
pub fn check_image_url(field: &str, url: &str) -> ApiResult<()> {
    if valid_image_url(url) {
        return Ok(());
    }
    Err(ApiError::Validation(json!([{
        "type": "value_error",
        "loc": ["body", field],
        "msg": "Value error, Invalid image URL: use a PNG, JPEG, GIF or WebP data URL, an http(s) URL, or one of the server's own image paths.",
    }])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_urls() {
        for ok in [
            "",
            "/user.png",
            "/api/v1/users/abc/profile/image",
            "https://example.com/a.png",
            "http://h:8080/x",
            "data:image/png;base64,iVBOR",
            "DATA:IMAGE/WEBP;BASE64,AAAA",
        ] {
            assert!(valid_image_url(ok), "{ok}");
        }
        for bad in [
            "data:image/svg+xml;base64,PHN2Zz4=",
            "data:image/svg+xml,<svg onload=alert(1)>",
            "data:text/html;base64,PGI+",
            "data:image/png,rawbytes",
            "javascript:alert(1)",
            "//evil.example/x.png",
            "/api/v1/files/x/content",
            "/api/v1/users/a/../../x/profile/image",
            "https://user:pw@host/x",
            "https://",
            "http://:80/x",
            "ftp://host/x",
        ] {
            assert!(!valid_image_url(bad), "{bad}");
        }
    }

    #[test]
    fn paging_never_overflows() {
        assert_eq!(page_offset(i64::MAX, 60), (MAX_PAGE - 1) * 60);
        assert_eq!(page_offset(i64::MIN, 60), 0);
        assert_eq!(page_offset(3, -5), 0);
        assert_eq!(limit(-1), 1);
        assert_eq!(skip(-9), 0);
        assert_eq!(k(usize::MAX), MAX_K);
    }

    #[test]
    fn lengths_count_characters() {
        assert!(check_len("name", &"é".repeat(10), 10).is_ok());
        assert!(check_len("name", &"é".repeat(11), 10).is_err());
    }
}
