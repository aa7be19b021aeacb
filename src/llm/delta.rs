//! The pieces a streamed answer is made of that other rooms keep (a leaf
//! module, so the chat's output builder can name it without importing the
//! provider code).

/// One streamed piece of a tool call. The first piece of a call usually
/// carries its `id` and `name`; `arguments` arrive as text fragments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCallDelta {
    pub index: u64,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: Option<String>,
}
