//! Pure decision helpers for serving the frontend: path normalisation,
//! content negotiation, MIME types, cache policy and the SPA fallback rule.

/// Content coding chosen for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }

    /// Suffix appended to the base ETag so each representation has its own tag.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => "-br",
            Encoding::Gzip => "-gz",
            Encoding::Identity => "",
        }
    }
}

const IMPLICIT_IDENTITY_Q: f32 = 0.001;

/// Quality values the client gave for the codings we can produce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcceptEncoding {
    pub br: f32,
    pub gzip: f32,
    pub identity: f32,
}

impl AcceptEncoding {
    /// Parses an `Accept-Encoding` header value. `None` (no header) means the
    /// client did not ask for any coding, so only identity is used.
    pub fn parse(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return AcceptEncoding {
                br: 0.0,
                gzip: 0.0,
                identity: 1.0,
            };
        };
        let (mut br, mut gzip, mut identity, mut star) = (None, None, None, None);
        for item in header.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if coding.is_empty() {
                continue;
            }
            let mut q = 1.0f32;
            for param in parts {
                let param = param.trim();
                if let Some((name, value)) = param.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        q = value
                            .trim()
                            .parse::<f32>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .unwrap_or(0.0)
                            .clamp(0.0, 1.0);
                    }
                }
            }
            let slot = match coding.as_str() {
                "br" => &mut br,
                "gzip" | "x-gzip" => &mut gzip,
                "identity" => &mut identity,
                "*" => &mut star,
                _ => continue,
            };
            // If a coding is listed twice, keep the higher weight.
            *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
        }
        AcceptEncoding {
            br: br.or(star).unwrap_or(0.0),
            gzip: gzip.or(star).unwrap_or(0.0),
            // Unless named (directly or through `*`), identity is acceptable
            // but preferred last.
            identity: identity.or(star).unwrap_or(IMPLICIT_IDENTITY_Q),
        }
    }

    /// Picks the representation to send given what is stored. Identity can
    /// always be produced (by decompressing the gzip copy if needed), so it is
    /// the answer when nothing better is acceptable, even if the client
    /// claimed not to want it.
    pub fn choose(&self, has_br: bool, has_gz: bool) -> Encoding {
        let mut best = (Encoding::Identity, self.identity, 0u8);
        let candidates = [
            (has_br, Encoding::Brotli, self.br, 2u8),
            (has_gz, Encoding::Gzip, self.gzip, 1u8),
        ];
        for (available, encoding, q, rank) in candidates {
            if !available || q <= 0.0 {
                continue;
            }
            // Higher q wins; on a tie prefer br over gzip over identity.
            if q > best.1 || (q == best.1 && rank > best.2) {
                best = (encoding, q, rank);
            }
        }
        best.0
    }
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    BadEncoding,
    Traversal,
    Backslash,
    ControlChar,
}

/// Decodes and normalises a request path into the logical key of the embedded
/// tree: no leading slash, `/`-separated, empty and `.` segments dropped.
/// Anything that tries to step upwards or smuggle separators is refused.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    if raw.contains('\\') {
        return Err(PathError::Backslash);
    }
    let decoded = percent_decode(raw).ok_or(PathError::BadEncoding)?;
    if decoded.contains('\\') {
        return Err(PathError::Backslash);
    }
    if decoded.chars().any(|c| c.is_control()) {
        return Err(PathError::ControlChar);
    }
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(PathError::Traversal),
            s => segments.push(s),
        }
    }
    Ok(segments.join("/"))
}

fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// First path segments owned by the backend; the frontend never answers them.
const BACKEND_PREFIXES: &[&str] = &["api", "ws", "openai", "ollama"];

pub fn is_backend_path(logical: &str) -> bool {
    let first = logical.split('/').next().unwrap_or("");
    BACKEND_PREFIXES.contains(&first)
}

