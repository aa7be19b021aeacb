//! Message actions and tool-call approval.
//!
//! `POST /api/chat/actions/{action_id}` runs an "action" Function upstream: its
//! Python code. This server has no Python runtime, so a runnable action answers
//! 501; the checks before that point (chat ownership, the action's existence and
//! state) follow upstream.
//!
//! `POST /api/v1/chats/{id}/messages/{message_id}/resolve` approves, rejects or
//! answers a tool call that waits for the user. This server never pauses a tool
//! call for approval, so the usual answers are upstream's refusals (no such
//! message, no such call, already resolved); a pending call found in data written
//! by the Python server answers 501, as resuming it would need its pipeline.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::db;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat/actions/{action_id}", post(chat_action))
        .route(
            "/api/v1/chats/{id}/messages/{message_id}/resolve",
            post(resolve_tool_call),
        )
}

/// Upstream's ownership gate for chat-bound task routes: temporary chats have no
/// owner; channel chats are refused; otherwise the owner (or an admin with admin
/// chat access) only, and a foreign chat looks like a missing one.
async fn check_chat_owner(
    state: &AppState,
    chat_id: Option<&str>,
    user_id: &str,
    admin: bool,
) -> ApiResult<()> {
    let Some(chat_id) = chat_id.filter(|c| !c.is_empty() && !c.starts_with("local:")) else {
        return Ok(());
    };
    if chat_id.starts_with("channel:") {
        return Err(ApiError::bad_request(
            "Channel chats are not supported on this endpoint",
        ));
    }
    if admin && state.settings.env_flags.enable_admin_chat_access {
        return Ok(());
    }
    let (cid, uid) = (chat_id.to_string(), user_id.to_string());
    let owned = state
        .db
        .read(move |c| Ok(db::chats::get_for_user(c, &cid, &uid)?.is_some()))
        .await?;
    if owned {
        Ok(())
    } else {
        Err(ApiError::not_found_default())
    }
}

async fn chat_action(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(action_id): Path<String>,
    JsonBody(form): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let chat_id = form.get("chat_id").and_then(Value::as_str);
    check_chat_owner(&state, chat_id, caller.id(), caller.is_admin()).await?;
    // `<function id>.<sub-action id>` names one of several actions of a function.
    let function_id = action_id
        .split_once('.')
        .map(|(f, _)| f)
        .unwrap_or(&action_id)
        .to_string();
    let fid = function_id.clone();
    let function = state.db.read(move |c| db::functions::get(c, &fid)).await?;
    let Some(function) = function else {
        return Err(ApiError::bad_request(format!(
            "Action not found: {function_id}"
        )));
    };
    if function.kind != "action" || !function.is_active {
        return Err(ApiError::bad_request(format!(
            "Action not available: {function_id}"
        )));
    }
    Err(ApiError::NotImplemented(format!(
        "The action '{function_id}' is a Python function; this server cannot run Python functions."
    )))
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ResolveAction {
    Approve,
    Reject,
    Answer,
}

#[derive(Deserialize)]
struct ResolveForm {
    call_id: String,
    #[allow(dead_code)]
    action: ResolveAction,
    #[serde(default)]
    #[allow(dead_code)]
    answers: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    timed_out: bool,
}

async fn resolve_tool_call(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((chat_id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<ResolveForm>,
) -> ApiResult<Json<Value>> {
    let (cid, uid) = (chat_id.clone(), caller.id().to_string());
    let found = state
        .db
        .read(move |c| {
            let Some(chat) = db::chats::get_for_user(c, &cid, &uid)? else {
                return Ok(None);
            };
            let messages = db::chats::messages_map(c, &chat)?;
            Ok(Some((
                chat.user_id.clone(),
                messages.get(&message_id).cloned(),
            )))
        })
        .await?;
    let Some((chat_owner, message)) = found else {
        return Err(ApiError::unauthorized(ACCESS_PROHIBITED));
    };
    let Some(message) = message else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let author = message
        .get("user_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&chat_owner);
    if author != caller.id() {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    let output = match message.get("output") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(ApiError::bad_request("Message has no resolvable output.")),
    };
    let call_key = |item: &Value| {
        item.get("call_id")
            .and_then(Value::as_str)
            .or_else(|| item.get("id").and_then(Value::as_str))
            .map(str::to_string)
    };
    let Some(call) = output.iter().find(|item| {
        item.get("type").and_then(Value::as_str) == Some("function_call")
            && call_key(item).as_deref() == Some(form.call_id.as_str())
    }) else {
        return Err(ApiError::not_found("Tool call not found."));
    };
    let answered = output.iter().any(|item| {
        item.get("type").and_then(Value::as_str) == Some("function_call_output")
            && item.get("call_id").and_then(Value::as_str) == Some(form.call_id.as_str())
    });
    let pending = matches!(
        call.get("status").and_then(Value::as_str),
        Some("pending" | "queued" | "requires_approval")
    );
    if answered || !pending || call.get("approved") == Some(&Value::Bool(true)) {
        return Err(ApiError::Conflict(
            "Tool call has already been resolved.".into(),
        ));
    }
    Err(ApiError::NotImplemented(
        "This tool call waits for approval in a run started by another server; this server cannot resume it."
            .into(),
    ))
}
