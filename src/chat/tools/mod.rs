//! Tools a model may call during a chat turn (native function calling): the
//! built-in ones Open WebUI offers to browser chats, the operations of
//! OpenAPI tool servers and the tools of MCP servers the turn selected, the
//! tool servers of the user's browser (run by their tab), what
//! each is called in the provider request, and running a call to its result
//! text.
//!
//! Every failure of a call (unknown tool, arguments that are not a JSON
//! object, an error inside the tool) becomes a result the model reads; a
//! turn never fails because of a tool.

mod agents;
mod ask_user;
mod automations;
mod builtin;
mod calendar;
pub mod citations;
mod direct_servers;
mod images;
mod knowledge;
mod knowledge_access;
mod knowledge_read;
pub mod legacy;
mod memory;
mod notes;
mod skills;
mod tasks;
mod terminal;
mod web;

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::output::CallRequest;
use super::turn::Turn;
use crate::auth::{permissions, Caller};
use crate::llm::ResolvedModel;
use crate::state::AppState;
use crate::toolserver::{self, mcp, CallContext, Server};

pub use ask_user::{normalize as normalize_question, ASK_USER};

/// What a tool call runs with.
pub struct ToolCx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    /// The chat of the turn (`local:…` for temporary chats).
    pub chat_id: &'a str,
    /// The assistant message being written.
    pub message_id: &'a str,
    pub model_id: &'a str,
    /// The browser tab of the turn (for tools that run there).
    pub session_id: Option<&'a str>,
    /// The chat's files (`files` of the request).
    pub files: &'a Value,
    /// Whether calls wait for the user's approval first.
    pub approval: super::approval::Approval,
    /// The turn's request (what a timer or a sub-agent starts again from).
    pub body: &'a Map<String, Value>,
    /// A sub-agent's turn.
    pub internal: bool,
    /// A bound on the tool rounds of this turn.
    pub max_rounds: Option<usize>,
}

impl<'a> ToolCx<'a> {
    /// The user's tab of this turn, asked about the reply being written.
    pub fn tab(&self) -> crate::events::TabTarget<'a> {
        crate::events::TabTarget {
            user_id: self.caller.id(),
            session_id: self.session_id,
            chat_id: self.chat_id,
            message_id: self.message_id,
        }
    }
}

// Reading a tool call's arguments, shared by the built-in tools.

