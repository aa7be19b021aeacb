//! One voice call, from the browser's first message to the end: sign-in and
//! the checks of who may call with which model, the provider session opened
//! with the admin's settings, then the relay both ways until either side
//! ends it. Every end is one `bridge.error` with our own sentence (none when
//! the browser hung up), then both connections are closed.

use crate::json::truthy;
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::time::{interval_at, sleep_until, Instant, MissedTickBehavior};

use super::ended::{ends, failed, CallEnd, CallResult, PROVIDER_CLOSED, TIMED_OUT};
use super::protocol::{chat_tool, CallProtocol, SAMPLE_RATE};
use super::provider::{self, Incoming, OpenError, Provider, SendError};
use super::settings::{socket_url, valid_base, AVATAR_CALL_INSTRUCTIONS, DEFAULT_CALL_PROMPT};
use crate::audio::avatar;
use crate::auth::{permissions, session, Caller};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// A message from the browser.
#[derive(Debug)]
pub enum FromBrowser {
    Text(String),
    /// A binary message: calls speak JSON text only.
    Binary,
}

/// The sign-in message must come this fast and be this short.
const AUTH_WAIT: Duration = Duration::from_secs(10);
const MAX_AUTH_CHARS: usize = 8192;
/// Any later event, either way. Microphone appends carry at most one second.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// Opening the provider session: the connection, then the whole set-up.
const CONNECT_WAIT: Duration = Duration::from_secs(15);
const SETUP_WAIT: Duration = Duration::from_secs(30);
/// One send to either side.
const SEND_WAIT: Duration = Duration::from_secs(5);
/// Sign-in, the setting and the permission are checked again this often; a
/// call ends after [`MAX_CHECKS`] of them (the provider's session lifetime).
const RECHECK_EVERY: Duration = Duration::from_secs(60);
const MAX_CHECKS: u32 = 60;
/// The provider is pinged this often and dropped after this much silence.
const PROVIDER_PING_EVERY: Duration = Duration::from_secs(20);
const PROVIDER_SILENCE: Duration = Duration::from_secs(45);
/// The browser pings every 10 s; a call it stopped talking to ends.
const BROWSER_SILENCE: Duration = Duration::from_secs(60);

/// Runs one call over a browser connection; returns when it is over, with
/// the provider session closed. The caller closes the browser connection.
pub async fn run<R, W>(state: AppState, from: &mut R, to: &mut W)
where
    R: Stream<Item = FromBrowser> + Unpin + Send,
    W: Sink<String> + Unpin + Send,
{
    let mut call = Call {
        state,
        user_id: None,
        provider: None,
    };
    let outcome = call.serve(from, to).await;
    if let Err(CallEnd::Says(message)) = outcome {
        tracing::info!(user_id = ?call.user_id, reason = message, "voice call ended");
        let error = json!({"type": "bridge.error", "message": message});
        let _ = tokio::time::timeout(SEND_WAIT, to.send(error.to_string())).await;
    }
    if let Some(p) = call.provider.take() {
        p.close().await;
    }
}

struct Call {
    state: AppState,
    user_id: Option<String>,
    provider: Option<Provider>,
}

/// What a signed-in call may open.
struct Allowed {
    token: String,
    voice_model: String,
    voice: String,
    protocol: CallProtocol,
}

async fn tell<W: Sink<String> + Unpin>(to: &mut W, event: &Value) -> CallResult<()> {
    match tokio::time::timeout(SEND_WAIT, to.send(event.to_string())).await {
        Err(_) => Err(ends(TIMED_OUT)),
        Ok(Err(_)) => Err(CallEnd::BrowserLeft),
        Ok(Ok(())) => Ok(()),
    }
}

async fn forward(provider: &mut Provider, event: &Value) -> CallResult<()> {
    provider.send(event, SEND_WAIT).await.map_err(|e| match e {
        SendError::TimedOut => ends(TIMED_OUT),
        SendError::Closed => ends(PROVIDER_CLOSED),
    })
}

fn string_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A model's own voice (`meta.voice.voice`): one word of up to 200
/// characters; `Err` for a stored voice that breaks that rule.
fn own_voice(meta: &Value) -> CallResult<Option<String>> {
    match meta.get("voice") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(v)) => match v.get("voice") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if crate::audio::voice::valid_voice(s) => Ok(Some(s.clone())),
            Some(_) => Err(failed()),
        },
        Some(_) => Err(failed()),
    }
}

