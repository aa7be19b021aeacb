//! `/api/v1/audio`: the admin settings of speech-to-text, text-to-speech and
//! realtime voice, and speaking, transcribing and the voice picker's lists
//! (the work is in `crate::audio`).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::configs::{opt, req, updates, values, Field, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::audio;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audio/config", get(get_config))
        .route("/api/v1/audio/config/update", post(update_config))
        .route("/api/v1/audio/speech", post(speech))
        .route(
            "/api/v1/audio/transcriptions",
            post(transcriptions).layer(DefaultBodyLimit::max(
                crate::audio::MAX_RECORDING_BYTES + 1024 * 1024,
            )),
        )
        .route("/api/v1/audio/models", get(models))
        .route("/api/v1/audio/voices", get(voices))
}

const TTS: &[Field] = &[
    req(
        "OPENAI_API_BASE_URL",
        "audio.tts.openai.api_base_url",
        Kind::Str,
    ),
    req("OPENAI_API_KEY", "audio.tts.openai.api_key", Kind::Str),
    opt("OPENAI_PARAMS", "audio.tts.openai.params", Kind::OptObject),
    req("API_KEY", "audio.tts.api_key", Kind::Str),
    req("ENGINE", "audio.tts.engine", Kind::Str),
    req("MODEL", "audio.tts.model", Kind::Str),
    req("VOICE", "audio.tts.voice", Kind::Str),
    opt(
        "REALTIME_TTS_PROMPT_TEMPLATE",
        "audio.tts.realtime.prompt_template",
        Kind::OptStr,
    ),
    req("SPLIT_ON", "audio.tts.split_on", Kind::Str),
    req(
        "AZURE_SPEECH_REGION",
        "audio.tts.azure.speech_region",
        Kind::Str,
    ),
    req(
        "AZURE_SPEECH_BASE_URL",
        "audio.tts.azure.speech_base_url",
        Kind::Str,
    ),
    req(
        "AZURE_SPEECH_OUTPUT_FORMAT",
        "audio.tts.azure.speech_output_format",
        Kind::Str,
    ),
    req("MISTRAL_API_KEY", "audio.tts.mistral.api_key", Kind::Str),
    req(
        "MISTRAL_API_BASE_URL",
        "audio.tts.mistral.api_base_url",
        Kind::Str,
    ),
];

const STT: &[Field] = &[
    req(
        "OPENAI_API_BASE_URL",
        "audio.stt.openai.api_base_url",
        Kind::Str,
    ),
    req("OPENAI_API_KEY", "audio.stt.openai.api_key", Kind::Str),
    opt(
        "OPENAI_API_REQUEST_FORMAT",
        "audio.stt.openai.api_request_format",
        Kind::Str,
    ),
    req("ENGINE", "audio.stt.engine", Kind::Str),
    req("MODEL", "audio.stt.model", Kind::Str),
    opt(
        "SUPPORTED_CONTENT_TYPES",
        "audio.stt.supported_content_types",
        Kind::List,
    ),
    opt(
        "ALLOWED_EXTENSIONS",
        "audio.stt.allowed_extensions",
        Kind::List,
    ),
    req("WHISPER_MODEL", "audio.stt.whisper_model", Kind::Str),
    req("DEEPGRAM_API_KEY", "audio.stt.deepgram.api_key", Kind::Str),
    req("AZURE_API_KEY", "audio.stt.azure.api_key", Kind::Str),
    req("AZURE_REGION", "audio.stt.azure.region", Kind::Str),
    req("AZURE_LOCALES", "audio.stt.azure.locales", Kind::Str),
    req("AZURE_BASE_URL", "audio.stt.azure.base_url", Kind::Str),
    req(
        "AZURE_MAX_SPEAKERS",
        "audio.stt.azure.max_speakers",
        Kind::Str,
    ),
    req("MISTRAL_API_KEY", "audio.stt.mistral.api_key", Kind::Str),
    req(
        "MISTRAL_API_BASE_URL",
        "audio.stt.mistral.api_base_url",
        Kind::Str,
    ),
    req(
        "MISTRAL_USE_CHAT_COMPLETIONS",
        "audio.stt.mistral.use_chat_completions",
        Kind::Bool,
    ),
];

