//! Upstream's `prompts` router (`/api/v1/prompts/*`): slash-command prompts
//! with version history and sharing through access grants. Also the sharing
//! and permission helpers the other workspace routers (tools, skills) use.

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::form::{no_null_items, opt_str, req_str, validation, SearchQuery};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::workspace_common::{
    history_get, history_remove, history_rows, replace_grants, DiffQuery, PageQuery, HISTORY_PAGE,
};
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::db::now_secs;
use crate::db::prompts::{self as rows, PromptForm, PromptRow};
use crate::db::workspace_history::{self as history, Kind};
use crate::error::messages::{ACCESS_PROHIBITED as PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const PAGE_SIZE: usize = 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/prompts/", get(list_all))
        .route("/api/v1/prompts/tags", get(tags))
        .route("/api/v1/prompts/list", get(search))
        .route("/api/v1/prompts/create", post(create))
        .route("/api/v1/prompts/id/{id}", get(get_one))
        .route("/api/v1/prompts/id/{id}/update", post(update))
        .route("/api/v1/prompts/id/{id}/update/meta", post(update_meta))
        .route("/api/v1/prompts/id/{id}/update/version", post(set_version))
        .route("/api/v1/prompts/id/{id}/access/update", post(update_access))
        .route("/api/v1/prompts/id/{id}/toggle", post(toggle))
        .route("/api/v1/prompts/id/{id}/delete", delete(delete_one))
        .route("/api/v1/prompts/id/{id}/history", get(history_list))
        .route("/api/v1/prompts/id/{id}/history/diff", get(history_diff))
        .route(
            "/api/v1/prompts/id/{id}/history/{history_id}",
            get(history_entry).delete(history_delete),
        )
}

// ------------------------------------------------- shared workspace helpers

pub(crate) const ID_TAKEN: &str =
    "Uh-oh! This id is already registered. Please choose another id string.";
const COMMAND_TAKEN: &str =
    "Uh-oh! This command is already registered. Please choose another command string.";

pub(crate) fn not_found() -> ApiError {
    ApiError::not_found(NOT_FOUND)
}

/// Whether the caller's workspace permissions include any of `keys` (admins
/// always pass).
pub(crate) async fn perms_allow_any(
    state: &AppState,
    caller: &Caller,
    keys: &[&str],
) -> ApiResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let perms = permissions::effective(state, caller.id()).await?;
    Ok(keys.iter().any(|k| permissions::allows(&perms, k)))
}

/// The `access_grants` list of a form: absent and null mean none.
pub(crate) fn grants_field(body: &Value) -> ApiResult<Value> {
    match body.get("access_grants") {
        None | Some(Value::Null) => Ok(Value::Array(vec![])),
        Some(v @ Value::Array(_)) => {
            no_null_items(&["body", "access_grants"], v, "dictionary")?;
            Ok(v.clone())
        }
        Some(_) => Err(validation("access_grants", "Input should be a valid list")),
    }
}

/// The `access_grants` list of an access update, where it is required.
pub(crate) fn required_grants_field(body: &Value) -> ApiResult<Value> {
    match body.get("access_grants") {
        None | Some(Value::Null) => Err(validation("access_grants", "Field required")),
        _ => grants_field(body),
    }
}

fn opt_object(body: &Value, field: &str) -> ApiResult<Option<Value>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(validation(field, "Input should be a valid dictionary")),
    }
}

fn opt_tags(body: &Value) -> ApiResult<Option<Vec<String>>> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Array(a)) => {
            no_null_items(&["body", "tags"], v, "string")?;
            a.iter()
                .map(|t| {
                    let t = t
                        .as_str()
                        .ok_or_else(|| validation("tags", "Input should be a valid string"))?;
                    crate::limits::check_name("tags", t)?;
                    Ok(t.to_string())
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some)
        }
        Some(_) => Err(validation("tags", "Input should be a valid list")),
    }
}

// ------------------------------------------------------------------ prompts

