//! `/api/v1/analytics`: the admin dashboard (totals, per-model and per-user
//! counts, token usage and the time series) and its drill-downs (messages,
//! the chats of a model, a model's ratings and tags).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Local, NaiveDateTime, TimeZone, Timelike};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::extract::AdminUser;
use crate::db::{self, analytics::Filter};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/analytics/summary", get(summary))
        .route("/api/v1/analytics/models", get(models))
        .route("/api/v1/analytics/users", get(users))
        .route("/api/v1/analytics/tokens", get(tokens))
        .route("/api/v1/analytics/daily", get(daily))
        .route("/api/v1/analytics/messages", get(messages))
        .route("/api/v1/analytics/models/{*rest}", get(model_drilldown))
}

#[derive(Deserialize)]
struct Range {
    start_date: Option<i64>,
    end_date: Option<i64>,
    group_id: Option<String>,
    limit: Option<i64>,
    metric: Option<String>,
    granularity: Option<String>,
    #[serde(default)]
    compare: bool,
}

impl Range {
    fn filter(&self) -> Filter {
        Filter {
            start: self.start_date,
            end: self.end_date,
            group_id: self.group_id.clone(),
        }
    }

    fn metric(&self) -> ApiResult<&str> {
        match self.metric.as_deref().unwrap_or("messages") {
            m @ ("messages" | "tokens") => Ok(m),
            _ => Err(literal_error("metric", "'messages' or 'tokens'")),
        }
    }
}

fn literal_error(field: &str, allowed: &str) -> ApiError {
    ApiError::Validation(json!([{
        "loc": ["query", field],
        "msg": format!("Input should be {allowed}"),
        "type": "literal_error",
    }]))
}

async fn summary(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Query(q): Query<Range>,
) -> ApiResult<Json<Value>> {
    let f = q.filter();
    let s = state
        .db
        .read(move |c| db::analytics::summary(c, &f))
        .await?;
    Ok(Json(json!({
        "total_messages": s.messages,
        "total_chats": s.chats,
        "total_models": s.models,
        "total_users": s.users,
    })))
}

async fn models(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Query(q): Query<Range>,
) -> ApiResult<Json<Value>> {
    let f = q.filter();
    let rows = state
        .db
        .read(move |c| db::analytics::by_model(c, &f))
        .await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(id, n, users, chats)| {
            json!({"model_id": id, "count": n, "unique_users": users, "unique_chats": chats})
        })
        .collect();
    Ok(Json(json!({ "models": list })))
}

async fn users(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Query(q): Query<Range>,
) -> ApiResult<Json<Value>> {
    let by_tokens = q.metric()? == "tokens";
    let limit = q.limit.unwrap_or(50).max(0) as usize;
    let f = q.filter();
    let (rows, people) = state
        .db
        .read(move |c| {
            let mut rows = db::analytics::by_user(c, &f)?;
            rows.sort_by_key(|t| {
                let first = if by_tokens {
                    t.input + t.output
                } else {
                    t.messages
                };
                (-first, -t.messages)
            });
            rows.truncate(limit);
            let mut people = HashMap::new();
            for r in &rows {
                if let Some(id) = &r.key {
                    if let Some(u) = db::users::get(c, id)? {
                        people.insert(id.clone(), (u.name, u.email));
                    }
                }
            }
            Ok((rows, people))
        })
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|t| {
            let who = t.key.as_ref().and_then(|k| people.get(k));
            json!({
                "user_id": t.key,
                "name": who.map(|w| &w.0),
                "email": who.map(|w| &w.1),
                "count": t.messages,
                "input_tokens": t.input,
                "output_tokens": t.output,
                "total_tokens": t.input + t.output,
            })
        })
        .collect();
    Ok(Json(json!({ "users": list })))
}

async fn tokens(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Query(q): Query<Range>,
) -> ApiResult<Json<Value>> {
    let f = q.filter();
    let mut rows = state
        .db
        .read(move |c| db::analytics::tokens_by_model(c, &f))
        .await?;
    rows.sort_by_key(|t| -(t.input + t.output));
    let (inp, out) = rows
        .iter()
        .fold((0, 0), |(i, o), t| (i + t.input, o + t.output));
    let list: Vec<Value> = rows
        .iter()
        .map(|t| {
            json!({
                "model_id": t.key,
                "input_tokens": t.input,
                "output_tokens": t.output,
                "total_tokens": t.input + t.output,
                "message_count": t.messages,
            })
        })
        .collect();
    Ok(Json(json!({
        "models": list,
        "total_input_tokens": inp,
        "total_output_tokens": out,
        "total_tokens": inp + out,
    })))
}

// ------------------------------------------------------------- time series

