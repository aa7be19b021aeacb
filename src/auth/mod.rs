//! Authentication: passwords, session JWTs, API keys, second factors, and
//! who the caller of a request is. (The HTTP extractors that handlers declare
//! to get the caller are in src/api/extract.rs.)

pub mod caller;
pub mod client;
pub mod credentials;
pub mod group_sync;
pub mod jwt;
pub mod ldap;
pub mod mfa;
pub mod oauth;
pub mod password;
pub mod permissions;
pub mod rate_limit;
pub mod session;
pub mod sessions;
pub mod trusted;

pub use caller::Caller;
