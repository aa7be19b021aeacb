//! `/api/models` (the merged model list) and upstream's `models` router
//! (`/api/v1/models/*`): workspace models on top of a base model, their
//! history, visibility and profile images.

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::validation;
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow, NewGrant};
use crate::db::models::{self as rows, ModelForm, ModelRow};
use crate::db::now_secs;
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

const PAGE_SIZE: i64 = 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/models", get(list_models))
        .route("/api/v1/models", get(list_models))
        .route("/api/models/base", get(base_models))
        .route("/api/models/unload", post(unload_model))
        .route("/api/v1/models/list", get(workspace_list))
        .route("/api/v1/models/all", get(all_rows))
        .route("/api/v1/models/base/tags", get(base_tags))
        .route("/api/v1/models/base", get(base_rows))
        .route("/api/v1/models/tags", get(tags))
        .route("/api/v1/models/create", post(create))
        .route("/api/v1/models/export", get(export))
        .route("/api/v1/models/import", post(import))
        .route("/api/v1/models/sync", post(sync))
        .route("/api/v1/models/model", get(get_model))
        .route("/api/v1/models/model/history", get(history))
        .route(
            "/api/v1/models/model/history/{history_id}",
            get(history_entry).delete(delete_history_entry),
        )
        .route("/api/v1/models/model/update/version", post(set_version))
        .route("/api/v1/models/model/profile/image", get(profile_image))
        .route("/api/v1/models/model/toggle", post(toggle))
        .route("/api/v1/models/model/update", post(update))
        .route("/api/v1/models/model/access/update", post(update_access))
        .route("/api/v1/models/model/delete", post(delete_model))
        .route("/api/v1/models/delete/all", delete(delete_all))
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized(UNAUTHORIZED)
}

fn prohibited() -> ApiError {
    ApiError::unauthorized(ACCESS_PROHIBITED)
}

fn id_taken() -> ApiError {
    ApiError::unauthorized(
        "Uh-oh! This model id is already registered. Please choose another model id string.",
    )
}

#[derive(Deserialize)]
struct RefreshQuery {
    #[serde(default)]
    refresh: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
}

async fn list_models(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<RefreshQuery>,
) -> ApiResult<Json<Value>> {
    let data = if truthy(&q.refresh) {
        llm::invalidate(&state);
        llm::list_models(&state, &caller).await?
    } else {
        llm::list_models(&state, &caller).await?
    };
    Ok(Json(json!({ "data": data })))
}

async fn base_models(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<RefreshQuery>,
) -> ApiResult<Json<Value>> {
    let data = llm::base_models(&state, truthy(&q.refresh)).await;
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
struct UnloadForm {
    model: String,
}

/// Frees a model's memory on its server: Ollama (`keep_alive: 0` on every
/// server hosting it) or llama.cpp / LM Studio's unload endpoint.
async fn unload_model(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<UnloadForm>,
) -> ApiResult<Json<Value>> {
    let base = llm::base_models(&state, false).await;
    let all = llm::all_models(&state, false).await?;
    // A preset unloads its base model.
    let mut id = form.model.clone();
    let mut seen = HashSet::new();
    let item = loop {
        if let Some(b) = base.iter().find(|m| m["id"] == id.as_str()) {
            break b.clone();
        }
        let next = all
            .iter()
            .find(|m| m["id"] == id.as_str())
            .and_then(|m| m["info"]["base_model_id"].as_str())
            .map(str::to_string);
        match next {
            Some(n) if seen.insert(n.clone()) => id = n,
            _ => {
                return Err(ApiError::not_found(format!(
                    "Model '{}' was not found.",
                    form.model
                )))
            }
        }
    };
    match llm::provider_of(&item) {
        Some(llm::Provider::Ollama) => {
            let (_, conns) = llm::ollama_connections(&state);
            let mut errors = Vec::new();
            let urls: Vec<usize> = item["ollama"]["urls"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_u64)
                        .map(|u| u as usize)
                        .collect()
                })
                .unwrap_or_default();
            for idx in urls {
                let Some(conn) = conns.get(idx) else { continue };
                let url = format!("{}/api/generate", conn.url);
                let body = json!({"model": conn.strip_prefix(&id), "keep_alive": 0, "prompt": ""});
                let r = llm::client()
                    .post(&url)
                    .headers(llm::auth_headers(conn.key.as_deref(), &conn.config, &url))
                    .timeout(std::time::Duration::from_secs(30))
                    .json(&body)
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => {
                        errors.push(format!("server {idx}: {}", llm::status_error(resp).await))
                    }
                    Err(e) => errors.push(format!(
                        "server {idx}: {}",
                        llm::send_error(&conn.url, e, None)
                    )),
                }
            }
            llm::invalidate(&state);
            if !errors.is_empty() {
                return Err(ApiError::Unavailable(format!(
                    "Could not unload the model on {} server(s): {}",
                    errors.len(),
                    errors.join("; ")
                )));
            }
            Ok(Json(json!({"status": true})))
        }
        Some(llm::Provider::OpenAi) => {
            let idx = item["urlIdx"].as_u64().unwrap_or(0) as usize;
            let (_, conns) = llm::openai_connections(&state);
            let conn = conns
                .get(idx)
                .ok_or_else(|| ApiError::not_found("Connection not found"))?;
            let provider = conn
                .config
                .get("provider")
                .and_then(Value::as_str)
                .unwrap_or("");
            let payload = json!({"model": conn.strip_prefix(&id)});
            super::openai::manage(
                &state,
                idx,
                "unload",
                reqwest::Method::POST,
                Some(payload),
                None,
                &[],
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                if provider.is_empty() {
                    ApiError::bad_request(
                        "This connection's provider does not support unloading models.",
                    )
                } else {
                    e
                }
            })?;
            Ok(Json(json!({"status": true})))
        }
        None => Err(ApiError::bad_request("This model cannot be unloaded.")),
    }
}

