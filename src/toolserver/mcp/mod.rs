//! MCP tool servers: admin connections of `type: "mcp"`, reached over the
//! streamable-HTTP transport with rmcp as the protocol client.
//!
//! A chat turn that selects `server:mcp:<id>` opens (or reuses) a session
//! for that connection and caller, lists the server's tools and offers them
//! to the model named `<id>_<tool>`. A call's answer becomes the text the
//! model reads; a failure (the server's `isError`, a timeout, a server that
//! went away) becomes an `{"error": …}` result, never a failed chat.
//!
//! Sessions are kept per connection, caller and header set for a few idle
//! minutes; a session the server forgot is re-created once (rmcp does that
//! on a 404, and we reconnect once when the transport itself is gone).

mod http;
mod result;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{json, Map, Value};

use super::{headers_for, str_of, Audience, CallContext};
use crate::auth::Caller;
use crate::state::AppState;

pub use result::{answer_text, Picture};

/// How long an unused session is kept.
const IDLE_FOR: Duration = Duration::from_secs(300);
/// Sessions kept at most; the least recently used goes first.
const MAX_SESSIONS: usize = 64;
/// Tool names longer than this are shortened (providers refuse them).
const MAX_NAME: usize = 64;

/// `MCP_INITIALIZE_TIMEOUT` (seconds, default 10): connecting and listing.
fn setup_timeout() -> Duration {
    Duration::from_secs(
        super::env_secs("MCP_INITIALIZE_TIMEOUT")
            .unwrap_or(10)
            .max(1),
    )
}

/// The auth types we cannot serve, with what to tell the user.
fn unsupported_auth(conn: &Value) -> Option<String> {
    let auth = conn
        .get("auth_type")
        .and_then(Value::as_str)
        .unwrap_or("none");
    match auth {
        "system_oauth" | "oauth_2.1" | "oauth_2.1_static" => Some(format!(
            "this MCP connection signs in with `{auth}`, which this server does not support yet; \
             use a bearer key, the user's session or no auth"
        )),
        _ => None,
    }
}

/// The enabled MCP connections with their `info.id`.
fn connections(state: &AppState) -> Vec<(String, Value)> {
    if !state.settings.env_flags.enable_tool_servers {
        return Vec::new();
    }
    state
        .config
        .get("tool_server.connections")
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("mcp"))
        .filter(|c| c.pointer("/config/enable").and_then(Value::as_bool) == Some(true))
        .filter_map(|c| {
            let id = c.pointer("/info/id").and_then(Value::as_str)?;
            Some((id.to_string(), c.clone()))
        })
        .collect()
}

/// The MCP connections as `GET /api/v1/tools/` lists them for the caller.
pub fn listed(state: &AppState, audience: &Audience<'_>, now: i64) -> Vec<Value> {
    connections(state)
        .into_iter()
        .filter(|(_, c)| audience.may_use(c))
        .map(|(id, c)| {
            let id = format!("server:mcp:{id}");
            let info = c.get("info").cloned().unwrap_or(Value::Null);
            let name = info
                .get("name")
                .cloned()
                .unwrap_or(json!("MCP Tool Server"));
            let description = info.get("description").cloned().unwrap_or(json!(""));
            let mut entry = json!({
                "version_id": null, "id": id, "user_id": id, "name": name,
                "meta": {"description": description, "manifest": {}, "has_user_valves": false},
                "access_grants": [], "updated_at": now, "created_at": now, "user": null,
            });
            if matches!(str_of(&c, "auth_type"), "oauth_2.1" | "oauth_2.1_static") {
                // No OAuth tokens are held here, so never signed in.
                entry["authenticated"] = json!(false);
            }
            entry
        })
        .collect()
}

/// One live MCP session.
pub struct Session {
    service: RunningService<RoleClient, ClientConfig>,
}

impl Session {
    /// What the server asks the model to know about its tools.
    pub fn instructions(&self) -> Option<String> {
        self.service
            .peer_info()
            .and_then(|i| i.instructions.clone())
            .filter(|s| !s.trim().is_empty())
    }
}

/// Where a session goes and how it signs in.
#[derive(Clone)]
pub struct Link {
    key: Key,
    url: String,
    headers: HeaderMap,
}

impl Link {
    fn new(conn_id: &str, user_id: &str, url: &str, headers: HeaderMap) -> Link {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        url.hash(&mut h);
        let mut pairs: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        pairs.sort();
        pairs.hash(&mut h);
        Link {
            key: (conn_id.to_string(), user_id.to_string(), h.finish()),
            url: url.to_string(),
            headers,
        }
    }
}

/// Connection id, user id, and a hash of the URL and headers.
type Key = (String, String, u64);

struct Kept {
    session: Arc<Session>,
    used: Instant,
}

fn sessions() -> &'static Mutex<HashMap<Key, Kept>> {
    static SESSIONS: std::sync::OnceLock<Mutex<HashMap<Key, Kept>>> = std::sync::OnceLock::new();
    SESSIONS.get_or_init(Default::default)
}

