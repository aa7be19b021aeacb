//! `/api/v1/configs` (banners for now; the admin settings pages come later).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::VerifiedUser;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/configs/banners", get(banners))
}

async fn banners(State(state): State<AppState>, VerifiedUser(_c): VerifiedUser) -> Json<Value> {
    match state.config.get("ui.banners") {
        v @ Value::Array(_) => Json(v),
        _ => Json(Value::Array(vec![])),
    }
}
