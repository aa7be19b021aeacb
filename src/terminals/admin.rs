//! The admin's side of terminal servers: telling an orchestrator from a
//! plain terminal, and reading or writing an orchestrator's policies and
//! their lifecycles, or asking it to refresh its terminals. The forms carry
//! the URL and key being edited, which may not be saved yet.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest answer read from an orchestrator's admin API.
const MAX_ANSWER: usize = 8 * 1024 * 1024;

fn bearer_default() -> Option<String> {
    Some("bearer".into())
}

/// The server a form is about: its URL and how to sign in to it (on the
/// verify form, other fields of upstream's connection form are accepted and
/// ignored).
#[derive(Deserialize)]
pub struct Target {
    pub url: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default = "bearer_default")]
    pub auth_type: Option<String>,
}

/// A read or write of one policy (`policy_data`) or of its lifecycle
/// (`lifecycle_data`); without data it is a read.
#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(flatten)]
    pub target: Target,
    pub policy_id: String,
    #[serde(default)]
    pub policy_data: Option<Map<String, Value>>,
    #[serde(default)]
    pub lifecycle_data: Option<Map<String, Value>>,
}

/// Which part of a policy a [`PolicyForm`] is about.
#[derive(Clone, Copy)]
pub enum PolicyPart {
    Policy,
    Lifecycle,
}

fn yes() -> bool {
    true
}

/// Which terminals an orchestrator should recreate.
#[derive(Deserialize)]
pub struct RefreshForm {
    #[serde(flatten)]
    pub target: Target,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub policy_id: Option<String>,
    #[serde(default = "yes")]
    pub only_idle: bool,
    #[serde(default)]
    pub reset: bool,
}

/// An orchestrator's refusal, relayed with its status and text.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub detail: String,
}

/// What a proxied admin call came to.
#[derive(Debug)]
pub enum Outcome {
    Answer(Value),
    Refused(Refused),
}

/// `AIOHTTP_CLIENT_TIMEOUT` (seconds), 300 when unset.
fn timeout() -> Duration {
    let secs = std::env::var("AIOHTTP_CLIENT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|n| *n > 0.0)
        .map(|n| n.ceil() as u64)
        .unwrap_or(300);
    Duration::from_secs(secs)
}

fn enabled(state: &AppState) -> ApiResult<()> {
    if state.settings.env_flags.enable_tool_servers {
        Ok(())
    } else {
        Err(ApiError::forbidden("Tool servers are disabled"))
    }
}

/// The URL without trailing slashes; 400 when empty.
fn base_url(url: &str) -> ApiResult<String> {
    let base = url.trim_end_matches('/');
    if base.is_empty() {
        return Err(ApiError::bad_request(
            "The terminal server URL is required.",
        ));
    }
    Ok(base.to_string())
}

/// `Authorization: Bearer <key>` when the form uses bearer auth with a key.
fn auth_headers(auth_type: Option<&str>, key: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if auth_type == Some("bearer") {
        if let Some(value) = key.and_then(super::bearer_value) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(AUTHORIZATION, v);
            }
        }
    }
    h
}

/// Whether `GET url` answers with a success status.
async fn answers(url: &str, headers: &HeaderMap) -> bool {
    let sent = super::client()
        .get(url)
        .headers(headers.clone())
        .timeout(timeout())
        .send()
        .await;
    sent.is_ok_and(|r| r.status().is_success())
}

/// `{"status": true, "type": "orchestrator"}` when the server serves a
/// policies API, `"terminal"` when it serves an Open Terminal config, else
/// 400.
pub async fn verify(state: &AppState, form: &Target) -> ApiResult<Value> {
    enabled(state)?;
    let base = base_url(&form.url)?;
    let headers = auth_headers(form.auth_type.as_deref(), form.key.as_deref());
    if answers(&format!("{base}/api/v1/policies"), &headers).await {
        return Ok(json!({"status": true, "type": "orchestrator"}));
    }
    if answers(&format!("{base}/api/config"), &headers).await {
        return Ok(json!({"status": true, "type": "terminal"}));
    }
    Err(ApiError::bad_request(
        "Could not reach the terminal server (neither an orchestrator's policies nor a terminal's config answered).",
    ))
}

/// Sends one JSON request to an orchestrator and relays what it says.
async fn forward(
    method: reqwest::Method,
    url: &str,
    auth_type: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> Result<Outcome, String> {
    let mut headers = auth_headers(auth_type, key);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut req = super::client()
        .request(method, url)
        .headers(headers)
        .timeout(timeout());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = crate::webfetch::read_limited(resp, MAX_ANSWER).await?;
    if status.is_success() {
        let v = serde_json::from_slice(&bytes).map_err(|_| "the answer is not JSON".to_string())?;
        return Ok(Outcome::Answer(v));
    }
    Ok(Outcome::Refused(Refused {
        status: status.as_u16(),
        detail: String::from_utf8_lossy(&bytes).into_owned(),
    }))
}

fn failed(what: &str, e: String) -> ApiError {
    tracing::debug!(error = %e, "{what}");
    ApiError::bad_request(what.to_string())
}

/// Reads (`GET`) or replaces (`PUT`) the policy `policy_id`, or its
/// lifecycle.
pub async fn policy(state: &AppState, form: PolicyForm, part: PolicyPart) -> ApiResult<Outcome> {
    enabled(state)?;
    let t = &form.target;
    let base = base_url(&t.url)?;
    let id = super::encode_segment(&form.policy_id);
    let (url, data, what) = match part {
        PolicyPart::Policy => (
            format!("{base}/api/v1/policies/{id}"),
            form.policy_data,
            "Could not read or write the policy on the terminal server.",
        ),
        PolicyPart::Lifecycle => (
            format!("{base}/api/v1/policies/{id}/lifecycle"),
            form.lifecycle_data,
            "Could not read or write the lifecycle on the terminal server.",
        ),
    };
    let (method, body) = match data {
        None => (reqwest::Method::GET, None),
        Some(d) => (reqwest::Method::PUT, Some(Value::Object(d))),
    };
    forward(method, &url, t.auth_type.as_deref(), t.key.as_deref(), body)
        .await
        .map_err(|e| failed(what, e))
}

/// Asks the orchestrator to recreate terminals (idle ones only, unless told
/// otherwise), for one user or policy when named.
pub async fn refresh(state: &AppState, form: RefreshForm) -> ApiResult<Outcome> {
    enabled(state)?;
    let t = &form.target;
    let base = base_url(&t.url)?;
    let mut body = json!({"only_idle": form.only_idle, "reset": form.reset});
    if let Some(u) = form.user_id.filter(|u| !u.is_empty()) {
        body["user_id"] = json!(u);
    }
    if let Some(p) = form.policy_id.filter(|p| !p.is_empty()) {
        body["policy_id"] = json!(p);
    }
    forward(
        reqwest::Method::POST,
        &format!("{base}/api/v1/terminals/refresh"),
        t.auth_type.as_deref(),
        t.key.as_deref(),
        Some(body),
    )
    .await
    .map_err(|e| failed("Could not refresh the terminals.", e))
}
