//! `/api/v1/automations`: scheduled prompts. Each automation names a model,
//! a prompt and an iCalendar recurrence rule; the scheduler in
//! `crate::automations` runs the due ones, and "run now" starts one at once.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::notes::QueryArgs;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::automations::{self as engine, rrule, tz};
use crate::db::automations::{
    self as store, AutomationFields, AutomationRow, RunRow, SearchFilter,
};
use crate::db::{self, folders};
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const PAGE_ITEM_COUNT: i64 = 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/automations/list", get(list_automations))
        .route("/api/v1/automations/create", post(create_automation))
        .route("/api/v1/automations/{id}", get(get_automation))
        .route("/api/v1/automations/{id}/update", post(update_automation))
        .route("/api/v1/automations/{id}/toggle", post(toggle_automation))
        .route("/api/v1/automations/{id}/run", post(run_automation))
        .route("/api/v1/automations/{id}/delete", delete(delete_automation))
        .route("/api/v1/automations/{id}/runs", get(list_runs))
}

/// Automations must be on, and non-admins need `features.automations`.
async fn check_enabled(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("automations.enable")
        || !permissions::caller_allows(state, caller, "features.automations").await?
    {
        return Err(ApiError::forbidden("401 Unauthorized"));
    }
    Ok(())
}

/// The caller's own automation; anyone else's looks missing.
async fn load_own(state: &AppState, caller: &Caller, id: &str) -> ApiResult<AutomationRow> {
    let id = id.to_string();
    let row = state.db.read(move |c| store::get(c, &id)).await?;
    match row {
        Some(a) if a.user_id == caller.id() => Ok(a),
        _ => Err(ApiError::not_found(NOT_FOUND)),
    }
}

/// The caller's time zone, in which schedules are read.
fn zone_of(caller: &Caller) -> Option<tz::Zone> {
    tz::of_user(caller.user.timezone.as_deref())
}

#[derive(Deserialize)]
struct TargetForm {
    #[serde(rename = "type", default = "chat_target")]
    kind: String,
    channel_id: Option<String>,
}

fn chat_target() -> String {
    "chat".into()
}

#[derive(Deserialize)]
struct DataForm {
    prompt: String,
    model_id: String,
    rrule: String,
    terminal: Option<Value>,
    target: Option<TargetForm>,
}

#[derive(Deserialize)]
struct AutomationForm {
    name: String,
    folder_id: Option<String>,
    data: DataForm,
    meta: Option<Map<String, Value>>,
    #[serde(default = "default_active")]
    is_active: Option<bool>,
}

fn default_active() -> Option<bool> {
    Some(true)
}

/// Checks a create/update form and turns it into the stored fields.
async fn accept_form(
    state: &AppState,
    caller: &Caller,
    form: AutomationForm,
    creating: bool,
) -> ApiResult<AutomationFields> {
    if let Some(folder) = form.folder_id.clone() {
        let uid = caller.id().to_string();
        let found = state
            .db
            .read(move |c| folders::get_for_user(c, &folder, &uid))
            .await?;
        if found.is_none() {
            return Err(ApiError::not_found(NOT_FOUND));
        }
    }
    if form.data.terminal.as_ref().is_some_and(|t| !t.is_null()) {
        return Err(ApiError::NotImplemented(
            "Running automations in a terminal is not supported by this server".into(),
        ));
    }
    if let Some(t) = &form.data.target {
        match t.kind.as_str() {
            "chat" => {}
            "channel" => {
                crate::automations::channel::check_target(state, caller, t.channel_id.as_deref())
                    .await?;
            }
            _ => {
                return Err(ApiError::Validation(json!([{
                    "type": "literal_error", "loc": ["body", "data", "target", "type"],
                    "msg": "Input should be 'chat' or 'channel'",
                }])))
            }
        }
    }
    crate::limits::check_name("name", &form.name)?;
    crate::limits::check_name("rrule", &form.data.rrule)?;
    rrule::validate(&form.data.rrule, zone_of(caller).as_ref()).map_err(ApiError::bad_request)?;
    engine::check_limits(state, caller, &form.data.rrule, creating).await?;
    let target = form
        .data
        .target
        .as_ref()
        .map(|t| json!({"type": t.kind, "channel_id": t.channel_id}))
        .unwrap_or(Value::Null);
    Ok(AutomationFields {
        name: form.name,
        folder_id: form.folder_id,
        data: json!({
            "prompt": form.data.prompt,
            "model_id": form.data.model_id,
            "rrule": form.data.rrule,
            "terminal": null,
            "target": target,
        }),
        meta: form.meta.map(Value::Object),
        is_active: form.is_active,
    })
}

fn run_wire(r: &RunRow) -> Value {
    json!({
        "id": r.id,
        "automation_id": r.automation_id,
        "chat_id": r.chat_id,
        "status": r.status,
        "error": r.error,
        "created_at": r.created_at,
    })
}

