//! The chat input's "Image" switch (`features.image_generation`): before the
//! model answers, the last user message is drawn by the image engine (or,
//! when the conversation holds pictures and editing is on, those pictures
//! are edited), the pictures are shown in the reply as its `files`, and the
//! model is told what happened so it can say so.
//!
//! Upstream runs this step in its prompt-based ("legacy") function-calling
//! mode and offers a drawing tool to the model in native mode. Native tool
//! calling is not built here yet, so the step runs unless the chat asks for
//! native function calling explicitly.

use serde_json::{json, Map, Value};

use super::events::Emitter;
use super::history;
use super::persist;
use super::turn::{Target, Turn};
use crate::auth::permissions;
use crate::images::{self, Edit, Generate};
use crate::llm::ResolvedModel;
use crate::state::AppState;

/// Pictures from at most this many messages are handed to an edit.
const MESSAGES_WITH_PICTURES: usize = 2;

fn wanted(turn: &Turn, resolved: &ResolvedModel) -> bool {
    let on = turn
        .body
        .get("features")
        .and_then(|f| f.get("image_generation"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mode = turn
        .body
        .get("params")
        .and_then(|p| p.get("function_calling"))
        .or_else(|| resolved.params.get("function_calling"))
        .and_then(Value::as_str)
        .unwrap_or("");
    on && mode != "native"
}

/// Image URLs of the user messages (image parts of their content, or
/// `files` of type `image`), from the first two messages that have any.
fn pictures_in(messages: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let mut groups = 0;
    for m in messages {
        if m.get("role").and_then(Value::as_str) != Some("user") {
            continue;
        }
        let in_content = m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.pointer("/image_url/url").and_then(Value::as_str));
        let in_files = m
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| f.get("type").and_then(Value::as_str) == Some("image"))
            .filter_map(|f| f.get("url").and_then(Value::as_str));
        let urls: Vec<String> = in_content.chain(in_files).map(str::to_string).collect();
        if urls.is_empty() {
            continue;
        }
        out.extend(urls);
        groups += 1;
        if groups == MESSAGES_WITH_PICTURES {
            break;
        }
    }
    out
}

async fn tell(
    state: &AppState,
    turn: &Turn,
    emitter: &Emitter,
    target: &Target,
    kind: &str,
    data: Value,
) {
    emitter.emit(kind, data.clone()).await;
    if turn.persist {
        let saved = persist::save_event(state, &turn.chat_id, &target.message_id, kind, data).await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not store an image event");
        }
    }
}

/// Runs the image step for a turn when the chat asked for it, and adds what
/// happened to the request's system prompt.
pub async fn apply(
    state: &AppState,
    turn: &Turn,
    target: &Target,
    emitter: &Emitter,
    resolved: &ResolvedModel,
    request: &mut Value,
) {
    if !wanted(turn, resolved) {
        return;
    }
    if !permissions::caller_allows(state, &turn.caller, "features.image_generation")
        .await
        .unwrap_or(false)
    {
        return;
    }
    let messages: Vec<Value> = request["messages"].as_array().cloned().unwrap_or_default();
    let prompt = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(history::message_text)
        .unwrap_or_default();
    // Stored chats keep attached pictures in the messages' `files`.
    let conversation = persist::conversation(state, turn, &target.message_id).await;
    let pictures = pictures_in(&conversation);
    let editing = !pictures.is_empty() && state.config.get_bool("images.edit.enable");
    if !editing && !state.config.get_bool("image_generation.enable") {
        return;
    }
    let status = |description: &str, done: bool| json!({"description": description, "done": done});
    tell(
        state,
        turn,
        emitter,
        target,
        "status",
        status("Creating image", false),
    )
    .await;
    let mut metadata = Map::new();
    metadata.insert("chat_id".into(), json!(turn.chat_id));
    metadata.insert("message_id".into(), json!(target.message_id));
    let made = if editing {
        let req = Edit {
            images: pictures,
            prompt,
            ..Default::default()
        };
        images::edit(state, &turn.caller, &req, metadata).await
    } else {
        let req = Generate {
            prompt,
            n: 1,
            ..Default::default()
        };
        images::generate(state, &turn.caller, &req, metadata).await
    };
    let note = match made {
        Ok(list) => {
            tell(
                state,
                turn,
                emitter,
                target,
                "status",
                status("Image created", true),
            )
            .await;
            let files: Vec<Value> = list
                .into_iter()
                .map(|mut f| {
                    f["type"] = json!("image");
                    f
                })
                .collect();
            tell(
                state,
                turn,
                emitter,
                target,
                "files",
                json!({"files": files}),
            )
            .await;
            "<context>The picture the user asked for has just been made by the image engine and is already shown to them in this reply. Tell them it is ready.</context>".to_string()
        }
        Err(e) => {
            let failed = status("An error occurred while generating an image", true);
            tell(state, turn, emitter, target, "status", failed).await;
            format!(
                "<context>Making the picture the user asked for failed: {e}. Tell them no picture could be made and why.</context>"
            )
        }
    };
    if let Some(list) = request.get_mut("messages").and_then(Value::as_array_mut) {
        history::append_system(list, &note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_come_from_the_first_two_user_messages_that_have_them() {
        let img = |u: &str| json!({"type": "image_url", "image_url": {"url": u}});
        let msgs = vec![
            json!({"role": "user", "content": [{"type": "text", "text": "a"}, img("1")]}),
            json!({"role": "assistant", "content": "ok"}),
            json!({"role": "user", "content": "no picture"}),
            json!({"role": "user", "content": [img("2"), img("3")]}),
            json!({"role": "user", "content": [img("4")]}),
        ];
        assert_eq!(pictures_in(&msgs), vec!["1", "2", "3"]);
        let stored = vec![json!({"role": "user", "content": "cat",
                                 "files": [{"type": "image", "url": "data:x"}, {"type": "file", "url": "y"}]})];
        assert_eq!(pictures_in(&stored), vec!["data:x"]);
        assert!(pictures_in(&[json!({"role": "user", "content": "x"})]).is_empty());
    }
}
