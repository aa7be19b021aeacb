//! The code interpreter of a chat turn: whether it is on, what the model is
//! told, running one block or `execute_code` call on the configured engine,
//! and how a block and its output read back to the model.
//!
//! With native function calling the model gets the `execute_code` tool; in
//! the prompt-based (`legacy`) mode it writes
//! `<code_interpreter type="code" lang="python">…</code_interpreter>` blocks
//! that the chat's round loop cuts out of the stream and runs here.

use serde_json::{json, Map, Value};

pub use super::item::TOOL_NAME;
use super::{pyodide, Outcome, Use};
use crate::auth::{permissions, Caller};
use crate::events::TabTarget;
use crate::state::AppState;

/// Blocks one reply may run before the loop stops.
pub const MAX_BLOCKS: usize = 5;

const PROMPT: &str = "\
#### Running Python

You can run Python code. Write it inside `<code_interpreter type=\"code\" lang=\"python\">` and `</code_interpreter>` tags, then end your message right after the closing tag: the code runs and its output comes back to you, after which you continue.

- Only code inside these tags runs. Do not put Markdown fences (```) inside the tags.
- Print what you need to see (`print(...)`); a value left on the last line may not be shown.
- Use it for calculations, data work, charts and anything a program answers better than a guess.
- Read the output before you answer. If it shows an error or something unexpected, fix the code and run it again.
- When the output contains a link to an image or a file, show that link to the user unchanged.
- Answer in the language of the conversation.";

const PYODIDE_PROMPT: &str = "\
##### Where the code runs

- Python runs in the user's browser (Pyodide). Installing packages (`pip`, `micropip`, `subprocess`) is not possible: work with the modules that are there.
- The user's files are under `/mnt/uploads/`; list them with `os.listdir('/mnt/uploads')`. Files written there can be downloaded by the user and stay there between runs of this conversation.";

use crate::llm::{builtin_category_on as category_on, model_capability as capability};

/// Whether the turn may use the interpreter: the chat switched the feature
/// on, the server enables it, the model neither lacks the capability nor
/// has the category switched off, and the caller holds
/// `features.code_interpreter`.
pub async fn allowed(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
    model: &Value,
) -> bool {
    let asked = body
        .get("features")
        .and_then(|f| f.get("code_interpreter"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    asked
        && state.config.get_bool("code_interpreter.enable")
        && capability(model, "code_interpreter")
        && category_on(model, "code_interpreter")
        && permissions::caller_allows(state, caller, "features.code_interpreter")
            .await
            .unwrap_or(false)
}

/// Whether the turn uses the prompt-based mode (`params.function_calling`
/// is `legacy`), where blocks are written into the answer text.
pub fn prompt_based(body: &Map<String, Value>) -> bool {
    body.get("params")
        .and_then(|p| p.get("function_calling"))
        .and_then(Value::as_str)
        == Some("legacy")
}

fn runs_in_browser(state: &AppState) -> bool {
    super::engine(&state.config, Use::Interpreter) != "jupyter"
}

/// What the model is told, and where: `(text, into_user_message)`. The
/// prompt-based mode gets the whole instruction (the admin's template when
/// set) after the last user message; native calling only learns where the
/// code runs when that is the browser (the tool describes itself).
pub fn instructions(state: &AppState, body: &Map<String, Value>) -> Option<(String, bool)> {
    let browser = runs_in_browser(state);
    if prompt_based(body) {
        let template = state.config.get_str("code_interpreter.prompt_template");
        let mut text = if template.trim().is_empty() {
            PROMPT.to_string()
        } else {
            template
        };
        if browser {
            text.push_str("\n\n");
            text.push_str(PYODIDE_PROMPT);
        }
        return Some((text, true));
    }
    browser.then(|| (PYODIDE_PROMPT.to_string(), false))
}

/// Adds `text` to the last user message (or a new one at the end).
pub fn add_to_user_message(messages: &mut Vec<Value>, text: &str) {
    if let Some(last) = messages.last_mut() {
        if last.get("role").and_then(Value::as_str) == Some("user") {
            match last.get_mut("content") {
                Some(Value::Array(parts)) => {
                    for part in parts.iter_mut() {
                        if part.get("type").and_then(Value::as_str) == Some("text") {
                            let old = part.get("text").and_then(Value::as_str).unwrap_or("");
                            part["text"] = json!(format!("{old}\n{text}"));
                        }
                    }
                }
                Some(Value::String(s)) => *s = format!("{s}\n{text}"),
                _ => last["content"] = json!(text),
            }
            return;
        }
    }
    messages.push(json!({"role": "user", "content": text}));
}

/// Who a run is for: the user's tab of the chat, and the chat's files.
pub struct RunFor<'a> {
    pub tab: TabTarget<'a>,
    pub files: Value,
}

/// Runs code written by the model on the interpreter's engine; images in the
/// output are saved as the user's files and shown as links.
pub async fn run(state: &AppState, who: &RunFor<'_>, code: &str) -> Outcome {
    if code.len() > super::MAX_CODE {
        return Outcome::failed("Error: the code is too long to run.");
    }
    let code = super::guard_imports(&super::sanitize(code), &super::blocked_modules());
    let outcome = match super::engine(&state.config, Use::Interpreter).as_str() {
        "pyodide" => pyodide::run(state, &who.tab, &who.files, &code).await,
        "jupyter" => {
            let server = super::jupyter_server(&state.config, Use::Interpreter);
            super::jupyter::run(&server, &code).await
        }
        _ => Outcome {
            stdout: "Code interpreter engine not configured.".into(),
            ..Outcome::default()
        },
    };
    with_image_links(state, who.tab.user_id, outcome).await
}

async fn with_image_links(state: &AppState, user_id: &str, mut o: Outcome) -> Outcome {
    o.stdout = image_links(state, user_id, &o.stdout).await;
    o.result = image_links(state, user_id, &o.result).await;
    o
}

/// Replaces each line that is a base64 picture with a link to it, saved as
/// the user's file; a line that cannot be saved stays as it was.
async fn image_links(state: &AppState, user_id: &str, text: &str) -> String {
    if !text.contains("data:image/") {
        return text.to_string();
    }
    let mut lines = Vec::new();
    for line in text.split('\n') {
        lines.push(match save_picture(state, user_id, line.trim()).await {
            Some(url) => format!("![Output Image]({url})"),
            None => line.to_string(),
        });
    }
    lines.join("\n")
}

async fn save_picture(state: &AppState, user_id: &str, line: &str) -> Option<String> {
    use base64::Engine as _;
    let rest = line.strip_prefix("data:image/")?;
    let (kind, data) = rest.split_once(";base64,")?;
    if kind.is_empty()
        || !kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
    {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()?;
    let content_type = format!("image/{kind}");
    let ext = kind.split('+').next().unwrap_or("png");
    let name = format!("output-image.{ext}");
    let meta = json!({"source": "code_interpreter"});
    match crate::files::store_bytes(state, user_id, &name, &content_type, &bytes, meta).await {
        Ok(row) => Some(format!("/api/v1/files/{}/content", row.id)),
        Err(e) => {
            tracing::warn!(error = ?e, "could not save a picture the code made");
            None
        }
    }
}

/// The `execute_code` tool as the model sees it.
pub fn tool_spec() -> Value {
    json!({
        "name": TOOL_NAME,
        "description": "Run Python code and get back what it printed (stdout), its errors (stderr) and the value of its last expression (result). Use it for calculations, data analysis, charts, or anything a program answers better than a guess.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    })
}

/// Runs an `execute_code` call; the JSON text the model reads back.
pub async fn run_tool(state: &AppState, who: &RunFor<'_>, args: &Map<String, Value>) -> String {
    let Some(code) = args.get("code").and_then(Value::as_str) else {
        return json!({"error": "The call needs the code to run, as `code`."}).to_string();
    };
    let o = run(state, who, code).await;
    json!({"status": "success", "stdout": o.stdout, "stderr": o.stderr, "result": o.result})
        .to_string()
}

/// Runs a closed block (only `type="code"` ones run) and records the output.
pub async fn run_item(state: &AppState, who: &RunFor<'_>, item: &mut Value) {
    let runs = item.pointer("/attributes/type").and_then(Value::as_str) == Some("code");
    let output = if runs {
        let code = item["code"].as_str().unwrap_or("").to_string();
        run(state, who, &code).await.to_json()
    } else {
        json!("")
    };
    item["output"] = output;
    item["status"] = json!("completed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_joins_the_last_user_message() {
        let mut m = vec![json!({"role": "user", "content": "hi"})];
        add_to_user_message(&mut m, "P");
        assert_eq!(m[0]["content"], "hi\nP");
        let mut m = vec![json!({"role": "assistant", "content": "x"})];
        add_to_user_message(&mut m, "P");
        assert_eq!(m[1]["role"], "user");
    }
}
