//! The tool-call audit log: who had which tool run with what arguments,
//! how it ended and under what sandbox. Written by the agent once per
//! call, read by `picoclaw audit`, pruned by age.

use rusqlite::Row;

use crate::error::StoreError;
use crate::store::{limit, to_i64, to_u64, Store};

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStatus {
    Ok,
    /// It ran and failed (bad arguments, non-zero exit, refused path…).
    Error,
    /// A policy refused it before it ran.
    Denied,
}

impl AuditStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Ok => "ok",
            AuditStatus::Error => "error",
            AuditStatus::Denied => "denied",
        }
    }

    fn parse(s: &str) -> Option<AuditStatus> {
        Some(match s {
            "ok" => AuditStatus::Ok,
            "error" => AuditStatus::Error,
            "denied" => AuditStatus::Denied,
            _ => return None,
        })
    }
}

/// One audited tool call. Text fields are stored as given: the caller
/// redacts and shortens them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolAudit {
    /// Unix seconds.
    pub at: i64,
    pub channel: String,
    pub chat_id: String,
    pub user_id: String,
    pub inbound_id: Option<i64>,
    pub tool: String,
    /// The call's JSON arguments (redacted).
    pub arguments: String,
    pub status: AuditStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The sandbox's enforcement label, for calls that ran in it.
    pub sandbox: Option<String>,
    /// Why it failed or was denied, in a line.
    pub detail: Option<String>,
}

/// Which rows `picoclaw audit` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter<'a> {
    /// Unix seconds; rows at or after it.
    pub since: i64,
    pub channel: Option<&'a str>,
    pub chat_id: Option<&'a str>,
    /// Newest rows kept when more match.
    pub limit: usize,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<ToolAudit> {
    let status: String = r.get(7)?;
    let status = AuditStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            7,
            rusqlite::types::Type::Text,
            format!("unknown audit status {status:?}").into(),
        )
    })?;
    Ok(ToolAudit {
        at: r.get(0)?,
        channel: r.get(1)?,
        chat_id: r.get(2)?,
        user_id: r.get(3)?,
        inbound_id: r.get(4)?,
        tool: r.get(5)?,
        arguments: r.get(6)?,
        status,
        exit_code: r.get(8)?,
        duration_ms: to_u64(r.get(9)?),
        sandbox: r.get(10)?,
        detail: r.get(11)?,
    })
}

impl Store {
    /// Appends one tool call to the audit log.
    pub fn record_tool_call(&self, a: &ToolAudit) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO tool_audit (at, channel, chat_id, user_id, inbound_id, tool,
                     arguments, status, exit_code, duration_ms, sandbox, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(rusqlite::params![
                a.at,
                a.channel,
                a.chat_id,
                a.user_id,
                a.inbound_id,
                a.tool,
                a.arguments,
                a.status.as_str(),
                a.exit_code,
                to_i64(a.duration_ms),
                a.sandbox,
                a.detail,
            ])
            .map(drop)
        })
    }

    /// Audited calls matching `f`, oldest first.
    pub fn tool_calls(&self, f: &AuditFilter<'_>) -> Result<Vec<ToolAudit>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, channel, chat_id, user_id, inbound_id, tool, arguments, status,
                        exit_code, duration_ms, sandbox, detail FROM (
                     SELECT * FROM tool_audit
                     WHERE at >= ?1 AND (?2 IS NULL OR channel = ?2)
                       AND (?3 IS NULL OR chat_id = ?3)
                     ORDER BY id DESC LIMIT ?4
                 ) ORDER BY id",
            )?;
            let rows = stmt.query_map(
                rusqlite::params![f.since, f.channel, f.chat_id, limit(f.limit)],
                from_row,
            )?;
            rows.collect()
        })
    }

    /// Deletes audit rows older than `before` (unix seconds); returns how
    /// many went.
    pub fn prune_tool_calls(&self, before: i64) -> Result<u64, StoreError> {
        self.run(|c| {
            c.prepare_cached("DELETE FROM tool_audit WHERE at < ?1")?
                .execute([before])
                .map(|n| n as u64)
        })
    }
}
