//! Channel links as the daemon saves them for `picoclaw doctor`, another
//! process: one meta row in the store, written on every state change and
//! at most once a minute otherwise (a board's SD card should not get a
//! write per poll). Writing and reading the format live here together.

use std::time::{SystemTime, UNIX_EPOCH};

use picoclaw_agent::Link;
use picoclaw_core::LinkState;

/// Meta key of the saved links.
pub const META_KEY: &str = "links";

/// One channel as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub channel: String,
    pub state: String,
    /// Unix seconds; 0 before the first receive.
    pub last_receive: u64,
    /// Why it stopped, for a stopped channel.
    pub why: String,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `saved\t<unix>` then one `name\tstate\tlast_receive\twhy` line per
/// channel.
pub fn encode(links: &[(&'static str, Link)], now: SystemTime) -> String {
    let mut out = format!("saved\t{}\n", unix(now));
    for (name, l) in links {
        let why = match &l.state {
            LinkState::Stopped(w) => w.replace(['\t', '\n'], " "),
            _ => String::new(),
        };
        let at = l.last_receive.map_or(0, unix);
        out.push_str(&format!("{name}\t{}\t{at}\t{why}\n", l.state.as_str()));
    }
    out
}

/// When the daemon saved them, and the channels. Unreadable lines are
/// skipped.
pub fn decode(text: &str) -> (u64, Vec<Saved>) {
    let mut saved_at = 0;
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        match f.as_slice() {
            ["saved", at] => saved_at = at.parse().unwrap_or(0),
            [channel, state, at, why] => out.push(Saved {
                channel: channel.to_string(),
                state: state.to_string(),
                last_receive: at.parse().unwrap_or(0),
                why: why.to_string(),
            }),
            _ => {}
        }
    }
    (saved_at, out)
}

/// "up, last receive 12 s before the daemon saved this, 3 min ago".
pub fn describe(s: &Saved, saved_at: u64, now: SystemTime) -> String {
    let now = unix(now);
    let mut text = s.state.clone();
    if !s.why.is_empty() {
        text.push_str(&format!(": {}", s.why));
    }
    if s.last_receive > 0 {
        text.push_str(&format!(
            ", last receive {} s ago",
            now.saturating_sub(s.last_receive)
        ));
    } else {
        text.push_str(", nothing received yet");
    }
    text.push_str(&format!(
        " (as the daemon reported {} s ago)",
        now.saturating_sub(saved_at)
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use picoclaw_agent::Links;
    use std::time::Duration;

    #[test]
    fn what_the_daemon_saves_doctor_reads_back() {
        let links = Links::default();
        links.register("telegram", Duration::from_secs(60));
        links.register("discord", Duration::from_secs(60));
        links.received("telegram");
        links.set(
            "discord",
            LinkState::Stopped(String::from("bad token\tsee the portal")),
        );
        let now = SystemTime::now();
        let (at, saved) = decode(&encode(&links.snapshot(), now));
        assert_eq!(at, unix(now));
        assert_eq!(saved.len(), 2);
        let d = saved.iter().find(|s| s.channel == "discord").unwrap();
        assert_eq!(
            (d.state.as_str(), d.why.as_str()),
            ("stopped", "bad token see the portal")
        );
        let t = saved.iter().find(|s| s.channel == "telegram").unwrap();
        assert!(
            describe(t, at, now).starts_with("up, last receive 0 s ago"),
            "{}",
            describe(t, at, now)
        );
        assert!(describe(d, at, now).contains("nothing received yet"));
    }
}
