//! `[tools]`, `[tools.exec]` and `[tools.files]`: which built-in tools
//! exist and their per-call limits. `[tools.web]` and `[tools.spawn]` live
//! in their own modules, `[[tools.policy]]` (who may use which tool) in
//! `access`.

use std::fmt::Write;
use std::time::Duration;

use picoclaw_agent::{ToolRule, DEFAULT_CONFIRM_TIMEOUT};
use picoclaw_sandbox::Limits;
use picoclaw_tools::FileLimits;
use serde::Deserialize;

use crate::access::{self, RawRule};
use crate::ctx::Ctx;
use crate::spawn::{self, RawSpawn, SpawnConfig};
use crate::web::{self, RawWeb, WebConfig};
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTools {
    pub confirm_timeout_secs: Option<u64>,
    pub policy: Option<Vec<RawRule>>,
    pub exec: Option<RawExec>,
    pub files: Option<RawFiles>,
    pub memory: Option<RawMemory>,
    pub web: Option<RawWeb>,
    pub spawn: Option<RawSpawn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMemory {
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExec {
    pub enabled: Option<bool>,
    pub timeout_secs: Option<u64>,
    pub max_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFiles {
    pub enabled: Option<bool>,
    pub max_read_bytes: Option<u64>,
    pub max_write_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct ToolsConfig {
    pub exec_enabled: bool,
    /// Per-command timeout when the model asks for none.
    pub exec_timeout: Duration,
    /// The most the model may ask for.
    pub exec_max_timeout: Duration,
    pub files_enabled: bool,
    pub max_read_bytes: u64,
    pub max_write_bytes: u64,
    /// memory_save, memory_search, memory_forget.
    pub memory_enabled: bool,
    pub web: WebConfig,
    /// `spawn` (subagents).
    pub spawn: SpawnConfig,
    /// Who may use which tool, in order (`[[tools.policy]]`).
    pub policy: Vec<ToolRule>,
    /// How long a tool call that needs confirming waits for the yes.
    pub confirm_timeout: Duration,
}

/// The longest a command may be given unless configured otherwise.
const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawTools>) -> Result<ToolsConfig, ConfigError> {
    let t = raw.unwrap_or_default();
    let exec = t.exec.unwrap_or_default();
    let files = t.files.unwrap_or_default();
    let memory = t.memory.unwrap_or_default();
    let file_defaults = FileLimits::default();
    let exec_max = ctx.secs(
        "tools.exec.max_timeout_secs",
        exec.max_timeout_secs,
        DEFAULT_MAX_TIMEOUT,
        1,
        86_400,
    )?;
    Ok(ToolsConfig {
        exec_enabled: exec.enabled.unwrap_or(true),
        exec_timeout: ctx.secs(
            "tools.exec.timeout_secs",
            exec.timeout_secs,
            Limits::default().timeout,
            1,
            exec_max.as_secs(),
        )?,
        exec_max_timeout: exec_max,
        files_enabled: files.enabled.unwrap_or(true),
        max_read_bytes: ctx.range(
            "tools.files.max_read_bytes",
            files.max_read_bytes,
            file_defaults.max_read_bytes as u64,
            1_024,
            1 << 30,
        )?,
        max_write_bytes: ctx.range(
            "tools.files.max_write_bytes",
            files.max_write_bytes,
            file_defaults.max_write_bytes as u64,
            1_024,
            1 << 30,
        )?,
        memory_enabled: memory.enabled.unwrap_or(true),
        web: web::resolve(ctx, t.web)?,
        spawn: spawn::resolve(ctx, t.spawn)?,
        policy: access::rules(ctx, t.policy)?,
        confirm_timeout: ctx.secs(
            "tools.confirm_timeout_secs",
            t.confirm_timeout_secs,
            DEFAULT_CONFIRM_TIMEOUT,
            1,
            3600,
        )?,
    })
}

pub(crate) fn render(t: &ToolsConfig, o: &mut String) {
    let _ = writeln!(
        o,
        "[tools]\nconfirm_timeout_secs = {}\n",
        t.confirm_timeout.as_secs()
    );
    let _ = writeln!(
        o,
        "[tools.exec]\nenabled = {}\ntimeout_secs = {}\nmax_timeout_secs = {}\n",
        t.exec_enabled,
        t.exec_timeout.as_secs(),
        t.exec_max_timeout.as_secs()
    );
    let _ = writeln!(
        o,
        "[tools.files]\nenabled = {}\nmax_read_bytes = {}\nmax_write_bytes = {}\n",
        t.files_enabled, t.max_read_bytes, t.max_write_bytes
    );
    let _ = writeln!(o, "[tools.memory]\nenabled = {}\n", t.memory_enabled);
    web::render(&t.web, o);
    spawn::render(&t.spawn, o);
    access::render_rules(&t.policy, o);
}
