//! A chat turn's passage through the filters of pipelines servers
//! (`crate::pipelines`): the request on its way to the model (inlet), and
//! the finished conversation of a saved chat (outlet), whose changed
//! messages are stored and sent to the browser as `chat:outlet`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::events::Emitter;
use super::persist;
use super::turn::{Target, Turn};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::llm::ResolvedModel;
use crate::pipelines;
use crate::state::AppState;

/// The provider request `request` as the inlet filters for its model leave
/// it. The filters see the model's id as listed and `metadata` (chat,
/// message, session, user); what goes on to the provider keeps its own
/// model id and streaming choice. A request to a pipeline model carries the
/// user (`user`: id, email, name, role), as upstream adds for pipelines.
pub(super) async fn inlet(
    state: &AppState,
    caller: &Caller,
    resolved: &ResolvedModel,
    metadata: Value,
    request: Value,
) -> ApiResult<Value> {
    let listed = resolved
        .selected_model_id
        .clone()
        .unwrap_or_else(|| resolved.id.clone());
    let mut payload = request.clone();
    payload["model"] = json!(listed);
    payload["metadata"] = metadata;
    let mut out = pipelines::inlet(state, caller, payload).await?;
    if let Some(o) = out.as_object_mut() {
        o.remove("metadata");
        if !o.get("messages").is_some_and(Value::is_array) {
            // A filter that drops the conversation cannot be meant: keep it.
            o.insert("messages".into(), request["messages"].clone());
        }
    }
    out["model"] = request["model"].clone();
    match request.get("stream") {
        Some(s) => out["stream"] = s.clone(),
        None => {
            if let Some(o) = out.as_object_mut() {
                o.remove("stream");
            }
        }
    }
    let is_pipeline = resolved
        .model_item
        .get("pipeline")
        .is_some_and(|p| !p.is_null() && p != &json!({}) && p != &json!(false));
    if is_pipeline {
        out["user"] = pipelines::user_info(caller);
    }
    Ok(out)
}

/// [`inlet`] for a turn of the chat pipeline; the error is the text the
/// reply shows.
pub(super) async fn inlet_for_turn(
    state: &AppState,
    turn: &Turn,
    target: &Target,
    resolved: &ResolvedModel,
    request: Value,
) -> Result<Value, String> {
    let metadata = json!({
        "user_id": turn.caller.user.id,
        "chat_id": turn.chat_id,
        "message_id": target.message_id,
        "session_id": turn.session_id,
    });
    inlet(state, &turn.caller, resolved, metadata, request)
        .await
        .map_err(|e| e.to_string())
}

/// One stored message as an outlet filter sees it.
fn outlet_message(m: &Value) -> Value {
    let mut o = Map::new();
    for k in ["id", "role"] {
        o.insert(k.into(), m.get(k).cloned().unwrap_or(Value::Null));
    }
    o.insert("content".into(), json!(m["content"].as_str().unwrap_or("")));
    for k in ["info", "timestamp"] {
        o.insert(k.into(), m.get(k).cloned().unwrap_or(Value::Null));
    }
    for k in ["output", "usage", "sources"] {
        if let Some(v) = m.get(k).filter(|v| !v.is_null()) {
            o.insert(k.into(), v.clone());
        }
    }
    Value::Object(o)
}

/// Runs the outlet filters over a saved chat's finished reply: messages whose
/// content (or output) a filter changed are stored with `originalContent`
/// kept, and the browser is sent `chat:outlet`. A failing filter changes
/// nothing.
pub(super) async fn outlet_for_turn(
    state: &AppState,
    turn: &Turn,
    target: &Target,
    emitter: &Emitter,
) {
    if !turn.persist || !pipelines::has_outlet(state, &target.model_id).await {
        return;
    }
    let path = persist::path_to(state, &turn.chat_id, &target.message_id).await;
    if path.is_empty() {
        return;
    }
    let reply_id = target.message_id.as_str();
    let messages: Vec<Value> = path.iter().map(outlet_message).collect();
    let payload = json!({
        "model": target.model_id,
        "messages": messages,
        "filter_ids": [],
        "chat_id": turn.chat_id,
        "session_id": turn.session_id,
        "id": reply_id,
    });
    let result = match pipelines::outlet(state, &turn.caller, payload).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(chat = %turn.chat_id, error = %e, "pipeline outlet filter failed; reply kept");
            return;
        }
    };
    let Some(filtered) = result["messages"].as_array().filter(|m| !m.is_empty()) else {
        return;
    };
    let stored: HashMap<&str, &Value> = path
        .iter()
        .filter_map(|m| Some((m["id"].as_str()?, m)))
        .collect();
    for m in filtered {
        let Some(original) = m["id"].as_str().and_then(|id| stored.get(id)) else {
            continue;
        };
        let before = original["content"].as_str().unwrap_or("");
        let after = m["content"].as_str().unwrap_or("");
        let output = m
            .get("output")
            .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()))
            .filter(|o| Some(*o) != original.get("output"));
        if before == after && output.is_none() {
            continue;
        }
        let mut fields = json!({"originalContent": before});
        if before != after {
            fields["content"] = json!(after);
        }
        if let Some(o) = output {
            fields["output"] = o.clone();
        }
        let id = m["id"].as_str().unwrap_or_default();
        if let Err(e) = persist::save_message(state, &turn.chat_id, id, fields, false).await {
            tracing::warn!(chat = %turn.chat_id, error = %e, "could not store a filtered message");
        }
    }
    emitter
        .emit("chat:outlet", json!({"messages": filtered}))
        .await;
}