/// Opens a new session: the transport on our HTTP client, then the
/// protocol's handshake, within the set-up timeout.
async fn connect(url: &str, headers: HeaderMap) -> Result<Session, String> {
    if url.trim().is_empty() {
        return Err("the connection has no URL".into());
    }
    let client = http::Http {
        client: crate::llm::client().clone(),
        headers,
    };
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .max_json_response_size(http::MAX_MESSAGE)
        .max_sse_event_size(http::MAX_MESSAGE)
        .reinit_on_expired_session(true);
    let transport = StreamableHttpClientTransport::with_client(client, config);
    let me = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("open-webui", env!("CARGO_PKG_VERSION")),
    );
    let service = tokio::time::timeout(setup_timeout(), me.serve(transport))
        .await
        .map_err(|_| format!("{url} did not finish the MCP handshake in time"))?
        .map_err(|e| format!("could not open an MCP session with {url}: {e}"))?;
    Ok(Session { service })
}

/// The kept session of a link, or a new one.
async fn session_for(link: &Link) -> Result<Arc<Session>, String> {
    {
        let mut kept = sessions().lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|_, k| k.used.elapsed() < IDLE_FOR && !k.session.service.is_closed());
        if let Some(k) = kept.get_mut(&link.key) {
            k.used = Instant::now();
            return Ok(k.session.clone());
        }
    }
    let session = Arc::new(connect(&link.url, link.headers.clone()).await?);
    let mut kept = sessions().lock().unwrap_or_else(|p| p.into_inner());
    while kept.len() >= MAX_SESSIONS {
        let oldest = kept
            .iter()
            .min_by_key(|(_, k)| k.used)
            .map(|(key, _)| key.clone());
        match oldest {
            Some(key) => kept.remove(&key),
            None => break,
        };
    }
    kept.insert(
        link.key.clone(),
        Kept {
            session: session.clone(),
            used: Instant::now(),
        },
    );
    Ok(session)
}

fn forget(link: &Link) {
    sessions()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&link.key);
}

/// Whether listing may be tried once more on a new session: the session's
/// transport ended or a message could not be delivered.
fn session_gone(e: &ServiceError) -> bool {
    matches!(
        e,
        ServiceError::TransportClosed | ServiceError::TransportSend(_)
    )
}

/// Whether a call may be tried once more on a new session: only when the
/// server cannot have run it (the transport had ended, or the server said
/// the session is unknown), so a tool never runs twice.
fn call_never_ran(e: &ServiceError) -> bool {
    let ServiceError::TransportSend(sent) = e else {
        return matches!(e, ServiceError::TransportClosed);
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(sent.error.as_ref());
    while let Some(c) = cause {
        if let Some(StreamableHttpError::SessionExpired) =
            c.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A tool of a server as the model is offered it.
#[derive(Debug, Clone)]
pub struct OfferedTool {
    /// The tool's own name on the server.
    pub name: String,
    /// `{name, description, parameters}`.
    pub spec: Value,
}

async fn list(session: &Session) -> Result<Vec<OfferedTool>, ServiceError> {
    let tools = tokio::time::timeout(setup_timeout(), session.service.peer().list_all_tools())
        .await
        .map_err(|_| ServiceError::Timeout {
            timeout: setup_timeout(),
        })??;
    Ok(tools
        .into_iter()
        .map(|t| OfferedTool {
            name: t.name.to_string(),
            spec: json!({
                "name": t.name,
                "description": t.description,
                "parameters": Value::Object((*t.input_schema).clone()),
            }),
        })
        .collect())
}

/// An MCP server opened for a turn.
pub struct Opened {
    pub id: String,
    pub link: Link,
    pub tools: Vec<OfferedTool>,
    pub instructions: Option<String>,
}

/// Opens the MCP connection `id` for the caller: `Ok(None)` when it is not
/// an enabled MCP connection or the caller may not use it; `Err` when it
/// could not be reached or signs in a way we cannot.
pub async fn open(
    state: &AppState,
    audience: &Audience<'_>,
    caller: &Caller,
    id: &str,
    cx: &CallContext<'_>,
) -> Result<Option<Opened>, String> {
    let Some((_, conn)) = connections(state).into_iter().find(|(i, _)| i == id) else {
        return Ok(None);
    };
    if !audience.may_use(&conn) {
        return Ok(None);
    }
    if let Some(why) = unsupported_auth(&conn) {
        return Err(why);
    }
    let link = Link::new(
        id,
        caller.id(),
        str_of(&conn, "url"),
        headers_for(&conn, caller, cx),
    );
    let mut session = session_for(&link).await?;
    let tools = match list(&session).await {
        Err(e) if session_gone(&e) => {
            forget(&link);
            session = session_for(&link).await?;
            list(&session).await
        }
        other => other,
    }
    .map_err(|e| format!("could not list the tools of MCP server {id}: {e}"))?;
    let tools = tools
        .into_iter()
        .filter(|t| super::offers(&conn, &t.name))
        .collect();
    Ok(Some(Opened {
        id: id.to_string(),
        instructions: session.instructions(),
        link,
        tools,
    }))
}

/// The name the model sees for a server's tool: `<server id>_<tool>`,
/// shortened with a hash when longer than providers accept.
pub fn model_name(server_id: &str, tool: &str) -> String {
    let name = format!("{server_id}_{tool}");
    if name.len() <= MAX_NAME {
        return name;
    }
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let mut cut = 55;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], &digest[..8])
}

/// Calls a tool; the text is what the model reads, the pictures go beside it.
pub async fn call(
    link: &Link,
    tool: &str,
    args: &Map<String, Value>,
) -> (String, Vec<result::Picture>) {
    let run = |session: Arc<Session>| {
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args.clone());
        async move {
            let limit = super::call_timeout();
            match tokio::time::timeout(limit, session.service.call_tool(params)).await {
                Ok(r) => r,
                Err(_) => Err(ServiceError::Timeout { timeout: limit }),
            }
        }
    };
    // What the model (and the user, in the stored result) reads when the
    // server cannot be reached; the cause, which may name the URL, is logged.
    let server = &link.key.0;
    let unreachable = |why: &dyn std::fmt::Display| {
        tracing::warn!(server = %server, tool, error = %why, "MCP call failed");
        super::error_text(&format!("the MCP server {server} could not be reached"))
    };
    let session = match session_for(link).await {
        Ok(s) => s,
        Err(e) => return (unreachable(&e), Vec::new()),
    };
    let outcome = match run(session).await {
        Err(e) if call_never_ran(&e) => {
            forget(link);
            match session_for(link).await {
                Ok(s) => run(s).await,
                Err(e) => return (unreachable(&e), Vec::new()),
            }
        }
        other => other,
    };
    let text = match outcome {
        Ok(result) => match serde_json::to_value(&result) {
            Ok(v) => return (answer_text(tool, &v), result::images(&v)),
            Err(e) => super::error_text(&format!("the tool's answer could not be read: {e}")),
        },
        Err(ServiceError::Timeout { timeout }) => super::error_text(&format!(
            "the MCP tool {tool} did not answer within {} s",
            timeout.as_secs()
        )),
        Err(ServiceError::McpError(e)) => super::error_text(&e.message),
        Err(e) => unreachable(&e),
    };
    (text, Vec::new())
}

