//! Upstream's `tools` router (`/api/v1/tools/*`). Tools are Python modules;
//! this server stores, lists, shares, versions and exports them, but cannot
//! load or run Python, so everything that needs the module (specs, valve
//! schemas, valve validation, calling a tool) answers 501 with that reason.

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::{opt_str, req_str, validation};
use super::prompts::{grants_field, not_found, perms_allow_any, ID_TAKEN};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::db::now_secs;
use crate::db::prompts::user_briefs;
use crate::db::tools::{self as rows, ToolRow};
use crate::db::workspace_history::{self as history, HistoryRow, Kind};
use crate::error::messages::{ACCESS_PROHIBITED as PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

pub(crate) use crate::workspace::tools::python_unsupported;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tools/", get(list_tools))
        .route("/api/v1/tools/list", get(list_access))
        .route("/api/v1/tools/load/url", post(load_url))
        .route("/api/v1/tools/export", get(export))
        .route("/api/v1/tools/create", post(create))
        .route("/api/v1/tools/id/{id}", get(get_one))
        .route("/api/v1/tools/id/{id}/specs", get(specs))
        .route("/api/v1/tools/id/{id}/update", post(update))
        .route("/api/v1/tools/id/{id}/access/update", post(update_access))
        .route("/api/v1/tools/id/{id}/delete", delete(delete_one))
        .route("/api/v1/tools/id/{id}/valves", get(valves))
        .route("/api/v1/tools/id/{id}/valves/spec", get(valves_spec))
        .route("/api/v1/tools/id/{id}/valves/update", post(valves_update))
        .route("/api/v1/tools/id/{id}/valves/user", get(user_valves))
        .route(
            "/api/v1/tools/id/{id}/valves/user/spec",
            get(user_valves_spec),
        )
        .route(
            "/api/v1/tools/id/{id}/valves/user/update",
            post(user_valves_update),
        )
        .route("/api/v1/tools/id/{id}/history", get(history_list))
        .route("/api/v1/tools/id/{id}/history/diff", get(history_diff))
        .route(
            "/api/v1/tools/id/{id}/history/{history_id}",
            get(history_entry).delete(history_delete),
        )
        .route("/api/v1/tools/id/{id}/update/version", post(set_version))
}

/// Python's `str.isidentifier()`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// `meta` of a tool/function form: required object.
pub(crate) fn meta_field(body: &Value) -> ApiResult<Value> {
    match body.get("meta") {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        None | Some(Value::Null) => Err(validation("meta", "Field required")),
        Some(_) => Err(validation("meta", "Input should be a valid dictionary")),
    }
}

async fn visible(
    state: &AppState,
    caller: &Caller,
    perm: &'static str,
) -> ApiResult<(Vec<(ToolRow, Vec<GrantRow>)>, HashSet<String>)> {
    let all = state.db.read(rows::all_with_grants).await?;
    let groups = access::group_ids(state, caller.id()).await?;
    if access::admin_bypass(caller) {
        return Ok((all, groups));
    }
    let list = all
        .into_iter()
        .filter(|(t, g)| {
            access::owner_or_grant(caller, t.user_id.as_deref().unwrap_or(""), g, &groups, perm)
        })
        .collect();
    Ok((list, groups))
}

async fn users_of(
    state: &AppState,
    list: &[(ToolRow, Vec<GrantRow>)],
) -> ApiResult<std::collections::HashMap<String, Value>> {
    let ids: Vec<String> = list.iter().filter_map(|(t, _)| t.user_id.clone()).collect();
    Ok(state.db.read(move |c| user_briefs(c, &ids)).await?)
}

fn list_item(
    t: &ToolRow,
    g: &[GrantRow],
    users: &std::collections::HashMap<String, Value>,
) -> Value {
    let mut v = rows::wire_brief(t, g);
    v["specs"] = t.specs.clone();
    v["content"] = Value::Null;
    v["user"] = t
        .user_id
        .as_ref()
        .and_then(|u| users.get(u).cloned())
        .unwrap_or(Value::Null);
    v
}

#[derive(Deserialize)]
struct ListQuery {
    query: Option<String>,
}

async fn list_tools(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let (list, _) = visible(&state, &caller, "read").await?;
    let users = users_of(&state, &list).await?;
    let needle = q.query.map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    Ok(Json(
        list.iter()
            .filter(|(t, _)| {
                needle
                    .as_ref()
                    .is_none_or(|n| t.name.to_lowercase().contains(n))
            })
            .map(|(t, g)| {
                let mut v = list_item(t, g, &users);
                v["has_user_valves"] = t.meta["has_user_valves"].clone();
                v
            })
            .collect(),
    ))
}

