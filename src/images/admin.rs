//! The Images settings page's questions to a self-hosted engine: whether an
//! address answers (the "verify" button) and which models the configured
//! engine offers (the model picker). Automatic1111 lists its checkpoints;
//! ComfyUI lists the choices of the workflow's model node (or of its
//! checkpoint loader); the hosted engines have fixed lists.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::engines::{automatic1111_auth, cfg, trim_base};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const WAIT: Duration = Duration::from_secs(30);
/// The largest answer read from an engine (ComfyUI's `object_info` is big).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

async fn get_json(url: &str, auth: Option<String>) -> Result<Value, String> {
    let mut req = crate::llm::client().get(url).timeout(WAIT);
    if let Some(a) = auth {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let bytes = crate::webfetch::read_limited(resp, MAX_ANSWER_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|_| "the answer is not JSON".to_string())
}

/// Whether the engine at `url` answers: Automatic1111 (`key` as
/// `user:password`, sent as Basic auth) or ComfyUI (`key` as a bearer token).
pub async fn verify(engine: &str, url: &str, key: Option<&str>) -> ApiResult<bool> {
    let base = trim_base(url);
    let (probe, auth) = match engine {
        "automatic1111" => (
            format!("{base}/sdapi/v1/options"),
            key.map(|k| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(k.as_bytes())
                )
            }),
        ),
        "comfyui" => (
            format!("{base}/object_info"),
            key.filter(|k| !k.is_empty()).map(|k| format!("Bearer {k}")),
        ),
        _ => {
            return Err(ApiError::bad_request(
                "Only Automatic1111 and ComfyUI addresses can be checked.",
            ))
        }
    };
    match get_json(&probe, auth).await {
        Ok(_) => Ok(true),
        Err(why) => Err(ApiError::bad_request(format!(
            "The image engine at {base} did not answer as expected ({why})."
        ))),
    }
}

/// The models the configured image engine offers, as `{id, name}`.
pub async fn models(state: &AppState) -> ApiResult<Value> {
    let listing = match cfg(state, "image_generation.engine").as_str() {
        "openai" => {
            return Ok(json!([
                {"id": "dall-e-2", "name": "DALL·E 2"},
                {"id": "dall-e-3", "name": "DALL·E 3"},
                {"id": "gpt-image-1", "name": "GPT-IMAGE 1"},
                {"id": "gpt-image-1.5", "name": "GPT-IMAGE 1.5"},
            ]))
        }
        "gemini" => {
            return Ok(json!([
                {"id": "imagen-3.0-generate-002", "name": "imagen-3.0 generate-002"},
            ]))
        }
        "comfyui" => comfyui_models(state).await,
        "automatic1111" | "" => automatic1111_models(state).await,
        other => Err(format!("the engine \"{other}\" is not known")),
    };
    listing.map_err(|why| {
        ApiError::bad_request(format!("The image models could not be listed: {why}."))
    })
}

async fn automatic1111_models(state: &AppState) -> Result<Value, String> {
    let base = trim_base(&cfg(state, "image_generation.automatic1111.base_url"));
    let auth = automatic1111_auth(state)
        .get(reqwest::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let list = get_json(&format!("{base}/sdapi/v1/sd-models"), auth).await?;
    Ok(Value::Array(
        list.as_array()
            .into_iter()
            .flatten()
            .map(|m| json!({"id": m["title"], "name": m["model_name"]}))
            .collect(),
    ))
}

async fn comfyui_models(state: &AppState) -> Result<Value, String> {
    let base = trim_base(&cfg(state, "image_generation.comfyui.base_url"));
    let key = cfg(state, "image_generation.comfyui.api_key");
    let info = get_json(
        &format!("{base}/object_info"),
        Some(format!("Bearer {key}")),
    )
    .await?;
    let choices = comfyui_choices(
        &info,
        &state.config.get("image_generation.comfyui.workflow"),
        &state.config.get("image_generation.comfyui.nodes"),
    )?;
    Ok(Value::Array(
        choices
            .into_iter()
            .map(|m| json!({"id": m, "name": m}))
            .collect(),
    ))
}

/// The model names ComfyUI offers: the first `…_name` input of the node the
/// settings mark as the workflow's model node, else the checkpoint loader's.
fn comfyui_choices(info: &Value, workflow: &Value, nodes: &Value) -> Result<Vec<Value>, String> {
    let workflow: Value = match workflow {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    let model_node = nodes
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["type"] == "model")
        .and_then(|n| n["node_ids"].get(0))
        .and_then(Value::as_str);
    let (class, input) = match model_node {
        Some(id) => {
            let class = workflow[id]["class_type"]
                .as_str()
                .ok_or("the workflow has no model node with that id")?;
            let required = info[class]["input"]["required"]
                .as_object()
                .ok_or("ComfyUI does not know the model node's type")?;
            let key = required
                .keys()
                .find(|k| k.contains("_name"))
                .ok_or("the model node has no model choice")?;
            (class.to_string(), key.clone())
        }
        None => (
            "CheckpointLoaderSimple".to_string(),
            "ckpt_name".to_string(),
        ),
    };
    info[class.as_str()]["input"]["required"][input.as_str()][0]
        .as_array()
        .cloned()
        .ok_or_else(|| "ComfyUI listed no models".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comfyui_choices_follow_the_model_node() {
        let info = json!({
            "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["a.safetensors", "b.ckpt"]]}}},
            "UNETLoader": {"input": {"required": {"unet_name": [["flux.safetensors"]], "weight_dtype": [["fp8"]]}}},
        });
        let plain = comfyui_choices(&info, &json!(""), &json!([])).unwrap();
        assert_eq!(plain, vec![json!("a.safetensors"), json!("b.ckpt")]);
        let workflow = json!(r#"{"12": {"class_type": "UNETLoader", "inputs": {}}}"#);
        let nodes =
            json!([{"type": "prompt", "node_ids": ["6"]}, {"type": "model", "node_ids": ["12"]}]);
        let flux = comfyui_choices(&info, &workflow, &nodes).unwrap();
        assert_eq!(flux, vec![json!("flux.safetensors")]);
        assert!(comfyui_choices(&json!({}), &json!(""), &json!([])).is_err());
    }
}
