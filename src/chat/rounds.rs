//! Streaming one reply, round by round: the model's text and reasoning go to
//! the user's sockets as they arrive; when the model asks for tools, they run
//! ([`super::tools`]), their results join the conversation and the model is
//! asked again, up to a bounded number of rounds.

use futures::StreamExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::approval::{self, Approval};
use super::compaction::LoopCompactor;
use super::events::Emitter;
use super::output::CallRequest;
use super::tasks::{lock_progress, Progress};
use super::think::{Piece, TagPair, ThinkSplitter};
use super::tools::{ToolBox, ToolCx};
use crate::db::chat_messages::merge_usage;
use crate::llm::{self, ResolvedModel, StreamEvent};

/// How a generation ended.
pub enum Ending {
    Completed,
    Cancelled,
    Failed(String),
    /// A tool waits for the user (an `ask_user` question); the turn is saved
    /// as it stands and goes on when the answer comes.
    Paused,
}

/// Rounds of tool calls one reply may take before it is stopped, unless
/// `CHAT_RESPONSE_MAX_TOOL_CALL_ITERATIONS` says otherwise.
const DEFAULT_MAX_ROUNDS: usize = 256;

fn max_rounds() -> usize {
    std::env::var("CHAT_RESPONSE_MAX_TOOL_CALL_ITERATIONS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_ROUNDS)
}

/// Streams the reply and runs the tools it calls until the model answers
/// without calling any.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    emitter: &Emitter,
    resolved: &ResolvedModel,
    mut request: Value,
    out: &Progress,
    usage: &mut Option<Value>,
    cancel: &CancellationToken,
    tools: &ToolBox,
    cx: &ToolCx<'_>,
    compactor: Option<&LoopCompactor>,
    reasoning_tags: &[TagPair],
) -> Ending {
    let limit = cx
        .max_rounds
        .map_or_else(max_rounds, |own| own.min(max_rounds()));
    let mut rounds = 0;
    let mut blocks = 0;
    let runs_code = super::code_round::detects(reasoning_tags);
    // Sources the reading tools gave so far (see `tools::citations`).
    let mut cited: Vec<Value> = Vec::new();
    loop {
        let ending = stream_once(
            emitter,
            resolved,
            request.clone(),
            out,
            usage,
            cancel,
            reasoning_tags,
        )
        .await;
        if !matches!(ending, Ending::Completed) {
            return ending;
        }
        let calls = lock_progress(out).round_calls();
        if calls.is_empty() && runs_code && blocks < crate::interpreter::chat::MAX_BLOCKS {
            blocks += 1;
            let ran = tokio::select! {
                r = super::code_round::run_pending(emitter, out, cx) => r,
                _ = cancel.cancelled() => return Ending::Cancelled,
            };
            if let Some(follow_up) = ran {
                if let Some(msgs) = request.get_mut("messages").and_then(Value::as_array_mut) {
                    msgs.extend(follow_up);
                }
                continue;
            }
        }
        if calls.is_empty() {
            return Ending::Completed;
        }
        if rounds >= limit {
            return Ending::Failed(format!("Tool-call limit reached ({limit} iterations)."));
        }
        rounds += 1;
        let mut ran = Vec::new();
        let outcome = tokio::select! {
            o = run_calls(emitter, out, tools, cx, &calls, &mut ran) => o,
            _ = cancel.cancelled() => return Ending::Cancelled,
        };
        let new_sources: Vec<Value> = ran
            .iter()
            .flat_map(|(call, text)| tools.cite(&call.name, &call.arguments, text))
            .collect();
        for source in &new_sources {
            emitter.emit("source", source.clone()).await;
        }
        lock_progress(out).add_citations(&new_sources);
        cited.extend(new_sources);
        if outcome == RoundOutcome::Paused {
            return Ending::Paused;
        }
        let (start, items) = {
            let mut o = lock_progress(out);
            let start = o.next_round();
            (start, o.items("completed"))
        };
        let done = lock_progress(out).done_events(start, "completed");
        for ev in done {
            emitter.emit("response:completion", ev).await;
        }
        let round_items = items.as_array().map(|a| &a[start..]).unwrap_or(&[]);
        let field = super::replay::reasoning_field(&resolved.model_item);
        let follow_up = super::replay::output_to_messages_for(round_items, true, field);
        let results = follow_up.iter().filter(|m| m["role"] == "tool").count();
        if let Some(msgs) = request.get_mut("messages").and_then(Value::as_array_mut) {
            let from = msgs.len();
            msgs.extend(follow_up);
            super::media::inline_own_images(cx.state, cx.caller, &mut msgs[from..]).await;
            if !cited.is_empty() {
                tools.cite_in_prompt(cx.state, msgs, &cited);
            }
            // Over the threshold, the older part is summarised before the next call.
            if let Some(c) = compactor {
                let (st, who) = (cx.state, cx.caller);
                let latest = usage.as_ref();
                if let Some(marker) = c
                    .between_rounds(st, who, emitter, msgs, results, latest)
                    .await
                {
                    let items = {
                        let mut o = lock_progress(out);
                        o.add_kept(marker);
                        o.items("in_progress")
                    };
                    emitter
                        .emit("chat:completion", json!({"output": items}))
                        .await;
                }
            }
        }
    }
}