// ---------------------------------------------------------------- helpers

async fn perms_allow(state: &AppState, caller: &Caller, key: &str) -> ApiResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let perms = permissions::effective(state, caller.id()).await?;
    Ok(permissions::allows(&perms, key))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= 256 && !id.chars().any(char::is_whitespace)
}

/// A profile image URL that is not a raster data URL, http(s) URL or one of
/// the server's own paths is dropped (the default picture shows), as upstream
/// does, so an SVG never reaches the profile image route.
fn without_unsafe_image(mut meta: Value) -> Value {
    if let Some(m) = meta.as_object_mut() {
        if m.get("profile_image_url")
            .and_then(Value::as_str)
            .is_some_and(|u| !crate::limits::valid_image_url(u))
        {
            m.insert("profile_image_url".into(), Value::Null);
        }
    }
    meta
}

/// A parsed `ModelForm`, remembering which optional keys the request set.
struct Parsed {
    form: ModelForm,
    grants: Option<Value>,
    has_base: bool,
    has_active: bool,
    meta_keys: HashSet<String>,
    params_has_controls: bool,
}

fn parse_form(v: &Value) -> ApiResult<Parsed> {
    let o = v
        .as_object()
        .ok_or_else(|| validation("", "Input should be an object"))?;
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("id", "Field required"))?;
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(validation("id", "String should match pattern '^\\S+$'"));
    }
    let name = o
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("name", "Field required"))?;
    crate::limits::check_name("name", name)?;
    let meta = o
        .get("meta")
        .filter(|m| m.is_object())
        .ok_or_else(|| validation("meta", "Field required"))?;
    let params = o
        .get("params")
        .filter(|m| m.is_object())
        .ok_or_else(|| validation("params", "Field required"))?;
    if let Some(bg) = meta.get("background_image_url").and_then(Value::as_str) {
        if !rows::valid_background_image(bg) {
            return Err(validation(
                "meta",
                "Invalid background image URL: must reference an internal file.",
            ));
        }
    }
    let base = match o.get("base_model_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(validation(
                "base_model_id",
                "Input should be a valid string",
            ))
        }
    };
    let is_active = match o.get("is_active") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(validation("is_active", "Input should be a valid boolean")),
    };
    let grants = match o.get("access_grants") {
        None | Some(Value::Null) => None,
        Some(g @ Value::Array(_)) => Some(g.clone()),
        Some(_) => return Err(validation("access_grants", "Input should be a valid list")),
    };
    Ok(Parsed {
        form: ModelForm {
            id: id.to_string(),
            // A model based on itself is a base-model row.
            base_model_id: base.filter(|b| b != id),
            name: name.to_string(),
            params: params.clone(),
            meta: without_unsafe_image(meta.clone()),
            is_active,
            commit_message: o
                .get("commit_message")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        grants,
        has_base: o.contains_key("base_model_id"),
        has_active: o.contains_key("is_active"),
        meta_keys: meta
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        params_has_controls: params.get("model_controls").is_some(),
    })
}

async fn load(state: &AppState, id: &str) -> ApiResult<Option<(ModelRow, Vec<GrantRow>)>> {
    let id = id.to_string();
    Ok(state
        .db
        .read(move |c| rows::get_with_grants(c, &id))
        .await?)
}

async fn load_wire(state: &AppState, id: &str) -> ApiResult<Value> {
    match load(state, id).await? {
        Some((m, g)) => Ok(rows::wire(&m, &g)),
        None => Ok(Value::Null),
    }
}

