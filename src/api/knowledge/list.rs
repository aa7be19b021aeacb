//! Listing and searching knowledge bases, and searching the files they
//! hold.

use std::collections::{HashMap, HashSet};

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::common::{linked_wire, Params};
use crate::access::{admin_bypass, group_ids};
use crate::api::extract::VerifiedUser;
use crate::api::form::{lenient_page, query_bool};
use crate::auth::Caller;
use crate::db::access_grants;
use crate::db::knowledge::{self, KnowledgeRow, RESOURCE};
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Default)]
struct ListFilter {
    query: Option<String>,
    view_option: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
}

async fn list_accessible(
    state: &AppState,
    caller: &Caller,
    f: ListFilter,
    page: i64,
) -> ApiResult<Json<Value>> {
    let groups = group_ids(state, caller.id()).await?;
    let uid = caller.id().to_string();
    let sees_all = admin_bypass(caller);
    let (rows, grants, users, counts) = state
        .db
        .read(move |c| {
            let rows = knowledge::all(c)?;
            let grants = access_grants::by_type(c, RESOURCE)?;
            let owners: Vec<String> = rows
                .iter()
                .map(|k| k.user_id.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let users = knowledge::users_brief(c, &owners)?;
            let mut counts = HashMap::new();
            for k in &rows {
                counts.insert(k.id.clone(), knowledge::file_count(c, &k.id)?);
            }
            Ok((rows, grants, users, counts))
        })
        .await?;
    let empty = Vec::new();
    let q = f.query.as_deref().map(str::to_lowercase);
    let mut items: Vec<(KnowledgeRow, bool)> = rows
        .into_iter()
        .filter_map(|k| {
            let g = grants.get(&k.id).unwrap_or(&empty);
            let owner = k.user_id == uid;
            let write = owner || sees_all || access_grants::grants_allow(g, &uid, &groups, "write");
            let read = write || access_grants::grants_allow(g, &uid, &groups, "read");
            if !read {
                return None;
            }
            match f.view_option.as_deref() {
                Some("created") if !owner => return None,
                Some("shared") if owner => return None,
                _ => {}
            }
            if let Some(q) = &q {
                let u = users.get(&k.user_id);
                let field = |key: &str| {
                    u.and_then(|u| u.get(key))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_lowercase()
                };
                let hit = k.name.to_lowercase().contains(q)
                    || k.description.to_lowercase().contains(q)
                    || field("name").contains(q)
                    || field("email").contains(q);
                if !hit {
                    return None;
                }
            }
            Some((k, write))
        })
        .collect();
    let asc = f.direction.as_deref() == Some("asc");
    match f.order_by.as_deref() {
        Some("name") => items.sort_by_key(|a| a.0.name.to_lowercase()),
        Some("created_at") => items.sort_by_key(|a| a.0.created_at),
        _ => items.sort_by_key(|a| a.0.updated_at),
    }
    let default_desc = f.order_by.is_none() || !asc;
    if default_desc {
        items.reverse();
    }
    let total = items.len();
    let skip = ((page - 1) * knowledge::PAGE_SIZE) as usize;
    let out: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(knowledge::PAGE_SIZE as usize)
        .map(|(k, write)| {
            let mut v = k.wire(grants.get(&k.id).unwrap_or(&empty));
            v["user"] = users.get(&k.user_id).cloned().unwrap_or(Value::Null);
            v["file_count"] = json!(counts.get(&k.id).copied().unwrap_or(0));
            v["write_access"] = json!(write);
            v
        })
        .collect();
    Ok(Json(json!({"items": out, "total": total})))
}

pub(super) async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    list_accessible(&state, &caller, ListFilter::default(), lenient_page(&p)).await
}

pub(super) async fn search(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let f = ListFilter {
        query: p.get("query").filter(|s| !s.is_empty()).cloned(),
        view_option: p.get("view_option").cloned(),
        order_by: p
            .get("order_by")
            .filter(|s| matches!(s.as_str(), "name" | "created_at" | "updated_at"))
            .cloned(),
        direction: p
            .get("direction")
            .filter(|s| matches!(s.as_str(), "asc" | "desc"))
            .cloned(),
    };
    if p.get("source").map(String::as_str) == Some("external") {
        return Ok(Json(json!({"items": [], "total": 0})));
    }
    list_accessible(&state, &caller, f, lenient_page(&p)).await
}

pub(super) async fn search_files(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let groups = group_ids(&state, caller.id()).await?;
    let uid = caller.id().to_string();
    let q = p
        .get("query")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    let with_content = query_bool(&p, "include_content", false)?;
    let page = lenient_page(&p);
    let rows = state
        .db
        .read(move |c| {
            let grants = access_grants::by_type(c, RESOURCE)?;
            let mut out = vec![];
            for kb in knowledge::all(c)? {
                let g = grants.get(&kb.id).cloned().unwrap_or_default();
                if kb.user_id != uid && !access_grants::grants_allow(&g, &uid, &groups, "read") {
                    continue;
                }
                let files = knowledge::linked_files(c, &kb.id)?;
                for f in files {
                    out.push((kb.clone(), g.clone(), f));
                }
            }
            let ids: Vec<String> = out.iter().map(|x| x.2.added_by.clone()).collect();
            let users = knowledge::users_brief(c, &ids)?;
            Ok((out, users))
        })
        .await?;
    let (mut all, users) = rows;
    if let Some(q) = &q {
        all.retain(|(_, _, f)| {
            f.file.filename.to_lowercase().contains(q)
                || (with_content && f.file.content().to_lowercase().contains(q))
        });
    }
    all.sort_by(|a, b| {
        b.2.file
            .updated_at
            .cmp(&a.2.file.updated_at)
            .then(a.2.file.id.cmp(&b.2.file.id))
    });
    let total = all.len();
    let paths = HashMap::new();
    let items: Vec<Value> = all
        .iter()
        .skip(((page - 1) * knowledge::PAGE_SIZE) as usize)
        .take(knowledge::PAGE_SIZE as usize)
        .map(|(kb, g, f)| {
            let mut v = linked_wire(f, &users, &paths);
            v["collection"] = kb.wire(g);
            v
        })
        .collect();
    Ok(Json(
        json!({"items": items, "directories": [], "breadcrumbs": [], "total": total}),
    ))
}