pub(crate) fn params(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

pub(crate) fn error(text: impl std::fmt::Display) -> String {
    json!({"error": text.to_string()}).to_string()
}

pub(crate) fn arg_str<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

pub(crate) fn arg_int(args: &Map<String, Value>, key: &str) -> Option<i64> {
    match args.get(key) {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One operation of an admin-connected OpenAPI tool server.
struct ServerTool {
    /// The name the model sees (prefixed with the server's id when another
    /// tool of the turn already has the operation's name).
    name: String,
    operation: String,
    spec: Value,
    servers: Arc<Vec<Server>>,
    /// Position of the server in `servers`.
    at: usize,
}

/// One tool of an MCP server (`server:mcp:<id>`).
struct McpTool {
    /// `<server id>_<tool>` (prefixed again on a clash).
    name: String,
    /// The tool's name on the server.
    tool: String,
    spec: Value,
    server_id: String,
    link: Arc<mcp::Link>,
}

enum Tool {
    Builtin(builtin::Builtin),
    Server(ServerTool),
    Mcp(McpTool),
    /// A tool server of the user's browser, run by their tab.
    Direct(direct_servers::DirectTool),
    Terminal(terminal::TerminalTool),
}

impl Tool {
    fn name(&self) -> &str {
        match self {
            Tool::Builtin(b) => b.name(),
            Tool::Server(s) => &s.name,
            Tool::Mcp(m) => &m.name,
            Tool::Direct(d) => &d.name,
            Tool::Terminal(t) => &t.name,
        }
    }
    fn spec(&self) -> Value {
        match self {
            Tool::Builtin(b) => b.spec(),
            Tool::Server(s) => s.spec.clone(),
            Tool::Mcp(m) => m.spec.clone(),
            Tool::Direct(d) => d.spec.clone(),
            Tool::Terminal(t) => t.spec.clone(),
        }
    }
    /// The tool id a citation names (`server:<id>`, `server:mcp:<id>`);
    /// none for built-ins.
    fn source_id(&self) -> Option<String> {
        match self {
            Tool::Builtin(_) | Tool::Direct(_) => None,
            Tool::Server(s) => Some(format!("server:{}", s.servers[s.at].id)),
            Tool::Mcp(m) => Some(format!("server:mcp:{}", m.server_id)),
            Tool::Terminal(t) => Some(format!("terminal:{}", t.terminal.server.id)),
        }
    }

    /// Whether the server checks the arguments itself (MCP), so calls
    /// picked by prompt keep every argument the model gave.
    fn checks_own_arguments(&self) -> bool {
        matches!(self, Tool::Mcp(_))
    }
}

/// The tools offered for one turn.
#[derive(Default)]
pub struct ToolBox {
    tools: Vec<Tool>,
    /// The turn asked for prompt-based calling (`legacy`): the tools are not
    /// sent to the model; [`legacy::run`] picks and runs them first.
    prompt_based: bool,
    /// What the selected MCP servers ask the model to know (for the system
    /// prompt).
    instructions: Vec<String>,
    /// Selected servers that could not be opened (a status line for the
    /// user; the cause is in the log).
    unreachable: Vec<String>,
    /// The knowledge attached to the model, which scopes the knowledge tools.
    knowledge: Vec<Value>,
    /// The model cites what the reading tools return (`citations`).
    cite: bool,
    /// The user's question before retrieval rewrote it, and the sources
    /// retrieval added: the prompt is rebuilt from them as tools are cited.
    question: Option<String>,
    file_sources: Vec<Value>,
}

/// One round's calls sorted: those to run, those refused with their result
/// text, and an `ask_user` question that pauses the turn.
pub struct Staged {
    pub run: Vec<CallRequest>,
    pub refused: Vec<(String, String)>,
    pub question: Option<CallRequest>,
}

use crate::llm::{builtin_category_on as category_on, model_capability as capability};

/// Whether a chat id names a stored chat: not a temporary (`temporary:`,
/// `local:`) one and not a channel turn (`channel:`).
pub fn is_saved_chat_id(id: &str) -> bool {
    !id.is_empty()
        && !["temporary:", "local:", "channel:"]
            .iter()
            .any(|p| id.starts_with(p))
}

/// The knowledge attached to the model (`meta.knowledge`): items with a
/// `type` and an `id`, each once.
fn attached_knowledge(model: &Value) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    model
        .pointer("/info/meta/knowledge")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| {
            let key = (
                item.get("type").and_then(Value::as_str).unwrap_or(""),
                item.get("id").and_then(Value::as_str).unwrap_or(""),
            );
            !key.0.is_empty()
                && !key.1.is_empty()
                && seen.insert((key.0.to_string(), key.1.to_string()))
        })
        .cloned()
        .collect()
}

/// Whether the turn belongs to a note's hidden assistant chat.
async fn is_note_chat(state: &AppState, turn: &Turn) -> bool {
    if !is_saved_chat_id(&turn.chat_id) {
        return false;
    }
    let (id, uid) = (turn.chat_id.clone(), turn.caller.id().to_string());
    let chat = state
        .db
        .read(move |c| crate::db::chats::get_for_user(c, &id, &uid))
        .await;
    matches!(chat, Ok(Some(c)) if c.is_internal() && c.meta.get("type").and_then(Value::as_str) == Some("note"))
}

/// Whether the caller has a skill a model could open with `view_skill`.
async fn has_skills(state: &AppState, caller: &Caller) -> bool {
    crate::workspace::skills::usable(state, caller)
        .await
        .is_ok_and(|s| !s.is_empty())
}

/// Whether the browser's turn gets the built-in tools: a socket session,
/// native function calling (the default; `legacy` is the prompt-based mode)
/// and a model whose `builtin_tools` capability is not switched off.
pub fn wanted(turn: &Turn, model: &Value) -> bool {
    turn.session_id.is_some() && native_calling(turn) && capability(model, "builtin_tools")
}

/// Whether the server offers tools natively: the request brings no `tools`
/// of its own and does not ask for the prompt-based (`legacy`) mode.
fn native_calling(turn: &Turn) -> bool {
    let legacy = turn
        .body
        .get("params")
        .and_then(|p| p.get("function_calling"))
        .and_then(Value::as_str)
        == Some("legacy");
    !legacy && !turn.body.contains_key("tools")
}

impl ToolBox {
    /// The built-in tools this turn may use, each behind the same switches
    /// upstream checks: the model's tool categories and capabilities, the
    /// features the chat turned on, the server's settings and the caller's
    /// permissions.
    /// `message_id` is the reply being written (for `{{MESSAGE_ID}}` in a
    /// connection's headers).
    pub async fn for_turn(
        state: &AppState,
        turn: &Turn,
        resolved: &ResolvedModel,
        message_id: &str,
    ) -> ToolBox {
        let mut selected = server_tools(state, turn, resolved, message_id).await;
        let mut tools = selected.tools;
        let mut with = |tools: Vec<Tool>, prompt_based: bool| ToolBox {
            tools,
            prompt_based,
            instructions: std::mem::take(&mut selected.instructions),
            unreachable: std::mem::take(&mut selected.unreachable),
            ..ToolBox::default()
        };
        let model = &resolved.model_item;
        if !native_calling(turn) {
            // Without request `tools`, any server tools are picked by prompt.
            let prompt_based = !tools.is_empty();
            return with(tools, prompt_based);
        }
        if !wanted(turn, model) {
            return with(tools, false);
        }
        let features = turn
            .body
            .get("features")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let feature = |k: &str| features.get(k).and_then(Value::as_bool).unwrap_or(false);
        let perms = if turn.caller.is_admin() {
            None
        } else {
            permissions::effective(state, turn.caller.id()).await.ok()
        };
        let allowed = |key: &str| match &perms {
            None => turn.caller.is_admin(),
            Some(p) => permissions::allows(p, key),
        };
        let mut names: Vec<&str> = Vec::new();
        if category_on(model, "time") {
            names.extend(["get_current_timestamp", "calculate_timestamp"]);
        }
        if category_on(model, "user_input") {
            names.push(ASK_USER);
        }
        let attached = attached_knowledge(model);
        if category_on(model, "knowledge") {
            names.extend(knowledge::offered(&attached));
        }
        if category_on(model, "chats") {
            names.extend(["search_chats", "view_chat"]);
        }
        if category_on(model, "memory")
            && state.config.get_bool("memories.enable")
            && feature("memory")
            && capability(model, "memory")
            && allowed("features.memories")
        {
            names.extend([
                "search_memories",
                "list_memory_paths",
                "read_memory_path",
                "list_memories",
                "update_memory",
                "add_memory",
                "replace_memory_content",
                "delete_memory",
            ]);
        }
        let notes_on = category_on(model, "notes")
            && state.config.get_bool("notes.enable")
            && allowed("features.notes");
        if notes_on || is_note_chat(state, turn).await {
            names.extend(notes::NAMES);
        }
        if category_on(model, "skills") && has_skills(state, &turn.caller).await {
            names.extend(skills::NAMES);
        }
        if category_on(model, "tasks") && is_saved_chat_id(&turn.chat_id) {
            names.extend(tasks::NAMES);
        }
        if category_on(model, "automations")
            && state.config.get_bool("automations.enable")
            && allowed("features.automations")
        {
            names.extend(automations::NAMES);
        }
        if category_on(model, "calendar")
            && state.config.get_bool("calendar.enable")
            && allowed("features.calendar")
        {
            names.extend(calendar::NAMES);
        }
        if category_on(model, "web_search")
            && state.config.get_bool("web.search.enable")
            && capability(model, "web_search")
            && feature("web_search")
            && allowed("features.web_search")
        {
            names.extend(web::NAMES);
        }
        let pictures = category_on(model, "image_generation")
            && capability(model, "image_generation")
            && feature("image_generation")
            && allowed("features.image_generation");
        if pictures && state.config.get_bool("image_generation.enable") {
            names.push("generate_image");
        }
        if pictures && state.config.get_bool("images.edit.enable") {
            names.push("edit_image");
        }
        if crate::interpreter::chat::allowed(state, &turn.caller, &turn.body, model).await {
            names.push(crate::interpreter::chat::TOOL_NAME);
        }
        let mut offered: Vec<builtin::Builtin> = names
            .into_iter()
            .filter_map(builtin::Builtin::named)
            .collect();
        if let Some(background) = agents::offered(state, turn, model) {
            offered.extend(agents::NAMES.map(|n| builtin::Builtin::Agents(n, background)));
        }
        for b in offered {
            if !tools.iter().any(|t| t.name() == b.name()) {
                tools.push(Tool::Builtin(b));
            }
        }
        let mut tool_box = with(tools, false);
        tool_box.knowledge = attached;
        tool_box.cite = capability(model, "citations");
        tool_box
    }

    /// The question as the user wrote it and the sources retrieval put
    /// into the prompt, for [`ToolBox::cite_in_prompt`].
    pub fn set_question(&mut self, question: Option<String>, file_sources: &[Value]) {
        self.question = question;
        self.file_sources = file_sources.to_vec();
    }

    /// The sources one call's result gives, when the model cites.
    pub fn cite(&self, name: &str, arguments: &str, result: &str) -> Vec<Value> {
        if !self.cite {
            return Vec::new();
        }
        citations::from_result(name, arguments, result)
    }

    /// Sends the question again through `rag.template`, with the retrieved
    /// passages and markers for the cited tool results.
    pub fn cite_in_prompt(&self, state: &AppState, messages: &mut [Value], cited: &[Value]) {
        let Some(question) = self.question.as_deref().filter(|q| !q.trim().is_empty()) else {
            return;
        };
        let context = citations::context(&self.file_sources, cited);
        if context.is_empty() {
            return;
        }
        let template = state.config.get_str("rag.template");
        let filled = crate::rag::context::fill_template(&template, &context, question);
        crate::rag::context::replace_last_user_text(messages, &filled);
    }

    /// The instructions of the selected MCP servers, each introduced with
    /// the server's id, for the end of the system prompt.
    pub fn instructions(&self) -> &[String] {
        &self.instructions
    }

    /// The selected servers that could not be opened, as status lines.
    pub fn unreachable(&self) -> &[String] {
        &self.unreachable
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Whether the tools run before the answer, picked by the task model.
    pub fn prompt_based(&self) -> bool {
        self.prompt_based
    }

    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name()).collect()
    }

    /// The `tools` list of an OpenAI chat request.
    pub fn specs(&self) -> Value {
        Value::Array(
            self.tools
                .iter()
                .map(|t| json!({"type": "function", "function": t.spec()}))
                .collect(),
        )
    }

    fn find(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name() == name)
    }

    /// Sorts a round's calls. Unknown tools are refused; `ask_user` must be
    /// the round's only call and its questions must be well formed, else
    /// every `ask_user` call of the round is refused (the others still run).
    pub fn stage(&self, calls: &[CallRequest]) -> Staged {
        let mut staged = Staged {
            run: Vec::new(),
            refused: Vec::new(),
            question: None,
        };
        let known: Vec<&CallRequest> = calls
            .iter()
            .filter(|c| {
                if self.find(&c.name).is_some() {
                    return true;
                }
                staged
                    .refused
                    .push((c.call_id.clone(), unknown_tool(&c.name)));
                false
            })
            .collect();
        let asks = known.iter().filter(|c| c.name == ASK_USER).count();
        for call in &known {
            if call.name != ASK_USER {
                staged.run.push((*call).clone());
                continue;
            }
            let refusal = if known.len() != 1 {
                Some(ask_user::NOT_ALONE.to_string())
            } else if asks != 1 {
                Some(ask_user::ONE_PER_TURN.to_string())
            } else {
                None
            };
            let checked = match refusal {
                Some(r) => Err(r),
                None => ask_user::normalize(&call.arguments).map(|args| CallRequest {
                    arguments: args.to_string(),
                    ..(*call).clone()
                }),
            };
            match checked {
                Ok(question) => staged.question = Some(question),
                Err(text) => staged.refused.push((call.call_id.clone(), text)),
            }
        }
        staged
    }

    /// Runs one call; the text is what the model reads back.
    pub async fn run(&self, cx: &ToolCx<'_>, call: &CallRequest) -> String {
        self.run_full(cx, call).await.text
    }

    /// Runs a call; the text the model reads and the pictures it returned.
    pub async fn run_full(&self, cx: &ToolCx<'_>, call: &CallRequest) -> Reply {
        let Some(tool) = self.find(&call.name) else {
            return unknown_tool(&call.name).into();
        };
        let args = match parse_arguments(&call.name, &call.arguments) {
            Ok(a) => a,
            Err(text) => return text.into(),
        };
        let text = match tool {
            Tool::Builtin(b) => b.run(cx, &self.knowledge, &args).await,
            Tool::Server(t) => {
                let server = &t.servers[t.at];
                let context = CallContext {
                    chat_id: cx.chat_id,
                    message_id: cx.message_id,
                    model_id: cx.model_id,
                };
                let headers = toolserver::headers_for(&server.connection, cx.caller, &context);
                toolserver::call(server, &t.operation, &args, headers).await
            }
            Tool::Mcp(m) => {
                let (text, pictures) = mcp::call(&m.link, &m.tool, &args).await;
                return Reply { text, pictures };
            }
            Tool::Direct(d) => direct_servers::run(cx, d, &args).await,
            Tool::Terminal(t) => terminal::run(cx, t, &args).await,
        };
        text.into()
    }
}

