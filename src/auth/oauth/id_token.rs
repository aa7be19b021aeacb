//! Checking tokens a provider signed (ID tokens and back-channel logout
//! tokens): the signature against the provider's published keys (asymmetric
//! algorithms only), the issuer, the audience and the lifetime.

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Clock difference tolerated between us and the provider.
const LEEWAY_SECS: u64 = 60;

const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// No published key fits the token's `kid`: the key set may be stale.
    UnknownKey,
    /// Anything else: bad signature, wrong issuer/audience, expired, malformed.
    Invalid(String),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::UnknownKey => f.write_str("no published key matches the token"),
            JwtError::Invalid(why) => f.write_str(why),
        }
    }
}

pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Lifetime checked (`exp` required); logout tokens carry none.
    pub check_exp: bool,
    /// Claims that must be present.
    pub required: &'a [&'a str],
    /// Whether the header must name its key.
    pub require_kid: bool,
}

fn find_key<'a>(set: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let usable = |k: &&Jwk| {
        !matches!(
            k.common.public_key_use,
            Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
        ) && DecodingKey::from_jwk(k).is_ok_and(|d| alg.family() == key_family(&d, k))
    };
    match kid {
        Some(kid) => set
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .find(usable),
        None => {
            let mut fitting = set.keys.iter().filter(usable);
            let first = fitting.next();
            // without a kid only an unambiguous key set is usable
            if fitting.next().is_some() {
                None
            } else {
                first
            }
        }
    }
}

fn key_family(_d: &DecodingKey, k: &Jwk) -> jsonwebtoken::AlgorithmFamily {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    match &k.algorithm {
        P::RSA(_) => jsonwebtoken::AlgorithmFamily::Rsa,
        P::EllipticCurve(_) => jsonwebtoken::AlgorithmFamily::Ec,
        P::OctetKeyPair(_) => jsonwebtoken::AlgorithmFamily::Ed,
        P::OctetKey(_) => jsonwebtoken::AlgorithmFamily::Hmac,
    }
}

/// The verified claims of `token`, signed by one of the keys in `jwks`.
pub fn verify(token: &str, jwks: &Value, want: &Expect) -> Result<Map<String, Value>, JwtError> {
    let bad = |s: &str| JwtError::Invalid(s.to_string());
    let header = decode_header(token).map_err(|_| bad("the token is not a JWT"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(bad("the token's algorithm is not accepted"));
    }
    if want.require_kid && header.kid.is_none() {
        return Err(bad("the token names no key"));
    }
    let set: JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|_| bad("the key set is unreadable"))?;
    let jwk = find_key(&set, header.kid.as_deref(), header.alg).ok_or(JwtError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| bad("the key is unreadable"))?;
    let mut v = Validation::new(header.alg);
    v.algorithms = vec![header.alg];
    v.leeway = LEEWAY_SECS;
    v.validate_exp = want.check_exp;
    v.set_issuer(&[want.issuer]);
    v.set_audience(&[want.audience]);
    let mut required: Vec<&str> = vec!["iss", "aud"];
    if want.check_exp {
        required.push("exp");
    }
    v.set_required_spec_claims(&required);
    let data = decode::<Map<String, Value>>(token, &key, &v)
        .map_err(|e| JwtError::Invalid(format!("the token was refused: {e}")))?;
    let claims = data.claims;
    for name in want.required {
        if !claims.contains_key(*name) {
            return Err(JwtError::Invalid(format!(
                "the token lacks the {name} claim"
            )));
        }
    }
    // Several audiences: the authorized party must be us (OpenID Connect core 3.1.3.7).
    if let Some(Value::Array(auds)) = claims.get("aud") {
        if auds.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(want.audience) {
            return Err(bad("the token was issued to another party"));
        }
    }
    Ok(claims)
}
