//! A user's own usage page: totals over their whole history, a day-by-day
//! heatmap of a period in their time zone, streaks, top models and tools.
//! Figures and field names follow upstream's `/api/v1/users/usage`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate};
use serde_json::{json, Map, Value};

use crate::automations::tz;
use crate::db::user_usage as rows;
use crate::db::Db;

/// Gaps between two messages of a chat longer than this do not count as
/// time spent in it.
const ACTIVE_CHAT_GAP_SECONDS: i64 = 30 * 60;
const TOP_LIMIT: i64 = 5;
/// Longest tool name counted; longer strings are not names.
const MAX_TOOL_NAME: usize = 128;

/// The period asked for, already checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PeriodError {
    StartAfterEnd,
}

/// The period from the query: an explicit start, else `days` (730 when
/// absent) back from the end, which defaults to now.
pub fn period(
    days: Option<i64>,
    start: Option<i64>,
    end: Option<i64>,
    now: i64,
) -> Result<Period, PeriodError> {
    // Upstream reads 0 as "not given" for the end.
    let end = end.filter(|e| *e != 0).unwrap_or(now);
    let start = match start {
        Some(s) => s,
        None => end - (days.filter(|d| *d != 0).unwrap_or(730) - 1) * 86_400,
    };
    if start > end {
        return Err(PeriodError::StartAfterEnd);
    }
    Ok(Period { start, end })
}

/// Seconds since the epoch for a stored timestamp: milliseconds are scaled
/// down, and values before 2020 or more than a day ahead read as now.
fn normalized(ts: i64, now: i64) -> i64 {
    let ts = if ts > 10_000_000_000 { ts / 1000 } else { ts };
    if !(1_577_836_800..=now + 86_400).contains(&ts) {
        now
    } else {
        ts
    }
}

fn local_date(zone: Option<&tz::Zone>, ts: i64) -> NaiveDate {
    let offset = zone.map(|z| z.offset_at(ts)).unwrap_or(0) as i64;
    DateTime::from_timestamp(ts + offset, 0)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

#[derive(Default, Clone)]
struct Day {
    messages: i64,
    chats: HashSet<String>,
    chat_count: i64,
    tokens: i64,
    models: BTreeMap<String, i64>,
}

impl Day {
    fn to_json(&self, date: &NaiveDate) -> Value {
        json!({
            "date": date.format("%Y-%m-%d").to_string(),
            "messages": self.messages,
            "chats": self.chat_count,
            "tokens": self.tokens,
            "models": self.models,
        })
    }
}

fn heatmap(
    messages: &[rows::MessageRow],
    p: Period,
    zone: Option<&tz::Zone>,
    now: i64,
) -> Vec<(NaiveDate, Day)> {
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for m in messages {
        let d = days
            .entry(local_date(zone, normalized(m.created_at, now)))
            .or_default();
        d.messages += 1;
        d.chats.insert(m.chat_id.clone());
        if m.role.as_deref() == Some("assistant") {
            if let Some(model) = m.model_id.as_deref().filter(|s| !s.is_empty()) {
                *d.models.entry(model.to_string()).or_default() += 1;
            }
        }
        if let Some(t) = m.tokens {
            d.tokens += t;
        }
    }
    // Every day of the period is listed, empty or not (bounded: the period
    // check keeps `days` within two years; explicit dates are capped here).
    let first = local_date(zone, normalized(p.start, now));
    let last = local_date(zone, normalized(p.end, now));
    let mut day = first;
    let mut guard = 0;
    while day <= last && guard < 20_000 {
        days.entry(day).or_default();
        day += Duration::days(1);
        guard += 1;
    }
    days.into_iter()
        .map(|(k, mut d)| {
            d.chat_count = d.chats.len() as i64;
            (k, d)
        })
        .collect()
}

fn weekly(days: &[(NaiveDate, Day)]) -> Vec<Value> {
    let mut weeks: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for (date, d) in days {
        let monday = *date - Duration::days(date.weekday().num_days_from_monday() as i64);
        let w = weeks.entry(monday).or_default();
        w.messages += d.messages;
        w.chat_count += d.chat_count;
        w.tokens += d.tokens;
        for (m, n) in &d.models {
            *w.models.entry(m.clone()).or_default() += n;
        }
    }
    weeks.iter().map(|(k, d)| d.to_json(k)).collect()
}

fn cumulative(days: &[(NaiveDate, Day)]) -> Vec<Value> {
    let mut run = Day::default();
    days.iter()
        .map(|(date, d)| {
            run.messages += d.messages;
            run.chat_count += d.chat_count;
            run.tokens += d.tokens;
            for (m, n) in &d.models {
                *run.models.entry(m.clone()).or_default() += n;
            }
            run.to_json(date)
        })
        .collect()
}

/// (current, longest) runs of consecutive days with messages; the current
/// run ends on the period's last day.
fn streaks(days: &[(NaiveDate, Day)]) -> (i64, i64) {
    let (mut longest, mut run) = (0, 0);
    for (_, d) in days {
        if d.messages > 0 {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let current = days
        .iter()
        .rev()
        .take_while(|(_, d)| d.messages > 0)
        .count() as i64;
    (current, longest)
}

/// Tool names found anywhere in a message's `output` or `meta`.
fn tool_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| tool_names(i, out)),
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.contains("tool") || kind == "function_call" || kind == "function_call_output" {
                let name = o
                    .get("name")
                    .filter(|n| crate::json::truthy(n))
                    .or_else(|| o.get("tool_name"));
                push_name(name, out);
                if let Some(f) = o.get("function").and_then(Value::as_object) {
                    push_name(f.get("name"), out);
                }
            }
            for key in ["tool_calls", "tools", "output", "meta"] {
                if let Some(child) = o.get(key) {
                    tool_names(child, out);
                }
            }
        }
        _ => {}
    }
}

