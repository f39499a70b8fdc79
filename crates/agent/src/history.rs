//! Recent history of the sessions answered last, kept in memory between
//! model calls: a call reads only the messages stored since the previous
//! one instead of the whole window (decoding a 200-message window per call
//! was a fifth of the per-message instructions). Bounded in sessions and
//! bytes, so a board's RSS does not grow with a long chat; past the bound
//! a session is simply read from the store each time.

use std::collections::VecDeque;
use std::sync::Mutex;

use picoclaw_core::ChatMessage;
use picoclaw_store::{Store, StoreError};

/// Sessions kept (most recently used first).
const SESSIONS: usize = 4;
/// Largest history kept for one session.
const MAX_BYTES: usize = 128 * 1024;

struct Entry {
    session: i64,
    /// The compaction summary standing for everything up to the first kept
    /// message.
    summary: Option<String>,
    last_id: i64,
    messages: VecDeque<(i64, ChatMessage)>,
    bytes: usize,
}

/// What a model call sees of a session's past.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loaded {
    /// Summary of what came before `messages` (after a compaction).
    pub summary: Option<String>,
    pub messages: Vec<(i64, ChatMessage)>,
}

pub(crate) struct History {
    /// Most messages per session (`agent.max_history_messages`).
    max: usize,
    entries: Mutex<Vec<Entry>>,
}

impl History {
    pub fn new(max: usize) -> History {
        History {
            max,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The newest `max` messages of `session` after its compaction
    /// summary, oldest first, with their ids. Blocking.
    pub fn load(&self, store: &Store, session: i64) -> Result<Loaded, StoreError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut entry = match entries.iter().position(|e| e.session == session) {
            Some(i) => entries.remove(i),
            None => {
                let (summary, upto) = store.session_summary(session)?;
                Entry {
                    session,
                    summary,
                    last_id: upto,
                    messages: VecDeque::new(),
                    bytes: 0,
                }
            }
        };
        for (id, m) in store.history(session, entry.last_id, self.max)? {
            entry.bytes += size(&m);
            entry.last_id = id;
            entry.messages.push_back((id, m));
        }
        while entry.messages.len() > self.max {
            if let Some((_, m)) = entry.messages.pop_front() {
                entry.bytes -= size(&m);
            }
        }
        let out = Loaded {
            summary: entry.summary.clone(),
            messages: entry.messages.iter().cloned().collect(),
        };
        if entry.bytes <= MAX_BYTES {
            entries.insert(0, entry);
            entries.truncate(SESSIONS);
        }
        Ok(out)
    }

    /// Drops what is kept for `session` (it was compacted).
    pub fn forget(&self, session: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|e| e.session != session);
    }
}

fn size(m: &ChatMessage) -> usize {
    m.content.len()
        + m.tool_calls
            .iter()
            .map(|c| c.arguments.len() + c.name.len() + c.id.len())
            .sum::<usize>()
        + 64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(n: usize) -> (Store, i64) {
        let mut s = Store::open_in_memory().unwrap();
        let session = s.active_session("t:1").unwrap();
        for i in 0..n {
            s.append_message(session, None, &ChatMessage::user(format!("m{i}")))
                .unwrap();
        }
        (s, session)
    }

    fn texts(v: &Loaded) -> Vec<&str> {
        v.messages.iter().map(|(_, m)| m.content.as_str()).collect()
    }

    #[test]
    fn later_loads_see_new_messages_and_keep_the_window() {
        let (s, session) = store_with(5);
        let h = History::new(3);
        assert_eq!(texts(&h.load(&s, session).unwrap()), ["m2", "m3", "m4"]);
        s.append_message(session, None, &ChatMessage::user("m5"))
            .unwrap();
        assert_eq!(texts(&h.load(&s, session).unwrap()), ["m3", "m4", "m5"]);
    }

    #[test]
    fn a_kept_session_is_read_from_memory_and_forget_rereads_it() {
        let (s, session) = store_with(2);
        let h = History::new(10);
        h.load(&s, session).unwrap();
        // Planted: a kept session returns what is kept.
        h.entries.lock().unwrap()[0].messages[0].1.content = String::from("kept");
        assert_eq!(texts(&h.load(&s, session).unwrap()), ["kept", "m1"]);
        h.forget(session);
        assert_eq!(texts(&h.load(&s, session).unwrap()), ["m0", "m1"]);
    }

    #[test]
    fn after_a_compaction_only_later_messages_come_with_the_summary() {
        let (s, session) = store_with(4);
        let h = History::new(10);
        let ids: Vec<i64> = h
            .load(&s, session)
            .unwrap()
            .messages
            .iter()
            .map(|m| m.0)
            .collect();
        s.set_session_summary(session, "m0 and m1 happened", ids[1])
            .unwrap();
        h.forget(session);
        let l = h.load(&s, session).unwrap();
        assert_eq!(l.summary.as_deref(), Some("m0 and m1 happened"));
        assert_eq!(texts(&l), ["m2", "m3"]);
    }

    #[test]
    fn a_history_over_the_byte_bound_is_not_kept() {
        let (mut s, session) = store_with(0);
        s.append_message(session, None, &ChatMessage::user("x".repeat(MAX_BYTES)))
            .unwrap();
        let h = History::new(10);
        assert_eq!(h.load(&s, session).unwrap().messages.len(), 1);
        assert!(h.entries.lock().unwrap().is_empty());
        let _ = &mut s;
    }
}
