//! A user's whole chat collection at once: exports, and bulk archive, unshare
//! and delete.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::common::{allowed, unauthorized};
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::chats;
use crate::db::{access_grants, shared_chats, tags};
use crate::error::messages::ACCESS_PROHIBITED;
use crate::error::ApiResult;
use crate::state::AppState;

// ---------------------------------------------------------------------------
// Whole-collection exports

/// `GET /api/v1/chats/all`: every chat as one NDJSON line, read in batches.
pub(super) async fn export_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> Response {
    const BATCH: i64 = 100;
    let uid = caller.user.id.clone();
    let stream = futures::stream::unfold(Some(0i64), move |offset| {
        let (state, uid) = (state.clone(), uid.clone());
        async move {
            let offset = offset?;
            let u = uid.clone();
            let rows = state
                .db
                .read(move |c| {
                    chats::all_for_user(c, &u, false, None, false, Some((BATCH, offset)))
                })
                .await;
            match rows {
                Ok(rows) if !rows.is_empty() => {
                    let mut buf = Vec::new();
                    for r in &rows {
                        buf.extend_from_slice(chats::response(r).to_string().as_bytes());
                        buf.push(b'\n');
                    }
                    let next = (rows.len() as i64 == BATCH).then_some(offset + BATCH);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), next))
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(error = ?e, "chat export failed");
                    None
                }
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

pub(super) async fn all_archived(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let rows = state
        .db
        .read(move |c| chats::all_for_user(c, &uid, true, None, false, None))
        .await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}

pub(super) async fn all_in_db(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Vec<Value>>> {
    if !state.settings.env_flags.enable_admin_export {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let rows = state.db.read(chats::all_chats).await?;
    Ok(Json(rows.iter().map(chats::response).collect()))
}

// ---------------------------------------------------------------------------
// Bulk changes

pub(super) async fn delete_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    if caller.user.role == "user" && !allowed(&state, &caller, "chat.delete").await? {
        return Err(unauthorized(ACCESS_PROHIBITED));
    }
    let uid = caller.user.id.clone();
    let ids = state
        .db
        .write(move |tx| {
            let tag_ids: Vec<String> = tags::list_for_user(tx, &uid)?
                .into_iter()
                .map(|t| t.id)
                .collect();
            let chat_ids: Vec<String> = chats::all_for_user(tx, &uid, false, None, false, None)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            chats::delete_all_for_user(tx, &uid)?;
            chats::delete_orphan_tags(tx, &tag_ids, &uid, 0)?;
            Ok(chat_ids)
        })
        .await?;
    for id in ids {
        state.tasks.cancel_chat(&id);
    }
    Ok(Json(true))
}

pub(super) async fn archive_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    state
        .db
        .write(move |tx| chats::archive_all(tx, &uid))
        .await?;
    Ok(Json(true))
}

pub(super) async fn unarchive_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    state
        .db
        .write(move |tx| {
            let tag_ids = chats::archived_tag_ids(tx, &uid)?;
            chats::unarchive_all(tx, &uid)?;
            tags::ensure_exist(tx, &tag_ids, &uid)
        })
        .await?;
    Ok(Json(true))
}

pub(super) async fn unshare_all(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    let uid = caller.user.id.clone();
    state
        .db
        .write(move |tx| {
            let chat_ids = shared_chats::chat_ids_by_user(tx, &uid)?;
            shared_chats::delete_all_by_user(tx, &uid)?;
            for id in &chat_ids {
                chats::set_share_id(tx, id, None)?;
            }
            access_grants::delete_for(tx, "shared_chat", &chat_ids)?;
            Ok(())
        })
        .await?;
    Ok(Json(true))
}
