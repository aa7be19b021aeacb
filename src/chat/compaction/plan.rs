//! The pure half of context compaction: how big a conversation is (reported
//! usage or an estimate), when it is too big, where to cut it, how an earlier
//! summary replaces what came before it, and the prompt that asks for a new
//! summary.

use serde_json::{json, Value};

/// Threshold used when the setting is missing or not a positive number.
pub const DEFAULT_THRESHOLD: i64 = 80_000;
/// Retention used when the setting is missing or not a number.
pub const DEFAULT_RETENTION: i64 = 40;
/// The `output` item a compaction inside a tool loop leaves on the reply.
pub const MARKER: &str = "open_webui:context_compaction";
/// Where the summary goes in the system message.
pub const SUMMARY_HEADING: &str = "[CONVERSATION SUMMARY]";

/// Our default instructions for the summarising model. The three section
/// headings are part of the contract (upstream's suite reads the prompt by
/// them); everything else is our wording. Placeholders: `{{PREVIOUS_SUMMARY}}`,
/// `{{COMPACTED_MESSAGES}}`, `{{RECENT_MESSAGES}}`, plus the ones every task
/// prompt knows (`{{MESSAGES}}`, `{{MESSAGES:END:n}}`, `{{prompt}}`,
/// `{{USER_NAME}}`, `{{CURRENT_DATE}}`).
pub const DEFAULT_PROMPT: &str = "The older part of the conversation below is about to leave \
the assistant's working context. Write the note that will stand in for it.\n\n\
Keep in the note:\n\
- what was decided, and the user's preferences and limits;\n\
- files, documents, code, tool output and other results that still matter;\n\
- where the work stands: open questions, promises made, what comes next.\n\
Stick to what was actually said, with concrete names and numbers; add nothing. \
Be brief, yet complete enough that the conversation can go on without the removed messages. \
Reply with the note only.\n\n\
### Previous Summary:\n{{PREVIOUS_SUMMARY}}\n\n\
### Messages Being Compacted:\n{{COMPACTED_MESSAGES}}\n\n\
### Recent Messages Kept In Context:\n{{RECENT_MESSAGES}}";

/// The admin's compaction settings, read leniently.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub enable: bool,
    pub threshold: i64,
    pub cap: i64,
    pub retention: i64,
    pub template: String,
    pub model: String,
}

impl Settings {
    /// From the raw config values (`enable`, `token_threshold`, `token_cap`,
    /// `retention_percentage`, `prompt_template`, `model`).
    pub fn from_values(
        enable: bool,
        threshold: &Value,
        cap: &Value,
        retention: &Value,
        template: String,
        model: String,
    ) -> Settings {
        let threshold = positive_int(threshold).unwrap_or(DEFAULT_THRESHOLD);
        Settings {
            enable,
            threshold,
            cap: positive_int(cap).unwrap_or(threshold),
            retention: clamp_retention(retention),
            template,
            model,
        }
    }