/// Seconds since the epoch: milliseconds are scaled down, and values before
/// 2020 or more than a day ahead count as now (as upstream does).
fn normalize(ts: Option<i64>, now: i64) -> i64 {
    let Some(mut t) = ts else { return now };
    if t > 10_000_000_000 {
        t /= 1000;
    }
    if (1_577_836_800..=now + 86_400).contains(&t) {
        t
    } else {
        now
    }
}

fn local(ts: i64) -> NaiveDateTime {
    Local
        .timestamp_opt(ts, 0)
        .earliest()
        .map(|d| d.naive_local())
        .unwrap_or_default()
}

fn to_epoch(dt: NaiveDateTime) -> i64 {
    Local
        .from_local_datetime(&dt)
        .earliest()
        .map(|d| d.timestamp())
        .unwrap_or_else(|| dt.and_utc().timestamp())
}

fn bucket_start(ts: i64, minutes: u32) -> NaiveDateTime {
    let d = local(ts);
    let m = (d.hour() * 60 + d.minute()) / minutes * minutes;
    d.date().and_hms_opt(m / 60, m % 60, 0).unwrap_or(d)
}

fn iso(ts: i64) -> String {
    local(ts).format("%Y-%m-%dT%H:%M:%S").to_string()
}

type Buckets = BTreeMap<String, Map<String, Value>>;

async fn series(
    state: &AppState,
    f: Filter,
    tokens: bool,
    minutes: u32,
    format: &'static str,
    offset: i64,
) -> ApiResult<Buckets> {
    let (start, end) = (f.start, f.end);
    let rows = state
        .db
        .read(move |c| db::analytics::events(c, &f, tokens))
        .await?;
    let now = db::now_secs();
    let mut out: Buckets = BTreeMap::new();
    for (ts, model, v) in rows {
        let key = bucket_start(normalize(ts, now) + offset, minutes)
            .format(format)
            .to_string();
        let slot = out.entry(key).or_default();
        let cur = slot.get(&model).and_then(Value::as_i64).unwrap_or(0);
        slot.insert(model, json!(cur + v));
    }
    if let (Some(s), Some(e)) = (start.filter(|s| *s != 0), end.filter(|e| *e != 0)) {
        let mut cur = bucket_start(normalize(Some(s), now) + offset, minutes);
        let last = local(normalize(Some(e), now) + offset);
        let step = chrono::Duration::minutes(minutes as i64);
        // Bounded: a ten-minute series over two years is ~105k buckets.
        let mut guard = 0;
        while cur <= last && guard < 200_000 {
            out.entry(cur.format(format).to_string()).or_default();
            cur += step;
            guard += 1;
        }
    }
    Ok(out)
}

