//! The secrets of an app: its API key and connection token are stored as
//! Fernet tokens under a key derived (HKDF-SHA256) from the server secret,
//! the format upstream stores, so either server reads the other's rows; and
//! the short-lived context tokens (HMAC-SHA256) handed to an app with an
//! event or an invocation, which the app hands back to prove them.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::db::apps::AppRow;
use crate::error::{ApiError, ApiResult};

type HmacSha256 = Hmac<Sha256>;

const KEY_INFO: &[u8] = b"open-webui-app-keys-v1";
const CONTEXT_PREFIX: &[u8] = b"open-webui-context-v1\n";

/// The 32-byte Fernet key: signing half, then encryption half.
fn fernet_key(secret: &str) -> [u8; 32] {
    let hk = hkdf::Hkdf::<Sha256>::new(None, secret.as_bytes());
    let mut out = [0u8; 32];
    hk.expand(KEY_INFO, &mut out)
        .expect("32 bytes is a valid length");
    out
}

/// Encrypts `plain` as a Fernet token.
pub fn encrypt(secret: &str, plain: &str) -> String {
    let key = fernet_key(secret);
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    let ts = (crate::db::now_secs().max(0) as u64).to_be_bytes();
    let ct = cbc::Encryptor::<aes::Aes128>::new(key[16..].into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
    let mut token = Vec::with_capacity(57 + ct.len());
    token.push(0x80);
    token.extend_from_slice(&ts);
    token.extend_from_slice(&iv);
    token.extend_from_slice(&ct);
    let mut mac = HmacSha256::new_from_slice(&key[..16]).expect("any key length");
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE.encode(token)
}

/// Decrypts a Fernet token made by [`encrypt`] (or by upstream).
pub fn decrypt(secret: &str, token: &str) -> ApiResult<String> {
    let bad = || ApiError::internal(anyhow::anyhow!("an app secret cannot be decrypted"));
    let raw = URL_SAFE.decode(token.trim()).map_err(|_| bad())?;
    if raw.len() < 57 + 16 || raw[0] != 0x80 || (raw.len() - 57) % 16 != 0 {
        return Err(bad());
    }
    let key = fernet_key(secret);
    let (body, tag) = raw.split_at(raw.len() - 32);
    let mut mac = HmacSha256::new_from_slice(&key[..16]).expect("any key length");
    mac.update(body);
    mac.verify_slice(tag).map_err(|_| bad())?;
    let iv: [u8; 16] = body[9..25].try_into().map_err(|_| bad())?;
    let plain = cbc::Decryptor::<aes::Aes128>::new(key[16..].into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&body[25..])
        .map_err(|_| bad())?;
    String::from_utf8(plain).map_err(|_| bad())
}

fn public_key(app: &AppRow) -> &str {
    app.data
        .pointer("/manifest/public_key")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The signature binds the app, its pinned key and its stored credential:
/// replacing either makes earlier tokens invalid.
fn sign(secret: &str, app: &AppRow, payload: &str) -> Vec<u8> {
    let mut binding = Sha256::new();
    binding.update(public_key(app).as_bytes());
    binding.update(app.api_key.as_deref().unwrap_or("").as_bytes());
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(CONTEXT_PREFIX);
    mac.update(app.id.as_bytes());
    mac.update(b"\n");
    mac.update(&binding.finalize());
    mac.update(b"\n");
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A token carrying `data` for `purpose` (`event`, `execution`), valid for
/// `expires_in` seconds: `base64url(json) "." base64url(hmac)`.
pub fn context_token(
    secret: &str,
    app: &AppRow,
    purpose: &str,
    data: &Map<String, Value>,
    expires_in: i64,
) -> String {
    let mut body = data.clone();
    body.insert("app_id".into(), Value::String(app.id.clone()));
    body.insert("purpose".into(), Value::String(purpose.into()));
    body.insert(
        "exp".into(),
        Value::from(crate::db::now_secs() + expires_in),
    );
    body.insert(
        "nonce".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    let payload = URL_SAFE.encode(Value::Object(body).to_string());
    let sig = URL_SAFE.encode(sign(secret, app, &payload));
    format!("{payload}.{sig}")
}

/// The data of a token made by [`context_token`] for this app and purpose,
/// if it is intact and unexpired.
pub fn read_context_token(
    secret: &str,
    app: &AppRow,
    purpose: &str,
    token: &str,
) -> ApiResult<Map<String, Value>> {
    let bad = || ApiError::forbidden("Invalid or expired app context");
    let (payload, sig) = token.split_once('.').ok_or_else(bad)?;
    let sig_raw = URL_SAFE.decode(sig).map_err(|_| bad())?;
    let payload_raw = URL_SAFE.decode(payload).map_err(|_| bad())?;
    // Only the canonical spelling is accepted.
    if URL_SAFE.encode(&sig_raw) != sig || URL_SAFE.encode(&payload_raw) != payload {
        return Err(bad());
    }
    if !same_bytes(&sign(secret, app, payload), &sig_raw) {
        return Err(bad());
    }
    let data: Map<String, Value> = serde_json::from_slice(&payload_raw).map_err(|_| bad())?;
    let fresh = data
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|e| e > crate::db::now_secs());
    if data.get("app_id").and_then(Value::as_str) != Some(app.id.as_str())
        || data.get("purpose").and_then(Value::as_str) != Some(purpose)
        || !fresh
    {
        return Err(bad());
    }
    Ok(data)
}

/// Compares in time independent of where the bytes differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 of bytes (for PEM bodies).
pub(super) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(super) fn unb64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> AppRow {
        AppRow {
            id: "a1".into(),
            slug: "s".into(),
            name: "n".into(),
            user_id: None,
            is_active: true,
            data: json!({"manifest": {"public_key": "PK"}}),
            api_key: Some("enc".into()),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn fernet_round_trip_and_tamper() {
        let t = encrypt("secret", "sk-app");
        assert_eq!(decrypt("secret", &t).unwrap(), "sk-app");
        assert!(decrypt("other", &t).is_err());
        let mut raw = URL_SAFE.decode(&t).unwrap();
        raw[30] ^= 1;
        assert!(decrypt("secret", &URL_SAFE.encode(raw)).is_err());
    }

    #[test]
    fn fernet_reads_a_token_upstream_made() {
        // Made by Python's `cryptography` Fernet under upstream's HKDF key for
        // the secret "test-secret".
        let t = "gAAAAABrFvdi5ayif0VSuv794Pawaf2c_mnKuSxl0Kg8aVeQR1gZC7_-kRcB_MRBTe1MLb8yKmIw01IC18SReA0g_f3ajgTzAZUAXQFjpm6e5-v9TJKh2MI=";
        assert_eq!(decrypt("test-secret", t).unwrap(), "sk-from-upstream");
        assert!(decrypt("another-secret", t).is_err());
    }

    #[test]
    fn context_tokens() {
        let a = app();
        let mut d = Map::new();
        d.insert("x".into(), json!(1));
        let t = context_token("s", &a, "event", &d, 60);
        let back = read_context_token("s", &a, "event", &t).unwrap();
        assert_eq!(back["x"], json!(1));
        assert!(read_context_token("s", &a, "execution", &t).is_err());
        assert!(read_context_token("other", &a, "event", &t).is_err());
        let mut b = a.clone();
        b.api_key = Some("changed".into());
        assert!(read_context_token("s", &b, "event", &t).is_err());
        let expired = context_token("s", &a, "event", &d, -1);
        assert!(read_context_token("s", &a, "event", &expired).is_err());
    }
}
