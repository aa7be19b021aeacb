//! The assistant message's `output` items (the Responses-style list the UI
//! renders), built up from stream deltas.

use serde_json::{json, Value};

fn short_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &hex[..24])
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Reasoning,
    Message,
}

struct Item {
    id: String,
    kind: Kind,
    text: String,
}

/// One delta ready to emit as `response:completion` data.
pub type DeltaEvent = Value;

#[derive(Default)]
pub struct OutputBuilder {
    items: Vec<Item>,
}

impl OutputBuilder {
    fn push(&mut self, kind: Kind, delta: &str) -> DeltaEvent {
        if self.items.last().map(|i| i.kind) != Some(kind) {
            let id = short_id(if kind == Kind::Reasoning { "rs" } else { "msg" });
            self.items.push(Item {
                id,
                kind,
                text: String::new(),
            });
        }
        let index = self.items.len() - 1;
        let item = self.items.last_mut().expect("just pushed");
        item.text.push_str(delta);
        let event_type = match kind {
            Kind::Reasoning => "response.reasoning_text.delta",
            Kind::Message => "response.output_text.delta",
        };
        json!({
            "type": event_type,
            "item_id": item.id,
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

    /// The answer text: every message item's text, in order.
    pub fn content(&self) -> String {
        self.items
            .iter()
            .filter(|i| i.kind == Kind::Message)
            .map(|i| i.text.as_str())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The final list; `status` is `completed`, or `incomplete` after a stop or failure.
    pub fn items(&self, status: &str) -> Value {
        Value::Array(
            self.items
                .iter()
                .map(|i| match i.kind {
                    Kind::Message => json!({
                        "type": "message",
                        "id": i.id,
                        "status": status,
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": i.text}],
                    }),
                    Kind::Reasoning => json!({
                        "type": "reasoning",
                        "id": i.id,
                        "status": status,
                        "content": [{"type": "reasoning_text", "text": i.text}],
                        "summary": [],
                    }),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
