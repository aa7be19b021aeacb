//! The calls to each image engine. Every function returns the pictures and
//! the request body it sent (kept in the stored files' meta, as upstream
//! does), or a 400 naming what the engine answered.

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Map, Value};

use super::source::{self, from_base64};
use super::{dimensions, Edit, Generate, Picture};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Engines answer within this time or the request fails.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(300);
/// Engine answers (JSON with base64 pictures) larger than this are refused.
const MAX_ANSWER_BYTES: usize = 200 * 1024 * 1024;

fn failed(what: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("The image engine failed: {what}"))
}

pub(super) fn cfg(state: &AppState, key: &str) -> String {
    state.config.get_str(key)
}

pub(super) fn trim_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// Models named `gpt-image…` answer with URLs and refuse `response_format`
/// (upstream's default `IMAGE_URL_RESPONSE_MODELS_REGEX_PATTERN`; other
/// patterns are not read).
fn answers_with_urls(model: &str) -> bool {
    model.starts_with("gpt-image")
}

fn bearer(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}")) {
        h.insert(AUTHORIZATION, v);
    }
    h
}

async fn send(req: reqwest::RequestBuilder) -> ApiResult<Value> {
    let resp = req.timeout(ENGINE_TIMEOUT).send().await.map_err(failed)?;
    let status = resp.status();
    let body = crate::webfetch::read_limited(resp, MAX_ANSWER_BYTES)
        .await
        .map_err(failed)?;
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if !status.is_success() {
        let detail = parsed
            .as_ref()
            .and_then(crate::llm::error_message)
            .unwrap_or_else(|| status.to_string());
        return Err(failed(detail));
    }
    parsed.ok_or_else(|| failed("its answer is not JSON"))
}

fn b64_picture(text: &str) -> ApiResult<Picture> {
    from_base64(text).ok_or_else(|| failed("it answered a picture that is not valid base64"))
}

/// The pictures of an OpenAI-style answer (`data[].b64_json` or `data[].url`).
async fn openai_pictures(res: &Value, base: &str, key: &str) -> ApiResult<Vec<Picture>> {
    let mut out = Vec::new();
    for item in res["data"].as_array().into_iter().flatten() {
        if let Some(url) = item["url"].as_str().filter(|u| !u.is_empty()) {
            let parsed = reqwest::Url::parse(url).map_err(failed)?;
            let trusted = same_origin(&parsed, base);
            let headers = trusted.then(|| bearer(key));
            out.push(
                source::fetch(&parsed, headers.as_ref(), trusted)
                    .await
                    .map_err(failed)?,
            );
        } else if let Some(b64) = item["b64_json"].as_str() {
            out.push(b64_picture(b64)?);
        }
    }
    Ok(out)
}

fn same_origin(url: &reqwest::Url, base: &str) -> bool {
    reqwest::Url::parse(base).is_ok_and(|b| {
        b.scheme() == url.scheme()
            && b.host_str() == url.host_str()
            && b.port_or_known_default() == url.port_or_known_default()
    })
}

/// Pictures in Gemini's `generateContent` answer.
fn gemini_parts(res: &Value) -> ApiResult<Vec<Picture>> {
    let mut out = Vec::new();
    for cand in res["candidates"].as_array().into_iter().flatten() {
        for part in cand["content"]["parts"].as_array().into_iter().flatten() {
            if let Some(data) = part["inlineData"]["data"]
                .as_str()
                .filter(|d| !d.is_empty())
            {
                out.push(b64_picture(data)?);
            }
        }
    }
    Ok(out)
}