const REALTIME: &[Field] = &[
    opt("ENABLED", "audio.realtime.enabled", Kind::Bool),
    opt("PROVIDER", "audio.realtime.provider", Kind::Str),
    opt("AUTH_TYPE", "audio.realtime.auth_type", Kind::Str),
    opt(
        "OPENAI_API_BASE_URL",
        "audio.realtime.openai.api_base_url",
        Kind::Str,
    ),
    opt("OPENAI_API_KEY", "audio.realtime.openai.api_key", Kind::Str),
    opt("MODEL", "audio.realtime.model", Kind::Str),
    opt("VOICE", "audio.realtime.voice", Kind::Str),
    opt(
        "TRANSCRIPTION_MODEL",
        "audio.realtime.transcription_model",
        Kind::Str,
    ),
    opt(
        "INPUT_PARAMS",
        "audio.realtime.input_params",
        Kind::OptObject,
    ),
    opt(
        "REALTIME_CALL_PROMPT_TEMPLATE",
        "audio.realtime.prompt_template",
        Kind::OptStr,
    ),
];

fn config_values(state: &AppState) -> Value {
    json!({
        "realtime": values(state, REALTIME),
        "tts": values(state, TTS),
        "stt": values(state, STT),
    })
}

async fn get_config(State(state): State<AppState>, AdminUser(_a): AdminUser) -> Json<Value> {
    Json(config_values(&state))
}

fn section<'a>(
    form: &'a Map<String, Value>,
    name: &str,
) -> ApiResult<Option<&'a Map<String, Value>>> {
    match form.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ApiError::Validation(json!([{
            "loc": ["body", name],
            "msg": "Input should be a valid dictionary",
            "type": "dict_type",
        }]))),
    }
}

/// Saves the sections sent; fields a section leaves out keep their values.
async fn update_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut all = Vec::new();
    for (name, fields, required) in [
        ("tts", TTS, true),
        ("stt", STT, true),
        ("realtime", REALTIME, false),
    ] {
        match section(&form, name)? {
            Some(m) => {
                if let Some(p) = m.get("PROVIDER").and_then(Value::as_str) {
                    if name == "realtime" && !["openai", "azure"].contains(&p) {
                        return Err(ApiError::bad_request("PROVIDER must be openai or azure."));
                    }
                }
                all.extend(updates(m, fields, false)?);
            }
            None if required => {
                return Err(ApiError::Validation(json!([{
                    "loc": ["body", name], "msg": "Field required", "type": "missing",
                }])))
            }
            None => {}
        }
    }
    state.config.set_many(all).await?;
    Ok(Json(config_values(&state)))
}

async fn speech(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    body: Bytes,
) -> ApiResult<Response> {
    let spoken = audio::speech(&state, &caller, &body).await?;
    Ok(([(header::CONTENT_TYPE, spoken.content_type)], spoken.bytes).into_response())
}

async fn transcriptions(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    mut mp: Multipart,
) -> ApiResult<Json<Value>> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("The upload could not be read: {}", e.body_text()))
    };
    let mut recording: Option<audio::Recording> = None;
    let mut language = None;
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name() {
            Some("file") if recording.is_none() => {
                let filename = field
                    .file_name()
                    .map(crate::files::sanitize_filename)
                    .unwrap_or_default();
                let content_type = field.content_type().map(str::to_string);
                audio::check_recording(&state, &caller, &filename, content_type.as_deref()).await?;
                let bytes = field.bytes().await.map_err(bad)?.to_vec();
                recording = Some(audio::Recording {
                    filename,
                    content_type,
                    bytes,
                    language: None,
                });
            }
            Some("language") => language = Some(field.text().await.map_err(bad)?),
            _ => {}
        }
    }
    let Some(mut rec) = recording else {
        return Err(ApiError::Validation(json!([{
            "type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": null
        }])));
    };
    rec.language = language;
    Ok(Json(audio::transcribe(&state, rec).await?))
}

async fn models(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"models": audio::models(&state).await?})))
}

async fn voices(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"voices": audio::voices(&state).await?})))
}
