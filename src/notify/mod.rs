//! Events this server publishes to the outside: each goes to the admin's
//! event webhooks that subscribe to it (config `events.webhooks`), and the
//! notification events (a finished or failed reply, …) also go to the
//! notification targets of the users they concern.
//!
//! Published so far: `user.created` (an admin adds an account, or a sign-up),
//! `chat.finished`, `chat.failed`, `config.webhook.updated` and the
//! `pipeline.*` events of the Pipelines settings page. Delivery runs
//! in its own task and never holds up the request that caused the event.

pub mod catalog;
pub mod event_webhooks;
pub mod post;
mod targets;

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::db::now_secs;
use crate::db::users::UserRow;
use crate::settings::VERSION;
use crate::state::AppState;

/// Events a user's notification target may subscribe to.
pub const NOTIFICATION_EVENTS: &[&str] = &[
    "chat.finished",
    "chat.failed",
    "channel.message",
    "calendar.alert",
    "retrieval.content.process_failed",
];

/// The user fields an event's `actor` may carry.
fn actor_of(user: &UserRow) -> Value {
    let mut a = Map::new();
    a.insert("id".into(), json!(user.id));
    a.insert("name".into(), json!(user.name));
    a.insert("email".into(), json!(user.email));
    a.insert("role".into(), json!(user.role));
    if let Some(t) = user.created_at {
        a.insert("created_at".into(), json!(t));
    }
    if let Some(t) = user.updated_at {
        a.insert("updated_at".into(), json!(t));
    }
    a.insert("type".into(), json!("user"));
    Value::Object(a)
}

/// One event in upstream's envelope: `event` splits into `resource` and
/// `operation`; `subject` is `{type, id}`; `data` is free-form.
pub struct Event {
    pub name: &'static str,
    pub actor: Option<Value>,
    pub subject: Option<(String, String)>,
    pub source: &'static str,
    pub data: Value,
    pub message: Option<String>,
}

impl Event {
    pub fn new(name: &'static str, actor: Option<&UserRow>) -> Event {
        Event {
            name,
            actor: actor.map(actor_of),
            subject: None,
            source: "api",
            data: json!({}),
            message: None,
        }
    }

    pub fn subject(mut self, kind: &str, id: &str) -> Event {
        self.subject = Some((kind.to_string(), id.to_string()));
        self
    }

    pub fn source(mut self, source: &'static str) -> Event {
        self.source = source;
        self
    }

    pub fn data(mut self, data: Value) -> Event {
        self.data = data;
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Event {
        self.message = Some(message.into());
        self
    }

    fn envelope(&self) -> Value {
        let (resource, operation) = self.name.rsplit_once('.').unwrap_or(("", self.name));
        json!({
            "schema": VERSION,
            "id": uuid::Uuid::new_v4().to_string(),
            "event": self.name,
            "resource": resource,
            "operation": operation,
            "created_at": now_secs(),
            "instance_id": Value::Null,
            "version": VERSION,
            "source": self.source,
            "actor": self.actor,
            "subject": self.subject.as_ref().map(|(t, id)| json!({"type": t, "id": id})),
            "data": self.data,
            "message": self.message,
        })
    }
}

/// The users an event concerns: its actor, a user subject, `data.user_id`
/// and `data.user_ids`.
pub fn event_user_ids(event: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut add = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            ids.insert(s.to_string());
        }
    };
    add(event.pointer("/actor/id"));
    if event.pointer("/subject/type").and_then(Value::as_str) == Some("user") {
        add(event.pointer("/subject/id"));
    }
    add(event.pointer("/data/user_id"));
    if let Some(list) = event.pointer("/data/user_ids").and_then(Value::as_array) {
        for v in list {
            add(Some(v));
        }
    }
    ids
}

/// The server's name as webhook messages carry it.
fn app_name(state: &AppState) -> String {
    let n = state.config.get_str("ui.name");
    if n.is_empty() {
        "Open WebUI".into()
    } else {
        n
    }
}

/// Publishes `event`: delivery to the subscribed webhooks and notification
/// targets runs in the background.
pub fn publish(state: &AppState, event: Event) {
    let envelope = event.envelope();
    let state = state.clone();
    tokio::spawn(async move {
        event_webhooks::dispatch(&state, &envelope).await;
        if NOTIFICATION_EVENTS.contains(&envelope["event"].as_str().unwrap_or("")) {
            targets::dispatch(&state, &envelope).await;
        }
    });
}
