//! What a connected app may ask of us (`app:request` operations), the
//! messages it posts with its own identity, and users' invocations of an app
//! (a button on an app's message) with what the app answers.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::channel::{event, invocation_access, membership, message_data, publish, require_scope};
use super::{crypto, get_app, response, Gate};
use crate::auth::Caller;
use crate::channels::wire::{author_of, channel_wire, event as channel_event, message_full};
use crate::db::apps::{self as store, AppRow};
use crate::db::messages::{self, MessageRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn bad(msg: &str) -> ApiError {
    ApiError::bad_request(msg)
}

/// An error with a status `ApiError` has no variant for (412, 428, ...).
fn status(code: u16, msg: impl Into<String>) -> ApiError {
    ApiError::Relayed {
        status: reqwest::StatusCode::from_u16(code).unwrap_or(reqwest::StatusCode::BAD_GATEWAY),
        detail: Value::String(msg.into()),
    }
}

/// [`execute`] as the connection calls it.
pub fn run(
    state: AppState,
    app: AppRow,
    op: String,
    args: Value,
) -> futures::future::BoxFuture<'static, ApiResult<Value>> {
    Box::pin(async move { execute(&state, &app, &op, args).await })
}

/// Runs one operation for the app.
pub async fn execute(state: &AppState, app: &AppRow, op: &str, args: Value) -> ApiResult<Value> {
    let Value::Object(mut args) = args else {
        return Err(bad("Invalid app operation arguments"));
    };
    match op {
        "get_me" if args.is_empty() => Ok(response(app)),
        "list_channels" if args.is_empty() => list_channels(state, app).await,
        "verify_event" | "authorize" => {
            let token = only_token(&args)?;
            if op == "verify_event" {
                let mut v =
                    crypto::read_context_token(&state.settings.secret_key, app, "event", &token)?;
                let cid = v.pointer_str("/channel/id");
                membership(state, app, &cid).await?;
                require_scope(app, "channels:messages:read")?;
                v.retain(|k, _| !matches!(k.as_str(), "purpose" | "exp" | "nonce"));
                Ok(Value::Object(v))
            } else {
                authorize(state, app, &token).await
            }
        }
        "list_messages" => history(state, app, args).await,
        "create_message" | "update_message" => {
            let key = if op == "create_message" {
                "channel_id"
            } else {
                "message_id"
            };
            let id = args
                .remove(key)
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|s| (1..=100).contains(&s.len()))
                .ok_or_else(|| bad("Invalid resource ID"))?;
            let etag = if op == "update_message" {
                args.remove("etag")
            } else {
                None
            };
            let form = AppMessage::parse(Value::Object(args))?;
            if op == "create_message" {
                Ok(create_message(state, app, &id, form).await?.1)
            } else {
                let etag = etag
                    .and_then(|e| e.as_str().map(str::to_string))
                    .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| status(428, "If-Match is required"))?;
                update_message(state, app, &id, form, &etag).await
            }
        }
        _ => Err(bad("Unknown app operation")),
    }
}

trait PointerStr {
    fn pointer_str(&self, p: &str) -> String;
}

