//! Old paths, kept until the import paths are renamed: the caller is
//! `auth::caller`, the extractors are in src/api/extract.rs.

pub use super::caller::Caller;
pub use super::session::user_from_jwt;
