//! Authentication: passwords, session JWTs, API keys and the extractors that
//! handlers declare to get the caller.

pub mod client;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod permissions;
pub mod rate_limit;
pub mod sessions;

pub use extract::{AdminUser, AuthUser, OptionalUser, SessionUser, VerifiedUser};