fn parse_form(body: &Value) -> ApiResult<PromptForm> {
    if !body.is_object() {
        return Err(validation("", "Input should be a valid dictionary"));
    }
    let is_production = match body.get("is_production") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(validation(
                "is_production",
                "Input should be a valid boolean",
            ))
        }
    };
    let (command, name) = (req_str(body, "command")?, req_str(body, "name")?);
    crate::limits::check_name("command", command)?;
    crate::limits::check_name("name", name)?;
    Ok(PromptForm {
        command: command.to_string(),
        name: name.to_string(),
        content: req_str(body, "content")?.to_string(),
        data: opt_object(body, "data")?,
        meta: opt_object(body, "meta")?,
        tags: opt_tags(body)?,
        commit_message: opt_str(body, "commit_message")?,
        is_production,
    })
}

/// Prompts the caller may read (active ones only, as upstream lists them),
/// each with its owner.
async fn readable(state: &AppState, caller: &Caller) -> ApiResult<Vec<(PromptRow, Vec<GrantRow>)>> {
    let all = state.db.read(rows::all_with_grants).await?;
    let (list, _) = access::visible(state, caller, all, "read", |p| &p.user_id).await?;
    Ok(list)
}

async fn with_users(
    state: &AppState,
    list: Vec<(PromptRow, Vec<GrantRow>)>,
) -> ApiResult<Vec<Value>> {
    let ids: Vec<String> = list.iter().map(|(p, _)| p.user_id.clone()).collect();
    let users = state.db.read(move |c| rows::user_briefs(c, &ids)).await?;
    Ok(list
        .iter()
        .map(|(p, g)| {
            let mut v = rows::wire(p, g);
            v["user"] = users.get(&p.user_id).cloned().unwrap_or(Value::Null);
            v
        })
        .collect())
}

async fn list_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let list: Vec<_> = readable(&state, &caller)
        .await?
        .into_iter()
        .filter(|(p, _)| p.is_active)
        .collect();
    Ok(Json(with_users(&state, list).await?))
}

async fn tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<String>>> {
    let mut set: Vec<String> = readable(&state, &caller)
        .await?
        .into_iter()
        .filter(|(p, _)| p.is_active)
        .flat_map(|(p, _)| p.tags)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    set.retain(|t| !t.is_empty());
    Ok(Json(set))
}

async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let all = readable(&state, &caller).await?;
    let ids: Vec<String> = all.iter().map(|(p, _)| p.user_id.clone()).collect();
    let users = state.db.read(move |c| rows::user_briefs(c, &ids)).await?;
    let needle = q
        .query
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let tag = q
        .tag
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let mut items: Vec<(PromptRow, Vec<GrantRow>)> = all
        .into_iter()
        .filter(|(p, _)| {
            let user = users.get(&p.user_id);
            let field = |k: &str| {
                user.and_then(|u| u.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_lowercase()
            };
            let text_ok = needle.as_ref().is_none_or(|n| {
                p.name.to_lowercase().contains(n)
                    || p.command.to_lowercase().contains(n)
                    || p.content.to_lowercase().contains(n)
                    || field("name").contains(n)
                    || field("email").contains(n)
            });
            let view_ok = match q.view_option.as_deref() {
                Some("created") => p.user_id == caller.id(),
                Some("shared") => p.user_id != caller.id(),
                _ => true,
            };
            let tag_ok = tag
                .as_ref()
                .is_none_or(|t| p.tags.iter().any(|x| x.to_lowercase() == *t));
            text_ok && view_ok && tag_ok
        })
        .collect();
    let asc = q.direction.as_deref() == Some("asc");
    match q.order_by.as_deref() {
        Some("name") => items.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
        Some("created_at") => items.sort_by_key(|a| a.0.created_at),
        _ => {
            items.sort_by_key(|a| a.0.updated_at);
        }
    }
    let explicit = matches!(
        q.order_by.as_deref(),
        Some("name") | Some("created_at") | Some("updated_at")
    );
    if !(explicit && asc) {
        items.reverse();
    }
    let total = items.len();
    let page = crate::limits::page(q.page.unwrap_or(1)) as usize;
    let groups = access::group_ids(&state, caller.id()).await?;
    let by = access::admin_bypass(&caller);
    let out: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(p, g)| {
            let write = by
                || p.user_id == caller.id()
                || access_grants::grants_allow(&g, caller.id(), &groups, "write");
            let mut v = rows::wire(&p, &g);
            v["user"] = users.get(&p.user_id).cloned().unwrap_or(Value::Null);
            v["write_access"] = json!(write);
            v
        })
        .collect();
    Ok(Json(json!({"items": out, "total": total})))
}

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let form = parse_form(&body)?;
    if !perms_allow_any(
        &state,
        &caller,
        &["workspace.prompts", "workspace.prompts_import"],
    )
    .await?
    {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    let grants =
        access::allowed_grants(&state, &caller, access::Kind::Prompt, &grants_field(&body)?)
            .await?;
    let uid = caller.id().to_string();
    let now = now_secs();
    let created = state
        .db
        .write(move |c| {
            if rows::get_by_command(c, &form.command)?.is_some() {
                return Ok(None);
            }
            let p = rows::insert(c, &uid, &form, &grants, now)?;
            let g = access_grants::by_resource(c, rows::RESOURCE, &p.id)?;
            Ok(Some(rows::wire(&p, &g)))
        })
        .await?;
    created
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(COMMAND_TAKEN))
}

