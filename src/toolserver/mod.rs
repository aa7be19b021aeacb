//! Tool servers an admin connects in Settings → Tools
//! (`tool_server.connections`): OpenAPI servers whose operations the model
//! may call in a chat. Their documents are fetched once and kept for a few
//! minutes (and again as soon as the connections change); a call goes to the
//! server with the connection's credentials and its answer becomes the text
//! the model reads.
//!
//! MCP connections (`type: "mcp"`) live in [`mcp`]: the same access rules,
//! auth headers and name filter, reached with the MCP protocol instead.

pub mod mcp;
pub mod openapi;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

use crate::access;
use crate::auth::Caller;
use crate::state::AppState;

/// How long a fetched set of documents is used before it is fetched again.
const FRESH_FOR: Duration = Duration::from_secs(300);
/// Largest OpenAPI document read.
const MAX_DOCUMENT: usize = 8 * 1024 * 1024;
/// Largest tool answer read.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// One reachable OpenAPI tool server.
#[derive(Debug)]
pub struct Server {
    /// `info.id` of the connection, else its position.
    pub id: String,
    pub url: String,
    /// The document, its `info` title and description replaced by the
    /// connection's name and description where those are set.
    pub doc: Value,
    /// The function specs of its operations.
    pub specs: Vec<Value>,
    pub connection: Value,
}

