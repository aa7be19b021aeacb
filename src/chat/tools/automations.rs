//! The automation tools: schedule a prompt from the chat (run by the chat's
//! model), and list, change, pause or delete the user's own automations.
//! Schedules are iCalendar recurrence rules read in the user's time zone,
//! checked and limited as the automation routes do.

use serde_json::{json, Map, Value};

use super::{arg_int, arg_str, params, ToolCx};
use crate::automations::{self as engine, rrule, tz};
use crate::db::automations::{self as store, AutomationFields, AutomationRow, SearchFilter};
use crate::db::{self, folders};
use crate::error::ApiError;

pub const NAMES: [&str; 5] = [
    "create_automation",
    "update_automation",
    "list_automations",
    "toggle_automation",
    "delete_automation",
];

const MAX_PROMPT_CHARS: usize = 100_000;

pub fn spec(name: &str) -> Value {
    let int = |d: &str| json!({"type": "integer", "description": d});
    let string = |d: &str| json!({"type": "string", "description": d});
    let id = || string("The automation's id.");
    let schedule = "An iCalendar rule, read in the user's time zone. A DTSTART line sets the time of day, e.g. \"DTSTART:20250101T090000\\nRRULE:FREQ=DAILY\" (daily at 9:00), \"DTSTART:20250106T080000\\nRRULE:FREQ=WEEKLY;BYDAY=MO\" (Mondays 8:00), \"RRULE:FREQ=HOURLY;INTERVAL=2\" (every two hours); COUNT=1 runs once.";
    let (description, parameters) = match name {
        "create_automation" => (
            "Schedule a prompt to run by itself, once or repeatedly, with the model of this chat; each run's answer lands in a new chat.",
            params(
                json!({
                    "name": string("A short name."),
                    "prompt": string("What to ask the model on each run."),
                    "rrule": string(schedule),
                    "folder_id": string("A folder of the user's for the chats the runs create (optional)."),
                }),
                &["name", "prompt", "rrule"],
            ),
        ),
        "update_automation" => (
            "Change an automation of the user's; fields left out stay as they are.",
            params(
                json!({
                    "automation_id": id(),
                    "name": string("A new name."),
                    "prompt": string("A new prompt."),
                    "rrule": string(schedule),
                    "model_id": string("Another model to run it with."),
                    "folder_id": {"type": ["string", "null"], "description": "Another folder of the user's; null takes it out of its folder, empty keeps it."},
                }),
                &["automation_id"],
            ),
        ),
        "list_automations" => (
            "The user's automations with their schedules, state and next run times.",
            params(
                json!({
                    "status": string("\"active\" or \"paused\"; all when left out."),
                    "folder_id": string("Only those in this folder."),
                    "count": int("How many at most (default 10)."),
                }),
                &[],
            ),
        ),
        "toggle_automation" => (
            "Pause an active automation, or resume a paused one.",
            params(json!({"automation_id": id()}), &["automation_id"]),
        ),
        _ => (
            "Delete an automation of the user's with the record of its runs.",
            params(json!({"automation_id": id()}), &["automation_id"]),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    match name {
        "create_automation" => create(cx, args).await,
        "list_automations" => list(cx, args).await,
        _ => {
            let id = arg_str(args, "automation_id").unwrap_or("");
            let current = own(cx, id).await?;
            match name {
                "update_automation" => update(cx, current, args).await,
                "toggle_automation" => toggle(cx, current).await,
                _ => delete(cx, current).await,
            }
        }
    }
}

fn zone(cx: &ToolCx<'_>) -> Option<tz::Zone> {
    tz::of_user(cx.caller.user.timezone.as_deref())
}

/// A refusal from the shared checks, worded for the model.
fn told(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(inner) => inner,
        other => anyhow::anyhow!("{other}"),
    }
}

/// The caller's automation with that id; anyone else's looks missing.
async fn own(cx: &ToolCx<'_>, id: &str) -> anyhow::Result<AutomationRow> {
    let id = id.to_string();
    match cx.state.db.read(move |c| store::get(c, &id)).await? {
        Some(a) if a.user_id == cx.caller.id() => Ok(a),
        _ => anyhow::bail!("You have no automation with that id."),
    }
}

/// A folder of the caller's, by id.
async fn own_folder(cx: &ToolCx<'_>, id: &str) -> anyhow::Result<String> {
    let (fid, uid) = (id.to_string(), cx.caller.id().to_string());
    match cx
        .state
        .db
        .read(move |c| folders::get_for_user(c, &fid, &uid))
        .await?
    {
        Some(f) => Ok(f.id),
        None => anyhow::bail!("You have no folder with that id."),
    }
}

/// A schedule the automation routes would accept for this caller.
async fn checked_rule(cx: &ToolCx<'_>, rule: &str, creating: bool) -> anyhow::Result<()> {
    if rule.chars().count() > 1000 {
        anyhow::bail!("The schedule is too long.");
    }
    rrule::validate(rule, zone(cx).as_ref())
        .map_err(|e| anyhow::anyhow!("The schedule is not valid: {e}"))?;
    engine::check_limits(cx.state, cx.caller, rule, creating)
        .await
        .map_err(told)
}

fn checked_text(what: &str, text: &str, max: usize) -> anyhow::Result<String> {
    if text.trim().is_empty() {
        anyhow::bail!("The {what} may not be empty.");
    }
    if text.chars().count() > max {
        anyhow::bail!("The {what} is too long (at most {max} characters).");
    }
    Ok(text.to_string())
}

fn summary(a: &AutomationRow, zone: Option<&tz::Zone>) -> Value {
    let model = a.data.get("model_id").cloned().unwrap_or(json!(""));
    json!({
        "status": "success", "id": a.id, "name": a.name, "folder_id": a.folder_id,
        "model_id": model, "target": a.data.get("target").cloned().unwrap_or(Value::Null),
        "is_active": a.is_active, "next_runs": rrule::next_runs_ns(&a.rrule(), 5, zone),
    })
}

async fn create(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    if cx.chat_id.starts_with("channel:") {
        anyhow::bail!("Automations cannot post to a channel on this server; ask from a chat.");
    }
    let name = checked_text("name", arg_str(args, "name").unwrap_or(""), 255)?;
    let prompt = checked_text(
        "prompt",
        arg_str(args, "prompt").unwrap_or(""),
        MAX_PROMPT_CHARS,
    )?;
    let rule = arg_str(args, "rrule").unwrap_or("").to_string();
    let folder_id = match arg_str(args, "folder_id").filter(|s| !s.trim().is_empty()) {
        Some(f) => Some(own_folder(cx, f.trim()).await?),
        None => None,
    };
    checked_rule(cx, &rule, true).await?;
    let fields = AutomationFields {
        name,
        folder_id,
        data: json!({
            "prompt": prompt, "model_id": cx.model_id, "rrule": rule,
            "terminal": null, "target": null,
        }),
        meta: None,
        is_active: Some(true),
    };
    let zone = zone(cx);
    let next = rrule::next_run_ns(&rule, zone.as_ref());
    let (uid, now) = (cx.caller.id().to_string(), db::now_nanos());
    let row = cx
        .state
        .db
        .write(move |c| store::insert(c, &uid, &fields, next, now))
        .await?;
    Ok(summary(&row, zone.as_ref()))
}

async fn update(
    cx: &ToolCx<'_>,
    current: AutomationRow,
    args: &Map<String, Value>,
) -> anyhow::Result<Value> {
    let name = match arg_str(args, "name") {
        Some(n) => checked_text("name", n, 255)?,
        None => current.name.clone(),
    };
    let mut data = current.data.as_object().cloned().unwrap_or_default();
    if let Some(p) = arg_str(args, "prompt") {
        data.insert(
            "prompt".into(),
            json!(checked_text("prompt", p, MAX_PROMPT_CHARS)?),
        );
    }
    if let Some(m) = arg_str(args, "model_id")
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        data.insert("model_id".into(), json!(checked_text("model id", m, 255)?));
    }
    let rule = match arg_str(args, "rrule") {
        Some(r) => r.to_string(),
        None => current.rrule(),
    };
    if args.get("rrule").is_some_and(Value::is_string) {
        rrule::validate(&rule, zone(cx).as_ref())
            .map_err(|e| anyhow::anyhow!("The schedule is not valid: {e}"))?;
    }
    engine::check_limits(cx.state, cx.caller, &rule, false)
        .await
        .map_err(told)?;
    data.insert("rrule".into(), json!(rule));
    let folder_id = match args.get("folder_id") {
        Some(Value::Null) => None,
        Some(Value::String(f)) if !f.trim().is_empty() => Some(own_folder(cx, f.trim()).await?),
        _ => current.folder_id.clone(),
    };
    let fields = AutomationFields {
        name,
        folder_id,
        data: Value::Object(data),
        meta: current.meta.clone(),
        is_active: Some(current.is_active),
    };
    let zone = zone(cx);
    let next = rrule::next_run_ns(&rule, zone.as_ref());
    let (id, now) = (current.id.clone(), db::now_nanos());
    let row = cx
        .state
        .db
        .write(move |c| store::update(c, &id, &fields, next, now))
        .await?
        .ok_or_else(|| anyhow::anyhow!("You have no automation with that id."))?;
    Ok(summary(&row, zone.as_ref()))
}

