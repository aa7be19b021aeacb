//! Running code in the user's own browser tab: the server sends the tab of
//! the chat session an `execute:python` call and waits for its
//! acknowledgement, which carries `stdout`, `stderr` and `result` as the
//! tab's Pyodide worker produced them.

use serde_json::{json, Value};

use super::Outcome;
use crate::events::{call_tab, tab_run_timeout, TabCallError, TabTarget};
use crate::state::AppState;

/// Asks the tab to run `code` (with the chat's `files` mounted under
/// `/mnt/uploads`); what it answers, or why it did not.
pub async fn run(state: &AppState, target: &TabTarget<'_>, files: &Value, code: &str) -> Outcome {
    let payload = json!({
        "chat_id": target.chat_id,
        "message_id": target.message_id,
        "data": {
            "type": "execute:python",
            "data": {
                "id": uuid::Uuid::new_v4().to_string(),
                "code": code,
                "session_id": target.session_id,
                "files": files,
            },
        },
    });
    match call_tab(
        state,
        target.user_id,
        target.session_id,
        &payload,
        tab_run_timeout(),
    )
    .await
    {
        Ok(answer) => from_answer(&answer),
        Err(TabCallError::Gone) => Outcome::failed("Client session disconnected."),
        Err(TabCallError::Timeout) => {
            Outcome::failed("Event call timed out. The browser tab may be inactive or closed.")
        }
    }
}

/// The tab's answer as an outcome: its fields when it sent an object (a
/// missing or null field is empty), its `error` as `stderr`.
pub fn from_answer(answer: &Value) -> Outcome {
    let field = |k: &str| match answer.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut out = Outcome {
        stdout: field("stdout"),
        stderr: field("stderr"),
        result: field("result"),
    };
    let error = field("error");
    if !error.is_empty() && out.stdout.is_empty() && out.result.is_empty() {
        out.stderr = error;
    }
    if !answer.is_object() && !answer.is_null() {
        out.result = match answer {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    let cap = |s: &mut String| {
        if s.len() > super::jupyter::MAX_STREAM {
            let mut end = super::jupyter::MAX_STREAM;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
    };
    cap(&mut out.stdout);
    cap(&mut out.stderr);
    cap(&mut out.result);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_outcomes() {
        let o = from_answer(&json!({"stdout": "4\n", "stderr": null, "result": 5}));
        assert_eq!(
            (o.stdout.as_str(), o.stderr.as_str(), o.result.as_str()),
            ("4\n", "", "5")
        );
        let o = from_answer(&json!({"error": "Client session disconnected."}));
        assert_eq!(o.stderr, "Client session disconnected.");
        assert_eq!(from_answer(&json!("plain")).result, "plain");
    }
}
