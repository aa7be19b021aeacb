//! The table of live app connections that the state holds: one peer and
//! one supervisor task per app, and what a connection's status is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::sio::Client;
use crate::db::apps::AppRow;

/// Connected peers and their supervisors, one per app.
#[derive(Default)]
pub struct Connections {
    pub(super) peers: Mutex<HashMap<String, Arc<Peer>>>,
    pub(super) tasks: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

pub(super) struct Peer {
    /// The app as it was when this connection opened.
    pub(super) app: AppRow,
    pub(super) client: Arc<Client>,
    pub(super) ready: Arc<AtomicBool>,
}

/// What must stay the same for a connection to remain valid.
pub(super) fn config(app: &AppRow) -> (Option<String>, Value, Value, Value) {
    (
        app.api_key.clone(),
        app.data["connection_token"].clone(),
        app.data
            .pointer("/manifest/public_key")
            .cloned()
            .unwrap_or(Value::Null),
        app.data["url"].clone(),
    )
}

impl Connections {
    pub(super) fn lock_for(&self, app_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap()
            .entry(app_id.to_string())
            .or_default()
            .clone()
    }

    pub(super) fn peer(&self, app_id: &str) -> Option<Arc<Peer>> {
        self.peers.lock().unwrap().get(app_id).cloned()
    }

    /// Drops the app's connection and supervisor.
    pub fn remove(&self, app_id: &str) {
        if let Some(t) = self.tasks.lock().unwrap().remove(app_id) {
            t.abort();
        }
        if let Some(p) = self.peers.lock().unwrap().remove(app_id) {
            p.ready.store(false, Ordering::SeqCst);
            p.client.close();
        }
    }

    /// `connected`, `connecting` or `disconnected`.
    pub fn status(&self, app: &AppRow) -> &'static str {
        if !app.is_active {
            return "disconnected";
        }
        match self.peer(&app.id) {
            Some(p) if p.ready.load(Ordering::SeqCst) && p.client.is_open() => "connected",
            Some(_) => "connecting",
            None if self.tasks.lock().unwrap().contains_key(&app.id) => "connecting",
            None => "disconnected",
        }
    }
}
