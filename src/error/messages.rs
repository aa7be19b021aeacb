//! Error texts whose exact wording matters to the official frontend. It
//! shows a failed request's `detail` as it comes (`toast.error(`${error}`)`
//! after the API client rethrows `detail`), so these read the same as
//! upstream's. Every other message stays next to the code that raises it.
//!
//! Paths below are in Open WebUI 0.12.4's frontend sources (`src/lib/...`).

/// The generic failure text (`ERROR_MESSAGES.DEFAULT()` upstream).
pub const DEFAULT: &str = "Something went wrong :/";

/// A missing resource, or one the caller may not know about. Shown by
/// `components/notes/NoteEditor.svelte` (opening a note) and
/// `components/workspace/Tools.svelte` (opening a tool), among others.
pub const NOT_FOUND: &str = "We could not find what you're looking for :/";

/// A resource the caller may not use. Shown by
/// `components/workspace/Knowledge/KnowledgeBase.svelte` (opening a knowledge
/// base) and `components/workspace/Tools.svelte`.
pub const ACCESS_PROHIBITED: &str =
    "You do not have permission to access this resource. Please contact your administrator for assistance.";

/// A feature or action the caller's role or permissions do not include.
/// Shown by `components/notes/Notes.svelte` (importing notes without the
/// notes feature) and `components/channel/Channel.svelte` (sending a message).
pub const UNAUTHORIZED: &str = "401 Unauthorized";

/// A model provider that could not be reached, or hung up before answering:
/// what a chat message's `error.content` says (the cause is logged).
pub const SERVER_CONNECTION_ERROR: &str = "Open WebUI: Server Connection Error";
