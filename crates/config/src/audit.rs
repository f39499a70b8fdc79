//! `[audit]`: how long the tool-call audit log (`picoclaw audit`) keeps
//! its rows.

use std::fmt::Write;

use serde::Deserialize;

use crate::ctx::Ctx;
use crate::ConfigError;

/// A month of tool calls: enough to look back at what happened, small on
/// an SD card (a row is a few hundred bytes).
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Rows older than this many days are deleted (daily, by the daemon);
    /// 0 keeps them forever.
    pub retention_days: u32,
}

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawAudit>) -> Result<AuditConfig, ConfigError> {
    let a = raw.unwrap_or_default();
    Ok(AuditConfig {
        retention_days: ctx.range(
            "audit.retention_days",
            a.retention_days,
            DEFAULT_RETENTION_DAYS,
            0,
            36_500,
        )?,
    })
}

pub(crate) fn render(a: &AuditConfig, o: &mut String) {
    let _ = writeln!(o, "[audit]\nretention_days = {}\n", a.retention_days);
}
