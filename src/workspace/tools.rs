//! Workspace tools are Python modules this server cannot run; the completion
//! pipeline and the tool/function routes refuse them with one message.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

pub const PYTHON_UNSUPPORTED: &str = "Python tools and functions cannot run in this server \
(the Rust Open WebUI backend has no Python runtime): the code is stored, but it cannot be loaded or executed.";

pub fn python_unsupported() -> ApiError {
    ApiError::NotImplemented(PYTHON_UNSUPPORTED.to_string())
}

/// For the completion pipeline: a request that selects workspace tools
/// (`tool_ids` other than `server:` tool servers) would need their Python
/// code to run, so it is refused with the 501 instead of silently answering
/// without them.
pub fn reject_python_tools(body: &Value) -> ApiResult<()> {
    let local = body
        .get("tool_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|id| !id.starts_with("server:"));
    if local {
        return Err(python_unsupported());
    }
    Ok(())
}
