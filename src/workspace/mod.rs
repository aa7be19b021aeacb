//! Workspace items (prompts, tools, skills) as the chat pipeline and the
//! workspace routes both need them: which skills a turn
//! uses, and the refusal of Python tools.

pub mod skill_package;
pub mod skill_url;
pub mod skills;
pub mod tools;
