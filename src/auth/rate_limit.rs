//! Sliding-window limiters keyed by string, and the sign-in throttle built on them.
//!
//! Sign-in failures are counted per client address and per (address, account):
//! an address that keeps failing is slowed down whatever accounts it tries,
//! and one account is guarded against guessing from one address, while its
//! owner signing in from elsewhere is not affected. Successful sign-ins are
//! not counted. Every map holds at most [`MAX_KEYS`] keys.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys a limiter remembers at most; beyond that the stalest are forgotten.
pub const MAX_KEYS: usize = 10_000;

pub struct RateLimiter {
    limit: usize,
    window: Duration,
    max_keys: usize,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self::with_max_keys(limit, window, MAX_KEYS)
    }

    pub fn with_max_keys(limit: usize, window: Duration, max_keys: usize) -> Self {
        RateLimiter {
            limit,
            window,
            max_keys: max_keys.max(1),
            hits: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.hits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expire(&self, q: &mut VecDeque<Instant>, now: Instant) {
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
    }

    /// Whether `key` is still under its limit, without counting anything.
    pub fn allows(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(q) = map.get_mut(key) else {
            return true;
        };
        self.expire(q, now);
        if q.is_empty() {
            map.remove(key);
            return true;
        }
        q.len() < self.limit
    }

    /// Counts one event for `key`.
    pub fn record(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.lock();
        if !map.contains_key(key) && map.len() >= self.max_keys {
            self.make_room(&mut map, now);
        }
        let q = map.entry(key.to_string()).or_default();
        self.expire(q, now);
        q.push_back(now);
        // A key never needs more entries than its limit to stay refused.
        while q.len() > self.limit {
            q.pop_front();
        }
    }

    /// Records an attempt; false when the key is over its limit.
    pub fn check(&self, key: &str) -> bool {
        if !self.allows(key) {
            return false;
        }
        self.record(key);
        true
    }

    /// Drops keys whose window has passed; if all are live, the one whose
    /// latest event is oldest goes.
    fn make_room(&self, map: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        map.retain(|_, q| {
            q.back()
                .is_some_and(|t| now.duration_since(*t) < self.window)
        });
        if map.len() < self.max_keys {
            return;
        }
        let stalest = map
            .iter()
            .min_by_key(|(_, q)| q.back().copied())
            .map(|(k, _)| k.clone());
        if let Some(k) = stalest {
            map.remove(&k);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Failed sign-ins one address may make in the window, whatever the accounts.
pub const SIGNIN_FAILURES_PER_ADDRESS: usize = 100;
/// Failed sign-ins one address may make for one account in the window
/// (upstream allows 15 attempts per email in three minutes).
pub const SIGNIN_FAILURES_PER_ACCOUNT: usize = 15;
pub const SIGNIN_WINDOW: Duration = Duration::from_secs(180);

/// The sign-in throttle: per address, and per (address, account).
pub struct SigninThrottle {
    per_address: RateLimiter,
    per_account: RateLimiter,
}

impl Default for SigninThrottle {
    fn default() -> Self {
        SigninThrottle {
            per_address: RateLimiter::new(SIGNIN_FAILURES_PER_ADDRESS, SIGNIN_WINDOW),
            per_account: RateLimiter::new(SIGNIN_FAILURES_PER_ACCOUNT, SIGNIN_WINDOW),
        }
    }
}

/// Account names are compared case-blind and cut short, so a huge email in a
/// request cannot grow the map.
fn account_key(ip: IpAddr, account: &str) -> String {
    let account: String = account.trim().to_lowercase().chars().take(256).collect();
    format!("{ip}|{account}")
}

impl SigninThrottle {
    /// Whether `ip` may try to sign in to `account` now.
    pub fn allows(&self, ip: IpAddr, account: &str) -> bool {
        self.per_address.allows(&ip.to_string())
            && self.per_account.allows(&account_key(ip, account))
    }

    /// Counts a failed sign-in of `ip` for `account`.
    pub fn failed(&self, ip: IpAddr, account: &str) {
        self.per_address.record(&ip.to_string());
        self.per_account.record(&account_key(ip, account));
    }

    /// Keys held, for tests of the memory bound.
    pub fn keys(&self) -> usize {
        self.per_address.len() + self.per_account.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key() {
        let r = RateLimiter::new(3, Duration::from_secs(60));
        assert!(r.check("a") && r.check("a") && r.check("a"));
        assert!(!r.check("a"));
        assert!(r.check("b"));
        let short = RateLimiter::new(1, Duration::from_millis(5));
        assert!(short.check("x"));
        assert!(!short.check("x"));
        std::thread::sleep(Duration::from_millis(10));
        assert!(short.check("x"));
    }

    #[test]
    fn map_stays_bounded_and_keeps_recent_keys() {
        let r = RateLimiter::with_max_keys(1, Duration::from_secs(60), 100);
        for i in 0..1000 {
            r.record(&format!("k{i}"));
        }
        assert!(r.len() <= 100, "{} keys", r.len());
        assert!(!r.allows("k999"), "the newest key is still limited");
        assert!(r.allows("k0"), "the stalest key was forgotten");
    }

    #[test]
    fn throttle_separates_addresses_and_accounts() {
        let t = SigninThrottle::default();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..SIGNIN_FAILURES_PER_ACCOUNT {
            assert!(t.allows(a, "Admin@x"));
            t.failed(a, "admin@x");
        }
        assert!(!t.allows(a, "ADMIN@x"), "the account is limited from a");
        assert!(t.allows(a, "other@x"), "a may still try other accounts");
        assert!(
            t.allows(b, "admin@x"),
            "the owner's address is not affected"
        );
        for i in 0..SIGNIN_FAILURES_PER_ADDRESS {
            t.failed(a, &format!("u{i}@x"));
        }
        assert!(!t.allows(a, "fresh@x"), "a is limited as a whole");
        assert!(t.allows(b, "fresh@x"));
        let huge = "x".repeat(1 << 20);
        t.failed(b, &huge);
        assert!(account_key(b, &huge).len() < 300);
    }
}
