//! `GET /api/v1/search`: the workspace search modal (chats, notes, channel messages).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::api::extract::VerifiedUser;
use crate::auth::permissions;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/search", get(search))
}

#[derive(Deserialize)]
struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default = "all")]
    kind: String,
    #[serde(default = "all")]
    sharing: String,
    #[serde(default)]
    scope: String,
    #[serde(default = "first_page")]
    page: usize,
}

fn all() -> String {
    "all".into()
}

fn first_page() -> usize {
    1
}

async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<Value>> {
    if p.q.chars().count() > 500 {
        return Err(ApiError::Validation("q: at most 500 characters".into()));
    }
    if p.scope.chars().count() > 200 {
        return Err(ApiError::Validation("scope: at most 200 characters".into()));
    }
    if !(1..=100_000).contains(&p.page) {
        return Err(ApiError::Validation("page: between 1 and 100000".into()));
    }
    if !["all", "chat", "message", "note"].contains(&p.kind.as_str()) {
        return Err(ApiError::Validation(
            "kind: one of all, chat, message, note".into(),
        ));
    }
    if !["all", "mine", "shared"].contains(&p.sharing.as_str()) {
        return Err(ApiError::Validation(
            "sharing: one of all, mine, shared".into(),
        ));
    }
    let mut enabled: Vec<&'static str> = vec!["chat"];
    let perms = if caller.is_admin() {
        None
    } else {
        Some(
            permissions::effective(&state, &caller.user.id)
                .await
                .map_err(ApiError::internal)?,
        )
    };
    for (feature, kind) in [("channels", "message"), ("notes", "note")] {
        let on = state.config.get_bool(&format!("{feature}.enable"));
        let allowed = perms
            .as_ref()
            .is_none_or(|p| permissions::allows(p, &format!("features.{feature}")));
        if on && allowed {
            enabled.push(kind);
        }
    }
    let uid = caller.user.id.clone();
    let result = state
        .db
        .read(move |c| {
            db::search::search(
                c,
                &db::search::Query {
                    user_id: &uid,
                    text: &p.q,
                    kind: &p.kind,
                    sharing: &p.sharing,
                    scope: &p.scope,
                    page: p.page,
                    enabled: &enabled,
                },
            )
        })
        .await?;
    Ok(Json(result))
}
