//! The heartbeat: every interval, if `HEARTBEAT.md` in the workspace has
//! open tasks, a turn in the target chat that looks at them. A reply of
//! exactly `HEARTBEAT_OK` is recorded but not sent (the worker drops a
//! scheduled turn's quiet reply). With no open tasks (an empty, absent or
//! all-done file) nothing is stored and no model call is made: an idle
//! heartbeat costs zero tokens.
//!
//! "Open" means: after removing `<!-- … -->` comments, any line that is not
//! blank, not a `#` heading and not a checked item (`- [x] …`). So
//! unchecked items (`- [ ] water the plants`) and plain lines ("check the
//! backup log every morning") are open.

use std::path::PathBuf;
use std::sync::Arc;

use picoclaw_agent::{Inbox, Source, Task};
use picoclaw_core::{error, info, warn, ChatKind, Inbound, InboundKind, ScheduledTurn, Sender};
use picoclaw_store::StoreError;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::zone::Zone;

pub const HEARTBEAT_FILE: &str = "HEARTBEAT.md";
/// The reply that means "nothing to report".
pub const HEARTBEAT_OK: &str = "HEARTBEAT_OK";
/// Where the next due time is kept (meta table), so restarts keep the
/// rhythm instead of restarting the interval.
const META_KEY: &str = "heartbeat.next";
/// Most bytes of the file put into the prompt.
const FILE_CAP: usize = 4096;
const RETRY_SECS: i64 = 30;

#[derive(Debug, Clone)]
pub struct HeartbeatOptions {
    pub interval_secs: i64,
    /// The chat told about what the heartbeat finds.
    pub channel: String,
    pub chat_id: String,
    /// Local minutes after midnight `[start, end)` when the heartbeat may
    /// run (wrapping past midnight when start > end); `None`: always.
    pub active: Option<(u32, u32)>,
    /// The zone of `active`.
    pub zone: Zone,
    /// The agent's workspace, where `HEARTBEAT.md` lives.
    pub workspace: PathBuf,
}

/// The heartbeat source.
pub struct Heartbeat {
    opts: HeartbeatOptions,
    clock: Arc<dyn Clock>,
}

impl Heartbeat {
    pub fn new(opts: HeartbeatOptions, clock: Arc<dyn Clock>) -> Heartbeat {
        Heartbeat { opts, clock }
    }
}

impl Source for Heartbeat {
    fn name(&self) -> &'static str {
        "heartbeat"
    }

    fn run(self: Box<Self>, inbox: Inbox) -> Task {
        Box::pin(run(*self, inbox))
    }
}

