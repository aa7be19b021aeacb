//! Running generations, so that a chat can show its stop button after a reload,
//! and a stop request can cancel the upstream call.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Entry {
    chat_id: Option<String>,
    user_id: String,
    cancel: CancellationToken,
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

    /// Registers a task and returns its cancellation token.
    pub fn register(
        &self,
        task_id: &str,
        chat_id: Option<&str>,
        user_id: &str,
    ) -> CancellationToken {
        let cancel = CancellationToken::new();
        self.lock().insert(
            task_id.to_string(),
            Entry {
                chat_id: chat_id.map(str::to_string),
                user_id: user_id.to_string(),
                cancel: cancel.clone(),
            },
        );
        cancel
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
        let token = r.register("t1", Some("c1"), "u1");
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
