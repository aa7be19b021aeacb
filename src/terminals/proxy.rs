//! The HTTP proxy to a terminal server: a user's request (file browser,
//! terminal sessions, notebooks, ports) goes to the server with the
//! connection's credentials and who is asking; the answer streams back.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, COOKIE};
use reqwest::Method;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Paths of an orchestrator's own admin API, never reachable through here.
const ADMIN_PATHS: [&str; 3] = ["api/v1/policies", "api/v1/status", "api/v1/terminals"];
/// Answer headers that describe the connection to the terminal server, not
/// the answer (the body is relayed decoded and re-framed).
const DROPPED: [&str; 10] = [
    "transfer-encoding",
    "connection",
    "content-encoding",
    "content-length",
    "server",
    "date",
    "keep-alive",
    "upgrade",
    "trailer",
    "proxy-connection",
];
/// The whole exchange, body included.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest answer relayed; past it the relayed body breaks off.
pub const MAX_ANSWER_BYTES: u64 = 1024 * 1024 * 1024;

/// The methods relayed.
pub fn relayed_method(m: &str) -> Option<Method> {
    match m {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            Method::from_bytes(m.as_bytes()).ok()
        }
        _ => None,
    }
}

/// One request to relay, as the edge read it.
pub struct Outgoing {
    pub method: Method,
    /// The path below the server's root, decoded once (as routed).
    pub path: String,
    pub query: Option<String>,
    /// The chat from the `/chats/{chat_id}/` form of the route.
    pub chat_id: Option<String>,
    /// The browser's `X-Session-Id` header (its chat).
    pub session_header: Option<String>,
    pub content_type: Option<String>,
    /// The browser's `Cookie` header, relayed when the connection says so.
    pub cookie: Option<String>,
    /// The browser's `oauth_session_id` cookie (for `system_oauth`).
    pub oauth_session: Option<String>,
    pub body: Option<reqwest::Body>,
}

/// The terminal server's answer.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// `TERMINAL_PROXY_HEADERS`: a JSON object of headers set on every answer.
fn extra_headers() -> &'static Vec<(HeaderName, HeaderValue)> {
    static EXTRA: OnceLock<Vec<(HeaderName, HeaderValue)>> = OnceLock::new();
    EXTRA.get_or_init(|| {
        let raw = std::env::var("TERMINAL_PROXY_HEADERS").unwrap_or_default();
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&raw) else {
            return Vec::new();
        };
        m.into_iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(&v).ok()?,
                ))
            })
            .collect()
    })
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// The path of `url` (undecoded), without trailing slashes.
fn url_path(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default()
}

/// Whether `rel` (a path below the configured URL, with its leading `/`)
/// is one of the orchestrator's admin paths.
fn is_admin_path(rel: &str) -> bool {
    ADMIN_PATHS
        .iter()
        .any(|p| rel == format!("/{p}") || rel.starts_with(&format!("/{p}/")))
}

/// The `Authorization` header the connection's auth type calls for:
/// `bearer` its key, `session` the caller's own credential, `system_oauth`
/// the caller's SSO access token, `none` nothing.
async fn authorization(
    state: &AppState,
    conn: &Value,
    caller: &Caller,
    oauth_session: Option<&str>,
) -> Option<String> {
    match conn
        .get("auth_type")
        .and_then(Value::as_str)
        .unwrap_or("bearer")
    {
        "bearer" => super::bearer_value(conn.get("key").and_then(Value::as_str).unwrap_or("")),
        "session" => super::bearer_value(&caller.token),
        "system_oauth" => {
            let session = oauth_session?;
            let token = crate::auth::oauth::sessions::system_access_token(
                state,
                caller.id(),
                Some(session),
            )
            .await?;
            super::bearer_value(&token)
        }
        _ => None,
    }
}

