//! The assistant message's `output` items (the Responses-style list the UI
//! renders), built up from stream deltas: text and reasoning, and the tool
//! calls of each round with their results.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::llm::delta::ToolCallDelta;

/// `<prefix>_` and 24 hex digits, the id style of output items.
pub fn short_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &hex[..24])
}

fn key_of(kind: &str) -> &'static str {
    if kind == "function_call_output" {
        "output"
    } else {
        "content"
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Reasoning,
    Message,
}

/// How a reasoning block written into the answer text was marked.
struct Tagged {
    start: String,
    end: String,
    attributes: Map<String, Value>,
    closed: bool,
}

enum Item {
    Text {
        id: String,
        kind: Kind,
        text: String,
        /// Set for reasoning lifted out of the answer text by its tags.
        tag: Option<Box<Tagged>>,
        /// A reasoning item's `reasoning_details`, as the provider sent them.
        details: Vec<Value>,
    },
    Call {
        call_id: String,
        name: String,
        arguments: String,
        status: String,
    },
    Result {
        id: String,
        call_id: String,
        text: String,
        status: String,
    },
    /// An item kept exactly as given (a context-compaction marker).
    Kept(Value),
    /// An item as a Responses API provider shaped it ([`responses`]).
    Provided(Value),
    /// A code interpreter block ([`code`]).
    Code(Value),
}

/// One delta ready to emit as `response:completion` data.
pub type DeltaEvent = Value;

/// A tool call of the current round, as the model finished it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    pub call_id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Default)]
pub struct OutputBuilder {
    items: Vec<Item>,
    /// Stream index of a call in this round → its position in `items`.
    round: HashMap<u64, usize>,
    /// Where the current round's items begin.
    round_start: usize,
    /// Where this round's provider-shaped items begin, once one has come.
    provided_from: Option<usize>,
    /// Sources the provider cited (`url_citation` annotations).
    citations: Vec<Value>,
    /// Calls the user approved that have not run yet ([`waiting`]).
    approved: HashSet<String>,
    /// Pictures returned by calls, by call id ([`media`]).
    result_images: HashMap<String, Vec<String>>,
}

#[path = "output_responses.rs"]
mod responses;

#[path = "output_code.rs"]
mod code;

#[path = "output_waiting.rs"]
mod waiting;

#[path = "output_media.rs"]
mod media;

impl OutputBuilder {
    fn push(&mut self, kind: Kind, delta: &str) -> DeltaEvent {
        let index = match kind {
            Kind::Reasoning => self.reasoning_slot(),
            Kind::Message => self.message_slot(),
        };
        let Some(Item::Text { id, text, .. }) = self.items.get_mut(index) else {
            unreachable!("a text item was just ensured")
        };
        text.push_str(delta);
        let event_type = match kind {
            Kind::Reasoning => "response.reasoning_text.delta",
            Kind::Message => "response.output_text.delta",
        };
        json!({
            "type": event_type,
            "item_id": id,
            "output_index": index,
            "content_index": 0,
            "delta": delta,
        })
    }

    pub fn text(&mut self, delta: &str) -> DeltaEvent {
        self.push(Kind::Message, delta)
    }

    pub fn reasoning(&mut self, delta: &str) -> DeltaEvent {
        self.push(Kind::Reasoning, delta)
    }

    fn new_text(kind: Kind) -> Item {
        Item::Text {
            id: short_id(if kind == Kind::Reasoning { "rs" } else { "msg" }),
            kind,
            text: String::new(),
            tag: None,
            details: Vec::new(),
        }
    }

    fn open_text(&self, pos: usize, kind: Kind) -> bool {
        matches!(
            self.items.get(pos),
            Some(Item::Text { kind: k, tag, .. })
                if *k == kind && !tag.as_ref().is_some_and(|t| t.closed)
        )
    }

    /// Where answer text goes: the last item when it is an open message,
    /// else a new message item.
    fn message_slot(&mut self) -> usize {
        let last = self.items.len().wrapping_sub(1);
        if self.items.is_empty() || !self.open_text(last, Kind::Message) {
            self.items.push(Self::new_text(Kind::Message));
        }
        self.items.len() - 1
    }

