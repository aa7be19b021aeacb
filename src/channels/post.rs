//! Storing a new channel message and telling the channel about it.

use serde_json::{json, Map, Value};

use super::wire::{event, message_full};
use crate::auth::Caller;
use crate::db::channels::{self, ChannelRow};
use crate::db::messages::{self, MessageRow, NewMessage};
use crate::db::{self, now_nanos};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A message to post. `meta` is the server's own (model replies), never the
/// client's.
pub struct Post {
    pub temp_id: Option<String>,
    pub content: String,
    pub reply_to_id: Option<String>,
    pub parent_id: Option<String>,
    pub data: Option<Map<String, Value>>,
    pub meta: Option<Value>,
}

/// Stores `post` in the channel as `caller`'s message, links the files it
/// carries, and sends `message` (and `message:reply` to the thread's first
/// message) to everyone in the channel. A thread or quote that points
/// outside the channel is refused with `bad_request_detail`.
pub async fn post(
    state: &AppState,
    caller: &Caller,
    ch: &ChannelRow,
    ch_wire: &Value,
    post: Post,
    bad_request_detail: &'static str,
) -> ApiResult<MessageRow> {
    let uid = caller.id().to_string();
    let now = now_nanos();
    let files: Vec<String> = post
        .data
        .as_ref()
        .and_then(|d| d.get("files"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let cid = ch.id.clone();
    let membership = ch.is_membership();
    let temp_id = post.temp_id.clone();
    let stored = state
        .db
        .write(move |tx| {
            // Threads and quotes stay inside their channel.
            for r in [&post.parent_id, &post.reply_to_id].into_iter().flatten() {
                match messages::get(tx, r)? {
                    Some(m) if m.channel_id.as_deref() == Some(cid.as_str()) => {}
                    _ => return Ok(None),
                }
            }
            channels::join(tx, &cid, &uid, now)?;
            let m = messages::insert(
                tx,
                &NewMessage {
                    user_id: uid,
                    channel_id: cid.clone(),
                    content: post.content,
                    reply_to_id: post.reply_to_id,
                    parent_id: post.parent_id,
                    data: post.data.map(Value::Object),
                    meta: post.meta,
                },
                now,
            )?;
            if membership {
                channels::activate_all(tx, &cid, now)?;
            }
            for f in &files {
                channels::set_file_message(tx, &cid, f, &m.id, db::now_secs())?;
            }
            let full = message_full(tx, &m, true)?;
            let parent = match &m.parent_id {
                Some(p) => match messages::get(tx, p)? {
                    Some(p) => Some(message_full(tx, &p, true)?),
                    None => None,
                },
                None => None,
            };
            Ok(Some((m, full, parent)))
        })
        .await?;
    let Some((m, full, parent)) = stored else {
        return Err(ApiError::bad_request(bad_request_detail));
    };
    let mut data = Map::new();
    data.insert("temp_id".into(), json!(temp_id));
    if let Value::Object(f) = full {
        data.extend(f);
    }
    let me = super::author_wire(caller);
    let ev = event(
        ch_wire,
        &ch.id,
        &m.id,
        "message",
        Value::Object(data),
        me.clone(),
    );
    crate::events::to_channel(state, &ch.id, &ev).await;
    crate::apps::channel::publish(state, &m, "channel.message.created");
    if let Some(p) = parent {
        let pid = p["id"].as_str().unwrap_or_default().to_string();
        let ev = event(ch_wire, &ch.id, &pid, "message:reply", p, me);
        crate::events::to_channel(state, &ch.id, &ev).await;
    }
    Ok(m)
}