impl PointerStr for Map<String, Value> {
    fn pointer_str(&self, p: &str) -> String {
        Value::Object(self.clone())
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

fn only_token(args: &Map<String, Value>) -> ApiResult<String> {
    match (args.len(), args.get("token").and_then(Value::as_str)) {
        (1, Some(t)) if t.len() <= 1_048_576 => Ok(t.to_string()),
        _ => Err(bad("Invalid app operation arguments")),
    }
}

async fn list_channels(state: &AppState, app: &AppRow) -> ApiResult<Value> {
    if !state.config.get_bool("channels.enable") {
        return Err(ApiError::forbidden("Channels are disabled"));
    }
    get_app(state, &app.id, Gate::Active).await?;
    require_scope(app, "channels:read")?;
    let aid = app.id.clone();
    let out = state
        .db
        .read(move |c| {
            let mut out = vec![];
            for id in store::channel_ids_of(c, &aid)? {
                let Some(ch) = crate::db::channels::get(c, &id)? else { continue };
                let is_private = if ch.kind.as_deref() == Some("group") {
                    ch.is_private == Some(true)
                } else {
                    !crate::db::access_grants::by_resource(c, crate::db::channels::RESOURCE, &ch.id)?
                        .iter()
                        .any(|g| g.principal_id == "*")
                };
                out.push(json!({"id": ch.id, "name": ch.name, "type": ch.kind, "is_private": is_private}));
            }
            Ok(out)
        })
        .await?;
    Ok(Value::Array(out))
}

async fn authorize(state: &AppState, app: &AppRow, token: &str) -> ApiResult<Value> {
    let v = crypto::read_context_token(&state.settings.secret_key, app, "execution", token)?;
    let actor = v.pointer_str("/actor_id");
    let user = {
        let a = actor.clone();
        state.db.read(move |c| crate::db::users::get(c, &a)).await?
    }
    .ok_or_else(|| ApiError::forbidden("Actor is unavailable"))?;
    let caller = Caller {
        user,
        via_api_key: false,
        claims: None,
        token: String::new(),
    };
    let cid = v.pointer_str("/channel_id");
    invocation_access(state, app, &cid, &caller).await?;
    if let Some(scope) = v.get("scope").and_then(Value::as_str) {
        require_scope(app, scope)?;
    }
    Ok(json!({
        "authorized": true,
        "operation_id": v.get("operation_id"),
        "actor": {"id": caller.user.id, "name": caller.user.name, "is_admin": caller.is_admin()},
        "channel_id": cid,
        "type": v.get("type"),
        "data": v.get("data"),
    }))
}

async fn history(state: &AppState, app: &AppRow, args: Map<String, Value>) -> ApiResult<Value> {
    let known = ["channel_id", "parent_id", "before", "limit"];
    if args.keys().any(|k| !known.contains(&k.as_str())) {
        return Err(bad("Invalid app operation arguments"));
    }
    let s = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    let cid = s("channel_id").ok_or_else(|| bad("Invalid app operation arguments"))?;
    let limit = match args.get("limit") {
        None => 50,
        Some(v) => v
            .as_i64()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| bad("Invalid app operation arguments"))?,
    };
    membership(state, app, &cid).await?;
    require_scope(app, "channels:messages:read")?;
    let (parent, before) = (s("parent_id"), s("before"));
    state
        .db
        .try_read(move |c| {
            if let Some(p) = &parent {
                if messages::get(c, p)?.and_then(|m| m.channel_id) != Some(cid.clone()) {
                    return Err(ApiError::not_found("Thread not found"));
                }
            }
            let cursor = match &before {
                Some(b) => Some(
                    messages::get(c, b)?
                        .filter(|m| {
                            m.channel_id.as_deref() == Some(cid.as_str()) && m.parent_id == parent
                        })
                        .ok_or_else(|| bad("Invalid message cursor"))?,
                ),
                None => None,
            };
            let rows = store::history(c, &cid, parent.as_deref(), cursor.as_ref(), limit + 1)?;
            let next = if rows.len() as i64 > limit {
                Some(rows[limit as usize - 1].id.clone())
            } else {
                None
            };
            let list: Vec<Value> = rows.iter().take(limit as usize).map(message_data).collect();
            Ok(json!({"messages": list, "next_cursor": next}))
        })
        .await
}

/// A message an app posts: text, buttons and cards.
pub struct AppMessage {
    pub content: String,
    pub actions: Vec<Value>,
    pub embeds: Vec<Value>,
    pub reply_to_id: Option<String>,
    pub parent_id: Option<String>,
}

fn link_ok(v: &Value) -> bool {
    v.as_str().is_some_and(|u| {
        u.len() <= 2048
            && !u.chars().any(|c| (c as u32) <= 32)
            && reqwest::Url::parse(u).is_ok_and(|p| {
                matches!(p.scheme(), "http" | "https")
                    && p.host_str().is_some()
                    && p.username().is_empty()
                    && p.password().is_none()
            })
    })
}

fn text_len(v: &Value, max: usize, min: usize) -> Option<usize> {
    let n = v.as_str()?.chars().count();
    (min..=max).contains(&n).then_some(n)
}

impl AppMessage {
    /// Checks the shape upstream accepts; unknown keys are refused.
    pub fn parse(v: Value) -> ApiResult<AppMessage> {
        let invalid = || bad("Invalid app message");
        let Value::Object(m) = v else {
            return Err(invalid());
        };
        let known = ["content", "actions", "embeds", "reply_to_id", "parent_id"];
        if m.keys().any(|k| !known.contains(&k.as_str())) {
            return Err(invalid());
        }
        let content = match m.get("content") {
            None => String::new(),
            Some(c) => c
                .as_str()
                .filter(|s| s.chars().count() <= 32000)
                .ok_or_else(invalid)?
                .to_string(),
        };
        let list = |k: &str, max: usize| -> ApiResult<Vec<Value>> {
            match m.get(k) {
                None => Ok(vec![]),
                Some(Value::Array(a)) if a.len() <= max => Ok(a.clone()),
                _ => Err(invalid()),
            }
        };
        let mut actions = list("actions", 30)?;
        for a in &mut actions {
            let Value::Object(o) = a else {
                return Err(invalid());
            };
            if o.keys()
                .any(|k| !["action_id", "label", "url", "context"].contains(&k.as_str()))
            {
                return Err(invalid());
            }
            text_len(o.get("label").unwrap_or(&Value::Null), 200, 1).ok_or_else(invalid)?;
            let id = o.get("action_id").filter(|v| !v.is_null());
            let url = o.get("url").filter(|v| !v.is_null());
            let ctx = o.get("context").cloned().unwrap_or(json!({}));
            let ok = match (id, url) {
                (Some(i), None) => text_len(i, 100, 1).is_some() && ctx.is_object(),
                (None, Some(u)) => link_ok(u) && ctx.as_object().is_some_and(|c| c.is_empty()),
                _ => false,
            };
            if !ok {
                return Err(invalid());
            }
            let label = o["label"].clone();
            *a = json!({"action_id": id, "label": label, "url": url, "context": ctx});
        }
        let embeds = list("embeds", 10)?;
        let mut total = 0;
        for e in &embeds {
            let Value::Object(o) = e else {
                return Err(invalid());
            };
            let keys = [
                "title",
                "description",
                "url",
                "color",
                "author",
                "footer",
                "thumbnail",
                "fields",
            ];
            if o.keys().any(|k| !keys.contains(&k.as_str())) {
                return Err(invalid());
            }
            let t = |k: &str, max| match o.get(k) {
                None => Some(0),
                Some(v) => text_len(v, max, 0),
            };
            total += t("title", 256).ok_or_else(invalid)?
                + t("description", 4096).ok_or_else(invalid)?;
            if let Some(u) = o.get("url").filter(|v| !v.is_null()) {
                if !link_ok(u) {
                    return Err(invalid());
                }
            }
            if let Some(c) = o.get("color").filter(|v| !v.is_null()) {
                c.as_u64().filter(|n| *n <= 0xFF_FFFF).ok_or_else(invalid)?;
            }
            if let Some(f) = o.get("fields").and_then(Value::as_array) {
                if f.len() > 25 {
                    return Err(invalid());
                }
                for field in f {
                    total += text_len(&field["name"], 256, 1).ok_or_else(invalid)?
                        + text_len(&field["value"], 1024, 1).ok_or_else(invalid)?;
                }
            }
        }
        if total > 6000 {
            return Err(invalid());
        }
        let id = |k: &str| -> ApiResult<Option<String>> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                _ => Err(invalid()),
            }
        };
        Ok(AppMessage {
            content,
            actions,
            embeds,
            reply_to_id: id("reply_to_id")?,
            parent_id: id("parent_id")?,
        })
    }

    fn data(&self) -> Value {
        json!({"app": {"actions": self.actions, "embeds": self.embeds}})
    }
}