/// `AutomationResponse`.
fn automation_wire(
    a: &AutomationRow,
    last_run: Option<&RunRow>,
    next_runs: Option<Vec<i64>>,
) -> Value {
    json!({
        "id": a.id,
        "user_id": a.user_id,
        "folder_id": a.folder_id,
        "name": a.name,
        "data": a.data,
        "meta": a.meta,
        "is_active": a.is_active,
        "last_run_at": a.last_run_at,
        "next_run_at": a.next_run_at,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "last_run": last_run.map(run_wire),
        "next_runs": next_runs,
    })
}

/// The full single-item view: latest run and the next five planned runs.
async fn enriched(state: &AppState, caller: &Caller, a: &AutomationRow) -> ApiResult<Json<Value>> {
    let id = a.id.clone();
    let last = state.db.read(move |c| store::latest_run(c, &id)).await?;
    let next = rrule::next_runs_ns(&a.rrule(), 5, zone_of(caller).as_ref());
    Ok(Json(automation_wire(a, last.as_ref(), Some(next))))
}

#[derive(Deserialize)]
struct ListQuery {
    query: Option<String>,
    status: Option<String>,
    folder_id: Option<String>,
    page: Option<i64>,
}

async fn list_automations(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let page = crate::limits::page(q.page.unwrap_or(1));
    let filter = SearchFilter {
        query: q.query,
        status: q.status,
        folder_id: q.folder_id,
        skip: (page - 1) * PAGE_ITEM_COUNT,
        limit: PAGE_ITEM_COUNT,
    };
    let uid = caller.id().to_string();
    let out = state
        .db
        .read(move |c| {
            let (rows, total) = store::search(c, &uid, &filter)?;
            let ids: Vec<String> = rows.iter().map(|a| a.id.clone()).collect();
            let latest = store::latest_runs(c, &ids)?;
            let items: Vec<Value> = rows
                .iter()
                .map(|a| automation_wire(a, latest.get(&a.id), None))
                .collect();
            Ok(json!({"items": items, "total": total}))
        })
        .await?;
    Ok(Json(out))
}

async fn create_automation(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<AutomationForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let fields = accept_form(&state, &caller, form, true).await?;
    let next = rrule::next_run_ns(
        fields.data["rrule"].as_str().unwrap_or_default(),
        zone_of(&caller).as_ref(),
    );
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let row = state
        .db
        .write(move |c| store::insert(c, &uid, &fields, next, now))
        .await?;
    enriched(&state, &caller, &row).await
}

async fn get_automation(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let a = load_own(&state, &caller, &id).await?;
    enriched(&state, &caller, &a).await
}

async fn update_automation(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<AutomationForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    load_own(&state, &caller, &id).await?;
    let fields = accept_form(&state, &caller, form, false).await?;
    let next = rrule::next_run_ns(
        fields.data["rrule"].as_str().unwrap_or_default(),
        zone_of(&caller).as_ref(),
    );
    let now = db::now_nanos();
    let row = state
        .db
        .write(move |c| store::update(c, &id, &fields, next, now))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    enriched(&state, &caller, &row).await
}

async fn toggle_automation(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let a = load_own(&state, &caller, &id).await?;
    let next = rrule::next_run_ns(&a.rrule(), zone_of(&caller).as_ref());
    let now = db::now_nanos();
    let row = state
        .db
        .write(move |c| store::toggle(c, &id, next, now))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    enriched(&state, &caller, &row).await
}

/// Starts a run in the background and answers at once, as upstream does;
/// the run shows up in `/runs` (and as a chat) when it finishes.
async fn run_automation(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    load_own(&state, &caller, &id).await?;
    let now = db::now_nanos();
    let row = state
        .db
        .write(move |c| store::set_last_run_at(c, &id, now))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let bg_state = state.clone();
    let bg_row = row.clone();
    tokio::spawn(async move { engine::execute(&bg_state, &bg_row).await });
    enriched(&state, &caller, &row).await
}

async fn delete_automation(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, &caller).await?;
    load_own(&state, &caller, &id).await?;
    let done = state.db.write(move |c| store::delete(c, &id)).await?;
    Ok(Json(done))
}

#[derive(Deserialize)]
struct RunsQuery {
    skip: Option<i64>,
    limit: Option<i64>,
}

async fn list_runs(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<RunsQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    load_own(&state, &caller, &id).await?;
    let (skip, limit) = (
        crate::limits::skip(q.skip.unwrap_or(0)),
        crate::limits::limit(q.limit.unwrap_or(50)),
    );
    let runs = state
        .db
        .read(move |c| store::runs(c, &id, skip, limit))
        .await?;
    Ok(Json(runs.iter().map(run_wire).collect()))
}