async fn list_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let (list, groups) = visible(&state, &caller, "read").await?;
    let users = users_of(&state, &list).await?;
    let by = access::admin_bypass(&caller);
    Ok(Json(
        list.iter()
            .map(|(t, g)| {
                let mut v = list_item(t, g, &users);
                v["write_access"] = json!(
                    by || access::owner_or_grant(
                        &caller,
                        t.user_id.as_deref().unwrap_or(""),
                        g,
                        &groups,
                        "write"
                    )
                );
                v
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(crate) struct UrlForm {
    pub url: String,
}

/// GitHub page links point at the raw file (a folder link at its `main.py`).
fn github_raw(url: &str) -> String {
    let Some(rest) = url.strip_prefix("https://github.com/") else {
        return url.to_string();
    };
    let parts: Vec<&str> = rest.splitn(5, '/').collect();
    if parts.len() == 5 && (parts[2] == "tree" || parts[2] == "blob") && !parts[4].is_empty() {
        let (org, repo, branch, path) = (parts[0], parts[1], parts[3], parts[4]);
        let base = format!("https://raw.githubusercontent.com/{org}/{repo}/refs/heads/{branch}");
        if parts[2] == "tree" {
            return format!("{base}/{}/main.py", path.trim_end_matches('/'));
        }
        return format!("{base}/{path}");
    }
    url.to_string()
}

/// Fetches source text from a URL (admins only, as upstream): `{name, content}`.
pub(crate) async fn fetch_source(url: &str, what: &str) -> ApiResult<Value> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        return Err(validation("url", "Input should be a valid URL"));
    }
    let url = github_raw(url);
    let parts: Vec<&str> = url.trim_end_matches('/').split('/').collect();
    let file = parts.last().copied().unwrap_or("");
    let name = if file.ends_with(".py")
        && !["main.py", "index.py", "__init__.py"]
            .iter()
            .any(|p| file.starts_with(p))
    {
        file.trim_end_matches(".py").to_string()
    } else if parts.len() > 1 {
        parts[parts.len() - 2].to_string()
    } else {
        "function".to_string()
    };
    let resp = llm::client()
        .get(&url)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "fetching {what} source failed");
            ApiError::bad_request(format!("Error fetching {what}"))
        })?;
    if !resp.status().is_success() {
        let code = resp.status();
        return Err(ApiError::bad_request(format!(
            "Failed to fetch the {what} ({code})"
        )));
    }
    let text = resp.text().await.map_err(|e| {
        tracing::warn!(error = %e, "reading {what} source failed");
        ApiError::bad_request(format!("Error fetching {what}"))
    })?;
    if text.is_empty() {
        return Err(ApiError::bad_request("No data received from the URL"));
    }
    Ok(json!({"name": name, "content": text}))
}

async fn load_url(
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<UrlForm>,
) -> ApiResult<Json<Value>> {
    Ok(Json(fetch_source(&form.url, "tool").await?))
}

async fn export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    if !perms_allow_any(&state, &caller, &["workspace.tools_export"]).await? {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    let (list, _) = visible(&state, &caller, "write").await?;
    let users = users_of(&state, &list).await?;
    Ok(Json(
        list.iter()
            .map(|(t, g)| {
                let mut v = rows::wire(t, g);
                v["user"] = t
                    .user_id
                    .as_ref()
                    .and_then(|u| users.get(u).cloned())
                    .unwrap_or(Value::Null);
                v
            })
            .collect(),
    ))
}

