//! What an app says about itself (its manifest) and the forms admins send,
//! checked as strictly as upstream does: unknown keys refused, bounded
//! lengths, an Ed25519 public key, known scopes only.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

pub const SCOPES: [&str; 4] = [
    "channels:mentions:read",
    "channels:messages:read",
    "channels:messages:write",
    "channels:read",
];

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (then the 32 key bytes).
const ED25519_SPKI: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub profile_image_url: Option<String>,
    pub public_key: String,
    pub requested_scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestForm {
    pub url: String,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppForm {
    pub manifest: Manifest,
    pub url: String,
    pub api_key: String,
    pub slug: String,
    pub granted_scopes: Vec<String>,
    #[serde(default = "public_read")]
    pub access_grants: Value,
}

fn public_read() -> Value {
    json!([{"principal_type": "user", "principal_id": "*", "permission": "read"}])
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateForm {
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub settings: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub manifest: Option<Manifest>,
    #[serde(default)]
    pub granted_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub access_grants: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectForm {
    #[serde(default)]
    pub api_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionForm {
    pub message_id: String,
    pub action_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub app_id: String,
}

/// FastAPI's 422 for a body that does not fit.
pub fn invalid(msg: impl std::fmt::Display) -> ApiError {
    ApiError::Validation(json!([{"loc": ["body"], "msg": msg.to_string(), "type": "value_error"}]))
}

/// Reads a request body into a form.
pub fn parse<T: serde::de::DeserializeOwned>(body: Value) -> ApiResult<T> {
    serde_json::from_value(body).map_err(invalid)
}

fn bounded(field: &str, v: &str, min: usize, max: usize) -> ApiResult<()> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(invalid(format!(
            "{field} must be {min} to {max} characters"
        )));
    }
    Ok(())
}

pub fn check_scopes(scopes: &[String]) -> ApiResult<()> {
    match scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        Some(s) => Err(invalid(format!("unknown scope {s}"))),
        None => Ok(()),
    }
}

/// Whether every granted scope was requested.
pub fn subset(granted: &[String], requested: &[String]) -> bool {
    granted.iter().all(|g| requested.contains(g))
}

/// The 32 key bytes of an Ed25519 public key in SubjectPublicKeyInfo PEM.
pub fn ed25519_key_bytes(pem: &str) -> Option<[u8; 32]> {
    let body: String = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")?
        .strip_suffix("-----END PUBLIC KEY-----")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = super::crypto::unb64(&body)?;
    if der.len() != 44 || der[..12] != ED25519_SPKI {
        return None;
    }
    der[12..].try_into().ok()
}

/// An Ed25519 public key (PEM) in its canonical SubjectPublicKeyInfo PEM.
pub fn canonical_public_key(pem: &str) -> Option<String> {
    let key = ed25519_key_bytes(pem)?;
    let mut der = ED25519_SPKI.to_vec();
    der.extend_from_slice(&key);
    Some(format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        super::crypto::b64(&der)
    ))
}

fn check_link(v: &str) -> bool {
    match reqwest::Url::parse(v) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && !v.chars().any(|c| (c as u32) <= 32)
        }
        Err(_) => false,
    }
}

impl Manifest {
    /// Checks every field; the public key comes back canonical.
    pub fn validated(mut self) -> ApiResult<Manifest> {
        bounded("id", &self.id, 1, 100)?;
        bounded("name", &self.name, 1, 100)?;
        bounded("description", &self.description, 0, 2000)?;
        if self.public_key.len() > 2000 {
            return Err(invalid("public_key is too long"));
        }
        self.public_key = canonical_public_key(&self.public_key)
            .ok_or_else(|| invalid("An Ed25519 public key is required"))?;
        check_scopes(&self.requested_scopes)?;
        if let Some(img) = &self.profile_image_url {
            if img.len() > 196_608 {
                return Err(invalid("profile_image_url is too long"));
            }
            if let Some(rest) = img.strip_prefix("data:") {
                let (header, data) = rest.split_once(',').unwrap_or((rest, ""));
                let ok_type = ["png", "jpeg", "gif", "webp"]
                    .iter()
                    .any(|t| header == format!("image/{t};base64"));
                let decoded = super::crypto::unb64(data).unwrap_or_default();
                if !ok_type || decoded.is_empty() {
                    return Err(invalid(
                        "Expected a non-empty base64 PNG, JPEG, GIF or WebP data URL",
                    ));
                }
            } else if img.len() > 2048 || !check_link(img) {
                return Err(invalid(
                    "profile_image_url must be an HTTP(S) URL without credentials",
                ));
            }
        }
        Ok(self)
    }
}

impl AppForm {
    pub fn validated(mut self) -> ApiResult<AppForm> {
        self.manifest = self.manifest.validated()?;
        bounded("url", &self.url, 0, 2048)?;
        bounded("api_key", &self.api_key, 1, 4096)?;
        let slug_ok = regex_slug(&self.slug);
        if !slug_ok {
            return Err(invalid("slug must match ^[a-z][a-z0-9-]{0,39}$"));
        }
        check_scopes(&self.granted_scopes)?;
        Ok(self)
    }
}

fn regex_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 40
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

impl UpdateForm {
    pub fn validated(mut self) -> ApiResult<UpdateForm> {
        if let Some(n) = &self.name {
            bounded("name", n, 1, 100)?;
        }
        if let Some(m) = self.manifest.take() {
            self.manifest = Some(m.validated()?);
        }
        if let Some(s) = &self.granted_scopes {
            check_scopes(s)?;
        }
        Ok(self)
    }
}

/// An API key given in a form: 1 to 4096 characters.
pub fn check_key(key: &Option<String>) -> ApiResult<()> {
    match key {
        Some(k) => bounded("api_key", k, 1, 4096),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_keys() {
        assert!(regex_slug("a"));
        assert!(regex_slug("my-app-2"));
        assert!(!regex_slug("2app"));
        assert!(!regex_slug("App"));
        assert!(!regex_slug(&format!("a{}", "b".repeat(40))));
        assert!(canonical_public_key("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----").is_some());
        // An RSA-sized body is refused.
        assert!(canonical_public_key("-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END PUBLIC KEY-----").is_none());
    }
}
