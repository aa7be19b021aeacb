//! The list endpoints the app shell calls on every page load, for features whose
//! full routers come later: tools, functions, skills, pinned notes, terminals and
//! channels. They read the real tables, so existing data shows up.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::VerifiedUser;
use crate::db::json::JsonCol;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tools/", get(tools))
        .route("/api/v1/functions/", get(functions))
        .route("/api/v1/skills/", get(skills))
        .route("/api/v1/terminals/", get(terminals))
}

/// Rows of `table` visible to the user: their own, or all of them for admins.
fn owned_rows(
    c: &Connection,
    sql: &str,
    user_id: &str,
    admin: bool,
) -> rusqlite::Result<Vec<Value>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map(rusqlite::params![user_id, admin], |r| {
        Ok(json!({
            "id": r.get::<_, String>("id")?,
            "user_id": r.get::<_, Option<String>>("user_id")?,
            "name": r.get::<_, Option<String>>("name")?,
            "meta": r.get::<_, JsonCol>("meta")?.0,
            "updated_at": r.get::<_, Option<i64>>("updated_at")?,
            "created_at": r.get::<_, Option<i64>>("created_at")?,
        }))
    })?;
    rows.collect()
}

async fn tools(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let rows = state
        .db
        .read(move |c| {
            owned_rows(
                c,
                "SELECT id, user_id, name, meta, updated_at, created_at FROM tool \
                 WHERE ?2 OR user_id = ?1 ORDER BY updated_at DESC",
                &uid,
                admin,
            )
        })
        .await?;
    Ok(Json(rows))
}

async fn functions(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let rows = state
        .db
        .read(|c| {
            let mut st = c.prepare(
                "SELECT id, user_id, name, type, meta, is_active, is_global, updated_at, created_at \
                 FROM function ORDER BY updated_at DESC",
            )?;
            let rows = st.query_map([], |r| {
                Ok(json!({
                    "id": r.get::<_, String>("id")?,
                    "user_id": r.get::<_, Option<String>>("user_id")?,
                    "name": r.get::<_, Option<String>>("name")?,
                    "type": r.get::<_, Option<String>>("type")?,
                    "meta": r.get::<_, JsonCol>("meta")?.0,
                    "is_active": r.get::<_, Option<bool>>("is_active")?.unwrap_or(false),
                    "is_global": r.get::<_, Option<bool>>("is_global")?.unwrap_or(false),
                    "updated_at": r.get::<_, Option<i64>>("updated_at")?,
                    "created_at": r.get::<_, Option<i64>>("created_at")?,
                }))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    Ok(Json(rows))
}

async fn skills(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let (uid, admin) = (caller.user.id.clone(), caller.is_admin());
    let rows = state
        .db
        .read(move |c| {
            owned_rows(
                c,
                "SELECT id, user_id, name, meta, updated_at, created_at FROM skill \
                 WHERE ?2 OR user_id = ?1 ORDER BY updated_at DESC",
                &uid,
                admin,
            )
        })
        .await?;
    Ok(Json(rows))
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
