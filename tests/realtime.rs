//! Realtime voice over real WebSockets: a browser-side client calling the
//! server at `/api/v1/audio/realtime`, relayed to a local stand-in for an
//! OpenAI-style Realtime provider written here (it opens each session with
//! `session.created`, confirms `session.update`, hears a turn once it gets
//! microphone audio, hands it to the chat model as a function call, speaks
//! function results, and reads text aloud for the speech engine).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use common::mock_llm::MockLlm;
use common::{add_user_with_id, admin, connect_openai, Client, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "sk-realtime";
const VOICE_MODEL: &str = "gpt-realtime-harbour";
/// What the provider's errors carry; the browser must never see it.
const SECRET: &str = "invalid key sk-realtime-secret for instructions";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ------------------------------------------------------------------ provider

#[derive(Default)]
struct Session {
    query: String,
    authorization: String,
    events: Vec<Value>,
    closed: bool,
    inject: Option<mpsc::UnboundedSender<Value>>,
}

#[derive(Default)]
struct Provider {
    sessions: Vec<Session>,
    refuse_session: bool,
}

type Shared = Arc<Mutex<Provider>>;

impl Session {
    fn received(&self, kind: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect()
    }
}

async fn serve_provider() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/v1/realtime", axum::routing::get(upgrade))
        .with_state(shared.clone());
    (format!("{}/v1", common::serve(app).await), shared)
}

async fn upgrade(
    State(shared): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    ws.on_upgrade(move |socket| play(shared, socket, query.unwrap_or_default(), authorization))
}

async fn play(shared: Shared, mut socket: WebSocket, query: String, authorization: String) {
    let (tx, mut injected) = mpsc::unbounded_channel();
    let index = {
        let mut p = shared.lock().unwrap();
        p.sessions.push(Session {
            query,
            authorization,
            inject: Some(tx),
            ..Session::default()
        });
        p.sessions.len() - 1
    };
    let send = |e: Value| AxMessage::Text(e.to_string().into());
    let _ = socket
        .send(send(
            json!({"type": "session.created", "session": {"id": "sess_1"}}),
        ))
        .await;
    let mut results = std::collections::HashMap::<String, String>::new();
    loop {
        let event: Value = tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(AxMessage::Text(t))) => serde_json::from_str(t.as_str()).unwrap(),
                Some(Ok(_)) => continue,
                _ => break,
            },
            Some(e) = injected.recv() => {
                let _ = socket.send(send(e)).await;
                continue;
            }
        };
        let refuse = {
            let mut p = shared.lock().unwrap();
            p.sessions[index].events.push(event.clone());
            p.refuse_session
        };
        let mut out = Vec::new();
        match event["type"].as_str().unwrap_or("") {
            "session.update" if refuse => out.push(json!({"type": "error",
                "error": {"type": "invalid_request_error", "message": SECRET}})),
            "session.update" => {
                out.push(json!({"type": "session.updated", "session": event["session"]}))
            }
            "input_audio_buffer.append" => {
                out.push(json!({"type": "input_audio_buffer.speech_started", "item_id": "item_1"}));
                out.push(
                    json!({"type": "conversation.item.input_audio_transcription.completed",
                    "item_id": "item_1", "content_index": 0, "transcript": "when is high tide"}),
                );
            }
            "conversation.item.create" if event["item"]["type"] == "function_call_output" => {
                let output: Value =
                    serde_json::from_str(event["item"]["output"].as_str().unwrap()).unwrap();
                results.insert(
                    event["item"]["call_id"].as_str().unwrap().to_string(),
                    output["answer"].as_str().unwrap_or("").to_string(),
                );
            }
            "response.create" => {
                let r = &event["response"];
                let metadata = r["metadata"].clone();
                out.push(json!({"type": "response.created", "response": {"id": "resp_1", "metadata": metadata}}));
                if metadata.get("input_item_id").is_some() {
                    out.push(json!({"type": "response.output_item.done", "response_id": "resp_1",
                        "item": {"id": "item_2", "type": "function_call", "status": "completed",
                                 "name": "generate_chat_completion", "call_id": "call_1",
                                 "arguments": json!({"request": "when is high tide"}).to_string()}}));
                } else {
                    let text = match metadata.get("call_id").and_then(Value::as_str) {
                        Some(call) => results.get(call).cloned().unwrap_or_default(),
                        None => r["input"][0]["content"][0]["text"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    };
                    let at =
                        json!({"response_id": "resp_1", "item_id": "item_3", "content_index": 0});
                    let mut delta =
                        json!({"type": "response.output_audio.delta", "delta": b64(&[1, 0, 2, 0])});
                    let mut done = json!({"type": "response.output_audio_transcript.done", "transcript": text});
                    for e in [&mut delta, &mut done] {
                        e.as_object_mut()
                            .unwrap()
                            .extend(at.as_object().unwrap().clone());
                    }
                    out.push(delta);
                    out.push(done);
                }
                out.push(json!({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}));
            }
            _ => {}
        }
        for e in out {
            if socket.send(send(e)).await.is_err() {
                break;
            }
        }
    }
    shared.lock().unwrap().sessions[index].closed = true;
}

