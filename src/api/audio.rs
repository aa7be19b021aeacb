//! `/api/v1/audio`: the admin settings of speech-to-text, text-to-speech and
//! realtime voice, speaking, transcribing, the voice picker's lists, and the
//! WebSocket of realtime voice calls (the work is in `crate::audio`; the call
//! itself in `crate::audio::realtime`).

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
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
        .route("/api/v1/audio/realtime", get(realtime_call))
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
                if name == "realtime" {
                    check_realtime(m)?;
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

fn realtime_invalid(field: &str, msg: &str, typ: &str) -> ApiError {
    ApiError::Validation(json!([{
        "loc": ["body", "realtime", field], "msg": msg, "type": typ,
    }]))
}

/// The realtime section's own rules (upstream's `RealtimeConfigForm`): a
/// known provider and sign-in type, and model, voice and transcription model
/// of 1 to 200 characters.
fn check_realtime(m: &Map<String, Value>) -> ApiResult<()> {
    for (field, allowed) in [
        ("PROVIDER", &["openai", "azure"][..]),
        ("AUTH_TYPE", &["api_key", "microsoft_entra_id"][..]),
    ] {
        if let Some(v) = m.get(field) {
            if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
                let expected = allowed
                    .iter()
                    .map(|a| format!("'{a}'"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                return Err(realtime_invalid(
                    field,
                    &format!("Input should be {expected}"),
                    "literal_error",
                ));
            }
        }
    }
    for field in ["MODEL", "VOICE", "TRANSCRIPTION_MODEL"] {
        if let Some(Value::String(s)) = m.get(field) {
            let n = s.chars().count();
            if n == 0 {
                return Err(realtime_invalid(
                    field,
                    "String should have at least 1 character",
                    "string_too_short",
                ));
            }
            if n > 200 {
                return Err(realtime_invalid(
                    field,
                    "String should have at most 200 characters",
                    "string_too_long",
                ));
            }
        }
    }
    Ok(())
}

/// Browser frames above this size break the connection; below it, the call
/// refuses events over `audio::realtime::MAX_EVENT_BYTES` with its own message.
const MAX_CALL_FRAME_BYTES: usize = 2 * audio::realtime::MAX_EVENT_BYTES;

/// A realtime voice call: the WebSocket is accepted as it is (its first
/// message signs in) and handed to `audio::realtime::run`.
async fn realtime_call(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(MAX_CALL_FRAME_BYTES)
        .max_frame_size(MAX_CALL_FRAME_BYTES)
        .on_upgrade(move |socket| relay_call(state, socket))
}

async fn relay_call(state: AppState, socket: WebSocket) {
    let (sink, stream) = socket.split();
    // Text and binary messages go to the call; pings are answered by axum;
    // a close or a broken connection ends the stream.
    let from = stream
        .take_while(|m| {
            futures::future::ready(matches!(
                m,
                Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_))
            ))
        })
        .filter_map(|m| {
            futures::future::ready(match m {
                Ok(Message::Text(t)) => {
                    Some(audio::realtime::FromBrowser::Text(t.as_str().to_owned()))
                }
                Ok(Message::Binary(_)) => Some(audio::realtime::FromBrowser::Binary),
                _ => None,
            })
        });
    let mut from = Box::pin(from);
    let mut to = sink.with(|text: String| {
        futures::future::ready(Ok::<_, axum::Error>(Message::Text(text.into())))
    });
    audio::realtime::run(state, &mut from, &mut to).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), to.close()).await;
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
