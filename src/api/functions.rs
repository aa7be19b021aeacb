//! Upstream's `functions` router (`/api/v1/functions/*`): admin plugins
//! (pipes, filters, actions) written in Python. This server stores, lists,
//! versions and exports them; enabling one, reading valve schemas or
//! validating valves needs the Python module, so those answer 501.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::form::req_str;
use super::prompts::{not_found, ID_TAKEN};
use super::tools::shared::{fetch_source, new_code_id, CodeForm, UrlForm};
use super::workspace_common::{
    code_history_diff, code_history_entry, history_get, history_page, history_remove, DiffQuery,
    PageQuery,
};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::functions::{self as rows, FunctionRow};
use crate::db::now_secs;
use crate::db::prompts::user_briefs;
use crate::db::tools::{user_valves as stored_user_valves, valves_dict};
use crate::db::workspace_history::Kind;
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workspace::tools::python_unsupported;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/functions/", get(list_functions))
        .route("/api/v1/functions/list", get(list_with_users))
        .route("/api/v1/functions/export", get(export))
        .route("/api/v1/functions/load/url", post(load_url))
        .route("/api/v1/functions/sync", post(sync))
        .route("/api/v1/functions/create", post(create))
        .route("/api/v1/functions/id/{id}", get(get_one))
        .route("/api/v1/functions/id/{id}/toggle", post(toggle))
        .route(
            "/api/v1/functions/id/{id}/toggle/global",
            post(toggle_global),
        )
        .route("/api/v1/functions/id/{id}/update", post(update))
        .route("/api/v1/functions/id/{id}/delete", delete(delete_one))
        .route("/api/v1/functions/id/{id}/valves", get(valves))
        .route(
            "/api/v1/functions/id/{id}/valves/spec",
            get(valves_spec::<AdminUser>),
        )
        .route(
            "/api/v1/functions/id/{id}/valves/update",
            post(valves_update::<AdminUser>),
        )
        .route("/api/v1/functions/id/{id}/valves/user", get(user_valves))
        .route(
            "/api/v1/functions/id/{id}/valves/user/spec",
            get(valves_spec::<VerifiedUser>),
        )
        .route(
            "/api/v1/functions/id/{id}/valves/user/update",
            post(valves_update::<VerifiedUser>),
        )
        .route("/api/v1/functions/id/{id}/history", get(history_list))
        .route("/api/v1/functions/id/{id}/history/diff", get(history_diff))
        .route(
            "/api/v1/functions/id/{id}/history/{history_id}",
            get(history_entry).delete(history_delete),
        )
        .route(
            "/api/v1/functions/id/{id}/update/version",
            post(set_version),
        )
}

/// The function type, read from the source text: the module's top-level
/// `Pipe`, `Filter` or `Action` class (upstream checks them in that order).
pub fn function_kind(content: &str) -> Option<&'static str> {
    let declares = |class: &str| {
        content.lines().any(|l| {
            l.strip_prefix("class ")
                .and_then(|rest| rest.strip_prefix(class))
                .is_some_and(|after| {
                    after.trim_start().starts_with(':') || after.trim_start().starts_with('(')
                })
        })
    };
    [("Pipe", "pipe"), ("Filter", "filter"), ("Action", "action")]
        .into_iter()
        .find(|(class, _)| declares(class))
        .map(|(_, kind)| kind)
}

fn kind_of(content: &str) -> ApiResult<&'static str> {
    function_kind(content).ok_or_else(|| {
        ApiError::bad_request(
            "No Pipe, Filter or Action class found in the function code (a function module must define one)",
        )
    })
}

async fn list_functions(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let list = state.db.read(rows::all).await?;
    Ok(Json(
        list.iter().map(|f| rows::wire(f, false, false)).collect(),
    ))
}

