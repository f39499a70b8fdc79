//! `picoclaw audit`: the tool-call audit log, read from the database
//! without changing it; and the daemon's daily pruning of old rows.

use picoclaw_agent::Db;
use picoclaw_config::Config;
use picoclaw_core::{info, warn};
use picoclaw_store::{AuditFilter, Store, StoreOptions, ToolAudit};

use crate::Failure;

/// Rows shown at most; older ones are summarised in a line.
const MAX_ROWS: usize = 10_000;

/// What `picoclaw audit` was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Seconds back from now; `None`: the last 24 hours.
    pub since: Option<u64>,
    /// A chat id, or `channel:chat id`.
    pub chat: Option<String>,
    pub json: bool,
}

pub fn run(config: &Config, q: &Query) -> Result<(), Failure> {
    let now = unix_now();
    let since = q.since.unwrap_or(86_400);
    let (channel, chat_id) = match q.chat.as_deref().map(|c| c.split_once(':').ok_or(c)) {
        None => (None, None),
        Some(Ok((channel, chat))) => (Some(channel), Some(chat)),
        Some(Err(chat)) => (None, Some(chat)),
    };
    let store = Store::open_read_only(&config.store.dir, &StoreOptions::default())
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let rows = store
        .tool_calls(&AuditFilter {
            since: now.saturating_sub(i64::try_from(since).unwrap_or(i64::MAX)),
            channel,
            chat_id,
            limit: MAX_ROWS,
        })
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    if q.json {
        for r in &rows {
            println!("{}", json(r));
        }
        return Ok(());
    }
    println!(
        "Tool calls over the last {}{}:",
        crate::usage::span(since),
        q.chat
            .as_deref()
            .map(|c| format!(" in chat {c}"))
            .unwrap_or_default()
    );
    if rows.is_empty() {
        println!("none");
        return Ok(());
    }
    println!(
        "{:<20} {:<20} {:<12} {:<12} {:<7} {:>5} {:>7}  arguments / sandbox / detail",
        "time (UTC)", "chat", "user", "tool", "status", "exit", "ms",
    );
    for r in &rows {
        let time = picoclaw_core::log::format_utc(r.at, 0);
        let mut what = r.arguments.clone();
        if let Some(s) = &r.sandbox {
            what.push_str(&format!("  [sandbox: {s}]"));
        }
        if let Some(d) = &r.detail {
            what.push_str(&format!("  ({d})"));
        }
        println!(
            "{:<20} {:<20} {:<12} {:<12} {:<7} {:>5} {:>7}  {what}",
            time.get(..19).unwrap_or(&time),
            format!("{}:{}", r.channel, r.chat_id),
            r.user_id,
            r.tool,
            r.status.as_str(),
            r.exit_code.map_or("-".to_string(), |c| c.to_string()),
            r.duration_ms,
        );
    }
    if rows.len() == MAX_ROWS {
        println!("(only the newest {MAX_ROWS} shown; narrow with --since or --chat)");
    }
    Ok(())
}

fn json(r: &ToolAudit) -> serde_json::Value {
    serde_json::json!({
        "at": r.at,
        "time": picoclaw_core::log::format_utc(r.at, 0),
        "channel": r.channel,
        "chat_id": r.chat_id,
        "user_id": r.user_id,
        "tool": r.tool,
        // The arguments are JSON the model wrote; kept as text because a
        // long one was cut and no longer parses.
        "arguments": r.arguments,
        "status": r.status.as_str(),
        "exit_code": r.exit_code,
        "duration_ms": r.duration_ms,
        "sandbox": r.sandbox,
        "detail": r.detail,
    })
}

/// Deletes audit rows past `[audit] retention_days` (0: never).
pub async fn prune(db: &Db, config: &Config) {
    let days = config.audit.retention_days;
    if days == 0 {
        return;
    }
    let before = unix_now().saturating_sub(i64::from(days) * 86_400);
    match db.call(move |s| s.prune_tool_calls(before)).await {
        Ok(0) => {}
        Ok(n) => info!("audit: removed {n} tool-call row(s) older than {days} days"),
        Err(e) => warn!("audit: pruning old rows failed: {e}"),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
