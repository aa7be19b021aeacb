//! The path part of a proxied request, made safe to append to a terminal
//! server's URL: fully percent-decoded, normalised, never above the
//! server's root.

/// Decodes `%XX` escapes once; invalid UTF-8 becomes U+FFFD.
fn decode_once(s: &str) -> String {
    String::from_utf8_lossy(&crate::auth::trusted::percent_decode_bytes(s)).into_owned()
}

/// `posixpath.normpath`'s rules: empty and `.` segments dropped, `..`
/// taking the previous segment away (kept at the front of a relative path,
/// dropped at the root of an absolute one).
fn normalize(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in p.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// The cleaned, decoded path (trailing slash kept), or `None` when it is
/// refused: still encoded after eight rounds of decoding, holding a
/// backslash, tab or line break, resolving above the root, or empty.
pub fn sanitize(path: &str) -> Option<String> {
    let mut decoded = path.to_string();
    for _ in 0..8 {
        let once = decode_once(&decoded);
        if once == decoded {
            break;
        }
        decoded = once;
    }
    if decode_once(&decoded) != decoded {
        return None;
    }
    if decoded.contains(['\\', '\t', '\r', '\n']) {
        return None;
    }
    let trailing = decoded.ends_with('/');
    let normalized = normalize(&decoded);
    let mut cleaned = normalized.trim_start_matches('/').to_string();
    if cleaned.starts_with("..") || cleaned == "." {
        return None;
    }
    if trailing && !cleaned.is_empty() && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    Some(cleaned)
}

/// Percent-encodes what may not stand in a URL path as it is (`/` is kept
/// as the separator); the decoded path goes out unambiguous.
pub fn encode(path: &str) -> String {
    crate::toolserver::openapi::percent_encode(path, b"-._~!$&'()*+,;=:@/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass() {
        assert_eq!(sanitize("files/list").as_deref(), Some("files/list"));
        assert_eq!(
            sanitize("api/terminals/").as_deref(),
            Some("api/terminals/")
        );
        assert_eq!(sanitize("/a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(sanitize("a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(sanitize("a%20b").as_deref(), Some("a b"));
        assert_eq!(sanitize("/../etc").as_deref(), Some("etc"));
    }

    #[test]
    fn traversal_is_refused() {
        for bad in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "%2e%2e/x",
            "%252e%252e/x",
            "%25252e%25252e%252fx",
            "a/..\\..\\b",
            ".\t./x",
            "x\n",
            "",
            ".",
            "a/..",
            "%2e%2e%2fx%ff",
        ] {
            assert_eq!(sanitize(bad), None, "{bad:?}");
        }
        // Encoded nine times: still encoded after the cap.
        let mut deep = "%2e%2e".to_string();
        for _ in 0..8 {
            deep = deep.replace('%', "%25");
        }
        assert_eq!(sanitize(&format!("{deep}/x")), None);
    }

    #[test]
    fn encoding_keeps_separators() {
        assert_eq!(encode("a b/c?d#e%"), "a%20b/c%3Fd%23e%25");
    }
}
