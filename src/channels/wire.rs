//! Messages as the channel endpoints send them: author, quoted message,
//! thread figures and reactions, and the `events:channel` payload.

use crate::json::truthy;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::db::channels;
use crate::db::messages::{self, MessageRow};

/// Who a message shows as: the app, the webhook, or the author.
pub fn author_of(c: &Connection, m: &MessageRow) -> rusqlite::Result<Value> {
    if let Some(app_id) = &m.app_id {
        let name: Option<String> = c
            .query_row("SELECT name FROM app WHERE id = ?1", [app_id], |r| r.get(0))
            .ok();
        return Ok(json!({
            "id": app_id,
            "name": name.unwrap_or_else(|| "Removed App".into()),
            "role": "app",
        }));
    }
    if let Some(wid) = m.webhook_id() {
        let name = channels::webhook(c, wid)?
            .map(|w| w.name)
            .unwrap_or_else(|| "Deleted Webhook".into());
        return Ok(json!({"id": wid, "name": name, "role": "webhook"}));
    }
    Ok(match &m.user_id {
        Some(uid) => channels::person(c, uid)?
            .map(|p| p.name_wire())
            .unwrap_or(Value::Null),
        None => Value::Null,
    })
}

/// The channel as its endpoints and events send it, access grants included.
pub fn channel_wire(c: &Connection, ch: &channels::ChannelRow) -> rusqlite::Result<Value> {
    let grants = crate::db::access_grants::by_resource(c, channels::RESOURCE, &ch.id)?;
    Ok(ch.wire(&grants))
}

/// What list views show of `data`: whether there is any (app cards kept).
pub fn summarized(data: &Value, keep_app_data: bool) -> Value {
    let Some(m) = data.as_object() else {
        return json!(false);
    };
    if keep_app_data {
        return data.clone();
    }
    if let Some(embeds) = m
        .get("app")
        .and_then(|a| a.get("embeds"))
        .filter(|e| truthy(e))
    {
        return json!({"app": {"embeds": embeds}});
    }
    json!(m.values().any(truthy))
}

const MODEL_KEYS: [&str; 15] = [
    "id",
    "user_id",
    "app_id",
    "channel_id",
    "reply_to_id",
    "parent_id",
    "is_pinned",
    "pinned_by",
    "pinned_at",
    "content",
    "data",
    "meta",
    "created_at",
    "updated_at",
    "etag",
];

/// A quoted message: the message fields and author, `data` summarized.
fn slim(full: &Value) -> Value {
    let mut out = Map::new();
    for k in MODEL_KEYS.iter().chain(["user"].iter()) {
        out.insert(k.to_string(), full.get(*k).cloned().unwrap_or(Value::Null));
    }
    out.insert("data".into(), summarized(&full["data"], false));
    Value::Object(out)
}

/// `MessageResponse`: the message with author, quoted message, thread
/// figures (when `with_thread`) and reactions.
pub fn message_full(c: &Connection, m: &MessageRow, with_thread: bool) -> rusqlite::Result<Value> {
    let mut v = m.wire();
    v["user"] = author_of(c, m)?;
    // One level only: the quoted message is shown without what it quotes, so a
    // long (or circular) reply chain costs one lookup, not a recursion per link.
    v["reply_to_message"] = match &m.reply_to_id {
        Some(rid) => match messages::get(c, rid)? {
            Some(r) => {
                let mut quoted = r.wire();
                quoted["user"] = author_of(c, &r)?;
                slim(&quoted)
            }
            None => Value::Null,
        },
        None => Value::Null,
    };
    let (count, latest) = if with_thread {
        messages::reply_stats(c, &m.id)?
    } else {
        (0, None)
    };
    v["latest_reply_at"] = json!(latest);
    v["reply_count"] = json!(count);
    v["reactions"] = json!(messages::reactions(c, &m.id)?);
    Ok(v)
}

/// The list form of a message (`data` summarized unless an app posted it).
pub fn message_listed(
    c: &Connection,
    m: &MessageRow,
    with_thread: bool,
) -> rusqlite::Result<Value> {
    let mut v = message_full(c, m, with_thread)?;
    v["data"] = summarized(&v["data"], m.app_id.is_some());
    Ok(v)
}

pub fn event(
    ch_wire: &Value,
    channel_id: &str,
    message_id: &str,
    kind: &str,
    data: Value,
    user: Value,
) -> Value {
    json!({
        "channel_id": channel_id,
        "message_id": message_id,
        "data": {"type": kind, "data": data},
        "user": user,
        "channel": ch_wire,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_summaries() {
        assert_eq!(summarized(&Value::Null, false), json!(false));
        assert_eq!(summarized(&json!({"files": []}), false), json!(false));
        assert_eq!(
            summarized(&json!({"files": [{"id": "f"}]}), false),
            json!(true)
        );
        assert_eq!(
            summarized(&json!({"app": {"embeds": [1], "x": 2}}), false),
            json!({"app": {"embeds": [1]}})
        );
        assert_eq!(summarized(&json!({"a": 1}), true), json!({"a": 1}));
    }
}
