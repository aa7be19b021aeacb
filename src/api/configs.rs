//! `/api/v1/configs`: the admin settings pages that live in the `config` table
//! (connections, models, code execution, sub-agents, tool and terminal servers,
//! prompt suggestions, banners, interface visibility) plus export and import of
//! the whole table. Each form speaks upstream's UPPER_SNAKE names.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::{self, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/configs/import", post(import))
        .route("/api/v1/configs/export", get(export))
        .route("/api/v1/configs/namespace/{namespace}", get(namespace))
        .route("/api/v1/configs/interface/visibility", post(set_visibility))
        .route(
            "/api/v1/configs/connections",
            get(get_connections).post(set_connections),
        )
        .route(
            "/api/v1/configs/oauth/clients/register",
            post(register_oauth_client),
        )
        .route(
            "/api/v1/configs/tool_servers",
            get(get_tool_servers).post(set_tool_servers),
        )
        .route(
            "/api/v1/configs/tool_servers/verify",
            post(verify_tool_server),
        )
        .route(
            "/api/v1/configs/terminal_servers",
            get(get_terminal_servers).post(set_terminal_servers),
        )
        .route(
            "/api/v1/configs/terminal_servers/verify",
            post(verify_terminal_server),
        )
        .route(
            "/api/v1/configs/terminal_servers/policy",
            post(terminal_policy),
        )
        .route(
            "/api/v1/configs/terminal_servers/lifecycle",
            post(terminal_lifecycle),
        )
        .route(
            "/api/v1/configs/terminal_servers/refresh",
            post(terminal_refresh),
        )
        .route(
            "/api/v1/configs/code_execution",
            get(get_code_execution).post(set_code_execution),
        )
        .route("/api/v1/configs/models/defaults", get(models_defaults))
        .route("/api/v1/configs/models", get(get_models).post(set_models))
        .route(
            "/api/v1/configs/subagents",
            get(get_subagents).post(set_subagents),
        )
        .route("/api/v1/configs/suggestions", post(set_suggestions))
        .route("/api/v1/configs/banners", get(banners).post(set_banners))
}

// ------------------------------------------------------------- form helpers

/// The value types upstream's forms accept.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Bool,
    Str,
    OptStr,
    Int,
    OptInt,
    OptList,
    OptObject,
    /// A list (not null).
    List,
    /// Anything, null included (upstream's `dict | str | None`).
    Any,
}

/// One form field: wire name, config key, type, and whether it must be sent.
pub(crate) struct Field {
    wire: &'static str,
    key: &'static str,
    kind: Kind,
    required: bool,
}

pub(crate) const fn req(wire: &'static str, key: &'static str, kind: Kind) -> Field {
    Field {
        wire,
        key,
        kind,
        required: true,
    }
}

pub(crate) const fn opt(wire: &'static str, key: &'static str, kind: Kind) -> Field {
    Field {
        wire,
        key,
        kind,
        required: false,
    }
}

fn invalid(wire: &str, msg: &str, typ: &str) -> ApiError {
    ApiError::Validation(json!([{ "loc": ["body", wire], "msg": msg, "type": typ }]))
}

