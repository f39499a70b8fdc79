//! picoclaw's configuration: finds `config.toml`, parses it strictly
//! (unknown keys are errors), resolves secrets (inline, `${ENV}` or
//! `*_file`), applies every default in one place and validates. Errors name
//! the file, line, column and key path; the binary exits 2 on any of them.
//!
//! This crate only reads files and the environment. It knows the shape of
//! every section but none of the code that uses them.

mod locate;
mod raw;
mod render;
mod resolve;
mod secret;

use std::path::{Path, PathBuf};
use std::time::Duration;

use picoclaw_core::log::Level;

pub use secret::{Secret, SecretSource};

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
    /// `Some` when `[channels.telegram]` is present and enabled.
    pub telegram: Option<TelegramConfig>,
    /// Ordered: the first is primary, the rest are fallbacks.
    pub providers: Vec<ProviderConfig>,
    pub tools: ToolsConfig,
    pub sandbox: SandboxConfig,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub workspace: PathBuf,
    pub max_tool_iterations: u32,
    /// Token budget for the prompt (system + history), estimated.
    pub context_window: u32,
    /// Most history messages loaded per turn, before token trimming.
    pub max_history_messages: u32,
    pub tool_result_max_bytes: u32,
    pub group_sessions_per_user: bool,
    /// Extra text appended to the built-in system prompt.
    pub system_prompt: Option<String>,
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub cache_size_kib: u32,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: Level,
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    pub token: Secret,
    pub token_source: SecretSource,
    pub api_base: String,
    pub proxy: Option<String>,
    /// Numeric ids, `@usernames`, or `*`.
    pub allow_from: Vec<String>,
    pub group_trigger: Option<String>,
    pub poll_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub api_key_source: Option<SecretSource>,
    pub model: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub proxy: Option<String>,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct ToolsConfig {
    pub exec_enabled: bool,
    pub exec_timeout: Duration,
    pub exec_max_timeout: Duration,
    pub files_enabled: bool,
    pub max_read_bytes: u64,
    pub max_write_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    Enforce,
    BestEffort,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxBackend {
    Auto,
    Landlock,
    Namespaces,
    Both,
}

/// Who tool processes run as when picoclaw is root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolUser {
    Name(String),
    Id(u32),
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub mode: SandboxMode,
    pub backend: SandboxBackend,
    pub tool_user: ToolUser,
    pub allow_net_ports: Vec<u16>,
    pub extra_read_paths: Vec<PathBuf>,
    pub cpu_secs: u64,
    pub memory_mib: u64,
    pub file_size_mib: u64,
    pub max_processes: u64,
    pub max_open_files: u64,
    pub output_limit_kib: u64,
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
