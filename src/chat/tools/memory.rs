//! The memory tools a model may call when the memory feature is on: read,
//! search and browse the user's memories by path, and change them one at a
//! time or in batches. Writes go through `crate::memories`, like the routes.

use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::{arg_int, arg_str, params, ToolCx};
use crate::db::{self, memories::MemoryRow};
use crate::error::ApiError;
use crate::memories::{self, browse, Operation, Origin};

/// The function description the model reads, by tool name.
pub fn spec(name: &str) -> Value {
    let int = |d: &str| json!({"type": "integer", "description": d});
    let string = |d: &str| json!({"type": "string", "description": d});
    let kind = || string("\"user\", \"context\" or \"all\" (default).");
    let (description, parameters) = match name {
        "search_memories" => (
            "Look through what the user asked to be remembered: by words (query), around a path, by type, or one memory by id.",
            params(
                json!({
                    "query": string("Words to look for in the memories and their paths."),
                    "count": int("How many memories at most (default 5)."),
                    "type": kind(),
                    "path": string("Look around this memory path."),
                    "memory_id": string("Read exactly this memory."),
                }),
                &[],
            ),
        ),
        "list_memories" => (
            "Every memory the user has saved, with ids and dates.",
            params(json!({}), &[]),
        ),
        "add_memory" => (
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
        "replace_memory_content" => (
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
        "delete_memory" => (
            "Forget a saved memory by its id.",
            params(json!({"memory_id": string("The memory's id.")}), &["memory_id"]),
        ),
        "update_memory" => (
            "Change the user's memories in one batch once something lasting was learned. Each operation is one of: {\"action\":\"add\",\"content\",\"type\",\"path\"}, {\"action\":\"replace\",\"id\",\"content\",\"type\",\"path\"}, {\"action\":\"move\",\"id\",\"path\"}, {\"action\":\"remove\",\"id\"}. Type \"user\" is about the user, \"context\" is other lasting context; the path is an optional address grouping related memories (reuse one from list_memory_paths when it fits). Skip short-lived details unless the user asks to keep them.",
            params(
                json!({
                    "operations": {
                        "type": "array",
                        "description": "The changes to apply, in order.",
                        "items": {"type": "object"},
                    },
                }),
                &["operations"],
            ),
        ),
        "list_memory_paths" => (
            "The memory paths in use, with how many memories each holds, their sub-paths and when they changed; look here before writing or moving memories.",
            params(
                json!({
                    "query": string("Only paths whose memories or names contain these words."),
                    "count": int("How many paths at most (default 100)."),
                    "type": kind(),
                }),
                &[],
            ),
        ),
        _ => (
            "The memories saved at one path, with the paths above and below it.",
            params(
                json!({
                    "path": string("The memory path to read."),
                    "count": int("How many memories at most (default 50)."),
                    "type": kind(),
                    "include_children": {"type": "boolean", "description": "Also the memories below the path (default true)."},
                }),
                &["path"],
            ),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

/// Runs one memory tool; failures come back as errors the caller turns into
/// `{"error": ...}` results.
pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    match name {
        "search_memories" => search(cx, args).await,
        "list_memories" => Ok(Value::Array(
            mine(cx).await?.iter().map(|m| dated(m, true)).collect(),
        )),
        "add_memory" => add(cx, args).await,
        "replace_memory_content" => replace(cx, args).await,
        "delete_memory" => delete(cx, args).await,
        "update_memory" => batch(cx, args).await,
        "list_memory_paths" => {
            let rows = mine(cx).await?;
            Ok(browse::path_groups(
                &rows,
                arg_str(args, "query").unwrap_or(""),
                kind_filter(args),
                arg_int(args, "count").unwrap_or(100),
            ))
        }
        _ => {
            let rows = mine(cx).await?;
            let read = browse::read_path(
                &rows,
                arg_str(args, "path").unwrap_or(""),
                kind_filter(args),
                args.get("include_children")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                arg_int(args, "count").unwrap_or(50),
            )
            .map_err(told)?;
            Ok(read.wire())
        }
    }
}

/// An error as the model may read it: the words of a refusal, never the
/// internals of a failure (those are logged).
fn told(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(inner) => {
            tracing::warn!(error = %inner, "a memory tool failed");
            anyhow::anyhow!("The memories could not be read or changed just now.")
        }
        other => anyhow::anyhow!("{other}"),
    }
}

fn kind_filter(args: &Map<String, Value>) -> &'static str {
    match arg_str(args, "type") {
        Some("user") => "user",
        Some("context") => "context",
        _ => "all",
    }
}

fn day(secs: i64, with_time: bool) -> String {
    let t = DateTime::from_timestamp(secs, 0).unwrap_or_default();
    t.format(if with_time {
        "%Y-%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    })
    .to_string()
}

fn dated(m: &MemoryRow, with_time: bool) -> Value {
    json!({
        "id": m.id, "type": m.kind, "path": m.path, "content": m.content,
        "created_at": day(m.created_at, with_time), "updated_at": day(m.updated_at, with_time),
    })
}

async fn mine(cx: &ToolCx<'_>) -> anyhow::Result<Vec<MemoryRow>> {
    memories::of_user(cx.state, cx.caller.id())
        .await
        .map_err(told)
}

fn origin(cx: &ToolCx<'_>) -> Origin {
    Origin {
        created_by: "tool".into(),
        chat_id: Some(cx.chat_id.to_string()),
        message_id: Some(cx.message_id.to_string()),
        model_id: Some(cx.model_id.to_string()),
    }
}

async fn search(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let rows = mine(cx).await?;
    let found = browse::search(
        &rows,
        &browse::Search {
            query: arg_str(args, "query"),
            path: arg_str(args, "path"),
            memory_id: arg_str(args, "memory_id").filter(|s| !s.is_empty()),
            kind: kind_filter(args),
            limit: arg_int(args, "count").unwrap_or(5),
        },
    )
    .map_err(told)?;
    Ok(Value::Array(
        found.into_iter().map(|m| dated(m, false)).collect(),
    ))
}

/// One operation through the batch path, so single writes and batches
/// store the same meta and vectors.
async fn one(cx: &ToolCx<'_>, op: Operation) -> anyhow::Result<Value> {
    let mut results = memories::apply(cx.state, cx.caller.id(), vec![op], &origin(cx))
        .await
        .map_err(told)?;
    Ok(results.pop().unwrap_or(Value::Null))
}

fn text(args: &Map<String, Value>, key: &str) -> Option<String> {
    arg_str(args, key).map(str::to_string)
}

async fn add(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let kind = Some(memories::normalize_kind(
        arg_str(args, "type").or(Some("user")),
    ));
    let r = one(
        cx,
        Operation {
            action: memories::Action::Add,
            id: None,
            content: text(args, "content"),
            kind,
            path: text(args, "path"),
        },
    )
    .await?;
    let m = &r["memory"];
    Ok(json!({"status": "success", "id": m["id"], "type": m["type"], "path": m["path"]}))
}

async fn replace(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = text(args, "memory_id").unwrap_or_default();
    let uid = cx.caller.id().to_string();
    let lookup = id.clone();
    let Some(current) = cx
        .state
        .db
        .read(move |c| db::memories::get(c, &lookup, &uid))
        .await?
    else {
        anyhow::bail!("No memory of yours has that id.");
    };
    // A path left out keeps the memory where it is.
    let path = if args.contains_key("path") {
        text(args, "path")
    } else {
        current.path
    };
    let r = one(
        cx,
        Operation {
            action: memories::Action::Replace,
            id: Some(id),
            content: text(args, "content"),
            kind: text(args, "type"),
            path,
        },
    )
    .await?;
    let m = &r["memory"];
    Ok(json!({
        "status": "success", "id": m["id"], "type": m["type"],
        "path": m["path"], "content": m["content"],
    }))
}

async fn delete(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let id = text(args, "memory_id").unwrap_or_default();
    one(
        cx,
        Operation {
            action: memories::Action::Remove,
            id: Some(id.clone()),
            content: None,
            kind: None,
            path: None,
        },
    )
    .await
    .map_err(|_| anyhow::anyhow!("No memory of yours has that id."))?;
    Ok(json!({"status": "success", "message": format!("Memory {id} deleted")}))
}

async fn batch(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let ops: Vec<Operation> = match args.get("operations") {
        Some(v @ Value::Array(_)) => serde_json::from_value(v.clone())
            .map_err(|e| anyhow::anyhow!("The operations are not valid: {e}"))?,
        _ => anyhow::bail!("update_memory needs a list of operations."),
    };
    let results = memories::apply(cx.state, cx.caller.id(), ops, &origin(cx))
        .await
        .map_err(told)?;
    Ok(Value::Array(results))
}
