//! Indexing into collections: a file, a text, a web page, a batch of files;
//! the write check on the collections named.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::form::query_bool;
use crate::auth::Caller;
use crate::db::files;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::files::can_access_file;
use crate::rag::context::filter_accessible_collections;
use crate::rag::processing::{index_file, index_text, sha256_hex, IndexOpts};
use crate::state::AppState;
use crate::webfetch::fetch_page_text;

type Params = Query<HashMap<String, String>>;

pub(super) async fn require_collections(
    state: &AppState,
    caller: &Caller,
    names: &[String],
    perm: &str,
) -> ApiResult<()> {
    let allowed = filter_accessible_collections(state, caller, names, perm).await?;
    if allowed.len() != names.iter().collect::<std::collections::HashSet<_>>().len() {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct ProcessFileForm {
    file_id: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    collection_name: Option<String>,
}

pub(super) async fn process_file(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ProcessFileForm>,
) -> ApiResult<Json<Value>> {
    let fid = form.file_id.clone();
    let file = state
        .db
        .read(move |c| files::get(c, &fid))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let perm = if form.content.is_some() {
        "write"
    } else {
        "read"
    };
    if !can_access_file(&state, &caller, &file, perm).await? {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    if let Some(c) = &form.collection_name {
        require_collections(&state, &caller, std::slice::from_ref(c), "write").await?;
    }
    let opts = IndexOpts {
        content: form.content.clone(),
        collection: form.collection_name.clone(),
    };
    let row = crate::rag::processing::process_file(&state, &caller, &file, opts)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(json!({
        "status": true,
        "collection_name": form.collection_name.unwrap_or(crate::files::collection_of(&row.id)),
        "filename": row.filename,
        "content": row.content(),
    })))
}

#[derive(Deserialize)]
pub(super) struct ProcessTextForm {
    name: String,
    content: String,
    #[serde(default)]
    collection_name: Option<String>,
}

pub(super) async fn process_text(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ProcessTextForm>,
) -> ApiResult<Json<Value>> {
    let collection = match &form.collection_name {
        Some(c) => {
            require_collections(&state, &caller, std::slice::from_ref(c), "write").await?;
            c.clone()
        }
        None => sha256_hex(&form.content),
    };
    let mut m = Map::new();
    m.insert("name".into(), json!(form.name));
    m.insert("created_by".into(), json!(caller.id()));
    m.insert("hash".into(), json!(sha256_hex(&form.content)));
    index_text(
        &state,
        &collection,
        &form.content,
        m,
        form.collection_name.is_none(),
    )
    .await?;
    Ok(Json(
        json!({"status": true, "collection_name": collection, "content": form.content}),
    ))
}

#[derive(Deserialize)]
pub(super) struct UrlForm {
    url: String,
    #[serde(default)]
    collection_name: Option<String>,
}

pub(super) async fn process_web(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
    JsonBody(form): JsonBody<UrlForm>,
) -> ApiResult<Json<Value>> {
    let process = query_bool(&p, "process", true)?;
    let overwrite = query_bool(&p, "overwrite", true)?;
    let content = fetch_page_text(&state, &form.url).await?;
    if !process {
        return Ok(Json(json!({"status": true, "content": content})));
    }
    let mut collection = match &form.collection_name {
        Some(c) if !c.is_empty() => {
            require_collections(&state, &caller, std::slice::from_ref(c), "write").await?;
            c.clone()
        }
        _ => sha256_hex(&form.url)[..63].to_string(),
    };
    if state
        .config
        .get_bool("web.search.bypass_embedding_and_retrieval")
    {
        collection = String::new();
    } else {
        let mut m = Map::new();
        m.insert("source".into(), json!(form.url));
        m.insert("name".into(), json!(form.url));
        m.insert("created_by".into(), json!(caller.id()));
        index_text(&state, &collection, &content, m, overwrite).await?;
    }
    Ok(Json(json!({
        "status": true,
        "collection_name": if collection.is_empty() { Value::Null } else { json!(collection) },
        "filename": form.url,
        "content": content,
        "file": {
            "data": {"content": content},
            "meta": {"name": form.url, "source": form.url},
        },
    })))
}

pub(super) async fn process_youtube(VerifiedUser(_): VerifiedUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(
        "YouTube transcripts are not supported by this server yet.".into(),
    ))
}

#[derive(Deserialize)]
pub(super) struct SearchForm {
    queries: Vec<String>,
}

pub(super) async fn web_search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<SearchForm>,
) -> ApiResult<Json<Value>> {
    let outcome = crate::websearch::run(&state, &caller, &form.queries, None).await?;
    Ok(Json(outcome.to_json()))
}

#[derive(Deserialize)]
pub(super) struct BatchForm {
    files: Vec<Value>,
    collection_name: String,
}

pub(super) async fn process_files_batch(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<BatchForm>,
) -> ApiResult<Json<Value>> {
    if !form.collection_name.is_empty() {
        require_collections(
            &state,
            &caller,
            std::slice::from_ref(&form.collection_name),
            "write",
        )
        .await?;
    }
    let mut results = vec![];
    let mut errors = vec![];
    for f in &form.files {
        let Some(fid) = f.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let id2 = fid.clone();
        let row = state.db.read(move |c| files::get(c, &id2)).await?;
        let fail = |e: &str| json!({"file_id": fid, "status": "failed", "error": e});
        let Some(row) = row else {
            errors.push(fail("File not found"));
            continue;
        };
        if row.user_id != caller.id() && !caller.is_admin() {
            errors.push(fail("Permission denied: not file owner"));
            continue;
        }
        let content = f
            .get("data")
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let opts = IndexOpts {
            content,
            collection: Some(form.collection_name.clone()),
        };
        match index_file(&state, &caller, &row, opts).await {
            Ok(()) => results.push(json!({"file_id": fid, "status": "completed", "error": null})),
            Err(e) => errors.push(fail(&e)),
        }
    }
    Ok(Json(json!({"results": results, "errors": errors})))
}
