//! Password hashes compatible with upstream: bcrypt `$2b$` at cost 12 by default,
//! argon2 when `PASSWORD_HASH_ALGORITHM=argon2`; both are verified whichever is stored.
//! Hashing is CPU-heavy: request handlers use [`verify_bounded`] and
//! [`hash_bounded`], which run it on the blocking pool, at most
//! [`HASH_CONCURRENCY`] at a time, and refuse at once when [`HASH_QUEUE`]
//! requests are already waiting, so a flood of sign-ins cannot starve the
//! rest of the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use tokio::sync::Semaphore;

use crate::error::ApiError;

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

/// Password hashes computed at once.
pub const HASH_CONCURRENCY: usize = 2;
/// Requests that may wait for a turn; the next one is refused.
pub const HASH_QUEUE: usize = 32;

/// A hash of a password nobody has, so unknown accounts cost a real verify.
pub const DUMMY_HASH: &str = "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5RZlRCZ5Rf3NYcOmEKRpcHCfwBNWBwe";

struct Gate {
    permits: Semaphore,
    queued: AtomicUsize,
}

static GATE: LazyLock<Gate> = LazyLock::new(|| Gate {
    permits: Semaphore::new(HASH_CONCURRENCY),
    queued: AtomicUsize::new(0),
});

fn busy() -> ApiError {
    ApiError::Unavailable("The server is busy checking passwords. Try again in a moment.".into())
}

/// Runs `work` on the blocking pool once a hashing slot is free; refuses with
/// 503 when the queue is full instead of waiting without bound.
async fn gated<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let waiting = GATE.queued.fetch_add(1, Ordering::AcqRel);
    if waiting >= HASH_CONCURRENCY + HASH_QUEUE {
        GATE.queued.fetch_sub(1, Ordering::AcqRel);
        return Err(busy());
    }
    // Decrements the count however this future ends (cancelled included).
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            GATE.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let _leave = Leave;
    let permit = GATE
        .permits
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    // The permit moves into the blocking task, so it is held until the hash is
    // done even if the request is dropped meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(out)
}

/// [`verify`] off the async workers, behind the hashing gate.
pub async fn verify_bounded(password: String, stored: String) -> Result<bool, ApiError> {
    gated(move || verify(&password, &stored)).await
}

/// [`hash`] off the async workers, behind the hashing gate.
pub async fn hash_bounded(password: String, use_argon2: bool) -> Result<String, ApiError> {
    gated(move || hash(&password, use_argon2))
        .await?
        .map_err(ApiError::Internal)
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_refuses_a_flood_quickly() {
        let mut tasks = Vec::new();
        for _ in 0..(HASH_CONCURRENCY + HASH_QUEUE + 20) {
            tasks.push(tokio::spawn(verify_bounded(
                "x".into(),
                DUMMY_HASH.to_string(),
            )));
        }
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(ok) => assert!(!ok),
                Err(ApiError::Unavailable(_)) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused >= 20, "only {refused} refused");
        assert_eq!(GATE.queued.load(Ordering::Acquire), 0);
    }
}
