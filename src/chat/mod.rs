//! The completion pipeline: from `POST /api/chat/completions` to persisted messages and socket events.

pub mod access;
pub mod announce;
pub mod background;
pub mod compaction;
pub mod direct;
pub mod direct_channels;
pub mod events;
pub mod history;
pub mod imaging;
pub mod live;
pub mod messages_api;
pub mod output;
pub mod params;
pub mod persist;
pub mod pipeline;
pub mod prompts;
pub mod replay;
pub mod request_text;
pub mod resume;
pub mod rounds;
pub mod tasks;
pub mod think;
pub mod tools;
pub mod turn;
pub mod web_search;
