//! picoclaw's configuration: finds `config.toml`, parses it strictly
//! (unknown keys are errors), resolves secrets (inline, `${ENV}` or
//! `*_file`), applies every default in one place and validates. Errors name
//! the file, line, column and key path; the binary exits 2 on any of them.
//!
//! Each section lives in its own module (raw shape, resolved shape,
//! defaults, checks, rendering). Defaults that a library crate also needs
//! come from that crate's own `Default`/constants, and its enums are used
//! as they are, so a value's default is written once. This crate only reads
//! files and the environment; it builds nothing.

mod access;
mod agent;
mod audit;
mod ctx;
mod discord;
mod heartbeat;
mod http;
mod locate;
mod mcp;
mod media;
mod providers;
mod raw;
mod render;
mod resolve;
mod sandbox;
mod scheduler;
mod secret;
mod skills;
mod spawn;
mod store;
mod telegram;
mod tools;
mod web;

use std::path::{Path, PathBuf};

pub use agent::AgentConfig;
pub use audit::AuditConfig;
pub use discord::DiscordConfig;
pub use heartbeat::HeartbeatConfig;
pub use http::HttpConfig;
pub use mcp::{McpConfig, McpServerConfig, McpTransport, McpValue};
pub use media::{MediaConfig, TranscriptionConfig};
pub use picoclaw_providers::ProviderKind;
pub use picoclaw_sandbox::{Backend as SandboxBackend, Mode as SandboxMode};
pub use providers::ProviderConfig;
pub use sandbox::{SandboxConfig, ToolUser};
pub use scheduler::SchedulerConfig;
pub use secret::{Secret, SecretSource};
pub use skills::SkillsConfig;
pub use spawn::SpawnConfig;
pub use store::{LogConfig, StoreConfig};
pub use telegram::TelegramConfig;
pub use tools::ToolsConfig;
pub use web::{SearchConfig, WebConfig};

/// The validated, fully defaulted configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Secret files (`token_file`, `api_key_file`) that were read; tools
    /// must never see them.
    pub secret_files: Vec<PathBuf>,
    pub agent: AgentConfig,
    pub store: StoreConfig,
    pub log: LogConfig,
    pub audit: AuditConfig,
    /// `[http]`: shared by every outbound connection.
    pub http: HttpConfig,
    /// `Some` when `[channels.telegram]` is present and enabled.
    pub telegram: Option<TelegramConfig>,
    /// `Some` when `[channels.discord]` is present and enabled.
    pub discord: Option<DiscordConfig>,
    /// Ordered: the first is primary, the rest are fallbacks.
    pub providers: Vec<ProviderConfig>,
    pub tools: ToolsConfig,
    pub sandbox: SandboxConfig,
    pub scheduler: SchedulerConfig,
    /// `Some` when `[heartbeat]` is present and enabled.
    pub heartbeat: Option<HeartbeatConfig>,
    /// `[mcp.servers.*]`.
    pub mcp: McpConfig,
    pub skills: SkillsConfig,
    /// `[media]`: received and sent files.
    pub media: MediaConfig,
    /// `Some` when `[transcription]` names a model.
    pub transcription: Option<TranscriptionConfig>,
}

/// A configuration problem. Every variant is a user error: the binary
/// prints it and exits with status 2.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No config file at any default location.
    #[error("no config file found (tried {}); pass --config PATH or set PICOCLAW_CONFIG", list(.tried))]
    NotFound { tried: Vec<PathBuf> },
    /// The file could not be read.
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    /// Bad TOML, a wrong type or an unknown key.
    #[error("{}:{line}:{col}: {key}: {message}", .path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        col: usize,
        key: String,
        message: String,
    },
    /// Well-formed but not acceptable (missing token, unknown provider kind,
    /// out-of-range number, unset `${VAR}`...).
    #[error("{}:{line}:{col}: {key}: {message}", .path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        key: String,
        message: String,
    },
    /// An inline secret in a file others can read.
    #[error("{}: holds an inline secret ({key}) but is readable by group or others (mode {mode:04o}); run `chmod 600 {}` or move the secret to a *_file or ${{ENV}} reference", .path.display(), .path.display())]
    Insecure {
        path: PathBuf,
        key: String,
        mode: u32,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the config file: `explicit`, else `$PICOCLAW_CONFIG`, else
/// `/etc/picoclaw/config.toml`, else `$XDG_CONFIG_HOME/picoclaw/config.toml`
/// (`~/.config/...` when unset).
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("PICOCLAW_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut tried = vec![PathBuf::from("/etc/picoclaw/config.toml")];
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = xdg {
        tried.push(dir.join("picoclaw/config.toml"));
    }
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(ConfigError::NotFound { tried }),
    }
}

/// Finds, reads, parses and validates the config, using the process
/// environment for `${VAR}` references.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let path = find(explicit)?;
    let src = std::fs::read_to_string(&path).map_err(|e| ConfigError::Io {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let config = parse(&path, &src, &|name| std::env::var(name).ok())?;
    resolve::check_permissions(&path, &src)?;
    Ok(config)
}

/// Every default, nothing enabled: what `doctor` and `sandbox` use when no
/// config file exists. `path` is where a file would be looked for first
/// (it need not exist).
pub fn defaults(path: &Path) -> Result<Config, ConfigError> {
    parse(path, "", &|name| std::env::var(name).ok())
}

/// Parses and validates `src` as if read from `path`. Pure apart from
/// reading `*_file` secrets; `env` answers `${VAR}` lookups.
pub fn parse(
    path: &Path,
    src: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig = toml::from_str(src).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, col) = locate::line_col(src, offset);
        let key = locate::key_path_at(src, offset);
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            col,
            key: if key.is_empty() {
                String::from("(top level)")
            } else {
                key
            },
            message: e.message().trim().to_string(),
        }
    })?;
    resolve::resolve(path, src, raw, env)
}

impl Config {
    /// The effective configuration as TOML, secrets masked
    /// (`picoclaw check-config`).
    pub fn render_masked(&self) -> String {
        render::render(self)
    }
}