async fn list(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let folder_id = match arg_str(args, "folder_id").filter(|s| !s.trim().is_empty()) {
        Some(f) => Some(own_folder(cx, f.trim()).await?),
        None => None,
    };
    let status = arg_str(args, "status")
        .filter(|s| matches!(*s, "active" | "paused"))
        .map(str::to_string);
    let filter = SearchFilter {
        query: None,
        status,
        folder_id,
        skip: 0,
        limit: arg_int(args, "count").unwrap_or(10).clamp(1, 100),
    };
    let uid = cx.caller.id().to_string();
    let (rows, total) = cx
        .state
        .db
        .read(move |c| store::search(c, &uid, &filter))
        .await?;
    let zone = zone(cx);
    let items: Vec<Value> = rows
        .iter()
        .map(|a| {
            let prompt = a.data.get("prompt").and_then(Value::as_str).unwrap_or("");
            let mut snippet: String = prompt.chars().take(100).collect();
            if prompt.chars().count() > 100 {
                snippet.push_str("...");
            }
            json!({
                "id": a.id, "name": a.name, "folder_id": a.folder_id,
                "prompt_snippet": snippet,
                "model_id": a.data.get("model_id").cloned().unwrap_or(json!("")),
                "target": a.data.get("target").cloned().unwrap_or(Value::Null),
                "rrule": a.rrule(), "is_active": a.is_active, "last_run_at": a.last_run_at,
                "next_runs": rrule::next_runs_ns(&a.rrule(), 5, zone.as_ref()),
            })
        })
        .collect();
    Ok(json!({"automations": items, "total": total}))
}

async fn toggle(cx: &ToolCx<'_>, current: AutomationRow) -> anyhow::Result<Value> {
    let next = rrule::next_run_ns(&current.rrule(), zone(cx).as_ref());
    let (id, now) = (current.id.clone(), db::now_nanos());
    let row = cx
        .state
        .db
        .write(move |c| store::toggle(c, &id, next, now))
        .await?
        .ok_or_else(|| anyhow::anyhow!("You have no automation with that id."))?;
    Ok(json!({"status": "success", "id": row.id, "name": row.name, "is_active": row.is_active}))
}

async fn delete(cx: &ToolCx<'_>, current: AutomationRow) -> anyhow::Result<Value> {
    let id = current.id.clone();
    cx.state.db.write(move |c| store::delete(c, &id)).await?;
    Ok(json!({
        "status": "success",
        "message": format!("The automation \"{}\" was deleted.", current.name),
    }))
}