async fn load(state: &AppState, id: &str) -> ApiResult<(PromptRow, Vec<GrantRow>)> {
    let id = id.to_string();
    state
        .db
        .read(move |c| rows::get_with_grants(c, &id))
        .await?
        .ok_or_else(not_found)
}

/// Loads a prompt the caller may change (owner, write grant or admin).
async fn load_writable(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(PromptRow, Vec<GrantRow>)> {
    let refuse = access::Refusals {
        missing: not_found(),
        denied: ApiError::unauthorized(PROHIBITED),
    };
    let (admin, get) = (caller.is_admin(), rows::get_with_grants);
    access::load_allowed(state, caller, get, id, admin, "write", refuse).await
}

async fn load_readable(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(PromptRow, Vec<GrantRow>, bool)> {
    let (p, g) = load(state, id).await?;
    let groups = access::group_ids(state, caller.id()).await?;
    let rights = access::rights(caller, &p.user_id, &g, &groups);
    if !rights.read {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    Ok((p, g, rights.write))
}

async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (p, g, write) = load_readable(&state, &caller, &id)
        .await
        // Upstream answers 404 for prompts the caller may not read.
        .map_err(|e| match e {
            ApiError::Unauthorized(_) => not_found(),
            other => other,
        })?;
    let uid = vec![p.user_id.clone()];
    let users = state.db.read(move |c| rows::user_briefs(c, &uid)).await?;
    let mut v = rows::wire(&p, &g);
    v["user"] = users.get(&p.user_id).cloned().unwrap_or(Value::Null);
    v["write_access"] = json!(write);
    Ok(Json(v))
}

async fn command_free(state: &AppState, command: &str, own_id: &str) -> ApiResult<()> {
    let cmd = command.to_string();
    let other = state
        .db
        .read(move |c| rows::get_by_command(c, &cmd))
        .await?;
    match other {
        Some(o) if o.id != own_id => Err(ApiError::bad_request(COMMAND_TAKEN)),
        _ => Ok(()),
    }
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let form = parse_form(&body)?;
    let (p, _) = load_writable(&state, &caller, &id).await?;
    if form.command != p.command {
        command_free(&state, &form.command, &p.id).await?;
    }
    let uid = caller.id().to_string();
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(p) = rows::update(c, &id, &form, &uid, now)? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &p.id)?;
            Ok(Some(rows::wire(&p, &g)))
        })
        .await?;
    v.map(Json).ok_or_else(not_found)
}

async fn update_meta(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let name = req_str(&body, "name")?.to_string();
    let command = req_str(&body, "command")?.to_string();
    crate::limits::check_name("command", &command)?;
    crate::limits::check_name("name", &name)?;
    let tags = opt_tags(&body)?;
    let (p, _) = load_writable(&state, &caller, &id).await?;
    if command != p.command {
        command_free(&state, &command, &p.id).await?;
    }
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(p) = rows::update_meta(c, &id, &name, &command, tags.as_deref(), now)? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &p.id)?;
            Ok(Some(rows::wire(&p, &g)))
        })
        .await?;
    v.map(Json).ok_or_else(not_found)
}

