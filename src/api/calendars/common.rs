//! Shared by the calendar and event handlers: the feature gates, the access
//! check on a calendar, and the wire shapes of calendars and events.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::access;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::GrantRow;
use crate::db::calendars::{self as store, AttendeeRow, CalendarRow, EventRow};
use crate::db::{self, users};
use crate::error::messages::UNAUTHORIZED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const SCHEDULED_TASKS_CALENDAR_ID: &str = "__scheduled_tasks__";

/// Calendar must be on, and non-admins need `features.calendar`.
pub(super) async fn check_enabled(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("calendar.enable") {
        return Err(ApiError::forbidden(UNAUTHORIZED));
    }
    if !permissions::caller_allows(state, caller, "features.calendar").await? {
        return Err(ApiError::forbidden(UNAUTHORIZED));
    }
    Ok(())
}

/// Whether automations are on for this user (the Scheduled Tasks calendar).
pub(super) async fn automations_available(state: &AppState, caller: &Caller) -> ApiResult<bool> {
    if !state.config.get_bool("automations.enable") {
        return Ok(false);
    }
    permissions::caller_allows(state, caller, "features.automations").await
}

/// The calendar the caller may use with `permission` (see
/// [`access::calendar`]).
pub(super) async fn check_access(
    state: &AppState,
    caller: &Caller,
    calendar_id: &str,
    permission: &'static str,
) -> ApiResult<CalendarRow> {
    access::calendar(state, caller, calendar_id, permission).await
}

// ---------- wire shapes ----------

/// `CalendarModel`.
pub(super) fn calendar_wire(c: &CalendarRow, grants: &[GrantRow]) -> Value {
    json!({
        "id": c.id,
        "user_id": c.user_id,
        "name": c.name,
        "color": c.color,
        "is_default": c.is_default,
        "is_system": false,
        "data": c.data,
        "meta": c.meta,
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

pub(super) fn scheduled_tasks_calendar(user_id: &str) -> Value {
    let now = db::now_nanos();
    json!({
        "id": SCHEDULED_TASKS_CALENDAR_ID,
        "user_id": user_id,
        "name": "Scheduled Tasks",
        "color": "#8b5cf6",
        "is_default": false,
        "is_system": true,
        "data": null,
        "meta": null,
        "access_grants": [],
        "created_at": now,
        "updated_at": now,
    })
}

fn attendee_wire(a: &AttendeeRow) -> Value {
    json!({
        "id": a.id,
        "event_id": a.event_id,
        "user_id": a.user_id,
        "status": a.status,
        "meta": a.meta,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    })
}

/// `CalendarEventModel`.
pub(super) fn event_wire(e: &EventRow, attendees: &[AttendeeRow]) -> Value {
    json!({
        "id": e.id,
        "calendar_id": e.calendar_id,
        "user_id": e.user_id,
        "title": e.title,
        "description": e.description,
        "start_at": e.start_at,
        "end_at": e.end_at,
        "all_day": e.all_day,
        "rrule": e.rrule,
        "color": e.color,
        "location": e.location,
        "data": e.data,
        "meta": e.meta,
        "is_cancelled": e.is_cancelled,
        "attendees": attendees.iter().map(attendee_wire).collect::<Vec<_>>(),
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    })
}

/// `UserResponse` of an event's creator.
fn user_brief(u: Option<&users::UserRow>) -> Value {
    match u {
        Some(u) => json!({"id": u.id, "name": u.name, "role": u.role, "email": u.email}),
        None => Value::Null,
    }
}

/// `CalendarEventUserResponse` for each row (with attendees and creator).
pub(super) fn events_with_users(
    c: &rusqlite::Connection,
    rows: &[EventRow],
) -> rusqlite::Result<Vec<Value>> {
    let ids: Vec<String> = rows.iter().map(|e| e.id.clone()).collect();
    let attendees = store::attendees_of(c, &ids)?;
    let mut authors: HashMap<String, Option<users::UserRow>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for e in rows {
        if !authors.contains_key(&e.user_id) {
            authors.insert(e.user_id.clone(), users::get(c, &e.user_id)?);
        }
        let mut v = event_wire(e, attendees.get(&e.id).map(Vec::as_slice).unwrap_or(&[]));
        v["user"] = user_brief(authors.get(&e.user_id).and_then(Option::as_ref));
        out.push(v);
    }
    Ok(out)
}
