//! Prompt-based tool calling (`params.function_calling = "legacy"`), for
//! models without a function-calling API: before the answer, the task model
//! reads the tool specs and the conversation and names the calls to make as
//! JSON; they run, and their results join the prompt as cited context.

use serde_json::{json, Map, Value};

use super::{ToolBox, ToolCx};
use crate::chat::background;
use crate::chat::history::message_text;
use crate::chat::output::CallRequest;

/// Our instruction to the task model; `{{TOOLS}}` becomes the specs.
/// An admin's `TOOLS_FUNCTION_CALLING_PROMPT_TEMPLATE` replaces it.
const PICK_TOOLS: &str = "You decide which tools, if any, should run before the assistant answers \
the user's query. The tools are described by these JSON specs:\n{{TOOLS}}\n\n\
Only call a tool when its result is needed to answer the query; use the parameter names and types \
of its spec. Reply with JSON only, exactly like \
{\"tool_calls\": [{\"name\": \"tool_name\", \"parameters\": {\"key\": \"value\"}}]}, \
and with {\"tool_calls\": []} when no tool is needed.";

/// The task's user message: the last few turns before the query, then the
/// query itself.
fn conversation(messages: &[Value]) -> String {
    let Some(last_user) = messages.iter().rposition(|m| m["role"] == "user") else {
        return String::new();
    };
    let query = message_text(&messages[last_user]);
    let before = if last_user + 1 == messages.len() {
        &messages[..last_user]
    } else {
        messages
    };
    let recent = &before[before.len().saturating_sub(4)..];
    let history: Vec<String> = recent
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap_or("").to_uppercase();
            format!("{role}: \"\"\"{}\"\"\"", message_text(m))
        })
        .collect();
    if history.is_empty() {
        format!("Query: {query}")
    } else {
        format!("History:\n{}\nQuery: {query}", history.join("\n"))
    }
}

/// The calls of the task model's answer: `{"tool_calls": [...]}` or one
/// bare `{"name", "parameters"}` object.
fn calls_of(answer: &Value) -> Vec<(String, Map<String, Value>)> {
    let list = match answer.get("tool_calls") {
        Some(Value::Array(l)) => l.clone(),
        _ => vec![answer.clone()],
    };
    list.iter()
        .filter_map(|c| {
            let name = c.get("name")?.as_str()?.to_string();
            let params = c
                .get("parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            Some((name, params))
        })
        .collect()
}

/// Asks the task model which tools to run, runs them, and returns their
/// results as sources (`tool_result: true`) for the prompt and the citations.
pub async fn run(
    tools: &ToolBox,
    cx: &ToolCx<'_>,
    chat_model: &str,
    messages: &[Value],
) -> Vec<Value> {
    let specs: Vec<Value> = tools.tools.iter().map(|t| t.spec()).collect();
    let configured = cx.state.config.get_str("task.tools.prompt_template");
    let template = if configured.trim().is_empty() {
        PICK_TOOLS.to_string()
    } else {
        configured
    };
    let system = template.replace("{{TOOLS}}", &Value::Array(specs).to_string());
    let task = json!([
        {"role": "system", "content": system},
        {"role": "user", "content": conversation(messages)},
    ]);
    let Some(answer) =
        background::run_task_messages(cx.state, cx.caller, chat_model, "function_calling", task)
            .await
    else {
        return Vec::new();
    };
    let mut sources = Vec::new();
    for (i, (name, params)) in calls_of(&answer).into_iter().enumerate() {
        let Some(tool) = tools.find(&name) else {
            tracing::debug!(tool = %name, "the task model named a tool this turn does not have");
            continue;
        };
        let spec = tool.spec();
        let allowed = spec
            .pointer("/parameters/properties")
            .and_then(Value::as_object);
        let params: Map<String, Value> = params
            .into_iter()
            .filter(|(k, _)| {
                tool.checks_own_arguments() || allowed.is_some_and(|a| a.contains_key(k))
            })
            .collect();
        let call = CallRequest {
            call_id: format!("prompt_{i}"),
            name: name.clone(),
            arguments: Value::Object(params.clone()).to_string(),
        };
        let result = tools.run(cx, &call).await;
        if result.is_empty() {
            continue;
        }
        let shown = match tool.source_id() {
            Some(id) => format!("{id}/{name}"),
            None => name.clone(),
        };
        sources.push(json!({
            "source": {"name": shown},
            "document": [result],
            "metadata": [{"source": shown, "parameters": params}],
            "tool_result": true,
        }));
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_comes_last() {
        let m = vec![
            json!({"role": "system", "content": "sys"}),
            json!({"role": "user", "content": "hi"}),
            json!({"role": "assistant", "content": "hello"}),
            json!({"role": "user", "content": [{"type": "text", "text": "weather?"}]}),
        ];
        let c = conversation(&m);
        assert!(c.starts_with("History:\nSYSTEM: \"\"\"sys\"\"\""), "{c}");
        assert!(
            c.ends_with("ASSISTANT: \"\"\"hello\"\"\"\nQuery: weather?"),
            "{c}"
        );
        assert_eq!(conversation(&m[1..2]), "Query: hi");
    }

    #[test]
    fn answers_name_calls() {
        let list = json!({"tool_calls": [{"name": "a", "parameters": {"x": 1}}, {"nope": 1}]});
        let calls = calls_of(&list);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, "a");
        assert_eq!(calls_of(&json!({"name": "b"}))[0].0, "b");
        assert!(calls_of(&json!({"tool_calls": []})).is_empty());
    }
}
