//! The admin's chat settings (`/api/v1/chats/config`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::error::ApiResult;
use crate::state::AppState;

const CONFIG_KEYS: [(&str, &str); 11] = [
    ("CONTEXT_COMPACTION_MODEL", "chat.context_compaction.model"),
    (
        "ENABLE_CONTEXT_COMPACTION",
        "chat.context_compaction.enable",
    ),
    (
        "CONTEXT_COMPACTION_TOKEN_THRESHOLD",
        "chat.context_compaction.token_threshold",
    ),
    (
        "CONTEXT_COMPACTION_TOKEN_CAP",
        "chat.context_compaction.token_cap",
    ),
    (
        "CONTEXT_COMPACTION_RETENTION_PERCENTAGE",
        "chat.context_compaction.retention_percentage",
    ),
    (
        "CONTEXT_COMPACTION_PROMPT_TEMPLATE",
        "chat.context_compaction.prompt_template",
    ),
    ("ENABLE_TOOL_PERMISSIONS", "chat.tool_permissions.enable"),
    ("ENABLE_TOOL_SEARCH", "chat.tool_search.enable"),
    (
        "TOOL_SEARCH_DEFER_THRESHOLD",
        "chat.tool_search.defer_threshold",
    ),
    (
        "TOOL_SEARCH_ALWAYS_LOADED",
        "chat.tool_search.always_loaded",
    ),
    (
        "TOOL_SEARCH_DEFER_BUILTIN_TOOLS",
        "chat.tool_search.defer_builtin_tools",
    ),
];

fn config_values(state: &AppState) -> Value {
    let mut m = Map::new();
    for (field, key) in CONFIG_KEYS {
        m.insert(field.into(), state.config.get(key));
    }
    if m["CONTEXT_COMPACTION_MODEL"].is_null() {
        m.insert("CONTEXT_COMPACTION_MODEL".into(), json!(""));
    }
    if m["CONTEXT_COMPACTION_TOKEN_CAP"].is_null() {
        let t = m
            .get("CONTEXT_COMPACTION_TOKEN_THRESHOLD")
            .cloned()
            .unwrap_or(json!(80000));
        m.insert("CONTEXT_COMPACTION_TOKEN_CAP".into(), t);
    }
    if m["CONTEXT_COMPACTION_RETENTION_PERCENTAGE"].is_null() {
        m.insert("CONTEXT_COMPACTION_RETENTION_PERCENTAGE".into(), json!(40));
    }
    Value::Object(m)
}

pub(super) async fn get_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> Json<Value> {
    Json(config_values(&state))
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
pub(super) struct ChatConfigForm {
    #[serde(default)]
    CONTEXT_COMPACTION_MODEL: Option<String>,
    ENABLE_CONTEXT_COMPACTION: bool,
    #[serde(default)]
    CONTEXT_COMPACTION_TOKEN_THRESHOLD: Option<i64>,
    #[serde(default)]
    CONTEXT_COMPACTION_TOKEN_CAP: Option<i64>,
    #[serde(default)]
    CONTEXT_COMPACTION_RETENTION_PERCENTAGE: Option<i64>,
    CONTEXT_COMPACTION_PROMPT_TEMPLATE: String,
    #[serde(default)]
    ENABLE_TOOL_PERMISSIONS: bool,
    #[serde(default)]
    ENABLE_TOOL_SEARCH: bool,
    #[serde(default = "default_defer_threshold")]
    TOOL_SEARCH_DEFER_THRESHOLD: i64,
    #[serde(default)]
    TOOL_SEARCH_ALWAYS_LOADED: Vec<String>,
    #[serde(default = "default_true")]
    TOOL_SEARCH_DEFER_BUILTIN_TOOLS: bool,
}

fn default_defer_threshold() -> i64 {
    400
}

fn default_true() -> bool {
    true
}

pub(super) async fn set_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(f): JsonBody<ChatConfigForm>,
) -> ApiResult<Json<Value>> {
    let threshold = f.CONTEXT_COMPACTION_TOKEN_THRESHOLD.unwrap_or(80000).max(1);
    let cap = f
        .CONTEXT_COMPACTION_TOKEN_CAP
        .filter(|c| *c != 0)
        .unwrap_or(threshold)
        .max(1);
    let retention = f
        .CONTEXT_COMPACTION_RETENTION_PERCENTAGE
        .unwrap_or(40)
        .clamp(10, 50);
    let always: Vec<String> = f
        .TOOL_SEARCH_ALWAYS_LOADED
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    state
        .config
        .set_many(vec![
            (
                "chat.context_compaction.model",
                json!(f.CONTEXT_COMPACTION_MODEL.unwrap_or_default()),
            ),
            (
                "chat.context_compaction.enable",
                json!(f.ENABLE_CONTEXT_COMPACTION),
            ),
            ("chat.context_compaction.token_threshold", json!(threshold)),
            ("chat.context_compaction.token_cap", json!(cap)),
            (
                "chat.context_compaction.retention_percentage",
                json!(retention),
            ),
            (
                "chat.context_compaction.prompt_template",
                json!(f.CONTEXT_COMPACTION_PROMPT_TEMPLATE),
            ),
            (
                "chat.tool_permissions.enable",
                json!(f.ENABLE_TOOL_PERMISSIONS),
            ),
            ("chat.tool_search.enable", json!(f.ENABLE_TOOL_SEARCH)),
            (
                "chat.tool_search.defer_threshold",
                json!(f.TOOL_SEARCH_DEFER_THRESHOLD.max(0)),
            ),
            ("chat.tool_search.always_loaded", json!(always)),
            (
                "chat.tool_search.defer_builtin_tools",
                json!(f.TOOL_SEARCH_DEFER_BUILTIN_TOOLS),
            ),
        ])
        .await?;
    Ok(Json(config_values(&state)))
}
