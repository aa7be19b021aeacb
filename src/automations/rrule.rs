//! A small iCalendar recurrence (RFC 5545 `RRULE`) evaluator for the
//! schedules automations and calendar events carry.
//!
//! Supported: an optional `DTSTART` line (floating or UTC `Z` time; a `TZID`
//! parameter is accepted and treated as floating), one `RRULE` (or a bare rule
//! line) with `FREQ` (SECONDLY … YEARLY), `INTERVAL`, `COUNT`, `UNTIL`,
//! `BYMONTH`, `BYMONTHDAY` (negative counts from the month's end), `BYDAY`
//! (plain weekdays), `BYHOUR`, `BYMINUTE`, `BYSECOND`, `WKST`. Anything else
//! (`BYSETPOS`, `BYWEEKNO`, `BYYEARDAY`, ordinal weekdays, `EXRULE`, `RDATE`,
//! `EXDATE`) is refused as an invalid rule rather than evaluated wrongly.
//!
//! Rules work on naive wall-clock times; callers pass the user's zone
//! ([`super::tz`]) to map them to instants (UTC when the user has none).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Weekday};

use super::tz::{self, Zone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Freq {
    Secondly,
    Minutely,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub freq: Freq,
    pub interval: i64,
    pub count: Option<u32>,
    pub until: Option<NaiveDateTime>,
    pub by_month: Vec<u32>,
    pub by_month_day: Vec<i32>,
    pub by_day: Vec<Weekday>,
    pub by_hour: Vec<u32>,
    pub by_minute: Vec<u32>,
    pub by_second: Vec<u32>,
    pub dtstart: Option<NaiveDateTime>,
}

/// Periods scanned before giving up on a rule whose filters never match.
const MAX_PERIODS: usize = 200_000;
/// Days tested before giving up: bounds the work of yearly and monthly rules
/// (which test every day of a period) whose filters never match, such as
/// `FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30`.
const MAX_DAYS_TESTED: usize = 400_000;
/// Years past the later of DTSTART and the search point after which a rule
/// is taken to have no further occurrence (the widest real gap, Feb 29 in a
/// yearly rule, is 8 years).
const HORIZON_YEARS: i32 = 400;
/// Largest `INTERVAL` accepted (keeps every step inside the calendar).
const MAX_INTERVAL: i64 = 100_000;

fn parse_dt(s: &str) -> Result<NaiveDateTime, String> {
    let s = s.trim().trim_end_matches(['Z', 'z']);
    if let Ok(dt) = NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S") {
        return Ok(dt);
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M") {
        return Ok(dt);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y%m%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight"));
    }
    Err(format!("unparsable date-time '{s}'"))
}

fn weekday(code: &str) -> Result<Weekday, String> {
    Ok(match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return Err(format!("unsupported BYDAY value '{code}'")),
    })
}

fn nums<T: std::str::FromStr>(
    name: &str,
    v: &str,
    ok: impl Fn(&T) -> bool,
) -> Result<Vec<T>, String> {
    v.split(',')
        .map(|p| {
            p.trim()
                .parse::<T>()
                .ok()
                .filter(&ok)
                .ok_or_else(|| format!("invalid {name} value '{p}'"))
        })
        .collect()
}

