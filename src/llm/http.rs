//! The shared HTTP client, timeouts, auth headers and error mapping, plus the
//! generic relay of an upstream answer to our own client.

use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{LlmError, Relay, RelayBody};

/// Upstream error bodies are read up to this size; the rest is not worth showing.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The settings every provider client shares.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
}

pub(crate) fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        builder()
            .build()
            .expect("the HTTP client builds with static settings")
    })
}

/// [`client`] sending header names in title case (`Authorization`,
/// `Content-Type`): for requests relayed to Anthropic-style gateways, some
/// of which compare header names case-sensitively. Names of our own headers
/// stay as written everywhere else (`x-goog-api-key`, `x-api-key`).
pub(crate) fn title_case_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        builder()
            .http1_title_case_headers()
            .build()
            .expect("the HTTP client builds with static settings")
    })
}

fn env_secs(names: &[&str]) -> Option<Option<u64>> {
    for name in names {
        if let Ok(v) = std::env::var(name) {
            let v = v.trim();
            if v.is_empty() {
                return Some(None);
            }
            if let Ok(n) = v.parse::<f64>() {
                if n > 0.0 {
                    return Some(Some(n.ceil() as u64));
                }
            }
        }
    }
    None
}

/// Bound for listing a connection's models (`AIOHTTP_CLIENT_TIMEOUT_MODEL_LIST`,
/// seconds). Unlike upstream an empty value does not mean "wait forever":
/// one dead connection must never hold up the model list.
pub fn model_list_timeout() -> Duration {
    static T: OnceLock<Duration> = OnceLock::new();
    *T.get_or_init(|| {
        let secs = env_secs(&[
            "AIOHTTP_CLIENT_TIMEOUT_MODEL_LIST",
            "AIOHTTP_CLIENT_TIMEOUT_OPENAI_MODEL_LIST",
        ])
        .flatten()
        .unwrap_or(5);
        Duration::from_secs(secs)
    })
}

/// Total time for a non-streamed request (`AIOHTTP_CLIENT_TIMEOUT`, default 300 s).
pub(crate) fn request_timeout() -> Option<Duration> {
    static T: OnceLock<Option<u64>> = OnceLock::new();
    T.get_or_init(|| env_secs(&["AIOHTTP_CLIENT_TIMEOUT"]).unwrap_or(Some(300)))
        .map(Duration::from_secs)
}

/// Longest silence inside a streamed answer (`AIOHTTP_CLIENT_STREAM_IDLE_TIMEOUT`, default none).
pub(crate) fn stream_idle_timeout() -> Option<Duration> {
    static T: OnceLock<Option<u64>> = OnceLock::new();
    T.get_or_init(|| env_secs(&["AIOHTTP_CLIENT_STREAM_IDLE_TIMEOUT"]).flatten())
        .map(Duration::from_secs)
}

/// Authorization and custom headers for a connection, following its
/// `auth_type` (`bearer` by default, `none`) and `headers` object.
pub(crate) fn auth_headers(key: Option<&str>, api_config: &Value, url: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let auth_type = api_config
        .get("auth_type")
        .and_then(Value::as_str)
        .unwrap_or("bearer");
    let azure = is_azure(api_config);
    if let Some(key) = key.filter(|k| !k.is_empty()) {
        if azure && !matches!(auth_type, "azure_ad" | "microsoft_entra_id") {
            if let Ok(v) = HeaderValue::from_str(key) {
                h.insert("api-key", v);
            }
        }
        if auth_type == "bearer" {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}")) {
                h.insert(reqwest::header::AUTHORIZATION, v);
            }
        }
    }
    if url.contains("openrouter.ai") {
        h.insert(
            "HTTP-Referer",
            HeaderValue::from_static("https://openwebui.com/"),
        );
        h.insert("X-Title", HeaderValue::from_static("Open WebUI"));
    }
    if let Some(extra) = api_config.get("headers").and_then(Value::as_object) {
        for (k, v) in extra {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            if let (Ok(name), Ok(val)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                h.insert(name, val);
            }
        }
    }
    h
}

pub(crate) fn is_azure(api_config: &Value) -> bool {
    api_config
        .get("azure")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || api_config.get("provider").and_then(Value::as_str) == Some("azure")
}

/// The URL of `endpoint` (`chat/completions`, `responses`) on the Azure
/// deployment named by the target's model, with the connection's API version.
/// A model name that could leave the deployment path is refused.
pub(crate) fn azure_deployment_url(
    target: &super::ModelTarget,
    base: &str,
    endpoint: &str,
) -> Result<String, super::LlmError> {
    let model = &target.upstream_id;
    if model.is_empty() || model.contains("..") || model.contains(['/', '\\', '?', '#']) {
        return Err(super::LlmError::Decode(
            "invalid model name for an Azure deployment URL".into(),
        ));
    }
    let version = target
        .api_config
        .get("api_version")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or("2023-03-15-preview");
    Ok(format!(
        "{base}/openai/deployments/{model}/{endpoint}?api-version={version}"
    ))
}

/// The innermost cause of an error, which is what says what went wrong
/// ("Connection refused") rather than where.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    // "Connection refused (os error 111)" reads better without the errno.
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
    .to_lowercase()
}

/// Maps a failure to send a request (or to receive its head) to an [`LlmError`].
pub(crate) fn send_error(url: &str, e: reqwest::Error, timeout: Option<Duration>) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout {
            url: url.to_string(),
            secs: timeout.map(|t| t.as_secs().max(1)).unwrap_or(0),
        };
    }
    LlmError::Connect {
        url: url.to_string(),
        reason: root_cause(&e),
    }
}

