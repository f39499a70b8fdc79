//! Scheduled jobs and the heartbeat: two event sources for the agent
//! runtime, and the `schedule` tool the model manages jobs with.
//!
//! A job belongs to one chat and, when due, either sends a fixed message
//! (straight to that chat's outbox, no model call) or runs a turn with a
//! prompt (an inbox row the worker answers into that chat). Jobs live in
//! the store; firing one stores its row or chunks and advances its due time
//! in one transaction, so a due time fires at most once, crash or not. The
//! heartbeat runs a turn every interval while `HEARTBEAT.md` has open
//! tasks, and costs nothing (no model call) while it has none.
//!
//! Time comes from a [`Clock`] (tests drive a fake one); zones from the
//! system's TZif files ([`Zone`]); cron expressions are parsed by `cronp`.
//! This crate does not talk to chat networks or providers.

mod clock;
mod heartbeat;
mod jobs;
mod spec;
mod tool;
mod zone;

use std::sync::{Arc, Mutex};

use picoclaw_agent::Db;
use picoclaw_store::Missed;
use tokio::sync::Notify;

pub use clock::{Clock, Sleep, SystemClock};
pub use heartbeat::{open_tasks, Heartbeat, HeartbeatOptions, HEARTBEAT_FILE, HEARTBEAT_OK};
pub use jobs::Jobs;
pub use spec::{parse_cron, parse_duration, Spec};
pub use tool::{describe, ScheduleTool};
pub use zone::{Civil, UnknownZone, Zone};

/// Scheduler settings; every default is in the `Default` impl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// The shortest period an `every` job may have, in seconds.
    pub min_every_secs: i64,
    /// What a job does about due times missed while picoclaw was down,
    /// unless it says otherwise.
    pub missed: Missed,
    /// Zone for `at` times without an offset and for cron expressions,
    /// unless a job names one: an IANA name, "UTC" or "local".
    pub timezone: String,
    /// Most jobs one chat may have.
    pub max_jobs_per_chat: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            min_every_secs: 60,
            missed: Missed::RunOnce,
            timezone: String::from("local"),
            max_jobs_per_chat: 50,
        }
    }
}

/// What the tool and the job source share: the store, the clock, and a
/// bell the tool rings when a job is added.
pub struct Scheduler {
    db: Db,
    clock: Arc<dyn Clock>,
    opts: SchedulerOptions,
    zone: Zone,
    added: Notify,
    /// The channels the running job source serves; empty when none runs
    /// (the terminal's `picoclaw agent`).
    served: Mutex<Vec<&'static str>>,
}

impl Scheduler {
    /// Loads the default zone (blocking: one small file); an unknown one is
    /// logged and UTC is used.
    pub fn new(db: Db, opts: SchedulerOptions, clock: Arc<dyn Clock>) -> Arc<Scheduler> {
        let (zone, err) = Zone::load_or_utc(&opts.timezone);
        if let Some(e) = err {
            picoclaw_core::error!("scheduler.timezone: {e}; using UTC");
        }
        Arc::new(Scheduler {
            db,
            clock,
            opts,
            zone,
            added: Notify::new(),
            served: Mutex::new(Vec::new()),
        })
    }

    /// The `schedule` tool over this scheduler.
    pub fn tool(self: &Arc<Self>) -> ScheduleTool {
        ScheduleTool::new(self.clone())
    }

    /// The source that fires due jobs; register it with the runtime.
    pub fn source(self: &Arc<Self>) -> Jobs {
        Jobs::new(self.clone())
    }

    /// The default zone (after the UTC fallback).
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    fn served(&self) -> Vec<&'static str> {
        self.served
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_served(&self, channels: Vec<&'static str>) {
        *self.served.lock().unwrap_or_else(|p| p.into_inner()) = channels;
    }
}