    /// Where reasoning goes: the last item when it is open reasoning. When
    /// the round's answer has already begun (the last item is its message),
    /// reasoning goes above it, into the reasoning item right before it or a
    /// new one, so thinking that arrives late still shows before the answer.
    fn reasoning_slot(&mut self) -> usize {
        let len = self.items.len();
        if len > 0 && self.open_text(len - 1, Kind::Reasoning) {
            return len - 1;
        }
        let answer_begun = len > self.round_start
            && matches!(
                self.items.last(),
                Some(Item::Text {
                    kind: Kind::Message,
                    tag: None,
                    ..
                })
            );
        if answer_begun {
            let before = len - 1;
            if before > self.round_start && self.open_text(before - 1, Kind::Reasoning) {
                return before - 1;
            }
            self.items.insert(before, Self::new_text(Kind::Reasoning));
            return before;
        }
        self.items.push(Self::new_text(Kind::Reasoning));
        len
    }

    /// Reasoning details a provider streams (OpenRouter-style
    /// `reasoning_details`), merged by their `index` (text and summary pieces
    /// appended) into the round's reasoning item. Details that carry nothing
    /// (no text, summary or data) open no reasoning item of their own.
    pub fn reasoning_details(&mut self, pieces: &[Value]) {
        let has_reasoning = (self.round_start..self.items.len()).any(|p| {
            matches!(
                &self.items[p],
                Item::Text {
                    kind: Kind::Reasoning,
                    ..
                }
            )
        });
        let carries = |d: &Value| {
            ["text", "summary", "data"]
                .iter()
                .any(|k| d.get(*k).is_some_and(|v| !v.is_null() && v != ""))
        };
        if !has_reasoning && !pieces.iter().any(carries) {
            return;
        }
        let pos = if has_reasoning {
            (self.round_start..self.items.len())
                .rev()
                .find(|&p| {
                    matches!(
                        &self.items[p],
                        Item::Text {
                            kind: Kind::Reasoning,
                            ..
                        }
                    )
                })
                .unwrap_or(0)
        } else {
            self.reasoning_slot()
        };
        let Some(Item::Text { details, .. }) = self.items.get_mut(pos) else {
            return;
        };
        for piece in pieces.iter().filter(|d| d.is_object()) {
            let index = piece.get("index").and_then(Value::as_i64);
            let existing = index.and_then(|i| {
                details
                    .iter_mut()
                    .find(|d| d.get("index").and_then(Value::as_i64) == Some(i))
            });
            let Some(existing) = existing else {
                details.push(piece.clone());
                continue;
            };
            for (k, v) in piece.as_object().into_iter().flatten() {
                match (k.as_str(), v, existing.get(k.as_str())) {
                    ("text" | "summary", Value::String(add), Some(Value::String(have))) => {
                        existing[k.as_str()] = Value::String(format!("{have}{add}"));
                    }
                    _ => existing[k.as_str()] = v.clone(),
                }
            }
        }
    }

    /// Reasoning marked by tags in the answer text begins: a new reasoning
    /// item that remembers its tags. Text before the tag that is only white
    /// space does not stay behind as an answer of its own.
    pub fn open_tagged_reasoning(
        &mut self,
        start: String,
        end: String,
        attributes: Map<String, Value>,
    ) {
        if matches!(
            self.items.last(),
            Some(Item::Text { kind: Kind::Message, text, .. }) if text.trim().is_empty()
        ) && self.items.len() > self.round_start
        {
            self.items.pop();
        }
        self.items.push(Item::Text {
            id: short_id("rs"),
            kind: Kind::Reasoning,
            text: String::new(),
            tag: Some(Box::new(Tagged {
                start,
                end,
                attributes,
                closed: false,
            })),
            details: Vec::new(),
        });
    }

    /// The tagged reasoning block ends: its text loses surrounding white
    /// space and the block counts as completed.
    pub fn close_reasoning(&mut self) {
        if let Some(Item::Text {
            kind: Kind::Reasoning,
            text,
            tag: Some(tag),
            ..
        }) = self.items.last_mut()
        {
            let trimmed = text.trim();
            if trimmed.len() != text.len() {
                *text = trimmed.to_string();
            }
            tag.closed = true;
        }
    }

    /// A piece of a tool call: the first piece of a call adds a
    /// `function_call` item, later pieces add to its name and arguments.
    pub fn call_delta(&mut self, d: &ToolCallDelta) -> Vec<DeltaEvent> {
        let mut events = Vec::new();
        let pos = match self.round.get(&d.index) {
            Some(&pos) => {
                if let (Some(Item::Call { name, .. }), Some(n)) = (self.items.get_mut(pos), &d.name)
                {
                    if !n.is_empty() {
                        name.clone_from(n);
                    }
                }
                pos
            }
            None => {
                // Some providers number their calls afresh each round.
                let mut call_id = d.id.clone().unwrap_or_else(|| short_id("fc"));
                if self.has_call(&call_id) {
                    call_id = short_id("fc");
                }
                let item = Item::Call {
                    call_id,
                    name: d.name.clone().unwrap_or_default(),
                    arguments: String::new(),
                    status: "in_progress".into(),
                };
                self.items.push(item);
                let pos = self.items.len() - 1;
                self.round.insert(d.index, pos);
                events.push(json!({
                    "type": "response.output_item.added",
                    "output_index": pos,
                    "item": self.item_json(pos, "in_progress"),
                }));
                pos
            }
        };
        if let (
            Some(Item::Call {
                call_id, arguments, ..
            }),
            Some(piece),
        ) = (self.items.get_mut(pos), &d.arguments)
        {
            arguments.push_str(piece);
            events.push(json!({
                "type": "response.function_call_arguments.delta",
                "item_id": call_id,
                "output_index": pos,
                "delta": piece,
            }));
        }
        events
    }

