//! Models answering in channels. A message that mentions a model
//! (`<@M:model-id|label>`), or that replies to a model's message, gets an
//! answer from that model: an empty message with `meta.model_id` is posted at
//! once (in the thread, or in the channel when `CHANNEL_MODEL_RESPONSE_MODE`
//! is `channel`), and the completion pipeline fills it in as it streams,
//! through the channel sink of `chat::events`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::post::{post, Post};
use crate::auth::Caller;
use crate::db::channels::ChannelRow;
use crate::db::messages::{self, Anchor, MessageRow};
use crate::db::users;
use crate::error::ApiResult;
use crate::state::AppState;

/// Messages of the thread the model is shown.
const HISTORY: i64 = 50;

/// A mention in message text: its kind letter (`M` model, `U` user, …) and id.
#[derive(Debug, PartialEq)]
pub struct Mention {
    pub kind: char,
    pub id: String,
}

/// Finds `<@K:id>` and `<@K:id|label>` mentions, in order.
pub fn mentions(text: &str) -> Vec<Mention> {
    scan(text).into_iter().map(|(_, m, _)| m).collect()
}

/// The text with each mention replaced by its label (its id when it has none).
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, m, label) in scan(text) {
        out.push_str(&text[at..range.start]);
        out.push_str(label.unwrap_or(&m.id));
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

type Found<'a> = (std::ops::Range<usize>, Mention, Option<&'a str>);

fn scan(text: &str) -> Vec<Found<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(off) = text[from..].find("<@") {
        let start = from + off;
        from = start + 2;
        let rest = &text[start + 2..];
        let mut chars = rest.chars();
        let (Some(kind), Some(':')) = (chars.next(), chars.next()) else {
            continue;
        };
        if !kind.is_ascii_uppercase() {
            continue;
        }
        let body = &rest[2..];
        let Some(end) = body.find('>') else {
            continue;
        };
        let inner = &body[..end];
        let (id, label) = match inner.split_once('|') {
            Some((id, label)) => (id, Some(label).filter(|l| !l.is_empty())),
            None => (inner, None),
        };
        if id.is_empty() || (inner.contains('|') && label.is_none()) {
            continue;
        }
        let close = start + 2 + 2 + end + 1;
        let mention = Mention {
            kind,
            id: id.to_string(),
        };
        found.push((start..close, mention, label));
        from = close;
    }
    found
}

/// Starts the answers of the models `message` calls on, in the background.
pub fn spawn_answers(state: &AppState, caller: &Caller, ch: &ChannelRow, message: &MessageRow) {
    let mut wanted: Vec<String> = mentions(&message.content)
        .into_iter()
        .filter(|m| m.kind == 'M')
        .map(|m| m.id)
        .collect();
    let (state, caller, ch, message) = (state.clone(), caller.clone(), ch.clone(), message.clone());
    tokio::spawn(async move {
        // A reply to a model's message asks that model again.
        if let Some(rid) = message.reply_to_id.clone() {
            let quoted = state.db.read(move |c| messages::get(c, &rid)).await;
            if let Ok(Some(q)) = quoted {
                if let Some(id) = q.meta.as_ref().and_then(|m| m["model_id"].as_str()) {
                    wanted.insert(0, id.to_string());
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        wanted.retain(|id| seen.insert(id.clone()));
        if wanted.is_empty() {
            return;
        }
        let models = match crate::llm::list_models(&state, &caller).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "channel mention: the model list failed");
                return;
            }
        };
        for id in wanted {
            let Some(model) = models.iter().find(|m| m["id"] == json!(id)) else {
                continue;
            };
            if let Err(e) = answer(&state, &caller, &ch, &message, model, None).await {
                tracing::warn!(error = %e, model = %id, "a model could not answer in a channel");
            }
        }
    });
}

