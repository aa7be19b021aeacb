//! Chat lists: the sidebar, pinned, archived, per user, search, folders, tags.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{folder_unread_json, titles, unauthorized, Params};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::api::form::{order_param, query_error, query_opt_bool, query_page};
use crate::db::chats::{self, ChatTitleRow, ListFilter, SortBy, TitleQuery, PAGE_SIZE};
use crate::db::{folders, tags};
use crate::error::messages::ACCESS_PROHIBITED;
use crate::error::ApiResult;
use crate::state::AppState;

pub(super) async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let f = ListFilter {
        include_pinned: query_opt_bool(&q, "include_pinned")?.unwrap_or(false),
        include_folders: query_opt_bool(&q, "include_folders")?.unwrap_or(false),
        page: query_page(&q)?.map(|p| (PAGE_SIZE, (p - 1) * PAGE_SIZE)),
        sort: SortBy::parse(q.get("sort_by").map_or("updated_at", String::as_str)),
        ascending: q.get("sort_dir").map(String::as_str) == Some("asc"),
        ..Default::default()
    };
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| chats::list_titles(c, &uid, &f))
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

pub(super) async fn mark_all_read(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let (n, counts) = state
        .db
        .write(move |tx| {
            Ok((
                chats::mark_all_read(tx, &uid, None)?,
                folder_unread_json(tx, &uid)?,
            ))
        })
        .await?;
    Ok(Json(
        json!({"updated_count": n, "folder_unread_counts": counts}),
    ))
}

pub(super) async fn pinned(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let f = ListFilter {
        only_pinned: true,
        ..Default::default()
    };
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| chats::list_titles(c, &uid, &f))
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

fn title_query(q: &HashMap<String, String>) -> ApiResult<TitleQuery> {
    let order = order_param(q, &chats::ORDERABLE)?;
    Ok(TitleQuery {
        query: q.get("query").cloned(),
        order,
    })
}

pub(super) async fn archived(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let page = query_page(&q)?.unwrap_or(1);
    let tq = title_query(&q)?;
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            chats::list_filtered(c, &uid, Some(true), &tq, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

pub(super) async fn list_for_user(
    State(state): State<AppState>,
    AdminUser(_caller): AdminUser,
    Path(user_id): Path<String>,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    if !state.settings.env_flags.enable_admin_chat_access {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let page = query_page(&q)?.unwrap_or(1);
    let tq = title_query(&q)?;
    let uid = user_id.clone();
    let rows = state
        .db
        .read(move |c| chats::list_filtered(c, &uid, None, &tq, PAGE_SIZE, (page - 1) * PAGE_SIZE))
        .await?;
    Ok(titles(&state, &user_id, &rows))
}

pub(super) async fn archived_count(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    let uid = caller.user.id.clone();
    let n = state
        .db
        .read(move |c| chats::count_archived(c, &uid))
        .await?;
    Ok(Json(json!(n)))
}

pub(super) async fn all_tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state.db.read(move |c| tags::list_for_user(c, &uid)).await?;
    Ok(Json(rows.iter().map(tags::TagRow::wire).collect()))
}

pub(super) async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    let Some(text) = q.get("text").cloned() else {
        return Err(query_error("text", "Field required", "missing"));
    };
    let page = query_page(&q)?.unwrap_or(1);
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .write(move |tx| {
            let found = chats::search(tx, &uid, &text, (page - 1) * PAGE_SIZE, PAGE_SIZE)?;
            let needle = chats::search_content_query(&text);
            let rows: Vec<ChatTitleRow> = found
                .iter()
                .map(|r| ChatTitleRow {
                    id: r.id.clone(),
                    title: r.title.clone(),
                    updated_at: r.updated_at,
                    created_at: r.created_at,
                    last_read_at: r.last_read_at,
                    archived: r.archived,
                    snippet: chats::search_snippet(&r.chat, &needle),
                })
                .collect();
            // A lone `tag:x` search that finds nothing retires the unused tag.
            let words: Vec<&str> = text.trim().split(' ').collect();
            if page == 1 && words.len() == 1 && rows.is_empty() {
                if let Some(tag) = words[0].strip_prefix("tag:") {
                    let tag = tag.replace("tag:", "");
                    if chats::count_by_tag(tx, &tags::normalize_id(&tag), &uid)? == 0 {
                        tags::delete_by_name(tx, &tag, &uid)?;
                    }
                }
            }
            Ok(rows)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

pub(super) async fn folder_chats(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(folder_id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            let mut ids = vec![folder_id.clone()];
            if folders::get_for_user(c, &folder_id, &uid)?.is_some() {
                ids.extend(
                    folders::descendants(c, &folder_id, &uid)?
                        .into_iter()
                        .map(|f| f.id),
                );
            }
            chats::in_folders(c, &ids, &uid)
        })
        .await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}

pub(super) async fn folder_chat_list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(folder_id): Path<String>,
    Query(q): Params,
) -> ApiResult<Json<Vec<Value>>> {
    const LIMIT: i64 = 10;
    let page = query_page(&q)?.unwrap_or(1);
    let sort = SortBy::parse(q.get("sort_by").map_or("unread_updated_at", String::as_str));
    let asc = q.get("sort_dir").map(String::as_str) == Some("asc");
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| {
            chats::list_in_folder(c, &folder_id, &uid, sort, asc, LIMIT, (page - 1) * LIMIT)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}

#[derive(Deserialize)]
pub(super) struct TagFilterForm {
    name: String,
    #[serde(default)]
    skip: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

pub(super) async fn list_by_tag(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<TagFilterForm>,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .write(move |tx| {
            let rows = chats::list_by_tag(
                tx,
                &uid,
                &form.name,
                crate::limits::skip(form.skip.unwrap_or(0)),
                crate::limits::limit(form.limit.unwrap_or(50)),
            )?;
            if rows.is_empty() {
                tags::delete_by_name(tx, &form.name, &uid)?;
            }
            Ok(rows)
        })
        .await?;
    Ok(titles(&state, caller.id(), &rows))
}
