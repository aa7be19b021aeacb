//! Helpers the functions router shares with this one: Python identifiers,
//! the `meta` field, fetching source code from a URL.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::form::{opt_str, req_str, validation};
use crate::db::tools::CodeSave;
use crate::db::workspace_history::HistoryRow;
use crate::error::{ApiError, ApiResult};
use crate::llm;

/// Python's `str.isidentifier()`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// `meta` of a tool/function form: required object.
pub(crate) fn meta_field(body: &Value) -> ApiResult<Value> {
    match body.get("meta") {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        None | Some(Value::Null) => Err(validation("meta", "Field required")),
        Some(_) => Err(validation("meta", "Input should be a valid dictionary")),
    }
}

/// A tool or function form: `id` (checked, answered apart), `name`,
/// `content`, `meta` and `commit_message`; or a version to go back to.
pub(crate) struct CodeForm {
    pub name: String,
    pub content: String,
    pub meta: Value,
    pub commit_message: Option<String>,
}

impl CodeForm {
    /// The form's id and fields (the first missing or malformed one refused).
    pub(crate) fn parse(body: &Value) -> ApiResult<(String, CodeForm)> {
        let id = req_str(body, "id")?.to_string();
        let form = CodeForm {
            name: req_str(body, "name")?.to_string(),
            content: req_str(body, "content")?.to_string(),
            meta: meta_field(body)?,
            commit_message: opt_str(body, "commit_message")?,
        };
        Ok((id, form))
    }

    /// The name, content and meta of a history entry, to go back to.
    pub(crate) fn restored(h: &HistoryRow) -> CodeForm {
        let (name, content, meta) = h.restored();
        CodeForm {
            name,
            content,
            meta,
            commit_message: None,
        }
    }

    /// This form as the database saves it.
    pub(crate) fn saving<'a>(&'a self, user_id: &'a str, now: i64) -> CodeSave<'a> {
        CodeSave {
            name: &self.name,
            content: &self.content,
            meta: self.meta.clone(),
            commit_message: self.commit_message.as_deref(),
            user_id,
            now,
        }
    }
}

/// The id of a new tool or function: a Python identifier, lower-cased.
pub(crate) fn new_code_id(id: &str) -> ApiResult<String> {
    if !is_identifier(id) {
        return Err(ApiError::bad_request(
            "Only alphanumeric characters and underscores are allowed in the id",
        ));
    }
    Ok(id.to_lowercase())
}

#[derive(Deserialize)]
pub(crate) struct UrlForm {
    pub url: String,
}

/// GitHub page links point at the raw file (a folder link at its `main.py`).
fn github_raw(url: &str) -> String {
    let Some(rest) = url.strip_prefix("https://github.com/") else {
        return url.to_string();
    };
    let parts: Vec<&str> = rest.splitn(5, '/').collect();
    if parts.len() == 5 && (parts[2] == "tree" || parts[2] == "blob") && !parts[4].is_empty() {
        let (org, repo, branch, path) = (parts[0], parts[1], parts[3], parts[4]);
        let base = format!("https://raw.githubusercontent.com/{org}/{repo}/refs/heads/{branch}");
        if parts[2] == "tree" {
            return format!("{base}/{}/main.py", path.trim_end_matches('/'));
        }
        return format!("{base}/{path}");
    }
    url.to_string()
}

/// Fetches source text from a URL (admins only, as upstream): `{name, content}`.
pub(crate) async fn fetch_source(url: &str, what: &str) -> ApiResult<Value> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        return Err(validation("url", "Input should be a valid URL"));
    }
    let url = github_raw(url);
    let parts: Vec<&str> = url.trim_end_matches('/').split('/').collect();
    let file = parts.last().copied().unwrap_or("");
    let name = if file.ends_with(".py")
        && !["main.py", "index.py", "__init__.py"]
            .iter()
            .any(|p| file.starts_with(p))
    {
        file.trim_end_matches(".py").to_string()
    } else if parts.len() > 1 {
        parts[parts.len() - 2].to_string()
    } else {
        "function".to_string()
    };
    let resp = llm::client()
        .get(&url)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "fetching {what} source failed");
            ApiError::bad_request(format!("Error fetching {what}"))
        })?;
    if !resp.status().is_success() {
        let code = resp.status();
        return Err(ApiError::bad_request(format!(
            "Failed to fetch the {what} ({code})"
        )));
    }
    let text = resp.text().await.map_err(|e| {
        tracing::warn!(error = %e, "reading {what} source failed");
        ApiError::bad_request(format!("Error fetching {what}"))
    })?;
    if text.is_empty() {
        return Err(ApiError::bad_request("No data received from the URL"));
    }
    Ok(json!({"name": name, "content": text}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::tools::reject_python_tools;

    #[test]
    fn identifiers_and_tool_requests() {
        assert!(is_identifier("clock_tool") && is_identifier("_x1") && is_identifier("été"));
        assert!(!is_identifier("1x") && !is_identifier("a-b") && !is_identifier(""));
        assert!(reject_python_tools(&json!({"tool_ids": ["server:mcp:x"]})).is_ok());
        assert!(reject_python_tools(&json!({})).is_ok());
        assert!(matches!(
            reject_python_tools(&json!({"tool_ids": ["clock"]})),
            Err(ApiError::NotImplemented(_))
        ));
        assert_eq!(
            github_raw("https://github.com/o/r/blob/main/tools/x.py"),
            "https://raw.githubusercontent.com/o/r/refs/heads/main/tools/x.py"
        );
        assert_eq!(
            github_raw("https://github.com/o/r/tree/dev/pkg/"),
            "https://raw.githubusercontent.com/o/r/refs/heads/dev/pkg/main.py"
        );
    }
}
