//! Texts the official frontend compares literally.
//!
//! Almost everything the server says is shown to people as-is (a toast, a
//! label), so its wording is ours to choose. The few texts below are
//! different: the 0.12.4 frontend branches on their exact value, so changing
//! one silently breaks a screen. Each names the frontend file that depends on
//! it. Keep every such text here, and only such texts.
//!
//! Still to come with the features that produce them (issue 11 and the
//! regression-suite issue): the web-search status descriptions
//! (`StatusItem.svelte`) and the `Error:` prefix of tool results
//! (`ToolCallDisplay.svelte`, `ConsecutiveDetailsGroup.svelte`).

/// `detail` of the 403 when changing a second factor needs a fresh password.
/// Compared in `components/auth/MfaManagement.svelte` and
/// `components/chat/Settings/Account/Mfa.svelte` to ask for it again.
pub const REAUTHENTICATION_REQUIRED: &str = "reauthentication_required";

/// `detail.code` of the 409 when a skill was saved over a newer version.
/// Compared in `components/workspace/Skills/SkillEditor.svelte` to offer a
/// reload instead of an error.
pub const VERSION_CONFLICT: &str = "version_conflict";

/// The payload of the last server-sent event of a stream. Checked by
/// `lib/apis/streaming/index.ts` (`startsWith`) to end the stream reader.
pub const SSE_DONE: &str = "[DONE]";

/// Why `POST /api/v1/chats/{id}/compact` compacted nothing (`reason`).
/// `components/chat/Chat.svelte` picks the toast by these exact values.
pub const COMPACT_TOO_SHORT: &str = "too_short";
pub const COMPACT_EMPTY: &str = "empty";
pub const COMPACT_DISABLED: &str = "disabled";

/// `description` of the `context_compaction` status events. The status line
/// passes them through the translation table, where these English texts are
/// the keys.
pub const COMPACTING_CONTEXT: &str = "Compacting context";
pub const CONTEXT_COMPACTED: &str = "Context compacted";
pub const CONTEXT_COMPACTION_FAILED: &str = "Context compaction failed";