/// Posts the app's message into a channel it belongs to and tells the
/// channel; returns the row and its `MessageModel` form.
pub async fn create_message(
    state: &AppState,
    app: &AppRow,
    channel_id: &str,
    form: AppMessage,
) -> ApiResult<(MessageRow, Value)> {
    let ch = membership(state, app, channel_id).await?;
    require_scope(app, "channels:messages:write")?;
    let (aid, cid) = (app.id.clone(), ch.id.clone());
    let now = crate::db::now_nanos();
    let (m, full, wire) = state
        .db
        .try_write(move |c| {
            for r in [&form.parent_id, &form.reply_to_id].into_iter().flatten() {
                if messages::get(c, r)?.and_then(|m| m.channel_id) != Some(cid.clone()) {
                    return Err(bad("Invalid message reference"));
                }
            }
            let data = form.data();
            let new = store::NewAppMessage {
                app_id: &aid,
                channel_id: &cid,
                content: &form.content,
                data: &data,
                parent_id: form.parent_id.as_deref(),
                reply_to_id: form.reply_to_id.as_deref(),
            };
            let m = store::insert_message(c, &new, now)?;
            let full = message_full(c, &m, true)?;
            let ch = crate::db::channels::get(c, &cid)?
                .ok_or_else(|| ApiError::not_found("Channel unavailable"))?;
            Ok((m, full, channel_wire(c, &ch)?))
        })
        .await?;
    let author = full["user"].clone();
    let ev = channel_event(&wire, &ch.id, &m.id, "message", full, author);
    crate::events::to_channel(state, &ch.id, &ev).await;
    publish(state, &m, "channel.message.created");
    Ok((m.clone(), m.wire()))
}