/// A background image must be a file the caller may use.
async fn check_background(
    state: &AppState,
    caller: &Caller,
    url: Option<&str>,
    previous: Option<&str>,
) -> ApiResult<()> {
    let Some(url) = url.filter(|u| !u.is_empty() && Some(*u) != previous) else {
        return Ok(());
    };
    let file_id = url
        .trim_end_matches("/content")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    type Row = (Option<String>, Option<String>);
    let row: Option<Row> = state
        .db
        .read(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT user_id, path FROM file WHERE id = ?1",
                [&file_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
        .await?;
    let path = match row {
        Some((o, path)) if caller.is_admin() || o.as_deref() == Some(caller.id()) => path,
        _ => return Err(ApiError::forbidden("Background image is not accessible.")),
    };
    // The picture is shown inline, so it must really be a raster image.
    let head = match path {
        Some(p) => tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = Vec::with_capacity(16);
            std::fs::File::open(p)
                .and_then(|f| f.take(16).read_to_end(&mut buf))
                .map(|_| buf)
        })
        .await?
        .unwrap_or_default(),
        None => vec![],
    };
    if image_type(&head).is_none() {
        return Err(ApiError::bad_request(
            "Background image must be PNG, JPEG, WebP, or GIF.",
        ));
    }
    Ok(())
}

/// Model controls only work for models a server-side provider serves.
async fn check_controls(state: &AppState, p: &Parsed) -> ApiResult<()> {
    let has = p
        .form
        .params
        .get("model_controls")
        .and_then(Value::as_object)
        .is_some_and(|c| !c.is_empty());
    if !has {
        return Ok(());
    }
    let target = p
        .form
        .base_model_id
        .clone()
        .unwrap_or_else(|| p.form.id.clone());
    let all = llm::all_models(state, false).await?;
    if let Some(base) = all.iter().find(|m| m["id"] == target.as_str()) {
        if base.get("pipe").is_some() || base.get("direct").is_some() || base["owned_by"] == "arena"
        {
            return Err(ApiError::bad_request(
                "Model controls require a server-managed provider model.",
            ));
        }
    }
    Ok(())
}

/// Ids that base models already use (a user may not shadow them).
async fn base_ids(state: &AppState) -> ApiResult<HashSet<String>> {
    let mut ids = HashSet::new();
    for m in llm::all_models(state, false).await? {
        if m.get("preset").is_some() {
            continue;
        }
        let Some(id) = m["id"].as_str() else { continue };
        ids.insert(id.to_string());
        if m["owned_by"] == "ollama" {
            ids.insert(id.split(':').next().unwrap_or(id).to_string());
        }
    }
    Ok(ids)
}

// ------------------------------------------------------------ list routes

#[derive(Deserialize)]
struct ListQuery {
    query: Option<String>,
    view_option: Option<String>,
    tag: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
    page: Option<i64>,
}

async fn workspace_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let page = crate::limits::page(q.page.unwrap_or(1));
    let groups = access::group_ids(&state, caller.id()).await?;
    let bypass = access::admin_bypass(&caller);
    let filter = rows::SearchFilter {
        query: q.query,
        view_option: q.view_option,
        tag: q.tag,
        order_by: q.order_by,
        direction: q.direction,
        access: (!bypass).then(|| (caller.id().to_string(), groups.clone())),
    };
    let uid = caller.id().to_string();
    let result = state
        .db
        .read(move |c| rows::search(c, &filter, &uid, (page - 1) * PAGE_SIZE, PAGE_SIZE))
        .await?;
    let items: Vec<Value> = result
        .items
        .into_iter()
        .map(|(m, g, user)| {
            let write = bypass || access::owner_or_grant(&caller, &m.user_id, &g, &groups, "write");
            let mut v = rows::wire(&m, &g);
            if let Some(meta) = v["meta"].as_object_mut() {
                meta.remove("profile_image_url");
            }
            // Read-only viewers do not get the system prompt and other curated params.
            if !write {
                v["params"] = json!({});
            }
            v["user"] = user.unwrap_or(Value::Null);
            v["write_access"] = json!(write);
            v
        })
        .collect();
    Ok(Json(json!({"items": items, "total": result.total})))
}