/// Posts the model's (empty) reply to `message` and starts the turn that
/// fills it in; the reply's id. A reply an automation asked for carries its
/// id in `meta`.
pub async fn answer(
    state: &AppState,
    caller: &Caller,
    ch: &ChannelRow,
    message: &MessageRow,
    model: &Value,
    automation_id: Option<&str>,
) -> ApiResult<String> {
    let model_id = model["id"].as_str().unwrap_or_default().to_string();
    let name = model["name"].as_str().unwrap_or(&model_id).to_string();
    let thread_id = message
        .parent_id
        .clone()
        .unwrap_or_else(|| message.id.clone());
    let (cid, tid) = (ch.id.clone(), thread_id.clone());
    let (thread, ch_wire) = state
        .db
        .read(move |c| {
            let mut rows = messages::thread(c, &cid, &tid, &Anchor::Skip(0), HISTORY)?;
            rows.reverse();
            let ids: Vec<String> = rows.iter().filter_map(|m| m.user_id.clone()).collect();
            let mut names = HashMap::new();
            for id in ids {
                if let Some(u) = users::get(c, &id)? {
                    names.insert(id, u.name);
                }
            }
            let ch = crate::db::channels::get(c, &cid)?;
            let wire = match ch {
                Some(ch) => super::wire::channel_wire(c, &ch)?,
                None => Value::Null,
            };
            Ok(((rows, names), wire))
        })
        .await?;
    let in_thread = state.config.get_str("channels.model_response_mode") != "channel";
    let parent_id = message
        .parent_id
        .clone()
        .or_else(|| in_thread.then(|| message.id.clone()));
    let reply = post(
        state,
        caller,
        ch,
        &ch_wire,
        Post {
            temp_id: None,
            content: String::new(),
            reply_to_id: None,
            parent_id,
            data: Some(Map::new()),
            meta: Some(match automation_id {
                Some(a) => json!({"model_id": model_id, "model_name": name, "automation_id": a}),
                None => json!({"model_id": model_id, "model_name": name}),
            }),
        },
        crate::error::messages::DEFAULT,
    )
    .await?;

    let (rows, names) = thread;
    let mut history = Vec::new();
    let mut images = Vec::new();
    let mut files = Vec::new();
    for m in &rows {
        let who = match m.meta.as_ref().and_then(|x| x["model_id"].as_str()) {
            Some(mid) => model_name(mid, state, caller).await,
            None => m
                .user_id
                .as_ref()
                .and_then(|u| names.get(u))
                .cloned()
                .unwrap_or_else(|| "Unknown".into()),
        };
        history.push(format!("{who}: {}", plain(&m.content)));
        let attached = m.data.as_ref().and_then(|d| d["files"].as_array());
        for f in attached.into_iter().flatten() {
            let ctype = f["content_type"].as_str().unwrap_or("");
            if f["type"] == "image" {
                images.push(f["url"].as_str().unwrap_or("").to_string());
            } else if ctype.starts_with("image/") {
                let id = f["id"].as_str().unwrap_or("");
                if let Some(url) = crate::images::file_as_data_url(state, caller, id).await {
                    images.push(url);
                }
            } else if f["id"].as_str().is_some_and(|s| !s.is_empty()) {
                files.push(f.clone());
            }
        }
    }
    let mut system = format!(
        "You are {name}, one of the participants in a channel conversation. Answer briefly and naturally, the way people talk in a chat."
    );
    if !history.is_empty() {
        system.push_str(&format!(
            " The conversation so far:\n\n{}\n\nReply as {name} to the newest message, keeping the earlier ones in mind.",
            history.join("\n\n")
        ));
    }
    let text = format!("{}: {}", caller.user.name, plain(&message.content));
    let content = if images.is_empty() {
        json!(text)
    } else {
        let mut parts = vec![json!({"type": "text", "text": text})];
        parts.extend(
            images
                .into_iter()
                .map(|u| json!({"type": "image_url", "image_url": {"url": u}})),
        );
        Value::Array(parts)
    };
    let mut body = model_defaults(state, model);
    body.insert("model".into(), json!(model_id));
    body.insert(
        "messages".into(),
        json!([{"role": "system", "content": system}, {"role": "user", "content": content}]),
    );
    body.insert("stream".into(), json!(true));
    body.insert("chat_id".into(), json!(format!("channel:{}", ch.id)));
    body.insert("id".into(), json!(reply.id));
    body.insert("session_id".into(), json!(format!("channel:{}", ch.id)));
    body.insert("background_tasks".into(), json!({}));
    if !files.is_empty() {
        body.insert("files".into(), Value::Array(files));
    }
    crate::chat::complete::handle(state.clone(), caller.clone(), Value::Object(body)).await?;
    Ok(reply.id)
}

async fn model_name(model_id: &str, state: &AppState, caller: &Caller) -> String {
    let models = crate::llm::list_models(state, caller)
        .await
        .unwrap_or_default();
    models
        .iter()
        .find(|m| m["id"] == json!(model_id))
        .and_then(|m| m["name"].as_str())
        .unwrap_or(model_id)
        .to_string()
}

/// What a turn without a browser takes from the model's settings: its tools
/// and filters, and the features it turns on by default that its
/// capabilities and the admin allow (the code interpreter needs a browser).
pub fn model_defaults(state: &AppState, model: &Value) -> Map<String, Value> {
    let meta = model.pointer("/info/meta").cloned().unwrap_or(Value::Null);
    let mut out = Map::new();
    let list = |k: &str| meta[k].as_array().filter(|a| !a.is_empty()).cloned();
    if let Some(t) = list("toolIds") {
        out.insert("tool_ids".into(), Value::Array(t));
    }
    if let Some(f) = list("defaultFilterIds") {
        out.insert("filter_ids".into(), Value::Array(f));
    }
    let mut features = Map::new();
    for f in meta["defaultFeatureIds"].as_array().into_iter().flatten() {
        let Some(f) = f.as_str() else { continue };
        let admin_on = match f {
            "web_search" => state.config.get_bool("web.search.enable"),
            "image_generation" => state.config.get_bool("image_generation.enable"),
            _ => false,
        };
        if admin_on && meta["capabilities"][f].as_bool() == Some(true) {
            features.insert(f.to_string(), json!(true));
        }
    }
    if !features.is_empty() {
        out.insert("features".into(), Value::Object(features));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_and_shown_by_label() {
        let t = "<@M:gpt-4.1|GPT-4> and <@U:u1> hi <@x:y> <@M:|z> <@M:q|>";
        assert_eq!(
            mentions(t),
            vec![
                Mention {
                    kind: 'M',
                    id: "gpt-4.1".into()
                },
                Mention {
                    kind: 'U',
                    id: "u1".into()
                },
            ]
        );
        assert_eq!(plain(t), "GPT-4 and u1 hi <@x:y> <@M:|z> <@M:q|>");
        assert_eq!(plain("no mentions <@M:open"), "no mentions <@M:open");
        assert_eq!(plain("é <@M:m|Ünï> ü"), "é Ünï ü");
    }
}
