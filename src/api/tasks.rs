//! `/api/v1/tasks`: the task settings of the admin "Interface" page and the
//! one-shot task endpoints the frontend calls (title, tags, queries, emoji,
//! autocomplete…). Answers are OpenAI `chat.completion` objects whose content
//! is the JSON the frontend parses.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::auth::Caller;
use crate::chat::{history, prompts};
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tasks/config", get(get_config))
        .route("/api/v1/tasks/config/update", post(set_config))
        .route("/api/v1/tasks/title/completions", post(title))
        .route("/api/v1/tasks/tags/completions", post(tags))
        .route("/api/v1/tasks/follow_up/completions", post(follow_up))
        .route("/api/v1/tasks/queries/completions", post(queries))
        .route("/api/v1/tasks/emoji/completions", post(emoji))
        .route("/api/v1/tasks/auto/completions", post(autocomplete))
        .route("/api/v1/tasks/image_prompt/completions", post(image_prompt))
        .route("/api/v1/tasks/moa/completions", post(moa))
}

const KEYS: &[(&str, &str)] = &[
    ("TASK_MODEL", "task.model.default"),
    ("TASK_MODEL_EXTERNAL", "task.model.external"),
    ("TASK_MODEL_PARAMS", "task.model.params"),
    (
        "TITLE_GENERATION_PROMPT_TEMPLATE",
        "task.title.prompt_template",
    ),
    (
        "IMAGE_PROMPT_GENERATION_PROMPT_TEMPLATE",
        "task.image.prompt_template",
    ),
    ("ENABLE_AUTOCOMPLETE_GENERATION", "task.autocomplete.enable"),
    (
        "AUTOCOMPLETE_GENERATION_INPUT_MAX_LENGTH",
        "task.autocomplete.input_max_length",
    ),
    (
        "AUTOCOMPLETE_GENERATION_PROMPT_TEMPLATE",
        "task.autocomplete.prompt_template",
    ),
    (
        "TAGS_GENERATION_PROMPT_TEMPLATE",
        "task.tags.prompt_template",
    ),
    (
        "FOLLOW_UP_GENERATION_PROMPT_TEMPLATE",
        "task.follow_up.prompt_template",
    ),
    ("ENABLE_FOLLOW_UP_GENERATION", "task.follow_up.enable"),
    ("ENABLE_TAGS_GENERATION", "task.tags.enable"),
    ("ENABLE_TITLE_GENERATION", "task.title.enable"),
    ("ENABLE_SEARCH_QUERY_GENERATION", "task.query.search.enable"),
    (
        "ENABLE_RETRIEVAL_QUERY_GENERATION",
        "task.query.retrieval.enable",
    ),
    (
        "QUERY_GENERATION_PROMPT_TEMPLATE",
        "task.query.prompt_template",
    ),
    (
        "TOOLS_FUNCTION_CALLING_PROMPT_TEMPLATE",
        "task.tools.prompt_template",
    ),
    ("ENABLE_VOICE_MODE_PROMPT", "task.voice.prompt.enable"),
    ("VOICE_MODE_PROMPT_TEMPLATE", "task.voice.prompt_template"),
];

fn config_values(state: &AppState) -> Value {
    let mut m = Map::new();
    for (wire, key) in KEYS {
        let mut v = state.config.get(key);
        if v.is_null()
            && (wire.ends_with("TEMPLATE")
                || wire.starts_with("TASK_MODEL") && !wire.ends_with("PARAMS"))
        {
            v = json!("");
        }
        m.insert(wire.to_string(), v);
    }
    Value::Object(m)
}

async fn get_config(State(state): State<AppState>, VerifiedUser(_c): VerifiedUser) -> Json<Value> {
    Json(config_values(&state))
}

async fn set_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut updates = Vec::new();
    for (wire, key) in KEYS {
        let Some(v) = form.get(*wire) else { continue };
        let current = state.config.get(key);
        let ok = match (&current, v) {
            (Value::Bool(_), Value::Bool(_)) => true,
            (Value::Bool(_), _) => false,
            (Value::Number(_), Value::Number(_)) => true,
            (Value::Number(_), _) => false,
            _ => true,
        };
        if !ok {
            return Err(ApiError::bad_request(format!("{wire} has the wrong type.")));
        }
        updates.push((
            *key,
            if v.is_null() && *wire == "TASK_MODEL_PARAMS" {
                json!({})
            } else {
                v.clone()
            },
        ));
    }
    state.config.set_many(updates).await?;
    Ok(Json(config_values(&state)))
}

fn messages_of(form: &Map<String, Value>) -> Vec<Value> {
    form.get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn model_of(form: &Map<String, Value>) -> ApiResult<String> {
    form.get("model")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("`model` is required."))
}

fn template(state: &AppState, key: &str, ours: &str) -> String {
    let t = state.config.get_str(key);
    if t.trim().is_empty() {
        ours.to_string()
    } else {
        t
    }
}