/// Checks (and lightly coerces, as pydantic does) one value.
fn coerce(f: &Field, v: &Value) -> ApiResult<Value> {
    let nullable = matches!(
        f.kind,
        Kind::OptStr | Kind::OptInt | Kind::OptList | Kind::OptObject | Kind::Any
    );
    if v.is_null() {
        return if nullable {
            Ok(Value::Null)
        } else {
            Err(invalid(f.wire, "Input should not be null", "type_error"))
        };
    }
    match f.kind {
        Kind::Bool => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Value::Bool(n.as_i64() == Some(1)))
            }
            Value::String(s) if ["true", "false"].contains(&s.to_lowercase().as_str()) => {
                Ok(Value::Bool(s.eq_ignore_ascii_case("true")))
            }
            _ => Err(invalid(
                f.wire,
                "Input should be a valid boolean",
                "bool_type",
            )),
        },
        Kind::Str | Kind::OptStr => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(invalid(
                f.wire,
                "Input should be a valid string",
                "string_type",
            )),
        },
        Kind::Int | Kind::OptInt => match v {
            Value::Number(n) if n.is_i64() => Ok(v.clone()),
            Value::Number(n) if n.as_f64().is_some_and(|x| x.fract() == 0.0) => {
                Ok(json!(n.as_f64().unwrap_or(0.0) as i64))
            }
            Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                Ok(json!(s.trim().parse::<i64>().unwrap_or(0)))
            }
            _ => Err(invalid(
                f.wire,
                "Input should be a valid integer",
                "int_type",
            )),
        },
        Kind::OptList | Kind::List => match v {
            Value::Array(_) => {
                crate::api::form::no_null_items(&["body", f.wire], v, "string")?;
                Ok(v.clone())
            }
            _ => Err(invalid(f.wire, "Input should be a valid list", "list_type")),
        },
        Kind::Any => Ok(v.clone()),
        Kind::OptObject => match v {
            Value::Object(_) => Ok(v.clone()),
            _ => Err(invalid(
                f.wire,
                "Input should be a valid dictionary",
                "dict_type",
            )),
        },
    }
}

/// The config updates a posted form asks for. Missing required fields are a
/// 422; missing optional ones are written as null when `write_missing` (the
/// forms upstream dumps whole) and left alone otherwise.
pub(crate) fn updates(
    form: &Map<String, Value>,
    fields: &[Field],
    write_missing: bool,
) -> ApiResult<Vec<(&'static str, Value)>> {
    let mut out = Vec::new();
    for f in fields {
        match form.get(f.wire) {
            Some(v) => out.push((f.key, coerce(f, v)?)),
            None if f.required => return Err(invalid(f.wire, "Field required", "missing")),
            None if write_missing => out.push((f.key, Value::Null)),
            None => {}
        }
    }
    Ok(out)
}

pub(crate) fn values(state: &AppState, fields: &[Field]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|f| (f.wire.to_string(), state.config.get(f.key)))
            .collect(),
    )
}

async fn save_form(
    state: &AppState,
    form: &Map<String, Value>,
    fields: &[Field],
    write_missing: bool,
) -> ApiResult<Json<Value>> {
    let u = updates(form, fields, write_missing)?;
    state.config.set_many(u).await?;
    Ok(Json(values(state, fields)))
}

// ------------------------------------------------------------ export/import

/// Every row of the `config` table as `{key: value}`.
async fn all_config(state: &AppState) -> ApiResult<Value> {
    let rows = state.db.read(db::config_rows::all).await?;
    Ok(Value::Object(rows.into_iter().collect()))
}

async fn export(State(state): State<AppState>, AdminUser(_a): AdminUser) -> ApiResult<Json<Value>> {
    Ok(Json(all_config(&state).await?))
}

#[derive(serde::Deserialize)]
struct ImportForm {
    config: Map<String, Value>,
}