async fn may_change_code(state: &AppState, caller: &Caller) -> ApiResult<bool> {
    perms_allow_any(
        state,
        caller,
        &["workspace.tools", "workspace.tools_import"],
    )
    .await
}

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = req_str(&body, "id")?.to_string();
    let name = req_str(&body, "name")?.to_string();
    let content = req_str(&body, "content")?.to_string();
    let meta = meta_field(&body)?;
    let message = opt_str(&body, "commit_message")?;
    if !may_change_code(&state, &caller).await? {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    if !is_identifier(&id) {
        return Err(ApiError::bad_request(
            "Only alphanumeric characters and underscores are allowed in the id",
        ));
    }
    let id = id.to_lowercase();
    let grants =
        access::allowed_grants(&state, &caller, access::Kind::Tool, &grants_field(&body)?).await?;
    let uid = caller.id().to_string();
    let now = now_secs();
    let created = state
        .db
        .write(move |c| {
            if rows::get(c, &id)?.is_some() {
                return Ok(None);
            }
            let t = rows::insert(
                c,
                &uid,
                &id,
                &name,
                &content,
                &meta,
                message.as_deref(),
                &grants,
                now,
            )?;
            let g = access_grants::by_resource(c, rows::RESOURCE, &t.id)?;
            Ok(Some(rows::wire_brief(&t, &g)))
        })
        .await?;
    created
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(ID_TAKEN))
}

async fn load(state: &AppState, id: &str) -> ApiResult<Option<(ToolRow, Vec<GrantRow>)>> {
    let id = id.to_string();
    Ok(state
        .db
        .read(move |c| rows::get_with_grants(c, &id))
        .await?)
}

/// Owner, write grant or admin; `missing` and `denied` are upstream's
/// (varying) answers for this endpoint.
async fn writable(
    state: &AppState,
    caller: &Caller,
    id: &str,
    missing: ApiError,
    denied: ApiError,
) -> ApiResult<(ToolRow, Vec<GrantRow>)> {
    let Some((t, g)) = load(state, id).await? else {
        return Err(missing);
    };
    if !caller.is_admin() {
        let groups = access::group_ids(state, caller.id()).await?;
        if !access::owner_or_grant(
            caller,
            t.user_id.as_deref().unwrap_or(""),
            &g,
            &groups,
            "write",
        ) {
            return Err(denied);
        }
    }
    Ok((t, g))
}

async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (t, g) = load(&state, &id).await?.ok_or_else(not_found)?;
    let groups = access::group_ids(&state, caller.id()).await?;
    let owner = t.user_id.as_deref().unwrap_or("");
    if !(caller.is_admin() || access::owner_or_grant(&caller, owner, &g, &groups, "read")) {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    let write = access::admin_bypass(&caller)
        || access::owner_or_grant(&caller, owner, &g, &groups, "write");
    let ids: Vec<String> = t.user_id.iter().cloned().collect();
    let users = state.db.read(move |c| user_briefs(c, &ids)).await?;
    let mut v = rows::wire(&t, &g);
    if !write {
        if let Some(o) = v.as_object_mut() {
            o.remove("content");
        }
    }
    v["user"] = t
        .user_id
        .as_ref()
        .and_then(|u| users.get(u).cloned())
        .unwrap_or(Value::Null);
    v["write_access"] = json!(write);
    Ok(Json(v))
}

async fn specs(VerifiedUser(_c): VerifiedUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if id.starts_with("server:mcp:") {
        return Err(ApiError::NotImplemented(
            "MCP tool servers are not supported by this server".into(),
        ));
    }
    Err(ApiError::not_found("Tool not found"))
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let name = req_str(&body, "name")?.to_string();
    let content = req_str(&body, "content")?.to_string();
    let meta = meta_field(&body)?;
    let message = opt_str(&body, "commit_message")?;
    req_str(&body, "id")?;
    save(&state, &caller, &id, name, content, meta, message, None).await
}

#[allow(clippy::too_many_arguments)]
async fn save(
    state: &AppState,
    caller: &Caller,
    id: &str,
    name: String,
    content: String,
    meta: Value,
    message: Option<String>,
    version_id: Option<String>,
) -> ApiResult<Json<Value>> {
    let (t, _) = writable(
        state,
        caller,
        id,
        ApiError::unauthorized(NOT_FOUND),
        ApiError::unauthorized(UNAUTHORIZED),
    )
    .await?;
    if content != t.content && !may_change_code(state, caller).await? {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    // Derived keys come from loading the module, which never happens here.
    let mut meta = meta;
    if let Some(m) = meta.as_object_mut() {
        m.insert("manifest".into(), t.meta["manifest"].clone());
        m.insert("has_user_valves".into(), t.meta["has_user_valves"].clone());
    }
    let uid = caller.id().to_string();
    let id = id.to_string();
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(t) = rows::update(
                c,
                &id,
                &name,
                &content,
                &meta,
                message.as_deref(),
                &uid,
                version_id.as_deref(),
                now,
            )?
            else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &t.id)?;
            Ok(Some(rows::wire(&t, &g)))
        })
        .await?;
    v.map(Json).ok_or_else(not_found)
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let requested = crate::api::prompts::required_grants_field(&body)?;
    writable(
        &state,
        &caller,
        &id,
        not_found(),
        ApiError::unauthorized(UNAUTHORIZED),
    )
    .await?;
    let grants = access::validated_grants(&state, &caller, access::Kind::Tool, &requested).await?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            access_grants::replace(c, rows::RESOURCE, &id, &grants, now)?;
            Ok(rows::get_with_grants(c, &id)?.map(|(t, g)| rows::wire(&t, &g)))
        })
        .await?;
    Ok(Json(v.unwrap_or(Value::Null)))
}

