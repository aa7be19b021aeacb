//! Reading text aloud with the "OpenAI Realtime" text-to-speech engine: one
//! Realtime session per text, configured with the voice and the renderer
//! prompt (the admin's template, else ours), asked for one audio response
//! reading the text; its 24 kHz PCM comes back as a WAV file. The same text,
//! model, voice, address and prompt are answered from
//! `DATA_DIR/cache/audio/speech/<sha256>.wav`. Provider errors become our own
//! sentences: its words may repeat the text or the key.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::provider::{self, Incoming, OpenError, Provider};
use super::settings::{socket_url, valid_base, DEFAULT_SPEECH_PROMPT};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const SAMPLE_RATE: u32 = 24_000;
const CONNECT_WAIT: Duration = Duration::from_secs(15);
const TOTAL_WAIT: Duration = Duration::from_secs(120);
const SEND_WAIT: Duration = Duration::from_secs(10);
/// One provider event (an audio delta) at most this large.
const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;
/// The whole recording at most this large (about 20 minutes).
const MAX_PCM_BYTES: usize = 64 * 1024 * 1024;

fn invalid_data() -> ApiError {
    ApiError::BadGateway("OpenAI Realtime returned invalid audio or event data.".into())
}

/// What is read, by which model and voice, at which address, with which prompt.
struct Request {
    input: String,
    model: String,
    voice: String,
    api_base_url: String,
    instructions: String,
}

fn nonempty(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn request(state: &AppState, body: &[u8]) -> ApiResult<Request> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Invalid JSON payload"))?;
    let Value::Object(payload) = payload else {
        return Err(ApiError::bad_request("Speech payload must be an object."));
    };
    let input = match payload.get("input") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        _ => return Err(ApiError::bad_request("Speech input must be nonempty text.")),
    };
    let config = &state.config;
    // A voice the request names, else the admin's.
    let voice = match payload.get("voice") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => config.get("audio.tts.voice"),
        Some(Value::String(s)) if s.is_empty() => config.get("audio.tts.voice"),
        Some(v) => v.clone(),
    };
    let (Some(model), Some(voice), Some(base)) = (
        nonempty(&config.get("audio.tts.model")),
        nonempty(&voice),
        nonempty(&config.get("audio.tts.openai.api_base_url")),
    ) else {
        return Err(ApiError::bad_request(
            "Configure the OpenAI Realtime model, voice, and API base URL.",
        ));
    };
    let api_base_url = base.trim_end_matches('/').to_string();
    if valid_base(&api_base_url).is_none() {
        return Err(ApiError::bad_request(
            "OpenAI Realtime requires an HTTP(S) API base URL without credentials or a query.",
        ));
    }
    let template = config.get_str("audio.tts.realtime.prompt_template");
    let instructions = if template.is_empty() {
        DEFAULT_SPEECH_PROMPT.to_string()
    } else {
        template
    };
    Ok(Request {
        input,
        model,
        voice,
        api_base_url,
        instructions,
    })
}

/// The cache name: everything that changes what is spoken.
fn cache_name(r: &Request) -> String {
    let key = json!({
        "engine": "openai-realtime",
        "input": r.input,
        "model": r.model,
        "voice": r.voice,
        "api_base_url": r.api_base_url,
        "instructions": r.instructions,
    });
    hex::encode(Sha256::digest(key.to_string().as_bytes()))
}

/// Reads the text in `body` (`{"input": …, "voice"?: …}`) aloud: a WAV file.
pub async fn speak(state: &AppState, body: &[u8]) -> ApiResult<Vec<u8>> {
    let r = request(state, body)?;
    let dir = state.settings.data_dir.join("cache/audio/speech");
    let path = dir.join(format!("{}.wav", cache_name(&r)));
    if let Ok(cached) = tokio::fs::read(&path).await {
        return Ok(cached);
    }
    let key = state.config.get_str("audio.tts.openai.api_key");
    if key.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Configure an OpenAI Realtime API key.",
        ));
    }
    let pcm = tokio::time::timeout(TOTAL_WAIT, synthesize(&r, &key))
        .await
        .map_err(|_| {
            ApiError::GatewayTimeout("OpenAI Realtime speech synthesis timed out.".into())
        })??;
    let wav = wav(&pcm);
    // Publish only complete files; simultaneous requests may speak the same text.
    if tokio::fs::create_dir_all(&dir).await.is_ok() {
        let partial = dir.join(format!("{}.tmp", uuid::Uuid::new_v4()));
        if tokio::fs::write(&partial, &wav).await.is_ok()
            && tokio::fs::rename(&partial, &path).await.is_err()
        {
            let _ = tokio::fs::remove_file(&partial).await;
        }
    }
    Ok(wav)
}

