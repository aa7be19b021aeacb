//! `/api/v1/memories`: a user's memories and their vectors (collection
//! `user-memory-<user id>`, one chunk per memory, `memory_id` in metadata).

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::memories::{self, MemoryRow};
use crate::db::{new_id, now_secs};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::memories::browse;
use crate::memories::{clean_content, clean_path, Operation, Origin};
use crate::rag::memories::{self as vectors, reindex_everyone, reindex_user, upsert_vector};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/memories/", get(list))
        .route("/api/v1/memories/add", post(add))
        .route("/api/v1/memories/query", post(query))
        .route("/api/v1/memories/reindex", post(reindex_all))
        .route("/api/v1/memories/reset", post(reset))
        .route("/api/v1/memories/delete/user", delete(delete_all))
        .route("/api/v1/memories/update", post(apply_batch))
        .route("/api/v1/memories/search", post(search))
        .route("/api/v1/memories/paths", post(paths))
        .route("/api/v1/memories/path", post(read_path))
        .route("/api/v1/memories/{memory_id}/update", post(update))
        .route("/api/v1/memories/{memory_id}", delete(delete_one))
}

async fn check_enabled(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("memories.enable") {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    if !caller.is_admin() {
        let perms = permissions::effective(state, caller.id()).await?;
        if !permissions::allows(&perms, "features.memories") {
            return Err(ApiError::forbidden(ACCESS_PROHIBITED));
        }
    }
    Ok(())
}

fn memory_type(t: Option<&str>, default: &str) -> ApiResult<String> {
    match t.unwrap_or(default) {
        t @ ("user" | "context") => Ok(t.to_string()),
        other => Err(ApiError::Validation(json!([{
            "type": "literal_error", "loc": ["body", "type"],
            "msg": "Input should be 'user' or 'context'", "input": other,
        }]))),
    }
}

async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let rows = state.db.read(move |c| memories::by_user(c, &uid)).await?;
    Ok(Json(Value::Array(
        rows.iter().map(MemoryRow::wire).collect(),
    )))
}

#[derive(Deserialize)]
struct AddForm {
    content: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

async fn add(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<AddForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let now = now_secs();
    let m = MemoryRow {
        id: new_id(),
        user_id: caller.id().to_string(),
        kind: memory_type(form.kind.as_deref(), "context")?,
        path: clean_path(form.path.as_deref())?,
        content: clean_content(Some(&form.content))?,
        meta: Some(json!({"created_by": "manual"})),
        created_at: now,
        updated_at: now,
    };
    let row = m.clone();
    state.db.write(move |c| memories::insert(c, &row)).await?;
    if let Err(e) = upsert_vector(&state, &m).await {
        // The memory is kept; its vector is rebuilt by the next reset/reindex.
        tracing::warn!(error = %e, "memory saved without its vector");
    }
    Ok(Json(m.wire()))
}

#[derive(Deserialize)]
struct QueryForm {
    content: String,
    #[serde(default)]
    k: Option<usize>,
}

async fn query(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<QueryForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let rows = state.db.read(move |c| memories::by_user(c, &uid)).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found("No memories found for user"));
    }
    let hits = vectors::search(&state, caller.id(), &form.content, form.k)
        .await
        .map_err(|e| ApiError::bad_request(format!("Error querying memories: {e}")))?;
    Ok(Json(crate::rag::context::hits_to_result(&hits)))
}

#[derive(Deserialize)]
struct UpdateForm {
    #[serde(default)]
    content: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(memory_id): Path<String>,
    JsonBody(form): JsonBody<UpdateForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    if form.content.is_none() && form.kind.is_none() && form.path.is_none() {
        return Err(ApiError::bad_request("No memory update provided"));
    }
    let content = match &form.content {
        Some(c) => Some(clean_content(Some(c))?),
        None => None,
    };
    let path = clean_path(form.path.as_deref())?;
    let kind = match &form.kind {
        Some(k) => Some(memory_type(Some(k), "context")?),
        None => None,
    };
    let (mid, uid) = (memory_id.clone(), caller.id().to_string());
    let Some(mut m) = state.db.read(move |c| memories::get(c, &mid, &uid)).await? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    if let Some(c) = content {
        m.content = c;
    }
    if let Some(k) = kind {
        m.kind = k;
    }
    if form.path.is_some() {
        m.path = path;
    }
    m.meta = Some(json!({"created_by": "manual"}));
    m.updated_at = now_secs();
    let row = m.clone();
    state.db.write(move |c| memories::update(c, &row)).await?;
    if let Err(e) = upsert_vector(&state, &m).await {
        tracing::warn!(error = %e, "memory updated without its vector");
    }
    Ok(Json(m.wire()))
}

