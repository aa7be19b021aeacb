//! Password hashes compatible with upstream: bcrypt `$2b$` at cost 12 by default,
//! argon2 when `PASSWORD_HASH_ALGORITHM=argon2`; both are verified whichever is stored.
//! Hashing is CPU-heavy, so callers run these on the blocking pool.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};

/// bcrypt only sees 72 bytes; upstream refuses longer new passwords.
pub const BCRYPT_MAX_BYTES: usize = 72;

pub fn hash(password: &str, use_argon2: bool) -> anyhow::Result<String> {
    if use_argon2 {
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        return Ok(hash.to_string());
    }
    let parts = bcrypt::hash_with_result(password, 12)?;
    Ok(parts.format_for_version(bcrypt::Version::TwoB))
}

pub fn verify(password: &str, stored: &str) -> bool {
    if stored.starts_with("$argon2") {
        return match PasswordHash::new(stored) {
            Ok(parsed) => argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        };
    }
    // Like Python's bcrypt, compare only the first 72 bytes.
    let bytes = password.as_bytes();
    let truncated = &bytes[..bytes.len().min(BCRYPT_MAX_BYTES)];
    bcrypt::verify(truncated, stored).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_and_argon2_roundtrip() {
        let h = hash("Passw0rd!x", false).unwrap();
        assert!(h.starts_with("$2b$12$") && h.len() == 60);
        assert!(verify("Passw0rd!x", &h));
        assert!(!verify("wrong", &h));
        let a = hash("Passw0rd!x", true).unwrap();
        assert!(a.starts_with("$argon2"));
        assert!(verify("Passw0rd!x", &a));
        assert!(!verify("nope", &a));
    }

    #[test]
    fn verifies_upstream_hash_and_variants() {
        // The test password's hash as the Python server stored it (reference capture).
        let upstream = "$2b$12$U6jAy5GqRE2W805p1PcoPe0nxE5N8R4wRm0KWNtlJygIBFrtYQHhS";
        assert!(verify("Passw0rd!x", upstream));
        let a = upstream.replacen("$2b$", "$2a$", 1);
        assert!(verify("Passw0rd!x", &a));
        assert!(!verify("x", "not a hash"));
    }
}