fn session<T>(shared: &Shared, i: usize, f: impl FnOnce(&Session) -> T) -> T {
    f(&shared.lock().unwrap().sessions[i])
}

fn sessions(shared: &Shared) -> usize {
    shared.lock().unwrap().sessions.len()
}

async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

// ------------------------------------------------------------------ browser

type Browser =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn call(srv: &TestServer, token: &str, model: Value, chat_id: Value) -> Browser {
    let url = format!("ws://{}/api/v1/audio/realtime", srv.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let auth = json!({"type": "auth", "token": token, "model_id": model, "chat_id": chat_id});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    ws
}

async fn say(ws: &mut Browser, event: Value) {
    ws.send(Message::text(event.to_string())).await.unwrap();
}

/// The next message of the call, or `None` once it closed.
async fn next(ws: &mut Browser) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the call went silent");
        match m {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn next_of(ws: &mut Browser, kind: &str) -> Value {
    loop {
        let e = next(ws)
            .await
            .unwrap_or_else(|| panic!("closed before {kind}"));
        assert_ne!(e["type"], "bridge.error", "ended before {kind}: {e}");
        if e["type"] == kind {
            return e;
        }
    }
}

/// The message the call ended with; the connection closes right after.
async fn ended_with(ws: &mut Browser) -> String {
    let mut message = None;
    while let Some(e) = next(ws).await {
        assert!(!e.to_string().contains("sk-realtime-secret"), "{e}");
        if e["type"] == "bridge.error" {
            message = e["message"].as_str().map(str::to_string);
        }
    }
    message.expect("the call closed without a message")
}

// ------------------------------------------------------------------ set-up

struct Setup {
    srv: TestServer,
    admin: Client,
    provider: Shared,
    _llm: MockLlm,
}

async fn setup() -> Setup {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let llm = MockLlm::openai(&["gpt-mock"]).await;
    connect_openai(&admin, &llm.url).await;
    let (base, provider) = serve_provider().await;
    let current = admin.get("/api/v1/audio/config").await.body;
    let form = json!({"tts": current["tts"], "stt": current["stt"], "realtime": {
        "ENABLED": true, "OPENAI_API_BASE_URL": base, "OPENAI_API_KEY": KEY,
        "MODEL": VOICE_MODEL, "VOICE": "harbour", "TRANSCRIPTION_MODEL": "transcribe-harbour",
    }});
    let r = admin.post("/api/v1/audio/config/update", form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    Setup {
        srv,
        admin,
        provider,
        _llm: llm,
    }
}

fn token(c: &Client) -> String {
    c.token.clone().unwrap()
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn a_call_relays_speech_function_calls_and_results_with_the_admins_settings() {
    let s = setup().await;
    let mut ws = call(&s.srv, &token(&s.admin), json!("gpt-mock"), Value::Null).await;

    let ready = next_of(&mut ws, "bridge.ready").await;
    assert_eq!(
        ready,
        json!({"type": "bridge.ready", "model": VOICE_MODEL, "voice": "harbour", "sample_rate": 24000})
    );
    let (query, authorization, update) = session(&s.provider, 0, |c| {
        (
            c.query.clone(),
            c.authorization.clone(),
            c.received("session.update")[0].clone(),
        )
    });
    assert_eq!(query, format!("model={VOICE_MODEL}"));
    assert_eq!(authorization, format!("Bearer {KEY}"));
    let settings = &update["session"];
    assert_eq!(settings["audio"]["output"]["voice"], "harbour");
    assert_eq!(
        settings["audio"]["input"]["transcription"],
        json!({"model": "transcribe-harbour"})
    );
    assert_eq!(settings["tools"][0]["name"], "generate_chat_completion");
    assert!(settings["instructions"]
        .as_str()
        .unwrap()
        .starts_with("You are the assistant in this chat"));

    let earlier = json!([{"role": "user", "content": "hello harbour"}]);
    say(
        &mut ws,
        json!({"type": "bridge.context", "messages": earlier}),
    )
    .await;
    say(
        &mut ws,
        json!({"type": "input_audio_buffer.append", "audio": b64(&[0; 4800])}),
    )
    .await;
    let heard = next_of(
        &mut ws,
        "conversation.item.input_audio_transcription.completed",
    )
    .await;
    assert_eq!(heard["transcript"], "when is high tide");
    say(
        &mut ws,
        json!({"type": "bridge.respond", "item_id": "item_1"}),
    )
    .await;
    let delegated = next_of(&mut ws, "response.output_item.done").await;
    assert_eq!(delegated["item"]["call_id"], "call_1");
    say(
        &mut ws,
        json!({"type": "bridge.result", "call_id": "call_1",
        "status": "completed", "answer": "High tide is at six."}),
    )
    .await;
    say(
        &mut ws,
        json!({"type": "bridge.respond", "call_id": "call_1"}),
    )
    .await;
    let spoken = next_of(&mut ws, "response.output_audio_transcript.done").await;
    assert_eq!(spoken["transcript"], "High tide is at six.");
    say(&mut ws, json!({"type": "bridge.ping"})).await;
    next_of(&mut ws, "bridge.pong").await;

    let (created, asked, appended) = session(&s.provider, 0, |c| {
        (
            c.received("conversation.item.create"),
            c.received("response.create"),
            c.received("input_audio_buffer.append").len(),
        )
    });
    assert_eq!(created[0]["item"]["id"], "chat_context_1");
    let text = created[0]["item"]["content"][0]["text"].as_str().unwrap();
    let snapshot: Value = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
    assert_eq!(snapshot, earlier);
    assert_eq!(created[1]["item"]["type"], "function_call_output");
    assert_eq!(
        asked[0]["response"]["metadata"],
        json!({"input_item_id": "item_1"})
    );
    assert_eq!(
        asked[1]["response"]["metadata"],
        json!({"call_id": "call_1"})
    );
    assert_eq!(appended, 1);

    // hanging up closes the provider's session too
    ws.close(None).await.unwrap();
    eventually("the provider session closed", || {
        session(&s.provider, 0, |c| c.closed)
    })
    .await;
}

#[tokio::test]
async fn refusals_end_the_call_before_any_provider_session() {
    let s = setup().await;
    let (user, _) = add_user_with_id(&s.srv, &s.admin, "Caller").await;
    let (other, _) = add_user_with_id(&s.srv, &s.admin, "Other").await;
    let chat = other
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": "mine", "messages": []}, "folder_id": null}),
        )
        .await;
    assert_eq!(chat.status, 200, "{}", chat.body);
    let foreign_chat = chat.body["id"].clone();

    let cases = [
        (
            "not-a-token".to_string(),
            json!("gpt-mock"),
            Value::Null,
            "Authentication expired or invalid",
        ),
        (
            token(&s.admin),
            Value::Null,
            Value::Null,
            "Select a chat model",
        ),
        (
            token(&s.admin),
            json!("nowhere"),
            Value::Null,
            "Bridge requires a server-configured chat model",
        ),
        // a base model without a workspace entry is for admins only
        (
            token(&user),
            json!("gpt-mock"),
            Value::Null,
            "Chat model access denied",
        ),
        (
            token(&user),
            json!("gpt-mock"),
            foreign_chat,
            "Chat not found",
        ),
    ];
    for (tok, model, chat_id, message) in cases {
        let mut ws = call(&s.srv, &tok, model, chat_id).await;
        assert_eq!(ended_with(&mut ws).await, message);
    }

    let current = s.admin.get("/api/v1/users/default/permissions").await.body;
    let mut permissions = current.clone();
    permissions["chat"]["call"] = json!(false);
    let r = s
        .admin
        .post("/api/v1/users/default/permissions", permissions)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ws = call(&s.srv, &token(&user), json!("gpt-mock"), Value::Null).await;
    assert_eq!(ended_with(&mut ws).await, "Call permission denied");

    let r = s
        .admin
        .post(
            "/api/v1/audio/config/update",
            json!({"tts": s.admin.get("/api/v1/audio/config").await.body["tts"],
                   "stt": s.admin.get("/api/v1/audio/config").await.body["stt"],
                   "realtime": {"ENABLED": false}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ws = call(&s.srv, &token(&s.admin), json!("gpt-mock"), Value::Null).await;
    assert_eq!(ended_with(&mut ws).await, "Realtime calls are disabled");

    assert_eq!(sessions(&s.provider), 0);
}

#[tokio::test]
async fn provider_errors_end_the_call_without_their_words() {
    let s = setup().await;
    s.provider.lock().unwrap().refuse_session = true;
    let mut ws = call(&s.srv, &token(&s.admin), json!("gpt-mock"), Value::Null).await;
    assert_eq!(
        ended_with(&mut ws).await,
        "Provider rejected voice configuration. Check model, voice, and transcription model."
    );

    s.provider.lock().unwrap().refuse_session = false;
    let mut ws = call(&s.srv, &token(&s.admin), json!("gpt-mock"), Value::Null).await;
    next_of(&mut ws, "bridge.ready").await;
    let inject = session(&s.provider, 1, |c| c.inject.clone().unwrap());
    // the browser hears only response / conversation / input events
    inject
        .send(json!({"type": "session.updated", "session": {"instructions": SECRET}}))
        .unwrap();
    inject
        .send(json!({"type": "input_audio_buffer.committed", "item_id": "item_9"}))
        .unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap(),
        json!({"type": "input_audio_buffer.committed", "item_id": "item_9"})
    );
    inject
        .send(
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": SECRET}}),
        )
        .unwrap();
    assert_eq!(
        ended_with(&mut ws).await,
        "Voice provider rejected a request"
    );
}

#[tokio::test]
async fn a_command_the_call_does_not_allow_ends_it_and_the_provider_session() {
    let s = setup().await;
    for (command, message) in [
        (
            json!({"type": "session.update", "session": {"voice": "other"}}),
            "Unsupported call command",
        ),
        (
            json!({"type": "bridge.respond", "item_id": "item_unheard"}),
            "Unknown or already answered input",
        ),
        (
            json!({"type": "bridge.context", "messages": [{"role": "user", "content": "x".repeat(64_001)}]}),
            "Invalid history message",
        ),
    ] {
        let i = sessions(&s.provider);
        let mut ws = call(&s.srv, &token(&s.admin), json!("gpt-mock"), Value::Null).await;
        next_of(&mut ws, "bridge.ready").await;
        say(&mut ws, command).await;
        assert_eq!(ended_with(&mut ws).await, message);
        eventually("the provider session closed", || {
            session(&s.provider, i, |c| c.closed)
        })
        .await;
        session(&s.provider, i, |c| {
            assert_eq!(c.received("session.update").len(), 1);
            assert!(c.received("conversation.item.create").is_empty());
        });
    }
}

#[tokio::test]
async fn reading_aloud_through_a_realtime_session_is_a_wav_spoken_once() {
    let s = setup().await;
    let (base, provider) = serve_provider().await;
    let save = |key: &str| {
        let admin = &s.admin;
        let (base, key) = (base.clone(), key.to_string());
        async move {
            let current = admin.get("/api/v1/audio/config").await.body;
            let mut tts = current["tts"].clone();
            for (k, v) in [
                ("ENGINE", "openai-realtime"),
                ("OPENAI_API_BASE_URL", base.as_str()),
                ("OPENAI_API_KEY", key.as_str()),
                ("MODEL", "gpt-realtime-2.1-mini"),
                ("VOICE", "marin"),
            ] {
                tts[k] = json!(v);
            }
            let r = admin
                .post(
                    "/api/v1/audio/config/update",
                    json!({"tts": tts, "stt": current["stt"]}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    save(KEY).await;

    let (status, wav) = common::speak(&s.admin, "The lamp is lit.").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&wav));
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[44..], &[1, 0, 2, 0]);
    let asked = session(&provider, 0, |c| c.received("response.create")[0].clone());
    assert_eq!(
        asked["response"]["input"][0]["content"],
        json!([{"type": "input_text", "text": "The lamp is lit."}])
    );
    let (again_status, again) = common::speak(&s.admin, "The lamp is lit.").await;
    assert_eq!((again_status, again), (200, wav));
    assert_eq!(sessions(&provider), 1, "the same text was spoken twice");

    provider.lock().unwrap().refuse_session = true;
    let (status, body) = common::speak(&s.admin, "Storm warning.").await;
    assert_eq!(status, 502);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("OpenAI Realtime rejected synthesis"),
        "{body}"
    );
    assert!(!body.contains("sk-realtime-secret"), "{body}");

    save("").await;
    let (status, body) = common::speak(&s.admin, "No key.").await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("Configure an OpenAI Realtime API key."));
    let (status, _) = common::speak(&s.admin, "   ").await;
    assert_eq!(status, 400);
}
