//! Reading pictures: the ones a caller hands in for editing (data URLs,
//! their own files, web URLs) and the ones an engine answers with (base64
//! or a URL to fetch).

use std::time::Duration;

use base64::Engine as _;

use super::Picture;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::webfetch::{vet_url, Refusal};

/// Pictures larger than this are refused, from callers and engines alike.
const MAX_PICTURE_BYTES: usize = 50 * 1024 * 1024;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The content type of a picture from its first bytes (PNG when unknown).
pub fn sniff_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else {
        "image/png"
    }
}

/// The file extension stored names get for a content type.
pub(crate) fn extension_for(content_type: &str) -> &'static str {
    match content_type.to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/jpg" | "image/mpo" => ".jpg",
        "image/webp" => ".webp",
        "image/gif" => ".gif",
        _ => ".png",
    }
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(cleaned.as_bytes())
        .ok()
        .filter(|b| b.len() <= MAX_PICTURE_BYTES)
}

/// A data URL or bare base64 text as a picture.
pub(crate) fn from_base64(text: &str) -> Option<Picture> {
    if let Some(rest) = text.strip_prefix("data:") {
        let (header, data) = rest.split_once(',')?;
        let mime = header.split(';').next().unwrap_or("").trim();
        let bytes = decode_b64(data)?;
        let content_type = if mime.is_empty() {
            sniff_mime(&bytes).to_string()
        } else {
            mime.to_ascii_lowercase()
        };
        return Some(Picture {
            bytes,
            content_type,
        });
    }
    let bytes = decode_b64(text)?;
    Some(Picture {
        content_type: sniff_mime(&bytes).to_string(),
        bytes,
    })
}

/// The picture a caller named for editing.
pub(crate) async fn load(state: &AppState, caller: &Caller, image: &str) -> ApiResult<Picture> {
    let image = image.trim();
    if image.starts_with("data:") {
        return from_base64(image)
            .ok_or_else(|| ApiError::bad_request("The image to edit is not valid base64 data."));
    }
    if image.starts_with("http://") || image.starts_with("https://") {
        let url = reqwest::Url::parse(image)
            .map_err(|_| ApiError::bad_request("The image URL is not valid."))?;
        // Our own file URLs are read from the store, with the caller's rights.
        if let Some(id) = file_id_of_path(url.path()) {
            return own_file(state, caller, id).await;
        }
        return fetch(&url, None, false)
            .await
            .map_err(|e| ApiError::bad_request(format!("Could not load the image to edit: {e}")));
    }
    let id = file_id_of_path(image).unwrap_or(image);
    own_file(state, caller, id).await
}

fn file_id_of_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v1/files/")?;
    Some(rest.split('/').next().unwrap_or(rest)).filter(|s| !s.is_empty())
}

async fn own_file(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Picture> {
    let lookup = id.to_string();
    let row = state
        .db
        .read(move |c| crate::db::files::get(c, &lookup))
        .await?
        .ok_or_else(ApiError::not_found_default)?;
    if !crate::files::can_access_file(state, caller, &row, "read").await? {
        return Err(ApiError::not_found_default());
    }
    let path = crate::files::resolve_path(state, &row).ok_or_else(ApiError::not_found_default)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found_default())?;
    if bytes.len() > MAX_PICTURE_BYTES {
        return Err(ApiError::bad_request("The image to edit is too large."));
    }
    let content_type = row
        .meta
        .get("content_type")
        .and_then(serde_json::Value::as_str)
        .filter(|t| t.starts_with("image/"))
        .map(str::to_string)
        .unwrap_or_else(|| sniff_mime(&bytes).to_string());
    Ok(Picture {
        bytes,
        content_type,
    })
}

/// Fetches a picture from the web. `trusted` skips the local-address guard
/// (for the engine's own origin, which the admin configured); redirects are
/// never followed. `headers` are sent as they are.
pub(crate) async fn fetch(
    url: &reqwest::Url,
    headers: Option<&reqwest::header::HeaderMap>,
    trusted: bool,
) -> Result<Picture, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60));
    if !trusted {
        let (host, addr) = vet_url(url).await.map_err(|r| match r {
            Refusal::Invalid => "the URL is not valid".to_string(),
            Refusal::Unresolved => "its host could not be resolved".to_string(),
            Refusal::Internal => {
                "local or private network addresses are not fetched (ENABLE_LOCAL_WEB_FETCH)"
                    .to_string()
            }
        })?;
        builder = builder.resolve(&host, addr);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let mut req = client.get(url.clone());
    if let Some(h) = headers {
        req = req.headers(h.clone());
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("the server answered {}", resp.status()));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !content_type.starts_with("image/") {
        return Err("the URL does not point to an image".into());
    }
    if resp
        .content_length()
        .is_some_and(|n| n as usize > MAX_PICTURE_BYTES)
    {
        return Err("the image is too large".into());
    }
    let bytes = crate::webfetch::read_limited(resp, MAX_PICTURE_BYTES).await?;
    Ok(Picture {
        bytes,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &str =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

    #[test]
    fn base64_with_and_without_a_header() {
        let p = from_base64(&format!("data:image/webp;base64,{PNG}")).unwrap();
        assert_eq!(p.content_type, "image/webp");
        let p = from_base64(PNG).unwrap();
        assert_eq!(p.content_type, "image/png");
        assert!(p.bytes.starts_with(b"\x89PNG"));
        assert!(from_base64("data:image/png;base64,@@@").is_none());
        assert!(from_base64("data:image/png").is_none());
    }

    #[test]
    fn file_paths_name_their_id() {
        assert_eq!(file_id_of_path("/api/v1/files/abc/content"), Some("abc"));
        assert_eq!(file_id_of_path("/api/v1/files/abc"), Some("abc"));
        assert_eq!(file_id_of_path("/api/v1/files/"), None);
        assert_eq!(file_id_of_path("abc"), None);
    }
}