    /// The threshold a chat is held to: its own (`params.compact_token_threshold`)
    /// when it has a positive one, else the global one; never above the cap.
    pub fn threshold_for(&self, chat_threshold: Option<&Value>) -> i64 {
        let own = chat_threshold.and_then(positive_int);
        own.unwrap_or(self.threshold).min(self.cap)
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

/// A positive whole number, or `None`.
pub fn positive_int(v: &Value) -> Option<i64> {
    as_int(v).filter(|n| *n > 0)
}

/// The share of messages kept, in percent, held to 10..=50 (40 when unset).
pub fn clamp_retention(v: &Value) -> i64 {
    as_int(v).unwrap_or(DEFAULT_RETENTION).clamp(10, 50)
}

fn count(usage: &Value, key: &str) -> i64 {
    usage.get(key).and_then(as_int).unwrap_or(0)
}

fn first_count(usage: &Value, keys: &[&str]) -> i64 {
    keys.iter()
        .map(|k| count(usage, k))
        .find(|n| *n != 0)
        .unwrap_or(0)
}

/// Tokens a reported usage stands for: prompt plus completion, in whichever
/// dialect the provider spoke (OpenAI, Ollama, llama.cpp, normalised). A
/// `prompt_tokens` already includes llama.cpp's cached slice; only its native
/// `prompt_n` needs `cache_n` added.
pub fn usage_tokens(usage: &Value) -> i64 {
    let mut prompt = first_count(usage, &["prompt_tokens", "prompt_eval_count"]);
    let has = |k: &str| usage.get(k).is_some_and(|v| !v.is_null());
    if prompt == 0 && (has("prompt_n") || has("cache_n")) {
        prompt = count(usage, "prompt_n") + count(usage, "cache_n");
    }
    if prompt == 0 {
        prompt = count(usage, "input_tokens");
    }
    let completion = first_count(
        usage,
        &[
            "completion_tokens",
            "output_tokens",
            "eval_count",
            "predicted_n",
        ],
    );
    prompt + completion
}

/// The usage a stored message carries (`usage`, or the older `info.usage`).
fn message_usage(m: &Value) -> Option<&Value> {
    m.get("usage")
        .filter(|u| u.as_object().is_some_and(|o| !o.is_empty()))
        .or_else(|| m.pointer("/info/usage"))
        .filter(|u| u.is_object())
}

/// About four characters a token; anything not text counts as its JSON.
pub fn estimate_tokens(v: &Value) -> i64 {
    match v {
        Value::Null => 0,
        Value::String(s) => estimate_text(s),
        other => estimate_text(&other.to_string()),
    }
}

/// [`estimate_tokens`] for text.
pub fn estimate_text(s: &str) -> i64 {
    let n = s.chars().count() as i64;
    if n == 0 {
        0
    } else {
        (n / 4).max(1)
    }
}

/// Removes inline `data:…;base64,…` payloads, which never reach the model as text.
fn without_inline_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("data:") {
        let tail = &rest[i..];
        let Some(b) = tail.find(";base64,") else {
            break;
        };
        let head_ok = tail[5..b]
            .chars()
            .all(|c| c.is_alphanumeric() || "_/+.;=%-".contains(c));
        if !head_ok {
            out.push_str(&rest[..i + 5]);
            rest = &rest[i + 5..];
            continue;
        }
        let body = &tail[b + 8..];
        let end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
            .unwrap_or(body.len());
        out.push_str(&rest[..i]);
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

/// Estimated tokens of messages: a few for each message's framing, its text
/// (an image counts 1000), its structured output, tool calls and file list.
pub fn estimate_messages(messages: &[Value]) -> i64 {
    let mut total = 0;
    for m in messages {
        total += 4;
        match m.get("content") {
            Some(Value::Array(parts)) => {
                for p in parts {
                    let kind = p.get("type").and_then(Value::as_str);
                    total += match (p, kind) {
                        (Value::Object(_), Some("image" | "image_url")) => 1000,
                        (Value::Object(o), _) => {
                            let text = o.get("text").filter(|t| !is_falsy(t));
                            let content = o.get("content").filter(|t| !is_falsy(t));
                            estimate_tokens(text.or(content).unwrap_or(p))
                        }
                        _ => estimate_tokens(p),
                    };
                }
            }
            Some(c) => total += estimate_tokens(c),
            None => {}
        }
        total += m.get("output").map(estimate_tokens).unwrap_or(0);
        total += m.get("tool_calls").map(estimate_tokens).unwrap_or(0);
        if let Some(files) = m.get("files").filter(|f| !is_falsy(f)) {
            total += estimate_text(&without_inline_data(&files.to_string()));
        }
    }
    total
}

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

/// The size of the conversation as the next call will see it: the newest
/// reported usage plus an estimate of what came after it, or, without any
/// usage, an estimate of everything (`extra` is added only then: the system
/// prompt and summary, which a reported prompt count already includes).
pub fn conversation_tokens(messages: &[Value], extra: i64) -> i64 {
    for (i, m) in messages.iter().enumerate().rev() {
        if let Some(n) = message_usage(m).map(usage_tokens).filter(|n| *n != 0) {
            return n + estimate_messages(&messages[i + 1..]);
        }
    }
    extra + estimate_messages(messages)
}

/// Whether the conversation is over the threshold (never for a threshold ≤ 0).
pub fn exceeds(
    messages: &[Value],
    system_prompt: &str,
    summary: Option<&str>,
    threshold: i64,
) -> bool {
    if threshold <= 0 {
        return false;
    }
    let extra = estimate_text(system_prompt) + estimate_text(summary.unwrap_or(""));
    conversation_tokens(messages, extra) > threshold
}

/// What `context_usage` reports for a chat.
pub fn usage_report(tokens: i64, threshold: i64) -> Value {
    let percent = if threshold > 0 {
        (tokens as f64 / threshold as f64 * 100.0).round_ties_even() as i64
    } else {
        0
    };
    json!({
        "tokens": tokens,
        "estimated_tokens": tokens,
        "threshold": threshold,
        "percent": percent,
        "source": "estimated",
    })
}

fn summary_of(m: &Value) -> Option<&str> {
    ["contextSummary", "context_summary"]
        .iter()
        .filter_map(|k| m.get(*k).and_then(Value::as_str))
        .find(|s| !s.trim().is_empty())
}

fn items(m: &Value) -> &[Value] {
    m.get("output")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn kind(item: &Value) -> &str {
    item.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Applies the newest summary checkpoint of a branch: the messages from the
/// checkpoint on, and the summary standing for everything before it.
///
/// A checkpoint is a message's `contextSummary`, or a compaction marker in a
/// reply's output (left by a compaction inside a tool loop): then the kept part
/// starts at the tool-call batch the marker names, which may lie in an earlier
/// reply, with the message before that reply kept for context.
pub fn apply_checkpoint(messages: Vec<Value>) -> (Vec<Value>, Option<String>) {
    for idx in (0..messages.len()).rev() {
        if let Some(s) = summary_of(&messages[idx]) {
            let s = s.to_string();
            return (messages[idx..].to_vec(), Some(s));
        }
        let Some(marker) = items(&messages[idx])
            .iter()
            .rev()
            .find(|i| kind(i) == MARKER)
        else {
            continue;
        };
        let call_id = marker.get("call_id").cloned().unwrap_or(Value::Null);
        let summary = marker
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for cut in (0..=idx).rev() {
            let output = items(&messages[cut]);
            let Some(mut start) = output
                .iter()
                .position(|i| kind(i) == "function_call" && i.get("call_id") == Some(&call_id))
            else {
                continue;
            };
            // Back to the end of the previous batch, so text said before the calls stays.
            while start > 0 && kind(&output[start - 1]) != "function_call_output" {
                start -= 1;
            }
            let kept: Vec<Value> = output[start..]
                .iter()
                .filter(|i| kind(i) != MARKER)
                .cloned()
                .collect();
            let mut trimmed = messages[cut].clone();
            trimmed["output"] = Value::Array(kept);
            let mut out: Vec<Value> = messages[cut.saturating_sub(1)..cut].to_vec();
            out.push(trimmed);
            out.extend_from_slice(&messages[cut + 1..]);
            return (out, Some(summary));
        }
    }
    (messages, None)
}

/// Where the kept part begins: the latest turn start that leaves at least the
/// retained share (at least two messages) in context. Turn starts are user
/// messages, or, in a tool loop, assistant messages that call tools (a batch
/// stays with its results). The first later user turn is allowed even when it
/// keeps more than the share. 0 means there is nothing to cut.
pub fn boundary(messages: &[Value], retention: i64) -> usize {
    let retention = retention.clamp(10, 50) as usize;
    let n = messages.len();
    let keep = (n * retention / 100).max(2);
    let mut target = n.saturating_sub(keep).max(1);
    let tool_loop = messages.iter().any(|m| role(m) == "tool");
    let starts: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            if tool_loop {
                role(m) == "assistant" && m.get("tool_calls").is_some_and(|c| !is_falsy(c))
            } else {
                role(m) == "user"
            }
        })
        .map(|(i, _)| i)
        .skip(1)
        .collect();
    if !tool_loop {
        target = target.max(starts.first().copied().unwrap_or(0));
    }
    starts.into_iter().rev().find(|i| *i <= target).unwrap_or(0)
}

/// A message as one transcript line's text: its words, and the calls it made.
fn transcript_text(m: &Value) -> String {
    let mut text = super::super::history::message_text(m);
    let mut calls: Vec<Value> = m
        .get("tool_calls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    calls.extend(
        items(m)
            .iter()
            .filter(|i| kind(i) == "function_call")
            .map(|i| json!({"name": i.get("name"), "arguments": i.get("arguments")})),
    );
    if !calls.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("[TOOL CALLS] {}", Value::Array(calls)));
    }
    text
}

/// `(role, text)` lines for a prompt.
pub fn transcript(messages: &[Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter(|m| role(m) != "system")
        .map(|m| (role(m).to_string(), transcript_text(m)))
        .collect()
}

fn lines(t: &[(String, String)]) -> String {
    t.iter()
        .map(|(r, text)| format!("{}: {}", r.to_uppercase(), text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The summarising prompt: the admin's template (ours when empty) with the
/// previous summary, the messages leaving the context and those staying.
/// Values are filled in one pass each, so text inside a message is never
/// expanded as a placeholder.
pub fn render_prompt(
    template: &str,
    compacted: &[Value],
    recent: &[Value],
    previous: Option<&str>,
    user_name: &str,
) -> String {
    let template = if template.trim().is_empty() {
        DEFAULT_PROMPT
    } else {
        template.trim()
    };
    let all: Vec<Value> = compacted.iter().chain(recent).cloned().collect();
    let everything = transcript(&all);
    let last_user = all
        .iter()
        .rev()
        .find(|m| role(m) == "user")
        .map(transcript_text)
        .unwrap_or_default();
    let fixed = [
        ("{{PREVIOUS_SUMMARY}}", previous.unwrap_or("").to_string()),
        ("{{COMPACTED_MESSAGES}}", lines(&transcript(compacted))),
        ("{{RECENT_MESSAGES}}", lines(&transcript(recent))),
        ("{{prompt}}", last_user.clone()),
        ("{{PROMPT}}", last_user),
        ("{{USER_NAME}}", user_name.to_string()),
        (
            "{{CURRENT_DATE}}",
            chrono::Utc::now().format("%Y-%m-%d").to_string(),
        ),
    ];
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some((name, value)) = fixed.iter().find(|(n, _)| tail.starts_with(n)) {
            out.push_str(value);
            rest = &tail[name.len()..];
        } else if let Some(n) = tail.strip_prefix("{{MESSAGES}}") {
            out.push_str(&lines(&everything));
            rest = n;
        } else if let Some(end) = tail
            .strip_prefix("{{MESSAGES:END:")
            .and_then(|t| t.find("}}"))
        {
            let count = tail[15..15 + end].parse::<usize>().unwrap_or(6);
            out.push_str(&lines(
                &everything[everything.len().saturating_sub(count)..],
            ));
            rest = &tail[15 + end + 2..];
        } else {
            out.push_str("{{");
            rest = &tail[2..];
        }
    }
    out.push_str(rest);
    out
}

/// What the summarising model answered: the message text, else its reasoning
/// (some models put everything there).
pub fn answer_text(raw: &Value) -> String {
    let raw = match raw {
        Value::Array(a) if a.len() == 1 => &a[0],
        other => other,
    };
    if let Some(m) = raw.pointer("/choices/0/message") {
        for k in ["content", "reasoning_content", "reasoning"] {
            if let Some(s) = m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                return s.to_string();
            }
        }
        return String::new();
    }
    if let Some(m) = raw.get("message") {
        // Ollama's own shape.
        for k in ["content", "thinking"] {
            if let Some(s) = m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                return s.to_string();
            }
        }
    }
    String::new()
}

/// The summary kept when the model answers nothing: the previous summary and
/// the start of each message that left the context, within 4000 characters.
pub fn fallback_summary(previous: Option<&str>, compacted: &[Value]) -> String {
    let mut parts: Vec<String> = previous.map(str::to_string).into_iter().collect();
    for m in compacted {
        let text = super::super::history::message_text(m);
        if !text.is_empty() {
            let head: String = text.chars().take(500).collect();
            let r = m.get("role").and_then(Value::as_str).unwrap_or("unknown");
            parts.push(format!("- {r}: {head}"));
        }
    }
    parts.join("\n").chars().take(4000).collect()
}

/// Adds the summary to the leading system message (after its text), or puts
/// one in front carrying only the summary.
pub fn add_summary_to_system(messages: &mut Vec<Value>, summary: &str) {
    let block = format!("{SUMMARY_HEADING}\n{summary}");
    if let Some(first) = messages.first_mut().filter(|m| role(m) == "system") {
        match first.get_mut("content") {
            Some(Value::Array(parts)) => {
                for p in parts.iter_mut().filter(|p| kind(p) == "text") {
                    let t = p.get("text").and_then(Value::as_str).unwrap_or("");
                    p["text"] = Value::String(format!("{t}\n{block}"));
                }
            }
            _ => {
                let t = super::super::history::message_text(first);
                first["content"] = Value::String(format!("{t}\n{block}"));
            }
        }
        return;
    }
    messages.insert(0, json!({"role": "system", "content": block}));
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
