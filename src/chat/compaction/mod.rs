//! Context compaction: when a saved chat grows past its token threshold, the
//! older turns are replaced by a summary a model writes. The summary is
//! stored on the first message kept (`contextSummary`), so later turns start
//! from there; the provider sees it appended to the system message.
//!
//! [`plan`] holds the pure rules; this module reads the settings, calls the
//! summarising model, stores the checkpoint and tells the browser.

mod in_loop;
pub mod plan;

pub use in_loop::LoopCompactor;

use serde_json::{json, Value};

use super::events::Emitter;
use super::history;
use crate::auth::Caller;
use crate::db::{self, chats::ChatRow};
use crate::error::{ApiError, ApiResult};
use crate::frontend_texts as texts;
use crate::llm;
use crate::state::AppState;
pub use plan::Settings;

/// How long a summary may take (a long conversation is a big prompt).
const SUMMARY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The admin's settings (`chat.context_compaction.*`).
pub fn settings(state: &AppState) -> Settings {
    let c = &state.config;
    Settings::from_values(
        c.get_bool("chat.context_compaction.enable"),
        &c.get("chat.context_compaction.token_threshold"),
        &c.get("chat.context_compaction.token_cap"),
        &c.get("chat.context_compaction.retention_percentage"),
        c.get_str("chat.context_compaction.prompt_template"),
        c.get_str("chat.context_compaction.model"),
    )
}

/// Why a summary could not be had.
#[derive(Debug)]
pub enum SummaryError {
    /// Neither the compaction model nor the chat's model is available.
    NoModel,
    /// The model call failed or timed out.
    Call(String),
}

impl std::fmt::Display for SummaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SummaryError::NoModel => f.write_str("no model is available for context compaction"),
            SummaryError::Call(e) => write!(f, "the summary request failed: {e}"),
        }
    }
}

/// Asks a model for the summary of `compacted`: the configured compaction
/// model when this caller can use it, else `chat_model`. An empty answer
/// still yields a summary (the start of each message that was dropped).
pub async fn summarize(
    state: &AppState,
    caller: &Caller,
    settings: &Settings,
    chat_model: &str,
    compacted: &[Value],
    recent: &[Value],
    previous: Option<&str>,
) -> Result<String, SummaryError> {
    let mut model = None;
    if !settings.model.is_empty() {
        model = llm::resolve(state, caller, &settings.model).await.ok();
    }
    if model.is_none() {
        model = llm::resolve(state, caller, chat_model).await.ok();
    }
    let model = model.ok_or(SummaryError::NoModel)?;
    let prompt = plan::render_prompt(
        &settings.template,
        compacted,
        recent,
        previous,
        &caller.user.name,
    );
    let max_tokens = model
        .params
        .get("max_tokens")
        .and_then(plan::positive_int)
        .unwrap_or(1000);
    let body = json!({
        "model": model.target.upstream_id,
        "messages": [{"role": "user", "content": prompt}],
        "stream": false,
        "max_tokens": max_tokens,
    });
    let done = tokio::time::timeout(SUMMARY_TIMEOUT, llm::complete(&model.target, body))
        .await
        .map_err(|_| SummaryError::Call("timed out".into()))?
        .map_err(|e| SummaryError::Call(e.to_string()))?;
    let mut text = plan::answer_text(&done.raw);
    if text.trim().is_empty() {
        text = done.content;
    }
    let text = text.trim();
    if text.is_empty() {
        return Ok(plan::fallback_summary(previous, compacted));
    }
    Ok(text.to_string())
}

/// Stores a summary checkpoint on a message without moving the chat up the list.
pub async fn store_checkpoint(
    state: &AppState,
    chat_id: &str,
    message_id: &str,
    summary: &str,
) -> ApiResult<()> {
    let (cid, mid, now) = (chat_id.to_string(), message_id.to_string(), db::now_secs());
    let fields = json!({"contextSummary": summary});
    state
        .db
        .write(move |tx| {
            db::chats::upsert_message_with(tx, &cid, &mid, &fields, Some(false), false, now)
                .map(|_| ())
        })
        .await?;
    Ok(())
}

fn id_of(m: &Value) -> Option<&str> {
    m.get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn status(description: &str, done: bool) -> Value {
    json!({"action": "context_compaction", "description": description, "done": done})
}

/// Tells the chat that a summary could not be made.
async fn emit_failed(emitter: &Emitter) {
    let mut failed = status(texts::CONTEXT_COMPACTION_FAILED, true);
    failed["error"] = json!(true);
    emitter.emit("context_compaction", failed).await;
}

/// What a turn sends before its new reply, after compaction.
pub struct TurnContext {
    /// The stored messages the provider sees (from the newest checkpoint on).
    pub messages: Vec<Value>,
    /// The summary to add to the system message, if any.
    pub summary: Option<String>,
}

/// What one turn needs to know to compact.
pub struct TurnInput<'a> {
    pub chat_id: &'a str,
    /// Root-to-parent path of the reply being written (stored messages).
    pub path: Vec<Value>,
    /// The system prompt the turn sends (counted in the estimate).
    pub system_prompt: &'a str,
    /// The chat's or model's own `compact_token_threshold`.
    pub chat_threshold: Option<&'a Value>,
    pub model_id: &'a str,
}

