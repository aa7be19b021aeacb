//! Requests the server makes to URLs a user gave it (web pages to read,
//! webhooks to call), behind the local-address guard: a host that resolves
//! to a loopback, private, link-local or otherwise internal address is
//! refused unless `ENABLE_LOCAL_WEB_FETCH` allows local requests. The
//! connection then goes to the very address that was checked, and every
//! redirect is checked again.
//!
//! (Not to be confused with `crate::web`, which serves the frontend.)

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the guard answers for a malformed or unsupported URL.
pub const INVALID_URL: &str =
    "Oops! The URL you provided is invalid. Please double-check and try again.";

/// Whether an address is one a server should not fetch on a user's behalf
/// (loopback, private, link-local, unique-local, CGNAT, unspecified, …).
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x64 && s[1] == 0xff9b)
        }
    }
}

/// `ENABLE_LOCAL_WEB_FETCH` (or its older name `ENABLE_RAG_LOCAL_WEB_FETCH`).
pub fn local_fetch_allowed() -> bool {
    ["ENABLE_LOCAL_WEB_FETCH", "ENABLE_RAG_LOCAL_WEB_FETCH"]
        .iter()
        .any(|k| {
            std::env::var(k)
                .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
                .unwrap_or(false)
        })
}

/// Why the guard refused a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not http(s), no host, or the host has no address.
    Invalid,
    /// The host name could not be resolved.
    Unresolved,
    /// The host resolves to an internal address and local requests are off.
    Internal,
}

/// Resolves a URL's host and refuses internal addresses unless local
/// requests are allowed. Returns the bare host and the address to connect
/// to, so the check and the connection use the same resolution.
pub async fn vet_url(url: &reqwest::Url) -> Result<(String, SocketAddr), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Invalid);
    }
    let host = url.host_str().ok_or(Refusal::Invalid)?.to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
        .await
        .map_err(|_| Refusal::Unresolved)?
        .collect();
    let first = *addrs.first().ok_or(Refusal::Invalid)?;
    if !local_fetch_allowed() && addrs.iter().any(|a| is_internal_ip(a.ip())) {
        return Err(Refusal::Internal);
    }
    Ok((bare, first))
}

/// [`vet_url`] with the answers a page fetch gives.
async fn vet_page_url(url: &reqwest::Url) -> ApiResult<(String, SocketAddr)> {
    vet_url(url).await.map_err(|r| match r {
        Refusal::Invalid => ApiError::bad_request(INVALID_URL),
        Refusal::Unresolved => ApiError::bad_request(format!("Could not resolve the host of {url}")),
        Refusal::Internal => ApiError::bad_request(
            "Fetching local or private network addresses is not allowed (set ENABLE_LOCAL_WEB_FETCH=true to allow it).",
        ),
    })
}

/// A response body read through [`get_guarded`].
pub struct Fetched {
    /// Where the body came from, after redirects.
    pub url: reqwest::Url,
    /// The `Content-Type` header as sent (empty when absent).
    pub content_type: String,
    pub body: Vec<u8>,
}

/// GETs `url`, following at most 5 redirects and vetting every hop against
/// the private-address guard; refuses a non-success status and a body larger
/// than `max` bytes. `timeout` bounds each request.
pub async fn get_guarded(
    url: &str,
    max: usize,
    timeout: Duration,
    verify_tls: bool,
) -> ApiResult<Fetched> {
    let mut url =
        reqwest::Url::parse(url.trim()).map_err(|_| ApiError::bad_request(INVALID_URL))?;
    for _ in 0..6 {
        let (host, addr) = vet_page_url(&url).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .danger_accept_invalid_certs(!verify_tls)
            .resolve(&host, addr)
            .user_agent("Mozilla/5.0 (compatible; open-webui)")
            .build()
            .map_err(ApiError::internal)?;
        let resp = client.get(url.clone()).send().await.map_err(|e| {
            ApiError::bad_request(format!("Could not read content from {url}: {e}"))
        })?;
        if resp.status().is_redirection() {
            let loc = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("Could not read content from {url}"))
                })?;
            url = url
                .join(loc)
                .map_err(|_| ApiError::bad_request(INVALID_URL))?;
            continue;
        }
        if !resp.status().is_success() {
            return Err(ApiError::bad_request(format!(
                "Could not read content from {url} (HTTP {})",
                resp.status().as_u16()
            )));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut body: Vec<u8> = Vec::new();
        let mut resp = resp;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ApiError::bad_request(format!("Could not read content from {url}: {e}")))?
        {
            if body.len() + chunk.len() > max {
                return Err(ApiError::bad_request(format!(
                    "The content at {url} is larger than {max} bytes."
                )));
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(Fetched {
            url,
            content_type,
            body,
        });
    }
    Err(ApiError::bad_request(format!(
        "Too many redirects for {url}"
    )))
}

/// Loads a web page through [`get_guarded`] and returns its text.
pub async fn fetch_page_text(state: &AppState, url: &str) -> ApiResult<String> {
    let max = match state.config.get("web.fetch.max_content_length") {
        Value::Number(n) => n.as_u64().filter(|n| *n > 0),
        _ => None,
    }
    .unwrap_or(10 * 1024 * 1024) as usize;
    let verify = state.config.get("web.loader.ssl_verification") != json!(false);
    let page = get_guarded(url, max, Duration::from_secs(20), verify).await?;
    let name = page.url.path().rsplit('/').next().unwrap_or("").to_string();
    let ct = page.content_type;
    let name = if ct.contains("html") || name.is_empty() {
        "page.html".to_string()
    } else {
        name
    };
    // Fetched pages are as hostile as uploads: parsed in a worker process.
    crate::rag::extract::extract_bytes_isolated(
        &state.settings.extract,
        page.body,
        &name,
        Some(&ct),
    )
    .await
    .map_err(|e| ApiError::bad_request(format!("Could not read content from the page: {e}")))
}

/// The media type of a response (`Content-Type` without parameters,
/// lower-cased; empty when absent).
pub fn media_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(crate::limits::media_type)
        .unwrap_or_default()
}

/// The body of an answer, refused past `max` bytes.
pub async fn read_limited(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    use futures::StreamExt;
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if out.len() + chunk.len() > max {
            return Err(format!(
                "the answer is larger than {} MiB",
                max / (1024 * 1024)
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal_ip(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal_ip(a.parse().unwrap()), "{a}");
        }
    }

    #[tokio::test]
    async fn the_guard_refuses_what_it_cannot_vet() {
        let refused = |u: &str| {
            let u = reqwest::Url::parse(u).unwrap();
            async move { vet_url(&u).await.err() }
        };
        assert_eq!(refused("ftp://example.com/x").await, Some(Refusal::Invalid));
        if !local_fetch_allowed() {
            assert_eq!(
                refused("http://127.0.0.1:9/").await,
                Some(Refusal::Internal)
            );
            assert_eq!(refused("http://[::1]/").await, Some(Refusal::Internal));
        }
    }
}