#[derive(PartialEq)]
pub enum RoundOutcome {
    Ran,
    Paused,
}

/// Runs one round's calls in order and records each result.
async fn run_calls(
    emitter: &Emitter,
    out: &Progress,
    tools: &ToolBox,
    cx: &ToolCx<'_>,
    calls: &[CallRequest],
    ran: &mut Vec<(CallRequest, String)>,
) -> RoundOutcome {
    let staged = tools.stage(calls);
    for (call_id, refusal) in &staged.refused {
        // A refused question was still handled; other refusals failed.
        let status = if refusal.contains("ask_user") {
            "completed"
        } else {
            "failed"
        };
        lock_progress(out).add_result(call_id, refusal, status);
    }
    if let Some(question) = &staged.question {
        {
            let mut o = lock_progress(out);
            o.set_call_arguments(&question.call_id, &question.arguments);
            o.set_call_status(&question.call_id, "pending");
        }
        let items = lock_progress(out).items("in_progress");
        emitter
            .emit("chat:completion", json!({"output": items}))
            .await;
        return RoundOutcome::Paused;
    }
    if cx.approval == Approval::Pause && !staged.run.is_empty() {
        // Nothing runs before the user has seen it: the reply is saved with
        // the first call waiting for approval and goes on from `/resolve`.
        lock_progress(out).ask_for_approval();
        let items = lock_progress(out).items("in_progress");
        emitter
            .emit("chat:completion", json!({"output": items}))
            .await;
        return RoundOutcome::Paused;
    }
    for call in &staged.run {
        run_one(out, tools, cx, call, ran).await;
    }
    RoundOutcome::Ran
}

/// Runs one call (after asking the tab, in a temporary chat that asks) and
/// records its result.
async fn run_one(
    out: &Progress,
    tools: &ToolBox,
    cx: &ToolCx<'_>,
    call: &CallRequest,
    ran: &mut Vec<(CallRequest, String)>,
) {
    let to = cx.tab();
    let asked = cx.approval == Approval::AskTab;
    let reply = if asked && !approval::confirm(cx.state, &to, call).await {
        approval::NOT_APPROVED.to_string().into()
    } else {
        tools.run_full(cx, call).await
    };
    let at = super::media::Place {
        chat_id: cx.chat_id,
        message_id: cx.message_id,
    };
    let pictures = super::media::store_pictures(cx.state, cx.caller, &at, &reply.pictures).await;
    let text = reply.text;
    let status = if super::tools::is_error_result(&text) {
        "failed"
    } else {
        "completed"
    };
    {
        let mut o = lock_progress(out);
        o.add_result(&call.call_id, &text, status);
        o.add_result_images(&call.call_id, pictures);
    }
    ran.push((call.clone(), text));
}

/// A reply resumed after the user decided on tool calls: the approved calls
/// run first, one by one. `Paused` when calls are left that the user has not
/// decided on yet (the first of them is shown for approval again); `Ran`
/// when calls ran and the model is to be asked again with the results;
/// `None` when nothing was waiting.
pub async fn run_approved(
    emitter: &Emitter,
    out: &Progress,
    tools: &ToolBox,
    cx: &ToolCx<'_>,
) -> Option<RoundOutcome> {
    if lock_progress(out).waiting_calls().is_empty() {
        return None;
    }
    // Bounded by the calls of the paused round; each pass runs one.
    for _ in 0..64 {
        // Approvals and rejections that came in while a call ran.
        let stored = super::persist::stored_output(cx.state, cx.chat_id, cx.message_id).await;
        lock_progress(out).take_decisions(&stored);
        let next = lock_progress(out).next_approved();
        let Some(call) = next else { break };
        lock_progress(out).set_call_status(&call.call_id, "in_progress");
        let items = lock_progress(out).items("in_progress");
        emitter
            .emit("chat:completion", json!({"done": false, "output": items}))
            .await;
        let mut ran = Vec::new();
        run_one(out, tools, cx, &call, &mut ran).await;
        for (call, text) in &ran {
            for source in tools.cite(&call.name, &call.arguments, text) {
                emitter.emit("source", source.clone()).await;
                lock_progress(out).add_citations(std::slice::from_ref(&source));
            }
        }
    }
    if lock_progress(out).ask_for_approval() {
        let items = lock_progress(out).items("in_progress");
        emitter
            .emit("chat:completion", json!({"output": items}))
            .await;
        return Some(RoundOutcome::Paused);
    }
    Some(RoundOutcome::Ran)
}

