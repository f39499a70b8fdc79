//! Config → the parts: store, provider chain, tools, channels, agent. The
//! only place that knows both the config schema and every crate's options.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use picoclaw_agent::{Agent, AgentOptions, Db};
use picoclaw_channels::telegram::{Telegram, TelegramOptions};
use picoclaw_config::{Config, ProviderKind};
use picoclaw_core::{Channel, ChannelError, Provider, Tool};
use picoclaw_providers::{ProviderOptions, RetryPolicy};
use picoclaw_store::{Store, StoreOptions};
use picoclaw_tools::{FileLimits, ToolSet};

use crate::Failure;

pub fn open_store(config: &Config) -> Result<Store, Failure> {
    let opts = StoreOptions {
        cache_size_kib: config.store.cache_size_kib,
        ..StoreOptions::default()
    };
    Store::open(&config.store.dir, &opts).map_err(|e| {
        // Damaged, too new or unopenable: restarting cannot help, so exit 2
        // (the systemd unit does not restart on 2) instead of crash-looping.
        // Transient conditions (disk full, busy, read-only) exit 1 and are
        // retried by Restart=on-failure.
        if e.is_transient() {
            Failure::Runtime(e.to_string())
        } else {
            Failure::Config(e.to_string())
        }
    })
}

pub fn providers(config: &Config) -> Result<Arc<dyn Provider>, Failure> {
    let opts: Vec<ProviderOptions> = config
        .providers
        .iter()
        .map(|p| ProviderOptions {
            name: p.name.clone(),
            kind: match p.kind {
                ProviderKind::OpenAi => picoclaw_providers::ProviderKind::OpenAi,
                ProviderKind::Anthropic => picoclaw_providers::ProviderKind::Anthropic,
            },
            base_url: p.base_url.clone(),
            api_key: p.api_key.as_ref().map(|k| k.expose().to_string()),
            model: p.model.clone(),
            max_tokens: p.max_tokens,
            temperature: p.temperature,
            timeout: p.timeout,
            headers: p.headers.clone(),
            proxy: p.proxy.clone(),
        })
        .collect();
    if opts.is_empty() {
        return Err(Failure::Config(format!(
            "{}: no [[providers]] configured; add one (see config.example.toml)",
            config.path.display()
        )));
    }
    // One retry policy for the chain; the primary's max_retries sets it.
    let policy = RetryPolicy {
        max_retries: config.providers[0].max_retries,
        ..RetryPolicy::default()
    };
    let chain =
        picoclaw_providers::build(&opts, policy).map_err(|e| Failure::Config(e.to_string()))?;
    Ok(Arc::new(chain))
}

pub fn tools(config: &Config, workspace: &Path) -> ToolSet {
    let mut tools: Vec<Box<dyn Tool>> = Vec::new();
    if config.tools.exec_enabled {
        tools.push(Box::new(picoclaw_tools::ExecTool::new(sandbox_policy(
            config, workspace,
        ))));
    }
    if config.tools.files_enabled {
        let files = picoclaw_tools::file_tools(&FileLimits {
            max_read_bytes: usize::try_from(config.tools.max_read_bytes).unwrap_or(usize::MAX),
            max_write_bytes: usize::try_from(config.tools.max_write_bytes).unwrap_or(usize::MAX),
            ..FileLimits::default()
        });
        match tool_ids(config) {
            Some((uid, gid)) => tools.extend(
                files
                    .into_iter()
                    .map(|t| crate::asuser::AsUser::wrap(t, uid, gid)),
            ),
            None => tools.extend(files),
        }
    }
    ToolSet::new(tools).with_result_cap(config.agent.tool_result_max_bytes as usize)
}