/// What one tool call gave back.
pub struct Reply {
    /// What the model reads.
    pub text: String,
    /// Pictures the tool returned, shown to the model beside the text.
    pub pictures: Vec<mcp::Picture>,
}

impl From<String> for Reply {
    fn from(text: String) -> Reply {
        Reply {
            text,
            pictures: Vec::new(),
        }
    }
}

/// What the turn's selected tool servers give it.
#[derive(Default)]
struct Selected {
    tools: Vec<Tool>,
    instructions: Vec<String>,
    unreachable: Vec<String>,
}

/// The tool ids of the request: OpenAPI servers (`server:<id>`, also
/// `server:openapi:<id>`) and MCP servers (`server:mcp:<id>`).
fn selected_ids(turn: &Turn) -> (Vec<&str>, Vec<&str>) {
    let mut openapi = Vec::new();
    let mut mcp = Vec::new();
    let ids = turn
        .body
        .get("tool_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for id in ids {
        let Some(rest) = id.strip_prefix("server:") else {
            continue;
        };
        if let Some(m) = rest.strip_prefix("mcp:") {
            mcp.push(m);
            continue;
        }
        let rest = rest.strip_prefix("openapi:").unwrap_or(rest);
        openapi.push(rest.split('|').next().unwrap_or(rest));
    }
    (openapi, mcp)
}