/// Runs a rendered prompt on the task model (or the given one) and returns the
/// provider's `chat.completion`.
async fn run(
    state: &AppState,
    caller: &Caller,
    model: &str,
    prompt: String,
) -> ApiResult<Json<Value>> {
    let mut resolved = None;
    for key in ["task.model.external", "task.model.default"] {
        let id = state.config.get_str(key);
        if !id.is_empty() {
            if let Ok(m) = llm::resolve(state, caller, &id).await {
                resolved = Some(m);
                break;
            }
        }
    }
    let resolved = match resolved {
        Some(m) => m,
        None => llm::resolve(state, caller, model).await?,
    };
    let body = json!({
        "model": resolved.target.upstream_id,
        "messages": [{"role": "user", "content": prompt}],
        "stream": false,
        "max_tokens": 1000,
    });
    let done = llm::complete(&resolved.target, body)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(done.raw))
}

fn render(
    state: &AppState,
    form: &Map<String, Value>,
    caller: &Caller,
    key: &str,
    ours: &str,
) -> String {
    let transcript = history::transcript(&messages_of(form));
    let prompt = form.get("prompt").and_then(Value::as_str).unwrap_or("");
    let kind = form.get("type").and_then(Value::as_str).unwrap_or("");
    prompts::render(&template(state, key, ours), &transcript, &caller.user.name)
        .replace("{{PROMPT}}", prompt)
        .replace("{{TYPE}}", kind)
}

fn disabled(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{what} generation is disabled by the administrator."
    ))
}

async fn title(
    State(s): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    JsonBody(f): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    if !s.config.get_bool("task.title.enable") {
        return Err(disabled("Title"));
    }
    let p = render(&s, &f, &c, "task.title.prompt_template", prompts::TITLE);
    run(&s, &c, &model_of(&f)?, p).await
}

async fn tags(
    State(s): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    JsonBody(f): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    if !s.config.get_bool("task.tags.enable") {
        return Err(disabled("Tags"));
    }
    let p = render(&s, &f, &c, "task.tags.prompt_template", prompts::TAGS);
    run(&s, &c, &model_of(&f)?, p).await
}

async fn follow_up(
    State(s): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    JsonBody(f): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    if !s.config.get_bool("task.follow_up.enable") {
        return Err(disabled("Follow-up"));
    }
    let p = render(
        &s,
        &f,
        &c,
        "task.follow_up.prompt_template",
        prompts::FOLLOW_UPS,
    );
    run(&s, &c, &model_of(&f)?, p).await
}

async fn queries(
    State(s): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    JsonBody(f): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let kind = f.get("type").and_then(Value::as_str).unwrap_or("");
    let enabled = match kind {
        "web_search" => s.config.get_bool("task.query.search.enable"),
        "retrieval" => s.config.get_bool("task.query.retrieval.enable"),
        _ => true,
    };
    if !enabled {
        return Err(disabled("Query"));
    }
    let p = render(&s, &f, &c, "task.query.prompt_template", prompts::QUERIES);
    run(&s, &c, &model_of(&f)?, p).await
}

async fn emoji(
    State(s): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    JsonBody(f): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let p = render(&s, &f, &c, "task.emoji.prompt_template", prompts::EMOJI);
    run(&s, &c, &model_of(&f)?, p).await
}

async fn autocomplete(
    State(s): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    JsonBody(f): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    if !s.config.get_bool("task.autocomplete.enable") {
        return Err(disabled("Autocomplete"));
    }
    let max = s
        .config
        .get("task.autocomplete.input_max_length")
        .as_i64()
        .unwrap_or(-1);
    let prompt_len = f
        .get("prompt")
        .and_then(Value::as_str)
        .map(|p| p.chars().count())
        .unwrap_or(0) as i64;
    if max > 0 && prompt_len > max {
        return Err(ApiError::bad_request(format!(
            "The input is longer than the autocomplete limit of {max} characters."
        )));
    }
    let p = render(
        &s,
        &f,
        &c,
        "task.autocomplete.prompt_template",
        prompts::AUTOCOMPLETE,
    );
    run(&s, &c, &model_of(&f)?, p).await
}

async fn image_prompt(
    State(s): State<AppState>,
    VerifiedUser(c): VerifiedUser,
    JsonBody(f): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let p = render(
        &s,
        &f,
        &c,
        "task.image.prompt_template",
        prompts::IMAGE_PROMPT,
    );
    run(&s, &c, &model_of(&f)?, p).await
}

/// Merging several models' answers ("mixture of agents"): one completion of the
/// chosen model over our merge prompt, answered like `/api/chat/completions`
/// answers API clients (SSE when `stream` is true).
async fn moa(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<Value>,
) -> ApiResult<axum::response::Response> {
    let model = form
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("`model` is required."))?
        .to_string();
    let prompt = form
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("`prompt` is required."))?;
    let responses: Vec<String> = form
        .get("responses")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("`responses` must be a list of answers."))?
        .iter()
        .map(|r| r.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::bad_request("`responses` must be a list of strings."))?;
    let content = prompts::render_merge(prompt, &responses);
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "stream": form.get("stream").and_then(Value::as_bool).unwrap_or(false),
    });
    crate::chat::complete::handle(state, caller, body)
        .await
        .map(axum::response::IntoResponse::into_response)
}