async fn send(ws: &mut Provider, event: Value) -> ApiResult<()> {
    ws.send(&event, SEND_WAIT).await.map_err(|_| {
        ApiError::BadGateway("OpenAI Realtime closed before speech generation completed.".into())
    })
}

/// One session: configure, ask for the reading, collect its audio.
async fn synthesize(r: &Request, key: &str) -> ApiResult<Vec<u8>> {
    let base = valid_base(&r.api_base_url).ok_or_else(invalid_data)?;
    let url = socket_url(&base, &r.model);
    let headers = [("authorization", format!("Bearer {key}"))];
    let mut ws = provider::open(&url, &headers, MAX_EVENT_BYTES, CONNECT_WAIT)
        .await
        .map_err(|e| match e {
            OpenError::TimedOut => {
                ApiError::GatewayTimeout("OpenAI Realtime speech synthesis timed out.".into())
            }
            OpenError::Refused(status) => ApiError::BadGateway(format!(
                "OpenAI Realtime connection rejected (HTTP {status})."
            )),
            OpenError::Unreachable => {
                ApiError::BadGateway("Could not connect to OpenAI Realtime.".into())
            }
        })?;
    let outcome = collect(&mut ws, r).await;
    ws.close().await;
    outcome
}

async fn collect(ws: &mut Provider, r: &Request) -> ApiResult<Vec<u8>> {
    let mut pcm = Vec::new();
    let mut response_id: Option<String> = None;
    loop {
        let raw = match ws.next().await {
            Incoming::Text(raw) => raw,
            Incoming::Binary => continue,
            Incoming::Closed => {
                return Err(ApiError::BadGateway(
                    "OpenAI Realtime closed before speech generation completed.".into(),
                ))
            }
        };
        let event: Value = serde_json::from_str(&raw).map_err(|_| invalid_data())?;
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(invalid_data)?;
        match kind {
            // Provider messages may contain the input text or credentials.
            "error" => {
                return Err(ApiError::BadGateway(
                    "OpenAI Realtime rejected synthesis. Check the model, voice, and key.".into(),
                ))
            }
            "session.created" => {
                let update = json!({
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["audio"],
                        "audio": {
                            "input": {"turn_detection": null, "transcription": null},
                            "output": {
                                "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                                "voice": r.voice,
                            },
                        },
                        "tools": [],
                        "tool_choice": "none",
                        "instructions": r.instructions,
                    },
                });
                send(ws, update).await?;
            }
            "session.updated" => {
                let ask = json!({
                    "type": "response.create",
                    "response": {
                        "conversation": "none",
                        "output_modalities": ["audio"],
                        "tools": [],
                        "tool_choice": "none",
                        "instructions": r.instructions,
                        "input": [{
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": r.input}],
                        }],
                    },
                });
                send(ws, ask).await?;
            }
            "response.created" => {
                let id = event
                    .get("response")
                    .and_then(|r| r.get("id"))
                    .and_then(Value::as_str)
                    .ok_or_else(invalid_data)?;
                response_id = Some(id.to_string());
            }
            "response.output_audio.delta"
                if response_id.is_some()
                    && event.get("response_id").and_then(Value::as_str)
                        == response_id.as_deref() =>
            {
                let delta = event
                    .get("delta")
                    .and_then(Value::as_str)
                    .ok_or_else(invalid_data)?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(delta)
                    .map_err(|_| invalid_data())?;
                if pcm.len() + bytes.len() > MAX_PCM_BYTES {
                    return Err(invalid_data());
                }
                pcm.extend_from_slice(&bytes);
            }
            "response.done" if response_id.is_some() => {
                let response = event.get("response").ok_or_else(invalid_data)?;
                let id = response
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(invalid_data)?;
                if Some(id) != response_id.as_deref() {
                    continue;
                }
                if response.get("status").and_then(Value::as_str) != Some("completed") {
                    return Err(ApiError::BadGateway(
                        "OpenAI Realtime speech generation did not complete.".into(),
                    ));
                }
                if pcm.is_empty() || !pcm.len().is_multiple_of(2) {
                    return Err(ApiError::BadGateway(
                        "OpenAI Realtime returned empty or invalid PCM audio.".into(),
                    ));
                }
                return Ok(pcm);
            }
            _ => {}
        }
    }
}

/// 16-bit mono PCM at 24 kHz in a WAV container.
fn wav(pcm: &[u8]) -> Vec<u8> {
    let data = pcm.len() as u32;
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_header_frames_the_samples() {
        let w = wav(&[1, 0, 2, 0]);
        assert_eq!(&w[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(w[4..8].try_into().unwrap()), 40);
        assert_eq!(u32::from_le_bytes(w[24..28].try_into().unwrap()), 24_000);
        assert_eq!(u32::from_le_bytes(w[40..44].try_into().unwrap()), 4);
        assert_eq!(&w[44..], &[1, 0, 2, 0]);
    }
}
