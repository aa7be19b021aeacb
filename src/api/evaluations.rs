//! Upstream's `evaluations` router (`/api/v1/evaluations/*`): arena settings,
//! message feedback (ratings) and the Elo leaderboard computed from them.
//!
//! Upstream's leaderboard `?query=` weights each rating by the embedding
//! similarity between the query and the rating's topic tags. This server
//! weights by a plain text match instead (a rating counts fully when one of
//! its tags contains the query or the query contains the tag, otherwise not
//! at all), without embeddings.
//!
//! Arena models in the model list and the random pick of a candidate on a
//! completion live in `crate::llm` (catalog), reading the same config keys.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::validation;
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::db::feedbacks::{self as rows, FeedbackForm, ListFilter};
use crate::db::now_secs;
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const PAGE_SIZE: i64 = 30;
const K_FACTOR: f64 = 32.0;
const START_RATING: f64 = 1000.0;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/evaluations/config",
            get(get_config).post(set_config),
        )
        .route("/api/v1/evaluations/leaderboard", get(leaderboard))
        .route(
            "/api/v1/evaluations/leaderboard/{*rest}",
            get(model_history),
        )
        .route("/api/v1/evaluations/feedbacks/models", get(model_ids))
        .route("/api/v1/evaluations/feedbacks/all/ids", get(all_ids))
        .route("/api/v1/evaluations/feedbacks/all", delete(delete_all))
        .route("/api/v1/evaluations/feedbacks/all/export", get(export))
        .route("/api/v1/evaluations/feedbacks/user", get(user_feedbacks))
        .route("/api/v1/evaluations/feedbacks", delete(delete_own))
        .route("/api/v1/evaluations/feedbacks/list", get(list))
        .route("/api/v1/evaluations/feedback", post(create))
        .route(
            "/api/v1/evaluations/feedback/{id}",
            get(get_one).post(update).delete(delete_one),
        )
}

// ------------------------------------------------------------------ config

fn config_values(state: &AppState) -> Value {
    json!({
        "ENABLE_EVALUATION_ARENA_MODELS": state.config.get_bool("evaluation.arena.enable"),
        "EVALUATION_ARENA_MODELS": match state.config.get("evaluation.arena.models") {
            v @ Value::Array(_) => v,
            _ => json!([]),
        },
    })
}

async fn get_config(State(state): State<AppState>, AdminUser(_c): AdminUser) -> Json<Value> {
    Json(config_values(&state))
}

async fn set_config(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let mut updates: Vec<(&str, Value)> = Vec::new();
    match body.get("ENABLE_EVALUATION_ARENA_MODELS") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Bool(_)) => updates.push(("evaluation.arena.enable", v.clone())),
        Some(_) => {
            return Err(validation(
                "ENABLE_EVALUATION_ARENA_MODELS",
                "Input should be a valid boolean",
            ))
        }
    }
    match body.get("EVALUATION_ARENA_MODELS") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_object) => {
            updates.push(("evaluation.arena.models", Value::Array(a.clone())))
        }
        Some(_) => {
            return Err(validation(
                "EVALUATION_ARENA_MODELS",
                "Input should be a valid list of dictionaries",
            ))
        }
    }
    for (k, v) in updates {
        state.config.set(k, v).await?;
    }
    Ok(Json(config_values(&state)))
}

// -------------------------------------------------------------- leaderboard

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EloStats {
    pub rating: f64,
    pub won: i64,
    pub lost: i64,
}

fn rating_of(data: &Value) -> Option<bool> {
    let r = match data.get("rating") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return None,
    };
    match r.as_str() {
        "1" => Some(true),
        "-1" => Some(false),
        _ => None,
    }
}