/// Reads a non-2xx answer into [`LlmError::Status`], with the provider's
/// own message when it sent one.
pub(crate) async fn status_error(resp: reqwest::Response) -> LlmError {
    let status = resp.status().as_u16();
    let (body, text) = read_limited(resp).await;
    let message = error_message(&body).unwrap_or_else(|| {
        let t = text.trim();
        if t.is_empty() {
            StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_string()
        } else {
            t.chars().take(500).collect()
        }
    });
    LlmError::Status {
        status,
        message,
        body,
    }
}

async fn read_limited(resp: reqwest::Response) -> (Value, String) {
    let mut buf = Vec::new();
    let mut s = resp.bytes_stream();
    while let Some(Ok(chunk)) = s.next().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= MAX_ERROR_BODY {
            buf.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (body, text)
}

/// The human part of a provider's error body: OpenAI `{error:{message}}`,
/// Ollama `{error:"…"}`, FastAPI `{detail}`, or `{message}`.
pub(crate) fn error_message(body: &Value) -> Option<String> {
    fn pick(v: &Value) -> Option<String> {
        match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            // `{"message": …}` or a nested `{"detail": …}`, else the object as text.
            Value::Object(o) => ["message", "detail"]
                .iter()
                .find_map(|k| o.get(*k).filter(|v| v.is_string()).and_then(pick))
                .or_else(|| Some(Value::Object(o.clone()).to_string())),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    body.get("error")
        .and_then(pick)
        .or_else(|| body.get("detail").and_then(pick))
        .or_else(|| body.get("message").and_then(pick))
}

/// Relays an upstream answer to our client. Event streams and NDJSON (and
/// anything when `stream` is set) are copied chunk by chunk without
/// buffering; other bodies are read and returned as JSON (or text). Errors
/// keep the provider's JSON body and gain a `detail`, so the UI and API
/// clients both find a message.
pub(crate) async fn forward(
    req: reqwest::RequestBuilder,
    url: &str,
    stream: bool,
    timeout: Option<Duration>,
) -> Relay {
    let req = match timeout {
        Some(t) if !stream => req.timeout(t),
        _ => req,
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Relay::error(&send_error(url, e, timeout)),
    };
    relay(resp, stream).await
}

pub(crate) async fn relay(resp: reqwest::Response, stream: bool) -> Relay {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let streamy = ctype.contains("text/event-stream") || ctype.contains("ndjson");
    if status.is_success() && (stream || streamy) {
        let mut headers = HeaderMap::new();
        for (k, v) in resp.headers() {
            let name = k.as_str();
            if matches!(
                name,
                "content-encoding"
                    | "content-length"
                    | "transfer-encoding"
                    | "server"
                    | "date"
                    | "connection"
                    | "keep-alive"
            ) {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(v.as_bytes()),
            ) {
                headers.append(n, v);
            }
        }
        // Proxies between us and the browser must not hold chunks back.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        let body = resp.bytes_stream().map(|r| r.map_err(Into::into)).boxed();
        return Relay {
            status,
            headers,
            body: RelayBody::Stream(body),
        };
    }
    let retry: Vec<(HeaderName, HeaderValue)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "retry-after" | "retry-after-ms"))
        .filter_map(|(k, v)| {
            Some((
                HeaderName::from_bytes(k.as_str().as_bytes()).ok()?,
                HeaderValue::from_bytes(v.as_bytes()).ok()?,
            ))
        })
        .collect();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let err = LlmError::Interrupted(root_cause(&e));
            return Relay::error(&err);
        }
    };
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    let body = if status.is_success() {
        match parsed {
            Some(v) => RelayBody::Json(v),
            None => RelayBody::Text(bytes),
        }
    } else {
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        let body = match parsed {
            Some(Value::Object(mut o)) => {
                if !o.contains_key("detail") {
                    let msg =
                        error_message(&Value::Object(o.clone())).unwrap_or_else(|| text.clone());
                    o.insert("detail".into(), Value::String(msg));
                }
                Value::Object(o)
            }
            Some(other) => json!({"detail": other}),
            None => {
                json!({"detail": if text.is_empty() { format!("The model provider answered {}", status.as_u16()) } else { text }})
            }
        };
        RelayBody::Json(body)
    };
    let mut headers = HeaderMap::new();
    for (k, v) in retry {
        headers.insert(k, v);
    }
    Relay {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_common_shapes() {
        assert_eq!(
            error_message(&json!({"error": {"message": "bad key"}})).as_deref(),
            Some("bad key")
        );
        assert_eq!(
            error_message(&json!({"error": "model not found"})).as_deref(),
            Some("model not found")
        );
        assert_eq!(
            error_message(&json!({"detail": "nope"})).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message(&json!({"x": 1})), None);
    }

    #[test]
    fn auth_types() {
        let h = auth_headers(Some("k"), &json!({}), "http://x");
        assert_eq!(h["authorization"], "Bearer k");
        let h = auth_headers(
            Some("k"),
            &json!({"auth_type": "none", "headers": {"X-A": "1"}}),
            "http://x",
        );
        assert!(h.get("authorization").is_none());
        assert_eq!(h["x-a"], "1");
        let h = auth_headers(Some("k"), &json!({"azure": true}), "http://x");
        assert_eq!(h["api-key"], "k");
        assert!(auth_headers(Some(""), &json!({}), "http://x").is_empty());
    }
}
