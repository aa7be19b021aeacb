//! Channels as a domain room: the wire forms of messages, posting a message
//! with its live events, and models answering when a message mentions them.
//! The HTTP handlers in `api/channels` check access and call in here.

pub mod mentions;
pub mod post;
pub mod wire;

use serde_json::{json, Value};

use crate::auth::Caller;

/// How the poster of a message appears in its events.
pub fn author_wire(caller: &Caller) -> Value {
    json!({"id": caller.user.id, "name": caller.user.name, "role": caller.user.role})
}