async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(memory_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (mid, uid) = (memory_id.clone(), caller.id().to_string());
    let ok = state
        .db
        .write(move |c| memories::delete(c, &mid, &uid))
        .await?;
    if ok {
        vectors::remove_vector(&state, caller.id(), &memory_id).await;
    }
    Ok(Json(json!(ok)))
}

async fn delete_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    state
        .db
        .write(move |c| memories::delete_by_user(c, &uid))
        .await?;
    if let Err(e) = vectors::remove_all_vectors(&state, caller.id()).await {
        tracing::error!(error = %e, "cannot drop memory vectors");
    }
    Ok(Json(json!(true)))
}

async fn reset(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let rows = state.db.read(move |c| memories::by_user(c, &uid)).await?;
    reindex_user(&state, caller.id(), rows).await?;
    Ok(Json(json!(true)))
}

async fn reindex_all(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    let (users, total) = reindex_everyone(&state).await?;
    Ok(Json(
        json!({"status": true, "total_users": users, "total_memories": total}),
    ))
}

#[derive(Deserialize)]
struct BatchForm {
    operations: Vec<Operation>,
    #[serde(default)]
    source: Option<Source>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Source {
    Tool,
    BackgroundReview,
}

async fn apply_batch(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<BatchForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let origin = Origin {
        created_by: match form.source {
            Some(Source::BackgroundReview) => "background_review",
            _ => "tool",
        }
        .into(),
        ..Default::default()
    };
    let results = crate::memories::apply(&state, caller.id(), form.operations, &origin).await?;
    Ok(Json(Value::Array(results)))
}

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum Kind {
    User,
    Context,
    #[default]
    All,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Context => "context",
            Kind::All => "all",
        }
    }
}

#[derive(Deserialize)]
struct SearchForm {
    #[serde(default)]
    query: Option<String>,
    #[serde(default, rename = "type")]
    kind: Kind,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    memory_id: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<SearchForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let rows = crate::memories::of_user(&state, caller.id()).await?;
    let found = browse::search(
        &rows,
        &browse::Search {
            query: form.query.as_deref(),
            path: form.path.as_deref(),
            memory_id: form.memory_id.as_deref(),
            kind: form.kind.name(),
            limit: form.limit.unwrap_or(20),
        },
    )?;
    Ok(Json(Value::Array(
        found.into_iter().map(MemoryRow::wire).collect(),
    )))
}

#[derive(Deserialize)]
struct PathsForm {
    #[serde(default)]
    query: Option<String>,
    #[serde(default, rename = "type")]
    kind: Kind,
    #[serde(default)]
    limit: Option<i64>,
}

async fn paths(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<PathsForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let rows = crate::memories::of_user(&state, caller.id()).await?;
    Ok(Json(browse::path_groups(
        &rows,
        form.query.as_deref().unwrap_or(""),
        form.kind.name(),
        form.limit.unwrap_or(100),
    )))
}

#[derive(Deserialize)]
struct PathForm {
    path: String,
    #[serde(default, rename = "type")]
    kind: Kind,
    #[serde(default = "yes")]
    include_children: bool,
    #[serde(default)]
    limit: Option<i64>,
}

fn yes() -> bool {
    true
}

async fn read_path(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<PathForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let rows = crate::memories::of_user(&state, caller.id()).await?;
    let read = browse::read_path(
        &rows,
        &form.path,
        form.kind.name(),
        form.include_children,
        form.limit.unwrap_or(50),
    )?;
    Ok(Json(read.wire()))
}