/// Parses a schedule string (`DTSTART:…\nRRULE:…`, or just the rule).
pub fn parse(s: &str) -> Result<Rule, String> {
    let mut dtstart = None;
    let mut rule_text: Option<String> = None;
    for part in s.split_whitespace() {
        let upper = part.to_ascii_uppercase();
        if let Some(rest) = upper.strip_prefix("DTSTART") {
            let value = rest.rsplit(':').next().unwrap_or("");
            dtstart = Some(parse_dt(value)?);
        } else if let Some(rest) = upper.strip_prefix("RRULE:") {
            if rule_text.is_some() {
                return Err("only one RRULE is supported per recurrence rule".into());
            }
            rule_text = Some(rest.to_string());
        } else if upper.starts_with("FREQ=") && rule_text.is_none() {
            rule_text = Some(upper);
        } else if upper.starts_with("EXRULE") {
            return Err("EXRULE is not supported in recurrence rules".into());
        } else {
            return Err(format!("unsupported line '{part}'"));
        }
    }
    let text = rule_text.ok_or("missing RRULE")?;
    let mut rule = Rule {
        freq: Freq::Daily,
        interval: 1,
        count: None,
        until: None,
        by_month: vec![],
        by_month_day: vec![],
        by_day: vec![],
        by_hour: vec![],
        by_minute: vec![],
        by_second: vec![],
        dtstart,
    };
    let mut freq = None;
    for kv in text.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("invalid part '{kv}'"))?;
        match k {
            "FREQ" => {
                freq = Some(match v {
                    "SECONDLY" => Freq::Secondly,
                    "MINUTELY" => Freq::Minutely,
                    "HOURLY" => Freq::Hourly,
                    "DAILY" => Freq::Daily,
                    "WEEKLY" => Freq::Weekly,
                    "MONTHLY" => Freq::Monthly,
                    "YEARLY" => Freq::Yearly,
                    _ => return Err(format!("invalid FREQ '{v}'")),
                })
            }
            "INTERVAL" => {
                rule.interval = v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_INTERVAL).contains(n))
                    .ok_or("RRULE INTERVAL must be a positive integer of at most 100000")?
            }
            "COUNT" => {
                rule.count = Some(
                    v.parse::<u32>()
                        .map_err(|_| format!("invalid COUNT '{v}'"))?,
                )
            }
            "UNTIL" => rule.until = Some(parse_dt(v)?),
            "BYMONTH" => rule.by_month = nums("BYMONTH", v, |m: &u32| (1..=12).contains(m))?,
            "BYMONTHDAY" => {
                rule.by_month_day =
                    nums("BYMONTHDAY", v, |d: &i32| *d != 0 && (-31..=31).contains(d))?
            }
            "BYDAY" => {
                rule.by_day = v
                    .split(',')
                    .map(|d| weekday(d.trim()))
                    .collect::<Result<_, _>>()?
            }
            "BYHOUR" => rule.by_hour = nums("BYHOUR", v, |h: &u32| *h < 24)?,
            "BYMINUTE" => rule.by_minute = nums("BYMINUTE", v, |m: &u32| *m < 60)?,
            "BYSECOND" => rule.by_second = nums("BYSECOND", v, |s: &u32| *s < 60)?,
            "WKST" => {
                weekday(v)?;
            }
            other => return Err(format!("{other} is not supported")),
        }
    }
    rule.freq = freq.ok_or("FREQ is required")?;
    Ok(rule)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(28)
}

fn month_day_matches(rule: &Rule, d: NaiveDate) -> bool {
    let dim = days_in_month(d.year(), d.month()) as i32;
    let day = d.day() as i32;
    rule.by_month_day.iter().any(|&md| {
        if md > 0 {
            md == day
        } else {
            dim + md + 1 == day
        }
    })
}

/// Whether a day passes the rule's day-level parts (with defaults from
/// DTSTART for the frequencies that expand days).
fn day_ok(rule: &Rule, start: NaiveDateTime, d: NaiveDate) -> bool {
    if !rule.by_month.is_empty() && !rule.by_month.contains(&d.month()) {
        return false;
    }
    if !rule.by_month_day.is_empty() && !month_day_matches(rule, d) {
        return false;
    }
    if !rule.by_day.is_empty() && !rule.by_day.contains(&d.weekday()) {
        return false;
    }
    let no_day_parts = rule.by_month_day.is_empty() && rule.by_day.is_empty();
    match rule.freq {
        Freq::Weekly if no_day_parts => d.weekday() == start.weekday(),
        Freq::Monthly if no_day_parts => d.day() == start.day(),
        Freq::Yearly if no_day_parts => {
            d.day() == start.day() && (!rule.by_month.is_empty() || d.month() == start.month())
        }
        _ => true,
    }
}

