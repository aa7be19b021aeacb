//! Listing and searching the skills a caller may read.

use crate::api::form::SearchQuery;
use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access;
use crate::api::extract::VerifiedUser;
use crate::db::access_grants::GrantRow;
use crate::db::prompts::user_briefs;
use crate::db::skills::{self as rows, SkillRow};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::workspace::skills::readable;

const PAGE_SIZE: usize = 30;

async fn users_of(
    state: &AppState,
    list: &[(SkillRow, Vec<GrantRow>)],
) -> ApiResult<HashMap<String, Value>> {
    let ids: Vec<String> = list.iter().map(|(s, _)| s.user_id.clone()).collect();
    Ok(state.db.read(move |c| user_briefs(c, &ids)).await?)
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    query: Option<String>,
}

pub(super) async fn list_skills(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let (list, _) = readable(&state, &caller).await?;
    let users = users_of(&state, &list).await?;
    let needle = q.query.map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    Ok(Json(
        list.iter()
            .filter(|(s, _)| {
                needle
                    .as_ref()
                    .is_none_or(|n| s.name.to_lowercase().contains(n))
            })
            .map(|(s, g)| {
                let mut v = rows::wire(s, g, false);
                v["user"] = users.get(&s.user_id).cloned().unwrap_or(Value::Null);
                v
            })
            .collect(),
    ))
}

pub(super) async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let (list, groups) = readable(&state, &caller).await?;
    let users = users_of(&state, &list).await?;
    let needle = q
        .query
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let mut items: Vec<(SkillRow, Vec<GrantRow>)> = list
        .into_iter()
        .filter(|(s, _)| {
            let u = users.get(&s.user_id);
            let uf = |k: &str| {
                u.and_then(|u| u.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_lowercase()
            };
            let text_ok = needle.as_ref().is_none_or(|n| {
                s.name.to_lowercase().contains(n)
                    || s.description
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(n)
                    || s.id.to_lowercase().contains(n)
                    || uf("name").contains(n)
                    || uf("email").contains(n)
                    || s.meta.to_string().to_lowercase().contains(n)
            });
            let view_ok = match q.view_option.as_deref() {
                Some("created") => s.user_id == caller.id(),
                Some("shared") => s.user_id != caller.id(),
                _ => true,
            };
            text_ok && view_ok
        })
        .collect();
    match q.order_by.as_deref() {
        Some("name") => items.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
        Some("created_at") => items.sort_by_key(|a| a.0.created_at),
        _ => items.sort_by_key(|a| a.0.updated_at),
    }
    let explicit = matches!(
        q.order_by.as_deref(),
        Some("name") | Some("created_at") | Some("updated_at")
    );
    if !(explicit && q.direction.as_deref() == Some("asc")) {
        items.reverse();
    }
    let total = items.len();
    let page = q.page.unwrap_or(1).max(1) as usize;
    let by = access::admin_bypass(&caller);
    let out: Vec<Value> = items
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(s, g)| {
            let mut v = rows::wire(s, g, false);
            v["user"] = users.get(&s.user_id).cloned().unwrap_or(Value::Null);
            v["write_access"] =
                json!(by || access::owner_or_grant(&caller, &s.user_id, g, &groups, "write"));
            v
        })
        .collect();
    Ok(Json(json!({"items": out, "total": total})))
}
