//! The list endpoints the app shell calls on every page load, for features whose
//! full routers come later: terminals.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::extract::VerifiedUser;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/terminals/", get(terminals))
}

/// Terminal servers the admin configured and enabled, without their secrets.
async fn terminals(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> Json<Vec<Value>> {
    let conns = state.config.get("terminal_server.connections");
    let list = conns
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|c| c.get("enabled").and_then(Value::as_bool).unwrap_or(true))
                .map(|c| json!({"id": c.get("id"), "name": c.get("name"), "url": c.get("url")}))
                .collect()
        })
        .unwrap_or_default();
    Json(list)
}
