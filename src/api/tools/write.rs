//! Creating, reading, updating, sharing and deleting a tool.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::shared::{new_code_id, CodeForm};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::prompts::{grants_field, not_found, perms_allow_any, ID_TAKEN};
use crate::api::workspace_common::replace_grants;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::db::now_secs;
use crate::db::prompts::user_briefs;
use crate::db::tools::{self as rows, ToolRow};
use crate::error::messages::{ACCESS_PROHIBITED as PROHIBITED, NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

async fn may_change_code(state: &AppState, caller: &Caller) -> ApiResult<bool> {
    perms_allow_any(
        state,
        caller,
        &["workspace.tools", "workspace.tools_import"],
    )
    .await
}

pub(super) async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let (id, form) = CodeForm::parse(&body)?;
    if !may_change_code(&state, &caller).await? {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    let id = new_code_id(&id)?;
    let grants =
        access::allowed_grants(&state, &caller, access::Kind::Tool, &grants_field(&body)?).await?;
    let uid = caller.id().to_string();
    let now = now_secs();
    let created = state
        .db
        .write(move |c| {
            if rows::get(c, &id)?.is_some() {
                return Ok(None);
            }
            let t = rows::insert(c, &id, form.saving(&uid, now), &grants)?;
            let g = access_grants::by_resource(c, rows::RESOURCE, &t.id)?;
            Ok(Some(rows::wire_brief(&t, &g)))
        })
        .await?;
    created
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(ID_TAKEN))
}

pub(super) async fn load(
    state: &AppState,
    id: &str,
) -> ApiResult<Option<(ToolRow, Vec<GrantRow>)>> {
    let id = id.to_string();
    Ok(state
        .db
        .read(move |c| rows::get_with_grants(c, &id))
        .await?)
}

/// Owner, write grant or admin; `missing` and `denied` are upstream's
/// (varying) answers for this endpoint.
pub(super) async fn writable(
    state: &AppState,
    caller: &Caller,
    id: &str,
    missing: ApiError,
    denied: ApiError,
) -> ApiResult<(ToolRow, Vec<GrantRow>)> {
    let refuse = access::Refusals { missing, denied };
    let (admin, get) = (caller.is_admin(), rows::get_with_grants);
    access::load_allowed(state, caller, get, id, admin, "write", refuse).await
}

pub(super) async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (t, g) = load(&state, &id).await?.ok_or_else(not_found)?;
    let groups = access::group_ids(&state, caller.id()).await?;
    let owner = t.user_id.as_deref().unwrap_or("");
    if !(caller.is_admin() || access::owner_or_grant(&caller, owner, &g, &groups, "read")) {
        return Err(ApiError::unauthorized(PROHIBITED));
    }
    let write = access::admin_bypass(&caller)
        || access::owner_or_grant(&caller, owner, &g, &groups, "write");
    let ids: Vec<String> = t.user_id.iter().cloned().collect();
    let users = state.db.read(move |c| user_briefs(c, &ids)).await?;
    let mut v = rows::wire(&t, &g);
    if !write {
        if let Some(o) = v.as_object_mut() {
            o.remove("content");
        }
    }
    v["user"] = t
        .user_id
        .as_ref()
        .and_then(|u| users.get(u).cloned())
        .unwrap_or(Value::Null);
    v["write_access"] = json!(write);
    Ok(Json(v))
}

/// The tools of an MCP connection the caller may use (names and
/// descriptions); other ids have no specs to show.
pub(super) async fn specs(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    use crate::toolserver::mcp::{self, Discovery};
    let Some(server) = id.strip_prefix("server:mcp:") else {
        return Err(ApiError::not_found("Tool not found"));
    };
    match mcp::specs(&state, &caller, server).await {
        Ok(specs) => Ok(Json(json!({"specs": specs}))),
        Err(Discovery::NotFound) => Err(ApiError::not_found("Tool not found")),
        Err(Discovery::TimedOut) => Err(ApiError::GatewayTimeout(
            "The tool server took too long to list its tools".into(),
        )),
        Err(Discovery::Failed(why)) => {
            tracing::warn!(server = %server, error = %why, "MCP tools could not be listed");
            Err(ApiError::BadGateway(
                "The tool server's tools could not be loaded".into(),
            ))
        }
    }
}

pub(super) async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let (_, form) = CodeForm::parse(&body)?;
    save(&state, &caller, &id, form, None).await
}

/// Saves `form` over tool `id`, or points it at history entry `version_id`.
pub(super) async fn save(
    state: &AppState,
    caller: &Caller,
    id: &str,
    mut form: CodeForm,
    version_id: Option<String>,
) -> ApiResult<Json<Value>> {
    let (t, _) = writable(
        state,
        caller,
        id,
        ApiError::unauthorized(NOT_FOUND),
        ApiError::unauthorized(UNAUTHORIZED),
    )
    .await?;
    if form.content != t.content && !may_change_code(state, caller).await? {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    // Derived keys come from loading the module, which never happens here.
    if let Some(m) = form.meta.as_object_mut() {
        m.insert("manifest".into(), t.meta["manifest"].clone());
        m.insert("has_user_valves".into(), t.meta["has_user_valves"].clone());
    }
    let uid = caller.id().to_string();
    let id = id.to_string();
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            let save = form.saving(&uid, now);
            let Some(t) = rows::update(c, &id, save, version_id.as_deref())? else {
                return Ok(None);
            };
            let g = access_grants::by_resource(c, rows::RESOURCE, &t.id)?;
            Ok(Some(rows::wire(&t, &g)))
        })
        .await?;
    v.map(Json).ok_or_else(not_found)
}

pub(super) async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let requested = crate::api::prompts::required_grants_field(&body)?;
    writable(
        &state,
        &caller,
        &id,
        not_found(),
        ApiError::unauthorized(UNAUTHORIZED),
    )
    .await?;
    let kind = access::Kind::Tool;
    replace_grants(
        &state,
        &caller,
        kind,
        rows::RESOURCE,
        id,
        &requested,
        |c, id| Ok(rows::get_with_grants(c, id)?.map(|(t, g)| rows::wire(&t, &g))),
    )
    .await
}

pub(super) async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    writable(
        &state,
        &caller,
        &id,
        ApiError::unauthorized(NOT_FOUND),
        ApiError::unauthorized(UNAUTHORIZED),
    )
    .await?;
    Ok(Json(state.db.write(move |c| rows::delete(c, &id)).await?))
}