/// One provider call, streamed into `out`.
async fn stream_once(
    emitter: &Emitter,
    resolved: &ResolvedModel,
    request: Value,
    out: &Progress,
    usage: &mut Option<Value>,
    cancel: &CancellationToken,
    reasoning_tags: &[TagPair],
) -> Ending {
    let opened = async {
        if resolved.direct {
            let ids = emitter.ids();
            super::direct::stream(emitter.state(), ids, &resolved.model_item, request).await
        } else {
            llm::stream_chat(&resolved.target, request).await
        }
    };
    let mut stream = tokio::select! {
        s = opened => match s {
            Ok(s) => s,
            Err(e) => return Ending::Failed(e.chat_text()),
        },
        _ = cancel.cancelled() => return Ending::Cancelled,
    };
    let mut think = ThinkSplitter::new(reasoning_tags.to_vec());
    let mut in_code = false;
    let mut cut = false;
    let mut last_chunk: Option<Value> = None;
    // Earlier rounds' usage: this call's report (the latest one it sends) adds
    // to their totals and costs, while its prompt and completion counts stand
    // alone, so the size of the context is not summed over a tool loop.
    let earlier = usage.clone().unwrap_or(Value::Null);
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = cancel.cancelled() => {
                // Dropping the stream aborts the provider request.
                return Ending::Cancelled;
            }
        };
        let Some(ev) = next else { break };
        match ev {
            Ok(StreamEvent::Content(t)) => {
                // The model stops at a finished code block: it runs first,
                // and whatever the model wrote after it is not kept.
                for piece in think.push(&t) {
                    if emit_piece(emitter, out, piece, &mut in_code).await {
                        cut = true;
                        break;
                    }
                }
                if cut {
                    break;
                }
            }
            Ok(StreamEvent::Reasoning(t)) => {
                emit_piece(emitter, out, Piece::Reasoning(t), &mut false).await;
            }
            Ok(StreamEvent::ToolCall(d)) => {
                for p in think.finish() {
                    emit_piece(emitter, out, p, &mut in_code).await;
                }
                let events = lock_progress(out).call_delta(&d);
                for ev in events {
                    emitter.emit("response:completion", ev).await;
                }
            }
            Ok(StreamEvent::ReasoningDetails(d)) => lock_progress(out).reasoning_details(&d),
            Ok(StreamEvent::Responses(ev)) => {
                let applied = lock_progress(out).responses_event(&ev);
                for d in applied.events {
                    emitter.emit("response:completion", d).await;
                }
                for source in applied.sources {
                    emitter.emit("source", source).await;
                }
            }
            Ok(StreamEvent::Usage(u)) => *usage = Some(merge_usage(&earlier, &u)),
            Ok(StreamEvent::Finish { last_chunk: c, .. }) => last_chunk = Some(c),
            Err(e) => {
                for p in think.finish() {
                    emit_piece(emitter, out, p, &mut in_code).await;
                }
                return Ending::Failed(e.chat_text());
            }
        }
    }
    if !cut {
        for p in think.finish() {
            emit_piece(emitter, out, p, &mut in_code).await;
        }
    }
    if let Some(u) = usage.as_ref() {
        emitter.emit("chat:completion", json!({"usage": u})).await;
    }
    if let Some(c) = last_chunk.filter(|c| !c.is_null()) {
        emitter.emit("chat:completion", c).await;
    }
    Ending::Completed
}

/// Applies one piece to the output and emits its event; true when it closed
/// a code interpreter block (`in_code` tracks whether one is open).
async fn emit_piece(emitter: &Emitter, out: &Progress, piece: Piece, in_code: &mut bool) -> bool {
    let mut block_done = false;
    let mut whole = false;
    let d = {
        let mut out = lock_progress(out);
        match piece {
            Piece::Text(t) => Some(out.text(&t)),
            Piece::Reasoning(r) if *in_code => out.code(&r),
            Piece::Reasoning(r) => Some(out.reasoning(&r)),
            Piece::Open {
                start, attributes, ..
            } if start == crate::interpreter::item::START_TAG => {
                out.start_code(attributes);
                *in_code = true;
                whole = true;
                None
            }
            Piece::Open {
                start,
                end,
                attributes,
            } => {
                out.open_tagged_reasoning(start, end, attributes);
                None
            }
            Piece::Close if *in_code => {
                out.end_code();
                *in_code = false;
                block_done = true;
                whole = true;
                None
            }
            Piece::Close => {
                out.close_reasoning();
                None
            }
        }
    };
    if let Some(d) = d {
        emitter.emit("response:completion", d).await;
    }
    if whole {
        let items = lock_progress(out).items("in_progress");
        emitter
            .emit("chat:completion", json!({"output": items}))
            .await;
    }
    block_done
}