async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    writable(
        &state,
        &caller,
        &id,
        ApiError::unauthorized(NOT_FOUND),
        ApiError::unauthorized(UNAUTHORIZED),
    )
    .await?;
    Ok(Json(state.db.write(move |c| rows::delete(c, &id)).await?))
}

async fn valves(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (t, _) = writable(
        &state,
        &caller,
        &id,
        not_found(),
        ApiError::unauthorized(PROHIBITED),
    )
    .await?;
    Ok(Json(rows::valves_dict(&t.valves)))
}

async fn user_valves(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (t, g) = load(&state, &id).await?.ok_or_else(not_found)?;
    let groups = access::group_ids(&state, caller.id()).await?;
    if !(caller.is_admin()
        || access::owner_or_grant(
            &caller,
            t.user_id.as_deref().unwrap_or(""),
            &g,
            &groups,
            "read",
        ))
    {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    let uid = caller.id().to_string();
    Ok(Json(
        state
            .db
            .read(move |c| rows::user_valves(c, &uid, "tools", &id))
            .await?,
    ))
}

/// Valve schemas and valve validation come from the Python module: after
/// the same existence and access checks as upstream, a 501.
async fn valves_spec(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    writable(
        &state,
        &caller,
        &id,
        not_found(),
        ApiError::unauthorized(PROHIBITED),
    )
    .await?;
    Err(python_unsupported())
}

async fn valves_update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(_b): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    writable(
        &state,
        &caller,
        &id,
        ApiError::unauthorized(NOT_FOUND),
        ApiError::bad_request(PROHIBITED),
    )
    .await?;
    Err(python_unsupported())
}

async fn readable_tool(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let (t, g) = load(state, id).await?.ok_or_else(not_found)?;
    let groups = access::group_ids(state, caller.id()).await?;
    if !(caller.is_admin()
        || access::owner_or_grant(
            caller,
            t.user_id.as_deref().unwrap_or(""),
            &g,
            &groups,
            "read",
        ))
    {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    Ok(())
}

async fn user_valves_spec(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    readable_tool(&state, &caller, &id).await?;
    Err(python_unsupported())
}

async fn user_valves_update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(_b): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    readable_tool(&state, &caller, &id).await?;
    Err(python_unsupported())
}

// ------------------------------------------------------------------ history

/// A history entry as the tool, function and skill routers return it.
pub(crate) fn history_wire(kind: Kind, h: &HistoryRow, with_snapshot: bool) -> Value {
    let mut v = json!({
        "id": h.id,
        kind.fk(): h.resource_id,
        "parent_id": h.parent_id,
        "user_id": h.user_id,
        "commit_message": h.commit_message,
        "created_at": h.created_at,
        "user": h.author_name.as_ref().map(|n| json!({"name": n})),
    });
    if with_snapshot {
        v["snapshot"] = h.snapshot.clone();
    }
    v
}

