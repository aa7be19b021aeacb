//! App-level chat routes: `/api/chat/completions` (and its `/api/v1` alias), the
//! deprecated `/api/chat/completed`, and the generation task endpoints.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::chat::complete;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat/completions", post(completions))
        .route("/api/v1/chat/completions", post(completions))
        .route("/api/chat/completed", post(completed))
        .route("/api/tasks", get(list_tasks))
        .route("/api/tasks/stop/{task_id}", post(stop_task))
        .route("/api/tasks/chat/{chat_id}", get(chat_tasks))
        .route("/api/tasks/chat/{chat_id}/stop", post(stop_chat))
}

async fn completions(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    complete::handle(state, caller, body)
        .await
        .map(IntoResponse::into_response)
}

/// Outlet work now happens inside the pipeline; upstream keeps this as an echo.
async fn completed(VerifiedUser(_c): VerifiedUser, JsonBody(body): JsonBody<Value>) -> Json<Value> {
    Json(body)
}

async fn list_tasks(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(json!({"tasks": state.tasks.all_task_ids()}))
}

async fn stop_task(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(task_id): Path<String>,
) -> ApiResult<Json<Value>> {
    if state.tasks.cancel(&task_id) {
        Ok(Json(
            json!({"status": true, "message": format!("Task {task_id} stopped.")}),
        ))
    } else {
        Err(ApiError::not_found("No running task has that id."))
    }
}

/// The caller's own chat (admins: any chat); 404 otherwise, so foreign ids reveal nothing.
async fn owned_chat(
    state: &AppState,
    caller: &crate::auth::Caller,
    chat_id: &str,
) -> ApiResult<()> {
    let cid = chat_id.to_string();
    let owner = state
        .db
        .read(move |c| db::chats::owner_and_folder(c, &cid))
        .await?;
    match owner {
        Some((uid, _)) if uid == caller.user.id || caller.is_admin() => Ok(()),
        // A temporary chat has no row; its tasks belong to whoever started them.
        None if state.tasks.owner_of_chat_task(chat_id).as_deref()
            == Some(caller.user.id.as_str()) =>
        {
            Ok(())
        }
        _ => Err(ApiError::not_found_default()),
    }
}

async fn chat_tasks(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(chat_id): Path<String>,
) -> ApiResult<Json<Value>> {
    if owned_chat(&state, &caller, &chat_id).await.is_err() {
        return Ok(Json(json!({"task_ids": []})));
    }
    Ok(Json(
        json!({"task_ids": state.tasks.task_ids_for_chat(&chat_id)}),
    ))
}

async fn stop_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(chat_id): Path<String>,
) -> ApiResult<Json<Value>> {
    owned_chat(&state, &caller, &chat_id).await?;
    let stopped = state.tasks.cancel_chat(&chat_id);
    Ok(Json(json!({"status": true, "task_ids": stopped})))
}
