//! Speech and transcription through the engine the admin configured
//! (Settings → Audio), the voice and model lists the voice picker shows, and
//! realtime voice (`realtime`: calls relayed to a Realtime provider, and the
//! "OpenAI Realtime" read-aloud engine). A model's own call voice (`voice`)
//! and its call avatar (`avatar`) are checked here when a model is saved.
//!
//! Server engines: OpenAI-compatible for both directions, and OpenAI Realtime
//! for reading aloud. The browser's own engines (engine `""` for
//! text-to-speech, "Web API" for speech-to-text) run in the frontend. Other
//! server engines (local Whisper, Azure, Deepgram, ElevenLabs, Mistral)
//! answer an honest 501 naming what is missing.
//!
//! Generated speech is kept in `DATA_DIR/cache/audio/speech/<sha256>.mp3`
//! (with the request in `.json` and the content type in `.mime`), keyed by
//! the request body, the engine and the model, so the same text is spoken
//! once (realtime speech: `<sha256>.wav`, see `realtime`).

pub mod avatar;
pub mod realtime;
pub mod voice;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::{permissions, Caller};
use crate::error::messages::NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Recordings above this size are refused (OpenAI's own limit; upstream
/// splits longer ones with ffmpeg, which this server does not ship).
pub const MAX_RECORDING_BYTES: usize = 25 * 1024 * 1024;
/// Engine answers larger than this are refused.
const MAX_SPEECH_BYTES: usize = 64 * 1024 * 1024;
const ENGINE_TIMEOUT: Duration = Duration::from_secs(300);
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Spoken audio and its content type.
pub struct Speech {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// The client for speech engines. Header names go out title-cased
/// (`Authorization`), as the Python server sends them: some OpenAI-compatible
/// speech servers compare them case-sensitively.
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .http1_title_case_headers()
            .build()
            .expect("the HTTP client builds with static settings")
    })
}

fn cfg(state: &AppState, key: &str) -> String {
    state.config.get_str(key)
}

fn base(state: &AppState, key: &str) -> String {
    cfg(state, key).trim().trim_end_matches('/').to_string()
}

fn bearer(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}")) {
        h.insert(AUTHORIZATION, v);
    }
    h
}

fn not_supported(what: &str, engine: &str) -> ApiError {
    ApiError::NotImplemented(format!(
        "The {what} engine \"{engine}\" is not supported by this server yet; choose an OpenAI-compatible engine in Settings → Audio."
    ))
}

fn external(what: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{what} failed: {detail}"))
}

fn speech_cache_dir(state: &AppState) -> PathBuf {
    state.settings.data_dir.join("cache/audio/speech")
}

/// Reads `body` aloud with the configured text-to-speech engine, from the
/// cache when the same request was spoken before.
pub async fn speech(state: &AppState, caller: &Caller, body: &[u8]) -> ApiResult<Speech> {
    let engine = cfg(state, "audio.tts.engine");
    if engine.is_empty() {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    permissions::require(state, caller, "chat.tts").await?;
    if engine == "openai-realtime" {
        return Ok(Speech {
            bytes: realtime::speak(state, body).await?,
            content_type: "audio/wav".into(),
        });
    }
    let model = cfg(state, "audio.tts.model");
    let mut hasher = Sha256::new();
    hasher.update(body);
    hasher.update(engine.as_bytes());
    hasher.update(model.as_bytes());
    let name = hex::encode(hasher.finalize());
    let dir = speech_cache_dir(state);
    let audio_path = dir.join(format!("{name}.mp3"));
    if let Ok(bytes) = tokio::fs::read(&audio_path).await {
        let content_type = tokio::fs::read_to_string(dir.join(format!("{name}.mime")))
            .await
            .unwrap_or_else(|_| "audio/mpeg".into());
        return Ok(Speech {
            bytes,
            content_type,
        });
    }
    let Ok(Value::Object(mut payload)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::bad_request("Invalid JSON payload"));
    };
    if engine != "openai" {
        return Err(not_supported("text-to-speech", &engine));
    }
    if !payload.get("input").is_some_and(Value::is_string) {
        return Err(ApiError::bad_request(
            "The text to speak (`input`) is missing.",
        ));
    }
    payload.insert("model".into(), json!(model));
    if payload
        .get("voice")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        payload.insert("voice".into(), json!(cfg(state, "audio.tts.voice")));
    }
    if let Value::Object(extra) = state.config.get("audio.tts.openai.params") {
        payload.extend(extra);
    }
    let url = format!(
        "{}/audio/speech",
        base(state, "audio.tts.openai.api_base_url")
    );
    let key = cfg(state, "audio.tts.openai.api_key");
    let resp = client()
        .post(&url)
        .headers(bearer(&key))
        .json(&Value::Object(payload.clone()))
        .timeout(ENGINE_TIMEOUT)
        .send()
        .await
        .map_err(|e| external("Reading aloud", e))?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("audio/mpeg")
        .to_string();
    let bytes = crate::webfetch::read_limited(resp, MAX_SPEECH_BYTES)
        .await
        .map_err(|e| external("Reading aloud", e))?;
    if !status.is_success() {
        let detail = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| crate::llm::error_message(&v))
            .unwrap_or_else(|| status.to_string());
        return Err(external("Reading aloud", detail));
    }
    // The cache is a convenience: a failed write only costs a second call.
    if tokio::fs::create_dir_all(&dir).await.is_ok() {
        let _ = tokio::fs::write(
            dir.join(format!("{name}.json")),
            Value::Object(payload).to_string(),
        )
        .await;
        let _ = tokio::fs::write(dir.join(format!("{name}.mime")), &content_type).await;
        let _ = tokio::fs::write(&audio_path, &bytes).await;
    }
    Ok(Speech {
        bytes,
        content_type,
    })
}

