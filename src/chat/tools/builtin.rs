//! The built-in tools: clocks, the user's earlier chats and, each in its own
//! file, their memories, notes, knowledge, the chat's task list,
//! automations and calendar.
//! Each result is JSON text; failures are `{"error": ...}` objects.

use chrono::{DateTime, Duration, Months, Utc};
use serde_json::{json, Map, Value};

use super::{arg_int, arg_str, error, params, ToolCx};
use crate::automations::tz;
use crate::db;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Builtin {
    CurrentTimestamp,
    CalculateTimestamp,
    AskUser,
    SearchChats,
    ViewChat,
    SearchMemories,
    ListMemories,
    AddMemory,
    ReplaceMemoryContent,
    DeleteMemory,
    UpdateMemory,
    ListMemoryPaths,
    ReadMemoryPath,
    /// `execute_code`: runs Python on the code interpreter's engine.
    ExecuteCode,
    /// The tools of the other categories, by name (each category's file
    /// lists its names).
    Notes(&'static str),
    Knowledge(&'static str),
    Tasks(&'static str),
    Automations(&'static str),
    Calendar(&'static str),
    Web(&'static str),
    Images(&'static str),
    Skills(&'static str),
    /// `timer` and `delegate_task`; the flag: background sub-agents are on.
    Agents(&'static str, bool),
}

const ALL: [Builtin; 14] = [
    Builtin::CurrentTimestamp,
    Builtin::CalculateTimestamp,
    Builtin::AskUser,
    Builtin::SearchChats,
    Builtin::ViewChat,
    Builtin::SearchMemories,
    Builtin::ListMemories,
    Builtin::AddMemory,
    Builtin::ReplaceMemoryContent,
    Builtin::DeleteMemory,
    Builtin::UpdateMemory,
    Builtin::ListMemoryPaths,
    Builtin::ReadMemoryPath,
    Builtin::ExecuteCode,
];

impl Builtin {
    pub fn named(name: &str) -> Option<Builtin> {
        let in_list = |list: &[&'static str]| list.iter().find(|n| **n == name).copied();
        ALL.into_iter()
            .find(|b| b.name() == name)
            .or_else(|| in_list(&super::notes::NAMES).map(Builtin::Notes))
            .or_else(|| in_list(&super::knowledge::NAMES).map(Builtin::Knowledge))
            .or_else(|| in_list(&super::tasks::NAMES).map(Builtin::Tasks))
            .or_else(|| in_list(&super::automations::NAMES).map(Builtin::Automations))
            .or_else(|| in_list(&super::calendar::NAMES).map(Builtin::Calendar))
            .or_else(|| in_list(&super::web::NAMES).map(Builtin::Web))
            .or_else(|| in_list(&super::images::NAMES).map(Builtin::Images))
            .or_else(|| in_list(&super::skills::NAMES).map(Builtin::Skills))
            .or_else(|| in_list(&super::agents::NAMES).map(|n| Builtin::Agents(n, false)))
    }

    pub fn name(self) -> &'static str {
        match self {
            Builtin::CurrentTimestamp => "get_current_timestamp",
            Builtin::CalculateTimestamp => "calculate_timestamp",
            Builtin::AskUser => super::ASK_USER,
            Builtin::SearchChats => "search_chats",
            Builtin::ViewChat => "view_chat",
            Builtin::SearchMemories => "search_memories",
            Builtin::ListMemories => "list_memories",
            Builtin::AddMemory => "add_memory",
            Builtin::ReplaceMemoryContent => "replace_memory_content",
            Builtin::DeleteMemory => "delete_memory",
            Builtin::UpdateMemory => "update_memory",
            Builtin::ListMemoryPaths => "list_memory_paths",
            Builtin::ReadMemoryPath => "read_memory_path",
            Builtin::ExecuteCode => crate::interpreter::chat::TOOL_NAME,
            Builtin::Notes(n)
            | Builtin::Knowledge(n)
            | Builtin::Tasks(n)
            | Builtin::Automations(n)
            | Builtin::Calendar(n)
            | Builtin::Web(n)
            | Builtin::Images(n)
            | Builtin::Skills(n)
            | Builtin::Agents(n, _) => n,
        }
    }

    /// The function description the model reads.
    pub fn spec(self) -> Value {
        let int = |d: &str| json!({"type": "integer", "description": d});
        let string = |d: &str| json!({"type": "string", "description": d});
        let (description, parameters) = match self {
            Builtin::AskUser => return super::ask_user::spec(),
            Builtin::ExecuteCode => return crate::interpreter::chat::tool_spec(),
            Builtin::Notes(n) => return super::notes::spec(n),
            Builtin::Knowledge(n) => return super::knowledge::spec(n),
            Builtin::Tasks(n) => return super::tasks::spec(n),
            Builtin::Automations(n) => return super::automations::spec(n),
            Builtin::Calendar(n) => return super::calendar::spec(n),
            Builtin::Web(n) => return super::web::spec(n),
            Builtin::Images(n) => return super::images::spec(n),
            Builtin::Skills(n) => return super::skills::spec(n),
            Builtin::Agents(n, background) => return super::agents::spec(n, background),
            Builtin::CurrentTimestamp => (
                "The current time: Unix seconds, UTC and the user's local time.",
                params(json!({}), &[]),
            ),
            Builtin::CalculateTimestamp => (
                "A moment in the past relative to now (e.g. three days or one year ago), as Unix seconds and ISO text; useful for date filters.",
                params(
                    json!({
                        "days_ago": int("Days back from now."),
                        "weeks_ago": int("Weeks back from now."),
                        "months_ago": int("Calendar months back from now."),
                        "years_ago": int("Years back from now."),
                    }),
                    &[],
                ),
            ),
            Builtin::SearchChats => (
                "Find the user's earlier chats (not this one) by words in their titles and messages. Returns ids, titles, a snippet and when each was updated.",
                params(
                    json!({
                        "query": string("Words or an exact phrase to look for."),
                        "count": int("How many chats at most (default 5)."),
                        "start_timestamp": int("Only chats updated after this Unix time."),
                        "end_timestamp": int("Only chats updated before this Unix time."),
                    }),
                    &["query"],
                ),
            ),
            Builtin::ViewChat => (
                "Read one of the user's chats, found with search_chats: its title and messages.",
                params(json!({"chat_id": string("The chat's id.")}), &["chat_id"]),
            ),
            m => return super::memory::spec(m.name()),
        };
        json!({"name": self.name(), "description": description, "parameters": parameters})
    }

    /// Runs the tool; `knowledge` is what the model has attached.
    pub async fn run(
        self,
        cx: &ToolCx<'_>,
        knowledge: &[Value],
        args: &Map<String, Value>,
    ) -> String {
        let out = match self {
            Builtin::CurrentTimestamp => Ok(clock(cx, None)),
            Builtin::CalculateTimestamp => Ok(clock(cx, Some(args))),
            Builtin::AskUser => Err(anyhow::anyhow!("ask_user is answered by the user")),
            Builtin::ExecuteCode => return run_code(cx, args).await,
            Builtin::Agents(n, _) => return super::agents::run(n, cx, args).await,
            Builtin::SearchChats => search_chats(cx, args).await,
            Builtin::ViewChat => view_chat(cx, args).await,
            Builtin::Notes(n) => super::notes::run(n, cx, args).await,
            Builtin::Knowledge(n) => super::knowledge::run(n, cx, knowledge, args).await,
            Builtin::Tasks(n) => super::tasks::run(n, cx, args).await,
            Builtin::Automations(n) => super::automations::run(n, cx, args).await,
            Builtin::Calendar(n) => super::calendar::run(n, cx, args).await,
            Builtin::Web(n) => super::web::run(n, cx, args).await,
            Builtin::Images(n) => super::images::run(n, cx, args).await,
            Builtin::Skills(_) => super::skills::run(cx, args).await,
            m => super::memory::run(m.name(), cx, args).await,
        };
        match out {
            // A tool that answers in plain text (a grep) is passed on as is.
            Ok(Value::String(text)) => text,
            Ok(v) => v.to_string(),
            Err(e) if is_internal(&e) => {
                tracing::warn!(tool = self.name(), error = %e, "a built-in tool failed");
                error("The tool could not finish just now; try again later.")
            }
            Err(e) => {
                tracing::debug!(tool = self.name(), error = %e, "a built-in tool refused");
                error(e)
            }
        }
    }
}

/// An `execute_code` call, for the user's tab of this chat (Pyodide) or
/// the Jupyter server.
async fn run_code(cx: &ToolCx<'_>, args: &Map<String, Value>) -> String {
    let who = crate::interpreter::chat::RunFor {
        tab: cx.tab(),
        files: cx.files.clone(),
    };
    crate::interpreter::chat::run_tool(cx.state, &who, args).await
}

/// Whether a failure came from the machinery (the database, the disk)
/// rather than from a refusal worded for the model; its text stays in the log.
fn is_internal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<rusqlite::Error>().is_some()
            || c.downcast_ref::<std::io::Error>().is_some()
    })
}

/// ISO 8601 with the offset, as Python's `isoformat()` writes it.
fn iso(t: DateTime<Utc>, offset_secs: i32) -> String {
    let local = t.naive_utc() + Duration::seconds(offset_secs as i64);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let o = offset_secs.unsigned_abs();
    format!(
        "{}{sign}{:02}:{:02}",
        local.format("%Y-%m-%dT%H:%M:%S%.6f"),
        o / 3600,
        (o % 3600) / 60
    )
}

fn clock(cx: &ToolCx<'_>, back: Option<&Map<String, Value>>) -> Value {
    let now = Utc::now();
    let mut out = json!({"current_timestamp": now.timestamp(), "current_iso": iso(now, 0)});
    let zone_name = cx.caller.user.timezone.clone().filter(|z| !z.is_empty());
    let zone = tz::of_user(zone_name.as_deref());
    let mut then = None;
    if let Some(args) = back {
        let n = |k: &str| arg_int(args, k).unwrap_or(0).max(0);
        let mut t = now - Duration::days(n("days_ago") + 7 * n("weeks_ago"));
        let months = n("months_ago") + 12 * n("years_ago");
        t = t
            .checked_sub_months(Months::new(months.min(u32::MAX as i64) as u32))
            .unwrap_or(t);
        out["calculated_timestamp"] = json!(t.timestamp());
        out["calculated_iso"] = json!(iso(t, 0));
        then = Some(t);
    }
    if let (Some(z), Some(name)) = (&zone, &zone_name) {
        out["user_local_iso"] = json!(iso(now, z.offset_at(now.timestamp())));
        if let Some(t) = then {
            out["calculated_local_iso"] = json!(iso(t, z.offset_at(t.timestamp())));
        }
        out["user_timezone"] = json!(name);
    }
    out
}

async fn search_chats(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let query = arg_str(args, "query").unwrap_or("").to_string();
    let count = arg_int(args, "count").unwrap_or(5).clamp(1, 50);
    let (from, until) = (
        arg_int(args, "start_timestamp"),
        arg_int(args, "end_timestamp"),
    );
    let uid = cx.caller.id().to_string();
    let q = query.clone();
    let rows = cx
        .state
        .db
        .read(move |c| db::chats::search(c, &uid, &q, 0, count * 3))
        .await?;
    let mut out = Vec::new();
    for chat in rows {
        if chat.id == cx.chat_id
            || from.is_some_and(|f| chat.updated_at < f)
            || until.is_some_and(|u| chat.updated_at > u)
        {
            continue;
        }
        let snippet = db::chats::search_snippet(&chat.chat, &query)
            .or_else(|| {
                let title = chat.title.to_lowercase();
                (!query.trim().is_empty() && title.contains(&query.trim().to_lowercase()))
                    .then(|| format!("Title match: {}", chat.title))
            })
            .unwrap_or_default();
        out.push(json!({
            "id": chat.id, "title": chat.title, "snippet": snippet, "updated_at": chat.updated_at,
        }));
        if out.len() as i64 >= count {
            break;
        }
    }
    Ok(Value::Array(out))
}

async fn view_chat(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = arg_str(args, "chat_id").unwrap_or("").to_string();
    let uid = cx.caller.id().to_string();
    let Some(chat) = cx
        .state
        .db
        .read(move |c| db::chats::get_for_user(c, &id, &uid))
        .await?
    else {
        anyhow::bail!("No chat of yours has that id.");
    };
    let history = chat.chat.get("history").cloned().unwrap_or(Value::Null);
    let messages = history
        .get("messages")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let current = history
        .get("currentId")
        .and_then(Value::as_str)
        .unwrap_or("");
    let path: Vec<Value> = crate::chat::history::path_to(&messages, current)
        .iter()
        .map(|m| {
            json!({
                "role": m.get("role").and_then(Value::as_str).unwrap_or(""),
                "content": m.get("content").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    Ok(json!({
        "id": chat.id, "title": chat.title, "messages": path,
        "updated_at": chat.updated_at, "created_at": chat.created_at,
    }))
}