async fn run(hb: Heartbeat, inbox: Inbox) {
    let o = &hb.opts;
    if !inbox.channels().contains(&o.channel.as_str()) {
        warn!(
            "heartbeat: channel {:?} is not running; the heartbeat is off",
            o.channel
        );
        return;
    }
    info!(
        "heartbeat: every {} s to {} chat {}",
        o.interval_secs, o.channel, o.chat_id
    );
    let mut shutdown = inbox.shutdown();
    while !*shutdown.borrow() {
        let wake_at = match beat(&hb, &inbox).await {
            Ok(at) => at,
            Err(e) => {
                error!("heartbeat: {e}; retrying in {RETRY_SECS} s");
                hb.clock.now() + RETRY_SECS
            }
        };
        tokio::select! {
            _ = hb.clock.sleep_until(wake_at) => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|v| *v).await;
}

/// One look: runs the heartbeat if it is due; returns when to look next.
async fn beat(hb: &Heartbeat, inbox: &Inbox) -> Result<i64, StoreError> {
    let o = &hb.opts;
    let now = hb.clock.now();
    let stored = inbox
        .db()
        .call(|s| s.meta(META_KEY))
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let due = match stored {
        // First start, or the interval was shortened: one interval from now.
        None => None,
        Some(due) if due > now + o.interval_secs => Some(due),
        Some(due) if due > now => return Ok(due),
        Some(due) => {
            let item = if active(o, now) {
                prompt(hb, now, due).await
            } else {
                None
            };
            let next = due + o.interval_secs * ((now - due) / o.interval_secs + 1);
            let stored = item.is_some();
            let fired = inbox
                .db()
                .call(move |s| s.fire_heartbeat(META_KEY, Some(due), next, item.as_ref()))
                .await?;
            if fired && stored {
                info!("heartbeat: open tasks in {HEARTBEAT_FILE}; asking the model");
                inbox.wake(&o.channel);
            }
            return Ok(next);
        }
    };
    let next = now + o.interval_secs;
    inbox
        .db()
        .call(move |s| s.fire_heartbeat(META_KEY, due, next, None))
        .await?;
    Ok(next)
}

fn active(o: &HeartbeatOptions, now: i64) -> bool {
    let Some((start, end)) = o.active else {
        return true;
    };
    let c = o.zone.civil(now);
    let m = c.hour * 60 + c.minute;
    if start <= end {
        (start..end).contains(&m)
    } else {
        m >= start || m < end
    }
}

/// The heartbeat's inbox row, when the file has open tasks.
async fn prompt(hb: &Heartbeat, now: i64, due: i64) -> Option<Inbound> {
    let path = hb.opts.workspace.join(HEARTBEAT_FILE);
    let text = tokio::task::spawn_blocking(move || std::fs::read_to_string(path).ok())
        .await
        .ok()
        .flatten()?;
    let tasks = open_tasks(&text)?;
    let o = &hb.opts;
    let prompt = format!(
        "[heartbeat] Now: {} ({}). Your open tasks from {HEARTBEAT_FILE} are below. Act on what is due now; you may edit the file to tick tasks off. If nothing needs the user's attention, reply with exactly {HEARTBEAT_OK} and nothing else.\n\n{}",
        o.zone.civil(now),
        o.zone.name(),
        cap(&tasks, FILE_CAP)
    );
    Some(Inbound {
        channel: o.channel.clone(),
        event_id: format!("heartbeat:{due}"),
        chat_id: o.chat_id.clone(),
        chat_kind: ChatKind::Direct,
        sender: Sender {
            // The agent gives this sender the owner role.
            id: String::from(picoclaw_agent::HEARTBEAT_SENDER),
            username: None,
            display: String::from("heartbeat"),
        },
        message_id: None,
        kind: InboundKind::Scheduled(Box::new(ScheduledTurn {
            prompt,
            quiet: Some(String::from(HEARTBEAT_OK)),
        })),
    })
}

/// The file without comments, if it has an open task (see the module doc).
pub fn open_tasks(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        rest = match rest[start..].find("-->") {
            Some(end) => &rest[start + end + 3..],
            None => "",
        };
    }
    out.push_str(rest);
    let open = out.lines().map(str::trim).any(|l| {
        let checked = ["- [x]", "- [X]", "* [x]", "* [X]"]
            .iter()
            .any(|p| l.starts_with(p));
        !l.is_empty() && !l.starts_with('#') && !checked
    });
    open.then(|| out.trim().to_string())
}

fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unchecked_items_and_plain_lines_are_open_tasks() {
        assert_eq!(open_tasks(""), None);
        assert_eq!(open_tasks("\n  \n"), None);
        assert_eq!(
            open_tasks(
                "# Heartbeat\n<!-- add tasks\n- [ ] like this -->\n- [x] done\n* [X] also done\n"
            ),
            None
        );
        assert_eq!(
            open_tasks("# Tasks\n- [ ] water the plants\n- [x] done"),
            Some(String::from("# Tasks\n- [ ] water the plants\n- [x] done"))
        );
        assert!(open_tasks("check the backup log").is_some());
        assert!(open_tasks("<!-- unterminated comment\nstill a comment").is_none());
    }
}
