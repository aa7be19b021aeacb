//! Reading request input, shared by several routers: fields of a JSON body
//! (with FastAPI-shaped validation errors) and query parameters (booleans,
//! bounded integers, the page number).

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

// ---------------------------------------------------------------- body

/// The validation error of one body field.
pub(crate) fn validation(field: &str, msg: &str) -> ApiError {
    ApiError::Validation(json!([{"loc": ["body", field], "msg": msg, "type": "value_error"}]))
}

pub(crate) fn req_str<'a>(body: &'a Value, field: &str) -> ApiResult<&'a str> {
    match body.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(validation(field, "Field required")),
        Some(_) => Err(validation(field, "Input should be a valid string")),
    }
}

pub(crate) fn opt_str(body: &Value, field: &str) -> ApiResult<Option<String>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(validation(field, "Input should be a valid string")),
    }
}

// --------------------------------------------------------------- query

/// FastAPI's bool query parsing.
pub(crate) fn query_bool(p: &HashMap<String, String>, key: &str, default: bool) -> ApiResult<bool> {
    match p.get(key).map(|s| s.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(ApiError::Validation(json!([{
                "type": "bool_parsing",
                "loc": ["query", key],
                "msg": "Input should be a valid boolean, unable to interpret input",
                "input": v,
            }]))),
        },
    }
}

pub(crate) fn query_int(
    p: &HashMap<String, String>,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
) -> ApiResult<i64> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= min && n <= max => Ok(n),
            _ => Err(ApiError::Validation(json!([{
                "type": "int_parsing",
                "loc": ["query", key],
                "msg": format!("Input should be a valid integer between {min} and {max}"),
                "input": v,
            }]))),
        },
    }
}

/// The `page` query parameter, clamped by `limits::page`; absent or not a
/// number reads as page 1 (never an error).
pub(crate) fn lenient_page(p: &HashMap<String, String>) -> i64 {
    p.get("page")
        .and_then(|s| s.parse::<i64>().ok())
        .map(crate::limits::page)
        .unwrap_or(1)
}