async fn set_version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let version = req_str(&body, "version_id")?.to_string();
    load_writable(&state, &caller, &id).await?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(p) = rows::set_version(c, &id, &version, now)? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &p.id)?;
            Ok(Some(rows::wire(&p, &g)))
        })
        .await?;
    v.map(Json)
        .ok_or_else(|| ApiError::bad_request("Something went wrong :/ Version not found"))
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let requested = required_grants_field(&body)?;
    load_writable(&state, &caller, &id).await?;
    let kind = access::Kind::Prompt;
    replace_grants(
        &state,
        &caller,
        kind,
        rows::RESOURCE,
        id,
        &requested,
        |c, id| Ok(rows::get_with_grants(c, id)?.map(|(p, g)| rows::wire(&p, &g))),
    )
    .await
}

async fn toggle(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    load_writable(&state, &caller, &id).await?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let Some(p) = rows::toggle(c, &id, now)? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &p.id)?;
            Ok(Some(rows::wire(&p, &g)))
        })
        .await?;
    v.map(Json).ok_or_else(not_found)
}

async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    load_writable(&state, &caller, &id).await?;
    let ok = state.db.write(move |c| rows::delete(c, &id)).await?;
    Ok(Json(ok))
}

// ------------------------------------------------------------------ history

fn history_wire(h: &history::HistoryRow) -> Value {
    let user = h.author_name.as_ref().map(|name| {
        json!({
            "id": h.user_id,
            "name": name,
            "role": h.author_role.clone().unwrap_or_default(),
            "email": h.author_email.clone().unwrap_or_default(),
        })
    });
    json!({
        "id": h.id,
        "prompt_id": h.resource_id,
        "parent_id": h.parent_id,
        "snapshot": h.snapshot,
        "user_id": h.user_id,
        "commit_message": h.commit_message,
        "created_at": h.created_at,
        "user": user,
    })
}

async fn history_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let (p, _, _) = load_readable(&state, &caller, &id).await?;
    // Upstream counts prompt history pages from 0.
    let offset = q.page.unwrap_or(0).clamp(0, crate::limits::MAX_PAGE) * HISTORY_PAGE;
    let list = history_rows(&state, Kind::Prompt, &p.id, offset).await?;
    Ok(Json(list.iter().map(history_wire).collect()))
}

async fn history_diff(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let (p, _, _) = load_readable(&state, &caller, &id).await?;
    let a = history_get(&state, Kind::Prompt, &p.id, &q.from_id).await?;
    let b = history_get(&state, Kind::Prompt, &p.id, &q.to_id).await?;
    let text = |h: &history::HistoryRow| {
        h.snapshot
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (ta, tb) = (text(&a), text(&b));
    let short = |s: &str| s.chars().take(8).collect::<String>();
    let lines = history::unified_diff(
        &ta,
        &tb,
        &format!("v{}", short(&q.from_id)),
        &format!("v{}", short(&q.to_id)),
    );
    Ok(Json(json!({
        "from_id": q.from_id,
        "to_id": q.to_id,
        "from_snapshot": a.snapshot,
        "to_snapshot": b.snapshot,
        "content_diff": lines,
        "line_endings_only": lines.is_empty() && ta != tb,
        "name_changed": a.snapshot.get("name") != b.snapshot.get("name"),
    })))
}

async fn history_entry(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (p, _, _) = load_readable(&state, &caller, &id).await?;
    let entry = history_get(&state, Kind::Prompt, &p.id, &history_id).await?;
    let mut v = history_wire(&entry);
    if let Some(o) = v.as_object_mut() {
        o.remove("user");
    }
    Ok(Json(v))
}

async fn history_delete(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    let (p, _) = load_writable(&state, &caller, &id).await?;
    let live = p.version_id.as_deref();
    history_remove(&state, Kind::Prompt, &p.id, live, &history_id).await
}