async fn list_with_users(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Vec<Value>>> {
    let list = state.db.read(rows::all).await?;
    let ids: Vec<String> = list.iter().filter_map(|f| f.user_id.clone()).collect();
    let users = state.db.read(move |c| user_briefs(c, &ids)).await?;
    Ok(Json(
        list.iter()
            .map(|f| {
                let mut v = rows::wire(f, false, false);
                v["user"] = f
                    .user_id
                    .as_ref()
                    .and_then(|u| users.get(u).cloned())
                    .unwrap_or(Value::Null);
                v
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct ExportQuery {
    include_valves: Option<bool>,
}

async fn export(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let list = state.db.read(rows::all).await?;
    let valves = q.include_valves.unwrap_or(false);
    Ok(Json(
        list.iter().map(|f| rows::wire(f, true, valves)).collect(),
    ))
}

async fn load_url(
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<UrlForm>,
) -> ApiResult<Json<Value>> {
    Ok(Json(fetch_source(&form.url, "function").await?))
}

/// Upstream replaces every function with a list and reloads their modules.
async fn sync(AdminUser(_c): AdminUser, JsonBody(_b): JsonBody<Value>) -> ApiResult<Json<Value>> {
    Err(python_unsupported())
}

async fn create(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let (id, form) = CodeForm::parse(&body)?;
    let id = new_code_id(&id)?;
    let kind = kind_of(&form.content)?;
    let uid = caller.id().to_string();
    let now = now_secs();
    let created = state
        .db
        .write(move |c| {
            if rows::get(c, &id)?.is_some() {
                return Ok(None);
            }
            let f = rows::insert(c, &id, kind, form.saving(&uid, now))?;
            Ok(Some(rows::wire(&f, false, false)))
        })
        .await?;
    created
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(ID_TAKEN))
}

async fn load(state: &AppState, id: &str) -> ApiResult<Option<FunctionRow>> {
    let id = id.to_string();
    Ok(state.db.read(move |c| rows::get(c, &id)).await?)
}

async fn get_one(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = found(&state, &id).await?;
    Ok(Json(rows::wire(&f, true, false)))
}

async fn set_flags(
    state: &AppState,
    f: &FunctionRow,
    active: bool,
    global: bool,
) -> ApiResult<Json<Value>> {
    let id = f.id.clone();
    let now = now_secs();
    let f = state
        .db
        .write(move |c| rows::set_flags(c, &id, active, global, now))
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(rows::wire(&f, true, false)))
}

/// Switching a function off is allowed; switching it on would mean running it.
async fn toggle(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = found(&state, &id).await?;
    if !f.is_active {
        return Err(python_unsupported());
    }
    set_flags(&state, &f, false, f.is_global).await
}

/// Making a function global applies it to every chat, which needs Python;
/// removing the global flag is allowed.
async fn toggle_global(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = found(&state, &id).await?;
    if !f.is_global {
        return Err(python_unsupported());
    }
    set_flags(&state, &f, f.is_active, false).await
}

async fn update(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let (_, form) = CodeForm::parse(&body)?;
    save(&state, caller.id(), &id, form, None).await
}

/// Saves `form` over function `id`, or points it at history entry `version_id`.
async fn save(
    state: &AppState,
    user_id: &str,
    id: &str,
    mut form: CodeForm,
    version_id: Option<String>,
) -> ApiResult<Json<Value>> {
    let f = load(state, id).await?.ok_or_else(not_found)?;
    let kind = kind_of(&form.content)?;
    if let Some(m) = form.meta.as_object_mut() {
        m.insert("manifest".into(), f.meta["manifest"].clone());
        match f.meta.get("toggle") {
            Some(t) => m.insert("toggle".into(), t.clone()),
            None => m.remove("toggle"),
        };
    }
    let (uid, id) = (user_id.to_string(), id.to_string());
    let now = now_secs();
    let f = state
        .db
        .write(move |c| rows::update(c, &id, kind, form.saving(&uid, now), version_id.as_deref()))
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(rows::wire(&f, true, false)))
}

async fn delete_one(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    Ok(Json(state.db.write(move |c| rows::delete(c, &id)).await?))
}

async fn valves(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = found(&state, &id).await?;
    Ok(Json(valves_dict(&f.valves)))
}

async fn user_valves(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    found(&state, &id).await?;
    let uid = caller.id().to_string();
    Ok(Json(
        state
            .db
            .read(move |c| stored_user_valves(c, &uid, "functions", &id))
            .await?,
    ))
}

/// Valve schemas and valve validation need the Python module: 501 once the
/// function is known to exist. `Who` is the sign-in the route asks for.
async fn valves_spec<Who>(
    State(state): State<AppState>,
    _who: Who,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>>
where
    Who: FromRequestParts<AppState> + Send,
{
    unsupported_if_found(&state, &id).await
}

/// Same as [`valves_spec`] for the saving routes (the body must still be JSON).
async fn valves_update<Who>(
    State(state): State<AppState>,
    _who: Who,
    Path(id): Path<String>,
    JsonBody(_b): JsonBody<Value>,
) -> ApiResult<Json<Value>>
where
    Who: FromRequestParts<AppState> + Send,
{
    unsupported_if_found(&state, &id).await
}

/// 501 for a function that exists (the valve routes that need Python).
async fn unsupported_if_found(state: &AppState, id: &str) -> ApiResult<Json<Value>> {
    found(state, id).await?;
    Err(python_unsupported())
}

/// The function, or upstream's 401 "not found" answer.
async fn found(state: &AppState, id: &str) -> ApiResult<FunctionRow> {
    load(state, id)
        .await?
        .ok_or_else(|| ApiError::unauthorized(NOT_FOUND))
}

// ------------------------------------------------------------------ history

async fn require(state: &AppState, id: &str) -> ApiResult<FunctionRow> {
    load(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Not found"))
}

async fn history_list(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    require(&state, &id).await?;
    history_page(&state, Kind::Function, &id, q.page).await
}

async fn history_diff(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    require(&state, &id).await?;
    code_history_diff(&state, Kind::Function, &id, &q).await
}

async fn history_entry(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    require(&state, &id).await?;
    code_history_entry(&state, Kind::Function, &id, &history_id).await
}

async fn history_delete(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path((id, history_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    let f = require(&state, &id).await?;
    let live = f.version_id.as_deref();
    history_remove(&state, Kind::Function, &id, live, &history_id).await
}

async fn set_version(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let version = req_str(&body, "version_id")?.to_string();
    require(&state, &id).await?;
    let h = history_get(&state, Kind::Function, &id, &version).await?;
    save(&state, caller.id(), &id, CodeForm::restored(&h), Some(h.id)).await
}

#[cfg(test)]
mod tests {
    use super::function_kind;

    #[test]
    fn kind_from_source() {
        assert_eq!(function_kind("class Pipe:\n    pass"), Some("pipe"));
        assert_eq!(
            function_kind("import x\nclass Filter(object):\n"),
            Some("filter")
        );
        assert_eq!(function_kind("class Action :\n"), Some("action"));
        assert_eq!(function_kind("class Pipeline:\n"), None);
        assert_eq!(function_kind("    class Pipe:\n"), None);
    }
}