/// Relays `req` to terminal server `server_id` for `caller`.
pub async fn forward(
    state: &AppState,
    caller: &Caller,
    server_id: &str,
    req: Outgoing,
) -> ApiResult<Answer> {
    let conn = super::usable(state, caller, server_id).await?;
    let base = super::server_url(&conn);
    if base.is_empty() {
        return Err(ApiError::Unavailable(
            "This terminal server has no URL configured.".into(),
        ));
    }
    let Some(safe) = super::sanitize(&req.path) else {
        return Err(ApiError::bad_request("Invalid path"));
    };
    // The path as sent, relative to the configured URL's own path.
    let configured = url_path(conn.get("url").and_then(Value::as_str).unwrap_or(""));
    let below = url_path(&base);
    let rel = format!(
        "{}/{safe}",
        below.strip_prefix(&configured).unwrap_or(&below)
    );
    if is_admin_path(&rel) {
        return Err(ApiError::forbidden(
            "This path of the terminal server is not available here.",
        ));
    }
    let mut url = format!("{base}/{}", super::path::encode(&safe));
    if let Some(q) = req.query.as_deref().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }

    let mut headers = HeaderMap::new();
    insert(&mut headers, "x-user-id", caller.id());
    let session = req
        .chat_id
        .as_deref()
        .or(req.session_header.as_deref())
        .filter(|s| !s.is_empty());
    if let Some(chat_id) = session {
        insert(&mut headers, "x-session-id", chat_id);
        if !super::in_chats(&conn) {
            return Err(ApiError::forbidden(
                "This terminal server is not offered in chats.",
            ));
        }
        let context = super::chat_context_id(&conn, chat_id);
        if super::per_chat(&conn) && context.is_none() {
            return Err(ApiError::Conflict(
                "This terminal needs a saved chat.".into(),
            ));
        }
        if let Some(c) = context {
            insert(&mut headers, super::CONTEXT_HEADER, &c);
        }
    }
    if conn
        .get("forward_cookies")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        if let Some(c) = req.cookie.as_deref() {
            if let Ok(v) = HeaderValue::from_str(c) {
                headers.insert(COOKIE, v);
            }
        }
    }
    if let Some(auth) = authorization(state, &conn, caller, req.oauth_session.as_deref()).await {
        if let Ok(v) = HeaderValue::from_str(&auth) {
            headers.insert(AUTHORIZATION, v);
        }
    }
    if let Some(ct) = req.content_type.as_deref() {
        if let Ok(v) = HeaderValue::from_str(ct) {
            headers.insert(CONTENT_TYPE, v);
        }
    }
    // Bodies are relayed as they are; nothing to decompress on the way.
    insert(&mut headers, "accept-encoding", "identity");

    let mut builder = super::client()
        .request(req.method, &url)
        .headers(headers)
        .timeout(TOTAL_TIMEOUT);
    if let Some(body) = req.body {
        builder = builder.body(body);
    }
    let resp = builder.send().await.map_err(|e| {
        tracing::warn!(server = %server_id, error = %e, "terminal proxy request failed");
        ApiError::BadGateway(format!(
            "The terminal server could not be reached: {}",
            without_url(&e)
        ))
    })?;

    let status = resp.status().as_u16();
    let mut out = HeaderMap::new();
    for (name, value) in resp.headers() {
        if !DROPPED.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    for (name, value) in extra_headers() {
        out.insert(name.clone(), value.clone());
    }
    Ok(Answer {
        status,
        headers: out,
        body: bounded(resp, MAX_ANSWER_BYTES),
    })
}

/// A reqwest error's text without the URL (which may carry a query).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "it did not answer in time".into()
    } else if e.is_connect() {
        "the connection failed".into()
    } else {
        "the request failed".into()
    }
}

/// The answer's body, broken off with an error past `max` bytes.
fn bounded(resp: reqwest::Response, max: u64) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let mut seen: u64 = 0;
    resp.bytes_stream()
        .map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            seen += chunk.len() as u64;
            if seen > max {
                return Err(std::io::Error::other(
                    "the terminal server's answer is too large",
                ));
            }
            Ok(chunk)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/api/v1/policies"));
        assert!(is_admin_path("/api/v1/terminals/refresh"));
        assert!(!is_admin_path("/api/v1/policiesx"));
        assert!(!is_admin_path("/api/terminals"));
        assert!(!is_admin_path("/p/x/api/v1/policies"));
    }

    #[test]
    fn methods() {
        assert!(relayed_method("PATCH").is_some());
        assert!(relayed_method("TRACE").is_none());
        assert!(relayed_method("CONNECT").is_none());
    }
}
