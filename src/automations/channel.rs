//! Automations whose target is a channel: the prompt is posted there as the
//! owner's message, and the automation's model answers it the way a model
//! mentioned in the channel does (in the thread or the channel, as
//! `channels.model_response_mode` says).

use serde_json::{json, Map, Value};

use crate::auth::{permissions, Caller};
use crate::channels::mentions;
use crate::channels::post::{post, Post};
use crate::db::channels::{self, ChannelRow};
use crate::error::messages::{DEFAULT, NOT_FOUND};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Whether `caller` may have an automation post into `channel_id`: channels
/// on, the channel exists (404 otherwise), and for non-admins the
/// `features.channels` permission and the right to write there (403).
pub async fn check_target(
    state: &AppState,
    caller: &Caller,
    channel_id: Option<&str>,
) -> ApiResult<(ChannelRow, Value)> {
    let id = channel_id.filter(|id| !id.is_empty());
    let Some(id) = id.filter(|_| state.config.get_bool("channels.enable")) else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    if !caller.is_admin() {
        let perms = permissions::effective(state, caller.id()).await?;
        if !permissions::allows(&perms, "features.channels") {
            return Err(ApiError::forbidden(DEFAULT));
        }
    }
    let (id, uid, admin) = (id.to_string(), caller.id().to_string(), caller.is_admin());
    state
        .db
        .try_read(move |c| {
            let Some(ch) = channels::get(c, &id)? else {
                return Err(ApiError::not_found(NOT_FOUND));
            };
            if !admin && !crate::access::channel_allows(c, &ch, &uid, false, "write")? {
                return Err(ApiError::forbidden(DEFAULT));
            }
            let wire = crate::channels::wire::channel_wire(c, &ch)?;
            Ok((ch, wire))
        })
        .await
}

/// Posts the prompt into the automation's channel and starts the model's
/// reply. Returns the channel's chat id (`channel:<id>`, as upstream records
/// it) and the reply's message id.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    automation_id: &str,
    target: &Value,
    prompt: &str,
    model_id: &str,
) -> anyhow::Result<(String, String)> {
    let channel_id = target.get("channel_id").and_then(Value::as_str);
    let (ch, ch_wire) = check_target(state, caller, channel_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => anyhow::anyhow!("Channel not found"),
            ApiError::Forbidden(_) => {
                anyhow::anyhow!("Owner no longer permitted to post in this channel")
            }
            e => anyhow::anyhow!("{e}"),
        })?;
    let models = crate::llm::list_models(state, caller).await?;
    let Some(model) = models.iter().find(|m| m["id"] == json!(model_id)) else {
        anyhow::bail!("Model not found");
    };
    let asked = post(
        state,
        caller,
        &ch,
        &ch_wire,
        Post {
            temp_id: None,
            content: prompt.to_string(),
            reply_to_id: None,
            parent_id: None,
            data: Some(Map::new()),
            meta: Some(json!({"automation_id": automation_id})),
        },
        DEFAULT,
    )
    .await?;
    let reply = mentions::answer(state, caller, &ch, &asked, model, Some(automation_id)).await?;
    Ok((format!("channel:{}", ch.id), reply))
}
