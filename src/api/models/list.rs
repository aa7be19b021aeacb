//! Workspace model lists: search with paging, all rows, base models and
//! tags.

use crate::api::form::SearchQuery;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::models as rows;
use crate::error::ApiResult;
use crate::state::AppState;

const PAGE_SIZE: i64 = 30;

pub(super) async fn workspace_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let page = crate::limits::page(q.page.unwrap_or(1));
    let groups = access::group_ids(&state, caller.id()).await?;
    let bypass = access::admin_bypass(&caller);
    let filter = rows::SearchFilter {
        query: q.query,
        view_option: q.view_option,
        tag: q.tag,
        order_by: q.order_by,
        direction: q.direction,
        access: (!bypass).then(|| (caller.id().to_string(), groups.clone())),
    };
    let uid = caller.id().to_string();
    let result = state
        .db
        .read(move |c| rows::search(c, &filter, &uid, (page - 1) * PAGE_SIZE, PAGE_SIZE))
        .await?;
    let items: Vec<Value> = result
        .items
        .into_iter()
        .map(|(m, g, user)| {
            let write = bypass || access::owner_or_grant(&caller, &m.user_id, &g, &groups, "write");
            let mut v = rows::wire(&m, &g);
            if let Some(meta) = v["meta"].as_object_mut() {
                meta.remove("profile_image_url");
            }
            // Read-only viewers do not get the system prompt and other curated params.
            if !write {
                v["params"] = json!({});
            }
            v["user"] = user.unwrap_or(Value::Null);
            v["write_access"] = json!(write);
            v
        })
        .collect();
    Ok(Json(json!({"items": items, "total": result.total})))
}

pub(super) async fn all_rows(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Value>> {
    let list = state.db.read(rows::all_with_grants).await?;
    Ok(Json(Value::Array(
        list.iter().map(|(m, g)| rows::wire(m, g)).collect(),
    )))
}

#[derive(Deserialize)]
pub(super) struct TagQuery {
    tag: Option<String>,
}

pub(super) async fn base_rows(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<TagQuery>,
) -> ApiResult<Json<Value>> {
    let list = state.db.read(rows::all_with_grants).await?;
    let tag = q.tag.filter(|t| !t.is_empty());
    let out: Vec<Value> = list
        .iter()
        .filter(|(m, _)| m.base_model_id.is_none())
        .filter(|(m, _)| {
            tag.as_ref().is_none_or(|t| {
                rows::normalize_tags(m.meta.get("tags").unwrap_or(&Value::Null))
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["name"] == t.as_str()))
            })
        })
        .map(|(m, g)| rows::wire(m, g))
        .collect();
    Ok(Json(Value::Array(out)))
}

pub(super) async fn base_tags(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(state.db.read(|c| rows::tags(c, true, None)).await?))
}

pub(super) async fn tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<String>>> {
    let bypass = access::admin_bypass(&caller);
    let groups = access::group_ids(&state, caller.id()).await?;
    let uid = caller.id().to_string();
    let list = state
        .db
        .read(move |c| rows::tags(c, false, (!bypass).then_some((uid.as_str(), &groups))))
        .await?;
    Ok(Json(list))
}
