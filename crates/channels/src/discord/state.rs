//! What the gateway thread and the channel share: the bounded queue of
//! accepted messages, the session to resume (which is also the cursor the
//! runtime stores with them), the link state and the stop/reconnect flags.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use picoclaw_core::{Inbound, LinkState};

/// Accepted messages waiting for `poll`. When full, the gateway stops
/// reading and later resumes from the last message it queued, so Discord
/// replays the rest instead of their being dropped.
pub(crate) const QUEUE_CAP: usize = 64;

/// The gateway connection as the channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub state: LinkState,
    /// While reconnecting: since the first failure (not the latest
    /// attempt).
    pub down_since: Option<Instant>,
    /// The last payload received (dispatch or heartbeat ACK).
    pub last_receive: Option<SystemTime>,
}

/// A gateway session that can be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    pub session_id: String,
    /// Every event up to this one is queued, stored or deliberately
    /// dropped; a RESUME from here loses nothing.
    pub seq: u64,
    /// `resume_gateway_url` from READY.
    pub url: String,
}

impl Resume {
    /// The channel cursor: `v1 <session_id> <seq> <resume url>`.
    pub(crate) fn to_cursor(&self) -> String {
        format!("v1 {} {} {}", self.session_id, self.seq, self.url)
    }

    pub(crate) fn from_cursor(c: &str) -> Option<Resume> {
        let mut parts = c.split(' ');
        if parts.next()? != "v1" {
            return None;
        }
        let session_id = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let seq = parts.next()?.parse().ok()?;
        let url = parts.next().filter(|u| u.starts_with("ws"))?.to_owned();
        parts.next().is_none().then_some(Resume {
            session_id,
            seq,
            url,
        })
    }
}

pub(crate) struct Inner {
    pub queue: VecDeque<Inbound>,
    pub resume: Option<Resume>,
    pub link: Link,
    /// Set once the channel has stopped for good; `poll` returns it as
    /// [`picoclaw_core::ChannelError::Fatal`].
    pub fatal: Option<String>,
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when messages arrive or the channel stops.
    pub arrived: Condvar,
    /// Signalled when `poll` takes messages, a stop, or a reconnect
    /// request: wakes a gateway thread that is waiting or backing off.
    pub nudge: Condvar,
    pub stop: AtomicBool,
    pub reconnect: AtomicBool,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                resume: None,
                link: Link {
                    state: LinkState::Connecting,
                    down_since: None,
                    last_receive: None,
                },
                fatal: None,
            }),
            arrived: Condvar::new(),
            nudge: Condvar::new(),
            stop: AtomicBool::new(false),
            reconnect: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Records a dispatch: the session's new sequence and, when the
    /// message was accepted, the message itself — together, so the cursor
    /// never covers a message that is not in the queue. `false` (and
    /// nothing recorded) when the queue is full.
    pub(crate) fn commit(&self, session: &Resume, item: Option<Inbound>) -> bool {
        let mut inner = self.lock();
        if let Some(item) = item {
            if inner.queue.len() >= QUEUE_CAP {
                return false;
            }
            inner.queue.push_back(item);
            self.arrived.notify_all();
        }
        inner.resume = Some(session.clone());
        true
    }

    pub(crate) fn set_state(&self, state: LinkState) {
        let mut inner = self.lock();
        inner.link.down_since = match state {
            // Keep the first failure's time while reconnecting repeatedly.
            LinkState::Reconnecting => inner.link.down_since.or(Some(Instant::now())),
            _ => None,
        };
        inner.link.state = state;
    }

    pub(crate) fn heard(&self) {
        self.lock().link.last_receive = Some(SystemTime::now());
    }

    /// Stops the channel for good.
    pub(crate) fn fail(&self, reason: String) {
        let mut inner = self.lock();
        inner.link.state = LinkState::Stopped(reason.clone());
        inner.link.down_since = None;
        inner.fatal.get_or_insert(reason);
        self.stop.store(true, Ordering::SeqCst);
        self.arrived.notify_all();
        self.nudge.notify_all();
    }

    /// Sleeps up to `d`; returns early (false) on stop or a reconnect
    /// request.
    pub(crate) fn nap(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        let mut inner = self.lock();
        loop {
            if self.stopping() || self.reconnect.load(Ordering::SeqCst) {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            inner = self
                .nudge
                .wait_timeout(inner, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Waits until the queue has room (or the channel stops).
    pub(crate) fn wait_room(&self) {
        let mut inner = self.lock();
        while inner.queue.len() >= QUEUE_CAP && !self.stopping() {
            inner = self
                .nudge
                .wait_timeout(inner, Duration::from_secs(1))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let r = Resume {
            session_id: String::from("abc123"),
            seq: 42,
            url: String::from("wss://gateway-us-east1-b.discord.gg"),
        };
        assert_eq!(
            r.to_cursor(),
            "v1 abc123 42 wss://gateway-us-east1-b.discord.gg"
        );
        assert_eq!(Resume::from_cursor(&r.to_cursor()), Some(r));
        for junk in [
            "",
            "42",
            "v1 a b wss://x",
            "v2 a 1 wss://x",
            "v1 a 1 https://x",
            "v1 a 1 wss://x y",
        ] {
            assert_eq!(Resume::from_cursor(junk), None, "{junk:?}");
        }
    }
}
