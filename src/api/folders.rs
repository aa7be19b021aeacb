//! `/api/v1/folders` (list views).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::VerifiedUser;
use crate::db::folders;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/folders/", get(list)).route("/api/v1/folders/shared", get(shared))
}

async fn list(State(state): State<AppState>, VerifiedUser(caller): VerifiedUser) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state.db.read(move |c| folders::list(c, &uid)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|f| {
                let icon = f.meta.as_ref().and_then(|m| m.get("icon")).cloned().unwrap_or(Value::Null);
                json!({
                    "id": f.id,
                    "name": f.name,
                    "meta": {"icon": icon},
                    "parent_id": f.parent_id,
                    "is_expanded": f.is_expanded,
                    "unread_count": f.unread_count,
                    "created_at": f.created_at,
                    "updated_at": f.updated_at,
                })
            })
            .collect(),
    ))
}

/// Folder sharing is not stored anywhere yet, so nothing is shared with anyone.
async fn shared(VerifiedUser(_c): VerifiedUser) -> Json<Vec<Value>> {
    Json(vec![])
}
