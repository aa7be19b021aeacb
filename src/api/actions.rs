//! Message actions and tool-call approval.
//!
//! `POST /api/chat/actions/{action_id}` runs an "action" Function upstream: its
//! Python code. This server has no Python runtime, so a runnable action answers
//! 501; the checks before that point (chat ownership, the action's existence and
//! state) follow upstream.
//!
//! `POST /api/v1/chats/{id}/messages/{message_id}/resolve` approves, rejects or
//! answers a tool call that waits for the user (`chat::resume`): an `ask_user`
//! question is answered or declined and the reply goes on. This server never
//! pauses other tools for approval; approving such a call found in data written
//! by the Python server answers 501.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::chat::resume::{self, Resolution, UserReply};
use crate::db;
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
    action: ResolveAction,
    #[serde(default)]
    answers: Option<Value>,
    #[serde(default)]
    timed_out: bool,
}

async fn resolve_tool_call(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((chat_id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<ResolveForm>,
) -> ApiResult<Json<Value>> {
    let action = match form.action {
        ResolveAction::Approve => Resolution::Approve,
        ResolveAction::Reject => Resolution::Reject,
        ResolveAction::Answer => Resolution::Answer,
    };
    let reply = UserReply {
        call_id: form.call_id,
        action,
        answers: form.answers,
        timed_out: form.timed_out,
    };
    let done = resume::resolve(&state, &caller, &chat_id, &message_id, reply).await?;
    Ok(Json(done))
}
