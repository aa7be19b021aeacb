//! Calls that wait before they run: in the "ask" approval mode each tool call
//! of a saved chat is shown to the user first, one at a time, and runs only
//! once approved ([`crate::chat::approval`]).

use serde_json::Value;

use super::{CallRequest, Item, OutputBuilder};

/// Statuses of a call without a result that has not been decided or run.
const WAITING: [&str; 4] = ["pending", "queued", "requires_approval", "in_progress"];

impl OutputBuilder {
    fn has_result(&self, id: &str) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i, Item::Result { call_id, .. } if call_id == id))
    }

    /// Calls without a result that still wait, in the order they were made.
    pub fn waiting_calls(&self) -> Vec<CallRequest> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Call {
                    call_id,
                    name,
                    arguments,
                    status,
                } if WAITING.contains(&status.as_str()) && !self.has_result(call_id) => {
                    Some(CallRequest {
                        call_id: call_id.clone(),
                        name: name.clone(),
                        arguments: arguments.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// The first waiting call the user has approved.
    pub fn next_approved(&self) -> Option<CallRequest> {
        self.waiting_calls()
            .into_iter()
            .find(|c| self.approved.contains(&c.call_id))
    }

    /// Records the user's approval of a call (kept on the stored item).
    pub fn approve(&mut self, call_id: &str) {
        self.approved.insert(call_id.to_string());
    }

    /// Takes the user's decisions from the stored copy of the reply, written
    /// by `/resolve` while this reply ran: approvals, and rejections with
    /// their result.
    pub fn take_decisions(&mut self, stored: &[Value]) {
        let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        for item in stored {
            let id = field(item, "call_id");
            match item.get("type").and_then(Value::as_str) {
                Some("function_call") if item.get("approved") == Some(&Value::Bool(true)) => {
                    self.approve(&id)
                }
                Some("function_call_output")
                    if field(item, "status") == "rejected" && !self.has_result(&id) =>
                {
                    let text = item
                        .pointer("/output/0/text")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.add_result(&id, text, "rejected");
                }
                _ => {}
            }
        }
    }

    /// Shows the first waiting call to the user for approval and queues the
    /// others behind it. False when nothing waits.
    pub fn ask_for_approval(&mut self) -> bool {
        let waiting = self.waiting_calls();
        for (n, call) in waiting.iter().enumerate() {
            let status = if n == 0 { "pending" } else { "queued" };
            self.set_call_status(&call.call_id, status);
        }
        !waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(id: &str, status: &str, approved: bool) -> serde_json::Value {
        json!({"type": "function_call", "call_id": id, "name": "f", "arguments": "{}",
               "status": status, "approved": approved})
    }

    #[test]
    fn approvals_are_kept_and_taken_in_order() {
        let mut b = OutputBuilder::default();
        let done = json!({"type": "function_call_output", "call_id": "a",
                          "output": [{"type": "input_text", "text": "r"}], "status": "completed"});
        b.seed(&[
            call("a", "completed", true),
            done,
            call("b", "pending", false),
            call("c", "queued", true),
        ]);
        let waiting: Vec<String> = b.waiting_calls().into_iter().map(|c| c.call_id).collect();
        assert_eq!(waiting, ["b", "c"]);
        assert_eq!(b.next_approved().map(|c| c.call_id).as_deref(), Some("c"));
        let items = b.items("in_progress");
        assert_eq!(items[0]["approved"], true);
        assert_eq!(items[3]["approved"], true);
        assert!(items[2].get("approved").is_none());

        b.approve("b");
        assert_eq!(b.next_approved().map(|c| c.call_id).as_deref(), Some("b"));
        assert!(b.ask_for_approval());
        let items = b.items("in_progress");
        assert_eq!(items[2]["status"], "pending");
        assert_eq!(items[3]["status"], "queued");
        assert_eq!(items[0]["status"], "completed");

        let rejected = json!({"type": "function_call_output", "call_id": "b", "status": "rejected",
                              "output": [{"type": "input_text", "text": "no"}]});
        b.take_decisions(&[rejected]);
        let waiting: Vec<String> = b.waiting_calls().into_iter().map(|c| c.call_id).collect();
        assert_eq!(waiting, ["c"]);
    }
}
