//! Tool servers a user added in the browser (Settings → Tools, "direct"
//! connections). The browser sends their function specs with the request
//! (`tool_servers`); the server offers them to the model and, for a call,
//! asks the user's own tab to run it (`execute:tool`, answered through the
//! acknowledgement), since only the browser can reach such a server and
//! holds its credentials.
//!
//! Offered when tool servers are on (`ENABLE_TOOL_SERVERS`), direct
//! connections are on (`direct.integrations.enable`) and, for non-admins,
//! the user has `features.direct_tool_servers`. Terminal servers the browser
//! lists among them (`is_terminal`) are not offered here.

use serde_json::{json, Map, Value};

use super::ToolCx;
use crate::auth::{permissions, Caller};
use crate::events::{call_tab, tab_run_timeout, TabCallError};
use crate::state::AppState;

/// One operation of a browser-side tool server.
pub(super) struct DirectTool {
    pub name: String,
    pub spec: Value,
    /// The connection as the browser sent it, minus its specs and prompt:
    /// the tab finds its server (and token) by the `url` in it.
    pub server: Value,
}

/// What the request's direct servers give the turn: their tools and the
/// system-prompt additions they carry.
#[derive(Default)]
pub(super) struct Offered {
    pub tools: Vec<DirectTool>,
    pub prompts: Vec<String>,
}

/// Whether this caller's request may bring direct tool servers.
async fn allowed(state: &AppState, caller: &Caller) -> bool {
    if !state.settings.env_flags.enable_tool_servers
        || !state.config.get_bool("direct.integrations.enable")
    {
        return false;
    }
    if caller.is_admin() {
        return true;
    }
    permissions::effective(state, caller.id())
        .await
        .is_ok_and(|p| permissions::allows(&p, "features.direct_tool_servers"))
}

/// The direct servers of the request body (`tool_servers`), when allowed.
pub(super) async fn offered(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Offered {
    let mut out = Offered::default();
    let Some(servers) = body.get("tool_servers").and_then(Value::as_array) else {
        return out;
    };
    if servers.is_empty() || !allowed(state, caller).await {
        return out;
    }
    for server in servers.iter().filter_map(Value::as_object) {
        if server.get("is_terminal") == Some(&Value::Bool(true)) {
            continue;
        }
        let mut connection = server.clone();
        let specs = connection.remove("specs");
        if let Some(text) = connection
            .remove("system_prompt")
            .as_ref()
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
        {
            out.prompts.push(text.to_string());
        }
        let connection = Value::Object(connection);
        for spec in specs.iter().flat_map(|s| s.as_array()).flatten() {
            let Some(name) = spec
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            out.tools.push(DirectTool {
                name: name.to_string(),
                spec: spec.clone(),
                server: connection.clone(),
            });
        }
    }
    out
}

/// Asks the user's tab to call the operation; what it answered, as text.
pub(super) async fn run(cx: &ToolCx<'_>, tool: &DirectTool, args: &Map<String, Value>) -> String {
    // Only the parameters the operation declares are passed on.
    let declared = tool
        .spec
        .pointer("/parameters/properties")
        .and_then(Value::as_object);
    let params: Map<String, Value> = args
        .iter()
        .filter(|(k, _)| declared.is_some_and(|d| d.contains_key(*k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let tab = cx.tab();
    let payload = json!({
        "chat_id": tab.chat_id,
        "message_id": tab.message_id,
        "data": {
            "type": "execute:tool",
            "data": {
                "id": uuid::Uuid::new_v4().to_string(),
                "name": tool.name,
                "params": params,
                "server": tool.server,
                "session_id": tab.session_id,
            },
        },
    });
    match call_tab(cx.state, tab.user_id, tab.session_id, &payload, tab_run_timeout()).await {
        Ok(answer) => answer_text(answer),
        Err(TabCallError::Gone) => super::error(
            "the browser tab that holds this tool server is not connected, so the tool could not run",
        ),
        Err(TabCallError::Timeout) => {
            super::error("the browser tab did not answer in time; the tool may not have run")
        }
    }
}

/// The tab's answer as the model reads it: the data of a `[data, headers]`
/// pair, a string as it is, anything else as JSON.
fn answer_text(answer: Value) -> String {
    let data = match answer {
        Value::Array(mut pair) if pair.len() == 2 => pair.swap_remove(0),
        other => other,
    };
    match data {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_text() {
        assert_eq!(
            answer_text(json!([{"ok": 1}, {"content-type": "application/json"}])),
            r#"{"ok":1}"#
        );
        assert_eq!(answer_text(json!("plain")), "plain");
        assert_eq!(answer_text(json!({"error": "nope"})), r#"{"error":"nope"}"#);
        assert_eq!(answer_text(json!([1, 2, 3])), "[1,2,3]");
    }
}
