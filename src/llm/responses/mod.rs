//! OpenAI connections set to the Responses API (`api_configs[i].api_type ==
//! "responses"`): chat requests are rewritten for `/responses`
//! ([`request::to_responses`]), streamed answers are read event by event
//! ([`stream::Mapper`]) and folded into the reply's items
//! ([`reduce::apply`]), and a whole answer comes back in Chat Completions
//! shape ([`reply::to_chat_completion`]). [`proxy`] relays `/openai/responses`.

pub mod reduce;
pub mod reply;
pub mod request;
pub mod stream;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use super::http::{self, client, send_error};
use super::{LlmError, ModelTarget, Relay, RelayBody};

/// Whether a connection's config selects the Responses API.
pub fn is_responses(api_config: &Value) -> bool {
    api_config.get("api_type").and_then(Value::as_str) == Some("responses")
}

/// The `/responses` URL for a connection's chat completions URL (the path's
/// last `/chat/completions` replaced, any query kept).
pub fn responses_url(chat_url: &str) -> String {
    let (path, query) = match chat_url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (chat_url, None),
    };
    let base = path.strip_suffix("/chat/completions").unwrap_or(path);
    match query {
        Some(q) => format!("{base}/responses?{q}"),
        None => format!("{base}/responses"),
    }
}

/// Where a proxied Responses request goes: `<base>/responses`, or the
/// deployment's URL on an Azure connection that is not on Azure's `v1` API.
fn proxy_url(target: &ModelTarget) -> Result<String, LlmError> {
    let base = &target.base_url;
    if !http::is_azure(&target.api_config) || base.contains("/openai/v1") {
        return Ok(format!("{base}/responses"));
    }
    http::azure_deployment_url(target, base, "responses")
}

/// The largest error body read from a provider for a proxied request.
const MAX_ERROR_BODY: usize = 1 << 20;

/// Sends a Responses request for an API client and hands back what the
/// provider answered: an event stream as it arrives, JSON as it is, and a
/// refusal with the provider's own status and body.
pub async fn proxy(target: &ModelTarget, body: &Value, stream: bool) -> Relay {
    let url = match proxy_url(target) {
        Ok(u) => u,
        Err(e) => return Relay::error(&e),
    };
    let timeout = (!stream).then(|| Duration::from_secs(300));
    let mut req = client()
        .post(&url)
        .headers(http::auth_headers(
            target.api_key.as_deref(),
            &target.api_config,
            &url,
        ))
        .json(body);
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Relay::error(&send_error(&target.base_url, e, timeout)),
    };
    if resp.status().is_success() {
        return http::relay(resp, stream).await;
    }
    let status = resp.status();
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_ERROR_BODY {
            buf.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let body = match serde_json::from_slice::<Value>(&buf) {
        Ok(v) if v.is_object() || v.is_array() => RelayBody::Json(v),
        _ => RelayBody::Text(Bytes::from(buf)),
    };
    Relay {
        status,
        headers: Default::default(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_api_type_and_the_url() {
        assert!(is_responses(&json!({"api_type": "responses"})));
        assert!(!is_responses(&json!({"api_type": "chat_completions"})));
        assert!(!is_responses(&json!({})));
        assert_eq!(
            responses_url("http://h/v1/chat/completions"),
            "http://h/v1/responses"
        );
        assert_eq!(
            responses_url("http://h/openai/deployments/m/chat/completions?api-version=1"),
            "http://h/openai/deployments/m/responses?api-version=1"
        );
    }

    #[test]
    fn azure_deployments_get_their_own_proxy_url() {
        let target = |config: Value, id: &str| ModelTarget {
            provider: crate::llm::Provider::OpenAi,
            base_url: "https://az.example".into(),
            api_key: None,
            upstream_id: id.into(),
            url_idx: 0,
            api_config: config,
        };
        assert_eq!(
            proxy_url(&target(json!({}), "m")).unwrap(),
            "https://az.example/responses"
        );
        let azure = json!({"azure": true, "api_version": "v9"});
        assert_eq!(
            proxy_url(&target(azure.clone(), "gpt")).unwrap(),
            "https://az.example/openai/deployments/gpt/responses?api-version=v9"
        );
        assert!(proxy_url(&target(azure, "../x")).is_err());
    }
}
