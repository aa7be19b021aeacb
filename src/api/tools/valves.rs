//! Valves and user valves: stored values are read; schemas and updates need
//! the Python module and answer 501.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::write::{load, writable};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::prompts::not_found;
use crate::auth::Caller;
use crate::db::tools as rows;
use crate::error::messages::{ACCESS_PROHIBITED as PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workspace::tools::python_unsupported;

pub(super) async fn valves(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (t, _) = writable(
        &state,
        &caller,
        &id,
        not_found(),
        ApiError::unauthorized(PROHIBITED),
    )
    .await?;
    Ok(Json(rows::valves_dict(&t.valves)))
}

pub(super) async fn user_valves(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    readable_tool(&state, &caller, &id).await?;
    let uid = caller.id().to_string();
    Ok(Json(
        state
            .db
            .read(move |c| rows::user_valves(c, &uid, "tools", &id))
            .await?,
    ))
}

/// Valve schemas and valve validation come from the Python module: after
/// the same existence and access checks as upstream, a 501.
pub(super) async fn valves_spec(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    writable(
        &state,
        &caller,
        &id,
        not_found(),
        ApiError::unauthorized(PROHIBITED),
    )
    .await?;
    Err(python_unsupported())
}

pub(super) async fn valves_update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(_b): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    writable(
        &state,
        &caller,
        &id,
        ApiError::unauthorized(NOT_FOUND),
        ApiError::bad_request(PROHIBITED),
    )
    .await?;
    Err(python_unsupported())
}

/// Owner, read grant or any admin.
async fn readable_tool(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let (t, g) = load(state, id).await?.ok_or_else(not_found)?;
    let owner = t.user_id.as_deref().unwrap_or("");
    if !access::allows(state, caller, caller.is_admin(), owner, &g, "read").await? {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    Ok(())
}

pub(super) async fn user_valves_spec(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    readable_tool(&state, &caller, &id).await?;
    Err(python_unsupported())
}

pub(super) async fn user_valves_update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(_b): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    readable_tool(&state, &caller, &id).await?;
    Err(python_unsupported())
}
