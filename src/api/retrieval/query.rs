//! Querying one or several collections, deleting entries, and the resets
//! of the vector store and the uploads.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::process::require_collections;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::files;
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::rag::context::hits_to_result;
use crate::rag::SearchOpts;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct QueryDocForm {
    collection_name: String,
    query: String,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    r: Option<f32>,
    #[serde(default)]
    hybrid: Option<bool>,
    #[serde(default)]
    hybrid_bm25_weight: Option<f32>,
}

fn query_opts(
    state: &AppState,
    k: Option<usize>,
    r: Option<f32>,
    hybrid: Option<bool>,
    w: Option<f32>,
) -> SearchOpts {
    let mut o = SearchOpts::from_config(state);
    if let Some(k) = k.filter(|k| *k > 0) {
        o.k = k;
    }
    // A huge `k` would size the search's candidate lists; see `limits::MAX_K`.
    o.k = o.k.min(crate::limits::MAX_K);
    o.hybrid = o.hybrid && hybrid.unwrap_or(true);
    if let Some(r) = r.filter(|r| *r != 0.0) {
        o.relevance_threshold = r;
    }
    if let Some(w) = w {
        o.bm25_weight = w;
    }
    o
}

pub(super) async fn query_doc(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<QueryDocForm>,
) -> ApiResult<Json<Value>> {
    let names = vec![form.collection_name.clone()];
    require_collections(&state, &caller, &names, "read").await?;
    let opts = query_opts(&state, form.k, form.r, form.hybrid, form.hybrid_bm25_weight);
    let hits = state
        .rag
        .search(&state, &names, &form.query, &opts)
        .await
        .map_err(|e| ApiError::bad_request(format!("Error querying knowledge base: {e}")))?;
    Ok(Json(hits_to_result(&hits)))
}

#[derive(Deserialize)]
pub(super) struct QueryCollectionForm {
    collection_names: Vec<String>,
    query: String,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    r: Option<f32>,
    #[serde(default)]
    hybrid: Option<bool>,
    #[serde(default)]
    hybrid_bm25_weight: Option<f32>,
}

pub(super) async fn query_collection(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<QueryCollectionForm>,
) -> ApiResult<Json<Value>> {
    require_collections(&state, &caller, &form.collection_names, "read").await?;
    let opts = query_opts(&state, form.k, form.r, form.hybrid, form.hybrid_bm25_weight);
    let hits = state
        .rag
        .search(&state, &form.collection_names, &form.query, &opts)
        .await
        .map_err(|e| ApiError::bad_request(format!("Error querying knowledge base: {e}")))?;
    Ok(Json(hits_to_result(&hits)))
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    collection_name: String,
    file_id: String,
}

pub(super) async fn delete_entries(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    JsonBody(form): JsonBody<DeleteForm>,
) -> ApiResult<Json<Value>> {
    if !state.rag.has_collection(&form.collection_name).await {
        return Ok(Json(json!({"status": false})));
    }
    let fid = form.file_id.clone();
    let file = state
        .db
        .read(move |c| files::get(c, &fid))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let Some(hash) = file.hash.clone() else {
        return Err(ApiError::bad_request(
            "Something went wrong :/\nFile has no hash; cannot delete vector entries by hash.",
        ));
    };
    state
        .rag
        .delete_where(&form.collection_name, "hash", &hash)
        .await?;
    Ok(Json(json!({"status": true})))
}

pub(super) async fn reset_db(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    crate::rag::knowledge::delete_all(&state).await?;
    Ok(Json(Value::Null))
}

pub(super) async fn reset_uploads(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<Value>> {
    crate::files::clear_uploads(&state).await;
    Ok(Json(json!(true)))
}
