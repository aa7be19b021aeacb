//! Calendars: listing (with the Scheduled Tasks calendar), creating, reading,
//! updating, sharing, deleting and choosing the default.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::access::{self, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::db;
use crate::db::access_grants;
use crate::db::calendars::{self as store, CalendarUpdate, NewCalendar};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::{
    automations_available, calendar_wire, check_access, check_enabled, scheduled_tasks_calendar,
    SCHEDULED_TASKS_CALENDAR_ID,
};
use super::input::{opt_obj, opt_str};

pub(super) async fn list_calendars(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let rows = state
        .db
        .write(move |c| {
            let cals = store::list_for_user(c, &uid, now)?;
            let mut out = Vec::with_capacity(cals.len());
            for cal in cals {
                let grants = access_grants::by_resource(c, store::RESOURCE, &cal.id)?;
                out.push(calendar_wire(&cal, &grants));
            }
            Ok(out)
        })
        .await?;
    let mut rows = rows;
    if automations_available(&state, &caller).await? {
        rows.push(scheduled_tasks_calendar(caller.id()));
    }
    Ok(Json(rows))
}

#[derive(Deserialize)]
pub(super) struct CalendarForm {
    name: String,
    color: Option<String>,
    data: Option<Map<String, Value>>,
    meta: Option<Map<String, Value>>,
    access_grants: Option<Vec<Value>>,
}

pub(super) async fn create_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<CalendarForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    crate::limits::check_name("name", &form.name)?;
    let grants = match &form.access_grants {
        Some(list) => Some(
            access::allowed_grants(&state, &caller, Kind::Calendar, &Value::Array(list.clone()))
                .await?,
        ),
        None => None,
    };
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let new = NewCalendar {
        name: form.name,
        color: form.color,
        data: form.data.map(Value::Object),
        meta: form.meta.map(Value::Object),
    };
    let out = state
        .db
        .write(move |c| {
            let cal = store::insert(c, &uid, &new, now)?;
            let grants = match grants {
                Some(g) => access_grants::replace(c, store::RESOURCE, &cal.id, &g, now)?,
                None => vec![],
            };
            Ok(calendar_wire(&cal, &grants))
        })
        .await?;
    Ok(Json(out))
}

pub(super) async fn get_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let cal = check_access(&state, &caller, &calendar_id, "read").await?;
    let id = cal.id.clone();
    let grants = state
        .db
        .read(move |c| access_grants::by_resource(c, store::RESOURCE, &id))
        .await?;
    Ok(Json(calendar_wire(&cal, &grants)))
}

pub(super) async fn update_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    check_access(&state, &caller, &calendar_id, "write").await?;
    let name = match opt_str(&body, "name")? {
        Some(Some(n)) => Some(n),
        _ => None,
    };
    let update = CalendarUpdate {
        name,
        color: opt_str(&body, "color")?,
        data: opt_obj(&body, "data")?.flatten(),
        meta: opt_obj(&body, "meta")?.flatten(),
    };
    let now = db::now_nanos();
    let out = state
        .db
        .write(move |c| {
            let Some(cal) = store::update(c, &calendar_id, &update, now)? else {
                return Ok(None);
            };
            let grants = access_grants::by_resource(c, store::RESOURCE, &cal.id)?;
            Ok(Some(calendar_wire(&cal, &grants)))
        })
        .await?;
    out.map(Json)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("calendar vanished during update")))
}

#[derive(Deserialize)]
pub(super) struct AccessForm {
    access_grants: Vec<Value>,
}

pub(super) async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let cal = check_access(&state, &caller, &calendar_id, "write").await?;
    if cal.user_id != caller.id() && !caller.is_admin() {
        return Err(ApiError::forbidden("Only owner can manage sharing"));
    }
    let requested = Value::Array(form.access_grants);
    let allowed = access::validated_grants(&state, &caller, Kind::Calendar, &requested).await?;
    let now = db::now_nanos();
    let cid = cal.id.clone();
    let grants = state
        .db
        .write(move |c| access_grants::replace(c, store::RESOURCE, &cid, &allowed, now))
        .await?;
    Ok(Json(calendar_wire(&cal, &grants)))
}

pub(super) async fn delete_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    if calendar_id == SCHEDULED_TASKS_CALENDAR_ID {
        return Err(ApiError::bad_request("System calendars cannot be deleted"));
    }
    let cal = check_access(&state, &caller, &calendar_id, "write").await?;
    if cal.user_id != caller.id() && !caller.is_admin() {
        return Err(ApiError::forbidden("Only owner can delete calendar"));
    }
    if cal.is_default {
        return Err(ApiError::bad_request("Default calendar cannot be deleted"));
    }
    state.db.write(move |c| store::delete(c, &cal.id)).await?;
    Ok(Json(json!({"status": true})))
}

pub(super) async fn set_default(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let out = state
        .db
        .write(move |c| {
            let Some(cal) = store::set_default(c, &uid, &calendar_id, now)? else {
                return Ok(None);
            };
            let grants = access_grants::by_resource(c, store::RESOURCE, &cal.id)?;
            Ok(Some(calendar_wire(&cal, &grants)))
        })
        .await?;
    out.map(Json)
        .ok_or_else(|| ApiError::not_found("Calendar not found"))
}
