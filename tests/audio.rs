//! Speech, transcription and the voice picker's lists over real HTTP,
//! against a local stand-in for an OpenAI-compatible audio engine.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::{add_user, admin, Client, TestServer};
use serde_json::{json, Value};

const SPEECH: &[u8] = b"ID3\x04\x00\x00\x00fake-mp3-frames";

use common::{received_at as calls, Inbox as Log, Received as Seen};

async fn engine() -> (String, Log) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let record = |path: &'static str, log: Log| {
        move |h: HeaderMap, b: Bytes| {
            log.lock().unwrap().push(Seen {
                path: path.to_string(),
                headers: h,
                body: b,
            });
        }
    };
    let (speak, transcribe) = (
        record("/audio/speech", log.clone()),
        record("/audio/transcriptions", log.clone()),
    );
    let app = axum::Router::new()
        .route(
            "/audio/speech",
            axum::routing::post(move |h: HeaderMap, b: Bytes| {
                let speak = speak.clone();
                async move {
                    speak(h, b);
                    ([("content-type", "audio/mpeg")], SPEECH)
                }
            }),
        )
        .route(
            "/audio/transcriptions",
            axum::routing::post(move |h: HeaderMap, b: Bytes| {
                let transcribe = transcribe.clone();
                async move {
                    transcribe(h, b);
                    axum::Json(json!({"text": "the quick brown fox"}))
                }
            }),
        )
        .route(
            "/audio/voices",
            axum::routing::get(|| async {
                axum::Json(json!({"voices": [{"id": "narrator", "name": "The Narrator"}]}))
            }),
        )
        .route(
            "/audio/models",
            axum::routing::get(|| async { axum::Json(json!({"models": [{"id": "tts-local"}]})) }),
        );
    (common::serve(app).await, log)
}

async fn use_engine(admin: &Client, base: &str) {
    let current = admin.get("/api/v1/audio/config").await.body;
    let mut form = json!({"tts": current["tts"], "stt": current["stt"]});
    for dir in ["tts", "stt"] {
        form[dir]["OPENAI_API_BASE_URL"] = json!(base);
        form[dir]["OPENAI_API_KEY"] = json!("sk-audio");
        form[dir]["ENGINE"] = json!("openai");
    }
    form["tts"]["MODEL"] = json!("tts-local");
    form["tts"]["VOICE"] = json!("narrator");
    form["stt"]["MODEL"] = json!("whisper-1");
    let r = admin.post("/api/v1/audio/config/update", form).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn transcribe(c: &Client, name: &str, ct: &str, bytes: &[u8]) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_string())
        .mime_str(ct)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("language", "en");
    let r = c.post_multipart("/api/v1/audio/transcriptions", form).await;
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn speech_is_the_engines_and_is_cached() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Listener").await;
    // The browser's engine is the default: the server has nothing to say.
    assert_eq!(common::speak(&user, "hello").await.0, 404);

    let (base, log) = engine().await;
    use_engine(&admin, &base).await;
    let (status, audio) = common::speak(&user, "read this aloud").await;
    assert_eq!(status, 200);
    assert_eq!(audio, SPEECH);
    let [call] = calls(&log, "/audio/speech").try_into().ok().unwrap();
    assert_eq!(
        call.headers.get("authorization").unwrap(),
        "Bearer sk-audio"
    );
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        sent,
        json!({"input": "read this aloud", "voice": "narrator", "model": "tts-local"})
    );
    // Spoken once: the same text comes from the cache in the data folder.
    assert_eq!(
        common::speak(&user, "read this aloud").await,
        (200, SPEECH.to_vec())
    );
    assert_eq!(calls(&log, "/audio/speech").len(), 1);
    assert!(srv.data_dir.join("cache/audio/speech").is_dir());

    let voices = user.get("/api/v1/audio/voices").await;
    assert_eq!(
        voices.body,
        json!({"voices": [{"id": "narrator", "name": "The Narrator"}]})
    );
    let models = user.get("/api/v1/audio/models").await;
    assert_eq!(models.body, json!({"models": [{"id": "tts-local"}]}));

    // Without chat.tts a user is refused before the engine; admins go on.
    common::set_default_permission(&admin, "chat.tts", false).await;
    assert_eq!(common::speak(&user, "something new").await.0, 403);
    assert_eq!(calls(&log, "/audio/speech").len(), 1);
    assert_eq!(common::speak(&admin, "something new").await.0, 200);
    assert_eq!(calls(&log, "/audio/speech").len(), 2);

    let bad = admin
        .http
        .post(format!("{}/api/v1/audio/speech", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_recording_comes_back_as_the_transcript() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let user = add_user(&srv, &admin, "Speaker").await;
    let (base, log) = engine().await;
    use_engine(&admin, &base).await;
    let wav = b"RIFF\x24\x00\x00\x00WAVEfmt some-audio-bytes";

    let (status, body) = transcribe(&user, "recording.wav", "audio/wav", wav).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["text"], "the quick brown fox");
    assert!(body["filename"].as_str().unwrap().ends_with(".wav"));
    let [call] = calls(&log, "/audio/transcriptions")
        .try_into()
        .ok()
        .unwrap();
    let sent = String::from_utf8_lossy(&call.body);
    assert!(sent.contains("name=\"model\""), "{sent}");
    assert!(sent.contains("whisper-1"));
    assert!(sent.contains("name=\"language\""));
    assert!(call.body.windows(wav.len()).any(|w| w == wav));

    // Not audio: refused before the engine.
    let (status, _) = transcribe(&user, "notes.txt", "text/plain", b"hello").await;
    assert_eq!(status, 400);
    // Without chat.stt: refused before the engine.
    common::set_default_permission(&admin, "chat.stt", false).await;
    let (status, _) = transcribe(&user, "recording.wav", "audio/wav", wav).await;
    assert_eq!(status, 403);
    assert_eq!(calls(&log, "/audio/transcriptions").len(), 1);
    let (status, _) = transcribe(&admin, "recording.wav", "audio/wav", wav).await;
    assert_eq!(status, 200);
}