impl Server {
    pub fn title(&self) -> &str {
        self.doc
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or("Tool Server")
    }
    pub fn description(&self) -> &str {
        self.doc
            .pointer("/info/description")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// The function names the connection lets through
    /// (`config.function_name_filter_list`, comma-separated, `!` to block).
    pub fn offers(&self, name: &str) -> bool {
        offers(&self.connection, name)
    }
}

/// Whether a connection's `config.function_name_filter_list`
/// (comma-separated, `!` to block) lets a function name through.
fn offers(conn: &Value, name: &str) -> bool {
    let filter = conn.pointer("/config/function_name_filter_list");
    let list: Vec<String> = match filter {
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    name_allowed(name, &list)
}

/// The allow/block rule of upstream's filter lists: entries are suffixes;
/// with any allow entry a name must end in one; a `!` entry blocks.
fn name_allowed(name: &str, list: &[String]) -> bool {
    let entries: Vec<&str> = list
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let allow: Vec<&str> = entries
        .iter()
        .filter(|e| !e.starts_with('!'))
        .copied()
        .collect();
    let block: Vec<&str> = entries.iter().filter_map(|e| e.strip_prefix('!')).collect();
    (allow.is_empty() || allow.iter().any(|a| name.ends_with(a)))
        && !block.iter().any(|b| name.ends_with(b))
}

fn env_secs(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// `AIOHTTP_CLIENT_TIMEOUT_TOOL_SERVER_DATA`, default 10 s.
fn document_timeout() -> Duration {
    Duration::from_secs(env_secs("AIOHTTP_CLIENT_TIMEOUT_TOOL_SERVER_DATA").unwrap_or(10))
}

/// `AIOHTTP_CLIENT_TIMEOUT_TOOL_SERVER`, else `AIOHTTP_CLIENT_TIMEOUT`, else 300 s.
fn call_timeout() -> Duration {
    let secs = env_secs("AIOHTTP_CLIENT_TIMEOUT_TOOL_SERVER")
        .or_else(|| env_secs("AIOHTTP_CLIENT_TIMEOUT"))
        .unwrap_or(300);
    Duration::from_secs(secs.max(1))
}

/// The document's address: `path` itself when it is a full URL, else
/// appended to the server's URL.
pub fn document_url(url: &str, path: &str) -> String {
    if path.contains("://") {
        return path.to_string();
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    format!("{}{}", url.trim_end_matches('/'), path)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Fetches and reads an OpenAPI document (JSON).
pub async fn fetch_document(url: &str, headers: HeaderMap) -> Result<Value, String> {
    // Title-case names, as other servers' clients send them (`Authorization`).
    let resp = crate::llm::title_case_client()
        .get(url)
        .header("accept", "application/json")
        .headers(headers)
        .timeout(document_timeout())
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    let status = resp.status();
    let bytes = crate::webfetch::read_limited(resp, MAX_DOCUMENT).await?;
    if status.as_u16() != 200 {
        let text = String::from_utf8_lossy(&bytes);
        return Err(format!(
            "{url} answered {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "{url} did not answer with a JSON document (YAML documents are not read; serve JSON)"
        )
    })
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        h.insert(reqwest::header::AUTHORIZATION, v);
    }
    h
}

/// Whether a connection is an enabled OpenAPI one.
fn enabled_openapi(conn: &Value) -> bool {
    conn.pointer("/config/enable").and_then(Value::as_bool) == Some(true)
        && conn
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("openapi")
            == "openapi"
}

async fn load_one(idx: usize, conn: Value) -> Option<Server> {
    let info = conn.get("info").cloned().unwrap_or(Value::Null);
    let id = match str_of(&info, "id") {
        "" => idx.to_string(),
        s => s.to_string(),
    };
    let url = str_of(&conn, "url").trim_end_matches('/').to_string();
    let doc = match conn
        .get("spec_type")
        .and_then(Value::as_str)
        .unwrap_or("url")
    {
        "json" => serde_json::from_str::<Value>(str_of(&conn, "spec")).ok(),
        _ => {
            let path = conn
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or("openapi.json");
            let key = str_of(&conn, "key");
            let auth = conn
                .get("auth_type")
                .and_then(Value::as_str)
                .unwrap_or("bearer");
            let headers = if auth == "bearer" && !key.is_empty() {
                bearer(key)
            } else {
                HeaderMap::new()
            };
            match fetch_document(&document_url(&url, path), headers).await {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(server = %id, error = %e, "tool server left out");
                    None
                }
            }
        }
    };
    let mut doc = doc.filter(|d| d.get("paths").is_some_and(Value::is_object))?;
    if !doc.get("info").is_some_and(Value::is_object) {
        doc["info"] = json!({});
    }
    if let Some(name) = info.get("name").filter(|v| !v.is_null()) {
        doc["info"]["title"] = name.clone();
    }
    if let Some(d) = info.get("description").filter(|v| !v.is_null()) {
        doc["info"]["description"] = d.clone();
    }
    let specs = openapi::tools_of(&doc);
    Some(Server {
        id,
        url,
        doc,
        specs,
        connection: conn,
    })
}

type Loaded = (Value, Instant, Arc<Vec<Server>>);

fn cache() -> &'static Mutex<Option<Loaded>> {
    static CACHE: std::sync::OnceLock<Mutex<Option<Loaded>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(None))
}

/// The enabled OpenAPI servers that answered with a document. Fetched again
/// when the connections changed or the last fetch is older than five minutes.
pub async fn servers(state: &AppState) -> Arc<Vec<Server>> {
    if !state.settings.env_flags.enable_tool_servers {
        return Arc::new(Vec::new());
    }
    let conns = state.config.get("tool_server.connections");
    {
        let held = cache().lock().unwrap_or_else(|p| p.into_inner());
        if let Some((c, at, list)) = held.as_ref() {
            if *c == conns && at.elapsed() < FRESH_FOR {
                return list.clone();
            }
        }
    }
    let jobs = conns
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, c)| enabled_openapi(c))
        .map(|(i, c)| load_one(i, c.clone()));
    let list: Vec<Server> = futures::future::join_all(jobs)
        .await
        .into_iter()
        .flatten()
        .collect();
    let list = Arc::new(list);
    *cache().lock().unwrap_or_else(|p| p.into_inner()) =
        Some((conns, Instant::now(), list.clone()));
    list
}

/// Who may use connections: the caller and, unless admin access is
/// bypassed, their groups (read once per request).
pub struct Audience<'a> {
    caller: &'a Caller,
    groups: Option<HashSet<String>>,
}

