//! The task list a model keeps on a saved chat while it works through a
//! multi-step request: it writes the list once, then marks items as it goes.
//! The list lives on the chat row (`tasks`) and every change is sent to the
//! user's open tabs as `chat:message:tasks`.

use serde_json::{json, Map, Value};

use super::{arg_str, is_saved_chat_id, params, ToolCx};
use crate::chat::events::Emitter;
use crate::db;

pub const NAMES: [&str; 2] = ["create_tasks", "update_task"];

const STATUSES: [&str; 4] = ["pending", "in_progress", "completed", "cancelled"];
/// Bounds on what a model may store on the chat row.
const MAX_TASKS: usize = 100;
const MAX_CONTENT_CHARS: usize = 2000;

pub fn spec(name: &str) -> Value {
    let status = |d: &str| json!({"type": "string", "enum": STATUSES, "description": d});
    let (description, parameters) = match name {
        "create_tasks" => (
            "Show the user a checklist of the steps you will take for multi-step work; it replaces any list shown before. Mark progress with update_task.",
            params(
                json!({
                    "tasks": {
                        "type": "array",
                        "description": "The steps, in order.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "description": "A short id for the step (numbered from 1 when left out)."},
                                "content": {"type": "string", "description": "What the step does."},
                                "status": status("Where the step stands (default pending)."),
                            },
                            "required": ["content"],
                        },
                    },
                }),
                &["tasks"],
            ),
        ),
        _ => (
            "Set the status of one step of the checklist made with create_tasks.",
            params(
                json!({
                    "id": {"type": "string", "description": "The step's id."},
                    "status": status("The new status (default completed)."),
                }),
                &["id"],
            ),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    if !is_saved_chat_id(cx.chat_id) {
        anyhow::bail!("A task list needs a saved chat; this chat is not stored.");
    }
    let tasks = match name {
        "create_tasks" => fresh_list(args)?,
        _ => {
            let id = arg_str(args, "id").unwrap_or("").trim().to_string();
            let status = arg_str(args, "status")
                .unwrap_or("completed")
                .trim()
                .to_lowercase();
            if !STATUSES.contains(&status.as_str()) {
                anyhow::bail!(
                    "Unknown status \"{}\"; use one of: {}.",
                    status.chars().take(40).collect::<String>(),
                    STATUSES.join(", ")
                );
            }
            let (chat, uid) = (cx.chat_id.to_string(), cx.caller.id().to_string());
            let mut tasks = cx
                .state
                .db
                .read(move |c| db::chats::tasks_of(c, &chat, &uid))
                .await?
                .ok_or_else(|| anyhow::anyhow!("This chat is not stored yet."))?;
            let Some(task) = tasks
                .iter_mut()
                .find(|t| t.get("id").and_then(Value::as_str) == Some(id.as_str()))
            else {
                anyhow::bail!("The task list has no step with that id.");
            };
            task["status"] = json!(status);
            tasks
        }
    };
    let (chat, uid, stored) = (
        cx.chat_id.to_string(),
        cx.caller.id().to_string(),
        tasks.clone(),
    );
    let saved = cx
        .state
        .db
        .write(move |c| db::chats::set_tasks(c, &chat, &uid, &stored))
        .await?;
    if !saved {
        anyhow::bail!("This chat is not stored yet.");
    }
    Emitter::new(cx.state, cx.caller.id(), cx.chat_id, cx.message_id, None)
        .emit("chat:message:tasks", json!({"tasks": tasks}))
        .await;
    Ok(json!({"tasks": tasks, "summary": summary(&tasks)}))
}

/// The list a `create_tasks` call describes: steps without text are
/// dropped, a missing id becomes the step's position, an unknown status
/// `pending`.
fn fresh_list(args: &Map<String, Value>) -> anyhow::Result<Vec<Value>> {
    let Some(items) = args.get("tasks").and_then(Value::as_array) else {
        anyhow::bail!("create_tasks needs a list of tasks.");
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = |k: &str| match item.get(k) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let content = text("content");
        if content.is_empty() {
            continue;
        }
        if out.len() == MAX_TASKS {
            anyhow::bail!("A task list holds at most {MAX_TASKS} steps.");
        }
        let id = Some(text("id"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| (i + 1).to_string());
        let status = text("status").to_lowercase();
        let status = if STATUSES.contains(&status.as_str()) {
            status
        } else {
            "pending".to_string()
        };
        let content: String = content.chars().take(MAX_CONTENT_CHARS).collect();
        let id: String = id.chars().take(100).collect();
        out.push(json!({"id": id, "content": content, "status": status}));
    }
    Ok(out)
}

fn summary(tasks: &[Value]) -> Value {
    let count = |s: &str| {
        tasks
            .iter()
            .filter(|t| t.get("status").and_then(Value::as_str) == Some(s))
            .count()
    };
    json!({
        "total": tasks.len(),
        "pending": count("pending"),
        "in_progress": count("in_progress"),
        "completed": count("completed"),
        "cancelled": count("cancelled"),
    })
}