/// Rewrites the app's own message if it still has the `etag` it read.
pub async fn update_message(
    state: &AppState,
    app: &AppRow,
    message_id: &str,
    form: AppMessage,
    etag: &str,
) -> ApiResult<Value> {
    let mid = message_id.to_string();
    let existing = state.db.read(move |c| messages::get(c, &mid)).await?;
    let Some(existing) = existing.filter(|m| m.app_id.as_deref() == Some(app.id.as_str())) else {
        return Err(ApiError::not_found("App message not found"));
    };
    let cid = existing.channel_id.clone().unwrap_or_default();
    membership(state, app, &cid).await?;
    require_scope(app, "channels:messages:write")?;
    let etag: i64 = etag.parse().map_err(|_| status(412, "Message changed"))?;
    if etag != existing.updated_at {
        return Err(status(412, "Message changed"));
    }
    let (aid, id) = (app.id.clone(), existing.id.clone());
    let now = crate::db::now_nanos();
    let updated = state
        .db
        .try_write(move |c| {
            let Some(m) =
                store::update_message(c, &id, &aid, etag, &form.content, &form.data(), now)?
            else {
                return Err(status(412, "Message changed"));
            };
            let full = message_full(c, &m, true)?;
            let author = author_of(c, &m)?;
            let ch = crate::db::channels::get(c, &cid)?
                .ok_or_else(|| ApiError::not_found("Channel unavailable"))?;
            Ok((m, full, author, channel_wire(c, &ch)?))
        })
        .await?;
    let (m, full, author, wire) = updated;
    let cid = m.channel_id.clone().unwrap_or_default();
    let ev = channel_event(&wire, &cid, &m.id, "message:update", full, author);
    crate::events::to_channel(state, &cid, &ev).await;
    publish(state, &m, "channel.message.updated");
    Ok(m.wire())
}

/// A user presses a button on the app's message: the app hears
/// `channel.action` and answers with an acknowledgement, a private reply, a
/// channel message or an update of its message.
pub async fn interaction(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    message_id: &str,
    action_id: &str,
) -> ApiResult<Value> {
    if action_id.is_empty() || action_id.chars().count() > 100 {
        return Err(super::manifest::invalid(
            "action_id must be 1 to 100 characters",
        ));
    }
    let app = get_app(state, app_id, Gate::Active).await?;
    let mid = message_id.to_string();
    let message = state.db.read(move |c| messages::get(c, &mid)).await?;
    let Some(message) = message.filter(|m| m.app_id.as_deref() == Some(app.id.as_str())) else {
        return Err(ApiError::not_found("App message not found"));
    };
    let cid = message.channel_id.clone().unwrap_or_default();
    invocation_access(state, &app, &cid, caller).await?;
    let action = message
        .data
        .as_ref()
        .and_then(|d| d.pointer("/app/actions"))
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|x| x["action_id"].as_str() == Some(action_id))
                .cloned()
        })
        .ok_or_else(|| bad("Unknown action"))?;
    let data = json!({
        "message_id": message.id,
        "etag": message.updated_at.to_string(),
        "parent_id": message.parent_id,
        "action_id": action_id,
        "context": action["context"],
    });
    let source = json!({"id": message.id, "updated_at": message.updated_at});
    reply(
        state,
        &app,
        caller,
        &cid,
        "channel.action",
        data,
        Some(source),
    )
    .await
}