fn push_name(v: Option<&Value>, out: &mut Vec<String>) {
    if let Some(s) = v.and_then(Value::as_str) {
        let s = s.trim();
        if !s.is_empty() && s.chars().count() <= MAX_TOOL_NAME {
            out.push(s.to_string());
        }
    }
}

fn top_tools(sources: &[(Value, Value)]) -> Vec<Value> {
    let mut counts: HashMap<String, (i64, usize)> = HashMap::new();
    let mut names = Vec::new();
    for (output, meta) in sources {
        names.clear();
        tool_names(output, &mut names);
        tool_names(meta, &mut names);
        for n in names.drain(..) {
            let seen = counts.len();
            counts.entry(n).or_insert((0, seen)).0 += 1;
        }
    }
    let mut ranked: Vec<_> = counts.into_iter().collect();
    // Most used first; ties keep the order in which names were first seen.
    ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    ranked
        .into_iter()
        .take(TOP_LIMIT as usize)
        .map(|(name, (count, _))| json!({"name": name, "count": count}))
        .collect()
}

/// Seconds of the longest chat, counting only gaps of at most half an hour.
fn longest_chat_seconds(messages: &[(String, i64)]) -> i64 {
    let mut active: HashMap<&str, i64> = HashMap::new();
    let mut last: HashMap<&str, i64> = HashMap::new();
    for (chat, ts) in messages {
        let ts = if *ts > 10_000_000_000 { ts / 1000 } else { *ts };
        if let Some(prev) = last.get(chat.as_str()) {
            let gap = ts - prev;
            if gap > 0 && gap <= ACTIVE_CHAT_GAP_SECONDS {
                *active.entry(chat).or_default() += gap;
            }
        }
        last.insert(chat, ts);
    }
    active.into_values().max().unwrap_or(0)
}

/// One decimal place, as the page shows shares and averages.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round1(part as f64 * 100.0 / whole as f64)
    }
}

