//! Raw file → validated [`Config`]. Every default lives here.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use picoclaw_core::log::Level;

use crate::locate::position_of;
use crate::raw::{IdOrName, RawConfig, RawProvider, RawTelegram};
use crate::secret::{expand_env, is_env_only, read_secret_file, Secret, SecretSource};
use crate::{
    AgentConfig, Config, ConfigError, LogConfig, ProviderConfig, ProviderKind, SandboxBackend,
    SandboxConfig, SandboxMode, StoreConfig, TelegramConfig, ToolUser, ToolsConfig,
};

struct Ctx<'a> {
    path: &'a Path,
    src: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Every `*_file` secret read, so the sandbox can hide them from tools.
    secret_files: std::cell::RefCell<Vec<PathBuf>>,
}

impl Ctx<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let (line, col) = position_of(self.src, key);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            col,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn expand(&self, key: &str, value: &str) -> Result<String, ConfigError> {
        expand_env(value, self.env).map_err(|m| self.invalid(key, m))
    }

    /// A path from the file: `${VAR}` expanded, relative paths taken from the
    /// config file's directory (not the service's working directory).
    fn path_value(&self, key: &str, value: &str) -> Result<PathBuf, ConfigError> {
        let expanded = self.expand(key, value)?;
        if expanded.trim().is_empty() {
            return Err(self.invalid(key, "must not be empty"));
        }
        let p = PathBuf::from(expanded);
        Ok(if p.is_absolute() {
            p
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        })
    }

    /// Resolves `key` / `key_file`: exactly one may be set.
    fn secret(
        &self,
        table: &str,
        name: &str,
        inline: Option<&str>,
        file: Option<&str>,
    ) -> Result<Option<(Secret, SecretSource)>, ConfigError> {
        let key = format!("{table}.{name}");
        let file_key = format!("{table}.{name}_file");
        match (inline, file) {
            (Some(_), Some(_)) => Err(self.invalid(
                &file_key,
                format!("set either {name} or {name}_file, not both"),
            )),
            (Some(v), None) => {
                let source = if is_env_only(v) {
                    SecretSource::Env
                } else {
                    SecretSource::Inline
                };
                let value = self.expand(&key, v)?;
                if value.trim().is_empty() {
                    return Err(self.invalid(&key, "is empty"));
                }
                Ok(Some((Secret::new(value), source)))
            }
            (None, Some(f)) => {
                let p = self.path_value(&file_key, f)?;
                let value = read_secret_file(&p).map_err(|m| self.invalid(&file_key, m))?;
                self.secret_files.borrow_mut().push(p);
                Ok(Some((Secret::new(value), SecretSource::File)))
            }
            (None, None) => Ok(None),
        }
    }
}

fn range<T: PartialOrd + std::fmt::Display + Copy>(
    ctx: &Ctx<'_>,
    key: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(ctx.invalid(key, format!("{v} is out of range {min}..={max}")));
    }
    Ok(v)
}

