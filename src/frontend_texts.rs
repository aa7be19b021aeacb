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
//! (`StatusItem.svelte`), the compaction skip reasons `too_short`, `empty`
//! and `disabled` (`Chat.svelte`) and the `Error:` prefix of tool results
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
