//! `/api/v1/images`: the admin settings of image generation and editing,
//! and the generation and edit routes (the work is in `crate::images`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::configs::{req, updates, values, Field, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::error::{ApiError, ApiResult};
use crate::images;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images/config", get(get_config))
        .route("/api/v1/images/config/update", post(update_config))
        .route("/api/v1/images/verify", post(verify))
        .route("/api/v1/images/models", get(models))
        .route("/api/v1/images/generations", post(generations))
        .route("/api/v1/images/edit", post(edit))
}

const FIELDS: &[Field] = &[
    req(
        "ENABLE_IMAGE_GENERATION",
        "image_generation.enable",
        Kind::Bool,
    ),
    req(
        "ENABLE_IMAGE_PROMPT_GENERATION",
        "image_generation.prompt.enable",
        Kind::Bool,
    ),
    req(
        "IMAGE_GENERATION_ENGINE",
        "image_generation.engine",
        Kind::Str,
    ),
    req(
        "IMAGE_GENERATION_MODEL",
        "image_generation.model",
        Kind::Str,
    ),
    req("IMAGE_SIZE", "image_generation.size", Kind::OptStr),
    req("IMAGE_STEPS", "image_generation.steps", Kind::OptInt),
    req(
        "IMAGES_OPENAI_API_BASE_URL",
        "image_generation.openai.api_base_url",
        Kind::Str,
    ),
    req(
        "IMAGES_OPENAI_API_KEY",
        "image_generation.openai.api_key",
        Kind::Str,
    ),
    req(
        "IMAGES_OPENAI_API_VERSION",
        "image_generation.openai.api_version",
        Kind::Str,
    ),
    req(
        "IMAGES_OPENAI_API_PARAMS",
        "image_generation.openai.params",
        Kind::Any,
    ),
    req(
        "AUTOMATIC1111_BASE_URL",
        "image_generation.automatic1111.base_url",
        Kind::Str,
    ),
    req(
        "AUTOMATIC1111_API_AUTH",
        "image_generation.automatic1111.api_auth",
        Kind::Any,
    ),
    req(
        "AUTOMATIC1111_PARAMS",
        "image_generation.automatic1111.api_params",
        Kind::Any,
    ),
    req(
        "COMFYUI_BASE_URL",
        "image_generation.comfyui.base_url",
        Kind::Str,
    ),
    req(
        "COMFYUI_API_KEY",
        "image_generation.comfyui.api_key",
        Kind::Str,
    ),
    req(
        "COMFYUI_WORKFLOW",
        "image_generation.comfyui.workflow",
        Kind::Str,
    ),
    req(
        "COMFYUI_WORKFLOW_NODES",
        "image_generation.comfyui.nodes",
        Kind::List,
    ),
    req(
        "IMAGES_GEMINI_API_BASE_URL",
        "image_generation.gemini.api_base_url",
        Kind::Str,
    ),
    req(
        "IMAGES_GEMINI_API_KEY",
        "image_generation.gemini.api_key",
        Kind::Str,
    ),
    req(
        "IMAGES_GEMINI_ENDPOINT_METHOD",
        "image_generation.gemini.endpoint_method",
        Kind::Str,
    ),
    req("ENABLE_IMAGE_EDIT", "images.edit.enable", Kind::Bool),
    req("IMAGE_EDIT_ENGINE", "images.edit.engine", Kind::Str),
    req("IMAGE_EDIT_MODEL", "images.edit.model", Kind::Str),
    req("IMAGE_EDIT_SIZE", "images.edit.size", Kind::OptStr),
    req(
        "IMAGES_EDIT_OPENAI_API_BASE_URL",
        "images.edit.openai.api_base_url",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_OPENAI_API_KEY",
        "images.edit.openai.api_key",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_OPENAI_API_VERSION",
        "images.edit.openai.api_version",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_GEMINI_API_BASE_URL",
        "images.edit.gemini.api_base_url",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_GEMINI_API_KEY",
        "images.edit.gemini.api_key",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_COMFYUI_BASE_URL",
        "images.edit.comfyui.base_url",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_COMFYUI_API_KEY",
        "images.edit.comfyui.api_key",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_COMFYUI_WORKFLOW",
        "images.edit.comfyui.workflow",
        Kind::Str,
    ),
    req(
        "IMAGES_EDIT_COMFYUI_WORKFLOW_NODES",
        "images.edit.comfyui.nodes",
        Kind::List,
    ),
];

