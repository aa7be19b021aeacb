//! Chat statistics: usage and the stats export.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::common::{unauthorized, Params};
use crate::api::extract::VerifiedUser;
use crate::api::form::{query_opt_bool, query_opt_int, query_page};
use crate::auth::Caller;
use crate::chat::history;
use crate::db::chats::{self, ChatRow};
use crate::error::messages::{ACCESS_PROHIBITED, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn content_length(m: &Value) -> usize {
    match m.get("content") {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .map(|p| {
                p.get("text")
                    .and_then(Value::as_str)
                    .map_or(0, |t| t.chars().count())
            })
            .sum(),
        _ => 0,
    }
}

fn average(total: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        total / n as f64
    }
}

fn bump(map: &mut Map<String, Value>, key: &str) {
    let n = map.get(key).and_then(Value::as_i64).unwrap_or(0);
    map.insert(key.into(), json!(n + 1));
}

struct Aggregate {
    models: Map<String, Value>,
    message_count: usize,
    history_models: Map<String, Value>,
    history_message_count: usize,
    users: usize,
    assistants: usize,
    avg_response: f64,
    avg_user_len: f64,
    avg_assistant_len: f64,
    last_message_at: Option<Value>,
}

fn aggregate(chat: &ChatRow, skip_zero_timestamps: bool) -> Option<Aggregate> {
    let messages = chat.history_messages()?;
    let current = chat
        .chat
        .pointer("/history/currentId")
        .and_then(Value::as_str);
    let mut history_models = Map::new();
    let (mut users, mut assistants) = (Vec::new(), Vec::new());
    for m in messages.values() {
        match m.get("role").and_then(Value::as_str) {
            Some("user") => users.push(m),
            Some("assistant") => {
                assistants.push(m);
                if let Some(model) = m
                    .get("model")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    bump(&mut history_models, model);
                }
            }
            _ => {}
        }
    }
    let mut times = Vec::new();
    for m in &assistants {
        let Some(parent) = m
            .get("parentId")
            .and_then(Value::as_str)
            .and_then(|p| messages.get(p))
        else {
            continue;
        };
        let t1 = m.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0);
        let t0 = parent
            .get("timestamp")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if skip_zero_timestamps && (t1 == 0.0 || t0 == 0.0) {
            continue;
        }
        times.push(t1 - t0);
    }
    let path = current
        .map(|c| history::path_to(messages, c))
        .unwrap_or_default();
    let mut models = Map::new();
    for m in path.iter().rev() {
        if m.get("role").and_then(Value::as_str) == Some("assistant") {
            if let Some(model) = m
                .get("model")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                bump(&mut models, model);
            }
        }
    }
    Some(Aggregate {
        models,
        message_count: path.len(),
        history_models,
        history_message_count: messages.len(),
        users: users.len(),
        assistants: assistants.len(),
        avg_response: average(times.iter().sum(), times.len()),
        avg_user_len: average(
            users.iter().map(|m| content_length(m) as f64).sum(),
            users.len(),
        ),
        avg_assistant_len: average(
            assistants.iter().map(|m| content_length(m) as f64).sum(),
            assistants.len(),
        ),
        last_message_at: path
            .last()
            .map(|m| m.get("timestamp").cloned().unwrap_or(Value::Null)),
    })
}

/// One page of the caller's chats (changed after `since`, oldest first when
/// asked) and how many there are in all.
async fn user_page(
    state: &AppState,
    uid: String,
    since: Option<i64>,
    oldest_first: bool,
    per_page: i64,
    page: i64,
) -> ApiResult<(Vec<ChatRow>, i64)> {
    let offset = (page - 1) * per_page;
    Ok(state
        .db
        .read(move |c| {
            let rows = chats::all_for_user(
                c,
                &uid,
                false,
                since,
                oldest_first,
                Some((per_page, offset)),
            )?;
            Ok((rows, chats::count_for_user(c, &uid, since)?))
        })
        .await?)
}