/// Elo ratings from ratings in order: each rating is a match of the rated
/// model against each of its siblings (won for 1, lost for -1), starting at
/// 1000 with K = 32, optionally scaled by a per-feedback weight.
pub fn elo(
    feedbacks: &[(String, Value)],
    weights: Option<&HashMap<String, f64>>,
) -> Vec<(String, EloStats)> {
    let mut order: Vec<String> = Vec::new();
    let mut stats: HashMap<String, EloStats> = HashMap::new();
    let mut entry = |id: &str, order: &mut Vec<String>| {
        if !stats.contains_key(id) {
            order.push(id.to_string());
            stats.insert(
                id.to_string(),
                EloStats {
                    rating: START_RATING,
                    won: 0,
                    lost: 0,
                },
            );
        }
    };
    let mut matches: Vec<(String, String, bool, f64)> = Vec::new();
    for (fid, data) in feedbacks {
        let Some(model) = data
            .get("model_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let Some(won) = rating_of(data) else {
            continue;
        };
        let w = weights.map_or(1.0, |m| m.get(fid).copied().unwrap_or(1.0));
        for opp in data
            .get("sibling_model_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            entry(model, &mut order);
            entry(opp, &mut order);
            matches.push((model.to_string(), opp.to_string(), won, w));
        }
    }
    for (a, b, won, w) in matches {
        let (ra, rb) = (stats[&a].rating, stats[&b].rating);
        let expected = 1.0 / (1.0 + 10f64.powf((rb - ra) / 400.0));
        let score = if won { 1.0 } else { 0.0 };
        let delta = K_FACTOR * (score - expected) * w;
        let sa = stats.get_mut(&a).expect("entered");
        sa.rating += delta;
        if won {
            sa.won += 1
        } else {
            sa.lost += 1
        }
        let sb = stats.get_mut(&b).expect("entered");
        sb.rating -= delta;
        if won {
            sb.lost += 1
        } else {
            sb.won += 1
        }
    }
    order
        .into_iter()
        .map(|id| {
            let s = stats[&id];
            (id, s)
        })
        .collect()
}

/// The most used tags of each rated model (up to five, most frequent first).
fn top_tags(feedbacks: &[(String, Value)]) -> HashMap<String, Vec<Value>> {
    let mut counts: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for (_, data) in feedbacks {
        let Some(model) = data
            .get("model_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let list = counts.entry(model.to_string()).or_default();
        for tag in data
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let t = match tag {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match list.iter_mut().find(|(x, _)| *x == t) {
                Some(e) => e.1 += 1,
                None => list.push((t, 1)),
            }
        }
    }
    counts
        .into_iter()
        .map(|(m, mut list)| {
            // Stable: ties keep first-seen order.
            list.sort_by_key(|(_, n)| -n);
            let v = list
                .into_iter()
                .take(5)
                .map(|(tag, count)| json!({"tag": tag, "count": count}))
                .collect();
            (m, v)
        })
        .collect()
}

fn text_weights(feedbacks: &[(String, Value)], query: &str) -> HashMap<String, f64> {
    let q = query.to_lowercase();
    feedbacks
        .iter()
        .map(|(id, data)| {
            let hit = data
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_lowercase)
                .any(|t| !t.is_empty() && (t.contains(&q) || q.contains(&t)));
            (id.clone(), if hit { 1.0 } else { 0.0 })
        })
        .collect()
}

#[derive(Deserialize)]
struct LeaderboardQuery {
    query: Option<String>,
}