/// Creates the workspace (0700) and returns its canonical path.
pub fn workspace(config: &Config) -> Result<std::path::PathBuf, Failure> {
    let ws = &config.agent.workspace;
    ensure_private_dir(ws)?;
    // Tools run as sandbox.tool_user when picoclaw is root; the workspace
    // is theirs to write.
    if let Some((uid, gid)) = tool_ids(config) {
        std::os::unix::fs::chown(ws, Some(uid), Some(gid)).map_err(|e| {
            Failure::Runtime(format!(
                "cannot hand workspace {} to uid {uid}: {e}",
                ws.display()
            ))
        })?;
        // The default workspace sits in the 0700 state dir; the tool user
        // may pass through it (0711: no listing, no reading the DB).
        let store = &config.store.dir;
        if ws.starts_with(store) {
            use std::os::unix::fs::PermissionsExt;
            let mut dir = ws.parent();
            while let Some(d) = dir {
                if !d.starts_with(store) {
                    break;
                }
                if let Ok(meta) = std::fs::metadata(d) {
                    let mode = meta.permissions().mode() & 0o7777;
                    if mode & 0o001 == 0 {
                        let _ = std::fs::set_permissions(
                            d,
                            std::fs::Permissions::from_mode(mode | 0o011),
                        );
                    }
                }
                dir = d.parent();
            }
        }
    }
    ws.canonicalize()
        .map_err(|e| Failure::Runtime(format!("workspace {}: {e}", ws.display())))
}

fn ensure_private_dir(dir: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", dir.display())))
}

pub fn agent(config: &Config, db: Db) -> Result<Agent, Failure> {
    let ws = workspace(config)?;
    let tools = tools(config, &ws);
    let opts = AgentOptions {
        workspace: ws,
        max_tool_iterations: config.agent.max_tool_iterations,
        context_window: config.agent.context_window,
        max_history_messages: config.agent.max_history_messages,
        group_sessions_per_user: config.agent.group_sessions_per_user,
        system_prompt: config.agent.system_prompt.clone(),
        tool_timeout: config.tools.exec_timeout,
    };
    Ok(Agent::new(opts, providers(config)?, tools, db))
}

pub fn telegram_options(config: &Config) -> Option<TelegramOptions> {
    let t = config.telegram.as_ref()?;
    let mut o = TelegramOptions::new(t.token.expose());
    o.api_base = t.api_base.clone();
    o.proxy = t.proxy.clone();
    o.allow_from = t.allow_from.clone();
    o.group_trigger = t.group_trigger.clone();
    o.poll_timeout = t.poll_timeout;
    Some(o)
}