async fn all_rows(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Value>> {
    let list = state.db.read(rows::all_with_grants).await?;
    Ok(Json(Value::Array(
        list.iter().map(|(m, g)| rows::wire(m, g)).collect(),
    )))
}

#[derive(Deserialize)]
struct TagQuery {
    tag: Option<String>,
}

async fn base_rows(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<TagQuery>,
) -> ApiResult<Json<Value>> {
    let list = state.db.read(rows::all_with_grants).await?;
    let tag = q.tag.filter(|t| !t.is_empty());
    let out: Vec<Value> = list
        .iter()
        .filter(|(m, _)| m.base_model_id.is_none())
        .filter(|(m, _)| {
            tag.as_ref().is_none_or(|t| {
                rows::normalize_tags(m.meta.get("tags").unwrap_or(&Value::Null))
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["name"] == t.as_str()))
            })
        })
        .map(|(m, g)| rows::wire(m, g))
        .collect();
    Ok(Json(Value::Array(out)))
}

async fn base_tags(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(state.db.read(|c| rows::tags(c, true, None)).await?))
}

async fn tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<String>>> {
    let bypass = access::admin_bypass(&caller);
    let groups = access::group_ids(&state, caller.id()).await?;
    let uid = caller.id().to_string();
    let list = state
        .db
        .read(move |c| rows::tags(c, false, (!bypass).then_some((uid.as_str(), &groups))))
        .await?;
    Ok(Json(list))
}

// ----------------------------------------------------------- write routes

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !perms_allow(&state, &caller, "workspace.models").await? {
        return Err(unauthorized());
    }
    let mut p = parse_form(&body)?;
    if !valid_id(&p.form.id) {
        return Err(ApiError::bad_request(
            "The model id is too long. Please make sure your model id is less than 256 characters long.",
        ));
    }
    if load(&state, &p.form.id).await?.is_some() {
        return Err(id_taken());
    }
    if !caller.is_admin() {
        if p.form.base_model_id.is_none() {
            return Err(unauthorized());
        }
        if base_ids(&state).await?.contains(&p.form.id) {
            return Err(id_taken());
        }
    }
    check_background(
        &state,
        &caller,
        p.form
            .meta
            .get("background_image_url")
            .and_then(Value::as_str),
        None,
    )
    .await?;
    check_controls(&state, &p).await?;
    let grants = match &p.grants {
        Some(g) => access::allowed_grants(&state, &caller, access::Kind::Model, g).await?,
        None => vec![],
    };
    p.form.is_active = Some(p.form.is_active.unwrap_or(true));
    let (form, uid, now) = (p.form.clone(), caller.id().to_string(), now_secs());
    state
        .db
        .write(move |tx| rows::insert(tx, &form, &uid, &grants, now))
        .await?;
    Ok(Json(load_wire(&state, &p.form.id).await?))
}

#[derive(Deserialize)]
struct IdQuery {
    id: String,
}

