//! Reading the partial JSON bodies of calendar and event updates: each field
//! absent, null or a value of its type (422 otherwise), and the RRULE check.

use serde_json::{json, Map, Value};

use crate::automations::rrule;
use crate::error::{ApiError, ApiResult};

/// Recurring calendar events may not repeat more often than daily.
const MIN_EVENT_INTERVAL_SECONDS: i64 = 24 * 60 * 60;

pub(super) fn opt_str(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<String>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => {
            match key {
                "title" => crate::limits::check_title(key, s)?,
                "description" => {}
                _ => crate::limits::check_name(key, s)?,
            }
            Ok(Some(Some(s.clone())))
        }
        Some(_) => Err(invalid(key, "Input should be a valid string")),
    }
}

pub(super) fn opt_int(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<i64>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(|n| Some(Some(n)))
            .ok_or_else(|| invalid(key, "Input should be a valid integer")),
    }
}

pub(super) fn opt_bool(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<bool>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Bool(b)) => Ok(Some(Some(*b))),
        Some(_) => Err(invalid(key, "Input should be a valid boolean")),
    }
}

pub(super) fn opt_obj(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<Value>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v @ Value::Object(_)) => Ok(Some(Some(v.clone()))),
        Some(_) => Err(invalid(key, "Input should be a valid dictionary")),
    }
}

fn invalid(key: &str, msg: &str) -> ApiError {
    ApiError::Validation(json!([{"type": "value_error", "loc": ["body", key], "msg": msg}]))
}

pub(super) fn missing(key: &str) -> ApiError {
    ApiError::Validation(
        json!([{"type": "missing", "loc": ["body", key], "msg": "Field required"}]),
    )
}

/// An attendee as sent: user id and optional meta.
type Attendee = (String, Option<Value>);

/// `attendees: [{user_id, meta?}]`; `None` when absent or null.
pub(super) fn attendees_field(body: &Map<String, Value>) -> ApiResult<Option<Vec<Attendee>>> {
    match body.get("attendees") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| {
                let uid = a
                    .get("user_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad_request("Each attendee needs a user_id"))?;
                let meta = a.get("meta").filter(|m| m.is_object()).cloned();
                Ok((uid.to_string(), meta))
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(invalid("attendees", "Input should be a valid list")),
    }
}

/// Recurring events: a valid rule repeating at most daily (422 otherwise).
pub(super) fn check_event_rrule(rule: Option<&str>) -> ApiResult<()> {
    let Some(r) = rule.filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    rrule::parse(r).map_err(|e| ApiError::Validation(json!(format!("Invalid RRULE: {e}"))))?;
    if rrule::interval_seconds(r).is_some_and(|s| s < MIN_EVENT_INTERVAL_SECONDS) {
        return Err(unprocessable(
            "Recurring events cannot repeat more often than daily",
        ));
    }
    Ok(())
}

/// A 422 whose detail is a plain message, as upstream raises for rule errors.
fn unprocessable(msg: &str) -> ApiError {
    ApiError::Validation(json!(msg))
}
