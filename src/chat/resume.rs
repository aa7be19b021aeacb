//! Answering a tool call that waits for the user (an `ask_user` question, or
//! a refusal of it) and going on with the reply: the answer is stored as the
//! call's result and the model is asked again with it.

use serde_json::{json, Map, Value};

use super::events::Emitter;
use super::output::short_id;
use super::pipeline::spawn_reply;
use super::turn::{Target, Turn, KEPT_KEYS};
use super::{persist, tools};
use crate::auth::Caller;
use crate::db;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the user did with the waiting call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolution {
    Approve,
    Reject,
    Answer,
}

fn call_key(item: &Value) -> Option<&str> {
    item.get("call_id")
        .and_then(Value::as_str)
        .or_else(|| item.get("id").and_then(Value::as_str))
}

fn status_of(item: &Value) -> &str {
    item.get("status").and_then(Value::as_str).unwrap_or("")
}

/// Positions of the calls that have no result yet and wait for a decision
/// or a run.
fn waiting(output: &[Value]) -> Vec<usize> {
    let answered: Vec<&str> = output
        .iter()
        .filter(|i| is(i, "function_call_output"))
        .filter_map(call_key)
        .collect();
    (0..output.len())
        .filter(|&i| is(&output[i], "function_call"))
        .filter(|&i| call_key(&output[i]).is_some_and(|id| !answered.contains(&id)))
        .filter(|&i| {
            matches!(
                status_of(&output[i]),
                "pending" | "queued" | "requires_approval" | "in_progress"
            )
        })
        .collect()
}

fn is(item: &Value, kind: &str) -> bool {
    item.get("type").and_then(Value::as_str) == Some(kind)
}

/// The user's reply to one waiting call.
pub struct UserReply {
    pub call_id: String,
    pub action: Resolution,
    pub answers: Option<Value>,
    pub timed_out: bool,
}

/// `POST /api/v1/chats/{id}/messages/{message_id}/resolve`.
pub async fn resolve(
    state: &AppState,
    caller: &Caller,
    chat_id: &str,
    message_id: &str,
    reply: UserReply,
) -> ApiResult<Value> {
    let UserReply {
        call_id,
        action,
        answers,
        timed_out,
    } = reply;
    let call_id = call_id.as_str();
    let (cid, uid) = (chat_id.to_string(), caller.id().to_string());
    let mid = message_id.to_string();
    let found = state
        .db
        .read(move |c| {
            let Some(chat) = db::chats::get_for_user(c, &cid, &uid)? else {
                return Ok(None);
            };
            let messages = db::chats::messages_map(c, &chat)?;
            Ok(Some((chat, messages.get(&mid).cloned())))
        })
        .await?;
    let Some((chat, message)) = found else {
        return Err(ApiError::unauthorized(ACCESS_PROHIBITED));
    };
    let Some(message) = message else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let author = message
        .get("user_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&chat.user_id);
    if author != caller.id() {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    let mut output = match message.get("output") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(ApiError::bad_request("Message has no resolvable output.")),
    };
    let Some(pos) = output
        .iter()
        .position(|i| is(i, "function_call") && call_key(i) == Some(call_id))
    else {
        return Err(ApiError::not_found("Tool call not found."));
    };
    let answered = output
        .iter()
        .any(|i| is(i, "function_call_output") && call_key(i) == Some(call_id));
    let pending = matches!(
        output[pos].get("status").and_then(Value::as_str),
        Some("pending" | "queued" | "requires_approval")
    );
    if answered || !pending || output[pos].get("approved") == Some(&Value::Bool(true)) {
        return Err(ApiError::Conflict(
            "Tool call has already been resolved.".into(),
        ));
    }
    if message
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(ApiError::Conflict(
            "The reply names no model, so it cannot go on after this tool call.".into(),
        ));
    }
    let asks = output[pos].get("name").and_then(Value::as_str) == Some(tools::ASK_USER);
    // Another call approved earlier is still running (or about to): that
    // run takes this decision up when it gets to it.
    let active = waiting(&output).iter().any(|&i| {
        output[i].get("approved") == Some(&Value::Bool(true))
            || status_of(&output[i]) == "in_progress"
    });
    let decided = match (action, asks) {
        (Resolution::Approve, true) => {
            return Err(ApiError::bad_request(
                "A question is answered or declined, not approved.",
            ))
        }
        (Resolution::Answer, false) => {
            return Err(ApiError::bad_request("This tool call takes no answers."))
        }
        (Resolution::Approve, false) => None,
        (Resolution::Reject, _) => Some((
            "Error: the user declined this tool call.".to_string(),
            "rejected",
        )),
        (Resolution::Answer, true) if timed_out => Some((
            json!({"status": "cancelled", "answers": {}, "timed_out": true}).to_string(),
            "completed",
        )),
        (Resolution::Answer, true) => match answers.filter(|a| !a.is_null()) {
            Some(a) => Some((
                json!({"status": "answered", "answers": a}).to_string(),
                "completed",
            )),
            None => return Err(ApiError::bad_request("The question needs its answers.")),
        },
    };
    match decided {
        None => {
            output[pos]["status"] = json!("queued");
            output[pos]["approved"] = json!(true);
        }
        Some((text, status)) => {
            output[pos]["status"] = json!(status);
            output.push(json!({
                "type": "function_call_output",
                "id": short_id("fco"),
                "call_id": call_id,
                "output": [{"type": "input_text", "text": text}],
                "status": status,
            }));
        }
    }
    let left = waiting(&output);
    let resume = !active && (action == Resolution::Approve || left.is_empty());
    if !active && !resume {
        // The next undecided call is shown to the user.
        output[left[0]]["status"] = json!("pending");
    }
    persist::save_message(
        state,
        chat_id,
        message_id,
        json!({"done": false, "output": output}),
        false,
    )
    .await?;
    let emitter = Emitter::new(state, caller.id(), chat_id, message_id, None);
    emitter
        .emit("chat:completion", json!({"output": output}))
        .await;
    if !resume {
        return Ok(json!({
            "status": true, "chat_id": chat_id, "message_id": message_id, "task_ids": [],
        }));
    }

    // The reply goes on: approved calls run, then the model reads the results.
    let meta = message.get("meta").cloned().unwrap_or(Value::Null);
    let mut body = Map::new();
    for k in KEPT_KEYS {
        if let Some(v) = meta.get(k).filter(|v| !v.is_null()) {
            body.insert(k.to_string(), v.clone());
        }
    }
    let model_id = message
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    body.insert("model".into(), json!(model_id));
    let turn = Turn {
        caller: caller.clone(),
        chat_id: chat_id.to_string(),
        persist: true,
        new_chat: false,
        folder_id: chat.folder_id.clone(),
        session_id: body
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        user_message_id: message
            .get("parentId")
            .and_then(Value::as_str)
            .map(str::to_string),
        body,
        resumed: output,
        internal: false,
        max_rounds: None,
    };
    let target = Target {
        model_id,
        message_id: message_id.to_string(),
        model_idx: message.get("modelIdx").cloned(),
    };
    let (task_id, _running) = spawn_reply(state, turn, target).await?;
    Ok(json!({
        "status": true, "chat_id": chat_id, "message_id": message_id, "task_ids": [task_id],
    }))
}
