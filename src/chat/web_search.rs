//! The chat input's "Web Search" switch (`features.web_search`) in the
//! prompt-based ("legacy") function-calling mode: before the model answers,
//! the task model writes search queries, the pages found are loaded
//! ([`crate::websearch::run`]) and become cited context, like attached
//! files. In native mode the model gets the `search_web` / `fetch_url`
//! tools instead (see `tools`).

use serde_json::{json, Value};

use super::events::Emitter;
use super::turn::{Target, Turn};
use super::{background, history, persist, prompts};
use crate::llm::ResolvedModel;
use crate::state::AppState;
use crate::websearch::{self, Outcome};

/// The mode the turn calls functions in: the request's choice, else the
/// model's.
fn legacy_mode(turn: &Turn, resolved: &ResolvedModel) -> bool {
    turn.body
        .get("params")
        .and_then(|p| p.get("function_calling"))
        .or_else(|| resolved.params.get("function_calling"))
        .and_then(Value::as_str)
        == Some("legacy")
}

fn switched_on(turn: &Turn) -> bool {
    turn.body
        .get("features")
        .and_then(|f| f.get("web_search"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Shows a status line and keeps it with the stored message.
async fn status(state: &AppState, turn: &Turn, target: &Target, emitter: &Emitter, data: Value) {
    emitter.emit("status", data.clone()).await;
    if turn.persist {
        let saved =
            persist::save_event(state, &turn.chat_id, &target.message_id, "status", data).await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not store a web search status");
        }
    }
}

/// The search queries for the conversation: the task model's, else the
/// user's own words. An empty list means the model saw nothing to search.
async fn queries(
    state: &AppState,
    turn: &Turn,
    model_id: &str,
    messages: &[Value],
    question: &str,
) -> Vec<String> {
    if !state.config.get_bool("task.query.search.enable") {
        return vec![question.to_string()];
    }
    let template = state.config.get_str("task.query.prompt_template");
    let template = if template.trim().is_empty() {
        prompts::QUERIES.to_string()
    } else {
        template
    };
    let transcript = history::transcript(messages);
    let prompt = prompts::render(&template, &transcript, &turn.caller.user.name)
        .replace("{{PROMPT}}", question)
        .replace("{{TYPE}}", "web_search");
    let answer =
        background::run_task(state, &turn.caller, model_id, "query_generation", prompt).await;
    let Some(list) = answer.as_ref().and_then(|a| a.get("queries")) else {
        return vec![question.to_string()];
    };
    let list: Vec<String> = crate::json::str_list(Some(list))
        .into_iter()
        .map(|q| q.trim().to_string())
        .collect();
    if list.len() == 1 && list[0].is_empty() {
        return vec![question.to_string()];
    }
    list.into_iter().filter(|q| !q.is_empty()).take(5).collect()
}

/// The citation sources of a search run: the best passages of its
/// collection for the question, or its whole pages in bypass mode.
async fn sources_of(
    state: &AppState,
    outcome: &Outcome,
    queries: &[String],
    question: &str,
) -> Vec<Value> {
    let mut source = json!({
        "name": queries.join(", "),
        "type": "web_search",
        "urls": outcome.urls,
        "queries": queries,
    });
    let (docs, metas, distances): (Vec<Value>, Vec<Value>, Option<Vec<Value>>) =
        match &outcome.collection {
            None => (
                outcome.docs.iter().map(|d| json!(d.content)).collect(),
                outcome
                    .docs
                    .iter()
                    .map(|d| Value::Object(d.metadata.clone()))
                    .collect(),
                None,
            ),
            Some(name) => {
                source["collection_name"] = json!(name);
                let opts = crate::rag::SearchOpts::from_config(state);
                let names = vec![name.clone()];
                match state.rag.search(state, &names, question, &opts).await {
                    Ok(hits) => (
                        hits.iter().map(|h| json!(h.text)).collect(),
                        hits.iter()
                            .map(|h| Value::Object(h.metadata.clone()))
                            .collect(),
                        Some(hits.iter().map(|h| json!(h.score)).collect()),
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "web search collection not searched");
                        return Vec::new();
                    }
                }
            }
        };
    if docs.is_empty() {
        return Vec::new();
    }
    let mut s = json!({"source": source, "document": docs, "metadata": metas});
    if let Some(d) = distances {
        s["distances"] = Value::Array(d);
    }
    vec![s]
}

/// Runs the search step when the chat asked for it in legacy mode, web
/// search is on and the user may search. Returns the sources to cite
/// (none when the step did not run or found nothing); every outcome is
/// told to the user as a `web_search` status.
pub async fn apply(
    state: &AppState,
    turn: &Turn,
    target: &Target,
    emitter: &Emitter,
    resolved: &ResolvedModel,
    request: &Value,
) -> Vec<Value> {
    if !switched_on(turn) || !legacy_mode(turn, resolved) {
        return Vec::new();
    }
    if !websearch::allowed(state, &turn.caller).await {
        return Vec::new();
    }
    let say = |data: Value| status(state, turn, target, emitter, data);
    say(json!({"action": "web_search", "description": "Searching the web", "done": false})).await;
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let question = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(history::message_text)
        .unwrap_or_default();
    let queries = queries(state, turn, &target.model_id, &messages, &question).await;
    if queries.is_empty() {
        say(json!({"action": "web_search", "description": "No search query generated", "done": true}))
            .await;
        return Vec::new();
    }
    say(json!({"action": "web_search_queries_generated", "queries": queries, "done": false})).await;
    let chat_id = super::tools::is_saved_chat_id(&turn.chat_id).then_some(turn.chat_id.as_str());
    match websearch::run(state, &turn.caller, &queries, chat_id).await {
        Ok(outcome) => {
            let items: Vec<Value> = outcome.items.iter().map(|i| i.to_json()).collect();
            say(json!({
                "action": "web_search",
                "description": "Searched {{count}} sites",
                "urls": outcome.urls,
                "items": items,
                "done": true,
            }))
            .await;
            sources_of(state, &outcome, &queries, &question).await
        }
        Err(e) if e.status().as_u16() == 404 => {
            say(
                json!({"action": "web_search", "description": "No search results found",
                "done": true, "error": true}),
            )
            .await;
            Vec::new()
        }
        Err(e) => {
            tracing::info!(error = %e, "web search failed in a chat");
            let why = if e.status().is_server_error() {
                "The web search could not finish.".to_string()
            } else {
                e.to_string()
            };
            say(json!({"action": "web_search", "description": why,
                "queries": queries, "done": true, "error": true}))
            .await;
            Vec::new()
        }
    }
}