impl Call {
    async fn serve<R, W>(&mut self, from: &mut R, to: &mut W) -> CallResult<()>
    where
        R: Stream<Item = FromBrowser> + Unpin + Send,
        W: Sink<String> + Unpin + Send,
    {
        let raw = match tokio::time::timeout(AUTH_WAIT, from.next()).await {
            Err(_) => return Err(ends(TIMED_OUT)),
            Ok(None) => return Err(CallEnd::BrowserLeft),
            Ok(Some(FromBrowser::Binary)) => return Err(failed()),
            Ok(Some(FromBrowser::Text(raw))) => raw,
        };
        let mut allowed = self.authorize(&raw).await?;
        let session = self.session_settings(&allowed);
        let provider = tokio::time::timeout(SETUP_WAIT, self.open(&session))
            .await
            .map_err(|_| ends(TIMED_OUT))??;
        self.provider = Some(provider);
        tell(
            to,
            &json!({
                "type": "bridge.ready",
                "model": allowed.voice_model,
                "voice": allowed.voice,
                "sample_rate": SAMPLE_RATE,
            }),
        )
        .await?;
        self.relay(&mut allowed, from, to).await
    }

    /// The first message: who calls, into which chat, with which model.
    async fn authorize(&mut self, raw: &str) -> CallResult<Allowed> {
        if raw.chars().count() > MAX_AUTH_CHARS {
            return Err(ends("Invalid authentication message"));
        }
        let auth: Value = serde_json::from_str(raw).map_err(|_| failed())?;
        let token = match (auth.get("type"), auth.get("token")) {
            (Some(Value::String(t)), Some(Value::String(token))) if t == "auth" => token.clone(),
            _ => return Err(ends("Authentication required")),
        };
        let state = self.state.clone();
        let (user, claims) = session::user_from_jwt(&state, &token)
            .await
            .filter(|(u, _)| matches!(u.role.as_str(), "user" | "admin"))
            .ok_or(CallEnd::Says("Authentication expired or invalid"))?;
        self.user_id = Some(user.id.clone());
        let caller = Caller {
            user,
            via_api_key: false,
            claims: Some(claims),
            token: token.clone(),
        };
        if !state.config.get_bool("audio.realtime.enabled") {
            return Err(ends("Realtime calls are disabled"));
        }
        if !may_call(&state, &caller).await? {
            return Err(ends("Call permission denied"));
        }
        let chat_id = auth.get("chat_id").cloned().unwrap_or(Value::Null);
        if truthy(&chat_id) {
            let chat_id = chat_id
                .as_str()
                .ok_or(CallEnd::Says("Invalid chat"))?
                .to_string();
            let owner = state
                .db
                .read(move |c| db::chats::owner_and_folder(c, &chat_id))
                .await
                .map_err(|_| failed())?;
            if owner.is_none_or(|(owner, _)| owner != caller.id()) {
                return Err(ends("Chat not found"));
            }
        }
        let model_id = auth
            .get("model_id")
            .and_then(Value::as_str)
            .ok_or(CallEnd::Says("Select a chat model"))?
            .to_string();
        match crate::llm::resolve(&state, &caller, &model_id).await {
            Ok(_) => {}
            Err(ApiError::NotFound(_)) => {
                return Err(ends("Bridge requires a server-configured chat model"))
            }
            Err(ApiError::Forbidden(_)) => return Err(ends("Chat model access denied")),
            Err(_) => return Err(failed()),
        }
        let row = state
            .db
            .read(move |c| db::models::get(c, &model_id))
            .await
            .map_err(|_| failed())?;
        let meta = row.map(|r| r.meta).unwrap_or(Value::Null);
        let protocol = CallProtocol::new(&avatar::gestures(&meta));
        let voice_model = state.config.get_str("audio.realtime.model");
        let voice = match own_voice(&meta)? {
            Some(v) => v,
            None => state.config.get_str("audio.realtime.voice"),
        };
        if voice_model.is_empty()
            || voice.is_empty()
            || state
                .config
                .get_str("audio.realtime.transcription_model")
                .is_empty()
        {
            return Err(ends(
                "Configure the Realtime model, voice, and transcription model",
            ));
        }
        Ok(Allowed {
            token,
            voice_model,
            voice,
            protocol,
        })
    }

