//! Running the Python code that users and models write: on a Jupyter server
//! ([`jupyter`]) or in the user's own browser tab through Pyodide
//! ([`pyodide`]), for `POST /api/v1/utils/code/execute` and for the chat's
//! code interpreter ([`chat`]: the prompt, the `execute_code` tool and the
//! loop over `<code_interpreter>` blocks).
//!
//! A run never fails as such: whatever goes wrong is reported in the
//! [`Outcome`]'s `stderr`, so a model reads it like any other output.

pub mod chat;
pub mod item;
pub mod jupyter;
pub mod pyodide;

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::ConfigStore;

/// What one run printed and returned, as upstream names the fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub result: String,
}

impl Outcome {
    pub fn failed(text: impl Into<String>) -> Outcome {
        Outcome {
            stderr: text.into(),
            ..Outcome::default()
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"stdout": self.stdout, "stderr": self.stderr, "result": self.result})
    }
}

/// The largest code accepted for one run.
pub const MAX_CODE: usize = 512 * 1024;

/// Which settings a run reads: the code-execution ones (the code blocks'
/// Run button) or the code-interpreter ones (the chat feature).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Use {
    Execution,
    Interpreter,
}

impl Use {
    fn prefix(self) -> &'static str {
        match self {
            Use::Execution => "code_execution",
            Use::Interpreter => "code_interpreter",
        }
    }
}

/// The engine the settings name for this use.
pub fn engine(config: &ConfigStore, purpose: Use) -> String {
    config.get_str(&format!("{}.engine", purpose.prefix()))
}

/// The Jupyter server the settings name for this use.
pub fn jupyter_server(config: &ConfigStore, purpose: Use) -> jupyter::Server {
    let key = |k: &str| format!("{}.jupyter.{k}", purpose.prefix());
    let auth = match config.get_str(&key("auth")).as_str() {
        "token" => jupyter::Auth::Token(config.get_str(&key("auth_token"))),
        "password" => jupyter::Auth::Password(config.get_str(&key("auth_password"))),
        _ => jupyter::Auth::None,
    };
    let secs = match config.get(&key("timeout")) {
        Value::Number(n) => n.as_f64().unwrap_or(60.0),
        Value::String(s) => s.trim().parse().unwrap_or(60.0),
        _ => 60.0,
    };
    jupyter::Server {
        url: config.get_str(&key("url")),
        auth,
        // Within a second and an hour, whatever the setting says.
        timeout: Duration::from_secs_f64(secs.clamp(1.0, 3600.0)),
    }
}

/// Code as models write it, made ready to run: terminal colour codes and a
/// surrounding Markdown fence are removed.
pub fn sanitize(code: &str) -> String {
    let code = jupyter::strip_ansi(code);
    let mut code = code.trim();
    if let Some(rest) = code.strip_prefix("```") {
        let lang_end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        code = rest[lang_end..]
            .strip_prefix('\n')
            .unwrap_or(&rest[lang_end..]);
    }
    let trimmed_end = code.trim_end();
    if let Some(body) = trimmed_end.strip_suffix("```") {
        code = body.strip_suffix('\n').unwrap_or(body);
    }
    code.trim().to_string()
}

/// The modules listed in `CODE_INTERPRETER_BLOCKED_MODULES` (comma separated).
pub fn blocked_modules() -> Vec<String> {
    std::env::var("CODE_INTERPRETER_BLOCKED_MODULES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// Prefixes `code` with an import hook refusing direct imports of the
/// blocked modules (a courtesy guard, not a sandbox).
pub fn guard_imports(code: &str, blocked: &[String]) -> String {
    if blocked.is_empty() {
        return code.to_string();
    }
    let list = serde_json::to_string(blocked).unwrap_or_else(|_| "[]".into());
    format!(
        "import builtins as _owui_builtins\n\
         _owui_blocked = set({list})\n\
         _owui_import = _owui_builtins.__import__\n\
         def _owui_guarded_import(name, globals=None, locals=None, fromlist=(), level=0):\n\
         \x20   if name.split('.')[0] in _owui_blocked and (globals or {{}}).get('__name__') == '__main__':\n\
         \x20       raise ImportError(f'Importing {{name}} is not allowed here.')\n\
         \x20   return _owui_import(name, globals, locals, fromlist, level)\n\
         _owui_builtins.__import__ = _owui_guarded_import\n\
         {code}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_and_colours_are_removed() {
        assert_eq!(sanitize("```python\nprint(1)\n```"), "print(1)");
        assert_eq!(sanitize("```\nx = 1\n```  "), "x = 1");
        assert_eq!(sanitize("\u{1b}[31mprint(2)\u{1b}[0m"), "print(2)");
        assert_eq!(sanitize("print('```')"), "print('```')");
    }

    #[test]
    fn imports_guard_only_when_asked() {
        assert_eq!(guard_imports("x", &[]), "x");
        let g = guard_imports("import os", &["os".into()]);
        assert!(g.contains("set([\"os\"])") && g.ends_with("import os"));
    }
}
