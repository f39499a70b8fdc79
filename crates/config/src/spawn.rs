//! `[tools.spawn]`: subagents, and the limits that bound them.

use std::fmt::Write;

use picoclaw_agent::{SubagentOptions, MAX_SUBAGENT_DEPTH};
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::ConfigError;

const S: &str = "tools.spawn";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpawn {
    pub enabled: Option<bool>,
    pub max_depth: Option<u32>,
    pub max_concurrent: Option<usize>,
    pub timeout_secs: Option<u64>,
    pub max_tool_iterations: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct SpawnConfig {
    pub enabled: bool,
    pub limits: SubagentOptions,
}

/// At most this many children at once on the one event loop.
const MAX_CONCURRENT: usize = 2;

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawSpawn>) -> Result<SpawnConfig, ConfigError> {
    let s = raw.unwrap_or_default();
    let d = SubagentOptions::default();
    let k = |name: &str| format!("{S}.{name}");
    Ok(SpawnConfig {
        enabled: s.enabled.unwrap_or(true),
        limits: SubagentOptions {
            max_depth: ctx.range(
                &k("max_depth"),
                s.max_depth,
                d.max_depth,
                1,
                MAX_SUBAGENT_DEPTH,
            )?,
            max_concurrent: ctx.range(
                &k("max_concurrent"),
                s.max_concurrent,
                d.max_concurrent,
                1,
                MAX_CONCURRENT,
            )?,
            timeout: ctx.secs(&k("timeout_secs"), s.timeout_secs, d.timeout, 1, 3_600)?,
            max_tool_iterations: ctx.range(
                &k("max_tool_iterations"),
                s.max_tool_iterations,
                d.max_tool_iterations,
                1,
                100,
            )?,
        },
    })
}

pub(crate) fn render(s: &SpawnConfig, o: &mut String) {
    let l = &s.limits;
    let _ = writeln!(
        o,
        "[{S}]\nenabled = {}\nmax_depth = {}\nmax_concurrent = {}\ntimeout_secs = {}\nmax_tool_iterations = {}\n",
        s.enabled,
        l.max_depth,
        l.max_concurrent,
        l.timeout.as_secs(),
        l.max_tool_iterations
    );
}
