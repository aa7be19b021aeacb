//! Where a reply's events go when the turn answers a channel message
//! (`chat_id` = `channel:<id>`): instead of the user's tabs, the channel
//! message itself is updated and everyone in the channel sees it change.
//! Streaming updates are written at most every 150 ms; the last one, files
//! and errors always are.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::history::output_text;
use crate::db::{self, channels, messages};
use crate::state::AppState;

const EVERY: Duration = Duration::from_millis(150);

pub struct ChannelSink {
    state: AppState,
    channel_id: String,
    message_id: String,
    last: Mutex<Option<Instant>>,
}

/// What one event changes on the message.
struct Change {
    content: Option<String>,
    data: Option<Map<String, Value>>,
    done: bool,
}

/// The message, when it still exists in that channel.
fn in_channel(
    c: &rusqlite::Connection,
    message_id: &str,
    channel_id: &str,
) -> rusqlite::Result<Option<messages::MessageRow>> {
    Ok(messages::get(c, message_id)?.filter(|m| m.channel_id.as_deref() == Some(channel_id)))
}

impl ChannelSink {
    /// A sink for `chat_id` when it names a channel, else `None`.
    pub fn for_chat(state: &AppState, chat_id: &str, message_id: &str) -> Option<ChannelSink> {
        let channel_id = chat_id.strip_prefix("channel:")?;
        if channel_id.is_empty() || message_id.is_empty() {
            return None;
        }
        Some(ChannelSink {
            state: state.clone(),
            channel_id: channel_id.to_string(),
            message_id: message_id.to_string(),
            last: Mutex::new(None),
        })
    }

    fn due(&self, force: bool) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if !force && last.is_some_and(|t| now.duration_since(t) < EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    pub async fn handle(&self, kind: &str, data: &Value) {
        let change = match kind {
            "chat:completion" => self.completion(data),
            "files" | "chat:message:files" => self.files(data).await,
            "chat:message:error" => {
                let text = match data.get("error") {
                    Some(Value::Object(e)) => e
                        .get("content")
                        .and_then(Value::as_str)
                        .unwrap_or("An error occurred")
                        .to_string(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "An error occurred".to_string(),
                };
                Some(Change {
                    content: Some(format!("Error: {text}")),
                    data: None,
                    done: true,
                })
            }
            _ => None,
        };
        if let Some(change) = change {
            self.apply(change).await;
        }
    }

    fn completion(&self, data: &Value) -> Option<Change> {
        let output = data.get("output").filter(|o| o.is_array());
        let mut content = data
            .get("content")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| output_text(output));
        let done = data.get("done").and_then(Value::as_bool).unwrap_or(false);
        if content.is_empty() {
            if let Some(msg) = data.pointer("/error/content").and_then(Value::as_str) {
                content = format!("Error: {msg}");
            }
        }
        if content.is_empty() && output.is_none() && !done {
            return None;
        }
        let flush = data.get("flush").and_then(Value::as_bool).unwrap_or(false);
        if !self.due(done || flush) {
            return None;
        }
        let data = output.map(|o| {
            let mut m = Map::new();
            m.insert("output".into(), o.clone());
            m
        });
        Some(Change {
            content: Some(content),
            data,
            done,
        })
    }

    /// Files the reply made: registered with the channel, linked to the
    /// message and put in front of the ones it already carries.
    async fn files(&self, data: &Value) -> Option<Change> {
        let mut files: Vec<Value> = data.get("files")?.as_array()?.clone();
        if files.is_empty() {
            return None;
        }
        let (cid, mid) = (self.channel_id.clone(), self.message_id.clone());
        let stored = self
            .state
            .db
            .write(move |tx| {
                let Some(m) = in_channel(tx, &mid, &cid)? else {
                    return Ok(None);
                };
                let owner = m.user_id.clone().unwrap_or_default();
                for f in files.iter_mut() {
                    let Some(id) = f.get("id").and_then(Value::as_str).map(str::to_string) else {
                        continue;
                    };
                    f["url"] = json!(id);
                    channels::add_file(tx, &cid, &id, &owner, db::now_secs())?;
                    channels::set_file_message(tx, &cid, &id, &mid, db::now_secs())?;
                }
                if let Some(earlier) = m.data.as_ref().and_then(|d| d.get("files")) {
                    files.extend(earlier.as_array().cloned().unwrap_or_default());
                }
                Ok(Some((m.content, files)))
            })
            .await;
        match stored {
            Ok(Some((content, files))) => {
                let mut data = Map::new();
                data.insert("files".into(), Value::Array(files));
                Some(Change {
                    content: Some(content),
                    data: Some(data),
                    done: false,
                })
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not attach a reply's files to its channel message");
                None
            }
        }
    }

    async fn apply(&self, change: Change) {
        let (cid, mid) = (self.channel_id.clone(), self.message_id.clone());
        let updated = self
            .state
            .db
            .write(move |tx| {
                let Some(m) = in_channel(tx, &mid, &cid)? else {
                    return Ok(None);
                };
                let content = change.content.unwrap_or(m.content);
                let mut meta = Map::new();
                if change.done {
                    meta.insert("done".into(), json!(true));
                }
                let meta = (!meta.is_empty()).then_some(&meta);
                let now = db::now_nanos();
                messages::update(tx, &mid, &content, change.data.as_ref(), meta, now)
            })
            .await;
        let row = match updated {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not update a channel reply");
                return;
            }
        };
        let payload = json!({
            "channel_id": self.channel_id,
            "message_id": self.message_id,
            "data": {"type": "message:update", "data": row.wire()},
        });
        crate::events::to_channel(&self.state, &self.channel_id, &payload).await;
    }
}