/// Applies the branch's newest checkpoint, and compacts first when the
/// conversation is over its threshold: the older turns are summarised, the
/// summary is stored on the first kept message (a user message) and the
/// browser sees `context_compaction` status events. A failed summary is
/// logged and the turn goes on with the whole history.
pub async fn for_turn(
    state: &AppState,
    caller: &Caller,
    emitter: &Emitter,
    input: TurnInput<'_>,
) -> TurnContext {
    let settings = settings(state);
    if !settings.enable {
        return TurnContext {
            messages: input.path,
            summary: None,
        };
    }
    let full = input.path.clone();
    let (messages, previous) = plan::apply_checkpoint(input.path);
    let threshold = settings.threshold_for(input.chat_threshold);
    let unchanged =
        |messages: Vec<Value>, summary: Option<String>| TurnContext { messages, summary };
    if !plan::exceeds(
        &messages,
        input.system_prompt,
        previous.as_deref(),
        threshold,
    ) {
        return unchanged(messages, previous);
    }
    let cut = plan::boundary(&messages, settings.retention);
    if cut == 0 || cut >= messages.len() {
        return unchanged(messages, previous);
    }
    let (compacted, recent) = messages.split_at(cut);
    emitter
        .emit(
            "context_compaction",
            status(texts::COMPACTING_CONTEXT, false),
        )
        .await;
    let summary = match summarize(
        state,
        caller,
        &settings,
        input.model_id,
        compacted,
        recent,
        previous.as_deref(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            emit_failed(emitter).await;
            tracing::error!(chat = %input.chat_id, error = %e, "context compaction failed; the turn goes on with the whole history");
            return unchanged(full, None);
        }
    };
    // Only a kept part that starts a user turn is a checkpoint later turns can start from.
    let first = &recent[0];
    let starts_turn = first.get("role").and_then(Value::as_str) == Some("user");
    let checkpoint = id_of(first).filter(|_| starts_turn);
    if let Some(mid) = checkpoint {
        if let Err(e) = store_checkpoint(state, input.chat_id, mid, &summary).await {
            tracing::warn!(chat = %input.chat_id, error = %e, "could not store the compaction checkpoint");
        }
    }
    tracing::info!(
        chat = %input.chat_id,
        checkpoint = checkpoint.unwrap_or(""),
        dropped = compacted.len(),
        kept = recent.len(),
        summary_chars = summary.chars().count(),
        "compacted the chat context"
    );
    let mut done = status(texts::CONTEXT_COMPACTED, true);
    done["checkpoint_message_id"] = json!(checkpoint);
    done["context_summary"] = json!(summary);
    emitter.emit("context_compaction", done).await;
    TurnContext {
        messages: recent.to_vec(),
        summary: Some(summary),
    }
}

/// The message the chat shows and the branch leading to it.
fn current_branch(row: &ChatRow) -> Option<(String, Vec<Value>)> {
    let current = row
        .current_message_id
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| history::current_message_id(&row.chat))?;
    let messages = row
        .chat
        .pointer("/history/messages")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let path = history::path_to(&messages, &current);
    Some((current, path))
}

/// `context_usage` of a chat: the tokens its next turn will be judged by and
/// the threshold, `None` while compaction is off or the chat is empty.
pub fn context_usage(state: &AppState, row: &ChatRow) -> Option<Value> {
    let (_, path) = current_branch(row)?;
    if path.is_empty() {
        return None;
    }
    let settings = settings(state);
    if !settings.enable {
        return None;
    }
    let threshold = settings.threshold_for(row.chat.pointer("/params/compact_token_threshold"));
    let (messages, previous) = plan::apply_checkpoint(path);
    let extra = plan::estimate_text(previous.as_deref().unwrap_or(""));
    let tokens = plan::conversation_tokens(&messages, extra);
    Some(plan::usage_report(tokens, threshold))
}

/// The model a manual compaction uses: the one asked for, else the newest
/// message's model on the branch, else the chat's first model.
pub fn branch_model(row: &ChatRow, asked: Option<&str>) -> Option<String> {
    if let Some(m) = asked.filter(|m| !m.is_empty()) {
        return Some(m.to_string());
    }
    let path = current_branch(row).map(|(_, p)| p).unwrap_or_default();
    path.iter()
        .rev()
        .find_map(|m| {
            m.get("model")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .or_else(|| {
            row.chat
                .get("models")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_string)
}

/// Compacts a chat's current branch on request: everything before its last
/// message is summarised and the summary stored on that message. Answers
/// `{ok, compacted, reason}` when there is nothing to do, else the counts.
pub async fn compact_branch(
    state: &AppState,
    caller: &Caller,
    row: &ChatRow,
    model_id: &str,
) -> ApiResult<Value> {
    let settings = settings(state);
    if !settings.enable {
        return Ok(json!({"ok": true, "compacted": false, "reason": texts::COMPACT_DISABLED}));
    }
    let Some((current, path)) = current_branch(row) else {
        return Ok(json!({"ok": true, "compacted": false, "reason": texts::COMPACT_EMPTY}));
    };
    let (messages, previous) = plan::apply_checkpoint(path);
    if messages.len() < 2 {
        return Ok(json!({"ok": true, "compacted": false, "reason": texts::COMPACT_TOO_SHORT}));
    }
    let (compacted, recent) = messages.split_at(messages.len() - 1);
    let summary = summarize(
        state,
        caller,
        &settings,
        model_id,
        compacted,
        recent,
        previous.as_deref(),
    )
    .await
    .map_err(|e| match e {
        SummaryError::NoModel => ApiError::bad_request(NO_MODEL),
        SummaryError::Call(e) => {
            ApiError::bad_request(format!("The summary could not be written: {e}"))
        }
    })?;
    store_checkpoint(state, &row.id, &current, &summary).await?;
    Ok(json!({
        "ok": true,
        "compacted": true,
        "dropped_messages": compacted.len(),
        "kept_messages": recent.len(),
        "summary_chars": summary.chars().count(),
    }))
}

/// The refusal when no model can write the summary.
pub const NO_MODEL: &str = "No model found for context compaction.";
