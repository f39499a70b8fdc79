//! `[agent]`: the turn loop's limits, the workspace, the system prompt.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::q;
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub workspace: Option<String>,
    pub max_tool_iterations: Option<u32>,
    pub context_window: Option<u32>,
    pub compact_at_percent: Option<u32>,
    pub daily_token_budget: Option<u64>,
    pub global_daily_token_budget: Option<u64>,
    pub max_history_messages: Option<u32>,
    pub tool_result_max_bytes: Option<u32>,
    pub group_sessions_per_user: Option<bool>,
    pub system_prompt: Option<String>,
    pub shutdown_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub workspace: PathBuf,
    pub max_tool_iterations: u32,
    /// Token budget for the prompt (system + history), estimated.
    pub context_window: u32,
    /// Compact the history past this share of `context_window` (percent;
    /// 0: only when the provider says the prompt is too long).
    pub compact_at_percent: u32,
    /// Tokens a chat may use per UTC day (0: no limit).
    pub daily_token_budget: u64,
    /// Tokens all chats together may use per UTC day (0: no limit).
    pub global_daily_token_budget: u64,
    /// Most history messages loaded per turn, before token trimming.
    pub max_history_messages: u32,
    pub tool_result_max_bytes: u32,
    pub group_sessions_per_user: bool,
    /// Extra text appended to the built-in system prompt.
    pub system_prompt: Option<String>,
    pub shutdown_timeout: Duration,
}

pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<RawAgent>,
    state_dir: &Path,
) -> Result<AgentConfig, ConfigError> {
    let a = raw.unwrap_or_default();
    Ok(AgentConfig {
        workspace: match &a.workspace {
            Some(w) => ctx.path_value("agent.workspace", w)?,
            None => state_dir.join("workspace"),
        },
        max_tool_iterations: ctx.range(
            "agent.max_tool_iterations",
            a.max_tool_iterations,
            20,
            1,
            200,
        )?,
        context_window: ctx.range(
            "agent.context_window",
            a.context_window,
            16_000,
            1_000,
            2_000_000,
        )?,
        compact_at_percent: ctx.range(
            "agent.compact_at_percent",
            a.compact_at_percent,
            75,
            0,
            95,
        )?,
        daily_token_budget: ctx.range(
            "agent.daily_token_budget",
            a.daily_token_budget,
            0,
            0,
            u64::MAX / 4,
        )?,
        global_daily_token_budget: ctx.range(
            "agent.global_daily_token_budget",
            a.global_daily_token_budget,
            0,
            0,
            u64::MAX / 4,
        )?,
        max_history_messages: ctx.range(
            "agent.max_history_messages",
            a.max_history_messages,
            200,
            2,
            10_000,
        )?,
        tool_result_max_bytes: ctx.range(
            "agent.tool_result_max_bytes",
            a.tool_result_max_bytes,
            16_384,
            256,
            1 << 24,
        )?,
        group_sessions_per_user: a.group_sessions_per_user.unwrap_or(false),
        system_prompt: a.system_prompt.filter(|s| !s.trim().is_empty()),
        shutdown_timeout: ctx.secs(
            "agent.shutdown_timeout_secs",
            a.shutdown_timeout_secs,
            Duration::from_secs(10),
            1,
            600,
        )?,
    })
}

pub(crate) fn render(a: &AgentConfig, o: &mut String) {
    let _ = writeln!(
        o,
        "[agent]\nworkspace = {}",
        q(&a.workspace.display().to_string())
    );
    let _ = writeln!(o, "max_tool_iterations = {}", a.max_tool_iterations);
    let _ = writeln!(o, "context_window = {}", a.context_window);
    let _ = writeln!(o, "compact_at_percent = {}", a.compact_at_percent);
    let _ = writeln!(o, "daily_token_budget = {}", a.daily_token_budget);
    let _ = writeln!(
        o,
        "global_daily_token_budget = {}",
        a.global_daily_token_budget
    );
    let _ = writeln!(o, "max_history_messages = {}", a.max_history_messages);
    let _ = writeln!(o, "tool_result_max_bytes = {}", a.tool_result_max_bytes);
    let _ = writeln!(o, "group_sessions_per_user = {}", a.group_sessions_per_user);
    if let Some(p) = &a.system_prompt {
        let _ = writeln!(o, "system_prompt = {}", q(p));
    }
    let _ = writeln!(
        o,
        "shutdown_timeout_secs = {}\n",
        a.shutdown_timeout.as_secs()
    );
}
