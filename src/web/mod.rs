//! The official Open WebUI frontend, embedded in the binary.
//!
//! `build.rs` turns `frontend-dist/` into `$OUT_DIR/web`: each file stored
//! once, as `<path>.br` or, when compression does not pay, as the raw
//! `<path>` (older manifests may also list `.gz` copies); plus `$OUT_DIR/web-manifest.txt` listing every logical file with
//! its stored variants and ETag. Release builds embed the tree; debug builds
//! read it from `$OUT_DIR/web` at run time (rust-embed's default).
//!
//! Wiring: `Router::new()...fallback(crate::web::fallback)` — every request the
//! API routes do not match ends up here.

pub mod changelog;
pub mod rules;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use rules::{AcceptEncoding, Encoding, RangeRequest};

#[derive(rust_embed::Embed)]
#[folder = "$OUT_DIR/web"]
struct Assets;

const MANIFEST: &str = include_str!(concat!(env!("OUT_DIR"), "/web-manifest.txt"));

/// What is stored for one logical file.
#[derive(Debug, Clone, Copy)]
struct FileInfo {
    br: bool,
    gz: bool,
    raw: bool,
    /// Content hash of the uncompressed file (unquoted).
    etag: &'static str,
    /// Uncompressed size.
    size: u64,
}

struct Index {
    files: HashMap<&'static str, FileInfo>,
    dirs: HashSet<&'static str>,
    placeholder: bool,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| parse_manifest(MANIFEST))
}

fn parse_manifest(text: &'static str) -> Index {
    let mut lines = text.lines();
    let placeholder = lines.next().is_some_and(|h| h.contains("placeholder=1"));
    let mut files = HashMap::new();
    let mut dirs = HashSet::new();
    for line in lines {
        let mut parts = line.splitn(5, '\t');
        let (Some(variants), Some(etag), Some(size), Some(_mtime), Some(path)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let info = FileInfo {
            br: variants.contains('b'),
            gz: variants.contains('g'),
            raw: variants.contains('r'),
            etag,
            size: size.parse().unwrap_or(0),
        };
        files.insert(path, info);
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            dirs.insert(parent);
            dir = parent;
        }
    }
    Index {
        files,
        dirs,
        placeholder,
    }
}

/// True when the binary was built without `frontend-dist/` (only a page
/// telling to run `./install.sh` is served).
pub fn frontend_is_placeholder() -> bool {
    index().placeholder
}

/// Uncompressed bytes of an embedded file (logical path, no leading slash).
pub fn asset_bytes(logical: &str) -> Option<Vec<u8>> {
    let info = index().files.get(logical)?;
    if info.raw {
        return Assets::get(logical).map(|f| f.data.into_owned());
    }
    decoded(logical, info).ok()
}

/// The uncompressed bytes of a file stored compressed.
fn decoded(name: &str, info: &FileInfo) -> std::io::Result<Vec<u8>> {
    let missing = || std::io::Error::new(std::io::ErrorKind::NotFound, "not embedded");
    let mut out = Vec::with_capacity(info.size.min(256 << 20) as usize);
    if info.br {
        let file = Assets::get(&format!("{name}.br")).ok_or_else(missing)?;
        brotli_decompressor::Decompressor::new(&file.data[..], 64 << 10).read_to_end(&mut out)?;
    } else {
        let file = Assets::get(&format!("{name}.gz")).ok_or_else(missing)?;
        flate2::read::GzDecoder::new(&file.data[..]).read_to_end(&mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
fn gunzip(data: &[u8], size_hint: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size_hint.min(256 << 20) as usize);
    flate2::read::GzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

/// Gzip copies made from the brotli ones for clients that take only gzip
/// (browsers over plain HTTP), kept up to `GZIP_CACHE_BYTES` in total: the
/// frontend's files never change while the server runs.
const GZIP_CACHE_BYTES: usize = 48 << 20;

fn gzip_cache() -> &'static std::sync::Mutex<(HashMap<&'static str, Bytes>, usize)> {
    static CACHE: OnceLock<std::sync::Mutex<(HashMap<&'static str, Bytes>, usize)>> =
        OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The gzip form of a file stored as brotli.
fn gzip_copy(name: &'static str, info: &FileInfo) -> std::io::Result<Bytes> {
    if let Some(hit) = gzip_cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .0
        .get(name)
    {
        return Ok(hit.clone());
    }
    let plain = decoded(name, info)?;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 3 + 64),
        flate2::Compression::new(6),
    );
    std::io::Write::write_all(&mut enc, &plain)?;
    let gz = Bytes::from(enc.finish()?);
    let mut cache = gzip_cache().lock().unwrap_or_else(|p| p.into_inner());
    if cache.1 + gz.len() <= GZIP_CACHE_BYTES && cache.0.insert(name, gz.clone()).is_none() {
        cache.1 += gz.len();
    }
    Ok(gz)
}

/// The Open WebUI license shipped with the frontend (LICENSE, then
/// LICENSE_NOTICE when present).
pub fn license_text() -> Option<String> {
    let license = asset_bytes("licenses/open-webui/LICENSE")?;
    let mut text = String::from_utf8_lossy(&license).into_owned();
    if let Some(notice) = asset_bytes("licenses/open-webui/LICENSE_NOTICE") {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&notice));
    }
    Some(text)
}

/// Open WebUI's `CHANGELOG.md` as shipped in the wheel.
pub fn changelog_markdown() -> Option<String> {
    asset_bytes("CHANGELOG.md").map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Number of versions `/api/changelog` returns.
pub const CHANGELOG_API_VERSIONS: usize = 5;

/// The body of `/api/changelog`: the newest [`CHANGELOG_API_VERSIONS`]
/// versions of the embedded changelog, parsed once (`{}` without a frontend).
/// The whole parsed changelog is [`changelog::cached`].
pub fn changelog_json() -> &'static serde_json::Value {
    static LATEST: OnceLock<serde_json::Value> = OnceLock::new();
    LATEST.get_or_init(|| changelog::latest(CHANGELOG_API_VERSIONS))
}