/// A recording to transcribe.
pub struct Recording {
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
    pub language: Option<String>,
}

/// Whether `content_type` is one of `supported` (`audio/*` style wildcards
/// allowed; `audio/*` and `video/webm` when the setting is empty).
fn content_type_supported(supported: &[String], content_type: &str) -> bool {
    let defaults = ["audio/*".to_string(), "video/webm".to_string()];
    let list: Vec<&String> = supported
        .iter()
        .filter(|s| s.contains('/') && !s.trim().is_empty())
        .collect();
    let list: Vec<&String> = if list.is_empty() {
        defaults.iter().collect()
    } else {
        list
    };
    let ct = crate::limits::media_type(content_type);
    let Some((kind, sub)) = ct.split_once('/') else {
        return false;
    };
    list.iter().any(|s| {
        let s = s.trim().to_ascii_lowercase();
        match s.split_once('/') {
            Some((k, "*")) => k == kind || k == "*",
            Some((k, v)) => k == kind && v == sub,
            None => false,
        }
    })
}

fn str_list(v: Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Checks a recording against the permission, the accepted types,
/// extensions and size, before anything is stored or sent.
pub async fn check_recording(
    state: &AppState,
    caller: &Caller,
    filename: &str,
    content_type: Option<&str>,
) -> ApiResult<()> {
    permissions::require(state, caller, "chat.stt").await?;
    let supported = str_list(state.config.get("audio.stt.supported_content_types"));
    if !content_type_supported(&supported, content_type.unwrap_or("")) {
        return Err(ApiError::bad_request(
            "This file type is not supported for transcription.",
        ));
    }
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let allowed = str_list(state.config.get("audio.stt.allowed_extensions"));
    if !allowed.is_empty() && !allowed.contains(&ext) {
        return Err(ApiError::bad_request("Invalid audio file extension"));
    }
    Ok(())
}

/// Transcribes a recording with the configured speech-to-text engine:
/// `{"text": …, "filename": …}` as upstream answers.
pub async fn transcribe(state: &AppState, rec: Recording) -> ApiResult<Value> {
    let engine = cfg(state, "audio.stt.engine");
    if engine != "openai" {
        let name = if engine.is_empty() {
            "local Whisper"
        } else {
            engine.as_str()
        };
        return Err(not_supported("speech-to-text", name));
    }
    if rec.bytes.len() > MAX_RECORDING_BYTES {
        return Err(ApiError::bad_request(format!(
            "The recording is larger than {} MB.",
            MAX_RECORDING_BYTES / (1024 * 1024)
        )));
    }
    let ext = rec
        .filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let stored_name = format!("{}.{}", uuid::Uuid::new_v4(), ext);
    let url = format!(
        "{}/audio/transcriptions",
        base(state, "audio.stt.openai.api_base_url")
    );
    let key = cfg(state, "audio.stt.openai.api_key");
    let model = cfg(state, "audio.stt.model");
    let json_format =
        cfg(state, "audio.stt.openai.api_request_format").eq_ignore_ascii_case("json");
    // As upstream: the language asked for first, then none if that fails.
    let languages = [rec.language.clone().filter(|l| !l.is_empty()), None];
    let mut last_err = String::new();
    for (i, language) in languages.iter().enumerate() {
        if i > 0 && language.is_none() && languages[0].is_none() {
            break;
        }
        let mut req = client()
            .post(&url)
            .headers(bearer(&key))
            .timeout(ENGINE_TIMEOUT);
        if json_format {
            use base64::Engine as _;
            let mut payload = Map::new();
            payload.insert("model".into(), json!(model));
            if let Some(l) = language {
                payload.insert("language".into(), json!(l));
            }
            let format = if ext == "oga" {
                "ogg".to_string()
            } else if ext.is_empty() {
                "wav".into()
            } else {
                ext.clone()
            };
            payload.insert(
                "input_audio".into(),
                json!({"data": base64::engine::general_purpose::STANDARD.encode(&rec.bytes), "format": format}),
            );
            req = req.json(&Value::Object(payload));
        } else {
            let mut form = reqwest::multipart::Form::new().text("model", model.clone());
            if let Some(l) = language {
                form = form.text("language", l.clone());
            }
            let mut part =
                reqwest::multipart::Part::bytes(rec.bytes.clone()).file_name(stored_name.clone());
            if let Some(ct) = &rec.content_type {
                part = part
                    .mime_str(ct)
                    .map_err(|e| external("Transcription", e))?;
            }
            req = req.multipart(form.part("file", part));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                last_err = e.to_string();
                continue;
            }
        };
        let status = resp.status();
        let body = crate::webfetch::read_limited(resp, MAX_SPEECH_BYTES)
            .await
            .map_err(|e| external("Transcription", e))?;
        let parsed = serde_json::from_slice::<Value>(&body).ok();
        if status.is_success() {
            let text = parsed
                .as_ref()
                .and_then(|v| v.get("text"))
                .and_then(Value::as_str)
                .ok_or_else(|| external("Transcription", "the engine's answer has no text"))?;
            return Ok(json!({"text": text, "filename": stored_name}));
        }
        last_err = parsed
            .as_ref()
            .and_then(crate::llm::error_message)
            .unwrap_or_else(|| status.to_string());
    }
    Err(external("Transcription", last_err))
}

