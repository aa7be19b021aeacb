//! Listing tools (all readable, or writable ones), loading one from a URL,
//! exporting.

use std::collections::HashSet;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{fetch_source, UrlForm};
use crate::access;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::api::prompts::perms_allow_any;
use crate::auth::Caller;
use crate::db::access_grants::GrantRow;
use crate::db::prompts::user_briefs;
use crate::db::tools::{self as rows, ToolRow};
use crate::error::messages::UNAUTHORIZED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

async fn visible(
    state: &AppState,
    caller: &Caller,
    perm: &'static str,
) -> ApiResult<(Vec<(ToolRow, Vec<GrantRow>)>, HashSet<String>)> {
    let all = state.db.read(rows::all_with_grants).await?;
    access::visible(state, caller, all, perm, |t| {
        t.user_id.as_deref().unwrap_or("")
    })
    .await
}

async fn users_of(
    state: &AppState,
    list: &[(ToolRow, Vec<GrantRow>)],
) -> ApiResult<std::collections::HashMap<String, Value>> {
    let ids: Vec<String> = list.iter().filter_map(|(t, _)| t.user_id.clone()).collect();
    Ok(state.db.read(move |c| user_briefs(c, &ids)).await?)
}

fn list_item(
    t: &ToolRow,
    g: &[GrantRow],
    users: &std::collections::HashMap<String, Value>,
) -> Value {
    let mut v = rows::wire_brief(t, g);
    v["specs"] = t.specs.clone();
    v["content"] = Value::Null;
    v["user"] = t
        .user_id
        .as_ref()
        .and_then(|u| users.get(u).cloned())
        .unwrap_or(Value::Null);
    v
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    query: Option<String>,
}

pub(super) async fn list_tools(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let (list, _) = visible(&state, &caller, "read").await?;
    let users = users_of(&state, &list).await?;
    let needle = q.query.map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    let mut out: Vec<Value> = list
        .iter()
        .map(|(t, g)| {
            let mut v = list_item(t, g, &users);
            v["has_user_valves"] = t.meta["has_user_valves"].clone();
            v
        })
        .collect();
    out.extend(crate::toolserver::listed(&state, &caller).await);
    out.retain(|v| {
        let name = v["name"].as_str().unwrap_or("").to_lowercase();
        needle.as_ref().is_none_or(|n| name.contains(n))
    });
    Ok(Json(out))
}

pub(super) async fn list_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let (list, groups) = visible(&state, &caller, "read").await?;
    let users = users_of(&state, &list).await?;
    let by = access::admin_bypass(&caller);
    Ok(Json(
        list.iter()
            .map(|(t, g)| {
                let mut v = list_item(t, g, &users);
                v["write_access"] = json!(
                    by || access::owner_or_grant(
                        &caller,
                        t.user_id.as_deref().unwrap_or(""),
                        g,
                        &groups,
                        "write"
                    )
                );
                v
            })
            .collect(),
    ))
}

pub(super) async fn load_url(
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<UrlForm>,
) -> ApiResult<Json<Value>> {
    Ok(Json(fetch_source(&form.url, "tool").await?))
}

pub(super) async fn export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    if !perms_allow_any(&state, &caller, &["workspace.tools_export"]).await? {
        return Err(ApiError::unauthorized(UNAUTHORIZED));
    }
    let (list, _) = visible(&state, &caller, "write").await?;
    let users = users_of(&state, &list).await?;
    Ok(Json(
        list.iter()
            .map(|(t, g)| {
                let mut v = rows::wire(t, g);
                v["user"] = t
                    .user_id
                    .as_ref()
                    .and_then(|u| users.get(u).cloned())
                    .unwrap_or(Value::Null);
                v
            })
            .collect(),
    ))
}