/// Extensions of files that only ever exist as real files. A request for one
/// that is missing is a 404, never the SPA page.
const ASSET_EXTENSIONS: &[&str] = &[
    "js",
    "mjs",
    "cjs",
    "css",
    "map",
    "wasm",
    "json",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "svg",
    "ico",
    "webp",
    "avif",
    "bmp",
    "woff",
    "woff2",
    "ttf",
    "otf",
    "eot",
    "mp3",
    "mp4",
    "wav",
    "ogg",
    "webm",
    "whl",
    "zip",
    "gz",
    "br",
    "tar",
    "data",
    "webmanifest",
    "xml",
    "txt",
    "csv",
    "md",
    "pdf",
];

fn extension(logical: &str) -> Option<String> {
    let name = logical.rsplit('/').next().unwrap_or(logical);
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// Whether a path with no matching file should get `index.html` (client-side
/// routes such as `/c/<id>` or `/admin/settings`) rather than a 404.
pub fn spa_fallback_allowed(logical: &str) -> bool {
    match extension(logical) {
        Some(ext) => !ASSET_EXTENSIONS.contains(&ext.as_str()),
        None => true,
    }
}

/// `Content-Type` for a logical path.
pub fn content_type(logical: &str) -> String {
    let forced = match extension(logical).as_deref() {
        Some("js") | Some("mjs") | Some("cjs") => Some("text/javascript"),
        Some("wasm") => Some("application/wasm"),
        Some("webp") => Some("image/webp"),
        Some("webmanifest") => Some("application/manifest+json"),
        Some("whl") | Some("data") | Some("zip") => Some("application/octet-stream"),
        _ => None,
    };
    let mime = match forced {
        Some(m) => m.to_string(),
        None => mime_guess::from_path(logical)
            .first_or_octet_stream()
            .essence_str()
            .to_string(),
    };
    if mime.starts_with("text/") {
        format!("{mime}; charset=utf-8")
    } else {
        mime
    }
}

pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const CACHE_NONE: &str = "no-cache";
pub const CACHE_MODERATE: &str = "public, max-age=3600";

/// `Cache-Control` for a logical path of the embedded tree.
pub fn cache_control(logical: &str) -> &'static str {
    if logical.starts_with("_app/immutable/") {
        CACHE_IMMUTABLE
    } else if logical.ends_with(".html")
        || logical == "_app/version.json"
        || logical == "_app/env.js"
    {
        // The app polls version.json to detect a new deployment.
        CACHE_NONE
    } else {
        CACHE_MODERATE
    }
}

/// Whether any tag in an `If-None-Match` header matches `base` (the content
/// hash; representation suffixes and weak prefixes are ignored).
pub fn if_none_match_hits(header: &str, base: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        let tag = tag.trim_matches('"');
        tag == base
            || tag
                .strip_prefix(base)
                .is_some_and(|rest| rest == "-br" || rest == "-gz")
    })
}

