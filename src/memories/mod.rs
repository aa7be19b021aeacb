//! A user's memories as a tree of paths: cleaning what is written, batches
//! of operations (`add`, `replace`, `move`, `remove`) applied in one
//! transaction, and browsing by path or words (`browse`).
//!
//! The routes under `/api/v1/memories` and the memory tools a model calls
//! both come here, so a memory is written the same way whoever writes it.

pub mod browse;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::db::memories::{self, MemoryRow};
use crate::db::{new_id, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::rag::memories as vectors;
use crate::state::AppState;

/// The most operations one batch may carry.
pub const MAX_OPERATIONS: usize = 200;

/// A memory's text, trimmed; empty text is refused.
pub fn clean_content(c: Option<&str>) -> ApiResult<String> {
    let v = c.unwrap_or("").trim();
    if v.is_empty() {
        return Err(ApiError::bad_request("Memory content cannot be empty"));
    }
    Ok(v.to_string())
}

/// A memory path: slashes at the ends dropped, runs of slashes collapsed;
/// empty means no path. `.`/`..` segments and control characters are refused.
pub fn clean_path(p: Option<&str>) -> ApiResult<Option<String>> {
    let raw = p.unwrap_or("").trim().trim_matches('/');
    let mut collapsed = String::with_capacity(raw.len());
    for ch in raw.chars() {
        if ch == '/' && collapsed.ends_with('/') {
            continue;
        }
        collapsed.push(ch);
    }
    if collapsed.is_empty() {
        return Ok(None);
    }
    if collapsed
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
        || collapsed.chars().any(|c| (c as u32) < 32)
    {
        return Err(ApiError::bad_request("Invalid memory path"));
    }
    Ok(Some(collapsed))
}

/// `user` stays `user`; anything else is `context`.
pub fn normalize_kind(t: Option<&str>) -> String {
    if t == Some("user") { "user" } else { "context" }.to_string()
}

/// A memory as the memory tools and the batch routes hand it out: every
/// column but the stored `meta`.
pub fn wire_without_meta(m: &MemoryRow) -> Value {
    let mut v = m.wire();
    if let Some(o) = v.as_object_mut() {
        o.remove("meta");
    }
    v
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Replace,
    Remove,
    Move,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Replace => "replace",
            Action::Remove => "remove",
            Action::Move => "move",
        }
    }
}

/// One operation as sent by a client or a model.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub action: Action,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
}

/// Who wrote a batch: `tool` (a model or an API client) or
/// `background_review`, and the chat turn it came from, if any.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub created_by: String,
    pub chat_id: Option<String>,
    pub message_id: Option<String>,
    pub model_id: Option<String>,
}

impl Origin {
    fn meta(&self) -> Value {
        json!({
            "created_by": self.created_by,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "model": self.model_id,
        })
    }
}

/// An operation after its fields were checked.
struct Checked {
    action: Action,
    id: String,
    content: String,
    kind: Option<String>,
    path: Option<String>,
}

fn check(ops: Vec<Operation>) -> ApiResult<Vec<Checked>> {
    if ops.is_empty() {
        return Err(ApiError::bad_request("No memory operations provided"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_OPERATIONS} memory operations can be applied at once"
        )));
    }
    ops.into_iter()
        .map(|op| {
            let id = op.id.clone().filter(|s| !s.is_empty());
            let needs_id = |what: &str| {
                id.clone().ok_or_else(|| {
                    ApiError::bad_request(format!("Memory id is required for {what}"))
                })
            };
            Ok(match op.action {
                Action::Add => Checked {
                    action: op.action,
                    id: String::new(),
                    content: clean_content(op.content.as_deref())?,
                    kind: Some(normalize_kind(op.kind.as_deref())),
                    path: clean_path(op.path.as_deref())?,
                },
                Action::Replace => Checked {
                    action: op.action,
                    id: needs_id("replace")?,
                    content: clean_content(op.content.as_deref())?,
                    kind: op.kind.as_deref().map(|k| normalize_kind(Some(k))),
                    path: clean_path(op.path.as_deref())?,
                },
                Action::Move => Checked {
                    action: op.action,
                    id: needs_id("move")?,
                    content: String::new(),
                    kind: None,
                    path: clean_path(op.path.as_deref())?,
                },
                Action::Remove => Checked {
                    action: op.action,
                    id: needs_id("remove")?,
                    content: String::new(),
                    kind: None,
                    path: None,
                },
            })
        })
        .collect()
}