/// A name no tool of the list has yet: `name`, else prefixed with the
/// server's id until it is free.
fn free_name(tools: &[Tool], server_id: &str, name: String) -> String {
    let mut name = name;
    while tools.iter().any(|t| t.name() == name) {
        name = format!("{server_id}_{name}");
    }
    name
}

/// The tools of the servers the turn selected (`tool_ids`), for a caller
/// allowed to use each: OpenAPI operations under their own names, MCP tools
/// as `<server id>_<tool>`. Nothing when the request brings its own `tools`.
async fn server_tools(
    state: &AppState,
    turn: &Turn,
    resolved: &ResolvedModel,
    message_id: &str,
) -> Selected {
    let mut out = Selected::default();
    if turn.body.contains_key("tools") {
        return out;
    }
    terminal::add(state, turn, &resolved.model_item, &mut out).await;
    let (openapi_ids, mcp_ids) = selected_ids(turn);
    let direct = direct_servers::offered(state, &turn.caller, &turn.body).await;
    if openapi_ids.is_empty() && mcp_ids.is_empty() && direct.tools.is_empty() {
        return out;
    }
    let audience = toolserver::Audience::of(state, &turn.caller).await;
    let tools = &mut out.tools;
    let servers = if openapi_ids.is_empty() {
        Arc::new(Vec::new())
    } else {
        toolserver::servers(state).await
    };
    for id in openapi_ids {
        let Some(at) = servers.iter().position(|s| s.id == id) else {
            tracing::warn!(server = %id, "selected tool server is not reachable or not enabled");
            continue;
        };
        let server = &servers[at];
        if !audience.may_use(&server.connection) {
            continue;
        }
        for spec in &server.specs {
            let operation = spec["name"].as_str().unwrap_or_default().to_string();
            if !server.offers(&operation) {
                continue;
            }
            let name = free_name(tools, &server.id, operation.clone());
            let mut spec = spec.clone();
            spec["name"] = json!(name);
            tools.push(Tool::Server(ServerTool {
                name,
                operation,
                spec,
                servers: servers.clone(),
                at,
            }));
        }
    }
    let context = CallContext {
        chat_id: &turn.chat_id,
        message_id,
        model_id: &resolved.id,
    };
    // The servers are opened side by side; their tools keep the request's order.
    let opening = mcp_ids
        .iter()
        .map(|id| mcp::open(state, &audience, &turn.caller, id, &context));
    let outcomes = futures::future::join_all(opening).await;
    for (id, outcome) in mcp_ids.into_iter().zip(outcomes) {
        let opened = match outcome {
            Ok(Some(o)) => o,
            Ok(None) => continue,
            Err(why) => {
                tracing::warn!(server = %id, error = %why, "MCP server left out of the turn");
                out.unreachable.push(format!(
                    "The MCP server \"{id}\" could not be reached; its tools are left out."
                ));
                continue;
            }
        };
        if let Some(text) = &opened.instructions {
            out.instructions
                .push(format!("Instructions of the MCP server \"{id}\":\n{text}"));
        }
        let link = Arc::new(opened.link);
        for t in opened.tools {
            let name = free_name(tools, id, mcp::model_name(id, &t.name));
            let mut spec = t.spec;
            spec["name"] = json!(name);
            tools.push(Tool::Mcp(McpTool {
                name,
                tool: t.name,
                spec,
                server_id: id.to_string(),
                link: link.clone(),
            }));
        }
    }
    out.instructions.extend(direct.prompts);
    for mut t in direct.tools {
        t.name = free_name(tools, "direct", t.name);
        t.spec["name"] = json!(t.name);
        tools.push(Tool::Direct(t));
    }
    out
}