/// Writes every posted key. Keys this server knows update the live settings;
/// others are stored as they are (an export from a newer version keeps them).
async fn import(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<ImportForm>,
) -> ApiResult<Json<Value>> {
    let mut known: Vec<(&'static str, Value)> = Vec::new();
    let mut other: Vec<(String, Value)> = Vec::new();
    for (k, v) in f.config {
        if k.trim().is_empty() {
            continue;
        }
        match crate::config::DEFS.iter().find(|d| d.key == k) {
            Some(d) => known.push((d.key, v)),
            None => other.push((k, v)),
        }
    }
    if !other.is_empty() {
        let now = now_secs();
        state
            .db
            .write(move |tx| {
                for (k, v) in &other {
                    db::config_rows::upsert(tx, k, v, now)?;
                }
                Ok(())
            })
            .await?;
    }
    state.config.set_many(known).await?;
    Ok(Json(all_config(&state).await?))
}

async fn namespace(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(ns): Path<String>,
) -> ApiResult<Json<Value>> {
    let prefix = format!("{ns}.");
    let rows = state.db.read(db::config_rows::all).await?;
    Ok(Json(Value::Object(
        rows.into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect(),
    )))
}

#[derive(serde::Deserialize)]
struct VisibilityForm {
    visibility: Map<String, Value>,
}

async fn set_visibility(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<VisibilityForm>,
) -> ApiResult<Json<Value>> {
    if let Some((k, _)) = f.visibility.iter().find(|(_, v)| !v.is_boolean()) {
        return Err(ApiError::Validation(json!([{
            "loc": ["body", "visibility", k],
            "msg": "Input should be a valid boolean",
            "type": "bool_type",
        }])));
    }
    let v = Value::Object(f.visibility);
    state.config.set("ui.visibility", v.clone()).await?;
    Ok(Json(json!({ "visibility": v })))
}

// -------------------------------------------------------------- connections

const CONNECTIONS: &[Field] = &[
    req("ENABLE_DIRECT_CONNECTIONS", "direct.enable", Kind::Bool),
    opt(
        "ENABLE_DIRECT_INTEGRATIONS",
        "direct.integrations.enable",
        Kind::Bool,
    ),
    req(
        "ENABLE_BASE_MODELS_CACHE",
        "models.base_models_cache",
        Kind::Bool,
    ),
];

async fn get_connections(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(values(&state, CONNECTIONS))
}

async fn set_connections(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    save_form(&state, &form, CONNECTIONS, false).await
}

/// Registering an OAuth client talks to the tool server's authorization server.
async fn register_oauth_client(AdminUser(_a): AdminUser) -> ApiError {
    ApiError::NotImplemented(
        "OAuth client registration for tool servers is not supported by this server yet; \
         it comes with the tool-server integration."
            .into(),
    )
}

// ------------------------------------------------------ terminal servers (network)

/// An orchestrator's refusal keeps its status; its text becomes the detail.
fn orchestrator_answer(outcome: crate::terminals::admin::Outcome) -> axum::response::Response {
    use axum::response::IntoResponse;
    match outcome {
        crate::terminals::admin::Outcome::Answer(v) => Json(v).into_response(),
        crate::terminals::admin::Outcome::Refused(r) => (
            axum::http::StatusCode::from_u16(r.status)
                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
            Json(json!({ "detail": r.detail })),
        )
            .into_response(),
    }
}

/// The "verify" button: an orchestrator or a plain terminal, or 400.
async fn verify_terminal_server(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<crate::terminals::admin::Target>,
) -> ApiResult<Json<Value>> {
    crate::terminals::admin::verify(&state, &form)
        .await
        .map(Json)
}

async fn terminal_policy(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<crate::terminals::admin::PolicyForm>,
) -> ApiResult<axum::response::Response> {
    use crate::terminals::admin::{policy, PolicyPart};
    policy(&state, form, PolicyPart::Policy)
        .await
        .map(orchestrator_answer)
}

async fn terminal_lifecycle(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<crate::terminals::admin::PolicyForm>,
) -> ApiResult<axum::response::Response> {
    use crate::terminals::admin::{policy, PolicyPart};
    policy(&state, form, PolicyPart::Lifecycle)
        .await
        .map(orchestrator_answer)
}

async fn terminal_refresh(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<crate::terminals::admin::RefreshForm>,
) -> ApiResult<axum::response::Response> {
    crate::terminals::admin::refresh(&state, form)
        .await
        .map(orchestrator_answer)
}

// ------------------------------------------------------ tool/terminal servers

/// The admin's "verify" button of a tool server: the OpenAPI document it
/// serves (MCP: its tool list), or a 400 saying why there is none.
async fn verify_tool_server(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    headers: axum::http::HeaderMap,
    JsonBody(mut form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    if !state.settings.env_flags.enable_tool_servers {
        return Err(ApiError::forbidden("Tool servers are disabled"));
    }
    for field in ["url", "path"] {
        if !form.get(field).is_some_and(Value::is_string) {
            return Err(ApiError::Validation(json!([{
                "loc": ["body", field], "msg": "Input should be a valid string", "type": "string_type",
            }])));
        }
    }
    if form.get("auth_type").and_then(Value::as_str) == Some("system_oauth")
        && !crate::toolserver::is_mcp(&Value::Object(form.clone()))
    {
        // The caller's SSO access token (refreshed when due), or nothing.
        let session = headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| crate::api::extract::cookie_value(h, "oauth_session_id"));
        let token = crate::auth::oauth::sessions::system_access_token(
            &state,
            &caller.user.id,
            session.as_deref(),
        )
        .await;
        form.insert("auth_type".into(), json!("bearer"));
        form.insert("key".into(), json!(token.unwrap_or_default()));
    }
    let conn = Value::Object(form);
    let what = if crate::toolserver::is_mcp(&conn) {
        "Failed to create MCP client"
    } else {
        "Failed to connect to the tool server"
    };
    crate::toolserver::verify(&conn, &caller)
        .await
        .map(Json)
        .map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

fn list_of_objects(form: &Map<String, Value>, wire: &str) -> ApiResult<Vec<Map<String, Value>>> {
    let Some(v) = form.get(wire) else {
        return Err(invalid(wire, "Field required", "missing"));
    };
    let Some(items) = v.as_array() else {
        return Err(invalid(wire, "Input should be a valid list", "list_type"));
    };
    items
        .iter()
        .map(|i| {
            i.as_object()
                .cloned()
                .ok_or_else(|| invalid(wire, "Input should be a valid dictionary", "dict_type"))
        })
        .collect()
}

fn require_string(conn: &Map<String, Value>, wire: &str, field: &str) -> ApiResult<()> {
    if conn.get(field).is_some_and(Value::is_string) {
        Ok(())
    } else {
        Err(ApiError::Validation(json!([{
            "loc": ["body", wire, field],
            "msg": "Input should be a valid string",
            "type": "string_type",
        }])))
    }
}

fn fill(conn: &mut Map<String, Value>, key: &str, v: Value) {
    if !conn.contains_key(key) {
        conn.insert(key.to_string(), v);
    }
}

fn empty_list_if_null(v: Value) -> Value {
    if v.is_null() {
        json!([])
    } else {
        v
    }
}

async fn get_tool_servers(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(json!({
        "TOOL_SERVER_CONNECTIONS": empty_list_if_null(state.config.get("tool_server.connections")),
    }))
}

async fn set_tool_servers(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    const WIRE: &str = "TOOL_SERVER_CONNECTIONS";
    let mut conns = list_of_objects(&form, WIRE)?;
    for c in &mut conns {
        require_string(c, WIRE, "url")?;
        require_string(c, WIRE, "path")?;
        fill(c, "type", json!("openapi"));
        fill(c, "auth_type", Value::Null);
        fill(c, "forward_cookies", json!(false));
        fill(c, "headers", Value::Null);
        fill(c, "key", Value::Null);
        fill(c, "config", Value::Null);
        fill(c, "info", Value::Null);
    }
    let v = Value::Array(conns.into_iter().map(Value::Object).collect());
    state
        .config
        .set("tool_server.connections", v.clone())
        .await?;
    Ok(Json(json!({ WIRE: v })))
}

async fn get_terminal_servers(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    Json(json!({
        "TERMINAL_SERVER_CONNECTIONS":
            empty_list_if_null(state.config.get("terminal_server.connections")),
    }))
}

async fn set_terminal_servers(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    const WIRE: &str = "TERMINAL_SERVER_CONNECTIONS";
    let mut conns = list_of_objects(&form, WIRE)?;
    for c in &mut conns {
        require_string(c, WIRE, "url")?;
        c.remove("policy");
        c.remove("lifecycle");
        fill(c, "id", json!(""));
        fill(c, "name", json!(""));
        fill(c, "enabled", json!(true));
        fill(c, "path", json!("/openapi.json"));
        fill(c, "key", json!(""));
        fill(c, "auth_type", json!("bearer"));
        fill(c, "forward_cookies", json!(false));
        fill(c, "config", Value::Null);
        fill(c, "server_type", Value::Null);
        fill(c, "policy_id", Value::Null);
    }
    let v = Value::Array(conns.into_iter().map(Value::Object).collect());
    state
        .config
        .set("terminal_server.connections", v.clone())
        .await?;
    Ok(Json(json!({ WIRE: v })))
}

// ----------------------------------------------------------- code execution

const CODE_EXECUTION: &[Field] = &[
    req("ENABLE_CODE_EXECUTION", "code_execution.enable", Kind::Bool),
    req("CODE_EXECUTION_ENGINE", "code_execution.engine", Kind::Str),
    req(
        "CODE_EXECUTION_JUPYTER_URL",
        "code_execution.jupyter.url",
        Kind::OptStr,
    ),
    req(
        "CODE_EXECUTION_JUPYTER_AUTH",
        "code_execution.jupyter.auth",
        Kind::OptStr,
    ),
    req(
        "CODE_EXECUTION_JUPYTER_AUTH_TOKEN",
        "code_execution.jupyter.auth_token",
        Kind::OptStr,
    ),
    req(
        "CODE_EXECUTION_JUPYTER_AUTH_PASSWORD",
        "code_execution.jupyter.auth_password",
        Kind::OptStr,
    ),
    req(
        "CODE_EXECUTION_JUPYTER_TIMEOUT",
        "code_execution.jupyter.timeout",
        Kind::OptInt,
    ),
    req(
        "ENABLE_CODE_INTERPRETER",
        "code_interpreter.enable",
        Kind::Bool,
    ),
    req(
        "CODE_INTERPRETER_ENGINE",
        "code_interpreter.engine",
        Kind::Str,
    ),
    req(
        "CODE_INTERPRETER_PROMPT_TEMPLATE",
        "code_interpreter.prompt_template",
        Kind::OptStr,
    ),
    req(
        "CODE_INTERPRETER_JUPYTER_URL",
        "code_interpreter.jupyter.url",
        Kind::OptStr,
    ),
    req(
        "CODE_INTERPRETER_JUPYTER_AUTH",
        "code_interpreter.jupyter.auth",
        Kind::OptStr,
    ),
    req(
        "CODE_INTERPRETER_JUPYTER_AUTH_TOKEN",
        "code_interpreter.jupyter.auth_token",
        Kind::OptStr,
    ),
    req(
        "CODE_INTERPRETER_JUPYTER_AUTH_PASSWORD",
        "code_interpreter.jupyter.auth_password",
        Kind::OptStr,
    ),
    req(
        "CODE_INTERPRETER_JUPYTER_TIMEOUT",
        "code_interpreter.jupyter.timeout",
        Kind::OptInt,
    ),
];

async fn get_code_execution(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    Json(values(&state, CODE_EXECUTION))
}

async fn set_code_execution(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    save_form(&state, &form, CODE_EXECUTION, true).await
}

// ------------------------------------------------------------------- models

const MODELS: &[Field] = &[
    req("DEFAULT_MODELS", "ui.default_models", Kind::OptStr),
    req(
        "DEFAULT_PINNED_MODELS",
        "ui.default_pinned_models",
        Kind::OptStr,
    ),
    req("MODEL_ORDER_LIST", "ui.model_order_list", Kind::OptList),
    opt(
        "DEFAULT_MODEL_METADATA",
        "models.default_metadata",
        Kind::OptObject,
    ),
    opt(
        "DEFAULT_MODEL_PARAMS",
        "models.default_params",
        Kind::OptObject,
    ),
];

async fn models_defaults(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> Json<Value> {
    Json(json!({"DEFAULT_MODEL_METADATA": state.config.get("models.default_metadata")}))
}

async fn get_models(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(values(&state, MODELS))
}

async fn set_models(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let out = save_form(&state, &form, MODELS, true).await?;
    // The model list's order and defaults come from these keys.
    crate::llm::invalidate(&state);
    Ok(out)
}

// ---------------------------------------------------------------- subagents

const SUBAGENTS: &[Field] = &[
    req("ENABLE_SUBAGENTS", "subagents.enable", Kind::Bool),
    req(
        "SUBAGENTS_BACKGROUND_ENABLED",
        "subagents.background_enabled",
        Kind::Bool,
    ),
    req(
        "SUBAGENTS_MAX_CONCURRENT",
        "subagents.max_concurrent",
        Kind::Int,
    ),
    req("SUBAGENTS_MAX_ASYNC", "subagents.max_async", Kind::Int),
    req(
        "SUBAGENTS_MAX_ITERATIONS",
        "subagents.max_iterations",
        Kind::Int,
    ),
    req("SUBAGENTS_MAX_OUTPUT", "subagents.max_output", Kind::Int),
    req(
        "SUBAGENTS_SYSTEM_PROMPT",
        "subagents.system_prompt",
        Kind::Str,
    ),
];

async fn get_subagents(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(values(&state, SUBAGENTS))
}

async fn set_subagents(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    save_form(&state, &form, SUBAGENTS, true).await
}

// ---------------------------------------------------- suggestions, banners

#[derive(serde::Deserialize)]
struct Suggestion {
    title: Vec<String>,
    content: String,
}

#[derive(serde::Deserialize)]
struct SuggestionsForm {
    suggestions: Option<Vec<Suggestion>>,
    #[serde(default)]
    i18n: Option<Map<String, Value>>,
}

async fn set_suggestions(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<SuggestionsForm>,
) -> ApiResult<Json<Value>> {
    let suggestions = match f.suggestions {
        Some(list) => Value::Array(
            list.into_iter()
                .map(|s| json!({"title": s.title, "content": s.content}))
                .collect(),
        ),
        None => Value::Null,
    };
    let i18n = Value::Object(f.i18n.unwrap_or_default());
    state
        .config
        .set_many(vec![
            ("ui.prompt_suggestions", suggestions.clone()),
            ("ui.prompt_suggestions_i18n", i18n.clone()),
        ])
        .await?;
    Ok(Json(json!({"suggestions": suggestions, "i18n": i18n})))
}

async fn banners(State(state): State<AppState>, VerifiedUser(_c): VerifiedUser) -> Json<Value> {
    match state.config.get("ui.banners") {
        v @ Value::Array(_) => Json(v),
        _ => Json(Value::Array(vec![])),
    }
}

#[derive(serde::Deserialize)]
struct Banner {
    #[serde(default)]
    i18n: Option<Map<String, Value>>,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    title: Option<String>,
    content: String,
    dismissible: bool,
    timestamp: i64,
}

#[derive(serde::Deserialize)]
struct BannersForm {
    banners: Vec<Banner>,
}

async fn set_banners(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<BannersForm>,
) -> ApiResult<Json<Value>> {
    let list = Value::Array(
        f.banners
            .into_iter()
            .map(|b| {
                json!({
                    "i18n": b.i18n,
                    "id": b.id,
                    "type": b.kind,
                    "title": b.title,
                    "content": b.content,
                    "dismissible": b.dismissible,
                    "timestamp": b.timestamp,
                })
            })
            .collect(),
    );
    state.config.set("ui.banners", list.clone()).await?;
    Ok(Json(list))
}
