//! Messages of a channel: listing, pinned ones, posting, reading, pins,
//! threads, edits, reactions and deletion.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::chats::DEFAULT_ERROR;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::notes::QueryArgs;
use crate::auth::Caller;
use crate::channels::post::Post;
use crate::db::channels::{self, ChannelRow};
use crate::db::messages::{self, Anchor, MessageRow};
use crate::db::now_nanos;
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::socket::channels as live;
use crate::state::AppState;

use super::common::{check_enabled, forbidden, has_access, load, load_with, name_wire};
use super::wire::{author_of, event, message_full, message_listed, summarized};

const PINNED_PAGE: i64 = 20;

#[derive(Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    skip: i64,
    limit: Option<i64>,
}

pub(super) async fn list_messages(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_with(&state, &caller, &id, "read").await?;
    if !ch.is_membership() {
        // Reading a standard channel makes the reader a member.
        let (cid, uid) = (ch.id.clone(), caller.id().to_string());
        let now = now_nanos();
        state
            .db
            .write(move |tx| channels::join(tx, &cid, &uid, now).map(|_| ()))
            .await?;
    }
    let limit = crate::limits::limit(q.limit.unwrap_or(50));
    let skip = crate::limits::skip(q.skip);
    let out = state
        .db
        .read(move |c| {
            messages::list_top(c, &ch.id, skip, limit)?
                .iter()
                .map(|m| message_listed(c, m, true))
                .collect()
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
pub(super) struct PinnedQuery {
    page: Option<i64>,
}

pub(super) async fn pinned_messages(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<PinnedQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_with(&state, &caller, &id, "read").await?;
    let page = crate::limits::page(q.page.unwrap_or(1));
    let out = state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for m in messages::pinned(c, &ch.id, (page - 1) * PINNED_PAGE, PINNED_PAGE)? {
                let mut v = m.wire();
                v["data"] = summarized(&v["data"], m.app_id.is_some());
                v["user"] = author_of(c, &m)?;
                v["reactions"] = json!(messages::reactions(c, &m.id)?);
                out.push(v);
            }
            Ok(out)
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
pub(super) struct MessageForm {
    temp_id: Option<String>,
    content: String,
    reply_to_id: Option<String>,
    parent_id: Option<String>,
    data: Option<Map<String, Value>>,
}

pub(super) async fn post_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<MessageForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire) = load_with(&state, &caller, &id, "write").await?;
    let post = Post {
        temp_id: form.temp_id,
        content: form.content,
        reply_to_id: form.reply_to_id,
        parent_id: form.parent_id,
        data: form.data,
        meta: None,
    };
    let m =
        crate::channels::post::post(&state, &caller, &ch, &ch_wire, post, DEFAULT_ERROR).await?;
    crate::channels::mentions::spawn_answers(&state, &caller, &ch, &m);
    Ok(Json(m.wire()))
}

/// The message of this channel: 404 when missing, 400 when it belongs to
/// another channel.
async fn load_message(
    state: &AppState,
    channel_id: &str,
    message_id: &str,
) -> ApiResult<MessageRow> {
    let mid = message_id.to_string();
    let m = state.db.read(move |c| messages::get(c, &mid)).await?;
    match m {
        None => Err(ApiError::not_found(NOT_FOUND)),
        Some(m) if m.channel_id.as_deref() != Some(channel_id) => {
            Err(ApiError::bad_request(DEFAULT_ERROR))
        }
        Some(m) => Ok(m),
    }
}

pub(super) async fn get_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    load_with(&state, &caller, &id, "read").await?;
    let m = load_message(&state, &id, &message_id).await?;
    let out = state.db.read(move |c| message_full(c, &m, true)).await?;
    Ok(Json(out))
}

pub(super) async fn message_data(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    load_with(&state, &caller, &id, "read").await?;
    let m = load_message(&state, &id, &message_id).await?;
    Ok(Json(m.data.unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    is_pinned: bool,
}

pub(super) async fn pin_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<PinForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire) = load_with(&state, &caller, &id, "write").await?;
    load_message(&state, &id, &message_id).await?;
    let (mid, uid) = (message_id.clone(), caller.id().to_string());
    let now = now_nanos();
    let out = state
        .db
        .write(move |tx| {
            messages::set_pinned(tx, &mid, form.is_pinned, &uid, now)?;
            let m = messages::get(tx, &mid)?.expect("checked above");
            message_listed(tx, &m, true)
        })
        .await?;
    let ev = event(
        &ch_wire,
        &ch.id,
        &message_id,
        "message:update",
        out.clone(),
        name_wire(&caller),
    );
    live::emit_to_channel(&state, &ch.id, &ev).await;
    Ok(Json(out))
}

#[derive(Deserialize)]
pub(super) struct ThreadQuery {
    #[serde(default)]
    skip: i64,
    limit: Option<i64>,
    around: Option<String>,
    before: Option<String>,
}

pub(super) async fn thread_messages(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    QueryArgs(q): QueryArgs<ThreadQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, _) = load_with(&state, &caller, &id, "read").await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let anchor = match (
        q.before.filter(|s| !s.is_empty()),
        q.around.filter(|s| !s.is_empty()),
    ) {
        (Some(b), _) => Anchor::Before(b),
        (None, Some(a)) => Anchor::Around(a),
        _ => Anchor::Skip(crate::limits::skip(q.skip)),
    };
    let out = state
        .db
        .read(move |c| {
            messages::thread(c, &ch.id, &message_id, &anchor, limit)?
                .iter()
                .map(|m| message_listed(c, m, false))
                .collect()
        })
        .await?;
    Ok(Json(out))
}