fn unknown_tool(name: &str) -> String {
    format!("Error: tool \"{name}\" not found in this chat; nothing ran.")
}

/// Arguments as a JSON object; empty text counts as no arguments.
fn parse_arguments(name: &str, raw: &str) -> Result<Map<String, Value>, String> {
    if raw.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!(
            "Error: the arguments for `{name}` must be a JSON object; nothing ran. Call it again with an object."
        )),
        Err(_) => Err(format!(
            "Error: the arguments for `{name}` could not be parsed as JSON; nothing ran. Call it again with complete JSON."
        )),
    }
}

/// Whether a result reads as a failure: an `Error:`-style text, or a JSON
/// object with a non-empty `error`, an error `status`, or `success`/`ok`
/// false with a message.
pub fn is_error_result(text: &str) -> bool {
    let lower = text.trim().to_lowercase();
    if ["error:", "exception:", "traceback", "http error!"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return true;
    }
    let mut parsed = Value::String(text.to_string());
    while let Value::String(s) = &parsed {
        match serde_json::from_str::<Value>(s) {
            Ok(v) => parsed = v,
            Err(_) => break,
        }
    }
    let Value::Object(o) = parsed else {
        return false;
    };
    let filled = |v: Option<&Value>| match v {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    let has_error = filled(o.get("error"));
    if has_error {
        return true;
    }
    if let Some(s) = o.get("status").and_then(Value::as_str) {
        if matches!(s.trim().to_lowercase().as_str(), "error" | "failed") {
            return true;
        }
    }
    if o.get("success") == Some(&Value::Bool(false)) || o.get("ok") == Some(&Value::Bool(false)) {
        return filled(o.get("message"));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shaped_results() {
        for (text, failed) in [
            ("The weather in Paris is 18C.", false),
            ("Traceback (most recent call last):", true),
            ("no error occurred", false),
            (r#"{"error": ""}"#, false),
            (r#"{"error": "boom"}"#, true),
            (r#"{"status": "Failed"}"#, true),
            (r#"{"success": false, "message": "could not fetch"}"#, true),
            (r#"{"success": false}"#, false),
            ("Error: nope", true),
        ] {
            assert_eq!(is_error_result(text), failed, "{text}");
        }
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert!(parse_arguments("f", "").unwrap().is_empty());
        assert!(parse_arguments("f", "{}").unwrap().is_empty());
        let err = parse_arguments("f", "[1, 2, 3]").unwrap_err();
        assert!(err.starts_with("Error:") && err.contains("`f`"), "{err}");
        assert!(parse_arguments("f", "\"just a string\"").is_err());
        assert!(parse_arguments("f", "{not json").is_err());
    }
}