async fn get_config(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(values(&state, FIELDS))
}

/// `WxH` with digits on both sides.
fn is_dimensions(s: &str) -> bool {
    s.split_once('x').is_some_and(|(w, h)| {
        !w.is_empty()
            && !h.is_empty()
            && w.bytes().all(|b| b.is_ascii_digit())
            && h.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Models for which upstream lets the size be `auto`.
fn allows_auto_size(model: &str) -> bool {
    model.starts_with("gpt-image")
}

async fn update_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let u = updates(&form, FIELDS, true)?;
    let get = |wire: &str| form.get(wire).cloned().unwrap_or(Value::Null);
    let size = get("IMAGE_SIZE");
    let size = size.as_str().unwrap_or("");
    let model = get("IMAGE_GENERATION_MODEL");
    if size == "auto" && !allows_auto_size(model.as_str().unwrap_or("")) {
        return Err(ApiError::bad_request(
            "Invalid format. Please use the correct format (auto is only allowed with gpt-image models).",
        ));
    }
    if !(size == "auto" || size.is_empty() || is_dimensions(size)) {
        return Err(ApiError::bad_request(
            "Invalid format. Please use the correct format (e.g., 512x512).",
        ));
    }
    if get("IMAGE_STEPS").as_i64().is_some_and(|n| n < 0) {
        return Err(ApiError::bad_request(
            "Invalid format. Please use the correct format (e.g., 50).",
        ));
    }
    state.config.set_many(u).await?;
    Ok(Json(values(&state, FIELDS)))
}

#[derive(Deserialize)]
struct VerifyForm {
    engine: String,
    url: String,
    #[serde(default)]
    key: Option<String>,
}

/// The settings page's "verify" button for a self-hosted engine's address.
async fn verify(
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<VerifyForm>,
) -> ApiResult<Json<Value>> {
    let ok = images::admin::verify(&f.engine, &f.url, f.key.as_deref()).await?;
    Ok(Json(json!(ok)))
}

#[derive(Deserialize)]
struct GenerateForm {
    prompt: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    steps: Option<i64>,
    #[serde(default)]
    negative_prompt: Option<String>,
}

async fn generations(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<GenerateForm>,
) -> ApiResult<Json<Value>> {
    images::may_generate(&state, &caller).await?;
    let req = images::Generate {
        prompt: form.prompt,
        model: form.model,
        size: form.size,
        n: form.n.unwrap_or(1).clamp(1, MAX_PICTURES),
        negative_prompt: form.negative_prompt,
        steps: form.steps,
    };
    Ok(Json(json!(
        images::generate(&state, &caller, &req, Map::new()).await?
    )))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct EditForm {
    image: OneOrMany,
    prompt: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    background: Option<String>,
}

async fn edit(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<EditForm>,
) -> ApiResult<Json<Value>> {
    images::may_edit(&state, &caller).await?;
    let images = match form.image {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    };
    if images.len() > MAX_PICTURES as usize {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_PICTURES} images can be edited at once."
        )));
    }
    let req = images::Edit {
        images,
        prompt: form.prompt,
        model: form.model,
        size: form.size,
        n: form.n.map(|n| n.clamp(1, MAX_PICTURES)),
        background: form.background,
    };
    Ok(Json(json!(
        images::edit(&state, &caller, &req, Map::new()).await?
    )))
}

/// Pictures one request may ask for or hand in.
const MAX_PICTURES: u32 = 10;

/// The models of the configured engine (the hosted ones have fixed lists).
async fn models(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> ApiResult<Json<Value>> {
    Ok(Json(images::admin::models(&state).await?))
}