pub fn resolve(
    path: &Path,
    src: &str,
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let ctx = Ctx {
        path,
        src,
        env,
        secret_files: std::cell::RefCell::new(Vec::new()),
    };

    let raw_store = raw.store.unwrap_or_default();
    let store_dir = match &raw_store.dir {
        Some(d) => ctx.path_value("store.dir", d)?,
        None => default_state_dir(env),
    };
    let store = StoreConfig {
        dir: store_dir.clone(),
        cache_size_kib: range(
            &ctx,
            "store.cache_size_kib",
            raw_store.cache_size_kib,
            2048,
            64,
            1 << 20,
        )?,
    };

    let a = raw.agent.unwrap_or_default();
    let agent = AgentConfig {
        workspace: match &a.workspace {
            Some(w) => ctx.path_value("agent.workspace", w)?,
            None => store_dir.join("workspace"),
        },
        max_tool_iterations: range(
            &ctx,
            "agent.max_tool_iterations",
            a.max_tool_iterations,
            20,
            1,
            200,
        )?,
        context_window: range(
            &ctx,
            "agent.context_window",
            a.context_window,
            16_000,
            1_000,
            2_000_000,
        )?,
        max_history_messages: range(
            &ctx,
            "agent.max_history_messages",
            a.max_history_messages,
            200,
            2,
            10_000,
        )?,
        tool_result_max_bytes: range(
            &ctx,
            "agent.tool_result_max_bytes",
            a.tool_result_max_bytes,
            16_384,
            256,
            1 << 24,
        )?,
        group_sessions_per_user: a.group_sessions_per_user.unwrap_or(false),
        system_prompt: a.system_prompt.filter(|s| !s.trim().is_empty()),
        shutdown_timeout: Duration::from_secs(range(
            &ctx,
            "agent.shutdown_timeout_secs",
            a.shutdown_timeout_secs,
            10,
            1,
            600,
        )?),
    };

    let level = match raw.log.and_then(|l| l.level) {
        None => Level::Info,
        Some(s) => Level::parse(&s).ok_or_else(|| {
            ctx.invalid(
                "log.level",
                format!("unknown level {s:?}; use error, warn, info, debug or trace"),
            )
        })?,
    };

    let telegram = match raw.channels.and_then(|c| c.telegram) {
        Some(t) if t.enabled.unwrap_or(true) => Some(telegram(&ctx, t)?),
        _ => None,
    };

    let mut providers = Vec::new();
    for (i, p) in raw.providers.unwrap_or_default().into_iter().enumerate() {
        let pc = provider(&ctx, i, p)?;
        if providers.iter().any(|q: &ProviderConfig| q.name == pc.name) {
            return Err(ctx.invalid(
                &format!("providers[{i}].name"),
                format!(
                    "duplicate provider name {:?}; give each [[providers]] entry its own name",
                    pc.name
                ),
            ));
        }
        providers.push(pc);
    }
    if telegram.is_some() && providers.is_empty() {
        return Err(ctx.invalid(
            "providers",
            "a channel is enabled but no [[providers]] entry is configured, so nothing could answer",
        ));
    }

    let t = raw.tools.unwrap_or_default();
    let exec = t.exec.unwrap_or_default();
    let files = t.files.unwrap_or_default();
    let exec_max = range(
        &ctx,
        "tools.exec.max_timeout_secs",
        exec.max_timeout_secs,
        300,
        1,
        86_400,
    )?;
    let tools = ToolsConfig {
        exec_enabled: exec.enabled.unwrap_or(true),
        exec_timeout: Duration::from_secs(range(
            &ctx,
            "tools.exec.timeout_secs",
            exec.timeout_secs,
            60,
            1,
            exec_max,
        )?),
        exec_max_timeout: Duration::from_secs(exec_max),
        files_enabled: files.enabled.unwrap_or(true),
        max_read_bytes: range(
            &ctx,
            "tools.files.max_read_bytes",
            files.max_read_bytes,
            65_536,
            1_024,
            1 << 30,
        )?,
        max_write_bytes: range(
            &ctx,
            "tools.files.max_write_bytes",
            files.max_write_bytes,
            1 << 20,
            1_024,
            1 << 30,
        )?,
    };

    let s = raw.sandbox.unwrap_or_default();
    let mode = match s.mode.as_deref().unwrap_or("enforce") {
        "enforce" => SandboxMode::Enforce,
        "best_effort" => SandboxMode::BestEffort,
        "off" => SandboxMode::Off,
        other => {
            return Err(ctx.invalid(
                "sandbox.mode",
                format!("unknown mode {other:?}; use enforce, best_effort or off"),
            ))
        }
    };
    let backend = match s.backend.as_deref().unwrap_or("auto") {
        "auto" => SandboxBackend::Auto,
        "landlock" => SandboxBackend::Landlock,
        "namespaces" => SandboxBackend::Namespaces,
        "both" => SandboxBackend::Both,
        other => {
            return Err(ctx.invalid(
                "sandbox.backend",
                format!("unknown backend {other:?}; use auto, landlock, namespaces or both"),
            ))
        }
    };
    let tool_user =
        match s.tool_user {
            None => ToolUser::Name(String::from("nobody")),
            Some(IdOrName::Id(id)) => ToolUser::Id(u32::try_from(id).map_err(|_| {
                ctx.invalid("sandbox.tool_user", format!("{id} is not a valid uid"))
            })?),
            Some(IdOrName::Name(n)) if n.trim().is_empty() => {
                return Err(ctx.invalid("sandbox.tool_user", "must not be empty"))
            }
            Some(IdOrName::Name(n)) => ToolUser::Name(n),
        };
    let mut extra_read_paths = Vec::new();
    for (i, p) in s.extra_read_paths.unwrap_or_default().iter().enumerate() {
        extra_read_paths.push(ctx.path_value(&format!("sandbox.extra_read_paths[{i}]"), p)?);
    }
    let sandbox = SandboxConfig {
        mode,
        backend,
        tool_user,
        allow_net_ports: s.allow_net_ports.unwrap_or_default(),
        extra_read_paths,
        cpu_secs: range(&ctx, "sandbox.cpu_secs", s.cpu_secs, 60, 1, 86_400)?,
        memory_mib: range(&ctx, "sandbox.memory_mib", s.memory_mib, 512, 16, 1 << 20)?,
        file_size_mib: range(
            &ctx,
            "sandbox.file_size_mib",
            s.file_size_mib,
            64,
            1,
            1 << 20,
        )?,
        max_processes: range(
            &ctx,
            "sandbox.max_processes",
            s.max_processes,
            64,
            4,
            100_000,
        )?,
        max_open_files: range(
            &ctx,
            "sandbox.max_open_files",
            s.max_open_files,
            256,
            16,
            1 << 20,
        )?,
        output_limit_kib: range(
            &ctx,
            "sandbox.output_limit_kib",
            s.output_limit_kib,
            1024,
            4,
            1 << 20,
        )?,
    };

    Ok(Config {
        secret_files: ctx.secret_files.take(),
        path: path.to_path_buf(),
        agent,
        store,
        log: LogConfig { level },
        telegram,
        providers,
        tools,
        sandbox,
    })
}

