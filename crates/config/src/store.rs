//! `[store]` and `[log]`: where state lives, how much RAM SQLite may cache,
//! how chatty the logs are.

use std::fmt::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use picoclaw_core::log::Level;
use picoclaw_store::StoreOptions;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::{list, q};
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub dir: Option<String>,
    pub cache_size_kib: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub level: Option<String>,
    pub redact_patterns: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub cache_size_kib: u32,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: Level,
    /// Globs of words to hide from logs, the audit log and tool output
    /// (on top of configured secrets and well-known key shapes).
    pub redact_patterns: Vec<String>,
}

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawStore>) -> Result<StoreConfig, ConfigError> {
    let s = raw.unwrap_or_default();
    Ok(StoreConfig {
        dir: match &s.dir {
            Some(d) => ctx.path_value("store.dir", d)?,
            None => default_state_dir(ctx.env),
        },
        cache_size_kib: ctx.range(
            "store.cache_size_kib",
            s.cache_size_kib,
            StoreOptions::default().cache_size_kib,
            64,
            1 << 20,
        )?,
    })
}

pub(crate) fn resolve_log(ctx: &Ctx<'_>, raw: Option<RawLog>) -> Result<LogConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut redact_patterns = Vec::new();
    for (i, p) in raw
        .redact_patterns
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        picoclaw_core::redact::check_pattern(&p)
            .map_err(|m| ctx.invalid("log.redact_patterns", format!("[{i}] {p:?}: {m}")))?;
        redact_patterns.push(p);
    }
    let level = match raw.level {
        None => Level::Info,
        Some(s) => Level::parse(&s).ok_or_else(|| {
            ctx.invalid(
                "log.level",
                format!("unknown level {s:?}; use error, warn, info, debug or trace"),
            )
        })?,
    };
    Ok(LogConfig {
        level,
        redact_patterns,
    })
}

/// `$STATE_DIRECTORY` (systemd `StateDirectory=`), else `/var/lib/picoclaw`
/// for root, else `$XDG_STATE_HOME/picoclaw` (`~/.local/state/picoclaw`).
fn default_state_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(d) = env("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may list several, colon-separated; the first is ours.
        return PathBuf::from(d.split(':').next().unwrap_or(&d));
    }
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if is_root {
        return PathBuf::from("/var/lib/picoclaw");
    }
    if let Some(x) = env("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(x).join("picoclaw");
    }
    match env("HOME") {
        Some(h) => PathBuf::from(h).join(".local/state/picoclaw"),
        None => PathBuf::from("/var/lib/picoclaw"),
    }
}

pub(crate) fn render(s: &StoreConfig, l: &LogConfig, o: &mut String) {
    let _ = writeln!(
        o,
        "[store]\ndir = {}\ncache_size_kib = {}\n",
        q(&s.dir.display().to_string()),
        s.cache_size_kib
    );
    let _ = writeln!(
        o,
        "[log]\nlevel = {}\nredact_patterns = {}\n",
        q(l.level.as_str()),
        list(&l.redact_patterns, true)
    );
}
