//! Terminal servers an admin connects in Settings → Integrations
//! (`terminal_server.connections`): plain Open Terminal instances and
//! orchestrators that run one terminal per user (or per chat). Users reach
//! them through us: the list of the servers they may use, an HTTP proxy
//! ([`proxy`]) and a WebSocket relay for interactive sessions ([`relay`]);
//! the admin's settings page verifies a server and reads or writes an
//! orchestrator's policies ([`admin`]).
//!
//! The URLs are the admin's, so they are called as configured (like tool
//! servers), without the private-address guard of user-supplied URLs.

pub mod admin;
mod path;
pub mod proxy;
pub mod relay;
pub mod tools;

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::toolserver::Audience;

pub use path::sanitize;

/// The header carrying the runtime context (`chat:<id>`) to an orchestrator.
pub const CONTEXT_HEADER: &str = "x-terminal-context-id";

/// The HTTP client for terminal servers: no redirects are followed (an
/// answer is relayed as it is), connections are given ten seconds.
pub(crate) fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()
            .expect("the HTTP client builds with static settings")
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Whether the connection is switched on (missing means on).
fn enabled(conn: &Value) -> bool {
    conn.get("enabled").and_then(Value::as_bool).unwrap_or(true)
}

/// The configured connections (an empty list when unset or malformed).
pub fn connections(state: &AppState) -> Vec<Value> {
    match state.config.get("terminal_server.connections") {
        Value::Array(list) => list,
        _ => Vec::new(),
    }
}

/// Whether a connection points at an orchestrator rather than a single
/// Open Terminal: its detected type says so, or it names a policy.
pub fn is_orchestrator(conn: &Value) -> bool {
    str_of(conn, "server_type") == "orchestrator" || !str_of(conn, "policy_id").trim().is_empty()
}

/// Percent-encoding of everything but unreserved characters: one opaque
/// path segment.
pub(crate) fn encode_segment(s: &str) -> String {
    crate::toolserver::openapi::encode_component(s)
}

/// The base URL requests go to: the configured URL, or an orchestrator's
/// named-policy route (`/p/<policy>`) when the connection names a policy.
pub fn server_url(conn: &Value) -> String {
    let base = str_of(conn, "url").trim_end_matches('/');
    match str_of(conn, "policy_id").trim() {
        "" => base.to_string(),
        policy => format!("{base}/p/{}", encode_segment(policy)),
    }
}

/// How a connection is offered in one context (`chat` or `automation`).
enum Context {
    /// Switched off for that context.
    Off,
    /// Offered; the settings (`context_id`) may be empty.
    On(Map<String, Value>),
}

fn context_config(conn: &Value, context: &str) -> Context {
    if !is_orchestrator(conn) {
        return Context::On(Map::new());
    }
    match conn.pointer("/config/contexts").and_then(Value::as_object) {
        Some(contexts) => match contexts.get(context) {
            Some(Value::Bool(false)) => Context::Off,
            Some(Value::Object(m)) => Context::On(m.clone()),
            _ => Context::On(Map::new()),
        },
        None => Context::On(Map::new()),
    }
}

/// Whether the connection is offered in chats.
pub fn in_chats(conn: &Value) -> bool {
    matches!(context_config(conn, "chat"), Context::On(_))
}

/// Whether every chat gets its own terminal, which needs a saved chat.
pub fn per_chat(conn: &Value) -> bool {
    match context_config(conn, "chat") {
        Context::On(m) => m.get("context_id").and_then(Value::as_str) == Some("chat_id"),
        Context::Off => false,
    }
}

/// Whether a chat id names a stored chat (not a temporary, legacy local or
/// channel one).
fn is_saved_chat(chat_id: &str) -> bool {
    !chat_id.is_empty()
        && !["temporary:", "local:", "channel:"]
            .iter()
            .any(|p| chat_id.starts_with(p))
}

/// The runtime context an orchestrator gets for a chat (`chat:<id>`), when
/// the connection keeps one terminal per chat and the chat is a saved one.
pub fn chat_context_id(conn: &Value, chat_id: &str) -> Option<String> {
    if !is_orchestrator(conn) || !per_chat(conn) || !is_saved_chat(chat_id) {
        return None;
    }
    Some(format!("chat:{chat_id}"))
}

