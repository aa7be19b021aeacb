//! Remote embedding engines, configured as in upstream's Documents settings:
//! * `openai`: `POST {rag.openai.api_base_url}/embeddings` with
//!   `{"model", "input": [..]}` and a Bearer `rag.openai.api_key`;
//! * `azure_openai`: `POST {rag.azure_openai.base_url}/openai/deployments/{model}/embeddings?api-version=…`
//!   with an `api-key` header;
//! * `ollama`: `POST {rag.ollama.base_url}/api/embed` with `{"model", "input": [..]}`
//!   (Bearer `rag.ollama.api_key` when set).
//!
//! Texts go in batches of `rag.embedding_batch_size` (at least 1).

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::config::ConfigStore;

const TIMEOUT: Duration = Duration::from_secs(300);

fn http_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client builds with static settings")
    })
}

pub async fn embed(
    config: &ConfigStore,
    engine: &str,
    model: &str,
    texts: Vec<String>,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let batch = super::super::config_f64(config, "rag.embedding_batch_size")
        .map_or(1, |v| v.max(1.0) as usize);
    let cfg = |k: &str| config.get_str(k);
    let mut out = Vec::with_capacity(texts.len());
    for part in texts.chunks(batch) {
        let client = http_client();
        let req = match engine {
            "openai" => {
                let base = cfg("rag.openai.api_base_url");
                let key = cfg("rag.openai.api_key");
                let mut r = client
                    .post(format!("{}/embeddings", base.trim_end_matches('/')))
                    .json(&json!({"model": model, "input": part}));
                if !key.is_empty() {
                    r = r.bearer_auth(key);
                }
                r
            }
            "azure_openai" => {
                let base = cfg("rag.azure_openai.base_url");
                let version = cfg("rag.azure_openai.api_version");
                client
                    .post(format!(
                        "{}/openai/deployments/{}/embeddings",
                        base.trim_end_matches('/'),
                        model
                    ))
                    .query(&[("api-version", version)])
                    .header("api-key", cfg("rag.azure_openai.api_key"))
                    .json(&json!({"input": part}))
            }
            "ollama" => {
                let base = cfg("rag.ollama.base_url");
                let key = cfg("rag.ollama.api_key");
                let mut r = client
                    .post(format!("{}/api/embed", base.trim_end_matches('/')))
                    .json(&json!({"model": model, "input": part}));
                if !key.is_empty() {
                    r = r.bearer_auth(key);
                }
                r
            }
            other => anyhow::bail!("unsupported embedding engine {other:?}"),
        };
        let resp = req
            .timeout(TIMEOUT)
            .send()
            .await
            .with_context(|| format!("{engine} embedding request failed"))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("{engine} embedding answer is not JSON (HTTP {status})"))?;
        if !status.is_success() {
            let detail = body
                .pointer("/error/message")
                .or_else(|| body.get("error"))
                .or_else(|| body.get("detail"))
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default();
            anyhow::bail!("{engine} embedding request failed with HTTP {status}: {detail}");
        }
        let vectors = parse(engine, &body)?;
        anyhow::ensure!(
            vectors.len() == part.len(),
            "{engine} returned {} embeddings for {} inputs",
            vectors.len(),
            part.len()
        );
        out.extend(vectors);
    }
    Ok(out)
}

fn floats(v: &Value) -> Option<Vec<f32>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect()
}

/// The vectors of an answer, in input order.
pub fn parse(engine: &str, body: &Value) -> anyhow::Result<Vec<Vec<f32>>> {
    if engine == "ollama" {
        let list = body
            .get("embeddings")
            .and_then(Value::as_array)
            .context("ollama answer has no `embeddings`")?;
        return list
            .iter()
            .map(|v| floats(v).context("malformed embedding in the ollama answer"))
            .collect();
    }
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .context("embedding answer has no `data`")?;
    let mut items: Vec<(u64, Vec<f32>)> = Vec::with_capacity(data.len());
    for (pos, d) in data.iter().enumerate() {
        let idx = d.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
        let v = d
            .get("embedding")
            .and_then(floats)
            .context("malformed embedding in the answer")?;
        items.push((idx, v));
    }
    items.sort_by_key(|(i, _)| *i);
    Ok(items.into_iter().map(|(_, v)| v).collect())
}
