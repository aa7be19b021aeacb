//! A sliding-window limiter keyed by string (sign-in attempts per email).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    limit: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt; false when the key is over its limit.
    pub fn check(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut map = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the map bounded by dropping keys whose window has passed.
        if map.len() > 10_000 {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let q = map.entry(key.to_string()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.limit {
            return false;
        }
        q.push_back(now);
        true
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
}
