//! Anthropic Messages API clients (`POST /api/v1/messages`): the request is
//! answered by the same completion pipeline as `/api/chat/completions`, so
//! every model of the server (Ollama ones, presets, arenas) can be reached
//! with an Anthropic SDK. Connections that speak Messages natively get the
//! request as it is.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use super::complete::{self, Answer};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::llm::anthropic::{self, reply, stream::Converter};
use crate::llm::{self, BoxError, Provider, Relay, RelayBody, ResolvedModel};
use crate::state::AppState;

/// How long a native Messages call may take when not streamed.
const NATIVE_TIMEOUT: Duration = Duration::from_secs(300);

fn model_of(body: &Map<String, Value>) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The OpenAI connection a model is served by, when it is one.
async fn openai_model(state: &AppState, caller: &Caller, model: &str) -> Option<ResolvedModel> {
    if model.is_empty() {
        return None;
    }
    let resolved = llm::resolve(state, caller, model).await.ok()?;
    (resolved.target.provider == Provider::OpenAi).then_some(resolved)
}

/// `POST /api/v1/messages/count_tokens`: the connection's own count.
pub async fn count_tokens(state: &AppState, caller: &Caller, body: Value) -> ApiResult<i64> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let model = model_of(&body);
    if model.is_empty() {
        return Err(ApiError::bad_request("`model` is required."));
    }
    let resolved = llm::resolve(state, caller, &model).await?;
    if resolved.target.provider != Provider::OpenAi {
        return Err(ApiError::not_found(
            "Token counting needs a model served by an OpenAI-compatible connection.",
        ));
    }
    anthropic::count_tokens(&resolved.target, &body)
        .await
        .map_err(|e| {
            tracing::warn!(model = %model, "token count failed: {e}");
            ApiError::BadGateway("The model provider could not count the tokens.".into())
        })
}

/// Answers a Messages request.
pub async fn generate(state: AppState, caller: Caller, body: Value) -> ApiResult<Relay> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let model = model_of(&body);
    let target = openai_model(&state, &caller, &model).await;
    let counted = match &target {
        Some(r) => match anthropic::count_tokens(&r.target, &body).await {
            Ok(n) => Some(n),
            Err(e) => {
                // Counting is a courtesy; the answer does not depend on it.
                tracing::debug!(model = %model, "no input token count: {e}");
                None
            }
        },
        None => None,
    };
    let passthrough = match &target {
        Some(r) if anthropic::is_native(&r.target.base_url, &r.target.api_config) => {
            return Ok(native(&r.target, &body).await);
        }
        Some(r) => anthropic::passthrough_names(&r.target.api_config),
        None => Vec::new(),
    };
    let request = anthropic::to_openai(&body, &passthrough);
    let answer = complete::handle(state, caller, Value::Object(request)).await?;
    Ok(convert(answer, &model, counted))
}

/// Sends the request to a connection that speaks Messages itself.
async fn native(target: &llm::ModelTarget, body: &Map<String, Value>) -> Relay {
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let url = format!("{}/messages", target.base_url);
    let req = llm::title_case_client()
        .post(&url)
        .headers(anthropic::native_headers(target))
        .json(&anthropic::native_payload(body, target));
    llm::forward(req, &target.base_url, stream, Some(NATIVE_TIMEOUT)).await
}

/// The pipeline's answer in Messages terms; errors pass as they are.
fn convert(answer: Answer, model: &str, counted: Option<i64>) -> Relay {
    let relay = match answer {
        Answer::Completion(v) => Relay {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: RelayBody::Json(v),
        },
        Answer::Relay(r) => r,
        // Messages requests carry no chat id or session, so the pipeline
        // answers directly; anything else is passed on unchanged.
        Answer::Started { chat_id, task_ids } => {
            return Relay {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: RelayBody::Json(
                    json!({"status": true, "task_ids": task_ids, "chat_id": chat_id}),
                ),
            }
        }
        Answer::Stored => {
            return Relay {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: RelayBody::Json(Value::Null),
            }
        }
    };
    if !relay.status.is_success() {
        return relay;
    }
    match relay.body {
        RelayBody::Json(v) if v.get("choices").is_some() => Relay {
            status: relay.status,
            headers: HeaderMap::new(),
            body: RelayBody::Json(reply::to_anthropic(&v, model, counted)),
        },
        RelayBody::Stream(s) => {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Relay {
                status: relay.status,
                headers,
                body: RelayBody::Stream(events(s, model, counted)),
            }
        }
        body => Relay { body, ..relay },
    }
}

/// The OpenAI chunk stream re-told as Messages events.
fn events(
    upstream: futures::stream::BoxStream<'static, Result<Bytes, BoxError>>,
    model: &str,
    counted: Option<i64>,
) -> futures::stream::BoxStream<'static, Result<Bytes, BoxError>> {
    let conv = Converter::new(model, counted);
    let first = conv.start();
    let state = (upstream, conv, false);
    let rest = futures::stream::unfold(state, |(mut up, mut conv, done)| async move {
        if done {
            return None;
        }
        loop {
            match up.next().await {
                Some(Ok(bytes)) => {
                    let out = conv.feed(&bytes);
                    if !out.is_empty() {
                        return Some((Ok(Bytes::from(out)), (up, conv, false)));
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!("model stream broke off: {e}");
                    conv.fail("The chat completion stream failed.");
                    let out = conv.finish();
                    return Some((Ok(Bytes::from(out)), (up, conv, true)));
                }
                None => {
                    let out = conv.finish();
                    return Some((Ok(Bytes::from(out)), (up, conv, true)));
                }
            }
        }
    });
    futures::stream::once(async move { Ok::<Bytes, BoxError>(Bytes::from(first)) })
        .chain(rest)
        .boxed()
}
