//! Reading request input, shared by several routers: fields of a JSON body
//! (with FastAPI-shaped validation errors) and query parameters (booleans,
//! bounded integers, the page number).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};

// ---------------------------------------------------------------- body

/// The validation error of one body field.
pub(crate) fn validation(field: &str, msg: &str) -> ApiError {
    ApiError::Validation(json!([{"loc": ["body", field], "msg": msg, "type": "value_error"}]))
}

/// Refuses a list field holding `null` items, as pydantic does for
/// `list[X] | None`: the error names the field and the item's index
/// (`loc` `[…, field, i]`). `kind` is what an item should be: `string` or
/// `dictionary`.
pub(crate) fn no_null_items(loc: &[&str], list: &Value, kind: &str) -> ApiResult<()> {
    let Some(at) = list
        .as_array()
        .and_then(|items| items.iter().position(Value::is_null))
    else {
        return Ok(());
    };
    let typ = if kind == "string" {
        "string_type"
    } else {
        "dict_type"
    };
    let mut path: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
    path.push(json!(at));
    Err(ApiError::Validation(json!([{
        "loc": path,
        "msg": format!("Input should be a valid {kind}"),
        "type": typ,
        "input": null,
    }])))
}

pub(crate) fn req_str<'a>(body: &'a Value, field: &str) -> ApiResult<&'a str> {
    match body.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(validation(field, "Field required")),
        Some(_) => Err(validation(field, "Input should be a valid string")),
    }
}

/// An optional string field of a JSON body (absent or null: `None`).
pub(crate) fn opt_str(body: &Value, field: &str) -> ApiResult<Option<String>> {
    match body.as_object() {
        Some(m) => opt_str_in(m, field),
        None => Ok(None),
    }
}

/// [`opt_str`] on an object already taken apart.
pub(crate) fn opt_str_in(m: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::Validation(json!([{
            "loc": ["body", field], "msg": "Input should be a valid string", "type": "string_type"
        }]))),
    }
}

// --------------------------------------------------------------- query

/// The query of a paged list or search (workspace items, users, channel
/// members): each router reads the parameters it offers and ignores the rest.
#[derive(Deserialize, Default)]
pub(crate) struct SearchQuery {
    pub query: Option<String>,
    pub view_option: Option<String>,
    pub tag: Option<String>,
    pub order_by: Option<String>,
    pub direction: Option<String>,
    pub page: Option<i64>,
}

/// The validation error of one query parameter.
pub(crate) fn query_error(key: &str, msg: &str, kind: &str) -> ApiError {
    ApiError::Validation(json!([{ "loc": ["query", key], "msg": msg, "type": kind }]))
}

/// FastAPI's bool query parsing; absent is `None`.
pub(crate) fn query_opt_bool(p: &HashMap<String, String>, key: &str) -> ApiResult<Option<bool>> {
    match p.get(key).map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) => match v.as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
            _ => Err(query_error(
                key,
                "Input should be a valid boolean, unable to interpret input",
                "bool_parsing",
            )),
        },
    }
}

/// [`query_opt_bool`] with a default for an absent parameter.
pub(crate) fn query_bool(p: &HashMap<String, String>, key: &str, default: bool) -> ApiResult<bool> {
    Ok(query_opt_bool(p, key)?.unwrap_or(default))
}

/// An integer query parameter without bounds; absent is `None`.
pub(crate) fn query_opt_int(p: &HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            query_error(
                key,
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
            )
        }),
    }
}

/// The `page` query parameter, clamped by `limits::page`; not a number is a 422.
pub(crate) fn query_page(p: &HashMap<String, String>) -> ApiResult<Option<i64>> {
    Ok(query_opt_int(p, "page")?.map(crate::limits::page))
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