/// Write access to the channel and authorship of the message (admins aside).
async fn load_own_message(
    state: &AppState,
    caller: &Caller,
    id: &str,
    message_id: &str,
) -> ApiResult<(ChannelRow, Value, MessageRow)> {
    let (ch, w) = load(state, id, |_, _| Ok(())).await?;
    let m = load_message(state, id, message_id).await?;
    let (c2, uid, admin) = (ch.clone(), caller.id().to_string(), caller.is_admin());
    let ok = state
        .db
        .read(move |c| has_access(c, &c2, &uid, admin, "write"))
        .await?;
    if !ok || (!caller.is_admin() && m.user_id.as_deref() != Some(caller.id())) {
        return Err(forbidden());
    }
    Ok((ch, w, m))
}

pub(super) async fn update_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<MessageForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire, _) = load_own_message(&state, &caller, &id, &message_id).await?;
    let now = now_nanos();
    let mid = message_id.clone();
    let (row, full) = state
        .db
        .write(move |tx| {
            let m = messages::update(tx, &mid, &form.content, form.data.as_ref(), None, now)?
                .expect("checked above");
            let full = message_full(tx, &m, true)?;
            Ok((m, full))
        })
        .await?;
    let ev = event(
        &ch_wire,
        &ch.id,
        &message_id,
        "message:update",
        full,
        name_wire(&caller),
    );
    live::emit_to_channel(&state, &ch.id, &ev).await;
    Ok(Json(row.wire()))
}

#[derive(Deserialize)]
pub(super) struct ReactionForm {
    name: String,
}

async fn react(
    state: &AppState,
    caller: &Caller,
    id: &str,
    message_id: &str,
    name: String,
    add: bool,
) -> ApiResult<Json<bool>> {
    check_enabled(state, Some(caller)).await?;
    crate::limits::check_name("name", &name)?;
    let (ch, ch_wire) = load_with(state, caller, id, "write").await?;
    load_message(state, id, message_id).await?;
    let (mid, uid, n) = (
        message_id.to_string(),
        caller.id().to_string(),
        name.clone(),
    );
    let now = now_nanos();
    let full = state
        .db
        .write(move |tx| {
            if add {
                messages::add_reaction(tx, &mid, &uid, &n, now)?;
            } else {
                messages::remove_reaction(tx, &mid, &uid, &n)?;
            }
            let m = messages::get(tx, &mid)?.expect("checked above");
            message_full(tx, &m, true)
        })
        .await?;
    let mut data = full;
    data["name"] = json!(name);
    let kind = if add {
        "message:reaction:add"
    } else {
        "message:reaction:remove"
    };
    let ev = event(&ch_wire, &ch.id, message_id, kind, data, name_wire(caller));
    live::emit_to_channel(state, &ch.id, &ev).await;
    Ok(Json(true))
}

/// `ADD` tells adding a reaction from removing one.
pub(super) async fn reaction<const ADD: bool>(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(form): JsonBody<ReactionForm>,
) -> ApiResult<Json<bool>> {
    react(&state, &caller, &id, &message_id, form.name, ADD).await
}

pub(super) async fn delete_message(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, Some(&caller)).await?;
    let (ch, ch_wire, m) = load_own_message(&state, &caller, &id, &message_id).await?;
    let mid = message_id.clone();
    let (full, parent) = state
        .db
        .write(move |tx| {
            let full = message_full(tx, &m, true)?;
            messages::delete_with_replies(tx, &mid)?;
            let parent = match &m.parent_id {
                Some(p) => match messages::get(tx, p)? {
                    Some(p) => Some(message_full(tx, &p, true)?),
                    None => None,
                },
                None => None,
            };
            Ok((full, parent))
        })
        .await?;
    let me = name_wire(&caller);
    let mut data = full;
    data["user"] = me.clone();
    let ev = event(
        &ch_wire,
        &ch.id,
        &message_id,
        "message:delete",
        data,
        me.clone(),
    );
    live::emit_to_channel(&state, &ch.id, &ev).await;
    if let Some(p) = parent {
        let pid = p["id"].as_str().unwrap_or_default().to_string();
        let ev = event(&ch_wire, &ch.id, &pid, "message:reply", p, me);
        live::emit_to_channel(&state, &ch.id, &ev).await;
    }
    Ok(Json(true))
}
