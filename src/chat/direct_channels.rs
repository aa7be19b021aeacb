//! The channels on which browser tabs forward direct-connection streams
//! (kept in the app state; filled by `chat::direct::deliver`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc;

/// Frames a channel holds before the tab's further frames are dropped.
const MAX_FRAMES: usize = 100_000;

/// Open channels, by name.
#[derive(Default, Clone)]
pub struct Channels(Arc<Mutex<HashMap<String, mpsc::Sender<Value>>>>);

impl Channels {
    pub(super) fn open(&self, name: &str) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(MAX_FRAMES);
        self.lock().insert(name.to_string(), tx);
        rx
    }

    pub(super) fn close(&self, name: &str) {
        self.lock().remove(name);
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Value>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the channel when the reply is over (or dropped).
pub(super) struct Open {
    pub(super) channels: Channels,
    pub(super) name: String,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.channels.close(&self.name);
    }
}