/// The diff of two tool or function versions (`content_diff` is one string).
pub(crate) fn code_diff(before: &HistoryRow, after: &HistoryRow) -> Value {
    let (l, r) = (&before.snapshot, &after.snapshot);
    let mut metadata = serde_json::Map::new();
    for key in ["name", "meta"] {
        if l.get(key) != r.get(key) {
            metadata.insert(
                key.into(),
                json!({"before": l.get(key), "after": r.get(key)}),
            );
        }
    }
    let old = l.get("content").and_then(Value::as_str).unwrap_or("");
    let new = r.get("content").and_then(Value::as_str).unwrap_or("");
    let patch = history::unified_diff(old, new, "selected.py", "production.py").join("\n");
    json!({
        "from_id": before.id,
        "to_id": after.id,
        "metadata": metadata,
        "content_diff": patch,
        "line_endings_only": old != new && patch.is_empty(),
    })
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    pub page: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct DiffQuery {
    pub from_id: String,
    pub to_id: String,
}

pub(crate) async fn history_page(
    state: &AppState,
    kind: Kind,
    id: &str,
    page: Option<i64>,
) -> ApiResult<Vec<Value>> {
    let offset = (page.unwrap_or(1).max(1) - 1) * 20;
    let id = id.to_string();
    let list = state
        .db
        .read(move |c| history::list(c, kind, &id, offset, 20))
        .await?;
    Ok(list.iter().map(|h| history_wire(kind, h, false)).collect())
}

pub(crate) async fn history_get(
    state: &AppState,
    kind: Kind,
    id: &str,
    history_id: &str,
) -> ApiResult<HistoryRow> {
    let (id, hid) = (id.to_string(), history_id.to_string());
    state
        .db
        .read(move |c| history::get(c, kind, &id, &hid))
        .await?
        .ok_or_else(|| ApiError::not_found("Version not found"))
}

/// Deletes an entry unless it is the live version.
pub(crate) async fn history_remove(
    state: &AppState,
    kind: Kind,
    id: &str,
    live: Option<&str>,
    history_id: &str,
) -> ApiResult<Json<bool>> {
    if live == Some(history_id) {
        return Err(ApiError::bad_request("Cannot delete the current version"));
    }
    let (id, hid) = (id.to_string(), history_id.to_string());
    let ok = state
        .db
        .write(move |c| history::delete(c, kind, &id, &hid))
        .await?;
    if !ok {
        return Err(ApiError::not_found("Version not found"));
    }
    Ok(Json(true))
}

/// History access: bypassing admin, owner or write grant.
async fn history_access(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ToolRow> {
    let (t, g) = load(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Not found"))?;
    if access::admin_bypass(caller) {
        return Ok(t);
    }
    let groups = access::group_ids(state, caller.id()).await?;
    if !access::owner_or_grant(
        caller,
        t.user_id.as_deref().unwrap_or(""),
        &g,
        &groups,
        "write",
    ) {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    Ok(t)
}

async fn history_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    history_access(&state, &caller, &id).await?;
    Ok(Json(history_page(&state, Kind::Tool, &id, q.page).await?))
}

async fn history_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    history_access(&state, &caller, &id).await?;
    let a = history_get(&state, Kind::Tool, &id, &q.from_id).await?;
    let b = history_get(&state, Kind::Tool, &id, &q.to_id).await?;
    Ok(Json(code_diff(&a, &b)))
}

async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    history_access(&state, &caller, &id).await?;
    let h = history_get(&state, Kind::Tool, &id, &history_id).await?;
    Ok(Json(history_wire(Kind::Tool, &h, true)))
}

async fn history_delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    let t = history_access(&state, &caller, &id).await?;
    history_remove(
        &state,
        Kind::Tool,
        &id,
        t.version_id.as_deref(),
        &history_id,
    )
    .await
}

async fn set_version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let version = req_str(&body, "version_id")?.to_string();
    history_access(&state, &caller, &id).await?;
    let h = history_get(&state, Kind::Tool, &id, &version).await?;
    let (name, content, meta) = (
        h.snapshot_text("name"),
        h.snapshot_text("content"),
        h.snapshot_meta(),
    );
    save(
        &state,
        &caller,
        &id,
        name,
        content,
        meta,
        None,
        Some(h.id.clone()),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::tools::reject_python_tools;

    #[test]
    fn identifiers_and_tool_requests() {
        assert!(is_identifier("clock_tool") && is_identifier("_x1") && is_identifier("été"));
        assert!(!is_identifier("1x") && !is_identifier("a-b") && !is_identifier(""));
        assert!(reject_python_tools(&json!({"tool_ids": ["server:mcp:x"]})).is_ok());
        assert!(reject_python_tools(&json!({})).is_ok());
        assert!(matches!(
            reject_python_tools(&json!({"tool_ids": ["clock"]})),
            Err(ApiError::NotImplemented(_))
        ));
        assert_eq!(
            github_raw("https://github.com/o/r/blob/main/tools/x.py"),
            "https://raw.githubusercontent.com/o/r/refs/heads/main/tools/x.py"
        );
        assert_eq!(
            github_raw("https://github.com/o/r/tree/dev/pkg/"),
            "https://raw.githubusercontent.com/o/r/refs/heads/dev/pkg/main.py"
        );
    }
}