async fn get_model(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<Value>> {
    let Some((m, g)) = load(&state, &q.id).await? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let groups = access::group_ids(&state, caller.id()).await?;
    let write = access::admin_bypass(&caller)
        || access::owner_or_grant(&caller, &m.user_id, &g, &groups, "write");
    if !write && !access_grants::grants_allow(&g, caller.id(), &groups, "read") {
        return Err(prohibited());
    }
    let mut v = rows::wire(&m, &g);
    if !write {
        v["params"] = json!({});
    }
    v["user"] = Value::Null;
    v["write_access"] = json!(write);
    Ok(Json(v))
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let mut p = parse_form(&body)?;
    let Some((current, grants)) = load(&state, &p.form.id).await? else {
        return Err(ApiError::unauthorized(NOT_FOUND));
    };
    let groups = access::group_ids(&state, caller.id()).await?;
    if !caller.is_admin()
        && !access::owner_or_grant(&caller, &current.user_id, &grants, &groups, "write")
    {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    if !p.has_base {
        p.form.base_model_id = current.base_model_id.clone();
    }
    if !caller.is_admin() && current.base_model_id.is_some() && p.form.base_model_id.is_none() {
        return Err(unauthorized());
    }
    // Keys the editor leaves out keep their stored values.
    if let Some(meta) = p.form.meta.as_object_mut() {
        for key in ["profile_image_url", "voice_avatar", "background_image_url"] {
            if !p.meta_keys.contains(key) {
                if let Some(v) = current.meta.get(key) {
                    meta.insert(key.into(), v.clone());
                }
            }
        }
    }
    if !p.params_has_controls {
        if let (Some(params), Some(c)) = (
            p.form.params.as_object_mut(),
            current.params.get("model_controls"),
        ) {
            params.insert("model_controls".into(), c.clone());
        }
    }
    check_background(
        &state,
        &caller,
        p.form
            .meta
            .get("background_image_url")
            .and_then(Value::as_str),
        current
            .meta
            .get("background_image_url")
            .and_then(Value::as_str),
    )
    .await?;
    check_controls(&state, &p).await?;
    if !p.has_active {
        p.form.is_active = None;
    }
    let (form, uid, now) = (p.form.clone(), caller.id().to_string(), now_secs());
    state
        .db
        .write(move |tx| rows::update(tx, &current, &form, &uid, now))
        .await?;
    Ok(Json(load_wire(&state, &p.form.id).await?))
}

async fn toggle(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<Value>> {
    let Some((m, g)) = load(&state, &q.id).await? else {
        return Err(ApiError::unauthorized(NOT_FOUND));
    };
    let groups = access::group_ids(&state, caller.id()).await?;
    if !caller.is_admin() && !access::owner_or_grant(&caller, &m.user_id, &g, &groups, "write") {
        return Err(unauthorized());
    }
    let (id, now) = (q.id.clone(), now_secs());
    state.db.write(move |tx| rows::toggle(tx, &id, now)).await?;
    Ok(Json(load_wire(&state, &q.id).await?))
}

#[derive(Deserialize)]
struct AccessForm {
    id: String,
    name: Option<String>,
    access_grants: Vec<Value>,
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    if !valid_id(&form.id) {
        return Err(validation("id", "String should match pattern '^\\S+$'"));
    }
    let existing = load(&state, &form.id).await?;
    let (row, grants) = match existing {
        Some(x) => x,
        None => {
            // A provider's model gets a minimal row so that it can be shared.
            if !caller.is_admin() {
                return Err(ApiError::forbidden(ACCESS_PROHIBITED));
            }
            let f = ModelForm {
                id: form.id.clone(),
                base_model_id: None,
                name: form.name.clone().unwrap_or_else(|| form.id.clone()),
                params: json!({}),
                meta: json!({}),
                is_active: Some(true),
                commit_message: None,
            };
            let (uid, now) = (caller.id().to_string(), now_secs());
            state
                .db
                .write(move |tx| rows::insert(tx, &f, &uid, &[], now))
                .await?;
            load(&state, &form.id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("model row vanished")))?
        }
    };
    let groups = access::group_ids(&state, caller.id()).await?;
    if !caller.is_admin()
        && !access::owner_or_grant(&caller, &row.user_id, &grants, &groups, "write")
    {
        return Err(ApiError::bad_request(ACCESS_PROHIBITED));
    }
    let requested = Value::Array(form.access_grants.clone());
    let allowed =
        access::validated_grants(&state, &caller, access::Kind::Model, &requested).await?;
    let (id, now) = (form.id.clone(), now_secs());
    state
        .db
        .write(move |tx| {
            access_grants::replace(tx, rows::RESOURCE, &id, &allowed, now)?;
            rows::touch(tx, &id, now)
        })
        .await?;
    Ok(Json(load_wire(&state, &form.id).await?))
}

#[derive(Deserialize)]
struct IdForm {
    id: String,
}

async fn delete_model(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<IdForm>,
) -> ApiResult<Json<bool>> {
    let Some((m, g)) = load(&state, &form.id).await? else {
        return Err(ApiError::unauthorized(NOT_FOUND));
    };
    let groups = access::group_ids(&state, caller.id()).await?;
    if !caller.is_admin() && !access::owner_or_grant(&caller, &m.user_id, &g, &groups, "write") {
        return Err(unauthorized());
    }
    let ids = vec![form.id];
    let n = state.db.write(move |tx| rows::delete(tx, &ids)).await?;
    Ok(Json(n > 0))
}

async fn delete_all(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<bool>> {
    state
        .db
        .write(|tx| {
            let ids = rows::all_ids(tx)?;
            rows::delete(tx, &ids)
        })
        .await?;
    Ok(Json(true))
}

// ------------------------------------------------------- export / import

/// Reads an uploaded image file for export as a data URI.
async fn background_data(state: &AppState, url: &str) -> ApiResult<String> {
    let file_id = url
        .trim_end_matches("/content")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let path: Option<Option<String>> = state
        .db
        .read(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row("SELECT path FROM file WHERE id = ?1", [&file_id], |r| {
                r.get(0)
            })
            .optional()
        })
        .await?;
    let path = path
        .flatten()
        .ok_or_else(|| ApiError::bad_request("The background image file is missing."))?;
    let data = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::bad_request("The background image file is missing."))?;
    if data.len() > 5 * 1024 * 1024 {
        return Err(ApiError::bad_request(
            "Background image must be at most 5 MiB.",
        ));
    }
    let mime = image_type(&data).ok_or_else(|| {
        ApiError::bad_request("The background image is not a PNG, JPEG, WebP or GIF.")
    })?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&data)
    ))
}

