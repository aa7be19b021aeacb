//! The tags of one chat.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::common::{error_default, load_accessible, unauthorized, who, DEFAULT_ERROR};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::db::chats;
use crate::db::tags;
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(super) async fn chat_tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let w = who(&state, &caller);
    let rows = state
        .db
        .read(move |c| {
            let Some(chat) = load_accessible(c, &w, &id, false)? else {
                return Ok(None);
            };
            tags::get_by_ids(c, &chat.tag_ids(), &chat.user_id).map(Some)
        })
        .await?
        .ok_or_else(|| unauthorized(NOT_FOUND))?;
    Ok(Json(rows.iter().map(tags::TagRow::wire).collect()))
}

#[derive(Deserialize)]
pub(super) struct TagForm {
    name: String,
}

pub(super) async fn add_tag(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<TagForm>,
) -> ApiResult<Json<Vec<Value>>> {
    crate::limits::check_name("name", &form.name)?;
    let uid = caller.user.id.clone();
    let out = state
        .db
        .try_write(move |tx| {
            let Some(chat) = chats::get_for_user(tx, &id, &uid)? else {
                return Err(unauthorized(DEFAULT_ERROR));
            };
            let tag_id = tags::normalize_id(&form.name);
            if tag_id == "none" {
                return Err(ApiError::bad_request(error_default(
                    "Tag name cannot be 'None'",
                )));
            }
            let ids = if chat.tag_ids().contains(&tag_id) {
                chat.tag_ids()
            } else {
                chats::add_tags(tx, &id, &uid, std::slice::from_ref(&form.name))?
            };
            Ok(tags::get_by_ids(tx, &ids, &uid)?)
        })
        .await?;
    Ok(Json(out.iter().map(tags::TagRow::wire).collect()))
}

pub(super) async fn remove_tag(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<TagForm>,
) -> ApiResult<Json<Vec<Value>>> {
    let uid = caller.user.id.clone();
    let out = state
        .db
        .write(move |tx| {
            if chats::get_for_user(tx, &id, &uid)?.is_none() {
                return Ok(None);
            }
            chats::remove_tag(tx, &id, &form.name)?;
            if chats::count_by_tag(tx, &tags::normalize_id(&form.name), &uid)? == 0 {
                tags::delete_by_name(tx, &form.name, &uid)?;
            }
            let ids = chats::get(tx, &id)?
                .map(|c| c.tag_ids())
                .unwrap_or_default();
            tags::get_by_ids(tx, &ids, &uid).map(Some)
        })
        .await?
        .ok_or_else(|| unauthorized(NOT_FOUND))?;
    Ok(Json(out.iter().map(tags::TagRow::wire).collect()))
}