fn telegram(ctx: &Ctx<'_>, t: RawTelegram) -> Result<TelegramConfig, ConfigError> {
    const T: &str = "channels.telegram";
    let (token, token_source) = ctx
        .secret(T, "token", t.token.as_deref(), t.token_file.as_deref())?
        .ok_or_else(|| {
            ctx.invalid(
                "channels.telegram.token",
                "missing: set token (or token_file, or token = \"${TELEGRAM_BOT_TOKEN}\"), or enabled = false",
            )
        })?;
    let api_base = t
        .api_base
        .unwrap_or_else(|| String::from("https://api.telegram.org"))
        .trim_end_matches('/')
        .to_string();
    check_url(ctx, "channels.telegram.api_base", &api_base)?;
    let mut allow_from = Vec::new();
    for (i, entry) in t.allow_from.unwrap_or_default().into_iter().enumerate() {
        let key = format!("{T}.allow_from[{i}]");
        allow_from.push(match entry {
            IdOrName::Id(id) => id.to_string(),
            IdOrName::Name(n) if n == "*" => n,
            IdOrName::Name(n) if n.starts_with('@') && n.len() > 1 => n,
            IdOrName::Name(n) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => n,
            IdOrName::Name(n) => {
                return Err(ctx.invalid(
                    &key,
                    format!(
                    "{n:?} is neither a numeric user id nor an @username (or \"*\" for everyone)"
                ),
                ))
            }
        });
    }
    Ok(TelegramConfig {
        token,
        token_source,
        api_base,
        proxy: t.proxy.filter(|p| !p.is_empty()),
        allow_from,
        group_trigger: t.group_trigger.filter(|g| !g.trim().is_empty()),
        poll_timeout: Duration::from_secs(range(
            ctx,
            "channels.telegram.poll_timeout_secs",
            t.poll_timeout_secs,
            30,
            1,
            50,
        )?),
    })
}

