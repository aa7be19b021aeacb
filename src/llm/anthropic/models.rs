//! Listing the models of Anthropic's own API: `GET {url}/models`, paged with
//! `after_id`, turned into OpenAI-style list entries named by `display_name`.

use serde_json::{json, Value};

use super::API_VERSION;
use crate::llm::http::{client, model_list_timeout};

/// Pages asked for at most; each page holds up to 1000 models.
const MAX_PAGES: usize = 20;

/// The connection's models, or `None` when it cannot be reached. A refusal
/// (non-200) lists nothing rather than failing the whole model list.
pub async fn list(url: &str, key: Option<&str>) -> Option<Vec<Value>> {
    let base = url.trim_end_matches('/');
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut req = client()
            .get(format!("{base}/models"))
            .header("x-api-key", key.unwrap_or(""))
            .header("anthropic-version", API_VERSION)
            .query(&[("limit", "1000")])
            .timeout(model_list_timeout());
        if let Some(a) = &after {
            req = req.query(&[("after_id", a.as_str())]);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("anthropic model list at {base}: {e}");
                return None;
            }
        };
        if !resp.status().is_success() {
            tracing::warn!("anthropic model list at {base}: {}", resp.status());
            return Some(vec![]);
        }
        let page: Value = resp.json().await.ok()?;
        for m in page
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = m.get("id").cloned().unwrap_or(Value::Null);
            let name = m.get("display_name").cloned().unwrap_or_else(|| id.clone());
            out.push(json!({
                "id": id, "object": "model", "created": 0,
                "owned_by": "anthropic", "name": name,
            }));
        }
        let more = page
            .get("has_more")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match page.get("last_id").and_then(Value::as_str) {
            Some(last) if more && after.as_deref() != Some(last) => after = Some(last.to_string()),
            _ => break,
        }
    }
    Some(out)
}