fn image_type(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

async fn export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    if !perms_allow(&state, &caller, "workspace.models_export").await? {
        return Err(unauthorized());
    }
    let ids: Option<Vec<String>> = {
        let v: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .map(|(_, v)| v.clone())
            .collect();
        (!v.is_empty()).then_some(v)
    };
    let bypass = access::admin_bypass(&caller);
    let groups = access::group_ids(&state, caller.id()).await?;
    let list = state.db.read(rows::all_with_grants).await?;
    let selected: Vec<(ModelRow, Vec<GrantRow>)> = list
        .into_iter()
        .filter(|(m, _)| m.base_model_id.is_some())
        .filter(|(m, _)| ids.as_ref().is_none_or(|ids| ids.contains(&m.id)))
        .filter(|(m, g)| bypass || access::owner_or_grant(&caller, &m.user_id, g, &groups, "write"))
        .collect();
    if let Some(ids) = &ids {
        let wanted: HashSet<&String> = ids.iter().collect();
        let got: HashSet<&String> = selected.iter().map(|(m, _)| &m.id).collect();
        if wanted != got {
            return Err(ApiError::forbidden(ACCESS_PROHIBITED));
        }
    }
    let mut out = Vec::with_capacity(selected.len());
    for (m, g) in selected {
        let mut v = rows::wire(&m, &g);
        if let Some(url) = v["meta"]["background_image_url"]
            .as_str()
            .map(str::to_string)
        {
            let data = background_data(&state, &url).await.map_err(|_| {
                ApiError::bad_request(format!("Could not export background for model {}.", m.id))
            })?;
            v["background_image_data"] = json!(data);
            v["meta"]["background_image_url"] = Value::Null;
        }
        out.push(v);
    }
    Ok(Json(Value::Array(out)))
}

#[derive(Deserialize)]
struct ImportForm {
    models: Vec<Value>,
}

