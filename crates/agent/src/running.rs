//! The turn being answered, so a `/stop` that arrives while it runs can
//! cancel it, and the yes or no its question waits for can reach it. The worker begins and ends turns; a source's ingest checks
//! each new event against the running turn before storing it.

use std::collections::HashSet;
use std::sync::Mutex;

use picoclaw_core::Cancel;

#[derive(Debug, Default)]
pub(crate) struct Running {
    /// Session key of the running turn and its cancel flag.
    current: Mutex<Option<(String, Cancel)>>,
    /// Events (`channel:event_id`) that cancelled a running turn. The
    /// cancelled turn answers "Stopped.", so these get no reply of their own.
    consumed: Mutex<HashSet<String>>,
    /// The running turn's question, when it waits for a yes or no.
    pub confirm: crate::confirm::Pending,
}

impl Running {
    /// Marks the turn for `session` as running and returns its cancel flag.
    pub fn begin(&self, session: String) -> Cancel {
        let cancel = Cancel::new();
        *lock(&self.current) = Some((session, cancel.clone()));
        cancel
    }

    pub fn end(&self) {
        *lock(&self.current) = None;
    }

    /// Cancels the running turn if it belongs to `session`; `event` is then
    /// answered by that turn. Returns whether it did.
    pub fn interrupt(&self, session: &str, event: String) -> bool {
        let current = lock(&self.current);
        match current.as_ref() {
            Some((running, cancel)) if running == session => {
                cancel.cancel();
                lock(&self.consumed).insert(event);
                true
            }
            _ => false,
        }
    }

    /// Whether `event` was consumed by [`Running::interrupt`] (once).
    pub fn take_consumed(&self, event: &str) -> bool {
        lock(&self.consumed).remove(event)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
