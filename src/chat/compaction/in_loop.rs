//! Compaction between the rounds of a tool loop: when a reply's own tool
//! calls and results push the request past the threshold, the older part is
//! summarised before the model is asked again. The cut lands on a tool-call
//! batch, the user's question stays right after the system prompt, and a
//! marker in the reply's output (call id + summary) lets later turns start
//! from the same place ([`super::plan::apply_checkpoint`]).

use std::sync::Mutex;

use serde_json::{json, Value};

use super::plan::{self, MARKER, SUMMARY_HEADING};
use super::{emit_failed, settings, status, summarize};
use crate::auth::Caller;
use crate::chat::events::Emitter;
use crate::chat::history;
use crate::frontend_texts as texts;
use crate::state::AppState;

/// What a reply's tool loop needs to compact between rounds.
pub struct LoopCompactor {
    chat_id: String,
    model_id: String,
    chat_threshold: Option<Value>,
    /// The summary in force (the turn's, then the loop's latest).
    summary: Mutex<Option<String>>,
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

impl LoopCompactor {
    pub fn new(
        chat_id: &str,
        model_id: &str,
        chat_threshold: Option<Value>,
        summary: Option<String>,
    ) -> LoopCompactor {
        LoopCompactor {
            chat_id: chat_id.to_string(),
            model_id: model_id.to_string(),
            chat_threshold,
            summary: Mutex::new(summary),
        }
    }

    fn current_summary(&self) -> Option<String> {
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Compacts `messages` (the next request's) when they are over the
    /// threshold. `latest_usage` is what the last provider call reported
    /// (covering everything but `new_results`). Returns the marker to add to
    /// the reply's output when it compacted.
    pub async fn between_rounds(
        &self,
        state: &AppState,
        caller: &Caller,
        emitter: &Emitter,
        messages: &mut Vec<Value>,
        new_results: usize,
        latest_usage: Option<&Value>,
    ) -> Option<Value> {
        let settings = settings(state);
        if !settings.enable {
            return None;
        }
        let threshold = settings.threshold_for(self.chat_threshold.as_ref());
        let system_count = messages.iter().take_while(|m| role(m) == "system").count();
        let (system, rest) = messages.split_at(system_count);
        let fresh = &rest[rest.len().saturating_sub(new_results)..];
        let reported = latest_usage.map(plan::usage_tokens).filter(|n| *n > 0);
        let tokens = match reported {
            Some(n) => n + plan::estimate_messages(fresh),
            None => plan::estimate_messages(messages),
        };
        if threshold <= 0 || tokens <= threshold {
            return None;
        }
        let cut = plan::boundary(rest, settings.retention);
        if cut == 0 || cut >= rest.len() {
            return None;
        }
        let (compacted, recent) = rest.split_at(cut);
        emitter
            .emit(
                "context_compaction",
                status(texts::COMPACTING_CONTEXT, false),
            )
            .await;
        let previous = self.current_summary();
        let summary = match summarize(
            state,
            caller,
            &settings,
            &self.model_id,
            compacted,
            recent,
            previous.as_deref(),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                emit_failed(emitter).await;
                tracing::error!(chat = %self.chat_id, error = %e, "context compaction in a tool loop failed; keeping the context");
                return None;
            }
        };
        let call_id = recent
            .iter()
            .find_map(|m| m.pointer("/tool_calls/0/id").cloned())
            .unwrap_or(Value::Null);
        // The question being answered stays in front of the kept batches.
        let question = if recent.iter().any(|m| role(m) == "user") {
            None
        } else {
            compacted.iter().rev().find(|m| role(m) == "user").cloned()
        };
        let mut next: Vec<Value> = system
            .iter()
            .filter(|m| !history::message_text(m).starts_with(SUMMARY_HEADING))
            .cloned()
            .collect();
        let at = next.len().min(1);
        next.insert(
            at,
            json!({"role": "system", "content": format!("{SUMMARY_HEADING}\n{summary}")}),
        );
        next.extend(question);
        next.extend_from_slice(recent);
        tracing::info!(
            chat = %self.chat_id,
            dropped = compacted.len(),
            kept = recent.len(),
            summary_chars = summary.chars().count(),
            "compacted the context inside a tool loop"
        );
        *messages = next;
        *self.summary.lock().unwrap_or_else(|p| p.into_inner()) = Some(summary.clone());
        let mut done = status(texts::CONTEXT_COMPACTED, true);
        done["checkpoint_message_id"] = Value::Null;
        done["context_summary"] = json!(summary);
        emitter.emit("context_compaction", done).await;
        Some(json!({
            "type": MARKER,
            "id": crate::chat::output::short_id("cc"),
            "call_id": call_id,
            "summary": summary,
        }))
    }
}