    /// The `session.update` the provider gets: the admin's settings, never
    /// the browser's.
    fn session_settings(&self, allowed: &Allowed) -> Value {
        let config = &self.state.config;
        let template = config.get_str("audio.realtime.prompt_template");
        let mut instructions = if template.is_empty() {
            DEFAULT_CALL_PROMPT.to_string()
        } else {
            template
        };
        let gestures = allowed.protocol.animation_tools();
        if !gestures.is_empty() {
            instructions.push_str(AVATAR_CALL_INSTRUCTIONS);
        }
        let mut input = json!({
            "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
            "transcription": {"model": config.get_str("audio.realtime.transcription_model")},
            // Wait for the finalized transcript before requesting a response. This gives
            // every function call an unambiguous input_item_id, even during barge-in.
            "turn_detection": {
                "type": "server_vad",
                // The client pauses playback until speech is confirmed.
                "interrupt_response": false,
                "create_response": false,
            },
        });
        if let (Some(input), Value::Object(extra)) = (
            input.as_object_mut(),
            config.get("audio.realtime.input_params"),
        ) {
            input.extend(extra);
        }
        let mut tools = vec![chat_tool()];
        tools.extend(gestures.iter().cloned());
        json!({
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["audio"],
                "instructions": instructions,
                "audio": {
                    "input": input,
                    "output": {
                        "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                        "voice": allowed.voice,
                    },
                },
                "tools": tools,
                "tool_choice": "auto",
            },
        })
    }

    /// Opens the provider session and configures it.
    async fn open(&self, session: &Value) -> CallResult<Provider> {
        let (url, headers) = connection(&self.state)?;
        let mut p = provider::open(&url, &headers, MAX_EVENT_BYTES, CONNECT_WAIT)
            .await
            .map_err(|e| match e {
                OpenError::Refused(401 | 403) => ends(
                    "Realtime provider authentication rejected. Check the credentials and access.",
                ),
                OpenError::Refused(404) => {
                    ends("Realtime endpoint not found. Check the API base URL and deployment name.")
                }
                OpenError::TimedOut => ends(TIMED_OUT),
                OpenError::Refused(_) | OpenError::Unreachable => failed(),
            })?;
        match configure(&mut p, session).await {
            Ok(()) => Ok(p),
            Err(end) => {
                p.close().await;
                Err(end)
            }
        }
    }

    /// Relays until one side ends the call.
    async fn relay<R, W>(
        &mut self,
        allowed: &mut Allowed,
        from: &mut R,
        to: &mut W,
    ) -> CallResult<()>
    where
        R: Stream<Item = FromBrowser> + Unpin + Send,
        W: Sink<String> + Unpin + Send,
    {
        let state = self.state.clone();
        let provider = self.provider.as_mut().ok_or_else(failed)?;
        let start = Instant::now();
        let mut recheck = interval_at(start + RECHECK_EVERY, RECHECK_EVERY);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ping = interval_at(start + PROVIDER_PING_EVERY, PROVIDER_PING_EVERY);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut checks = 0;
        let mut browser_deadline = Instant::now() + BROWSER_SILENCE;
        loop {
            tokio::select! {
                message = from.next() => {
                    browser_deadline = Instant::now() + BROWSER_SILENCE;
                    let raw = match message {
                        None => return Err(CallEnd::BrowserLeft),
                        Some(FromBrowser::Binary) => return Err(failed()),
                        Some(FromBrowser::Text(raw)) => raw,
                    };
                    if raw.len() > MAX_EVENT_BYTES {
                        return Err(ends("Call event is too large"));
                    }
                    let event: Value = serde_json::from_str(&raw).map_err(|_| failed())?;
                    if event == json!({"type": "bridge.ping"}) {
                        tell(to, &json!({"type": "bridge.pong"})).await?;
                        continue;
                    }
                    for command in allowed.protocol.command(&event)? {
                        forward(provider, &command).await?;
                    }
                }
                incoming = provider.next() => {
                    let raw = match incoming {
                        Incoming::Text(raw) => raw,
                        Incoming::Binary | Incoming::Closed => return Err(ends(PROVIDER_CLOSED)),
                    };
                    let mut event: Value = serde_json::from_str(&raw).map_err(|_| failed())?;
                    if !event.is_object() {
                        return Err(ends("Invalid provider event"));
                    }
                    let kind = string_of(&event, "type").to_string();
                    if kind == "error" {
                        let code = event.get("error").and_then(|e| e.get("code")).and_then(Value::as_str);
                        if code == Some("response_cancel_not_active") {
                            // Server VAD may finish cancellation before our explicit cancel arrives.
                            continue;
                        }
                        // Provider error text can include prompts or credentials.
                        return Err(ends("Voice provider rejected a request"));
                    }
                    if let Some(cleanup) = allowed.protocol.observe(&mut event)? {
                        // Clean up before the client can request another response.
                        forward(provider, &cleanup).await?;
                    }
                    if ["response.", "conversation.item.", "input_audio_buffer."]
                        .iter()
                        .any(|p| kind.starts_with(p))
                    {
                        tell(to, &event).await?;
                    }
                }
                _ = ping.tick() => {
                    if provider.silent_for() > PROVIDER_SILENCE {
                        return Err(ends(PROVIDER_CLOSED));
                    }
                    provider.ping(SEND_WAIT).await.map_err(|_| ends(PROVIDER_CLOSED))?;
                }
                _ = recheck.tick() => {
                    checks += 1;
                    still_allowed(&state, &allowed.token).await?;
                    if checks >= MAX_CHECKS {
                        return Err(ends("Call session expired. Start a new call."));
                    }
                }
                _ = sleep_until(browser_deadline) => return Err(ends(TIMED_OUT)),
            }
        }
    }
}