/// Why the tools of an MCP connection could not be shown.
#[derive(Debug)]
pub enum Discovery {
    /// Not an enabled MCP connection the caller may use.
    NotFound,
    TimedOut,
    Failed(String),
}

/// How long showing a server's tools may take.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// The names and descriptions of an MCP connection's tools, for the chat's
/// tool-server overview (`GET /api/v1/tools/id/server:mcp:<id>/specs`).
pub async fn specs(state: &AppState, caller: &Caller, id: &str) -> Result<Vec<Value>, Discovery> {
    let audience = Audience::of(state, caller).await;
    let cx = CallContext::default();
    let opened = tokio::time::timeout(DISCOVERY_TIMEOUT, open(state, &audience, caller, id, &cx))
        .await
        .map_err(|_| Discovery::TimedOut)?
        .map_err(Discovery::Failed)?
        .ok_or(Discovery::NotFound)?;
    Ok(opened
        .tools
        .into_iter()
        .map(|t| json!({"name": t.name, "description": t.spec["description"].as_str().unwrap_or("")}))
        .collect())
}

/// The admin's "verify" of an MCP connection: a fresh session and its tool
/// list, answered as `{"status": true, "specs": [...]}`.
pub async fn verify(conn: &Value, caller: &Caller) -> Result<Value, String> {
    if let Some(why) = unsupported_auth(conn) {
        return Err(why);
    }
    let headers = headers_for(conn, caller, &CallContext::default());
    let session = connect(str_of(conn, "url"), headers).await?;
    let listed = list(&session).await.map_err(|e| e.to_string());
    let _ = session.service.cancel().await;
    let specs: Vec<Value> = listed?.into_iter().map(|t| t.spec).collect();
    Ok(json!({"status": true, "specs": specs}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened() {
        assert_eq!(model_name("fs", "read"), "fs_read");
        let long = model_name("a-server-with-a-long-id", &"x".repeat(60));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("a-server-with-a-long-id_xxx"));
        assert_ne!(long, model_name("a-server-with-a-long-id", &"x".repeat(61)));
    }

    #[test]
    fn oauth_is_refused_with_a_reason() {
        for auth in ["system_oauth", "oauth_2.1", "oauth_2.1_static"] {
            let why = unsupported_auth(&json!({"auth_type": auth})).unwrap();
            assert!(why.contains(auth), "{why}");
        }
        for auth in ["bearer", "session", "none"] {
            assert!(unsupported_auth(&json!({"auth_type": auth})).is_none());
        }
    }
}
