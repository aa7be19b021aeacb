//! The built-in tools: clocks, the user's earlier chats and their memories.
//! Each result is JSON text; failures are `{"error": ...}` objects.

use chrono::{DateTime, Duration, Months, Utc};
use serde_json::{json, Map, Value};

use super::ToolCx;
use crate::automations::tz;
use crate::db::{self, memories::MemoryRow};

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
}

const ALL: [Builtin; 10] = [
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
];

fn params(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn error(text: impl std::fmt::Display) -> String {
    json!({"error": text.to_string()}).to_string()
}

fn arg_str<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn arg_int(args: &Map<String, Value>, key: &str) -> Option<i64> {
    match args.get(key) {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Builtin {
    pub fn named(name: &str) -> Option<Builtin> {
        ALL.into_iter().find(|b| b.name() == name)
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
        }
    }

    /// The function description the model reads.
    pub fn spec(self) -> Value {
        let int = |d: &str| json!({"type": "integer", "description": d});
        let string = |d: &str| json!({"type": "string", "description": d});
        let (description, parameters) = match self {
            Builtin::AskUser => return super::ask_user::spec(),
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
            Builtin::SearchMemories => (
                "Look through what the user asked to be remembered: by meaning (query), by path, by type, or one memory by id.",
                params(
                    json!({
                        "query": string("What to look for."),
                        "count": int("How many memories at most (default 5)."),
                        "type": string("\"user\", \"context\" or \"all\"."),
                        "path": string("Only memories under this path."),
                        "memory_id": string("Read exactly this memory."),
                    }),
                    &[],
                ),
            ),
            Builtin::ListMemories => (
                "Every memory the user has saved, with ids and dates.",
                params(json!({}), &[]),
            ),
            Builtin::AddMemory => (
                "Save something lasting about the user (a preference, goal, standing instruction) for later chats. Not for passing details unless the user asks.",
                params(
                    json!({
                        "content": string("What to remember."),
                        "type": string("\"user\" for facts about the user, \"context\" for other lasting context."),
                        "path": string("An optional stable address that groups related memories."),
                    }),
                    &["content"],
                ),
            ),
            Builtin::ReplaceMemoryContent => (
                "Correct a saved memory by its id.",
                params(
                    json!({
                        "memory_id": string("The memory's id."),
                        "content": string("The new text."),
                        "type": string("Optionally \"user\" or \"context\"."),
                        "path": string("Optionally a new path."),
                    }),
                    &["memory_id", "content"],
                ),
            ),
            Builtin::DeleteMemory => (
                "Forget a saved memory by its id.",
                params(json!({"memory_id": string("The memory's id.")}), &["memory_id"]),
            ),
        };
        json!({"name": self.name(), "description": description, "parameters": parameters})
    }

    pub async fn run(self, cx: &ToolCx<'_>, args: &Map<String, Value>) -> String {
        let out = match self {
            Builtin::CurrentTimestamp => Ok(clock(cx, None)),
            Builtin::CalculateTimestamp => Ok(clock(cx, Some(args))),
            Builtin::AskUser => Err(anyhow::anyhow!("ask_user is answered by the user")),
            Builtin::SearchChats => search_chats(cx, args).await,
            Builtin::ViewChat => view_chat(cx, args).await,
            Builtin::SearchMemories => search_memories(cx, args).await,
            Builtin::ListMemories => list_memories(cx).await,
            Builtin::AddMemory => add_memory(cx, args).await,
            Builtin::ReplaceMemoryContent => replace_memory(cx, args).await,
            Builtin::DeleteMemory => delete_memory(cx, args).await,
        };
        match out {
            Ok(v) => v.to_string(),
            Err(e) => {
                tracing::debug!(tool = self.name(), error = %e, "a built-in tool failed");
                error(e)
            }
        }
    }
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

fn day(secs: i64, with_time: bool) -> String {
    let t = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
    t.format(if with_time {
        "%Y-%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    })
    .to_string()
}

fn memory_json(m: &MemoryRow, with_time: bool) -> Value {
    json!({
        "id": m.id, "type": m.kind, "path": m.path, "content": m.content,
        "created_at": day(m.created_at, with_time), "updated_at": day(m.updated_at, with_time),
    })
}

async fn user_memories(cx: &ToolCx<'_>) -> anyhow::Result<Vec<MemoryRow>> {
    let uid = cx.caller.id().to_string();
    cx.state
        .db
        .read(move |c| db::memories::by_user(c, &uid))
        .await
}

async fn search_memories(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let count = arg_int(args, "count").unwrap_or(5).clamp(1, 100) as usize;
    let kind = arg_str(args, "type").filter(|t| matches!(*t, "user" | "context"));
    let path = arg_str(args, "path")
        .map(|p| p.trim().trim_matches('/'))
        .filter(|p| !p.is_empty());
    let all = user_memories(cx).await?;
    let fits = |m: &MemoryRow| {
        kind.is_none_or(|k| m.kind == k)
            && path.is_none_or(|p| {
                m.path
                    .as_deref()
                    .is_some_and(|mp| mp == p || mp.starts_with(&format!("{p}/")))
            })
    };
    if let Some(id) = arg_str(args, "memory_id").filter(|s| !s.is_empty()) {
        let found: Vec<Value> = all
            .iter()
            .filter(|m| m.id == id)
            .map(|m| memory_json(m, false))
            .collect();
        return Ok(Value::Array(found));
    }
    let query = arg_str(args, "query").unwrap_or("").trim();
    let picked: Vec<&MemoryRow> = if query.is_empty() {
        all.iter().rev().filter(|m| fits(m)).take(count).collect()
    } else {
        let hits =
            crate::rag::memories::search(cx.state, cx.caller.id(), query, Some(count * 2)).await?;
        hits.iter()
            .filter_map(|h| all.iter().find(|m| m.id == h.id))
            .filter(|m| fits(m))
            .take(count)
            .collect()
    };
    Ok(Value::Array(
        picked.into_iter().map(|m| memory_json(m, false)).collect(),
    ))
}

async fn list_memories(cx: &ToolCx<'_>) -> anyhow::Result<Value> {
    let all = user_memories(cx).await?;
    Ok(Value::Array(
        all.iter().map(|m| memory_json(m, true)).collect(),
    ))
}

fn memory_kind(args: &Map<String, Value>, default: Option<&str>) -> anyhow::Result<Option<String>> {
    match arg_str(args, "type").or(default) {
        None => Ok(None),
        Some(t @ ("user" | "context")) => Ok(Some(t.to_string())),
        Some(other) => {
            anyhow::bail!("The memory type must be \"user\" or \"context\", not {other:?}.")
        }
    }
}

fn memory_path(args: &Map<String, Value>) -> Option<String> {
    arg_str(args, "path")
        .map(|p| p.trim().trim_matches('/').to_string())
        .filter(|p| !p.is_empty())
}

async fn add_memory(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let content = arg_str(args, "content").unwrap_or("").trim().to_string();
    if content.is_empty() {
        anyhow::bail!("The memory has no content.");
    }
    let now = db::now_secs();
    let m = MemoryRow {
        id: db::new_id(),
        user_id: cx.caller.id().to_string(),
        kind: memory_kind(args, Some("user"))?.unwrap_or_else(|| "user".into()),
        path: memory_path(args),
        content,
        meta: Some(json!({"created_by": "model"})),
        created_at: now,
        updated_at: now,
    };
    let row = m.clone();
    cx.state
        .db
        .write(move |c| db::memories::insert(c, &row))
        .await?;
    if let Err(e) = crate::rag::memories::upsert_vector(cx.state, &m).await {
        tracing::warn!(error = %e, "memory saved without its vector");
    }
    Ok(json!({"status": "success", "id": m.id, "type": m.kind, "path": m.path}))
}

async fn replace_memory(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = arg_str(args, "memory_id").unwrap_or("").to_string();
    let content = arg_str(args, "content").unwrap_or("").trim().to_string();
    if content.is_empty() {
        anyhow::bail!("The memory has no content.");
    }
    let uid = cx.caller.id().to_string();
    let Some(mut m) = cx
        .state
        .db
        .read(move |c| db::memories::get(c, &id, &uid))
        .await?
    else {
        anyhow::bail!("No memory of yours has that id.");
    };
    m.content = content;
    if let Some(k) = memory_kind(args, None)? {
        m.kind = k;
    }
    if args.contains_key("path") {
        m.path = memory_path(args);
    }
    m.updated_at = db::now_secs();
    let row = m.clone();
    cx.state
        .db
        .write(move |c| db::memories::update(c, &row))
        .await?;
    if let Err(e) = crate::rag::memories::upsert_vector(cx.state, &m).await {
        tracing::warn!(error = %e, "memory updated without its vector");
    }
    Ok(
        json!({"status": "success", "id": m.id, "type": m.kind, "path": m.path, "content": m.content}),
    )
}

async fn delete_memory(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = arg_str(args, "memory_id").unwrap_or("").to_string();
    let uid = cx.caller.id().to_string();
    let mid = id.clone();
    let gone = cx
        .state
        .db
        .write(move |c| db::memories::delete(c, &mid, &uid))
        .await?;
    if !gone {
        anyhow::bail!("No memory of yours has that id.");
    }
    crate::rag::memories::remove_vector(cx.state, cx.caller.id(), &id).await;
    Ok(json!({"status": "success", "message": format!("Memory {id} deleted")}))
}
