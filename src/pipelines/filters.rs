//! Filter pipelines around a chat completion.
//!
//! The filters that apply to a model are the models of the list whose
//! `pipeline.type` is `filter` and whose `pipeline.pipelines` names that
//! model (or is `["*"]`), ordered by `pipeline.priority`. A model that is
//! itself a pipeline runs its own hooks too: last on the way in, first on the
//! way out. Each one is `POST {url}/{id}/filter/inlet` (or `…/outlet`) with
//! `{"user": …, "body": …}`; its answer is the body the next one sees.
//!
//! Failures, as upstream treats them: a filter whose server cannot be reached,
//! or whose answer cannot be read, is skipped (the body goes on unchanged); a
//! filter that answers with an error status stops the chain, and that status
//! and `detail` are the caller's error. Filters on a connection without a key
//! are skipped.

use serde_json::{json, Value};

use super::{body_of, refusal, server_at};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// The user a filter is told about.
pub fn user_info(caller: &Caller) -> Value {
    let u = &caller.user;
    json!({"id": u.id, "email": u.email, "name": u.name, "role": u.role})
}

/// A model's `pipeline` object, when it has one.
fn pipeline_of(model: &Value) -> Option<&serde_json::Map<String, Value>> {
    model.get("pipeline").and_then(Value::as_object)
}

fn priority(model: &Value) -> f64 {
    pipeline_of(model)
        .and_then(|p| p.get("priority"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

/// The filter pipelines that apply to `model_id`, lowest priority first.
pub fn sorted_filters<'a>(model_id: &str, models: &'a [Value]) -> Vec<&'a Value> {
    let mut filters: Vec<&Value> = models
        .iter()
        .filter(|m| {
            let Some(p) = pipeline_of(m) else {
                return false;
            };
            if p.get("type").and_then(Value::as_str) != Some("filter") {
                return false;
            }
            let targets = p
                .get("pipelines")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            (targets.len() == 1 && targets[0] == "*")
                || targets.iter().any(|t| t.as_str() == Some(model_id))
        })
        .collect();
    filters.sort_by(|a, b| priority(a).total_cmp(&priority(b)));
    filters
}

/// The pipelines an inlet (`outlet == false`) or outlet passes through for
/// `model_id`, in order.
async fn chain(state: &AppState, model_id: &str, outlet: bool) -> Vec<Value> {
    // Without a pipelines server among the connections there is nothing to
    // look up (the base list is cached; the full one reads the model rows).
    let base = crate::llm::base_models(state, false).await;
    if !base.iter().any(|m| pipeline_of(m).is_some()) {
        return vec![];
    }
    let models = match crate::llm::all_models(state, false).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "the model list for pipeline filters could not be read");
            return vec![];
        }
    };
    let mut chain: Vec<Value> = sorted_filters(model_id, &models)
        .into_iter()
        .cloned()
        .collect();
    let own = models
        .iter()
        .rev()
        .find(|m| m["id"].as_str() == Some(model_id))
        .filter(|m| pipeline_of(m).is_some());
    if let Some(own) = own {
        if outlet {
            chain.insert(0, own.clone());
        } else {
            chain.push(own.clone());
        }
    }
    chain
}

/// The connection index of a pipeline model (`urlIdx`, a number or a numeral).
fn url_idx(model: &Value) -> Option<usize> {
    match model.get("urlIdx")? {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Runs `body` through `chain` at `stage` (`inlet` or `outlet`).
async fn run(
    state: &AppState,
    stage: &str,
    chain: Vec<Value>,
    user: Value,
    mut body: Value,
) -> ApiResult<Value> {
    let max = state.settings.max_body_bytes;
    for filter in chain {
        let Some(id) = filter["id"].as_str() else {
            continue;
        };
        let Some(server) = url_idx(&filter).and_then(|i| server_at(state, i)) else {
            tracing::warn!(
                filter = id,
                "a pipeline filter names no existing connection"
            );
            continue;
        };
        if server.key.is_empty() {
            continue;
        }
        let url = server.endpoint(&[id, "filter", stage])?;
        let sent = crate::llm::client()
            .post(url)
            .bearer_auth(&server.key)
            .timeout(crate::llm::request_timeout().unwrap_or(std::time::Duration::from_secs(300)))
            .json(&json!({"user": user, "body": body}))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(filter = id, stage, error = %e, "pipeline filter unreachable; skipped");
                continue;
            }
        };
        if !resp.status().is_success() {
            tracing::info!(filter = id, stage, status = %resp.status(), "pipeline filter refused");
            return Err(refusal(resp).await);
        }
        let answer = body_of(resp, max)
            .await
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
        match answer {
            Ok(v @ Value::Object(_)) => body = v,
            Ok(_) => {
                tracing::warn!(
                    filter = id,
                    stage,
                    "pipeline filter answered no JSON object; skipped"
                )
            }
            Err(e) => {
                tracing::warn!(filter = id, stage, error = %e, "pipeline filter answer unreadable; skipped")
            }
        }
    }
    Ok(body)
}

/// A chat request (`payload["model"]` being the model's id as listed) as the
/// inlet filters for its model leave it.
pub async fn inlet(state: &AppState, caller: &Caller, payload: Value) -> ApiResult<Value> {
    let model_id = payload["model"].as_str().unwrap_or("").to_string();
    let chain = chain(state, &model_id, false).await;
    if chain.is_empty() {
        return Ok(payload);
    }
    run(state, "inlet", chain, user_info(caller), payload).await
}

/// Whether a reply of `model_id` goes through any outlet filter.
pub async fn has_outlet(state: &AppState, model_id: &str) -> bool {
    !chain(state, model_id, true).await.is_empty()
}

/// The finished conversation (`{model, messages, …}`) as the outlet filters
/// for its model leave it.
pub async fn outlet(state: &AppState, caller: &Caller, payload: Value) -> ApiResult<Value> {
    let model_id = payload["model"].as_str().unwrap_or("").to_string();
    let chain = chain(state, &model_id, true).await;
    if chain.is_empty() {
        return Ok(payload);
    }
    run(state, "outlet", chain, user_info(caller), payload).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_for_a_model_by_priority() {
        let models = vec![
            json!({"id": "late", "pipeline": {"type": "filter", "pipelines": ["*"], "priority": 5}}),
            json!({"id": "early", "pipeline": {"type": "filter", "pipelines": ["gpt"], "priority": 1}}),
            json!({"id": "other", "pipeline": {"type": "filter", "pipelines": ["llama"]}}),
            json!({"id": "pipe", "pipeline": {"type": "pipe"}}),
            json!({"id": "broken", "pipeline": {"type": "filter"}}),
            json!({"id": "gpt"}),
        ];
        let ids: Vec<&str> = sorted_filters("gpt", &models)
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["early", "late"]);
        assert!(sorted_filters("nothing", &models[2..]).is_empty());
    }

    #[test]
    fn connection_indexes() {
        assert_eq!(url_idx(&json!({"urlIdx": 2})), Some(2));
        assert_eq!(url_idx(&json!({"urlIdx": "1"})), Some(1));
        assert_eq!(url_idx(&json!({"urlIdx": -1})), None);
        assert_eq!(url_idx(&json!({})), None);
    }
}
