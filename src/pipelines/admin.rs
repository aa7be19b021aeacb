//! What the admin's Pipelines settings page asks of a pipelines server:
//! which connections are pipelines servers, their pipelines, adding one from
//! a URL or an uploaded `.py` file, deleting one, and a pipeline's valves.
//! Each answer is the server's JSON object as it came.

use futures::future::join_all;
use serde_json::{json, Value};

use super::{body_of, exchange, Server};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::notify::{publish, Event};
use crate::state::AppState;

/// A `/models` answer is read up to this size when looking for pipelines servers.
const MAX_MODELS_ANSWER: usize = 16 * 1024 * 1024;

/// Whether a connection's `/models` answer is a pipelines server's.
async fn is_pipelines_server(conn: &crate::llm::Conn) -> bool {
    let url = format!("{}/models", conn.url);
    let headers = crate::llm::auth_headers(conn.key.as_deref(), &conn.config, &url);
    let resp = crate::llm::client()
        .get(&url)
        .headers(headers)
        .timeout(crate::llm::model_list_timeout())
        .send()
        .await;
    let Ok(resp) = resp.inspect_err(|e| tracing::debug!(%url, error = %e, "no model list")) else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    let Ok(bytes) = body_of(resp, MAX_MODELS_ANSWER).await else {
        return false;
    };
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .is_some_and(|v| v.get("pipelines").is_some())
}

/// The connections that are pipelines servers: `{"data": [{url, idx}]}`.
/// Disabled connections and ones with a fixed model list are not asked,
/// nor any when the OpenAI API is off.
pub async fn servers(state: &AppState) -> Value {
    let (on, conns) = crate::llm::openai_connections(state);
    if !on {
        return json!({"data": []});
    }
    let asked: Vec<_> = conns
        .iter()
        .filter(|c| !(c.configured && (!c.enabled() || !c.model_ids().is_empty())))
        .collect();
    let found = join_all(asked.iter().map(|c| is_pipelines_server(c))).await;
    let data: Vec<Value> = asked
        .iter()
        .zip(found)
        .filter(|(_, yes)| *yes)
        .map(|(c, _)| json!({"url": raw_base_url(state, c.idx).unwrap_or(c.url.clone()), "idx": c.idx}))
        .collect();
    json!({"data": data})
}

/// The base URL at `idx` as configured (the settings page shows it so).
fn raw_base_url(state: &AppState, idx: usize) -> Option<String> {
    state
        .config
        .get("openai.api_base_urls")
        .as_array()?
        .get(idx)?
        .as_str()
        .map(str::to_string)
}

fn announce(state: &AppState, caller: &Caller, name: &'static str, subject: &str, data: Value) {
    let event = Event::new(name, Some(&caller.user))
        .subject("pipeline", subject)
        .data(data);
    publish(state, event);
}

/// The server's pipelines (`GET {url}/pipelines`).
pub async fn list(server: &Server) -> ApiResult<Value> {
    let url = server.endpoint(&["pipelines"])?;
    exchange(server, crate::llm::client().get(url)).await
}

/// Has the server fetch and install the pipeline at `source` (a URL).
pub async fn add(
    state: &AppState,
    caller: &Caller,
    server: &Server,
    source: &str,
) -> ApiResult<Value> {
    let url = server.endpoint(&["pipelines", "add"])?;
    let req = crate::llm::client().post(url).json(&json!({"url": source}));
    let data = exchange(server, req).await?;
    let subject = data.get("id").and_then(Value::as_str).unwrap_or(source);
    let info = json!({"url_idx": server.idx, "url": source});
    announce(state, caller, "pipeline.added", subject, info);
    Ok(data)
}

/// The file name part of an uploaded name, when it is a Python file.
pub fn python_file_name(name: &str) -> ApiResult<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    if base.len() > 3 && base.ends_with(".py") {
        Ok(base.to_string())
    } else {
        Err(ApiError::bad_request(
            "Only a Python file (a name ending in .py) can be uploaded as a pipeline.",
        ))
    }
}

/// Hands an uploaded pipeline file to the server (multipart `file`).
pub async fn upload(
    state: &AppState,
    caller: &Caller,
    server: &Server,
    file_name: &str,
    content: Vec<u8>,
) -> ApiResult<Value> {
    let url = server.endpoint(&["pipelines", "upload"])?;
    let part = reqwest::multipart::Part::bytes(content)
        .file_name(file_name.to_string())
        .mime_str("application/octet-stream")
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let form = reqwest::multipart::Form::new().part("file", part);
    let data = exchange(server, crate::llm::client().post(url).multipart(form)).await?;
    let subject = data.get("id").and_then(Value::as_str).unwrap_or(file_name);
    let info = json!({"url_idx": server.idx, "filename": file_name});
    announce(state, caller, "pipeline.uploaded", subject, info);
    Ok(data)
}

/// Has the server remove the pipeline `id`.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    server: &Server,
    id: &str,
) -> ApiResult<Value> {
    let url = server.endpoint(&["pipelines", "delete"])?;
    let req = crate::llm::client().delete(url).json(&json!({"id": id}));
    let data = exchange(server, req).await?;
    announce(
        state,
        caller,
        "pipeline.deleted",
        id,
        json!({"url_idx": server.idx}),
    );
    Ok(data)
}

/// A pipeline's current valves, or (`spec`) their JSON schema.
pub async fn valves(server: &Server, pipeline_id: &str, spec: bool) -> ApiResult<Value> {
    let url = if spec {
        server.endpoint(&[pipeline_id, "valves", "spec"])?
    } else {
        server.endpoint(&[pipeline_id, "valves"])?
    };
    exchange(server, crate::llm::client().get(url)).await
}

/// Sets a pipeline's valves to `values` (a JSON object).
pub async fn update_valves(
    state: &AppState,
    caller: &Caller,
    server: &Server,
    pipeline_id: &str,
    values: &Value,
) -> ApiResult<Value> {
    let url = server.endpoint(&[pipeline_id, "valves", "update"])?;
    let data = exchange(server, crate::llm::client().post(url).json(values)).await?;
    let info = json!({"url_idx": server.idx});
    announce(state, caller, "pipeline.valves_updated", pipeline_id, info);
    Ok(data)
}