/// The contexts as the browser reads them: `false` for switched off, else
/// `{context_id}` when it is one of the known sources, else `{}`.
fn contexts_for_clients(conn: &Value) -> Value {
    let mut out = Map::new();
    if !is_orchestrator(conn) {
        return Value::Object(out);
    }
    let Some(contexts) = conn.pointer("/config/contexts").and_then(Value::as_object) else {
        return Value::Object(out);
    };
    for (context, value) in contexts {
        let source = match context.as_str() {
            "chat" => "chat_id",
            "automation" => "automation_id",
            _ => continue,
        };
        let shown = match value {
            Value::Bool(false) => json!(false),
            Value::Object(m) => match m.get("context_id").and_then(Value::as_str) {
                Some(id) if id == "default" || id == source => json!({ "context_id": id }),
                _ => json!({}),
            },
            _ => continue,
        };
        out.insert(context.clone(), shown);
    }
    Value::Object(out)
}

/// How files a user attaches in a chat reach the terminal: `default` or
/// `filesystem`.
fn chat_uploads(conn: &Value) -> &'static str {
    match conn.pointer("/config/chat_uploads").and_then(Value::as_str) {
        Some("filesystem") => "filesystem",
        _ => "default",
    }
}

/// The enabled servers the caller may use, without their secrets.
pub async fn listed(state: &AppState, caller: &Caller) -> Vec<Value> {
    if !state.settings.env_flags.enable_tool_servers {
        return Vec::new();
    }
    let audience = Audience::of(state, caller).await;
    connections(state)
        .iter()
        .filter(|c| enabled(c) && audience.may_use(c))
        .map(|c| {
            json!({
                "id": str_of(c, "id"),
                "url": str_of(c, "url"),
                "name": str_of(c, "name"),
                "contexts": contexts_for_clients(c),
                "config": {"chat_uploads": chat_uploads(c)},
            })
        })
        .collect()
}

/// The connection `server_id` when the caller may use it now: 404 when
/// there is none, 403 when it is switched off or not shared with them.
pub async fn usable(state: &AppState, caller: &Caller, server_id: &str) -> ApiResult<Value> {
    if !state.settings.env_flags.enable_tool_servers {
        return Err(ApiError::forbidden("Tool servers are disabled"));
    }
    let Some(conn) = connections(state)
        .into_iter()
        .find(|c| c.get("id").and_then(Value::as_str) == Some(server_id))
    else {
        return Err(ApiError::not_found(format!(
            "There is no terminal server '{server_id}'."
        )));
    };
    if !enabled(&conn) {
        return Err(ApiError::forbidden("This terminal server is switched off."));
    }
    if !Audience::of(state, caller).await.may_use(&conn) {
        return Err(ApiError::forbidden(
            "You do not have access to this terminal server.",
        ));
    }
    Ok(conn)
}

/// The bearer token of an `Authorization` header, trimmed; `None` when empty.
fn bearer_value(token: &str) -> Option<String> {
    let token = token.trim();
    (!token.is_empty()).then(|| format!("Bearer {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_kinds() {
        let plain = json!({"url": "http://t:1/"});
        assert_eq!(server_url(&plain), "http://t:1");
        assert!(!is_orchestrator(&plain));
        let named = json!({"url": "http://o:1", "policy_id": "team a/b"});
        assert_eq!(server_url(&named), "http://o:1/p/team%20a%2Fb");
        assert!(is_orchestrator(&named));
        assert!(is_orchestrator(&json!({"server_type": "orchestrator"})));
    }

    #[test]
    fn chat_contexts() {
        let per_chat_conn = json!({"server_type": "orchestrator",
            "config": {"contexts": {"chat": {"context_id": "chat_id"}, "automation": false, "x": {}}}});
        assert!(in_chats(&per_chat_conn));
        assert!(per_chat(&per_chat_conn));
        assert_eq!(
            chat_context_id(&per_chat_conn, "c1").as_deref(),
            Some("chat:c1")
        );
        assert_eq!(chat_context_id(&per_chat_conn, "local:abc"), None);
        assert_eq!(chat_context_id(&per_chat_conn, ""), None);
        assert_eq!(
            contexts_for_clients(&per_chat_conn),
            json!({"chat": {"context_id": "chat_id"}, "automation": false})
        );
        let off = json!({"server_type": "orchestrator", "config": {"contexts": {"chat": false}}});
        assert!(!in_chats(&off));
        // A plain terminal ignores contexts altogether.
        let plain = json!({"config": {"contexts": {"chat": false}}});
        assert!(in_chats(&plain));
        assert_eq!(contexts_for_clients(&plain), json!({}));
    }
}