async fn leaderboard(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<LeaderboardQuery>,
) -> ApiResult<Json<Value>> {
    let rated: Vec<(String, Value)> = state
        .db
        .read(rows::ratings)
        .await?
        .into_iter()
        .map(|(id, _, d)| (id, d))
        .collect();
    let weights = q
        .query
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| text_weights(&rated, s));
    let tags = top_tags(&rated);
    let mut entries: Vec<(i64, Value)> = elo(&rated, weights.as_ref())
        .into_iter()
        .map(|(id, s)| {
            // Python rounds half to even.
            let rating = s.rating.round_ties_even() as i64;
            (
                rating,
                json!({
                    "model_id": id,
                    "rating": rating,
                    "won": s.won,
                    "lost": s.lost,
                    "count": s.won + s.lost,
                    "top_tags": tags.get(&id).cloned().unwrap_or_default(),
                }),
            )
        })
        .collect();
    entries.sort_by_key(|(r, _)| -r);
    Ok(Json(
        json!({"entries": entries.into_iter().map(|(_, v)| v).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct HistoryQuery {
    days: Option<i64>,
}

/// `/leaderboard/{model_id:path}/history`: daily wins and losses of a model.
async fn model_history(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Path(rest): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    let Some(model_id) = rest.strip_suffix("/history").filter(|m| !m.is_empty()) else {
        return Err(ApiError::not_found("Not Found"));
    };
    let model_id = model_id.to_string();
    let days = q.days.unwrap_or(30).max(0);
    let now = now_secs();
    let cutoff = if days == 0 {
        i64::MIN
    } else {
        now - days * 86_400
    };
    let rated = state.db.read(rows::ratings).await?;
    let day = |ts: i64| {
        use chrono::TimeZone;
        chrono::Local
            .timestamp_opt(ts, 0)
            .single()
            .map(|d| d.date_naive())
            .unwrap_or_default()
    };
    let mut counts: HashMap<chrono::NaiveDate, (i64, i64)> = HashMap::new();
    let mut first: Option<chrono::NaiveDate> = None;
    for (_, created, data) in &rated {
        if *created < cutoff || data.get("model_id").and_then(Value::as_str) != Some(&model_id) {
            continue;
        }
        let Some(won) = rating_of(data) else {
            continue;
        };
        let d = day(*created);
        let e = counts.entry(d).or_default();
        if won {
            e.0 += 1
        } else {
            e.1 += 1
        }
        first = Some(first.map_or(d, |f: chrono::NaiveDate| f.min(d)));
    }
    let today = day(now);
    let (start, n) = if days == 0 {
        match first {
            Some(f) => (f, (today - f).num_days() + 1),
            None => (today, 0),
        }
    } else {
        (today - chrono::Duration::days(days - 1), days)
    };
    let history: Vec<Value> = (0..n.max(0))
        .map(|i| {
            let d = start + chrono::Duration::days(i);
            let (won, lost) = counts.get(&d).copied().unwrap_or((0, 0));
            json!({"date": d.format("%Y-%m-%d").to_string(), "won": won, "lost": lost})
        })
        .collect();
    Ok(Json(json!({"model_id": model_id, "history": history})))
}

// ---------------------------------------------------------------- feedbacks

fn parse_form(body: &Value) -> ApiResult<FeedbackForm> {
    let kind = match body.get("type") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err(validation("type", "Field required")),
        Some(_) => return Err(validation("type", "Input should be a valid string")),
    };
    let obj = |k: &str| -> ApiResult<Option<Value>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(_) => Err(validation(k, "Input should be a valid dictionary")),
        }
    };
    let data = obj("data")?;
    if let Some(d) = &data {
        match d.get("rating") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(Value::Number(n)) if n.is_i64() => {}
            Some(_) => {
                return Err(validation(
                    "rating",
                    "Input should be a valid string or integer",
                ))
            }
        }
        if let Some(s) = d.get("sibling_model_ids").filter(|s| !s.is_null()) {
            if !s.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                return Err(validation(
                    "sibling_model_ids",
                    "Input should be a valid list of strings",
                ));
            }
        }
    }
    Ok(FeedbackForm {
        kind,
        data: data.as_ref().map(rows::normalize_data),
        meta: obj("meta")?,
        snapshot: obj("snapshot")?.as_ref().map(rows::normalize_snapshot),
    })
}

async fn create(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let form = parse_form(&body)?;
    let uid = caller.id().to_string();
    let now = now_secs();
    let f = state
        .db
        .write(move |c| rows::insert(c, &uid, &form, now))
        .await?;
    Ok(Json(rows::wire(&f, true)))
}

/// Admins reach every feedback; others only their own.
fn owner_filter(caller: &crate::auth::Caller) -> Option<String> {
    (!caller.is_admin()).then(|| caller.id().to_string())
}

async fn get_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let owner = owner_filter(&caller);
    let f = state
        .db
        .read(move |c| rows::get(c, &id, owner.as_deref()))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(rows::wire(&f, true)))
}

async fn update(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let form = parse_form(&body)?;
    let owner = owner_filter(&caller);
    let now = now_secs();
    let f = state
        .db
        .write(move |c| rows::update(c, &id, owner.as_deref(), &form, now))
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(rows::wire(&f, true)))
}

