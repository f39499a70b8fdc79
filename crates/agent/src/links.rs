//! Each channel's connection state and last successful receive, kept by the
//! channel's source loop and read by the systemd watchdog, `/status` and
//! (through the store) `doctor`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use picoclaw_core::LinkState;

/// One channel's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub state: LinkState,
    /// The last time a receive (a poll, a gateway event) completed.
    pub last_receive: Option<SystemTime>,
    /// When the source loop last reported anything: a wedged loop stops
    /// updating it.
    touched: Instant,
    /// How long the loop may stay silent while it claims to be up.
    stall: Duration,
}

/// The table of links, shared by the runtime's tasks and the daemon.
#[derive(Debug, Default)]
pub struct Links {
    inner: Mutex<BTreeMap<&'static str, Link>>,
}

impl Links {
    /// Adds `channel` as connecting; its loop must report within `stall`
    /// whenever it says it is up.
    pub fn register(&self, channel: &'static str, stall: Duration) {
        self.lock().insert(
            channel,
            Link {
                state: LinkState::Connecting,
                last_receive: None,
                touched: Instant::now(),
                stall,
            },
        );
    }

    /// Records a state change (or a heartbeat of the same state).
    pub fn set(&self, channel: &'static str, state: LinkState) {
        if let Some(l) = self.lock().get_mut(channel) {
            l.state = state;
            l.touched = Instant::now();
        }
    }

    /// Records a completed receive: the link is up.
    pub fn received(&self, channel: &'static str) {
        if let Some(l) = self.lock().get_mut(channel) {
            l.state = LinkState::Up;
            l.last_receive = Some(SystemTime::now());
            l.touched = Instant::now();
        }
    }

    pub fn get(&self, channel: &str) -> Option<Link> {
        self.lock().get(channel).cloned()
    }

    pub fn snapshot(&self) -> Vec<(&'static str, Link)> {
        self.lock().iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// For the watchdog: every channel that has not stopped for good (a
    /// configuration problem that a restart cannot fix) is reconnecting, or
    /// up with a loop that reported recently. A channel that shows up while
    /// its loop went quiet is the "online but deaf" failure.
    pub fn healthy(&self) -> bool {
        self.lock().values().all(|l| match l.state {
            LinkState::Stopped(_) | LinkState::Reconnecting => true,
            LinkState::Up | LinkState::Connecting => l.touched.elapsed() <= l.stall,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Link>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// "up, last receive 3 s ago" — for `/status` and logs.
pub fn describe(link: &Link) -> String {
    let mut s = String::from(link.state.as_str());
    if let LinkState::Stopped(why) = &link.state {
        s.push_str(": ");
        s.push_str(why);
    }
    if let Some(at) = link.last_receive {
        let ago = SystemTime::now()
            .duration_since(at)
            .unwrap_or_default()
            .as_secs();
        s.push_str(&format!(", last receive {ago} s ago"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_that_claims_up_but_stopped_reporting_is_unhealthy() {
        let links = Links::default();
        links.register("a", Duration::ZERO);
        links.register("b", Duration::from_secs(3600));
        links.set("b", LinkState::Stopped(String::from("bad token")));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!links.healthy(), "a is connecting with a zero stall limit");
        links.set("a", LinkState::Reconnecting);
        assert!(
            links.healthy(),
            "reconnecting and stopped channels are fine"
        );
    }

    #[test]
    fn a_receive_marks_the_link_up_and_is_described() {
        let links = Links::default();
        links.register("t", Duration::from_secs(60));
        links.received("t");
        let l = links.get("t").unwrap();
        assert_eq!(l.state, LinkState::Up);
        assert!(
            describe(&l).starts_with("up, last receive 0 s ago"),
            "{}",
            describe(&l)
        );
    }
}
