//! How a call ends. The browser is only ever shown one of our own fixed
//! sentences (`&'static str`): a provider's error text can carry prompts or
//! credentials, so no text that came from outside can reach this type.

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The call is over for the reason the browser is told.
    Says(&'static str),
    /// The browser hung up (or its connection broke): nobody to tell.
    BrowserLeft,
}

pub type CallResult<T> = Result<T, CallEnd>;

/// A call that ends with `message` shown in the browser.
pub fn ends(message: &'static str) -> CallEnd {
    CallEnd::Says(message)
}

/// Anything we did not expect (bad JSON, a missing field, an I/O failure).
pub const CONNECTION_FAILED: &str = "Voice connection failed";
pub const TIMED_OUT: &str = "Voice connection timed out";
pub const PROVIDER_CLOSED: &str = "Voice provider connection closed";

/// Unexpected data: the call ends without saying more.
pub fn failed() -> CallEnd {
    CallEnd::Says(CONNECTION_FAILED)
}