fn provider(ctx: &Ctx<'_>, i: usize, p: RawProvider) -> Result<ProviderConfig, ConfigError> {
    let table = format!("providers[{i}]");
    let k = |name: &str| format!("{table}.{name}");
    let kind = match p.kind.as_deref() {
        Some("openai") => ProviderKind::OpenAi,
        Some("anthropic") => ProviderKind::Anthropic,
        Some(other) => return Err(ctx.invalid(&k("kind"), format!("unknown kind {other:?}; use \"openai\" (any OpenAI-compatible server) or \"anthropic\""))),
        None => return Err(ctx.invalid(&k("kind"), "missing: set kind = \"openai\" or \"anthropic\"")),
    };
    let model = match p.model {
        Some(m) if !m.trim().is_empty() => m,
        _ => {
            return Err(ctx.invalid(
                &k("model"),
                "missing: set the model name, e.g. model = \"gpt-4o-mini\"",
            ))
        }
    };
    let base_url = p
        .base_url
        .unwrap_or_else(|| match kind {
            ProviderKind::OpenAi => String::from("https://api.openai.com/v1"),
            ProviderKind::Anthropic => String::from("https://api.anthropic.com"),
        })
        .trim_end_matches('/')
        .to_string();
    check_url(ctx, &k("base_url"), &base_url)?;
    let key = ctx.secret(
        &table,
        "api_key",
        p.api_key.as_deref(),
        p.api_key_file.as_deref(),
    )?;
    let temperature = match p.temperature {
        Some(t) if !(0.0..=2.0).contains(&t) => {
            return Err(ctx.invalid(&k("temperature"), format!("{t} is out of range 0.0..=2.0")))
        }
        t => t,
    };
    let mut headers = Vec::new();
    for (name, value) in p.headers.unwrap_or_default() {
        let v = ctx.expand(&format!("{table}.headers.{name}"), &value)?;
        headers.push((name, v));
    }
    Ok(ProviderConfig {
        name: p
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("{}-{i}", kind.as_str())),
        kind,
        base_url,
        api_key_source: key.as_ref().map(|(_, s)| *s),
        api_key: key.map(|(s, _)| s),
        model,
        max_tokens: range(ctx, &k("max_tokens"), p.max_tokens, 1024, 16, 1_000_000)?,
        temperature,
        timeout: Duration::from_secs(range(
            ctx,
            &k("timeout_secs"),
            p.timeout_secs,
            120,
            1,
            3_600,
        )?),
        max_retries: range(ctx, &k("max_retries"), p.max_retries, 2, 0, 10)?,
        proxy: p.proxy.filter(|p| !p.is_empty()),
        headers,
    })
}

fn check_url(ctx: &Ctx<'_>, key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            ctx.invalid(
                key,
                format!("{url:?} must start with https:// (or http:// for a local server)"),
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ctx.invalid(key, format!("{url:?} has no host")));
    }
    Ok(())
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

/// Refuses a group- or world-readable file that holds an inline secret.
pub fn check_permissions(path: &Path, src: &str) -> Result<(), ConfigError> {
    let Some(key) = inline_secret_key(src) else {
        return Ok(());
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Insecure {
            path: path.to_path_buf(),
            key,
            mode,
        });
    }
    Ok(())
}

/// The key path of the first inline (not `${ENV}`) secret, if any.
fn inline_secret_key(src: &str) -> Option<String> {
    let raw: RawConfig = toml::from_str(src).ok()?;
    if let Some(t) = raw.channels.and_then(|c| c.telegram) {
        if t.enabled.unwrap_or(true) && t.token.as_deref().is_some_and(|v| !is_env_only(v)) {
            return Some(String::from("channels.telegram.token"));
        }
    }
    for (i, p) in raw.providers.unwrap_or_default().iter().enumerate() {
        if p.api_key.as_deref().is_some_and(|v| !is_env_only(v)) {
            return Some(format!("providers[{i}].api_key"));
        }
    }
    None
}
