//! The web tools offered when the chat's web search switch is on in native
//! function-calling mode: `search_web` asks the admin's search engine,
//! `fetch_url` reads one page through the local-address guard.

use anyhow::anyhow;
use serde_json::{json, Map, Value};

use super::{arg_int, arg_str, is_saved_chat_id, params, ToolCx};
use crate::websearch;

pub const NAMES: [&str; 2] = ["search_web", "fetch_url"];

/// Marks a page cut at `web.fetch.max_content_length` characters.
const TRUNCATED: &str = "\n\n[Content truncated...]";

pub fn spec(name: &str) -> Value {
    let (description, parameters) = match name {
        "search_web" => (
            "Look something up on the public web: recent events, outside references, anything the user's own documents do not cover. Returns the title, link and a snippet of each result.",
            params(
                json!({
                    "query": {"type": "string", "description": "What to search for."},
                    "count": {"type": "integer", "description": "How many results (at most the number the admin allows, which is also the default)."},
                }),
                &["query"],
            ),
        ),
        _ => (
            "Read a web page: returns the main text of the page at the URL.",
            params(
                json!({"url": {"type": "string", "description": "The page's http(s) address."}}),
                &["url"],
            ),
        ),
    };
    json!({"name": name, "description": description, "parameters": parameters})
}

pub async fn run(name: &str, cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    match name {
        "search_web" => search_web(cx, args).await,
        _ => fetch_url(cx, args).await,
    }
}

async fn search_web(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let query = arg_str(args, "query")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .ok_or_else(|| anyhow!("query is required"))?;
    let query: String = query.chars().take(2000).collect();
    let max = websearch::result_count(cx.state);
    let count = arg_int(args, "count").map_or(max, |n| (n.max(1) as usize).min(max));
    let chat = is_saved_chat_id(cx.chat_id).then_some(cx.chat_id);
    let mut found = websearch::search(cx.state, &query, max, cx.caller.id(), chat)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    found.truncate(count);
    Ok(Value::Array(found.iter().map(|r| r.to_json()).collect()))
}

async fn fetch_url(cx: &ToolCx<'_>, args: &Map<String, Value>) -> anyhow::Result<Value> {
    let url = arg_str(args, "url")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| anyhow!("url is required"))?;
    let mut text = crate::webfetch::fetch_page_text(cx.state, url)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let max = cx
        .state
        .config
        .get("web.fetch.max_content_length")
        .as_u64()
        .filter(|n| *n > 0);
    if let Some(max) = max {
        if let Some((cut, _)) = text.char_indices().nth(max as usize) {
            text.truncate(cut);
            text.push_str(TRUNCATED);
        }
    }
    Ok(Value::String(text))
}
