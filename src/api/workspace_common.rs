//! What the workspace routers (prompts, tools, functions, skills) share:
//! reading, paging and deleting version history entries, the diff of two
//! code versions, and replacing a resource's access grants. Each router
//! keeps its own handlers and access checks and calls these with its kind.

use axum::Json;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access;
use crate::auth::Caller;
use crate::db::access_grants;
use crate::db::now_secs;
use crate::db::workspace_history::{self as history, HistoryRow, Kind};
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Entries a history page holds.
pub(crate) const HISTORY_PAGE: i64 = 20;

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    pub page: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct DiffQuery {
    pub from_id: String,
    pub to_id: String,
}

/// A history entry as the tool, function and skill routers return it.
pub(crate) fn history_wire(kind: Kind, h: &HistoryRow, with_snapshot: bool) -> Value {
    let mut v = json!({
        "id": h.id,
        kind.fk(): h.resource_id,
        "parent_id": h.parent_id,
        "user_id": h.user_id,
        "commit_message": h.commit_message,
        "created_at": h.created_at,
        "user": h.author_name.as_ref().map(|n| json!({"name": n})),
    });
    if with_snapshot {
        v["snapshot"] = h.snapshot.clone();
    }
    v
}

/// One page of entries (20 from `offset`), newest first.
pub(crate) async fn history_rows(
    state: &AppState,
    kind: Kind,
    id: &str,
    offset: i64,
) -> ApiResult<Vec<HistoryRow>> {
    let id = id.to_string();
    Ok(state
        .db
        .read(move |c| history::list(c, kind, &id, offset, HISTORY_PAGE))
        .await?)
}

/// The list form of page `page` (counted from 1).
pub(crate) async fn history_page(
    state: &AppState,
    kind: Kind,
    id: &str,
    page: Option<i64>,
) -> ApiResult<Json<Vec<Value>>> {
    let offset = (page.unwrap_or(1).max(1) - 1) * HISTORY_PAGE;
    let list = history_rows(state, kind, id, offset).await?;
    Ok(Json(
        list.iter().map(|h| history_wire(kind, h, false)).collect(),
    ))
}

/// One entry, or upstream's 404 for that resource kind.
pub(crate) async fn history_get(
    state: &AppState,
    kind: Kind,
    id: &str,
    history_id: &str,
) -> ApiResult<HistoryRow> {
    let (id, hid) = (id.to_string(), history_id.to_string());
    state
        .db
        .read(move |c| history::get(c, kind, &id, &hid))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(match kind {
                Kind::Prompt => NOT_FOUND,
                Kind::Skill => "Skill version not found",
                Kind::Tool | Kind::Function => "Version not found",
            })
        })
}

/// One tool or function entry with its snapshot.
pub(crate) async fn code_history_entry(
    state: &AppState,
    kind: Kind,
    id: &str,
    history_id: &str,
) -> ApiResult<Json<Value>> {
    let h = history_get(state, kind, id, history_id).await?;
    Ok(Json(history_wire(kind, &h, true)))
}

/// The diff of two tool or function versions (`content_diff` is one string).
pub(crate) async fn code_history_diff(
    state: &AppState,
    kind: Kind,
    id: &str,
    q: &DiffQuery,
) -> ApiResult<Json<Value>> {
    let before = history_get(state, kind, id, &q.from_id).await?;
    let after = history_get(state, kind, id, &q.to_id).await?;
    let (l, r) = (&before.snapshot, &after.snapshot);
    let mut metadata = serde_json::Map::new();
    for key in ["name", "meta"] {
        if l.get(key) != r.get(key) {
            metadata.insert(
                key.into(),
                json!({"before": l.get(key), "after": r.get(key)}),
            );
        }
    }
    let old = l.get("content").and_then(Value::as_str).unwrap_or("");
    let new = r.get("content").and_then(Value::as_str).unwrap_or("");
    let patch = history::unified_diff(old, new, "selected.py", "production.py").join("\n");
    Ok(Json(json!({
        "from_id": before.id,
        "to_id": after.id,
        "metadata": metadata,
        "content_diff": patch,
        "line_endings_only": old != new && patch.is_empty(),
    })))
}

/// Deletes an entry unless it is the live version.
pub(crate) async fn history_remove(
    state: &AppState,
    kind: Kind,
    id: &str,
    live: Option<&str>,
    history_id: &str,
) -> ApiResult<Json<bool>> {
    let prompt = kind == Kind::Prompt;
    if live == Some(history_id) {
        return Err(ApiError::bad_request(if prompt {
            "Cannot delete the active production version"
        } else {
            "Cannot delete the current version"
        }));
    }
    let (id, hid) = (id.to_string(), history_id.to_string());
    let ok = state
        .db
        .write(move |c| history::delete(c, kind, &id, &hid))
        .await?;
    if !ok {
        return Err(ApiError::not_found(if prompt {
            NOT_FOUND
        } else {
            "Version not found"
        }));
    }
    Ok(Json(true))
}

/// Reads a resource back in its wire form after its grants changed.
pub(crate) type Reread = fn(&Connection, &str) -> rusqlite::Result<Option<Value>>;

/// Replaces the grants of `resource` `id` with the requested ones (refused
/// as a whole when the caller may not give them all) and answers the
/// resource as `reread` reads it (null when it is gone).
pub(crate) async fn replace_grants(
    state: &AppState,
    caller: &Caller,
    kind: access::Kind,
    resource: &'static str,
    id: String,
    requested: &Value,
    reread: Reread,
) -> ApiResult<Json<Value>> {
    let grants = access::validated_grants(state, caller, kind, requested).await?;
    let now = now_secs();
    let v = state
        .db
        .write(move |c| {
            access_grants::replace(c, resource, &id, &grants, now)?;
            reread(c, &id)
        })
        .await?;
    Ok(Json(v.unwrap_or(Value::Null)))
}