/// A single byte range resolved against a body of `len` bytes (inclusive end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable `Range` header (absent, malformed or multi-range): send everything.
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        let Ok(suffix) = end.parse::<u64>() else {
            return RangeRequest::Full;
        };
        if suffix == 0 || len == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Partial(len.saturating_sub(suffix), len - 1);
    }
    let Ok(start) = start.parse::<u64>() else {
        return RangeRequest::Full;
    };
    let end = if end.is_empty() {
        len.saturating_sub(1)
    } else {
        match end.parse::<u64>() {
            Ok(e) if e >= start => e.min(len.saturating_sub(1)),
            _ => return RangeRequest::Full,
        }
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_prefers_brotli_then_gzip() {
        let ae = AcceptEncoding::parse(Some("gzip, deflate, br, zstd"));
        assert_eq!(ae.choose(true, true), Encoding::Brotli);
        assert_eq!(ae.choose(false, true), Encoding::Gzip);
        assert_eq!(ae.choose(false, false), Encoding::Identity);
    }

    #[test]
    fn encoding_respects_q_values_wildcards_and_identity() {
        // (Accept-Encoding, the choice when brotli and gzip are both stored)
        let cases = [
            (Some("br;q=0, gzip"), Encoding::Gzip),
            (Some("br;q=0.5, gzip;q=0.8"), Encoding::Gzip),
            (Some("br;q=0, gzip;q=0"), Encoding::Identity),
            (Some("BR;Q=1.0"), Encoding::Brotli),
            (Some("gzip;q=nonsense, br"), Encoding::Brotli),
            (Some("x-gzip"), Encoding::Gzip),
            (Some("*"), Encoding::Brotli),
            (Some("*;q=0.5, identity"), Encoding::Identity),
            (Some("*;q=0, gzip"), Encoding::Gzip),
            (Some("identity"), Encoding::Identity),
            (Some(""), Encoding::Identity),
            (None, Encoding::Identity),
            (Some("deflate, zstd"), Encoding::Identity),
        ];
        for (header, want) in cases {
            assert_eq!(
                AcceptEncoding::parse(header).choose(true, true),
                want,
                "{header:?}"
            );
        }
        // identity refused but nothing else stored: identity anyway.
        assert_eq!(
            AcceptEncoding::parse(Some("identity;q=0, br")).choose(false, false),
            Encoding::Identity
        );
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize_path("/").unwrap(), "");
        assert_eq!(
            normalize_path("/static/favicon.png").unwrap(),
            "static/favicon.png"
        );
        assert_eq!(
            normalize_path("//static///./favicon.png").unwrap(),
            "static/favicon.png"
        );
        assert_eq!(normalize_path("/a%20b/%E2%9C%93").unwrap(), "a b/\u{2713}");
        assert_eq!(normalize_path("/static/").unwrap(), "static");
    }

    #[test]
    fn traversal_is_refused() {
        assert_eq!(normalize_path("/../etc/passwd"), Err(PathError::Traversal));
        assert_eq!(normalize_path("/static/../../x"), Err(PathError::Traversal));
        assert_eq!(normalize_path("/%2e%2e/x"), Err(PathError::Traversal));
        assert_eq!(normalize_path("/%2E%2E%2fx"), Err(PathError::Traversal));
        assert_eq!(
            normalize_path("/static/..%2F..%2Fsecret"),
            Err(PathError::Traversal)
        );
        assert_eq!(normalize_path("/static\\..\\x"), Err(PathError::Backslash));
        assert_eq!(
            normalize_path("/static%5c..%5cx"),
            Err(PathError::Backslash)
        );
        assert_eq!(normalize_path("/a%00b"), Err(PathError::ControlChar));
        assert_eq!(normalize_path("/a%zz"), Err(PathError::BadEncoding));
        assert_eq!(normalize_path("/a%c3"), Err(PathError::BadEncoding));
        assert_eq!(normalize_path("/a%2"), Err(PathError::BadEncoding));
        // Dots that are not a whole segment are ordinary names.
        assert_eq!(normalize_path("/a..b/...").unwrap(), "a..b/...");
    }

    #[test]
    fn backend_prefixes() {
        assert!(is_backend_path("api/v1/x"));
        assert!(is_backend_path("api"));
        assert!(is_backend_path("ws/socket.io"));
        assert!(is_backend_path("openai/models"));
        assert!(is_backend_path("ollama/api/tags"));
        assert!(!is_backend_path("apis"));
        assert!(!is_backend_path("static/api"));
        assert!(!is_backend_path(""));
    }

    #[test]
    fn spa_fallback_decision() {
        assert!(spa_fallback_allowed(""));
        assert!(spa_fallback_allowed("auth"));
        assert!(spa_fallback_allowed(
            "c/6f1c2a9e-2b1d-4a7e-9d55-0d6c1c1f0b1a"
        ));
        assert!(spa_fallback_allowed("admin/settings/general"));
        assert!(spa_fallback_allowed("s/abc"));
        assert!(spa_fallback_allowed("notes/v1.2"));
        assert!(spa_fallback_allowed(".hidden"));
        assert!(!spa_fallback_allowed("_app/immutable/chunks/missing.js"));
        assert!(!spa_fallback_allowed("x.JS"));
        assert!(!spa_fallback_allowed("a/b.css"));
        assert!(!spa_fallback_allowed("static/nope.png"));
        assert!(!spa_fallback_allowed("wasm/x.wasm"));
        assert!(!spa_fallback_allowed("a.mjs"));
        assert!(!spa_fallback_allowed("a.js.map"));
        assert!(!spa_fallback_allowed("font.woff2"));
        assert!(!spa_fallback_allowed("d.svg"));
        assert!(!spa_fallback_allowed("x.json"));
    }

    #[test]
    fn mime_types() {
        let cases = [
            (
                "_app/immutable/entry/start.js",
                "text/javascript; charset=utf-8",
            ),
            ("pyodide/pyodide.mjs", "text/javascript; charset=utf-8"),
            ("wasm/ort.wasm", "application/wasm"),
            ("static/a.webp", "image/webp"),
            ("index.html", "text/html; charset=utf-8"),
            ("a/b.css", "text/css; charset=utf-8"),
            ("favicon.png", "image/png"),
            ("x.svg", "image/svg+xml"),
            ("manifest.json", "application/json"),
            ("static/site.webmanifest", "application/manifest+json"),
            (
                "pyodide/numpy-1.0-cp312-cp312-pyodide_2024_0_wasm32.whl",
                "application/octet-stream",
            ),
            ("no_extension", "application/octet-stream"),
            ("font.woff2", "font/woff2"),
        ];
        for (path, want) in cases {
            assert_eq!(content_type(path), want, "{path}");
        }
    }

    #[test]
    fn cache_policy() {
        assert_eq!(cache_control("_app/immutable/chunks/a.js"), CACHE_IMMUTABLE);
        assert_eq!(cache_control("index.html"), CACHE_NONE);
        assert_eq!(cache_control("_app/version.json"), CACHE_NONE);
        assert_eq!(cache_control("static/loader.js"), CACHE_MODERATE);
        assert_eq!(cache_control("pyodide/pyodide.asm.wasm"), CACHE_MODERATE);
    }

    #[test]
    fn etag_matching() {
        assert!(if_none_match_hits("\"abc-10\"", "abc-10"));
        assert!(if_none_match_hits("W/\"abc-10-br\"", "abc-10"));
        assert!(if_none_match_hits("\"zzz\", \"abc-10-gz\"", "abc-10"));
        assert!(if_none_match_hits("*", "abc-10"));
        assert!(!if_none_match_hits("\"abc-1\"", "abc-10"));
        assert!(!if_none_match_hits("\"abc-10-xx\"", "abc-10"));
        assert!(!if_none_match_hits("", "abc-10"));
    }

    #[test]
    fn ranges() {
        // (Range header, the request it makes of a 100-byte file)
        let cases = [
            (None, RangeRequest::Full),
            (Some("bytes=0-"), RangeRequest::Partial(0, 99)),
            (Some("bytes=10-19"), RangeRequest::Partial(10, 19)),
            (Some("bytes=90-500"), RangeRequest::Partial(90, 99)),
            (Some("bytes=-10"), RangeRequest::Partial(90, 99)),
            (Some("bytes=-500"), RangeRequest::Partial(0, 99)),
            (Some("bytes=100-"), RangeRequest::Unsatisfiable),
            (Some("bytes=5-1"), RangeRequest::Full),
            (Some("bytes=0-1,5-6"), RangeRequest::Full),
            (Some("items=0-1"), RangeRequest::Full),
        ];
        for (header, want) in cases {
            assert_eq!(parse_range(header, 100), want, "{header:?}");
        }
    }
}