async fn import(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<ImportForm>,
) -> ApiResult<Json<bool>> {
    if !perms_allow(&state, &caller, "workspace.models_import").await? {
        return Err(unauthorized());
    }
    let groups = access::group_ids(&state, caller.id()).await?;
    let mut known_bases: Option<HashSet<String>> = None;
    for mut data in form.models {
        let Some(id) = data.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        if !valid_id(&id) {
            continue;
        }
        if data.get("base_model_id").and_then(Value::as_str) == Some(id.as_str()) {
            data["base_model_id"] = Value::Null;
        }
        if data
            .get("background_image_data")
            .is_some_and(|b| !b.is_null())
        {
            // Storing uploads belongs to the files API; the image is left out.
            tracing::warn!(model = %id, "import: background image not imported");
        }
        if let Some(o) = data.as_object_mut() {
            o.remove("background_image_data");
        }
        match load(&state, &id).await? {
            Some((current, grants)) => {
                if !caller.is_admin()
                    && !access::owner_or_grant(&caller, &current.user_id, &grants, &groups, "write")
                {
                    return Err(id_taken());
                }
                let base_given = data
                    .get("base_model_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let base_key_present = data.get("base_model_id").is_some();
                if !caller.is_admin()
                    && current.base_model_id.is_some()
                    && base_key_present
                    && base_given.is_none()
                {
                    tracing::warn!(model = %id, "import: a user may not turn a preset into a base model");
                    continue;
                }
                let mut meta = rows::normalize_meta(&current.meta);
                if let (Some(m), Some(new)) = (
                    meta.as_object_mut(),
                    data.get("meta").and_then(Value::as_object),
                ) {
                    for (k, v) in new {
                        m.insert(k.clone(), v.clone());
                    }
                }
                let merged = json!({
                    "id": id,
                    "base_model_id": if base_key_present { base_given.map(Value::String).unwrap_or(Value::Null) } else { json!(current.base_model_id) },
                    "name": data.get("name").and_then(Value::as_str).unwrap_or(&current.name),
                    "meta": meta,
                    "params": data.get("params").filter(|p| p.is_object()).cloned().unwrap_or_else(|| json!({})),
                    "is_active": data.get("is_active").and_then(Value::as_bool).unwrap_or(current.is_active),
                });
                let p = parse_form(&merged)
                    .map_err(|_| ApiError::bad_request(format!("Invalid model {id}.")))?;
                check_background(
                    &state,
                    &caller,
                    p.form
                        .meta
                        .get("background_image_url")
                        .and_then(Value::as_str),
                    current
                        .meta
                        .get("background_image_url")
                        .and_then(Value::as_str),
                )
                .await?;
                let (f, uid, now) = (p.form, caller.id().to_string(), now_secs());
                state
                    .db
                    .write(move |tx| rows::update(tx, &current, &f, &uid, now))
                    .await?;
            }
            None => {
                if let Some(o) = data.as_object_mut() {
                    if !o.get("meta").is_some_and(Value::is_object) {
                        o.insert("meta".into(), json!({}));
                    }
                    if !o.get("params").is_some_and(Value::is_object) {
                        o.insert("params".into(), json!({}));
                    }
                }
                let p = parse_form(&data)
                    .map_err(|_| ApiError::bad_request(format!("Invalid model {id}.")))?;
                if !caller.is_admin() {
                    if p.form.base_model_id.is_none() {
                        continue;
                    }
                    if known_bases.is_none() {
                        known_bases = Some(base_ids(&state).await?);
                    }
                    if known_bases.as_ref().is_some_and(|b| b.contains(&id)) {
                        return Err(id_taken());
                    }
                }
                check_background(
                    &state,
                    &caller,
                    p.form
                        .meta
                        .get("background_image_url")
                        .and_then(Value::as_str),
                    None,
                )
                .await?;
                let grants = match &p.grants {
                    Some(g) => {
                        access::allowed_grants(&state, &caller, access::Kind::Model, g).await?
                    }
                    None => vec![],
                };
                let mut f = p.form;
                f.is_active = Some(f.is_active.unwrap_or(true));
                let (uid, now) = (caller.id().to_string(), now_secs());
                state
                    .db
                    .write(move |tx| rows::insert(tx, &f, &uid, &grants, now))
                    .await?;
            }
        }
    }
    Ok(Json(true))
}

#[derive(Deserialize)]
struct SyncForm {
    #[serde(default)]
    models: Vec<Value>,
}

/// Makes the table hold exactly the given models (admin tooling).
async fn sync(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    JsonBody(form): JsonBody<SyncForm>,
) -> ApiResult<Json<Value>> {
    let mut parsed = Vec::with_capacity(form.models.len());
    for m in &form.models {
        parsed.push(parse_form(m)?);
    }
    let uid = caller.id().to_string();
    let now = now_secs();
    let keep: Vec<String> = parsed.iter().map(|p| p.form.id.clone()).collect();
    let work: Vec<(ModelForm, bool, Vec<NewGrant>)> = parsed
        .into_iter()
        .map(|p| {
            let grants = p
                .grants
                .as_ref()
                .map(access_grants::normalize)
                .unwrap_or_default();
            (p.form, p.has_active, grants)
        })
        .collect();
    state
        .db
        .write(move |tx| {
            for (mut f, has_active, grants) in work {
                match rows::get(tx, &f.id)? {
                    Some(current) => {
                        if !has_active {
                            f.is_active = None;
                        }
                        rows::update(tx, &current, &f, &uid, now)?;
                    }
                    None => {
                        f.is_active = Some(f.is_active.unwrap_or(true));
                        rows::insert(tx, &f, &uid, &grants, now)?;
                    }
                }
            }
            let gone: Vec<String> = rows::all_ids(tx)?
                .into_iter()
                .filter(|id| !keep.contains(id))
                .collect();
            rows::delete(tx, &gone)
        })
        .await?;
    let list = state.db.read(rows::all_with_grants).await?;
    let ids: HashSet<String> = form
        .models
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    Ok(Json(Value::Array(
        list.iter()
            .filter(|(m, _)| ids.contains(&m.id))
            .map(|(m, g)| rows::wire(m, g))
            .collect(),
    )))
}

// --------------------------------------------------------------- history

/// History is for those who may edit the model.
async fn editable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ModelRow> {
    let Some((m, g)) = load(state, id).await? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let groups = access::group_ids(state, caller.id()).await?;
    if access::admin_bypass(caller)
        || access::owner_or_grant(caller, &m.user_id, &g, &groups, "write")
    {
        Ok(m)
    } else {
        Err(ApiError::forbidden(ACCESS_PROHIBITED))
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    id: String,
    page: Option<i64>,
}

async fn history(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    editable(&state, &caller, &q.id).await?;
    let page = crate::limits::page(q.page.unwrap_or(1));
    let id = q.id.clone();
    let list = state
        .db
        .read(move |c| rows::list_history(c, &id, page))
        .await?;
    Ok(Json(Value::Array(
        list.iter().map(|h| h.wire(false)).collect(),
    )))
}

async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(history_id): Path<String>,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<Value>> {
    editable(&state, &caller, &q.id).await?;
    let id = q.id.clone();
    let entry = state
        .db
        .read(move |c| rows::get_history(c, &id, &history_id))
        .await?;
    entry
        .map(|h| Json(h.wire(true)))
        .ok_or_else(|| ApiError::not_found("Model version not found"))
}

async fn delete_history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(history_id): Path<String>,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<bool>> {
    let current = editable(&state, &caller, &q.id).await?;
    if current.version_id.as_deref() == Some(history_id.as_str()) {
        return Err(ApiError::bad_request("Cannot delete the current version"));
    }
    let id = q.id.clone();
    let done = state
        .db
        .write(move |tx| rows::delete_history(tx, &id, &history_id))
        .await?;
    if done {
        Ok(Json(true))
    } else {
        Err(ApiError::not_found("Model version not found"))
    }
}

#[derive(Deserialize)]
struct VersionForm {
    version_id: String,
}

async fn set_version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
    JsonBody(form): JsonBody<VersionForm>,
) -> ApiResult<Json<Value>> {
    let current = editable(&state, &caller, &q.id).await?;
    let (id, vid) = (q.id.clone(), form.version_id.clone());
    let entry = state
        .db
        .read(move |c| rows::get_history(c, &id, &vid))
        .await?
        .ok_or_else(|| ApiError::not_found("Model version not found"))?;
    let snap_base = entry
        .snapshot
        .get("base_model_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if !caller.is_admin() && current.base_model_id.is_some() && snap_base.is_none() {
        return Err(ApiError::forbidden(ACCESS_PROHIBITED));
    }
    if let Some(base) = snap_base {
        let all = llm::all_models(&state, false).await?;
        if !all.iter().any(|m| m["id"] == base) {
            return Err(ApiError::bad_request("The base model is unavailable."));
        }
    }
    let now = now_secs();
    let vid = form.version_id.clone();
    let ok = state
        .db
        .write(move |tx| rows::set_version(tx, &current, &vid, now))
        .await?;
    if !ok {
        return Err(ApiError::not_found("Model version not found"));
    }
    Ok(Json(load_wire(&state, &q.id).await?))
}

// ---------------------------------------------------------- profile image

/// Upstream redirects with 302 Found.
fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn default_image() -> Response {
    found("/static/favicon.png")
}

/// Static paths are redirected to only when they stay under `/static/`.
fn safe_static(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or("").trim();
    if path.contains('%')
        || path.contains('\\')
        || path.contains('\0')
        || !path.starts_with("/static/")
    {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/').skip(1) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    (parts.first() == Some(&"static") && parts.len() > 1).then(|| format!("/{}", parts.join("/")))
}

async fn profile_image(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
) -> ApiResult<Response> {
    let mut url: Option<String> = None;
    let mut etag: Option<i64> = None;
    let bypass = llm::bypass_model_access() || access::admin_bypass(&caller);
    if let Some((m, g)) = load(&state, &q.id).await? {
        let groups = access::group_ids(&state, caller.id()).await?;
        // Denied callers get the default picture, so ids cannot be probed.
        if bypass
            || m.user_id == caller.id()
            || access_grants::grants_allow(&g, caller.id(), &groups, "read")
        {
            url = m
                .meta
                .get("profile_image_url")
                .and_then(Value::as_str)
                .map(str::to_string);
            etag = Some(m.updated_at);
        }
    }
    if url.as_deref().is_none_or(str::is_empty) {
        let arena = state.config.get("evaluation.arena.models");
        if let Some(a) = arena
            .as_array()
            .and_then(|l| l.iter().find(|m| m["id"] == q.id.as_str()))
        {
            url = a["meta"]["profile_image_url"].as_str().map(str::to_string);
        }
    }
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(default_image());
    };
    if crate::api::user_content::is_remote(&url) {
        if crate::api::user_content::forwarding_enabled() && crate::limits::valid_image_url(&url) {
            return Ok(found(&url));
        }
        return Ok(default_image());
    }
    if url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        let etag = etag.map(|t| format!("\"{t}\""));
        return Ok(crate::api::user_content::data_image(&url, etag).unwrap_or_else(default_image));
    }
    match safe_static(&url) {
        Some(p) => Ok(found(&p)),
        None => Ok(default_image()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_redirects_stay_in_static() {
        assert_eq!(
            safe_static("/static/favicon.png").as_deref(),
            Some("/static/favicon.png")
        );
        assert_eq!(safe_static("/static/../api/v1/x"), None);
        assert_eq!(safe_static("/static/%2e%2e/x"), None);
        assert_eq!(safe_static("/favicon.png"), None);
    }

    #[test]
    fn form_parsing() {
        let p = parse_form(
            &json!({"id": "a", "name": "A", "meta": {}, "params": {}, "base_model_id": "a"}),
        )
        .unwrap();
        assert_eq!(p.form.base_model_id, None);
        assert!(parse_form(&json!({"id": "a b", "name": "A", "meta": {}, "params": {}})).is_err());
        assert!(parse_form(&json!({"id": "a", "meta": {}, "params": {}})).is_err());
        assert!(parse_form(
            &json!({"id": "a", "name": "A", "meta": {"background_image_url": "/etc"}, "params": {}})
        )
        .is_err());
        assert!(valid_id("x"));
        assert!(!valid_id(&"x".repeat(257)));
    }
}