/// The text-to-speech models of the configured engine, as `[{id, …}]`.
pub async fn models(state: &AppState) -> ApiResult<Vec<Value>> {
    let engine = cfg(state, "audio.tts.engine");
    let fixed = |ids: &[&str]| ids.iter().map(|id| json!({"id": id})).collect();
    match engine.as_str() {
        "" => Ok(Vec::new()),
        "openai" => {
            let base = base(state, "audio.tts.openai.api_base_url");
            if base.starts_with("https://api.openai.com") {
                return Ok(fixed(&["tts-1", "tts-1-hd"]));
            }
            if let Some(v) = get_json(&format!("{base}/audio/models"), None).await {
                return Ok(list_of(&v, "models"));
            }
            if let Some(v) = get_json(&format!("{base}/models"), None).await {
                let key = if v.get("data").is_some() {
                    "data"
                } else {
                    "models"
                };
                return Ok(list_of(&v, key));
            }
            Ok(fixed(&["tts-1", "tts-1-hd"]))
        }
        "openai-realtime" => Ok(fixed(&["gpt-realtime-2.1-mini", "gpt-realtime-2.1"])),
        "mistral" => Ok(fixed(&["voxtral-mini-tts-2603"])),
        _ => Ok(Vec::new()),
    }
}

/// The voices of the configured engine, as `[{id, name}]`.
pub async fn voices(state: &AppState) -> ApiResult<Vec<Value>> {
    let engine = cfg(state, "audio.tts.engine");
    let named = |ids: &[&str]| ids.iter().map(|id| json!({"id": id, "name": id})).collect();
    let openai_defaults = ["alloy", "echo", "fable", "onyx", "nova", "shimmer"];
    match engine.as_str() {
        "openai-realtime" => Ok(named(&[
            "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
        ])),
        "openai" => {
            let base = base(state, "audio.tts.openai.api_base_url");
            if base.starts_with("https://api.openai.com") {
                return Ok(named(&openai_defaults));
            }
            match get_json(&format!("{base}/audio/voices"), None).await {
                Some(v) => Ok(v["voices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| {
                        Some(json!({"id": x.get("id")?.clone(), "name": x.get("name")?.clone()}))
                    })
                    .collect()),
                None => Ok(named(&openai_defaults)),
            }
        }
        _ => Ok(Vec::new()),
    }
}

fn list_of(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn get_json(url: &str, headers: Option<HeaderMap>) -> Option<Value> {
    let mut req = client().get(url).timeout(LIST_TIMEOUT);
    if let Some(h) = headers {
        req = req.headers(h);
    }
    let resp = req.send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body = crate::webfetch::read_limited(resp, 4 * 1024 * 1024)
        .await
        .ok()?;
    serde_json::from_slice(&body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_match_like_upstream() {
        let none: Vec<String> = vec![];
        assert!(content_type_supported(&none, "audio/wav"));
        assert!(content_type_supported(&none, "video/webm;codecs=opus"));
        assert!(!content_type_supported(&none, "video/mp4"));
        assert!(!content_type_supported(&none, ""));
        let only = vec!["audio/mpeg".to_string()];
        assert!(content_type_supported(&only, "audio/mpeg"));
        assert!(!content_type_supported(&only, "audio/wav"));
    }
}
