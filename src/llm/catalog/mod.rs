//! The model list: every connection's models merged (the "base" list,
//! cached), workspace models laid over them, filtered by access per caller.

mod cache;
mod fetch;
mod merge;
mod resolve;
#[cfg(test)]
mod tests;
mod visible;

pub(crate) use cache::base_models;
pub use cache::invalidate;
pub(crate) use fetch::UNSUPPORTED_OPENAI;
pub(crate) use merge::all_models;
pub(crate) use resolve::{check_access, ollama_url_indexes, provider_of, resolve};
pub(crate) use visible::{bypass_model_access, visible_models};