    fn has_call(&self, id: &str) -> bool {
        self.items.iter().any(|i| match i {
            Item::Call { call_id, .. } => call_id == id,
            Item::Provided(v) => responses::call_id_of(v) == Some(id),
            _ => false,
        })
    }

    /// The calls the model made in the current round, in stream order.
    pub fn round_calls(&mut self) -> Vec<CallRequest> {
        let mut positions: Vec<(u64, usize)> = self.round.iter().map(|(k, v)| (*k, *v)).collect();
        positions.sort();
        let provided = self.provided_calls();
        positions
            .into_iter()
            .filter_map(|(_, pos)| match self.items.get(pos) {
                Some(Item::Call {
                    call_id,
                    name,
                    arguments,
                    ..
                }) => Some(CallRequest {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                }),
                _ => None,
            })
            .chain(provided)
            .collect()
    }

    /// Records a call's result (`completed` or `failed`) and marks the call.
    pub fn add_result(&mut self, call_id: &str, text: &str, status: &str) {
        self.set_call_status(call_id, status);
        self.items.push(Item::Result {
            id: short_id("fco"),
            call_id: call_id.to_string(),
            text: text.to_string(),
            status: status.to_string(),
        });
    }

    /// Marks a call (`pending` while a question waits for the user).
    pub fn set_call_status(&mut self, call_id: &str, status: &str) {
        self.set_provided_call(call_id, "status", status);
        for item in &mut self.items {
            if let Item::Call {
                call_id: c,
                status: s,
                ..
            } = item
            {
                if c == call_id {
                    *s = status.to_string();
                }
            }
        }
    }

