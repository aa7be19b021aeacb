//! Model lists as Ollama answers them: tags, running models, version.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::common::{
    conn_at, enabled_conns, ollama_models, readable_ids, relay, request, server_choice, Idx,
};
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

pub(super) async fn tags(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
) -> ApiResult<Response> {
    server_choice(&caller, &idx)?;
    let conns = enabled_conns(&state)?;
    let mut models: Vec<Value> = match idx {
        Some(Path(i)) => {
            let conn = conn_at(&conns, i)?;
            let resp = request(&conn, reqwest::Method::GET, "/api/tags")
                .timeout(llm::model_list_timeout())
                .send()
                .await
                .map_err(|e| {
                    ApiError::Unavailable(
                        llm::send_error(&conn.url, e, Some(llm::model_list_timeout())).to_string(),
                    )
                })?;
            if !resp.status().is_success() {
                return Err(ApiError::Unavailable(
                    llm::status_error(resp).await.to_string(),
                ));
            }
            let v: Value = resp
                .json()
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            v.get("models")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        None => ollama_models(&state, false)
            .await
            .into_iter()
            .map(|m| m["ollama"].clone())
            .collect(),
    };
    if caller.user.role == "user" && !llm::bypass_model_access() {
        let ids = readable_ids(&state, &caller).await?;
        models.retain(|m| m["model"].as_str().is_some_and(|id| ids.contains(id)));
    }
    Ok(Json(json!({"models": models})).into_response())
}

pub(super) async fn ps(
    State(state): State<AppState>,
    AdminUser(_c): AdminUser,
) -> ApiResult<Json<Value>> {
    let (on, conns) = llm::ollama_connections(&state);
    if !on {
        return Ok(Json(json!({"models": []})));
    }
    let fetches = conns.iter().map(|c| async move {
        if c.configured && !c.enabled() {
            return None;
        }
        let resp = request(c, reqwest::Method::GET, "/api/ps")
            .timeout(llm::model_list_timeout())
            .send()
            .await
            .ok()?;
        let v: Value = resp.json().await.ok()?;
        Some(
            v.get("models")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )
    });
    let lists = futures::future::join_all(fetches).await;
    let mut merged: Vec<Value> = Vec::new();
    for (conn, list) in conns.iter().zip(lists) {
        for mut m in list.unwrap_or_default() {
            if let Some(p) = conn.prefix_id() {
                let id = m["model"].as_str().unwrap_or("").to_string();
                m["model"] = json!(format!("{p}.{id}"));
            }
            match merged.iter_mut().find(|x| x["model"] == m["model"]) {
                Some(x) => {
                    if let Some(u) = x["urls"].as_array_mut() {
                        u.push(json!(conn.idx));
                    }
                }
                None => {
                    m["urls"] = json!([conn.idx]);
                    merged.push(m);
                }
            }
        }
    }
    Ok(Json(json!({"models": merged})))
}

/// The lowest version among the servers (or one server's).
pub(super) async fn version(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    idx: Idx,
) -> ApiResult<Response> {
    server_choice(&caller, &idx)?;
    let (on, conns) = llm::ollama_connections(&state);
    if !on {
        return Ok(Json(json!({"version": false})).into_response());
    }
    if let Some(Path(i)) = idx {
        let conn = conn_at(&conns, i)?;
        return Ok(relay(&conn, reqwest::Method::GET, "/api/version", None, false).await);
    }
    let fetches = conns.iter().filter(|c| c.enabled()).map(|c| async move {
        let resp = request(c, reqwest::Method::GET, "/api/version")
            .timeout(llm::model_list_timeout())
            .send()
            .await
            .ok()?;
        let v: Value = resp.json().await.ok()?;
        v.get("version").and_then(Value::as_str).map(str::to_string)
    });
    let versions: Vec<String> = futures::future::join_all(fetches)
        .await
        .into_iter()
        .flatten()
        .collect();
    let key = |v: &String| -> Vec<u64> {
        let core = v.trim_start_matches('v').split('-').next().unwrap_or("");
        core.split('.').map(|p| p.parse().unwrap_or(0)).collect()
    };
    match versions.iter().min_by_key(|v| key(v)) {
        Some(v) => Ok(Json(json!({"version": v})).into_response()),
        None => Err(ApiError::Unavailable(
            "WebUI could not connect to Ollama".into(),
        )),
    }
}
