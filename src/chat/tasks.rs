//! Running generations, so that a chat can show its stop button after a reload,
//! and a stop request can cancel the upstream call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::output::OutputBuilder;

/// What a running generation has produced so far. Shared between the task that
/// streams and readers that need the text before it is saved (a tab reloading
/// mid-generation reads the chat, and the saved message is still a placeholder).
pub type Progress = Arc<Mutex<OutputBuilder>>;

#[derive(Clone)]
struct Entry {
    chat_id: Option<String>,
    user_id: String,
    message_id: Option<String>,
    cancel: CancellationToken,
    progress: Progress,
}

/// A running message's text so far, as the chat UI stores it.
pub struct Snapshot {
    pub message_id: String,
    pub content: String,
    pub output: Value,
}

/// Locks a progress, surviving a panicked writer (the text is still useful).
pub fn lock_progress(p: &Progress) -> std::sync::MutexGuard<'_, OutputBuilder> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub struct TaskRegistry {
    tasks: Mutex<HashMap<String, Entry>>,
}

/// Removes the task from the registry when the generation ends, however it ends.
pub struct TaskGuard<'a> {
    registry: &'a TaskRegistry,
    task_id: String,
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        self.registry.remove(&self.task_id);
    }
}

impl TaskRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a task; returns its cancellation token and the progress the
    /// generation writes into.
    pub fn register(
        &self,
        task_id: &str,
        chat_id: Option<&str>,
        user_id: &str,
        message_id: Option<&str>,
    ) -> (CancellationToken, Progress) {
        let cancel = CancellationToken::new();
        let progress = Progress::default();
        self.lock().insert(
            task_id.to_string(),
            Entry {
                chat_id: chat_id.map(str::to_string),
                user_id: user_id.to_string(),
                message_id: message_id.map(str::to_string),
                cancel: cancel.clone(),
                progress: progress.clone(),
            },
        );
        (cancel, progress)
    }

    /// The partial answers of a chat's running generations.
    pub fn snapshots_for_chat(&self, chat_id: &str) -> Vec<Snapshot> {
        let running: Vec<(String, Progress)> = self
            .lock()
            .values()
            .filter(|e| e.chat_id.as_deref() == Some(chat_id))
            .filter_map(|e| Some((e.message_id.clone()?, e.progress.clone())))
            .collect();
        running
            .into_iter()
            .filter_map(|(message_id, p)| {
                let out = lock_progress(&p);
                (!out.is_empty()).then(|| Snapshot {
                    message_id,
                    content: out.content(),
                    output: out.items("in_progress"),
                })
            })
            .collect()
    }

    pub fn guard(&self, task_id: &str) -> TaskGuard<'_> {
        TaskGuard {
            registry: self,
            task_id: task_id.to_string(),
        }
    }

    pub fn remove(&self, task_id: &str) {
        self.lock().remove(task_id);
    }

    pub fn task_ids_for_chat(&self, chat_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.chat_id.as_deref() == Some(chat_id))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    pub fn is_chat_active(&self, chat_id: &str) -> bool {
        self.lock()
            .values()
            .any(|e| e.chat_id.as_deref() == Some(chat_id))
    }

    /// Chat ids with a running generation, for the sidebar's `active` flags.
    pub fn active_chat_ids(&self, user_id: &str) -> Vec<String> {
        self.lock()
            .values()
            .filter(|e| e.user_id == user_id)
            .filter_map(|e| e.chat_id.clone())
            .collect()
    }

    /// Cancels the task; false if it is unknown (or finished already).
    pub fn cancel(&self, task_id: &str) -> bool {
        match self.lock().get(task_id) {
            Some(e) => {
                e.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every task of a chat; returns their ids.
    pub fn cancel_chat(&self, chat_id: &str) -> Vec<String> {
        let map = self.lock();
        let mut ids = Vec::new();
        for (id, e) in map.iter() {
            if e.chat_id.as_deref() == Some(chat_id) {
                e.cancel.cancel();
                ids.push(id.clone());
            }
        }
        ids
    }

    pub fn owner_of_chat_task(&self, chat_id: &str) -> Option<String> {
        self.lock()
            .values()
            .find(|e| e.chat_id.as_deref() == Some(chat_id))
            .map(|e| e.user_id.clone())
    }

    pub fn all_task_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_cancel_and_guard() {
        let r = TaskRegistry::default();
        let (token, progress) = r.register("t1", Some("c1"), "u1", Some("m1"));
        assert!(
            r.snapshots_for_chat("c1").is_empty(),
            "nothing streamed yet"
        );
        lock_progress(&progress).text("Hel");
        let snaps = r.snapshots_for_chat("c1");
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].message_id, "m1");
        assert_eq!(snaps[0].content, "Hel");
        assert_eq!(snaps[0].output[0]["status"], "in_progress");
        assert!(r.is_chat_active("c1"));
        assert_eq!(r.task_ids_for_chat("c1"), vec!["t1".to_string()]);
        assert_eq!(r.active_chat_ids("u1"), vec!["c1".to_string()]);
        assert_eq!(r.cancel_chat("c1"), vec!["t1".to_string()]);
        assert!(token.is_cancelled());
        {
            let _g = r.guard("t1");
        }
        assert!(!r.is_chat_active("c1"));
        assert!(!r.cancel("t1"));
    }
}
