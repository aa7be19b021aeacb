//! Session tokens: HS256 JWTs signed with `WEBUI_SECRET_KEY`, with upstream's claims.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub id: String,
    #[serde(default = "session_typ")]
    pub typ: String,
    #[serde(default)]
    pub auth_method: Option<String>,
    #[serde(default)]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub session_stamp: Option<String>,
    #[serde(default)]
    pub mfa_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default)]
    pub iat: Option<i64>,
}

fn session_typ() -> String {
    "session".into()
}

/// Parses upstream's duration strings (`4w`, `7d`, `12h`, `30m`, `45s`, `500ms`);
/// `-1` or `0` mean "never expires" (None).
pub fn parse_expiry(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() || s == "-1" || s == "0" {
        return None;
    }
    let mut total_ms: f64 = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap());
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total_ms += n * match unit.as_str() {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            "w" => 604_800_000.0,
            _ => return None,
        };
    }
    if !num.is_empty() {
        // A bare number is seconds.
        total_ms += num.parse::<f64>().ok()? * 1000.0;
    }
    Some((total_ms / 1000.0) as i64)
}

pub fn create(secret: &str, claims: &Claims) -> anyhow::Result<String> {
    Ok(encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// Verifies the signature and, when present, `exp`. Tokens without `exp` never expire.
pub fn decode_token(secret: &str, token: &str) -> Option<Claims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.required_spec_claims.clear();
    v.validate_exp = true;
    v.leeway = 0;
    decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &v)
        .ok()
        .map(|d| d.claims)
}

pub fn new_session_claims(
    user_id: &str,
    session_stamp: &str,
    expires_in: Option<i64>,
    now: i64,
) -> Claims {
    Claims {
        id: user_id.to_string(),
        typ: "session".into(),
        auth_method: Some("password".into()),
        auth_time: Some(now),
        session_stamp: Some(session_stamp.to_string()),
        mfa_verified: false,
        exp: expires_in.map(|e| now + e),
        jti: Some(uuid::Uuid::new_v4().to_string()),
        iat: Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_strings() {
        assert_eq!(parse_expiry("4w"), Some(4 * 7 * 86400));
        assert_eq!(parse_expiry("1h30m"), Some(5400));
        assert_eq!(parse_expiry("500ms"), Some(0));
        assert_eq!(parse_expiry("-1"), None);
        assert_eq!(parse_expiry("10x"), None);
    }

    #[test]
    fn roundtrip_and_tamper() {
        let c = new_session_claims("u1", "stamp", Some(60), crate::db::now_secs());
        let t = create("k", &c).unwrap();
        let d = decode_token("k", &t).unwrap();
        assert_eq!(d.id, "u1");
        assert_eq!(d.session_stamp.as_deref(), Some("stamp"));
        assert!(decode_token("other", &t).is_none());
        let expired = new_session_claims("u1", "s", Some(-10), crate::db::now_secs());
        assert!(decode_token("k", &create("k", &expired).unwrap()).is_none());
        let forever = new_session_claims("u1", "s", None, crate::db::now_secs());
        assert!(decode_token("k", &create("k", &forever).unwrap()).is_some());
    }

    #[test]
    fn accepts_token_signed_by_python_server() {
        // From the fixture data folder's README: alice's session, secret = webui_secret_key.txt.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImQ1MjU1Y2UzLTE3MTYtNDA1ZC1iNjhlLTEzYmRhZTA3MjQ2ZSIsInR5cCI6InNlc3Npb24iLCJhdXRoX21ldGhvZCI6InBhc3N3b3JkIiwiYXV0aF90aW1lIjoxNzk1MzQzOTA3LCJzZXNzaW9uX3N0YW1wIjoiODY3ODg5ODUtNGQ2OS00MTIxLWJkYmUtMTZiZTlhZGYxYTM5IiwibWZhX3ZlcmlmaWVkIjpmYWxzZSwiZXhwIjoxNzk3NzYzMTA3LCJqdGkiOiJkYjNkN2IxOC1lN2JiLTRjMDQtYTY4Yi01MzQ1YjZlZGFkNTciLCJpYXQiOjE3OTUzNDM5MDd9.ilHthNL1it2sZyu-U0khelsHiHa18wT-OKzc9sFv0lg";
        let secret = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/owui-0.12.4-data/webui_secret_key.txt"
        ));
        let Ok(secret) = secret else { return };
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let d = decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &v).unwrap();
        assert_eq!(d.claims.id, "d5255ce3-1716-405d-b68e-13bdae07246e");
        assert_eq!(
            d.claims.session_stamp.as_deref(),
            Some("86788985-4d69-4121-bdbe-16be9adf1a39")
        );
    }
}