/// Connects every enabled channel, retrying transient failures (no network
/// yet at boot) until `give_up` says stop. A channel with a fatal error
/// (bad token) is left out with an error line; the others still run.
pub fn connect_channels(config: &Config, give_up: &dyn Fn() -> bool) -> Vec<Arc<dyn Channel>> {
    let mut out: Vec<Arc<dyn Channel>> = Vec::new();
    if let Some(opts) = telegram_options(config) {
        if opts.allow_from.is_empty() {
            picoclaw_core::warn!(
                "telegram: allow_from is empty, so nobody can talk to the bot; add your numeric user id or \"@username\" to channels.telegram.allow_from (\"*\" allows everyone)"
            );
        }
        let mut backoff =
            picoclaw_core::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            match Telegram::connect(opts.clone()) {
                Ok(t) => {
                    picoclaw_core::info!("telegram: connected as @{}", t.bot_username());
                    out.push(Arc::new(t));
                    break;
                }
                Err(ChannelError::Fatal(msg)) => {
                    picoclaw_core::error!("telegram: {msg}");
                    break;
                }
                Err(e) => {
                    let d = backoff.next_delay();
                    picoclaw_core::warn!(
                        "telegram: cannot connect yet ({e}); retrying in {} s",
                        d.as_secs()
                    );
                    let end = std::time::Instant::now() + d;
                    while std::time::Instant::now() < end {
                        if give_up() {
                            return out;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }
    out
}

/// The sandbox policy template for `exec`, from `[sandbox]`, `[tools.exec]`
/// and the paths tools must never see.
pub fn sandbox_policy(config: &Config, workspace: &Path) -> picoclaw_sandbox::Policy {
    use picoclaw_config::SandboxMode;
    use picoclaw_sandbox::{Limits, Mode, Policy};
    let s = &config.sandbox;
    let mut p = Policy::new(workspace);
    p.mode = match s.mode {
        SandboxMode::Enforce => Mode::Enforce,
        SandboxMode::BestEffort => Mode::BestEffort,
        SandboxMode::Off => Mode::Off,
    };
    p.backend = match s.backend {
        picoclaw_config::SandboxBackend::Auto => picoclaw_sandbox::Backend::Auto,
        picoclaw_config::SandboxBackend::Landlock => picoclaw_sandbox::Backend::Landlock,
        picoclaw_config::SandboxBackend::Namespaces => picoclaw_sandbox::Backend::Namespaces,
        picoclaw_config::SandboxBackend::Both => picoclaw_sandbox::Backend::Both,
    };
    p.read_only_paths.extend(s.extra_read_paths.iter().cloned());
    p.hidden_paths = hidden_paths(config);
    p.allow_net_ports = s.allow_net_ports.clone();
    p.limits = Limits {
        timeout: config.tools.exec_max_timeout,
        cpu_secs: s.cpu_secs,
        address_space_bytes: s.memory_mib << 20,
        file_size_bytes: s.file_size_mib << 20,
        open_files: s.max_open_files,
        processes: s.max_processes,
        output_bytes: usize::try_from(s.output_limit_kib << 10).unwrap_or(usize::MAX),
        ..Limits::default()
    };
    p.run_as = tool_ids(config);
    p
}

/// The config file, the state dir and secret files: never readable by tools.
fn hidden_paths(config: &Config) -> Vec<std::path::PathBuf> {
    let mut out = vec![config.path.clone(), config.store.dir.clone()];
    out.extend(config.secret_files.iter().cloned());
    if let Ok(exe) = std::env::current_exe() {
        // The binary is not secret, but tools have no reason to read it and
        // hiding it keeps /proc/self/exe-style probing pointless.
        out.push(exe);
    }
    if let Some(dir) = config.path.parent() {
        // A config kept in its own directory (/etc/picoclaw) usually has its
        // secret files beside it.
        if dir.file_name().is_some_and(|n| n == "picoclaw") {
            out.push(dir.to_path_buf());
        }
    }
    out.into_iter()
        .map(|p| p.canonicalize().unwrap_or(p))
        .collect()
}

/// `(uid, gid)` of `sandbox.tool_user`, used only when picoclaw is root.
pub fn tool_ids(config: &Config) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if !root {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = |pred: &dyn Fn(&str, u32) -> bool| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let uid = f.get(2)?.parse::<u32>().ok()?;
            let gid = f.get(3)?.parse::<u32>().ok()?;
            pred(f.first()?, uid).then_some((uid, gid))
        })
    };
    match &config.sandbox.tool_user {
        picoclaw_config::ToolUser::Id(id) => Some(entry(&|_, u| u == *id).unwrap_or((*id, *id))),
        picoclaw_config::ToolUser::Name(name) => match entry(&|n, _| n == name) {
            Some(ids) => Some(ids),
            None => {
                picoclaw_core::warn!(
                    "sandbox.tool_user {name:?} is not in /etc/passwd; using 65534 (nobody)"
                );
                Some((65534, 65534))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_never_see_the_config_state_dir_or_secret_files() {
        let dir = std::env::temp_dir().join(format!("picoclaw-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key"), "sk-secret-from-file\n").unwrap();
        let src = format!(
            "[store]\ndir = \"{0}/state\"\n[[providers]]\nkind = \"openai\"\nmodel = \"m\"\napi_key_file = \"{0}/key\"\n",
            dir.display()
        );
        let config = picoclaw_config::parse(&dir.join("config.toml"), &src, &|_| None).unwrap();
        let policy = sandbox_policy(&config, &dir.join("ws"));
        for p in [dir.join("config.toml"), dir.join("state"), dir.join("key")] {
            assert!(
                policy.hidden_paths.contains(&p),
                "{} not hidden: {:?}",
                p.display(),
                policy.hidden_paths
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