impl<'a> Audience<'a> {
    pub async fn of(state: &AppState, caller: &'a Caller) -> Audience<'a> {
        let groups = if access::admin_bypass(caller) {
            None
        } else {
            Some(
                access::group_ids(state, caller.id())
                    .await
                    .unwrap_or_default(),
            )
        };
        Audience { caller, groups }
    }

    /// Whether the caller may use a connection: admins with the bypass
    /// always; a connection without grants is for admins only; else its
    /// grants decide.
    pub fn may_use(&self, conn: &Value) -> bool {
        let Some(groups) = &self.groups else {
            return true;
        };
        let grants = access::grants_from_json(
            conn.pointer("/config/access_grants")
                .unwrap_or(&Value::Null),
        );
        if grants.is_empty() {
            return self.caller.is_admin();
        }
        crate::db::access_grants::grants_allow(&grants, self.caller.id(), groups, "read")
    }
}

/// The servers as `GET /api/v1/tools/` lists them for the caller: the
/// OpenAPI servers that answered, then the MCP connections.
pub async fn listed(state: &AppState, caller: &Caller) -> Vec<Value> {
    let now = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    if !state.settings.env_flags.enable_tool_servers {
        return out;
    }
    let servers = servers(state).await;
    let audience = Audience::of(state, caller).await;
    for s in servers.iter() {
        if !audience.may_use(&s.connection) {
            continue;
        }
        let id = format!("server:{}", s.id);
        out.push(json!({
            "version_id": null, "id": id, "user_id": id, "name": s.title(),
            "meta": {"description": s.description(), "manifest": {}, "has_user_valves": false},
            "access_grants": [], "updated_at": now, "created_at": now, "user": null,
        }));
    }
    out.extend(mcp::listed(state, &audience, now));
    out
}

/// What a turn knows that headers may carry (`{{CHAT_ID}}` and the like).
#[derive(Default)]
pub struct CallContext<'a> {
    pub chat_id: &'a str,
    pub message_id: &'a str,
    pub model_id: &'a str,
}

/// Authorization and custom headers of a connection for a call made on the
/// caller's behalf: `bearer` sends the connection's key, `session` the
/// caller's own credential, `none` nothing. Custom header values may name
/// `{{USER_ID}}`, `{{USER_NAME}}`, `{{USER_EMAIL}}`, `{{USER_ROLE}}`,
/// `{{CHAT_ID}}`, `{{MESSAGE_ID}}` and `{{MODEL_ID}}`.
pub fn headers_for(conn: &Value, caller: &Caller, cx: &CallContext<'_>) -> HeaderMap {
    let mut h = match conn
        .get("auth_type")
        .and_then(Value::as_str)
        .unwrap_or("bearer")
    {
        "bearer" if !str_of(conn, "key").is_empty() => bearer(str_of(conn, "key")),
        "session" => bearer(&caller.token),
        _ => HeaderMap::new(),
    };
    let custom = match conn.get("headers") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => serde_json::from_str::<Map<String, Value>>(s).unwrap_or_default(),
        _ => Map::new(),
    };
    let user = &caller.user;
    let vars = [
        ("{{CHAT_ID}}", cx.chat_id),
        ("{{MESSAGE_ID}}", cx.message_id),
        ("{{MODEL_ID}}", cx.model_id),
        ("{{USER_ID}}", user.id.as_str()),
        ("{{USER_NAME}}", user.name.trim()),
        ("{{USER_EMAIL}}", user.email.trim()),
        ("{{USER_ROLE}}", user.role.as_str()),
    ];
    for (k, v) in custom {
        let mut value = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        for (var, with) in vars {
            value = value.replace(var, with);
        }
        let name = HeaderName::from_bytes(k.as_bytes());
        let value = HeaderValue::from_str(&value);
        if let (Ok(n), Ok(v)) = (name, value) {
            h.insert(n, v);
        }
    }
    h
}

