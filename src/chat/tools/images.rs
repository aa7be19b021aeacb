//! The picture tools offered in native function-calling mode when the chat's
//! image switch is on: `generate_image` draws from a prompt, `edit_image`
//! changes pictures the conversation already has. The pictures are stored
//! as the user's files, shown in the reply (`chat:message:files`) and kept
//! on the stored message; the model only learns that they are shown.

use anyhow::anyhow;
use serde_json::{json, Map, Value};

use super::{arg_str, is_saved_chat_id, params, ToolCx};
use crate::chat::events::Emitter;
use crate::chat::persist;
use crate::images::{self, Edit, Generate};

pub const NAMES: [&str; 2] = ["generate_image", "edit_image"];

/// Prompts longer than this are cut before they reach the engine.
const MAX_PROMPT: usize = 4000;
/// Pictures one edit may start from.
const MAX_SOURCES: usize = 8;

pub fn spec(name: &str) -> Value {
    let size = json!({"type": "string", "description": "Output size as WIDTHxHEIGHT (e.g. 1024x1024); leave out for the configured size."});
    let (description, parameters) = match name {
        "generate_image" => (
            "Draw a new picture from a description. The picture is shown to the user in this reply.",
            params(
                json!({
                    "prompt": {"type": "string", "description": "A detailed description of the picture."},
                    "size": size,
                }),
                &["prompt"],
            ),
        ),
        _ => (
            "Change one or more existing pictures as described (add, remove or replace parts, extend, combine). The result is shown to the user in this reply.",
            params(
                json!({
                    "prompt": {"type": "string", "description": "What to change."},
                    "image_urls": {"type": "array", "items": {"type": "string"},
                                   "description": "The URLs of the pictures to start from."},
                    "size": size,
                }),
                &["prompt", "image_urls"],
            ),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let prompt: String = arg_str(args, "prompt")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| anyhow!("prompt is required"))?
        .chars()
        .take(MAX_PROMPT)
        .collect();
    let size = arg_str(args, "size").map(str::to_string);
    let mut metadata = Map::new();
    match cx.chat_id.strip_prefix("channel:") {
        Some(channel) => metadata.insert("channel_id".into(), json!(channel)),
        None => metadata.insert("chat_id".into(), json!(cx.chat_id)),
    };
    metadata.insert("message_id".into(), json!(cx.message_id));
    let made = if name == "generate_image" {
        images::may_generate(cx.state, cx.caller).await?;
        let req = Generate {
            prompt,
            size,
            n: 1,
            ..Default::default()
        };
        images::generate(cx.state, cx.caller, &req, metadata).await
    } else {
        images::may_edit(cx.state, cx.caller).await?;
        let sources: Vec<String> = args
            .get("image_urls")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .or_else(|| arg_str(args, "image_urls").map(|s| vec![s.to_string()]))
            .unwrap_or_default();
        if sources.is_empty() {
            return Err(anyhow!("image_urls must list at least one picture"));
        }
        if sources.len() > MAX_SOURCES {
            return Err(anyhow!(
                "at most {MAX_SOURCES} pictures can be edited at once"
            ));
        }
        let req = Edit {
            images: sources,
            prompt,
            size,
            ..Default::default()
        };
        images::edit(cx.state, cx.caller, &req, metadata).await
    };
    let pictures = made.map_err(|e| anyhow!("{e}"))?;
    let files: Vec<Value> = pictures
        .iter()
        .map(|p| {
            let mut f = p.clone();
            f["type"] = json!("image");
            f
        })
        .collect();
    if is_saved_chat_id(cx.chat_id) {
        let data = json!({"files": files});
        persist::save_event(cx.state, cx.chat_id, cx.message_id, "files", data).await?;
    }
    Emitter::new(cx.state, cx.caller.id(), cx.chat_id, cx.message_id, None)
        .emit("chat:message:files", json!({"files": files}))
        .await;
    Ok(json!({
        "status": "success",
        "message": "The picture is already shown to the user in this reply; do not repeat or link it, just say it is ready.",
        "images": pictures,
    }))
}
