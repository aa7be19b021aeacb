//! Starting a chat turn from inside the server (a timer that fires, a
//! sub-agent, a background sub-agent's report) without naming the pipeline:
//! the pipeline runs the tools that start these turns, so the code that
//! starts them reaches it through the function installed here when the app
//! is assembled (`crate::router`).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use serde_json::Value;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A turn the server starts on its own, in a stored chat whose reply
/// placeholder is written already (`body.assistant_message_id`).
pub struct Launch {
    pub caller: Caller,
    /// A completion request as the browser sends it (`chat_id`, `model`,
    /// `session_id`, `id`, `messages` with the system ones, `tool_ids`, …).
    pub body: Value,
    /// A sub-agent's turn: it may not delegate or set timers, and the
    /// memory tools that change memories are left out.
    pub internal: bool,
    /// A bound on the tool rounds of this turn.
    pub max_rounds: Option<usize>,
    /// Return only once the reply is finished and stored.
    pub wait: bool,
}

pub type LaunchFuture = Pin<Box<dyn Future<Output = ApiResult<()>> + Send>>;
pub type LaunchFn = fn(AppState, Launch) -> LaunchFuture;

static LAUNCHER: OnceLock<LaunchFn> = OnceLock::new();

/// Installs the pipeline's entry (once per process; later calls are no-ops).
pub fn install(f: LaunchFn) {
    let _ = LAUNCHER.set(f);
}

/// Starts the turn; the error is the one the pipeline refused it with.
pub async fn launch(state: &AppState, launch: Launch) -> ApiResult<()> {
    match LAUNCHER.get() {
        Some(f) => f(state.clone(), launch).await,
        None => Err(ApiError::internal(anyhow::anyhow!(
            "the chat pipeline is not installed"
        ))),
    }
}