    /// Starts from a stored `output` list (a reply that resumes); items of
    /// other kinds than text, calls, results and compaction markers are left out.
    pub fn seed(&mut self, stored: &[Value]) {
        let text =
            |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        for item in stored {
            let parts = |kind: &str| -> String {
                item.get(key_of(kind))
                    .and_then(Value::as_array)
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| p.get("text").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let kind = text(item, "type");
            let seeded = match kind.as_str() {
                "message" | "reasoning" => Item::Text {
                    id: text(item, "id"),
                    kind: if kind == "message" {
                        Kind::Message
                    } else {
                        Kind::Reasoning
                    },
                    text: parts(&kind),
                    tag: item.get("start_tag").and_then(Value::as_str).map(|start| {
                        Box::new(Tagged {
                            start: start.to_string(),
                            end: text(item, "end_tag"),
                            attributes: item
                                .get("attributes")
                                .and_then(Value::as_object)
                                .cloned()
                                .unwrap_or_default(),
                            closed: true,
                        })
                    }),
                    details: item
                        .get("reasoning_details")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                },
                "function_call" => {
                    if item.get("approved") == Some(&Value::Bool(true)) {
                        self.approved.insert(text(item, "call_id"));
                    }
                    Item::Call {
                        call_id: text(item, "call_id"),
                        name: text(item, "name"),
                        arguments: text(item, "arguments"),
                        status: text(item, "status"),
                    }
                }
                "function_call_output" => {
                    self.seed_result_images(item);
                    Item::Result {
                        id: text(item, "id"),
                        call_id: text(item, "call_id"),
                        text: parts(&kind),
                        status: text(item, "status"),
                    }
                }
                super::compaction::plan::MARKER => Item::Kept(item.clone()),
                crate::interpreter::item::ITEM_TYPE => Item::Code(item.clone()),
                _ => continue,
            };
            // An empty text item left open by the pause is not kept.
            if matches!(&seeded, Item::Text { text, details, .. } if text.is_empty() && details.is_empty())
            {
                continue;
            }
            self.items.push(seeded);
        }
        self.round_start = self.items.len();
    }

    /// Replaces a call's arguments (with their checked, filled-in form).
    pub fn set_call_arguments(&mut self, call_id: &str, text: &str) {
        self.set_provided_call(call_id, "arguments", text);
        for item in &mut self.items {
            if let Item::Call {
                call_id: c,
                arguments,
                ..
            } = item
            {
                if c == call_id {
                    *arguments = text.to_string();
                }
            }
        }
    }

    /// Starts the next round of the tool loop; returns the first position
    /// of the round that just ended.
    pub fn next_round(&mut self) -> usize {
        let start = self.round_start;
        self.round.clear();
        self.provided_from = None;
        self.round_start = self.items.len();
        start
    }

    /// The items from `from` on as `response.output_item.done` events.
    pub fn done_events(&self, from: usize, status: &str) -> Vec<DeltaEvent> {
        (from..self.items.len())
            .map(|pos| {
                json!({
                    "type": "response.output_item.done",
                    "output_index": pos,
                    "item": self.item_json(pos, status),
                })
            })
            .collect()
    }

    /// The answer text: every message item's text, in order.
    pub fn content(&self) -> String {
        self.items
            .iter()
            .map(|i| match i {
                Item::Text {
                    kind: Kind::Message,
                    text,
                    ..
                } => text.clone(),
                Item::Provided(v) => responses::message_text(v),
                _ => String::new(),
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The end of a reply: the last text of the answer loses its surrounding
    /// white space. A last message item left empty goes, unless it is the
    /// only item (a reply of only white space is stored as an empty answer).
    pub fn trim_last_text(&mut self) {
        let only = self.items.len() == 1;
        let Some(Item::Text {
            kind: Kind::Message,
            text,
            ..
        }) = self.items.last_mut()
        else {
            return;
        };
        let trimmed = text.trim();
        if trimmed.len() != text.len() {
            *text = trimmed.to_string();
        }
        if text.is_empty() && !only {
            self.items.pop();
        }
    }

    fn item_json(&self, pos: usize, status: &str) -> Value {
        match &self.items[pos] {
            Item::Text {
                id,
                kind: Kind::Message,
                text,
                ..
            } => json!({
                "type": "message",
                "id": id,
                "status": status,
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            }),
            Item::Text {
                id,
                text,
                tag,
                details,
                ..
            } => {
                let mut item = json!({
                    "type": "reasoning",
                    "id": id,
                    "status": status,
                    "content": [{"type": "reasoning_text", "text": text}],
                    "summary": [],
                });
                if !details.is_empty() {
                    item["reasoning_details"] = Value::Array(details.clone());
                }
                if let Some(t) = tag {
                    item["start_tag"] = json!(t.start);
                    item["end_tag"] = json!(t.end);
                    item["attributes"] = Value::Object(t.attributes.clone());
                    if t.closed {
                        item["status"] = json!("completed");
                    }
                }
                item
            }
            Item::Call {
                call_id,
                name,
                arguments,
                status: own,
            } => {
                // A call still running when the turn ends did not finish.
                let s = if own == "in_progress" && status != "in_progress" {
                    status
                } else {
                    own.as_str()
                };
                let mut call = json!({
                    "type": "function_call",
                    "id": call_id,
                    "call_id": call_id,
                    "name": name,
                    "arguments": arguments,
                    "status": s,
                });
                if self.approved.contains(call_id) {
                    call["approved"] = json!(true);
                }
                call
            }
            Item::Result {
                id,
                call_id,
                text,
                status: own,
            } => {
                let mut item = json!({
                    "type": "function_call_output",
                    "id": id,
                    "call_id": call_id,
                    "output": [{"type": "input_text", "text": text}],
                    "status": own,
                });
                self.with_result_images(call_id, &mut item);
                item
            }
            Item::Kept(v) => v.clone(),
            Item::Provided(v) => responses::finished(v, status),
            Item::Code(v) => code::finished(v, status),
        }
    }

    /// Appends an item that is kept as given (never streamed or replayed).
    pub fn add_kept(&mut self, item: Value) {
        self.items.push(Item::Kept(item));
    }

    /// The final list; `status` is `completed`, or `incomplete` after a stop or failure.
    pub fn items(&self, status: &str) -> Value {
        Value::Array(
            (0..self.items.len())
                .map(|pos| self.item_json(pos, status))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_answer_text_is_trimmed_at_the_end() {
        let mut b = OutputBuilder::default();
        b.text("   ");
        b.text("\n");
        b.trim_last_text();
        assert_eq!(b.content(), "");
        let items = b.items("completed");
        assert_eq!(
            items.as_array().unwrap().len(),
            1,
            "an empty answer keeps its item"
        );
        assert_eq!(items[0]["content"][0]["text"], "");

        let mut b = OutputBuilder::default();
        b.reasoning("hmm");
        b.text(" \n ");
        b.trim_last_text();
        assert_eq!(b.items("completed").as_array().unwrap().len(), 1);

        let mut b = OutputBuilder::default();
        b.text("\nHello \n");
        b.trim_last_text();
        assert_eq!(b.content(), "Hello");
    }

    #[test]
    fn items_follow_arrival_order() {
        let mut b = OutputBuilder::default();
        let r = b.reasoning("hmm");
        assert_eq!(r["type"], "response.reasoning_text.delta");
        assert_eq!(r["output_index"], 0);
        let t1 = b.text("Hel");
        let t2 = b.text("lo");
        assert_eq!(t1["output_index"], 1);
        assert_eq!(t1["item_id"], t2["item_id"]);
        assert!(t1["item_id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(b.content(), "Hello");
        let items = b.items("completed");
        assert_eq!(items[0]["type"], "reasoning");
        assert_eq!(items[1]["content"][0]["text"], "Hello");
    }

    fn piece(
        index: u64,
        id: Option<&str>,
        name: Option<&str>,
        args: Option<&str>,
    ) -> ToolCallDelta {
        ToolCallDelta {
            index,
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            arguments: args.map(str::to_string),
        }
    }

    #[test]
    fn calls_gather_their_pieces_and_get_results() {
        let mut b = OutputBuilder::default();
        b.text("Let me look. ");
        let added = b.call_delta(&piece(0, Some("call_1"), Some("clock"), Some("")));
        assert_eq!(added[0]["type"], "response.output_item.added");
        assert_eq!(added[0]["item"]["status"], "in_progress");
        b.call_delta(&piece(0, None, None, Some("{\"tz\":")));
        b.call_delta(&piece(0, None, None, Some("\"UTC\"}")));
        b.call_delta(&piece(1, None, None, Some("{}")));
        let calls = b.round_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].call_id, "call_1");
        assert_eq!(calls[0].arguments, "{\"tz\":\"UTC\"}");
        assert!(calls[1].call_id.starts_with("fc_"));
        assert_eq!(calls[1].name, "");
        b.add_result("call_1", "noon", "completed");
        b.add_result(&calls[1].call_id, "Error: no such tool", "failed");
        let from = b.next_round();
        assert_eq!(from, 0);
        // A provider that reuses `call_1` in the next round gets a fresh id.
        b.call_delta(&piece(0, Some("call_1"), Some("clock"), Some("{}")));
        assert_ne!(b.round_calls()[0].call_id, "call_1");
        let items = b.items("completed");
        assert_eq!(items[1]["status"], "completed");
        assert_eq!(items[2]["status"], "failed");
        assert_eq!(items[3]["output"][0]["text"], "noon");
        assert_eq!(items[4]["type"], "function_call_output");
        assert_eq!(items[5]["status"], "completed");
        assert_eq!(b.items("incomplete")[5]["status"], "incomplete");
        assert_eq!(b.content(), "Let me look. ");
    }

    #[test]
    fn late_reasoning_goes_above_the_answer_and_details_merge() {
        let mut b = OutputBuilder::default();
        b.text("the answer");
        let d = b.reasoning("second thoughts");
        assert_eq!(d["output_index"], 0);
        b.reasoning_details(&[json!({"type": "reasoning.text", "index": 0, "text": "a"})]);
        b.reasoning_details(&[json!({"type": "reasoning.text", "index": 0, "text": "b"})]);
        let items = b.items("completed");
        assert_eq!(items[0]["type"], "reasoning");
        assert_eq!(items[0]["reasoning_details"][0]["text"], "ab");
        assert_eq!(items[1]["content"][0]["text"], "the answer");

        // Empty details open nothing; tagged reasoning keeps its tags.
        let mut b = OutputBuilder::default();
        b.reasoning_details(&[json!({"type": "reasoning.text", "index": 0})]);
        assert!(b.is_empty());
        b.text("  ");
        let mut attrs = Map::new();
        attrs.insert("effort".into(), json!("high"));
        b.open_tagged_reasoning("<think>".into(), "</think>".into(), attrs);
        b.reasoning(" deep ");
        b.close_reasoning();
        b.text("ok");
        let items = b.items("incomplete");
        assert_eq!(items.as_array().unwrap().len(), 2, "{items}");
        assert_eq!(items[0]["content"][0]["text"], "deep");
        assert_eq!(items[0]["status"], "completed");
        assert_eq!(items[0]["attributes"]["effort"], "high");
        assert_eq!(items[0]["start_tag"], "<think>");
    }
}
