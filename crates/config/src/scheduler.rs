//! `[scheduler]`: scheduled jobs (the `schedule` tool and the job source).

use std::fmt::Write;

use picoclaw_scheduler::SchedulerOptions;
use picoclaw_store::Missed;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::q;
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScheduler {
    pub enabled: Option<bool>,
    pub timezone: Option<String>,
    pub min_every_secs: Option<i64>,
    pub missed: Option<String>,
    pub max_jobs_per_chat: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The `schedule` tool and the job source exist.
    pub enabled: bool,
    pub options: SchedulerOptions,
}

pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<RawScheduler>,
) -> Result<SchedulerConfig, ConfigError> {
    let r = raw.unwrap_or_default();
    let d = SchedulerOptions::default();
    let missed = match r.missed.as_deref() {
        None => d.missed,
        Some(m) => Missed::parse(m).ok_or_else(|| {
            ctx.invalid(
                "scheduler.missed",
                format!("{m:?}: use \"run_once\" or \"skip\""),
            )
        })?,
    };
    let timezone = match r.timezone {
        Some(t) if t.trim().is_empty() => {
            return Err(ctx.invalid(
                "scheduler.timezone",
                "must not be empty (an IANA name such as Europe/Berlin, \"UTC\" or \"local\")",
            ))
        }
        Some(t) => t.trim().to_string(),
        None => d.timezone,
    };
    Ok(SchedulerConfig {
        enabled: r.enabled.unwrap_or(true),
        options: SchedulerOptions {
            min_every_secs: ctx.range(
                "scheduler.min_every_secs",
                r.min_every_secs,
                d.min_every_secs,
                1,
                86_400,
            )?,
            missed,
            timezone,
            max_jobs_per_chat: ctx.range(
                "scheduler.max_jobs_per_chat",
                r.max_jobs_per_chat,
                d.max_jobs_per_chat,
                1,
                10_000,
            )?,
        },
    })
}

pub(crate) fn render(s: &SchedulerConfig, o: &mut String) {
    let p = &s.options;
    let _ = writeln!(
        o,
        "[scheduler]\nenabled = {}\ntimezone = {}\nmin_every_secs = {}\nmissed = {}\nmax_jobs_per_chat = {}\n",
        s.enabled,
        q(&p.timezone),
        p.min_every_secs,
        q(p.missed.as_str()),
        p.max_jobs_per_chat
    );
}