pub(super) async fn generate(
    state: &AppState,
    caller: &Caller,
    req: &Generate,
) -> ApiResult<(Vec<Picture>, Value)> {
    let engine = cfg(state, "image_generation.engine");
    let configured_model = cfg(state, "image_generation.model");
    let configured_size = cfg(state, "image_generation.size");
    let http = crate::llm::client();
    match engine.as_str() {
        "openai" => {
            let model = if configured_model.is_empty() {
                "dall-e-2".to_string()
            } else {
                configured_model.clone()
            };
            let base = trim_base(&cfg(state, "image_generation.openai.api_base_url"));
            let key = cfg(state, "image_generation.openai.api_key");
            let mut url = format!("{base}/images/generations");
            let version = cfg(state, "image_generation.openai.api_version");
            if !version.is_empty() {
                url = format!("{url}?api-version={version}");
            }
            let mut data = Map::new();
            data.insert("model".into(), json!(model));
            data.insert("prompt".into(), json!(req.prompt));
            data.insert("n".into(), json!(req.n));
            let size = req
                .size
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| Some(configured_size.clone()).filter(|s| !s.is_empty()));
            if let Some(size) = size {
                data.insert("size".into(), json!(size));
            }
            if !answers_with_urls(&configured_model) {
                data.insert("response_format".into(), json!("b64_json"));
            }
            if let Value::Object(extra) = state.config.get("image_generation.openai.params") {
                data.extend(extra);
            }
            let body = Value::Object(data);
            let headers = bearer(&key);
            let res = send(http.post(&url).headers(headers).json(&body)).await?;
            Ok((openai_pictures(&res, &base, &key).await?, body))
        }
        "gemini" => {
            let model = if configured_model.is_empty() {
                "imagen-3.0-generate-002".to_string()
            } else {
                configured_model
            };
            let base = trim_base(&cfg(state, "image_generation.gemini.api_base_url"));
            let key = cfg(state, "image_generation.gemini.api_key");
            let method = cfg(state, "image_generation.gemini.endpoint_method");
            let (model, body) = if method == "generateContent" {
                (
                    format!("{model}:generateContent"),
                    json!({"contents": [{"parts": [{"text": req.prompt}]}]}),
                )
            } else {
                (
                    format!("{model}:predict"),
                    json!({
                        "instances": {"prompt": req.prompt},
                        "parameters": {"sampleCount": req.n, "outputOptions": {"mimeType": "image/png"}},
                    }),
                )
            };
            let res = send(
                http.post(format!("{base}/models/{model}"))
                    .header("x-goog-api-key", key)
                    .json(&body),
            )
            .await?;
            let pictures = if model.ends_with(":predict") {
                let mut out = Vec::new();
                for p in res["predictions"].as_array().into_iter().flatten() {
                    if let Some(b64) = p["bytesBase64Encoded"].as_str() {
                        out.push(b64_picture(b64)?);
                    }
                }
                out
            } else {
                gemini_parts(&res)?
            };
            Ok((pictures, body))
        }
        "automatic1111" | "" => {
            let base = trim_base(&cfg(state, "image_generation.automatic1111.base_url"));
            let auth = automatic1111_auth(state);
            // One checkpoint serves the whole instance: only an admin may switch it.
            if let (Some(model), true) = (&req.model, caller.is_admin()) {
                if !model.is_empty() {
                    send(
                        http.post(format!("{base}/sdapi/v1/options"))
                            .headers(auth.clone())
                            .json(&json!({"sd_model_checkpoint": model})),
                    )
                    .await?;
                    state
                        .config
                        .set("image_generation.model", json!(model))
                        .await
                        .map_err(ApiError::internal)?;
                }
            }
            let (w, h) = dimensions(req.size.as_deref(), &configured_size);
            let mut data = Map::new();
            data.insert("prompt".into(), json!(req.prompt));
            data.insert("batch_size".into(), json!(req.n));
            data.insert("width".into(), json!(w));
            data.insert("height".into(), json!(h));
            let steps = req
                .steps
                .or_else(|| state.config.get("image_generation.steps").as_i64());
            if let Some(steps) = steps {
                data.insert("steps".into(), json!(steps));
            }
            if let Some(neg) = &req.negative_prompt {
                data.insert("negative_prompt".into(), json!(neg));
            }
            if let Value::Object(extra) = state
                .config
                .get("image_generation.automatic1111.api_params")
            {
                data.extend(extra);
            }
            let body = Value::Object(data);
            let res = send(
                http.post(format!("{base}/sdapi/v1/txt2img"))
                    .headers(auth)
                    .json(&body),
            )
            .await?;
            let mut out = Vec::new();
            for img in res["images"].as_array().into_iter().flatten() {
                if let Some(b64) = img.as_str() {
                    out.push(b64_picture(b64)?);
                }
            }
            let mut sent = body;
            sent["info"] = res["info"].clone();
            Ok((out, sent))
        }
        "comfyui" => Err(not_supported("ComfyUI")),
        other => Err(ApiError::bad_request(format!(
            "The image engine \"{other}\" is not known."
        ))),
    }
}

