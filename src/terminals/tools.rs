//! A terminal server as tools in a chat: the browser names the terminal of
//! the turn (`terminal_id`), and the operations of the terminal's OpenAPI
//! document become tools the model may call, sent with the connection's
//! credentials, who is asking and which chat it is. The terminal may also
//! have a system prompt of its own and a current directory to mention.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::state::AppState;
use crate::toolserver::{self, Server};

/// How long the current directory may take.
const CWD_WITHIN: Duration = Duration::from_secs(5);
/// How long each step of reading the system prompt may take.
const PROMPT_WITHIN: Duration = Duration::from_secs(3);
/// Largest small answer read (current directory, config, system prompt).
const MAX_SMALL: usize = 1024 * 1024;

/// A terminal ready for one turn.
pub struct ChatTerminal {
    /// The terminal's operations, the server being the connection's
    /// (`id` is the terminal's id, `url` its base URL).
    pub server: Server,
    /// What every call sends.
    pub headers: HeaderMap,
    /// The terminal's own instructions for the model.
    pub system_prompt: Option<String>,
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// Whether the connection `terminal_id` exists at all (a turn naming an
/// unknown one simply gets no terminal tools).
pub fn configured(state: &AppState, terminal_id: &str) -> bool {
    super::connections(state)
        .iter()
        .any(|c| c.get("id").and_then(Value::as_str) == Some(terminal_id))
}

/// The headers of calls made for `caller` in chat `chat_id`.
fn headers_for(conn: &Value, caller: &Caller, chat_id: &str) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    insert(&mut h, "x-user-id", caller.id());
    let auth = match conn
        .get("auth_type")
        .and_then(Value::as_str)
        .unwrap_or("bearer")
    {
        "bearer" => super::bearer_value(conn.get("key").and_then(Value::as_str).unwrap_or("")),
        "session" => super::bearer_value(&caller.token),
        _ => None,
    };
    if let Some(v) = auth.and_then(|a| HeaderValue::from_str(&a).ok()) {
        h.insert(AUTHORIZATION, v);
    }
    if !super::in_chats(conn) {
        return Err("the terminal is not offered in chats".into());
    }
    if !chat_id.is_empty() {
        insert(&mut h, "x-session-id", chat_id);
    }
    let context = super::chat_context_id(conn, chat_id);
    if super::per_chat(conn) && context.is_none() {
        return Err("the terminal needs a saved chat".into());
    }
    if let Some(c) = context {
        insert(&mut h, super::CONTEXT_HEADER, &c);
    }
    Ok(h)
}

/// `GET url` as JSON when it answers 200 within `within`.
async fn get_json(url: &str, headers: &HeaderMap, within: Duration) -> Option<Value> {
    let resp = super::client()
        .get(url)
        .headers(headers.clone())
        .timeout(within)
        .send()
        .await
        .ok()?;
    if resp.status().as_u16() != 200 {
        return None;
    }
    let bytes = crate::webfetch::read_limited(resp, MAX_SMALL).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The terminal's current directory (`/files/cwd`).
async fn cwd(base: &str, headers: &HeaderMap) -> Option<String> {
    let v = get_json(&format!("{base}/files/cwd"), headers, CWD_WITHIN).await?;
    v.get("cwd").and_then(Value::as_str).map(str::to_string)
}

/// The terminal's system prompt (`/system`), when its config says it has one.
async fn system_prompt(base: &str, headers: &HeaderMap) -> Option<String> {
    let config = get_json(&format!("{base}/api/config"), headers, PROMPT_WITHIN).await?;
    if !config
        .pointer("/features/system")
        .is_some_and(|v| !v.is_null() && v != &json!(false))
    {
        return None;
    }
    let v = get_json(&format!("{base}/system"), headers, PROMPT_WITHIN).await?;
    v.get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string)
}

/// `display_file` learns two more arguments: showing the file in the chat
/// instead of the file viewer, and the page to open.
fn with_display_options(mut spec: Value) -> Value {
    if spec.get("name").and_then(Value::as_str) != Some("display_file") {
        return spec;
    }
    let description = spec
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    spec["description"] = json!(format!(
        "{description} Pass inline=true to show the file within the chat message rather than \
         in the file viewer, and page (from 1) to open a PDF, DOCX or PPTX preview at that page \
         or slide. Once the file is shown, do not show it again or repeat it as Markdown."
    )
    .trim()
    .to_string());
    if !spec.get("parameters").is_some_and(Value::is_object) {
        spec["parameters"] = json!({"type": "object", "properties": {}, "required": []});
    }
    if !spec["parameters"]
        .get("properties")
        .is_some_and(Value::is_object)
    {
        spec["parameters"]["properties"] = json!({});
    }
    spec["parameters"]["properties"]["inline"] = json!({
        "type": "boolean",
        "description": "Show the file within the chat message instead of the file viewer.",
    });
    spec["parameters"]["properties"]["page"] = json!({
        "type": "integer", "minimum": 1,
        "description": "The page or slide (from 1) a PDF, DOCX or PPTX preview opens at.",
    });
    spec
}

