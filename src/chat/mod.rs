//! The completion pipeline: from `POST /api/chat/completions` to persisted messages and socket events.
pub mod tasks;