fn error_text(message: &str) -> String {
    serde_json::to_string_pretty(&json!({"error": message})).unwrap_or_default()
}

/// Calls the operation `name` of a server; the text is what the model reads
/// (the JSON answer, pretty-printed, or its text; failures as
/// `{"error": …}`).
pub async fn call(
    server: &Server,
    name: &str,
    args: &Map<String, Value>,
    headers: HeaderMap,
) -> String {
    let req = match openapi::request_for(&server.doc, &server.url, name, args) {
        Ok(r) => r,
        Err(e) => return error_text(&e),
    };
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut builder = crate::llm::client()
        .request(method, &req.url)
        .headers(headers)
        .timeout(call_timeout());
    if let Some(body) = &req.body {
        builder = builder.json(body);
    }
    let resp = match builder.send().await {
        Ok(r) => r,
        Err(e) => return error_text(&format!("could not reach the tool server: {e}")),
    };
    let status = resp.status();
    let kind = crate::webfetch::media_type(&resp);
    let bytes = match crate::webfetch::read_limited(resp, MAX_ANSWER).await {
        Ok(b) => b,
        Err(e) => return error_text(&format!("the tool server's answer could not be read: {e}")),
    };
    if status.as_u16() >= 400 {
        let text = String::from_utf8_lossy(&bytes);
        return error_text(&format!("HTTP error {}: {text}", status.as_u16()));
    }
    answer_text(name, &kind, &bytes)
}

/// The model's view of a successful answer.
fn answer_text(name: &str, kind: &str, bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return match v {
            Value::String(s) => s,
            other => serde_json::to_string_pretty(&other).unwrap_or_default(),
        };
    }
    if kind.is_empty() || kind.starts_with("text/") {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    if kind.starts_with("image/") {
        return format!("{name}: the tool answered with an image ({kind}, {} bytes); images from tools are not shown to the model.", bytes.len());
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{kind};base64,{b64}")
}

/// Whether a connection is an MCP one.
pub fn is_mcp(conn: &Value) -> bool {
    conn.get("type").and_then(Value::as_str) == Some("mcp")
}

/// Checks a connection as the admin's "verify" button does: for OpenAPI, the
/// document it serves; for MCP, `{"status": true, "specs": [...]}` with the
/// tools it lists.
pub async fn verify(conn: &Value, caller: &Caller) -> Result<Value, String> {
    if is_mcp(conn) {
        return mcp::verify(conn, caller).await;
    }
    let headers = headers_for(conn, caller, &CallContext::default());
    let url = document_url(str_of(conn, "url"), str_of(conn, "path"));
    fetch_document(&url, headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_lists() {
        let l = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert!(name_allowed("get_weather", &[]));
        assert!(name_allowed("get_weather", &l("")));
        assert!(name_allowed("get_weather", &l("weather")));
        assert!(!name_allowed("get_weather", &l("time")));
        assert!(!name_allowed("get_weather", &l("!weather")));
        assert!(name_allowed("get_time", &l("!weather")));
    }

    #[test]
    fn document_urls() {
        assert_eq!(
            document_url("http://h:1/", "openapi.json"),
            "http://h:1/openapi.json"
        );
        assert_eq!(
            document_url("http://h:1", "/x/spec.json"),
            "http://h:1/x/spec.json"
        );
        assert_eq!(
            document_url("http://h:1", "https://o/spec.json"),
            "https://o/spec.json"
        );
    }

    #[test]
    fn answers_as_text() {
        assert_eq!(answer_text("f", "application/json", br#""plain""#), "plain");
        assert_eq!(
            answer_text("f", "application/json", br#"{"a":1}"#),
            "{\n  \"a\": 1\n}"
        );
        assert_eq!(answer_text("f", "text/plain", b"hello"), "hello");
        assert!(answer_text("f", "image/png", b"\x89PNG").contains("image"));
        assert_eq!(
            answer_text("f", "application/pdf", b"%P"),
            "data:application/pdf;base64,JVA="
        );
    }
}