/// The terminal `terminal_id` for `caller`'s turn in chat `chat_id`:
/// `Ok(None)` when tool servers are off or the caller may not use it, an
/// error when it cannot serve this turn.
pub async fn for_chat(
    state: &AppState,
    caller: &Caller,
    terminal_id: &str,
    chat_id: &str,
) -> Result<Option<ChatTerminal>, String> {
    let conn = match super::usable(state, caller, terminal_id).await {
        Ok(c) => c,
        Err(e) => return Err(e.to_string()),
    };
    let headers = headers_for(&conn, caller, chat_id)?;
    let base = super::server_url(&conn);
    let path = conn
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or("/openapi.json");
    let doc_headers = {
        let mut h = headers.clone();
        h.remove(CONTENT_TYPE);
        h
    };
    let mut doc =
        toolserver::fetch_document(&toolserver::document_url(&base, path), doc_headers).await?;
    if !doc.get("paths").is_some_and(Value::is_object) {
        return Err("the terminal's OpenAPI document has no paths".into());
    }
    let with_cwd = conn
        .pointer("/config/working_directory_context")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let (cwd, prompt) = if with_cwd {
        tokio::join!(cwd(&base, &headers), system_prompt(&base, &headers))
    } else {
        (None, system_prompt(&base, &headers).await)
    };
    let specs: Vec<Value> = crate::toolserver::openapi::tools_of(&doc)
        .into_iter()
        .map(with_display_options)
        .map(|mut spec| {
            if let (Some("run_command"), Some(dir)) = (spec["name"].as_str(), cwd.as_deref()) {
                let d = spec["description"].as_str().unwrap_or("").to_string();
                spec["description"] =
                    json!(format!("{d}\n\nThe current working directory is {dir}."));
            }
            spec
        })
        .collect();
    if specs.is_empty() {
        return Err("the terminal offers no tools".into());
    }
    if !doc.get("info").is_some_and(Value::is_object) {
        doc["info"] = json!({});
    }
    if let Some(name) = conn
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        doc["info"]["title"] = json!(name);
    }
    Ok(Some(ChatTerminal {
        server: Server {
            id: terminal_id.to_string(),
            url: base,
            doc,
            specs,
            connection: conn,
        },
        headers,
        system_prompt: prompt,
    }))
}

/// The browser event a finished call leads to (`terminal:<tool>` with the
/// file it concerns), if any: the file viewer opens a shown file, the file
/// list refreshes after writes and commands.
pub fn event_after(operation: &str, args: &Value, result: &str) -> Option<(String, Value)> {
    let answer: Value = serde_json::from_str(result).unwrap_or(Value::Null);
    let path = || {
        answer
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .or_else(|| args.get("path").and_then(Value::as_str))
            .filter(|p| !p.is_empty())
            .map(str::to_string)
    };
    match operation {
        "display_file" => {
            if args.get("inline") == Some(&Value::Bool(true))
                || answer.get("exists") == Some(&Value::Bool(false))
            {
                return None;
            }
            let mut data = json!({ "path": path()? });
            if let Some(page) = args.get("page").filter(|p| !p.is_null() && *p != &json!(0)) {
                data["page"] = page.clone();
            }
            Some(("terminal:display_file".into(), data))
        }
        "write_file" | "replace_file_content" => {
            Some((format!("terminal:{operation}"), json!({ "path": path()? })))
        }
        "run_command" => Some(("terminal:run_command".into(), json!({}))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_after_calls() {
        let (kind, data) = event_after(
            "display_file",
            &json!({"path": "a.pdf", "page": 3}),
            r#"{"path": "/home/u/a.pdf"}"#,
        )
        .unwrap();
        assert_eq!(kind, "terminal:display_file");
        assert_eq!(data, json!({"path": "/home/u/a.pdf", "page": 3}));
        assert!(event_after("display_file", &json!({"path": "a", "inline": true}), "{}").is_none());
        assert!(event_after(
            "display_file",
            &json!({"path": "a"}),
            r#"{"exists": false}"#
        )
        .is_none());
        let (kind, data) = event_after("write_file", &json!({"path": "b.txt"}), "ok").unwrap();
        assert_eq!(
            (kind.as_str(), data),
            ("terminal:write_file", json!({"path": "b.txt"}))
        );
        assert_eq!(
            event_after("run_command", &json!({}), "").map(|e| e.0),
            Some("terminal:run_command".into())
        );
        assert!(event_after("list_files", &json!({}), "").is_none());
    }

    #[test]
    fn display_file_learns_inline_and_page() {
        let spec = with_display_options(
            json!({"name": "display_file", "description": "Show a file.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}),
        );
        assert!(spec["parameters"]["properties"]["inline"].is_object());
        assert!(spec["parameters"]["properties"]["page"].is_object());
        assert!(spec["parameters"]["properties"]["path"].is_object());
        let other = json!({"name": "run_command"});
        assert_eq!(with_display_options(other.clone()), other);
    }
}
