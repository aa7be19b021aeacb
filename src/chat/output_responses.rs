//! The items of a round answered through the Responses API: kept as the
//! provider shapes them ([`Item::Provided`]), folded event by event with
//! [`reduce::apply`]; their positions in the events sent to the UI count
//! from the start of the whole reply, and the `url_citation`s of finished
//! messages become sources of the reply.

use serde_json::{json, Value};

use super::{short_id, CallRequest, DeltaEvent, Item, OutputBuilder};
use crate::llm::responses::{reduce, reply};

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The call id of a provider's `function_call` item.
pub(super) fn call_id_of(v: &Value) -> Option<&str> {
    (kind(v) == "function_call")
        .then(|| v.get("call_id").and_then(Value::as_str))
        .flatten()
}

/// The answer text of a provider's `message` item.
pub(super) fn message_text(v: &Value) -> String {
    reply::output_text(std::slice::from_ref(v))
}

/// A provider's item as stored once the reply is over (`status` is not
/// `in_progress`): reasoning is finished, a call still running is not.
pub(super) fn finished(v: &Value, status: &str) -> Value {
    let mut v = v.clone();
    if status == "in_progress" || !v.is_object() {
        return v;
    }
    let own = v.get("status").and_then(Value::as_str).unwrap_or("");
    match kind(&v) {
        "reasoning" if own != "completed" => v["status"] = json!("completed"),
        "function_call" if own == "in_progress" => v["status"] = json!(status),
        _ => {}
    }
    v
}

/// The source a `url_citation` annotation stands for.
fn citation_source(annotation: &Value) -> Option<Value> {
    if kind(annotation) != "url_citation" {
        return None;
    }
    // Flat in the Responses API, nested in Chat Completions.
    let c = annotation.get("url_citation").unwrap_or(annotation);
    let url = c
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())?;
    let title = c.get("title").and_then(Value::as_str).unwrap_or(url);
    Some(json!({
        "source": {"name": title, "url": url},
        "document": [title],
        "metadata": [{"source": url, "name": title}],
    }))
}

fn message_citations(item: &Value) -> Vec<Value> {
    if kind(item) != "message" {
        return Vec::new();
    }
    item.get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("annotations").and_then(Value::as_array))
        .flatten()
        .filter_map(citation_source)
        .collect()
}

/// What one Responses event did to the reply.
#[derive(Default)]
pub struct Applied {
    /// `response:completion` data for the UI.
    pub events: Vec<DeltaEvent>,
    /// Sources cited by a message that just finished.
    pub sources: Vec<Value>,
}

impl OutputBuilder {
    /// Folds one Responses event into this round's items.
    pub fn responses_event(&mut self, ev: &Value) -> Applied {
        let from = match self.provided_from {
            Some(f)
                if f <= self.items.len()
                    && self.items[f..]
                        .iter()
                        .all(|i| matches!(i, Item::Provided(_))) =>
            {
                f
            }
            _ => self.items.len(),
        };
        self.provided_from = Some(from);
        let mut round: Vec<Value> = self
            .items
            .drain(from..)
            .filter_map(|i| match i {
                Item::Provided(v) => Some(v),
                _ => None,
            })
            .collect();
        reduce::apply(&mut round, ev);
        for item in round.iter_mut() {
            if kind(item) == "function_call" && call_id_of(item).is_none_or(str::is_empty) {
                let id = item
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| short_id("fc"));
                item["call_id"] = json!(id);
            }
        }
        let t = kind(ev);
        let mut applied = Applied::default();
        if t == "response.output_item.done" {
            let i = ev
                .get("output_index")
                .and_then(Value::as_u64)
                .and_then(|i| round.get(i as usize))
                .or(round.last());
            applied.sources = i.map(message_citations).unwrap_or_default();
            self.citations.extend(applied.sources.iter().cloned());
        }
        if t == "response.completed" {
            applied.events = round
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    json!({"type": "response.output_item.done", "output_index": from + i,
                        "item": item})
                })
                .collect();
        } else if let Some(i) = ev.get("output_index").and_then(Value::as_u64) {
            let mut shown = ev.clone();
            shown["output_index"] = json!(i.saturating_add(from as u64));
            applied.events.push(shown);
        }
        self.items.extend(round.into_iter().map(Item::Provided));
        applied
    }

    /// The provider's calls of this round that have no result yet.
    pub(super) fn provided_calls(&self) -> Vec<CallRequest> {
        let round = self.items.get(self.round_start..).unwrap_or(&[]);
        let answered = |id: &str| {
            round.iter().any(|i| match i {
                Item::Result { call_id, .. } => call_id == id,
                Item::Provided(v) => {
                    kind(v) == "function_call_output"
                        && v.get("call_id").and_then(Value::as_str) == Some(id)
                }
                _ => false,
            })
        };
        round
            .iter()
            .filter_map(|i| match i {
                Item::Provided(v) => call_id_of(v).map(|id| (id, v)),
                _ => None,
            })
            .filter(|(id, _)| !answered(id))
            .map(|(id, v)| CallRequest {
                call_id: id.to_string(),
                name: v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                arguments: reply::arguments_text(v),
            })
            .collect()
    }

    /// Sets `key` of the provider's call with this id.
    pub(super) fn set_provided_call(&mut self, call_id: &str, key: &str, value: &str) {
        for item in &mut self.items {
            if let Item::Provided(v) = item {
                if call_id_of(v) == Some(call_id) {
                    v[key] = json!(value);
                }
            }
        }
    }

    /// The sources the provider cited in this reply.
    pub fn citations(&self) -> &[Value] {
        &self.citations
    }

    /// Sources the turn's tools gave, kept with the reply.
    pub fn add_citations(&mut self, sources: &[Value]) {
        self.citations.extend(sources.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_count_positions_from_the_start_of_the_reply() {
        let mut b = OutputBuilder::default();
        b.text("before");
        let added = b.responses_event(&json!({"type": "response.output_item.added",
            "output_index": 0, "item": {"type": "function_call", "id": "fc_1", "name": "f"}}));
        assert_eq!(added.events[0]["output_index"], 1);
        b.responses_event(&json!({"type": "response.function_call_arguments.delta",
            "output_index": 0, "delta": "{}"}));
        let calls = b.round_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].call_id.as_str(), calls[0].arguments.as_str()),
            ("fc_1", "{}")
        );
        b.add_result("fc_1", "done", "completed");
        assert!(
            b.round_calls().is_empty(),
            "an answered call is not run again"
        );
        b.next_round();
        let cited = json!({"type": "message", "content": [{"type": "output_text", "text": "x",
            "annotations": [{"type": "url_citation", "url": "https://a", "title": "A"}]}]});
        let done = b.responses_event(&json!({"type": "response.output_item.done",
            "output_index": 0, "item": cited}));
        assert_eq!(
            done.sources[0]["source"],
            json!({"name": "A", "url": "https://a"})
        );
        assert_eq!(done.events[0]["output_index"], 3);
        assert_eq!(b.citations().len(), 1);
        assert_eq!(b.content(), "beforex");
        let items = b.items("completed");
        assert_eq!(items[1]["status"], "completed");
        assert_eq!(items[2]["type"], "function_call_output");
    }
}
