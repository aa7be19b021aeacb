//! Signing in through OAuth 2 / OpenID Connect providers (upstream's
//! `/oauth/{provider}/login` and its callback): the authorization-code flow
//! with PKCE, a single-use expiring `state` bound to the browser and an ID
//! token `nonce`; ID tokens checked against the provider's keys; the account
//! found by the provider's subject (or merged by email), created when sign-up
//! allows, its role and groups following the claims; the provider's tokens kept
//! encrypted in `oauth_session` and refreshed before they are forwarded; and
//! the provider's back-channel logout.
//!
//! Written by hand on `reqwest` and `jsonwebtoken` (already dependencies, both on
//! rustls/RustCrypto): the flow is small, and the `openidconnect` crate would
//! add its own HTTP and crypto stacks for the same few requests.

mod account;
pub mod backchannel;
mod claims;
mod client;
mod flow;
mod groups;
mod id_token;
mod picture;
pub mod providers;
pub mod sessions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use flow::{finish_login, start_login, Callback, LoginStart, Outcome};
pub use providers::{OAuthSettings, ProviderConfig};
pub use sessions::end_session_url;

/// A login started at `/oauth/{provider}/login`, waiting for its callback.
struct Pending {
    provider: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    created: Instant,
}

type Cached = HashMap<String, (Instant, Value)>;

/// The providers and what the flow keeps between requests.
pub struct OAuth {
    pub settings: OAuthSettings,
    http: reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
    metadata: Mutex<Cached>,
    jwks: Mutex<Cached>,
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Fernet key of the stored provider tokens.
    key: [u8; 32],
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Upstream's Fernet key: a 44-character key is used as it is, anything else
/// through SHA-256.
fn fernet_key(raw: &str) -> [u8; 32] {
    if raw.len() == 44 {
        if let Ok(k) = URL_SAFE.decode(raw) {
            if let Ok(k) = <[u8; 32]>::try_from(k.as_slice()) {
                return k;
            }
        }
    }
    Sha256::digest(raw.as_bytes()).into()
}

impl OAuth {
    /// `server_secret` encrypts the stored tokens when no key of their own is set.
    pub fn new(settings: OAuthSettings, server_secret: &str) -> OAuth {
        let raw = if settings.session_key.is_empty() {
            server_secret
        } else {
            settings.session_key.as_str()
        };
        OAuth {
            key: fernet_key(raw),
            http: client::new_http(settings.timeout_secs),
            settings,
            pending: Mutex::new(HashMap::new()),
            metadata: Mutex::new(HashMap::new()),
            jwks: Mutex::new(HashMap::new()),
            refresh_locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_metadata(&self) -> MutexGuard<'_, Cached> {
        guard(&self.metadata)
    }

    fn lock_jwks(&self) -> MutexGuard<'_, Cached> {
        guard(&self.jwks)
    }

    /// `{name: label}` of the configured providers, as `/api/config` reports them.
    pub fn provider_labels(&self) -> serde_json::Map<String, Value> {
        self.settings
            .providers
            .iter()
            .map(|p| {
                let label = p.label.clone().unwrap_or_else(|| p.name.clone());
                (p.name.clone(), Value::String(label))
            })
            .collect()
    }
}

/// 32 random bytes, URL-safe: states, nonces and PKCE verifiers.
fn random_token() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}