fn set_or(by: &[u32], default: u32) -> Vec<u32> {
    if by.is_empty() {
        vec![default]
    } else {
        let mut v = by.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The occurrences of one period, sorted.
fn period_occurrences(
    rule: &Rule,
    start: NaiveDateTime,
    period: NaiveDateTime,
) -> Vec<NaiveDateTime> {
    let days: Vec<NaiveDate> = match rule.freq {
        Freq::Yearly => {
            let y = period.year();
            let mut out = vec![];
            let mut next = NaiveDate::from_ymd_opt(y, 1, 1);
            while let Some(d) = next.filter(|d| d.year() == y) {
                out.push(d);
                next = d.succ_opt();
            }
            out
        }
        Freq::Monthly => {
            let (y, m) = (period.year(), period.month());
            (1..=days_in_month(y, m))
                .filter_map(|day| NaiveDate::from_ymd_opt(y, m, day))
                .collect()
        }
        Freq::Weekly => {
            let monday =
                period.date() - Duration::days(period.weekday().num_days_from_monday() as i64);
            (0..7).map(|i| monday + Duration::days(i)).collect()
        }
        _ => vec![period.date()],
    };
    let hours = if rule.freq <= Freq::Hourly {
        vec![period.hour()]
            .into_iter()
            .filter(|h| rule.by_hour.is_empty() || rule.by_hour.contains(h))
            .collect()
    } else {
        set_or(&rule.by_hour, start.hour())
    };
    let minutes = if rule.freq <= Freq::Minutely {
        vec![period.minute()]
            .into_iter()
            .filter(|m| rule.by_minute.is_empty() || rule.by_minute.contains(m))
            .collect()
    } else {
        set_or(&rule.by_minute, start.minute())
    };
    let seconds = if rule.freq == Freq::Secondly {
        vec![period.second()]
            .into_iter()
            .filter(|s| rule.by_second.is_empty() || rule.by_second.contains(s))
            .collect()
    } else {
        set_or(&rule.by_second, start.second())
    };
    let mut out = vec![];
    for d in days.into_iter().filter(|d| day_ok(rule, start, *d)) {
        for &h in &hours {
            for &m in &minutes {
                for &s in &seconds {
                    if let Some(t) = d.and_hms_opt(h, m, s) {
                        out.push(t);
                    }
                }
            }
        }
    }
    out
}

fn add_months(d: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let total = d.year() as i64 * 12 + d.month0() as i64 + months;
    let (y, m) = (
        (total.div_euclid(12)) as i32,
        (total.rem_euclid(12)) as u32 + 1,
    );
    NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)
}

fn fixed_step(rule: &Rule) -> Option<Duration> {
    Some(match rule.freq {
        Freq::Secondly => Duration::seconds(rule.interval),
        Freq::Minutely => Duration::minutes(rule.interval),
        Freq::Hourly => Duration::hours(rule.interval),
        Freq::Daily => Duration::days(rule.interval),
        Freq::Weekly => Duration::weeks(rule.interval),
        _ => return None,
    })
}

/// The first period, truncated to the frequency's unit.
fn first_period(rule: &Rule, start: NaiveDateTime) -> NaiveDateTime {
    let date = start.date();
    match rule.freq {
        Freq::Secondly => start,
        Freq::Minutely => start.with_second(0).unwrap_or(start),
        Freq::Hourly => date.and_hms_opt(start.hour(), 0, 0).unwrap_or(start),
        Freq::Daily | Freq::Weekly => date.and_hms_opt(0, 0, 0).unwrap_or(start),
        Freq::Monthly => add_months(start, 0).unwrap_or(start),
        Freq::Yearly => NaiveDate::from_ymd_opt(start.year(), 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or(start),
    }
}

impl Rule {
    /// The anchor used when the schedule has no DTSTART: sub-daily rules snap
    /// to clock boundaries counted from 2000-01-01, others start at `now`
    /// (to the minute).
    pub fn effective_start(&self, now: NaiveDateTime) -> NaiveDateTime {
        if let Some(s) = self.dtstart {
            return s;
        }
        match self.freq {
            Freq::Secondly | Freq::Minutely | Freq::Hourly => {
                let epoch = NaiveDate::from_ymd_opt(2000, 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .expect("epoch");
                let step = fixed_step(self).expect("fixed").num_seconds().max(1);
                let k = (now - epoch).num_seconds().div_euclid(step);
                epoch + Duration::seconds(k * step)
            }
            _ => now
                .with_second(0)
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(now),
        }
    }

    /// Up to `n` occurrences strictly after `after`.
    pub fn next_after(&self, after: NaiveDateTime, n: usize) -> Vec<NaiveDateTime> {
        let start = self.effective_start(after);
        let mut out = Vec::new();
        if n == 0 {
            return out;
        }
        let mut period = first_period(self, start);
        // Without COUNT the occurrences before `after` need not be counted, so
        // fixed-length periods can jump close to `after` directly.
        if self.count.is_none() {
            if let Some(step) = fixed_step(self) {
                let ahead = (after - period).num_seconds() / step.num_seconds().max(1) - 1;
                if ahead > 0 {
                    period += Duration::seconds(ahead * step.num_seconds());
                }
            }
        }
        let mut emitted: u32 = 0;
        let mut month_index: i64 = 0;
        let horizon = start.year().max(after.year()).saturating_add(HORIZON_YEARS);
        let mut days_tested = 0usize;
        for _ in 0..MAX_PERIODS {
            if period.year() > horizon || days_tested > MAX_DAYS_TESTED {
                return out;
            }
            days_tested += match self.freq {
                Freq::Yearly => 366,
                Freq::Monthly => 31,
                Freq::Weekly => 7,
                _ => 1,
            };
            for t in period_occurrences(self, start, period) {
                if t < start {
                    continue;
                }
                if self.until.is_some_and(|u| t > u) {
                    return out;
                }
                emitted += 1;
                if self.count.is_some_and(|c| emitted > c) {
                    return out;
                }
                if t > after {
                    out.push(t);
                    if out.len() >= n {
                        return out;
                    }
                }
            }
            period = match (fixed_step(self), self.freq) {
                (Some(step), _) => match period.checked_add_signed(step) {
                    Some(p) => p,
                    None => return out,
                },
                (None, Freq::Monthly) => {
                    month_index += self.interval;
                    match add_months(first_period(self, start), month_index) {
                        Some(p) => p,
                        None => return out,
                    }
                }
                (None, _) => {
                    month_index += 12 * self.interval;
                    match add_months(first_period(self, start), month_index) {
                        Some(p) => p,
                        None => return out,
                    }
                }
            };
            if period.year() > 9000 {
                return out;
            }
        }
        out
    }

    /// Occurrences in `[from, to)`, at most `max`.
    pub fn between(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        max: usize,
    ) -> Vec<NaiveDateTime> {
        let mut out = vec![];
        let mut cursor = from - Duration::seconds(1);
        while out.len() < max {
            let want = 64.min(max - out.len());
            let batch = self.next_after(cursor, want);
            let Some(last) = batch.last().copied() else {
                break;
            };
            let got = batch.len();
            for t in batch {
                if t >= to {
                    return out;
                }
                out.push(t);
            }
            if got < want {
                break;
            }
            cursor = last;
        }
        out
    }
}

pub fn to_ns(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

pub fn from_ns(ns: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
    .map(|d| d.naive_utc())
    .unwrap_or_default()
}

pub fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// Upstream's schedule validation: well-formed, COUNT anchored by DTSTART,
/// and at least one future run (wall-clock times in `zone`). Errors carry
/// upstream's messages.
pub fn validate(s: &str, zone: Option<&Zone>) -> Result<Rule, String> {
    let upper = s.to_ascii_uppercase();
    if upper.contains("COUNT=") && !upper.contains("DTSTART") {
        return Err(
            "RRULE with COUNT requires an explicit DTSTART line to anchor the occurrence window"
                .into(),
        );
    }
    let rule = parse(s).map_err(|e| format!("Invalid RRULE: {e}"))?;
    if rule.next_after(tz::to_local(zone, now()), 1).is_empty() {
        return Err("RRULE has no future occurrences".into());
    }
    Ok(rule)
}

/// Next run as epoch nanoseconds, the rule read as wall-clock times in `zone`.
pub fn next_run_ns(s: &str, zone: Option<&Zone>) -> Option<i64> {
    next_runs_ns(s, 1, zone).first().copied()
}

/// The next `n` runs as epoch nanoseconds (the editor's preview).
pub fn next_runs_ns(s: &str, n: usize, zone: Option<&Zone>) -> Vec<i64> {
    parse(s)
        .map(|r| {
            r.next_after(tz::to_local(zone, now()), n)
                .into_iter()
                .map(|t| to_ns(tz::to_utc(zone, t)))
                .collect()
        })
        .unwrap_or_default()
}

/// Seconds between the next two runs, ignoring DTSTART; `None` for
/// schedules with fewer than two future runs.
pub fn interval_seconds(s: &str) -> Option<i64> {
    let mut rule = parse(s).ok()?;
    rule.dtstart = None;
    let next = rule.next_after(now(), 2);
    (next.len() == 2).then(|| (next[1] - next[0]).num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        parse_dt(s).unwrap()
    }

    #[test]
    fn never_matching_rules_end_with_nothing() {
        for rule in [
            "DTSTART:20260101T000000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "DTSTART:20260101T000000\nRRULE:FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31",
            "DTSTART:20260101T000000\nRRULE:FREQ=DAILY;BYMONTH=11;BYMONTHDAY=31",
        ] {
            let r = parse(rule).unwrap();
            assert!(r.next_after(dt("20260101T000000"), 1).is_empty(), "{rule}");
            assert!(r
                .between(dt("20260101T000000"), dt("99991231T000000"), 10)
                .is_empty());
        }
        // The rarest real rule (Feb 29) is still found across the horizon.
        let r =
            parse("DTSTART:20260101T000000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29").unwrap();
        assert_eq!(
            r.next_after(dt("20260101T000000"), 1),
            vec![dt("20280229T000000")]
        );
    }

    #[test]
    fn huge_intervals_are_refused_and_steps_never_overflow() {
        assert!(parse("FREQ=WEEKLY;INTERVAL=9223372036854775807").is_err());
        assert!(parse("FREQ=SECONDLY;INTERVAL=100001").is_err());
        let r = parse("DTSTART:20260101T000000\nRRULE:FREQ=WEEKLY;INTERVAL=100000").unwrap();
        // 100000 weeks is ~1900 years: beyond the horizon, so no occurrence.
        assert_eq!(r.next_after(dt("20260101T000000"), 3).len(), 0);
        let r = parse("DTSTART:20260101T000000\nRRULE:FREQ=YEARLY;INTERVAL=100000").unwrap();
        assert!(r.next_after(dt("20260101T000000"), 3).is_empty());
    }

    #[test]
    fn daily_at_hour() {
        let r = parse("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0").unwrap();
        let n = r.next_after(dt("20260105T101500"), 2);
        assert_eq!(n, vec![dt("20260106T090000"), dt("20260107T090000")]);
        let n = r.next_after(dt("20260105T080000"), 1);
        assert_eq!(n, vec![dt("20260105T090000")]);
    }

    #[test]
    fn once_with_dtstart_and_count() {
        let r = parse("DTSTART:20260110T120000\nRRULE:FREQ=DAILY;COUNT=1").unwrap();
        assert_eq!(
            r.next_after(dt("20260101T000000"), 3),
            vec![dt("20260110T120000")]
        );
        assert!(r.next_after(dt("20260110T120000"), 1).is_empty());
    }

    #[test]
    fn weekly_days_monthly_day_hourly() {
        // 2026-01-05 is a Monday.
        let r = parse("RRULE:FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=8;BYMINUTE=30").unwrap();
        let n = r.next_after(dt("20260105T090000"), 3);
        assert_eq!(
            n,
            vec![
                dt("20260109T083000"),
                dt("20260112T083000"),
                dt("20260116T083000")
            ]
        );
        let r = parse("RRULE:FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=0;BYMINUTE=0").unwrap();
        let n = r.next_after(dt("20260201T000000"), 2);
        assert_eq!(n, vec![dt("20260331T000000"), dt("20260531T000000")]);
        let r = parse("RRULE:FREQ=HOURLY;INTERVAL=2;BYMINUTE=15").unwrap();
        let n = r.next_after(dt("20260105T101600"), 2);
        assert_eq!(n, vec![dt("20260105T121500"), dt("20260105T141500")]);
        let r = parse("FREQ=MINUTELY;INTERVAL=5").unwrap();
        assert_eq!(
            r.next_after(dt("20260105T101600"), 1),
            vec![dt("20260105T102000")]
        );
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        assert!(parse("RRULE:FREQ=MONTHLY;BYDAY=1MO").is_err());
        assert!(parse("RRULE:FREQ=DAILY;BYSETPOS=1").is_err());
        assert!(parse("garbage").is_err());
        assert!(validate("RRULE:FREQ=DAILY;COUNT=2", None).is_err());
        assert!(validate("DTSTART:20000101T000000\nRRULE:FREQ=DAILY;COUNT=2", None).is_err());
        assert_eq!(interval_seconds("RRULE:FREQ=HOURLY"), Some(3600));
    }

    #[test]
    fn range_expansion() {
        let r = parse("DTSTART:20260101T100000\nRRULE:FREQ=WEEKLY").unwrap();
        let v = r.between(dt("20260101T000000"), dt("20260201T000000"), 100);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], dt("20260101T100000"));
    }
}