async fn delete_one(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    let owner = owner_filter(&caller);
    let ok = state
        .db
        .write(move |c| rows::delete(c, &id, owner.as_deref()))
        .await?;
    if !ok {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    Ok(Json(true))
}

async fn delete_all(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<bool>> {
    Ok(Json(state.db.write(|c| rows::delete_all(c, None)).await?))
}

async fn delete_own(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<bool>> {
    let uid = caller.id().to_string();
    Ok(Json(
        state
            .db
            .write(move |c| rows::delete_all(c, Some(&uid)))
            .await?,
    ))
}

async fn model_ids(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(state.db.read(rows::model_ids).await?))
}

async fn all_ids(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(state.db.read(rows::ids).await?))
}

#[derive(Deserialize)]
struct ExportQuery {
    model_id: Option<String>,
}

async fn export(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let all = state.db.read(rows::all).await?;
    Ok(Json(
        all.iter()
            .filter(|f| {
                q.model_id.as_deref().is_none_or(|m| {
                    f.data
                        .as_ref()
                        .and_then(|d| d.get("model_id"))
                        .and_then(Value::as_str)
                        == Some(m)
                })
            })
            .map(|f| rows::wire(f, true))
            .collect(),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    order_by: Option<String>,
    direction: Option<String>,
    page: Option<i64>,
    model_id: Option<String>,
}

fn page_json(items: Vec<(rows::FeedbackRow, Value)>, total: i64) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|(f, u)| {
            let mut v = rows::wire(&f, false);
            v["user"] = u;
            v
        })
        .collect();
    json!({"items": items, "total": total})
}

async fn list(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let skip = (q.page.unwrap_or(1).max(1) - 1) * PAGE_SIZE;
    let filter = ListFilter {
        model_id: q.model_id.filter(|s| !s.is_empty()),
        user_id: None,
        order_by: q.order_by,
        direction: q.direction,
    };
    let (items, total) = state
        .db
        .read(move |c| rows::page(c, &filter, skip, PAGE_SIZE))
        .await?;
    Ok(Json(page_json(items, total)))
}

#[derive(Deserialize)]
struct UserQuery {
    page: Option<i64>,
}

async fn user_feedbacks(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<Value>> {
    let skip = (q.page.unwrap_or(1).max(1) - 1) * PAGE_SIZE;
    let filter = ListFilter {
        user_id: Some(caller.id().to_string()),
        ..Default::default()
    };
    let (items, total) = state
        .db
        .read(move |c| rows::page(c, &filter, skip, PAGE_SIZE))
        .await?;
    Ok(Json(page_json(items, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elo_follows_wins_and_siblings() {
        let f = |id: &str, m: &str, r: Value, sib: &[&str]| {
            (
                id.to_string(),
                json!({"model_id": m, "rating": r, "sibling_model_ids": sib}),
            )
        };
        let list = vec![
            f("1", "a", json!(1), &["b"]),
            f("2", "a", json!("1"), &["b", "c"]),
            f("3", "c", json!(-1), &["b"]),
            f("4", "c", json!(0), &["a"]),
            f("5", "", json!(1), &["a"]),
        ];
        let out: HashMap<String, EloStats> = elo(&list, None).into_iter().collect();
        assert_eq!((out["a"].won, out["a"].lost), (3, 0));
        assert_eq!((out["b"].won, out["b"].lost), (1, 2));
        assert_eq!((out["c"].won, out["c"].lost), (0, 2));
        assert!(out["a"].rating > out["b"].rating && out["b"].rating > out["c"].rating);
        // First match between equals moves both by K/2.
        let one = elo(&[f("x", "p", json!(1), &["q"])], None);
        assert_eq!(one[0].1.rating, 1016.0);
        assert_eq!(one[1].1.rating, 984.0);
        // A zero weight leaves ratings alone but still counts the result.
        let w: HashMap<String, f64> = [("x".to_string(), 0.0)].into();
        let zero = elo(&[f("x", "p", json!(1), &["q"])], Some(&w));
        assert_eq!(zero[0].1.rating, 1000.0);
        assert_eq!(zero[0].1.won, 1);
    }
}
