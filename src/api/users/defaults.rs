//! Default permissions: reading and setting them, and the built-in ones.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::auth::permissions;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The six sections of upstream's `UserPermissions` form.
const PERMISSION_SECTIONS: &[&str] = &[
    "workspace",
    "sharing",
    "access_grants",
    "chat",
    "features",
    "settings",
];

/// Shapes a permissions object like upstream's form: every section present with
/// every known flag (missing ones from the built-in defaults), unknown flags dropped.
fn permissions_form(p: &Value) -> Value {
    let builtin = permissions::builtin_defaults();
    let mut out = serde_json::Map::new();
    for section in PERMISSION_SECTIONS {
        let mut sec = serde_json::Map::new();
        if let Some(Value::Object(defaults)) = builtin.get(*section) {
            for (k, dv) in defaults {
                let v = p
                    .get(*section)
                    .and_then(|s| s.get(k))
                    .filter(|v| v.is_boolean())
                    .cloned()
                    .unwrap_or_else(|| dv.clone());
                sec.insert(k.clone(), v);
            }
        }
        out.insert(section.to_string(), Value::Object(sec));
    }
    Value::Object(out)
}

pub(super) async fn get_default_permissions(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    let mut p = match state.config.get("user.permissions") {
        v @ Value::Object(_) => v,
        _ => json!({}),
    };
    permissions::fill_missing(&mut p, permissions::builtin_defaults());
    Json(permissions_form(&p))
}

pub(super) async fn set_default_permissions(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let Some(obj) = form.as_object() else {
        return Err(ApiError::bad_request("Permissions must be a JSON object."));
    };
    for section in PERMISSION_SECTIONS {
        if !obj.get(*section).is_some_and(Value::is_object) {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", section],
                "msg": "Field required",
                "type": "missing",
            }])));
        }
    }
    let stored = permissions_form(&form);
    state.config.set("user.permissions", stored.clone()).await?;
    Ok(Json(stored))
}

pub(super) async fn builtin_default_permissions(AdminUser(_a): AdminUser) -> Json<Value> {
    Json(permissions_form(permissions::builtin_defaults()))
}
