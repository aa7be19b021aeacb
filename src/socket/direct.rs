//! Frames a signed-in tab forwards for a direct-connection completion
//! (events named `<user_id>:<session_id>:<request_id>`). They are handed to
//! `chat::direct` while the message is extracted, which socketioxide does in
//! arrival order, before it spawns the handler: the frames of one stream
//! cannot overtake each other.

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Event, State, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;

use super::{raw_size, SocketUser, CONTROL_MAX_PAYLOAD};
use crate::state::AppState;

/// Extracting it delivers the frame when the event is one; it carries nothing.
pub struct Forwarded;

impl<A: Adapter> FromMessageParts<A> for Forwarded {
    type Error = Infallible;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut socketioxide::handler::Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Some(user) = s.extensions.get::<SocketUser>() else {
            return Ok(Forwarded);
        };
        if raw_size(v) > CONTROL_MAX_PAYLOAD {
            return Ok(Forwarded);
        }
        // Work on a copy: the handler's own extractors read the message next.
        let mut copy = v.clone();
        let Ok(Event(name)) = Event::from_message_parts(s, &mut copy, ack) else {
            return Ok(Forwarded);
        };
        if name.matches(':').count() != 2 {
            return Ok(Forwarded);
        }
        let Ok(State(state)) = State::<AppState>::from_message_parts(s, &mut copy, ack) else {
            return Ok(Forwarded);
        };
        let Ok(TryData(Ok(frame))) = TryData::<Value>::from_message_parts(s, &mut copy, ack) else {
            return Ok(Forwarded);
        };
        crate::chat::direct::deliver(&state, &user.id, &name, frame);
        Ok(Forwarded)
    }
}
