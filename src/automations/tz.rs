//! User time zones for schedules, read from the system's tz database
//! (`/usr/share/zoneinfo`, or `$TZDIR`) in the TZif format.
//!
//! Only the transition table is used: past its last entry (2037 in the
//! usual "fat" files) the last known offset applies. An unknown or invalid
//! zone name gives `None`, and callers then use UTC.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::{Duration, NaiveDateTime};

#[derive(Debug, Clone)]
pub struct Zone {
    /// Transition instants (Unix seconds, ascending) …
    transitions: Vec<i64>,
    /// … and the UTC offset (seconds) in force from each one on.
    offsets: Vec<i32>,
    /// The offset before the first transition.
    initial: i32,
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses TZif data (version 2 or later, 64-bit block).
pub fn parse(data: &[u8]) -> Option<Zone> {
    if data.get(0..4)? != b"TZif" || data[4] < b'2' {
        return None;
    }
    let counts = |at: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = be_u32(data, at + 20 + 4 * i)? as usize;
        }
        Some(c)
    };
    // Skip the 32-bit block.
    let [isut, isstd, leap, time, typ, chars] = counts(0)?;
    let v2 = 44 + time * 5 + typ * 6 + chars + leap * 8 + isstd + isut;
    if data.get(v2..v2 + 4)? != b"TZif" {
        return None;
    }
    let [_, _, _, time, typ, _] = counts(v2)?;
    let mut at = v2 + 44;
    let mut transitions = Vec::with_capacity(time);
    for i in 0..time {
        transitions.push(be_i64(data, at + 8 * i)?);
    }
    at += 8 * time;
    let idx: Vec<usize> = data
        .get(at..at + time)?
        .iter()
        .map(|b| *b as usize)
        .collect();
    at += time;
    let mut types = Vec::with_capacity(typ);
    for i in 0..typ {
        types.push(be_u32(data, at + 6 * i)? as i32);
    }
    if types.is_empty() {
        return None;
    }
    let offsets = idx
        .iter()
        .map(|i| types.get(*i).copied())
        .collect::<Option<Vec<_>>>()?;
    Some(Zone {
        transitions,
        offsets,
        initial: types[0],
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 64
        && !name.starts_with('/')
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
}

/// The zone named `name` (IANA key such as `Europe/Berlin`), cached.
pub fn load(name: &str) -> Option<Zone> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Zone>>>> = OnceLock::new();
    let name = name.trim();
    if !valid_name(name) || name.eq_ignore_ascii_case("utc") {
        return None;
    }
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(z) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
        return z.clone();
    }
    let dir = std::env::var("TZDIR").unwrap_or_else(|_| "/usr/share/zoneinfo".into());
    let zone = std::fs::read(std::path::Path::new(&dir).join(name))
        .ok()
        .and_then(|d| parse(&d));
    if zone.is_none() {
        tracing::warn!(zone = name, "unknown time zone; using UTC");
    }
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string(), zone.clone());
    zone
}

impl Zone {
    /// The UTC offset in seconds at a Unix time.
    pub fn offset_at(&self, unix: i64) -> i32 {
        match self.transitions.partition_point(|t| *t <= unix) {
            0 => self.initial,
            n => self.offsets[n - 1],
        }
    }
}

/// Wall-clock time in `zone` (UTC when `None`) for a UTC instant.
pub fn to_local(zone: Option<&Zone>, utc: NaiveDateTime) -> NaiveDateTime {
    match zone {
        Some(z) => utc + Duration::seconds(z.offset_at(utc.and_utc().timestamp()) as i64),
        None => utc,
    }
}

/// The UTC instant of a wall-clock time in `zone` (for times skipped or
/// repeated by a DST change, one of the nearby instants).
pub fn to_utc(zone: Option<&Zone>, local: NaiveDateTime) -> NaiveDateTime {
    let Some(z) = zone else { return local };
    let l = local.and_utc().timestamp();
    let first = l - z.offset_at(l) as i64;
    let second = l - z.offset_at(first) as i64;
    local - Duration::seconds(l - second)
}

/// The zone of a user's `timezone` column, `None` (UTC) when unset or unknown.
pub fn of_user(timezone: Option<&str>) -> Option<Zone> {
    timezone.and_then(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_york_if_installed() {
        let Some(z) = load("America/New_York") else {
            return; // no tz database on this machine
        };
        let winter =
            NaiveDateTime::parse_from_str("2026-01-15 14:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let summer =
            NaiveDateTime::parse_from_str("2026-07-15 13:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(to_local(Some(&z), winter).format("%H").to_string(), "09");
        assert_eq!(to_local(Some(&z), summer).format("%H").to_string(), "09");
        let nine =
            NaiveDateTime::parse_from_str("2026-07-15 09:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(to_utc(Some(&z), nine), summer);
        assert!(load("../etc/passwd").is_none());
        assert!(load("Nowhere/Atlantis").is_none());
    }
}
