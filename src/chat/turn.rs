//! What one turn of a chat is made of: the replies to produce and what their
//! generation tasks carry. The pipeline builds these; persisting and the
//! background tasks (title, tags, follow-ups) read them.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::auth::Caller;

/// One assistant reply to produce.
#[derive(Clone, Debug)]
pub struct Target {
    pub model_id: String,
    pub message_id: String,
    pub model_idx: Option<Value>,
}

/// Everything a generation task needs, owned so it can move into the task.
#[derive(Clone)]
pub struct Turn {
    pub caller: Caller,
    pub chat_id: String,
    /// Temporary (`local:…`) chats are streamed but never stored.
    pub persist: bool,
    pub new_chat: bool,
    pub folder_id: Option<String>,
    pub session_id: Option<String>,
    pub user_message_id: Option<String>,
    pub body: Map<String, Value>,
    /// The stored `output` of a reply that resumes after a paused tool call
    /// (empty for a new reply).
    pub resumed: Vec<Value>,
    /// A sub-agent's turn (see [`super::launch::Launch::internal`]).
    pub internal: bool,
    /// A bound on the tool rounds, below the server's own.
    pub max_rounds: Option<usize>,
}

/// Bound for background task calls (title, tags, follow-ups).
pub const TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// Keys of the browser's request that a resumed reply needs again (kept in
/// the paused message's `meta`).
pub const KEPT_KEYS: [&str; 7] = [
    "session_id",
    "features",
    "params",
    "variables",
    "files",
    "tool_ids",
    "skill_ids",
];