async fn daily(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Query(q): Query<Range>,
) -> ApiResult<Json<Value>> {
    let minutes: u32 = match q.granularity.as_deref().unwrap_or("daily") {
        "10m" => 10,
        "hourly" => 60,
        "3h" => 180,
        "6h" => 360,
        "daily" => 1440,
        _ => {
            return Err(literal_error(
                "granularity",
                "'10m', 'hourly', '3h', '6h' or 'daily'",
            ))
        }
    };
    let format = if minutes == 1440 {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let tokens = q.metric()? == "tokens";
    let bounds = match (q.start_date, q.end_date) {
        (Some(s), Some(e)) if s <= e => Some((s, e)),
        _ => None,
    };
    if q.compare && bounds.is_none() {
        return Err(ApiError::bad_request(
            "Comparison requires a bounded date range",
        ));
    }
    let current = series(&state, q.filter(), tokens, minutes, format, 0).await?;
    let mut data: Vec<Value> = current
        .iter()
        .map(|(date, models)| json!({"date": date, "models": models, "start": null, "end": null, "previous": null}))
        .collect();
    if let (true, Some((start, end))) = (q.compare, bounds) {
        let duration = end - start + 1;
        let prev_filter = Filter {
            start: Some(start - duration),
            end: Some(start - 1),
            group_id: q.group_id.clone(),
        };
        let previous = series(&state, prev_filter, tokens, minutes, format, duration).await?;
        for entry in &mut data {
            let date = entry["date"].as_str().unwrap_or_default().to_string();
            let bucket = if minutes == 1440 {
                chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            } else {
                NaiveDateTime::parse_from_str(&date, "%Y-%m-%d %H:%M").ok()
            };
            let Some(bucket) = bucket else { continue };
            let b = to_epoch(bucket);
            let s = start.max(b);
            let e = (end + 1).min(b + minutes as i64 * 60);
            entry["start"] = json!(iso(s));
            entry["end"] = json!(iso(e));
            entry["previous"] = json!({
                "models": previous.get(&date).cloned().unwrap_or_default(),
                "start": iso(s - duration),
                "end": iso(e - duration),
            });
        }
    }
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
struct Browse {
    model_id: Option<String>,
    user_id: Option<String>,
    chat_id: Option<String>,
    start_date: Option<i64>,
    end_date: Option<i64>,
    skip: Option<i64>,
    limit: Option<i64>,
    order_by: Option<String>,
    direction: Option<String>,
    days: Option<i64>,
}

impl Browse {
    /// `skip` and `limit` (default 50, at most 100 as upstream validates).
    fn page(&self) -> ApiResult<(i64, i64)> {
        let limit = self.limit.unwrap_or(50);
        if limit > 100 {
            return Err(ApiError::Validation(json!([{
                "loc": ["query", "limit"],
                "msg": "Input should be less than or equal to 100",
                "type": "less_than_equal",
            }])));
        }
        Ok((self.skip.unwrap_or(0).max(0), limit.max(0)))
    }
}

/// Messages of one chat, else of one model, else of one user; none without
/// a filter.
async fn messages(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Query(q): Query<Browse>,
) -> ApiResult<Json<Vec<Value>>> {
    use db::analytics_browse as browse;
    let (skip, limit) = q.page()?;
    let found = state
        .db
        .read(move |c| {
            let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
            if let Some(chat) = set(&q.chat_id) {
                browse::messages_of_chat(c, &chat)
            } else if let Some(model) = set(&q.model_id) {
                browse::messages_of_model(c, &model, q.start_date, q.end_date, skip, limit)
            } else if let Some(user) = set(&q.user_id) {
                browse::messages_of_user(c, &user, skip, limit)
            } else {
                Ok(Vec::new())
            }
        })
        .await?;
    Ok(Json(found))
}

/// `/models/{model_id:path}/chats` and `/models/{model_id:path}/overview`
/// (model ids may hold slashes, so the route takes the rest of the path).
async fn model_drilldown(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    Path(rest): Path<String>,
    Query(q): Query<Browse>,
) -> ApiResult<Json<Value>> {
    if let Some(model) = rest.strip_suffix("/chats").filter(|m| !m.is_empty()) {
        return model_chats(&state, model.to_string(), q).await;
    }
    if let Some(model) = rest.strip_suffix("/overview").filter(|m| !m.is_empty()) {
        return model_overview(&state, model.to_string(), q.days.unwrap_or(30)).await;
    }
    Err(ApiError::not_found(crate::error::messages::NOT_FOUND))
}

async fn model_chats(state: &AppState, model: String, q: Browse) -> ApiResult<Json<Value>> {
    use db::analytics_browse::{chats_of_model, ChatOrder};
    let (skip, limit) = q.page()?;
    let order = match q.order_by.as_deref() {
        Some("title") => ChatOrder::Title,
        Some("user_name") => ChatOrder::UserName,
        _ => ChatOrder::UpdatedAt,
    };
    let ascending = q.direction.as_deref() == Some("asc");
    let (chats, total) = state
        .db
        .read(move |c| {
            chats_of_model(
                c,
                &model,
                q.start_date,
                q.end_date,
                order,
                ascending,
                skip,
                limit,
            )
        })
        .await?;
    Ok(Json(json!({"chats": chats, "total": total})))
}

/// A model's won/lost ratings per day (the last `days` days, every day
/// listed; all days since the first rating with `days` 0) and its chats'
/// ten most used tags.
async fn model_overview(state: &AppState, model: String, days: i64) -> ApiResult<Json<Value>> {
    use db::analytics_browse::{ratings_by_day, tags_of_model};
    let now = Local::now();
    let start = (days > 0).then(|| now - chrono::Duration::days(days));
    let since = start.map(|s| s.timestamp());
    let (ratings, tags) = state
        .db
        .read(move |c| Ok((ratings_by_day(c, &model, since)?, tags_of_model(c, &model)?)))
        .await?;
    let mut history = Vec::new();
    let first = match start {
        Some(s) => Some(s.date_naive()),
        None => ratings
            .keys()
            .next()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
    };
    if let Some(mut day) = first {
        let last = now.date_naive();
        while day <= last {
            let key = day.format("%Y-%m-%d").to_string();
            let (won, lost) = ratings.get(&key).copied().unwrap_or((0, 0));
            history.push(json!({"date": key, "won": won, "lost": lost}));
            day = day.succ_opt().unwrap_or(last + chrono::Duration::days(1));
        }
    }
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(tag, count)| json!({"tag": tag, "count": count}))
        .collect();
    Ok(Json(json!({"history": history, "tags": tags})))
}