/// What happened to one operation.
enum Outcome {
    Created(MemoryRow),
    Updated(MemoryRow),
    Skipped(MemoryRow),
    Deleted(String),
}

fn merge_meta(old: Option<Value>, new: &Value) -> Value {
    let mut base = match old {
        Some(Value::Object(o)) => o,
        _ => Default::default(),
    };
    if let Value::Object(n) = new {
        for (k, v) in n {
            base.insert(k.clone(), v.clone());
        }
    }
    Value::Object(base)
}

fn run(
    tx: &rusqlite::Transaction,
    user_id: &str,
    ops: &[Checked],
    meta: &Value,
) -> ApiResult<Vec<Outcome>> {
    let now = now_secs();
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        if op.action == Action::Add {
            let kind = op.kind.clone().unwrap_or_else(|| "context".into());
            let existing =
                memories::find_same(tx, user_id, &op.content, &kind, op.path.as_deref())?;
            if let Some(m) = existing {
                out.push(Outcome::Skipped(m));
                continue;
            }
            let m = MemoryRow {
                id: new_id(),
                user_id: user_id.to_string(),
                kind,
                path: op.path.clone(),
                content: op.content.clone(),
                meta: Some(meta.clone()),
                created_at: now,
                updated_at: now,
            };
            memories::insert(tx, &m)?;
            out.push(Outcome::Created(m));
            continue;
        }
        let Some(mut m) = memories::get(tx, &op.id, user_id)? else {
            return Err(ApiError::not_found(format!("Memory not found: {}", op.id)));
        };
        match op.action {
            Action::Remove => {
                memories::delete(tx, &op.id, user_id)?;
                out.push(Outcome::Deleted(op.id.clone()));
            }
            Action::Replace | Action::Move => {
                if op.action == Action::Replace {
                    m.content = op.content.clone();
                    if let Some(k) = &op.kind {
                        m.kind = k.clone();
                    }
                }
                m.path = op.path.clone();
                m.meta = Some(merge_meta(m.meta.take(), meta));
                m.updated_at = now;
                memories::update(tx, &m)?;
                out.push(Outcome::Updated(m));
            }
            Action::Add => unreachable!("handled above"),
        }
    }
    Ok(out)
}

/// Applies a batch for one user: all of it or, when an operation names a
/// memory the user does not have, none of it (404). Vectors follow the rows.
/// Each result is `{action, status, memory | id[, reason]}`, memories
/// without their stored meta.
pub async fn apply(
    state: &AppState,
    user_id: &str,
    ops: Vec<Operation>,
    origin: &Origin,
) -> ApiResult<Vec<Value>> {
    let checked = check(ops)?;
    let actions: Vec<Action> = checked.iter().map(|c| c.action).collect();
    let (uid, meta) = (user_id.to_string(), origin.meta());
    let outcomes = state
        .db
        .try_write(move |tx| run(tx, &uid, &checked, &meta))
        .await?;
    let mut results = Vec::with_capacity(outcomes.len());
    for (action, outcome) in actions.into_iter().zip(outcomes) {
        let name = action.name();
        results.push(match outcome {
            Outcome::Created(m) | Outcome::Updated(m) => {
                if let Err(e) = vectors::upsert_vector(state, &m).await {
                    tracing::warn!(error = %e, "memory saved without its vector");
                }
                let status = if action == Action::Add {
                    "created"
                } else {
                    "updated"
                };
                json!({"action": name, "status": status, "memory": wire_without_meta(&m)})
            }
            Outcome::Skipped(m) => json!({
                "action": name, "status": "skipped",
                "memory": wire_without_meta(&m), "reason": "duplicate",
            }),
            Outcome::Deleted(id) => {
                vectors::remove_vector(state, user_id, &id).await;
                json!({"action": name, "status": "deleted", "id": id})
            }
        });
    }
    Ok(results)
}

/// All memories of a user, oldest first.
pub async fn of_user(state: &AppState, user_id: &str) -> ApiResult<Vec<MemoryRow>> {
    let uid = user_id.to_string();
    Ok(state.db.read(move |c| memories::by_user(c, &uid)).await?)
}
