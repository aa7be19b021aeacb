//! Code interpreter blocks in the output (prompt-based mode): a block opens
//! when the model writes the opening tag, collects the code streamed into it,
//! closes at the end tag and, once run, holds what the run gave
//! (`crate::interpreter::item` shapes the item).

use serde_json::{json, Map, Value};

use super::{short_id, DeltaEvent, Item, OutputBuilder};
use crate::interpreter::item as ci;

/// The item as stored: a block still open when the reply ends takes the
/// reply's status.
pub(super) fn finished(v: &Value, status: &str) -> Value {
    let mut v = v.clone();
    if v["status"] == "in_progress" && status != "in_progress" {
        v["status"] = json!(status);
    }
    v
}

impl OutputBuilder {
    fn open_code(&mut self) -> Option<(usize, &mut Value)> {
        match self.items.iter_mut().enumerate().last() {
            Some((pos, Item::Code(v)))
                if v["status"] == "in_progress" && v.get("ended_at").is_none() =>
            {
                Some((pos, v))
            }
            _ => None,
        }
    }

    /// Starts a block written with these tag attributes.
    pub fn start_code(&mut self, attributes: Map<String, Value>) {
        self.items
            .push(Item::Code(ci::new_item(short_id("ci"), attributes)));
    }

    /// Code streamed into the open block, as the delta event the UI applies.
    pub fn code(&mut self, delta: &str) -> Option<DeltaEvent> {
        let (pos, item) = self.open_code()?;
        let code = format!("{}{delta}", item["code"].as_str().unwrap_or(""));
        item["code"] = json!(code);
        Some(json!({
            "type": "response.output_text.delta",
            "item_id": item["id"],
            "output_index": pos,
            "content_index": 0,
            "delta": delta,
        }))
    }

    /// The end tag came: the block is closed (dropped when it holds no code).
    pub fn end_code(&mut self) {
        let keep = match self.open_code() {
            Some((_, item)) => ci::close_item(item),
            None => return,
        };
        if !keep {
            self.items.pop();
        }
    }

    /// The last item when it is a closed block that has not run yet.
    pub fn code_to_run(&self) -> Option<Value> {
        match self.items.last() {
            Some(Item::Code(v)) if v["status"] == "in_progress" && v.get("ended_at").is_some() => {
                Some(v.clone())
            }
            _ => None,
        }
    }

    /// Puts the block back once it has run.
    pub fn code_ran(&mut self, ran: Value) {
        if let Some(Item::Code(v)) = self.items.last_mut() {
            if v["id"] == ran["id"] {
                *v = ran;
            }
        }
    }
}
