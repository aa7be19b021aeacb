//! `/api/v1/chats` (list views for the sidebar).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::VerifiedUser;
use crate::db::chats::{self, ChatTitleRow, ListFilter, PAGE_SIZE};
use crate::db::tags;
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/chats/", get(list))
        .route("/api/v1/chats/list", get(list))
        .route("/api/v1/chats/pinned", get(pinned))
        .route("/api/v1/chats/archived/count", get(archived_count))
        .route("/api/v1/chats/all/tags", get(all_tags))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    page: Option<i64>,
    #[serde(default)]
    include_pinned: bool,
    #[serde(default)]
    include_folders: bool,
    sort_by: Option<String>,
    sort_dir: Option<String>,
}

fn title_json(r: &ChatTitleRow) -> Value {
    json!({
        "id": r.id,
        "title": r.title,
        "updated_at": r.updated_at,
        "created_at": r.created_at,
        "last_read_at": r.last_read_at,
        "snippet": null,
        "active": false,
        "archived": r.archived,
    })
}

async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let f = ListFilter {
        include_pinned: q.include_pinned,
        include_folders: q.include_folders,
        page: q.page.map(|p| (PAGE_SIZE, (p.max(1) - 1) * PAGE_SIZE)),
        sort_by_title: q.sort_by.as_deref() == Some("title"),
        ascending: q.sort_dir.as_deref() == Some("asc"),
        ..Default::default()
    };
    let uid = caller.user.id.clone();
    let rows = state.db.read(move |c| chats::list_titles(c, &uid, &f)).await?;
    Ok(Json(rows.iter().map(title_json).collect()))
}

async fn pinned(State(state): State<AppState>, VerifiedUser(caller): VerifiedUser) -> ApiResult<Json<Vec<Value>>> {
    let f = ListFilter {
        only_pinned: true,
        ..Default::default()
    };
    let uid = caller.user.id.clone();
    let rows = state.db.read(move |c| chats::list_titles(c, &uid, &f)).await?;
    Ok(Json(rows.iter().map(title_json).collect()))
}

async fn archived_count(State(state): State<AppState>, VerifiedUser(caller): VerifiedUser) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let n = state.db.read(move |c| chats::count_archived(c, &uid)).await?;
    Ok(Json(json!({"count": n})))
}

async fn all_tags(State(state): State<AppState>, VerifiedUser(caller): VerifiedUser) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state.db.read(move |c| tags::list_for_user(c, &uid)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|t| json!({"id": t.id, "name": t.name, "user_id": t.user_id, "meta": t.meta}))
            .collect(),
    ))
}