/// Router that answers every path with the frontend (use as a nested
/// fallback, or prefer `.fallback(web::fallback)` directly).
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new().fallback(fallback)
}

/// Same as [`fallback`].
pub async fn serve_frontend(req: Request) -> Response {
    fallback(req).await
}

/// Handler for `Router::fallback`: serves the embedded frontend.
pub async fn fallback(req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    serve(&parts.method, parts.uri.path(), &parts.headers).await
}

fn json_error(status: StatusCode, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "detail": detail }).to_string(),
    )
        .into_response()
}

fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "Not Found")
}

/// Outcome of looking a request path up in the embedded tree.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    File(&'static str),
    NotFound,
}

fn lookup(idx: &Index, logical: &str) -> Lookup {
    const INDEX_HTML: &str = "index.html";
    if idx.placeholder {
        // Only the placeholder page exists; answer everything page-like with it.
        return if rules::spa_fallback_allowed(logical) {
            Lookup::File(INDEX_HTML)
        } else {
            Lookup::NotFound
        };
    }
    if let Some((key, _)) = idx.files.get_key_value(logical) {
        return Lookup::File(key);
    }
    if logical.is_empty() || idx.dirs.contains(logical) {
        let candidate = if logical.is_empty() {
            INDEX_HTML.to_string()
        } else {
            format!("{logical}/{INDEX_HTML}")
        };
        if let Some((key, _)) = idx.files.get_key_value(candidate.as_str()) {
            return Lookup::File(key);
        }
    }
    if rules::spa_fallback_allowed(logical) && idx.files.contains_key(INDEX_HTML) {
        return Lookup::File(INDEX_HTML);
    }
    Lookup::NotFound
}

async fn serve(method: &Method, raw_path: &str, headers: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = json_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let Ok(logical) = rules::normalize_path(raw_path) else {
        return not_found();
    };
    if rules::is_backend_path(&logical) {
        return not_found();
    }
    let idx = index();
    let name = match lookup(idx, &logical) {
        Lookup::File(name) => name,
        Lookup::NotFound => return not_found(),
    };
    let Some(info) = idx.files.get(name).copied() else {
        return not_found();
    };

    let head = method == Method::HEAD;
    let accept = AcceptEncoding::parse(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    // gzip is offered for brotli-only files too (made on the fly).
    let encoding = accept.choose(info.br, info.gz || info.br);

    let mut out = HeaderMap::new();
    let content_type = rules::content_type(name);
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(rules::cache_control(name)),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}{}\"", info.etag, encoding.etag_suffix())) {
        out.insert(header::ETAG, v);
    }
    if info.br || info.gz {
        out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if name.starts_with("pyodide/") {
        out.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }

    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        if rules::if_none_match_hits(inm, info.etag) {
            out.remove(header::CONTENT_TYPE);
            return (StatusCode::NOT_MODIFIED, out).into_response();
        }
    }

    if let Some(coding) = encoding.header_value() {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        let stored = if encoding == Encoding::Brotli {
            format!("{name}.br")
        } else if info.gz {
            format!("{name}.gz")
        } else {
            return match tokio::task::spawn_blocking(move || gzip_copy(name, &info)).await {
                Ok(Ok(gz)) => body_response(StatusCode::OK, out, gz, head),
                _ => read_failed(),
            };
        };
        let Some(file) = Assets::get(&stored) else {
            return not_found();
        };
        return body_response(StatusCode::OK, out, to_bytes(file.data), head);
    }

    if info.raw {
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let Some(file) = Assets::get(name) else {
            return not_found();
        };
        let bytes = to_bytes(file.data);
        let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        let if_range_ok = headers
            .get(header::IF_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| rules::if_none_match_hits(v, info.etag) && v != "*");
        let len = bytes.len() as u64;
        return match if if_range_ok {
            rules::parse_range(range, len)
        } else {
            RangeRequest::Full
        } {
            RangeRequest::Full => body_response(StatusCode::OK, out, bytes, head),
            RangeRequest::Partial(start, end) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                    out.insert(header::CONTENT_RANGE, v);
                }
                let part = bytes.slice(start as usize..=end as usize);
                body_response(StatusCode::PARTIAL_CONTENT, out, part, head)
            }
            RangeRequest::Unsatisfiable => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    out.insert(header::CONTENT_RANGE, v);
                }
                body_response(StatusCode::RANGE_NOT_SATISFIABLE, out, Bytes::new(), head)
            }
        };
    }

    // Identity requested but only a compressed copy exists: decode it.
    if head {
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
        return (StatusCode::OK, out, Body::empty()).into_response();
    }
    match tokio::task::spawn_blocking(move || decoded(name, &info)).await {
        Ok(Ok(plain)) => body_response(StatusCode::OK, out, Bytes::from(plain), false),
        _ => read_failed(),
    }
}

fn read_failed() -> Response {
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Failed to read embedded file",
    )
}

fn to_bytes(data: std::borrow::Cow<'static, [u8]>) -> Bytes {
    match data {
        std::borrow::Cow::Borrowed(b) => Bytes::from_static(b),
        std::borrow::Cow::Owned(v) => Bytes::from(v),
    }
}

fn body_response(status: StatusCode, mut headers: HeaderMap, bytes: Bytes, head: bool) -> Response {
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len() as u64),
    );
    let body = if head {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    (status, headers, body).into_response()
}

#[cfg(test)]
mod tests;
