//! Realtime voice: calls relayed between the browser and an OpenAI- or
//! Azure-style Realtime provider (`call`), and reading text aloud through a
//! Realtime session (`speech`).
//!
//! A call (Admin Settings → Audio, call mode "Realtime") is a WebSocket the
//! browser opens at `/api/v1/audio/realtime`. Its first message signs in and
//! names the chat model; the call checks the setting, the `chat.call`
//! permission, the chat's owner and the model's access, opens one provider
//! session with the admin's key, model, voice, transcription model and
//! prompt (a model's own voice replacing the admin's, its avatar's gestures
//! offered as `play_animation`), and relays. What the browser may send is
//! the closed set of `protocol::CallProtocol::command`; of the provider's
//! events only `response.*`, `conversation.item.*` and `input_audio_buffer.*`
//! reach the browser. Every refusal or failure ends the call with one of our
//! own sentences (`ended::CallEnd`), never the provider's text.
//!
//! Bounds: the sign-in message (8 KiB, 10 s), every later event (512 KiB),
//! the chat snapshot (64 000 characters), the ids a call tracks (4096 each),
//! opening the provider (15 s to connect, 30 s with the set-up), each send
//! (5 s), a silent provider (45 s, pinged every 20 s) or browser (60 s), and
//! the call itself (60 minutes, rechecking sign-in and permission every
//! minute).

mod call;
mod ended;
mod protocol;
mod provider;
mod settings;
mod speech;

pub use call::{run, FromBrowser, MAX_EVENT_BYTES};
pub use speech::speak;