/// Whether the caller may make calls (admins always may).
async fn may_call(state: &AppState, caller: &Caller) -> CallResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let perms = permissions::effective(state, caller.id())
        .await
        .map_err(|_| failed())?;
    Ok(permissions::allows(&perms, "chat.call"))
}

/// The periodic check: still signed in, calls still on, still permitted.
async fn still_allowed(state: &AppState, token: &str) -> CallResult<()> {
    let current = session::user_from_jwt(state, token)
        .await
        .filter(|(u, _)| matches!(u.role.as_str(), "user" | "admin"));
    let Some((user, claims)) = current else {
        return Err(ends("Call authorization expired"));
    };
    if !state.config.get_bool("audio.realtime.enabled") {
        return Err(ends("Call authorization expired"));
    }
    let now = Caller {
        user,
        via_api_key: false,
        claims: Some(claims),
        token: token.to_string(),
    };
    if !may_call(state, &now).await? {
        return Err(ends("Call permission revoked"));
    }
    Ok(())
}

/// The provider's greeting, our `session.update`, and its confirmation.
async fn configure(p: &mut Provider, session: &Value) -> CallResult<()> {
    let first = next_json(p).await?;
    if string_of(&first, "type") != "session.created" {
        return Err(ends("Provider did not create a voice session"));
    }
    forward(p, session).await?;
    let answer = next_json(p).await?;
    if string_of(&answer, "type") != "session.updated" {
        return Err(ends(
            "Provider rejected voice configuration. Check model, voice, and transcription model.",
        ));
    }
    Ok(())
}

/// The next provider event during set-up, as JSON.
async fn next_json(p: &mut Provider) -> CallResult<Value> {
    match p.next().await {
        Incoming::Text(raw) => serde_json::from_str(&raw).map_err(|_| failed()),
        Incoming::Binary | Incoming::Closed => Err(failed()),
    }
}

/// The provider address and credential header from the admin's settings.
fn connection(state: &AppState) -> CallResult<(String, Vec<(&'static str, String)>)> {
    let config = &state.config;
    let or = |key: &str, default: &str| {
        let v = config.get_str(key);
        if v.is_empty() {
            default.to_string()
        } else {
            v
        }
    };
    let provider = or("audio.realtime.provider", "openai");
    let auth_type = or("audio.realtime.auth_type", "api_key");
    if !matches!(provider.as_str(), "openai" | "azure")
        || !matches!(auth_type.as_str(), "api_key" | "microsoft_entra_id")
    {
        return Err(ends(
            "Unsupported Realtime provider or authentication method",
        ));
    }
    if provider != "azure" && auth_type == "microsoft_entra_id" {
        return Err(ends(
            "Microsoft Entra ID requires the Azure OpenAI Realtime provider",
        ));
    }
    let base = valid_base(&config.get_str("audio.realtime.openai.api_base_url"))
        .ok_or(CallEnd::Says("Invalid Realtime provider URL"))?;
    let model = config.get_str("audio.realtime.model");
    if model.is_empty() {
        return Err(ends("Configure the Realtime model"));
    }
    let url = socket_url(&base, &model);
    if auth_type == "microsoft_entra_id" {
        // This server has no Entra ID token source.
        return Err(ends(
            "Unable to obtain a Microsoft Entra ID token for Realtime calls",
        ));
    }
    let key = config.get_str("audio.realtime.openai.api_key");
    if key.is_empty() {
        return Err(ends("Configure the Realtime API key"));
    }
    let header = if provider == "azure" {
        ("api-key", key)
    } else {
        ("authorization", format!("Bearer {key}"))
    };
    Ok((url, vec![header]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_own_voice_is_one_word() {
        assert_eq!(own_voice(&json!({})), Ok(None));
        assert_eq!(own_voice(&json!({"voice": null})), Ok(None));
        assert_eq!(own_voice(&json!({"voice": {"voice": null}})), Ok(None));
        assert_eq!(
            own_voice(&json!({"voice": {"voice": "cedar"}})),
            Ok(Some("cedar".into()))
        );
        assert!(own_voice(&json!({"voice": {"voice": "two words"}})).is_err());
        assert!(own_voice(&json!({"voice": "cedar"})).is_err());
    }

    #[test]
    fn python_truthiness() {
        for v in [
            json!(null),
            json!(""),
            json!(0),
            json!(false),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [json!("c"), json!(1), json!(true), json!([1])] {
            assert!(truthy(&v), "{v}");
        }
    }
}
