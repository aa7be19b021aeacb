//! The Anthropic Messages API routes (`/api/v1/messages`, its
//! `count_tokens`, and the `/api/message` aliases upstream keeps).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::chat::messages_api;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages", post(generate))
        .route("/api/message", post(generate))
        .route("/api/v1/messages/count_tokens", post(count_tokens))
        .route("/api/message/count_tokens", post(count_tokens))
}

async fn generate(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    Ok(messages_api::generate(state, caller, body)
        .await?
        .into_response())
}

async fn count_tokens(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let n = messages_api::count_tokens(&state, &caller, body).await?;
    Ok(Json(json!({"input_tokens": n})))
}