pub(super) async fn stats_usage(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Json<Value>> {
    let per_page = crate::limits::limit(query_opt_int(&q, "items_per_page")?.unwrap_or(50));
    let page = query_page(&q)?.unwrap_or(1);
    let uid = caller.user.id.clone();
    let (rows, total) = user_page(&state, uid, None, false, per_page, page).await?;
    let mut items = Vec::new();
    for chat in &rows {
        if chat
            .chat
            .pointer("/history/currentId")
            .and_then(Value::as_str)
            .is_none()
        {
            continue;
        }
        let Some(a) = aggregate(chat, false) else {
            continue;
        };
        let Some(last) = a.last_message_at else {
            continue;
        };
        items.push(json!({
            "id": chat.id,
            "models": a.models,
            "message_count": a.message_count,
            "history_models": a.history_models,
            "history_message_count": a.history_message_count,
            "history_user_message_count": a.users,
            "history_assistant_message_count": a.assistants,
            "average_response_time": a.avg_response,
            "average_user_message_content_length": a.avg_user_len,
            "average_assistant_message_content_length": a.avg_assistant_len,
            "tags": chat.tag_ids(),
            "last_message_at": last,
            "updated_at": chat.updated_at,
            "created_at": chat.created_at,
        }));
    }
    Ok(Json(json!({"items": items, "total": total})))
}

fn stats_export_item(chat: &ChatRow) -> Value {
    let a = aggregate(chat, true);
    let mut export = Map::new();
    if let Some(ms) = chat.history_messages() {
        for (k, m) in ms {
            let (Some(id), Some(role)) = (
                m.get("id").and_then(Value::as_str),
                m.get("role").and_then(Value::as_str),
            ) else {
                continue;
            };
            let annotation = m.get("annotation");
            export.insert(
                k.clone(),
                json!({
                    "id": id,
                    "role": role,
                    "model": m.get("model").and_then(Value::as_str),
                    "content_length": content_length(m),
                    "token_count": null,
                    "timestamp": m.get("timestamp").and_then(Value::as_i64),
                    "rating": annotation.and_then(|x| x.get("rating")).and_then(Value::as_i64),
                    "tags": annotation.and_then(|x| x.get("tags")).filter(|t| t.is_array()),
                }),
            );
        }
    }
    let stats = match a {
        Some(a) => json!({
            "average_response_time": a.avg_response,
            "average_user_message_content_length": a.avg_user_len,
            "average_assistant_message_content_length": a.avg_assistant_len,
            "models": a.models,
            "message_count": a.message_count,
            "history_models": a.history_models,
            "history_message_count": a.history_message_count,
            "history_user_message_count": a.users,
            "history_assistant_message_count": a.assistants,
        }),
        None => json!({
            "average_response_time": 0.0, "average_user_message_content_length": 0.0,
            "average_assistant_message_content_length": 0.0, "models": {}, "message_count": 0,
            "history_models": {}, "history_message_count": 0, "history_user_message_count": 0,
            "history_assistant_message_count": 0,
        }),
    };
    json!({
        "id": chat.id,
        "user_id": chat.user_id,
        "created_at": chat.created_at,
        "updated_at": chat.updated_at,
        "tags": chat.tag_ids(),
        "stats": stats,
        "chat": {"history": {"messages": export, "currentId": chat.chat.pointer("/history/currentId").and_then(Value::as_str)}},
    })
}

fn may_export_stats(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !caller.is_admin() && !state.config.get_bool("ui.enable_community_sharing") {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    Ok(())
}

pub(super) async fn stats_export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Params,
) -> ApiResult<Response> {
    may_export_stats(&state, &caller)?;
    const LIMIT: i64 = 10;
    let updated_at = query_opt_int(&q, "updated_at")?.filter(|t| *t != 0);
    let page = query_page(&q)?.unwrap_or(1);
    let stream = query_opt_bool(&q, "stream")?.unwrap_or(false);
    let uid = caller.user.id.clone();
    if stream {
        let u = uid.clone();
        let rows = state
            .db
            .read(move |c| chats::all_for_user(c, &u, false, updated_at, true, None))
            .await?;
        let mut body = String::new();
        for r in &rows {
            body.push_str(&stats_export_item(r).to_string());
            body.push('\n');
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=chat-stats-export-{uid}.jsonl"),
                ),
            ],
            body,
        )
            .into_response());
    }
    let (rows, total) = user_page(&state, uid, updated_at, true, LIMIT, page).await?;
    let items: Vec<Value> = rows.iter().map(stats_export_item).collect();
    Ok(
        Json(json!({"type": "chats", "items": items, "total": total, "page": page}))
            .into_response(),
    )
}

pub(super) async fn stats_export_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(chat_id): Path<String>,
) -> ApiResult<Json<Value>> {
    may_export_stats(&state, &caller)?;
    let chat = state.db.read(move |c| chats::get(c, &chat_id)).await?;
    let Some(chat) = chat else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    if chat.user_id != caller.user.id
        && !(caller.is_admin() && state.settings.env_flags.enable_admin_chat_access)
    {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    Ok(Json(stats_export_item(&chat)))
}
