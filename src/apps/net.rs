//! Where an app may live and how we reach it: HTTPS only (plain HTTP only
//! for an origin listed in `APP_ALLOWED_PRIVATE_ORIGINS`), no credentials,
//! query or fragment in the URL; private and reserved addresses refused
//! unless the origin is listed; no redirects, bounded time and size.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The env var listing origins (`scheme://host:port`) allowed to be private.
pub const PRIVATE_ORIGINS_ENV: &str = "APP_ALLOWED_PRIVATE_ORIGINS";

/// Largest answer read from an app over HTTP.
const MAX_RESPONSE: usize = 262_144;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    Invalid,
    NeedsHttps,
    Query,
}

/// `scheme://host:port` of a URL, the port spelled out.
fn origin(url: &str) -> Result<(reqwest::Url, String), UrlError> {
    if url.chars().any(|c| matches!(c, '\\' | '\r' | '\n' | '\t')) {
        return Err(UrlError::Invalid);
    }
    let u = reqwest::Url::parse(url.trim()).map_err(|_| UrlError::Invalid)?;
    if !matches!(u.scheme(), "http" | "https")
        || !u.username().is_empty()
        || u.password().is_some()
        || u.fragment().is_some()
    {
        return Err(UrlError::Invalid);
    }
    let host = u.host_str().ok_or(UrlError::Invalid)?.to_ascii_lowercase();
    let port = u.port_or_known_default().ok_or(UrlError::Invalid)?;
    let o = format!("{}://{host}:{port}", u.scheme());
    Ok((u, o))
}

/// Checks an app URL; returns whether its origin is allowed to be private.
pub fn validate_url(url: &str) -> Result<bool, UrlError> {
    let (u, o) = origin(url)?;
    if u.query().is_some() {
        return Err(UrlError::Query);
    }
    let listed = std::env::var(PRIVATE_ORIGINS_ENV).unwrap_or_default();
    let allowed = listed
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| origin(s).ok())
        .any(|(_, a)| a == o);
    if u.scheme() != "https" && !allowed {
        return Err(UrlError::NeedsHttps);
    }
    Ok(allowed)
}

/// Why an app could not be reached, as the admin reads it.
pub fn url_error_detail(e: UrlError) -> &'static str {
    match e {
        UrlError::Invalid | UrlError::Query => {
            "Invalid app URL. Use an HTTP(S) URL without credentials, query or fragment."
        }
        UrlError::NeedsHttps => {
            "App URLs must use HTTPS. List a local HTTP origin in APP_ALLOWED_PRIVATE_ORIGINS."
        }
    }
}

/// Resolves the URL's host; unless `allow_private`, every address must be
/// public. Returns the host as connected to and the address used.
pub async fn resolve(url: &reqwest::Url, allow_private: bool) -> ApiResult<(String, SocketAddr)> {
    let host = url
        .host_str()
        .ok_or_else(|| ApiError::bad_request("Invalid app URL"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| ApiError::BadGateway("The app's host name could not be resolved in time.".into()))?
    .map_err(|_| ApiError::BadGateway("The app's host name could not be resolved.".into()))?
    .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| ApiError::BadGateway("The app's host name has no address.".into()))?;
    if !allow_private
        && addrs
            .iter()
            .any(|a| crate::webfetch::is_internal_ip(a.ip()))
    {
        return Err(ApiError::BadGateway(
            "The app resolves to a private or reserved address. List its origin in APP_ALLOWED_PRIVATE_ORIGINS to allow it."
                .into(),
        ));
    }
    Ok((host, first))
}

/// GETs the app's URL with its key; returns the status and, for a 200, the
/// JSON body.
pub async fn get_json(url: &str, api_key: &str) -> ApiResult<(u16, Option<Value>)> {
    let allow_private =
        validate_url(url).map_err(|e| ApiError::BadGateway(url_error_detail(e).into()))?;
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|_| ApiError::bad_request("Invalid app URL"))?;
    let (host, addr) = resolve(&parsed, allow_private).await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .resolve(&host, addr)
        .build()
        .map_err(ApiError::internal)?;
    let resp = client
        .get(parsed)
        .bearer_auth(api_key)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                ApiError::GatewayTimeout("The app did not answer in time.".into())
            } else {
                ApiError::BadGateway("Could not reach the app server.".into())
            }
        })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Ok((status, None));
    }
    let body = crate::webfetch::read_limited(resp, MAX_RESPONSE)
        .await
        .map_err(|_| ApiError::BadGateway("The app's answer is too large.".into()))?;
    let v = serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadGateway("The app did not answer with JSON.".into()))?;
    Ok((status, Some(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert_eq!(validate_url("https://apps.example.com/x"), Ok(false));
        assert_eq!(
            validate_url("http://apps.example.com"),
            Err(UrlError::NeedsHttps)
        );
        assert_eq!(
            validate_url("https://a.example.com/?q=1"),
            Err(UrlError::Query)
        );
        assert_eq!(
            validate_url("https://u:p@a.example.com"),
            Err(UrlError::Invalid)
        );
        assert_eq!(
            validate_url("https://a.example.com/#f"),
            Err(UrlError::Invalid)
        );
        assert_eq!(validate_url("ftp://a.example.com"), Err(UrlError::Invalid));
        assert_eq!(
            validate_url("https://a.example.com/\tx"),
            Err(UrlError::Invalid)
        );
        assert_eq!(
            origin("HTTPS://A.example.com/x").unwrap().1,
            "https://a.example.com:443"
        );
    }
}
