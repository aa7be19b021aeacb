//! The code interpreter's turn in the round loop (prompt-based mode): when a
//! round ended on a closed `<code_interpreter>` block, the block runs
//! ([`crate::interpreter::chat`]), its output is shown and stored with it,
//! and the model is asked to go on with the block and its output in view.

use serde_json::{json, Value};

use super::events::Emitter;
use super::tasks::{lock_progress, Progress};
use super::think::TagPair;
use super::tools::ToolCx;
use super::turn::Turn;
use crate::interpreter::chat as ci;
use crate::interpreter::item;
use crate::state::AppState;

/// The tag pair that cuts blocks out of the stream, to add to the turn's
/// reasoning pairs when the turn runs blocks.
pub fn tag_pair() -> TagPair {
    TagPair {
        start: item::START_TAG.into(),
        end: item::END_TAG.into(),
        reasoning: true,
    }
}

/// Whether the turn's pairs include the interpreter's.
pub fn detects(tags: &[TagPair]) -> bool {
    tags.iter().any(|t| t.start == item::START_TAG)
}

/// Runs the block the round ended on, if any: the messages that carry the
/// block and its output to the model, or `None` when there was nothing to run.
pub async fn run_pending(emitter: &Emitter, out: &Progress, cx: &ToolCx<'_>) -> Option<Vec<Value>> {
    let mut item = lock_progress(out).code_to_run()?;
    let items = lock_progress(out).items("in_progress");
    emitter
        .emit("chat:completion", json!({"output": items}))
        .await;
    let who = ci::RunFor {
        tab: cx.tab(),
        files: cx.files.clone(),
    };
    ci::run_item(cx.state, &who, &mut item).await;
    let (start, items) = {
        let mut o = lock_progress(out);
        o.code_ran(item);
        (o.next_round(), o.items("in_progress"))
    };
    emitter
        .emit("chat:completion", json!({"output": items.clone()}))
        .await;
    // The round's text, the block and its output, as the model's own turn.
    let round = items
        .as_array()
        .map(|a| &a[start.min(a.len())..])
        .unwrap_or(&[]);
    Some(super::replay::output_to_messages(round))
}

/// Readies a turn for the interpreter when it may use it: the instructions
/// go into the request, and in the prompt-based mode the block tags are
/// returned, to join the pairs the stream is split by.
pub async fn prepare(
    state: &AppState,
    turn: &Turn,
    model: &Value,
    request: &mut Value,
) -> Option<TagPair> {
    if !ci::allowed(state, &turn.caller, &turn.body, model).await {
        return None;
    }
    if let Some((text, into_user)) = ci::instructions(state, &turn.body) {
        if let Some(messages) = request["messages"].as_array_mut() {
            if into_user {
                ci::add_to_user_message(messages, &text);
            } else {
                super::history::append_system(messages, &text);
            }
        }
    }
    ci::prompt_based(&turn.body).then(tag_pair)
}
