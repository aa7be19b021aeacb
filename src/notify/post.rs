//! Posting to a webhook: the URL passes the local-address guard (loopback,
//! private and link-local hosts are refused unless local fetching is
//! allowed), the connection goes to the vetted address, redirects are not
//! followed and the call is bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::settings::VERSION;

/// The parsed URL, its bare host and the vetted address to connect to;
/// `None` for a URL that is malformed, unresolvable or refused.
pub async fn vet_url(raw: &str) -> Option<(reqwest::Url, String, SocketAddr)> {
    if raw.contains(['\\', '\t', '\n', '\r']) {
        return None;
    }
    let url = reqwest::Url::parse(raw).ok()?;
    let (bare, first) = crate::webfetch::vet_url(&url).await.ok()?;
    Some((url, bare, first))
}

/// Posts a message to a webhook in the shape its service expects (Slack and
/// Google Chat `text`, Discord `content`, a Teams card), else the event data.
pub async fn post_webhook(
    app_name: &str,
    url: &str,
    message: &str,
    data: &Value,
    description: Option<&str>,
) -> anyhow::Result<()> {
    let (parsed, host, addr) = vet_url(url)
        .await
        .ok_or_else(|| anyhow::anyhow!("URL refused by the local-address guard"))?;
    let mut text = message.to_string();
    if let Some(d) = description.filter(|d| *d != message) {
        text.push('\n');
        text.push_str(d);
    }
    if let Some(e) = data.get("event").and_then(Value::as_str) {
        text.push_str(&format!("\nEvent: {e}"));
    }
    let payload =
        if url.contains("https://hooks.slack.com") || url.contains("https://chat.googleapis.com") {
            json!({"text": text})
        } else if url.contains("https://discord.com/api/webhooks") {
            let content = if text.chars().count() < 2000 {
                text
            } else {
                format!(
                    "{}... (truncated)",
                    text.chars().take(1980).collect::<String>()
                )
            };
            json!({"content": content})
        } else if url.contains("webhook.office.com") {
            let action = data
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("undefined");
            let mut facts: Vec<Value> = Vec::new();
            if let Some(d) = description {
                facts.push(json!({"name": "description", "value": d}));
            }
            if let Some(e) = data.get("event") {
                facts.push(json!({"name": "event", "value": e}));
            }
            if let Some(Value::Object(u)) = data.get("user").or_else(|| data.get("actor")) {
                for (k, v) in u {
                    facts.push(json!({"name": k, "value": v}));
                }
            }
            json!({
                "@type": "MessageCard",
                "@context": "http://schema.org/extensions",
                "themeColor": "0076D7",
                "summary": message,
                "sections": [{
                    "activityTitle": message,
                    "activitySubtitle": format!("{app_name} ({VERSION}) - {action}"),
                    "activityImage": "/static/favicon.png",
                    "text": description,
                    "facts": facts,
                    "markdown": true,
                }],
            })
        } else {
            data.clone()
        };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .resolve(&host, addr)
        .build()?;
    let resp = client.post(parsed).json(&payload).send().await?;
    if !resp.status().is_success() {
        anyhow::bail!("HTTP {}", resp.status());
    }
    Ok(())
}