/// The whole usage page of one user.
pub async fn report(
    db: &Db,
    user_id: &str,
    timezone: Option<&str>,
    p: Period,
    now: i64,
) -> anyhow::Result<Value> {
    let uid = user_id.to_string();
    let (lifetime, period_sum, messages, models, tools, (total_chats, activity)) = db
        .read(move |c| {
            Ok((
                rows::summary(c, &uid, None, None)?,
                rows::summary(c, &uid, Some(p.start), Some(p.end))?,
                rows::messages(c, &uid, p.start, p.end)?,
                rows::top_models(c, &uid, p.start, p.end, TOP_LIMIT)?,
                rows::tool_sources(c, &uid, p.start, p.end)?,
                rows::chat_activity(c, &uid)?,
            ))
        })
        .await?;
    let zone = tz::of_user(timezone);
    let days = heatmap(&messages, p, zone.as_ref(), now);
    let active_days = messages
        .iter()
        .map(|m| local_date(zone.as_ref(), normalized(m.created_at, now)))
        .collect::<HashSet<_>>()
        .len() as i64;
    let (current_streak, longest_streak) = streaks(&days);
    let lifetime_tokens = lifetime.input_tokens + lifetime.output_tokens;
    let peak = days.iter().map(|(_, d)| d.tokens).max().unwrap_or(0);
    let period_days = ((p.end - p.start) / 86_400 + 1).max(1);
    let top_models: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "model_id": m.model_id,
                "messages": m.messages,
                "input_tokens": m.input_tokens,
                "output_tokens": m.output_tokens,
                "total_tokens": m.input_tokens + m.output_tokens,
            })
        })
        .collect();
    let mut insights = Map::new();
    insights.insert(
        "most_used_model".into(),
        models
            .first()
            .map(|m| Value::from(m.model_id.clone()))
            .unwrap_or(Value::Null),
    );
    insights.insert(
        "average_tokens_per_chat".into(),
        json!(if total_chats > 0 {
            round1(lifetime_tokens as f64 / total_chats as f64)
        } else {
            0.0
        }),
    );
    insights.insert(
        "average_messages_per_active_day".into(),
        json!(if active_days > 0 {
            round1(period_sum.messages as f64 / active_days as f64)
        } else {
            0.0
        }),
    );
    insights.insert(
        "user_message_share".into(),
        json!(share(period_sum.user_messages, period_sum.messages)),
    );
    insights.insert(
        "assistant_message_share".into(),
        json!(share(period_sum.assistant_messages, period_sum.messages)),
    );
    Ok(json!({
        "totals": {
            "lifetime_tokens": lifetime_tokens,
            "input_tokens": lifetime.input_tokens,
            "output_tokens": lifetime.output_tokens,
            "peak_daily_tokens": peak,
            "longest_chat_seconds": longest_chat_seconds(&activity),
            "current_streak": current_streak,
            "longest_streak": longest_streak,
            "total_chats": total_chats,
            "active_days": active_days,
            "models_used": lifetime.models_used,
            "messages": period_sum.messages,
            "user_messages": period_sum.user_messages,
            "assistant_messages": period_sum.assistant_messages,
        },
        "heatmap": days.iter().map(|(k, d)| d.to_json(k)).collect::<Vec<_>>(),
        "weekly_heatmap": weekly(&days),
        "cumulative_heatmap": cumulative(&days),
        "insights": insights,
        "top_models": top_models,
        "top_tools": top_tools(&tools),
        "period": {"start_date": p.start, "end_date": p.end, "days": period_days},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32, messages: i64) -> (NaiveDate, Day) {
        (
            NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            Day {
                messages,
                ..Day::default()
            },
        )
    }

    #[test]
    fn streaks_count_runs_and_the_run_up_to_the_last_day() {
        let days = vec![
            day(2026, 1, 1, 1),
            day(2026, 1, 2, 2),
            day(2026, 1, 3, 1),
            day(2026, 1, 4, 0),
            day(2026, 1, 5, 4),
            day(2026, 1, 6, 1),
        ];
        assert_eq!(streaks(&days), (2, 3));
        assert_eq!(streaks(&days[..4]), (0, 3));
    }

    #[test]
    fn periods_default_to_two_years_and_refuse_a_start_after_the_end() {
        let p = period(None, None, None, 1_000_000_000).unwrap();
        assert_eq!(p.end - p.start, 729 * 86_400);
        let p = period(Some(7), None, Some(2_000_000), 0).unwrap();
        assert_eq!(p.start, 2_000_000 - 6 * 86_400);
        assert_eq!(
            period(None, Some(5), Some(4), 0).unwrap_err(),
            PeriodError::StartAfterEnd
        );
    }

    #[test]
    fn tool_names_come_from_typed_items_and_nested_calls() {
        let output = json!([
            {"type": "function_call", "name": "search_web", "call_id": "1"},
            {"type": "message", "content": [{"type": "output_text", "text": "x"}]},
            {"type": "tool_calls", "tool_calls": [
                {"type": "function", "function": {"name": "not_typed_as_a_tool"}},
                {"type": "tool_call", "function": {"name": "calc"}},
            ]},
        ]);
        let mut names = Vec::new();
        tool_names(&output, &mut names);
        assert_eq!(names, vec!["search_web", "calc"]);
    }

    #[test]
    fn chat_time_skips_long_pauses() {
        let msgs = vec![
            ("a".to_string(), 1_700_000_000),
            ("a".to_string(), 1_700_000_600),
            ("a".to_string(), 1_700_010_000),
            ("b".to_string(), 1_700_000_000_000),
            ("b".to_string(), 1_700_000_120_000),
        ];
        assert_eq!(longest_chat_seconds(&msgs), 600);
    }
}