/// Sends an invocation and acts on the app's reply.
async fn reply(
    state: &AppState,
    app: &AppRow,
    caller: &Caller,
    channel_id: &str,
    kind: &str,
    data: Value,
    source: Option<Value>,
) -> ApiResult<Value> {
    invocation_access(state, app, channel_id, caller).await?;
    let operation_id = uuid::Uuid::new_v4().to_string();
    let mut ctx = Map::new();
    ctx.insert("actor_id".into(), json!(caller.id()));
    ctx.insert("channel_id".into(), json!(channel_id));
    ctx.insert("operation_id".into(), json!(operation_id));
    ctx.insert("scope".into(), Value::Null);
    ctx.insert("type".into(), json!(kind));
    ctx.insert("data".into(), data.clone());
    let token = crypto::context_token(&state.settings.secret_key, app, "execution", &ctx, 86400);
    let envelope = json!({
        "id": operation_id,
        "type": kind,
        "actor": {"id": caller.id(), "name": caller.user.name, "is_admin": caller.is_admin()},
        "channel": {"id": channel_id},
        "data": data,
        "execution_token": token,
        "source": source,
    });
    let (code, raw) = event(state, app, envelope, Duration::from_secs(3)).await?;
    if code != 200 {
        let detail = match code {
            401 => "App rejected the API key. Update the key in app settings.".to_string(),
            403 => "App rejected event authorization. Check the app server logs.".to_string(),
            404 => "App event endpoint was not found.".to_string(),
            413 => "App rejected the event because it is too large.".to_string(),
            503 => "App is busy or shutting down. The event was not accepted.".to_string(),
            504 => "App processing timed out; the outcome may be unknown.".to_string(),
            c => format!("App answered HTTP {c}. Check the app server logs."),
        };
        return Err(status(
            if (400..600).contains(&code) {
                code
            } else {
                502
            },
            detail,
        ));
    }
    let fresh = get_app(state, &app.id, Gate::Active).await?;
    if fresh.api_key != app.api_key
        || fresh.data.pointer("/manifest/public_key") != app.data.pointer("/manifest/public_key")
    {
        return Err(ApiError::forbidden("App credentials changed"));
    }
    let invalid = || ApiError::BadGateway("App returned an invalid response".into());
    let Value::Object(mut r) = raw else {
        return Err(invalid());
    };
    let kind = r
        .remove("type")
        .map(|v| v.as_str().map(str::to_string))
        .unwrap_or(Some("message".into()))
        .ok_or_else(invalid)?;
    let visibility = r
        .remove("visibility")
        .map(|v| v.as_str().map(str::to_string))
        .unwrap_or(Some("private".into()))
        .ok_or_else(invalid)?;
    let title = r.remove("title").unwrap_or(json!(""));
    let filename = r.remove("filename").unwrap_or(json!("report.md"));
    if !["message", "update", "ack", "download", "error"].contains(&kind.as_str())
        || !["private", "channel"].contains(&visibility.as_str())
    {
        return Err(invalid());
    }
    let msg = AppMessage::parse(Value::Object(r)).map_err(|_| invalid())?;
    invocation_access(state, &fresh, channel_id, caller).await?;
    if kind == "ack" {
        if !msg.content.is_empty() || !msg.actions.is_empty() || !msg.embeds.is_empty() {
            return Err(invalid());
        }
        return Ok(json!({"type": "ack"}));
    }
    if !msg.actions.is_empty()
        && (visibility != "channel" || !["message", "update"].contains(&kind.as_str()))
    {
        return Err(ApiError::BadGateway(
            "Buttons require a channel message".into(),
        ));
    }
    let mut value = json!({
        "content": msg.content, "actions": msg.actions, "embeds": msg.embeds,
        "reply_to_id": msg.reply_to_id, "parent_id": msg.parent_id,
        "type": kind, "visibility": visibility, "title": title, "filename": filename,
    });
    if kind == "message" && visibility == "channel" {
        value["message"] = create_message(state, &fresh, channel_id, msg).await?.1;
    } else if kind == "update" {
        let Some(src) = source else {
            return Err(bad("Message update requires a source message"));
        };
        let id = src["id"].as_str().unwrap_or_default().to_string();
        let etag = src["updated_at"].as_i64().unwrap_or_default().to_string();
        value["message"] = update_message(state, &fresh, &id, msg, &etag).await?;
    }
    Ok(value)
}