pub(super) async fn edit(
    state: &AppState,
    req: &Edit,
    sources: &[Picture],
) -> ApiResult<(Vec<Picture>, Value)> {
    let engine = cfg(state, "images.edit.engine");
    let configured_model = cfg(state, "images.edit.model");
    let model = req.model.clone().unwrap_or(configured_model.clone());
    let configured_size = cfg(state, "images.edit.size");
    let size = req
        .size
        .clone()
        .filter(|s| s.contains('x'))
        .or_else(|| Some(configured_size).filter(|s| s.contains('x')));
    let http = crate::llm::client();
    match engine.as_str() {
        "openai" => {
            let base = trim_base(&cfg(state, "images.edit.openai.api_base_url"));
            let key = cfg(state, "images.edit.openai.api_key");
            let mut data = Map::new();
            data.insert("model".into(), json!(model));
            data.insert("prompt".into(), json!(req.prompt));
            if let Some(n) = req.n.filter(|n| *n > 0) {
                data.insert("n".into(), json!(n));
            }
            if let Some(size) = &size {
                data.insert("size".into(), json!(size));
            }
            if let Some(bg) = req.background.as_ref().filter(|b| !b.is_empty()) {
                data.insert("background".into(), json!(bg));
            }
            if !answers_with_urls(&configured_model) {
                data.insert("response_format".into(), json!("b64_json"));
            }
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in &data {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                form = form.text(k.clone(), text);
            }
            let field = if sources.len() == 1 {
                "image"
            } else {
                "image[]"
            };
            for pic in sources {
                let name = format!(
                    "{}{}",
                    crate::db::new_id(),
                    source::extension_for(&pic.content_type)
                );
                let part = reqwest::multipart::Part::bytes(pic.bytes.clone())
                    .file_name(name)
                    .mime_str(&pic.content_type)
                    .map_err(failed)?;
                form = form.part(field, part);
            }
            let mut url = format!("{base}/images/edits");
            let version = cfg(state, "images.edit.openai.api_version");
            if !version.is_empty() {
                url = format!("{url}?api-version={version}");
            }
            let headers = bearer(&key);
            let res = send(http.post(&url).headers(headers).multipart(form)).await?;
            Ok((
                openai_pictures(&res, &base, &key).await?,
                Value::Object(data),
            ))
        }
        "gemini" => {
            let base = trim_base(&cfg(state, "images.edit.gemini.api_base_url"));
            let key = cfg(state, "images.edit.gemini.api_key");
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut parts = vec![json!({"text": req.prompt})];
            for pic in sources {
                parts.push(json!({"inline_data": {
                    "mime_type": "image/png",
                    "data": b64.encode(&pic.bytes),
                }}));
            }
            let body = json!({"contents": [{"parts": parts}]});
            let res = send(
                http.post(format!("{base}/models/{model}:generateContent"))
                    .header("x-goog-api-key", key)
                    .json(&body),
            )
            .await?;
            // The pictures sent are not repeated in the stored meta.
            Ok((
                gemini_parts(&res)?,
                json!({"model": model, "prompt": req.prompt}),
            ))
        }
        "comfyui" => Err(not_supported("ComfyUI")),
        other => Err(ApiError::bad_request(format!(
            "The image edit engine \"{other}\" is not known."
        ))),
    }
}

fn not_supported(engine: &str) -> ApiError {
    ApiError::NotImplemented(format!(
        "The {engine} image engine is not supported by this server yet; choose OpenAI, Gemini or Automatic1111 in Settings → Images."
    ))
}

pub(super) fn automatic1111_auth(state: &AppState) -> HeaderMap {
    let mut h = HeaderMap::new();
    let auth = cfg(state, "image_generation.automatic1111.api_auth");
    if !auth.is_empty() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(auth.as_bytes());
        if let Ok(v) = HeaderValue::from_str(&format!("Basic {b64}")) {
            h.insert(AUTHORIZATION, v);
        }
    }
    h
}
