//! Image generation and editing through the engine the admin configured
//! (Settings → Images). Each picture the engine returns is stored as a file
//! owned by the caller, and the caller gets `{id, url, name, content_type}`
//! for it, as upstream answers.
//!
//! Engines: OpenAI-compatible (`/images/generations`, `/images/edits`),
//! Google Gemini (Imagen `:predict` and `:generateContent`) and
//! Automatic1111 (`/sdapi/v1/txt2img`). ComfyUI is answered with an
//! honest "not supported" error.

pub mod admin;
mod engines;
mod source;

use serde_json::{json, Map, Value};

use crate::auth::{permissions, Caller};
use crate::error::{messages::ACCESS_PROHIBITED, ApiError, ApiResult};
use crate::state::AppState;

pub use source::sniff_mime;

/// What a caller asks to draw.
#[derive(Debug, Clone, Default)]
pub struct Generate {
    pub prompt: String,
    pub model: Option<String>,
    pub size: Option<String>,
    pub n: u32,
    pub negative_prompt: Option<String>,
    pub steps: Option<i64>,
}

/// What a caller asks to change in one or more pictures.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    /// Data URLs, file ids, `/api/v1/files/{id}/content` paths or web URLs.
    pub images: Vec<String>,
    pub prompt: String,
    pub model: Option<String>,
    pub size: Option<String>,
    pub n: Option<u32>,
    pub background: Option<String>,
}

/// A picture the engine made, before it is stored.
pub(crate) struct Picture {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Refuses generation when it is switched off, or when a user lacks
/// `features.image_generation` (admins always may).
pub async fn may_generate(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("image_generation.enable") {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    permissions::require(state, caller, "features.image_generation").await
}

/// Refuses editing when it is switched off, or when a user lacks
/// `features.image_generation` (editing has its own switch but shares the
/// permission).
pub async fn may_edit(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("images.edit.enable") {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    permissions::require(state, caller, "features.image_generation").await
}

/// Draws `req.n` pictures with the configured engine and stores them as the
/// caller's files. `metadata` (e.g. `chat_id`, `message_id`) is kept in
/// each file's meta.
pub async fn generate(
    state: &AppState,
    caller: &Caller,
    req: &Generate,
    metadata: Map<String, Value>,
) -> ApiResult<Vec<Value>> {
    if req.prompt.trim().is_empty() {
        return Err(ApiError::bad_request("The request needs a prompt."));
    }
    let (pictures, sent) = engines::generate(state, caller, req).await?;
    store_all(state, caller, pictures, sent, metadata).await
}

/// Changes the given pictures with the configured edit engine and stores
/// the results as the caller's files.
pub async fn edit(
    state: &AppState,
    caller: &Caller,
    req: &Edit,
    metadata: Map<String, Value>,
) -> ApiResult<Vec<Value>> {
    if req.prompt.trim().is_empty() {
        return Err(ApiError::bad_request("The request needs a prompt."));
    }
    if req.images.is_empty() {
        return Err(ApiError::bad_request("The request needs an image to edit."));
    }
    let mut sources = Vec::with_capacity(req.images.len());
    for image in &req.images {
        sources.push(source::load(state, caller, image).await?);
    }
    let (pictures, sent) = engines::edit(state, req, &sources).await?;
    store_all(state, caller, pictures, sent, metadata).await
}

/// A stored picture the caller may read, as a `data:` URL a model can see.
pub async fn file_as_data_url(state: &AppState, caller: &Caller, file_id: &str) -> Option<String> {
    use base64::Engine as _;
    let p = source::load(state, caller, file_id).await.ok()?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&p.bytes);
    Some(format!("data:{};base64,{b64}", p.content_type))
}

async fn store_all(
    state: &AppState,
    caller: &Caller,
    pictures: Vec<Picture>,
    sent: Value,
    metadata: Map<String, Value>,
) -> ApiResult<Vec<Value>> {
    if pictures.is_empty() {
        return Err(ApiError::bad_request(
            "The image engine answered without a picture.",
        ));
    }
    let mut meta = match sent {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    meta.extend(metadata);
    let meta = Value::Object(meta);
    let mut out = Vec::with_capacity(pictures.len());
    for p in pictures {
        let name = format!("generated-image{}", source::extension_for(&p.content_type));
        let row = crate::files::store_bytes(
            state,
            caller.id(),
            &name,
            &p.content_type,
            &p.bytes,
            meta.clone(),
        )
        .await?;
        out.push(json!({
            "id": row.id,
            "url": format!("/api/v1/files/{}/content", row.id),
            "name": name,
            "content_type": p.content_type,
        }));
    }
    Ok(out)
}

/// The size to ask for: the request's if it is `WxH`, else the setting's,
/// else 512x512.
pub(crate) fn dimensions(requested: Option<&str>, configured: &str) -> (u32, u32) {
    let parse = |s: &str| {
        let (w, h) = s.split_once('x')?;
        Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
    };
    requested
        .and_then(parse)
        .or_else(|| parse(configured))
        .unwrap_or((512, 512))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_falls_back_from_request_to_setting_to_default() {
        assert_eq!(dimensions(Some("256x128"), "1024x1024"), (256, 128));
        assert_eq!(dimensions(Some("auto"), "1024x1024"), (1024, 1024));
        assert_eq!(dimensions(None, "auto"), (512, 512));
        assert_eq!(dimensions(Some("x"), ""), (512, 512));
    }
}
