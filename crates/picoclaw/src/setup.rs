//! Config → the parts: store, provider chain, tools, agent, runtime and its
//! channels. The only place that knows both the config and every crate's
//! options; it builds, it does not run anything.

use std::path::Path;
use std::sync::Arc;

use picoclaw_agent::{Agent, AgentOptions, Db, MediaOptions, Runtime, RuntimeOptions};
use picoclaw_channels::discord::{Discord, DiscordOptions};
use picoclaw_channels::telegram::{Telegram, TelegramOptions};
use picoclaw_config::Config;
use picoclaw_core::{error, ChannelError, Provider, Tool};
use picoclaw_providers::{ProviderOptions, RetryPolicy};
use picoclaw_scheduler::{Heartbeat, HeartbeatOptions, Scheduler, SystemClock};
use picoclaw_store::{Store, StoreOptions};
use picoclaw_tools::{FileLimits, ToolSet};

use crate::os::prepare_workspace;
pub use crate::os::tool_ids;
use crate::Failure;

pub fn open_store(config: &Config) -> Result<Store, Failure> {
    let opts = StoreOptions {
        cache_size_kib: config.store.cache_size_kib,
        ..StoreOptions::default()
    };
    crate::fresh_store::create_in_child(&config.store.dir);
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
    let opts: Vec<ProviderOptions> = config.providers.iter().map(|p| p.options()).collect();
    let Some(primary) = config.providers.first() else {
        return Err(Failure::Config(format!(
            "{}: no [[providers]] configured; add one (see config.example.toml)",
            config.path.display()
        )));
    };
    // One retry policy for the chain; the primary's max_retries sets it.
    let policy = RetryPolicy {
        max_retries: primary.max_retries,
        ..RetryPolicy::default()
    };
    let chain =
        picoclaw_providers::build(&opts, policy).map_err(|e| Failure::Config(e.to_string()))?;
    Ok(Arc::new(chain))
}

pub fn tools(
    config: &Config,
    workspace: &Path,
    db: &Db,
    sched: Option<&Arc<Scheduler>>,
) -> ToolSet {
    let mut tools: Vec<Box<dyn Tool>> = Vec::new();
    if let Some(s) = sched {
        tools.push(Box::new(s.tool()));
    }
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
    if config.tools.memory_enabled {
        tools.extend(picoclaw_agent::memory_tools(db));
    }
    if config.tools.web.enabled {
        match picoclaw_tools::web::web_tools(&config.tools.web.options()) {
            Ok(web) => tools.extend(web),
            Err(e) => picoclaw_core::error!("tools.web: {e}; web tools are off"),
        }
    }
    ToolSet::new(tools).with_result_cap(config.agent.tool_result_max_bytes as usize)
}

pub fn agent(config: &Config, db: Db, sched: Option<&Arc<Scheduler>>) -> Result<Agent, Failure> {
    let ws = prepare_workspace(&config.agent.workspace, &config.store.dir, tool_ids(config))?;
    let tools = tools(config, &ws, &db, sched);
    let skills = crate::skills::catalog(config, &ws);
    let opts = AgentOptions {
        workspace: ws,
        max_tool_iterations: config.agent.max_tool_iterations,
        context_window: config.agent.context_window,
        compact_at_percent: config.agent.compact_at_percent,
        budgets: picoclaw_agent::Budgets {
            per_chat: config.agent.daily_token_budget,
            global: config.agent.global_daily_token_budget,
        },
        max_history_messages: config.agent.max_history_messages,
        group_sessions_per_user: config.agent.group_sessions_per_user,
        system_prompt: config.agent.system_prompt.clone(),
        tool_timeout: config.tools.exec_timeout,
    };
    let mut agent = Agent::new(opts, providers(config)?, tools, db)
        .with_media(media(config))
        .with_access(crate::access::policy(config));
    if config.tools.spawn.enabled {
        agent = agent.with_subagents(config.tools.spawn.limits);
    }
    if let Some(c) = skills {
        agent = agent
            .with_prompt_section(Arc::new(crate::skills::Listing(c.clone())))
            .with_tool_source(Arc::new(crate::skills::SkillTool::new(c)));
    }
    // Last: nothing after it may fail and leave the servers running.
    if let Some(servers) = crate::mcp::tool_source(config)? {
        agent = agent.with_tool_source(servers);
    }
    Ok(agent)
}

/// `[media]` and `[transcription]` as the agent's options.
pub fn media(config: &Config) -> MediaOptions {
    let mut m = config.media.options();
    m.vision = config.providers.iter().any(|p| p.vision);
    m.owner = tool_ids(config);
    m.transcriber = config.transcription.as_ref().and_then(|t| {
        match picoclaw_providers::Whisper::new(&t.options()) {
            Ok(w) => Some(Arc::new(w) as Arc<dyn picoclaw_core::Transcriber>),
            Err(e) => {
                error!("transcription: {e}; voice notes are saved but not transcribed");
                None
            }
        }
    });
    m
}

/// The agent and an empty runtime around it; callers add channels (and,
/// in the daemon, [`sources`]). The scheduler (when enabled) backs the
/// `schedule` tool; its job source is only registered by [`sources`].
pub fn runtime(config: &Config, db: Db) -> Result<(Runtime, Option<Arc<Scheduler>>), Failure> {
    let sched = config.scheduler.enabled.then(|| {
        Scheduler::new(
            db.clone(),
            config.scheduler.options.clone(),
            Arc::new(SystemClock),
        )
    });
    let rt = Runtime::new(
        agent(config, db, sched.as_ref())?,
        RuntimeOptions {
            shutdown_timeout: config.agent.shutdown_timeout,
        },
    );
    Ok((rt, sched))
}

/// The daemon's event sources besides the channels: due jobs and the
/// heartbeat.
pub fn sources(config: &Config, rt: &mut Runtime, sched: Option<&Arc<Scheduler>>) {
    if let Some(s) = sched {
        rt.source(s.source());
    }
    if let Some(h) = &config.heartbeat {
        let zone = match sched {
            Some(s) => s.zone().clone(),
            None => picoclaw_scheduler::Zone::load_or_utc(&config.scheduler.options.timezone).0,
        };
        let opts = HeartbeatOptions {
            interval_secs: i64::try_from(h.interval.as_secs()).unwrap_or(i64::MAX),
            channel: h.channel.clone(),
            chat_id: h.chat_id.clone(),
            active: h.active_hours,
            zone,
            // Prepared (created, owned) by `agent` already.
            workspace: config
                .agent
                .workspace
                .canonicalize()
                .unwrap_or_else(|_| config.agent.workspace.clone()),
        };
        rt.source(Heartbeat::new(opts, Arc::new(SystemClock)));
    }
}

pub fn telegram_options(config: &Config) -> Option<TelegramOptions> {
    let t = config.telegram.as_ref()?;
    let mut o = TelegramOptions::new(t.token.expose());
    o.api_base = t.api_base.clone();
    o.proxy = t.proxy.clone();
    o.group_trigger = t.group_trigger.clone();
    o.poll_timeout = t.poll_timeout;
    Some(o)
}

pub fn discord_options(config: &Config) -> Option<DiscordOptions> {
    let d = config.discord.as_ref()?;
    Some(DiscordOptions {
        api_base: d.api_base.clone(),
        proxy: d.proxy.clone(),
        allow_guilds: d.allow_guilds.clone(),
        allow_channels: d.allow_channels.clone(),
        mention_only: d.mention_only,
        gateway_timeout: d.gateway_timeout,
        ..DiscordOptions::new(d.token.expose())
    })
}

/// Registers every enabled chat network. None of them touches the network
/// here: each connects in its own loop, so one that is down at boot does not
/// hold up the others. Returns how many were registered.
pub fn channels(config: &Config, rt: &mut Runtime) -> usize {
    let mut n = 0;
    if let Some(opts) = telegram_options(config) {
        match Telegram::new(opts) {
            Ok(t) => {
                rt.channel(Arc::new(t));
                crate::access::hints(config, "telegram");
                n += 1;
            }
            Err(ChannelError::Fatal(msg) | ChannelError::Retry { reason: msg, .. }) => {
                error!("telegram: {msg}")
            }
            Err(e) => error!("telegram: {e}"),
        }
    }
    if let Some(opts) = discord_options(config) {
        match Discord::new(opts) {
            Ok(d) => {
                rt.channel(Arc::new(d));
                crate::access::hints(config, "discord");
                n += 1;
            }
            Err(e) => error!("discord: {e}"),
        }
    }
    n
}

/// The sandbox policy template for `exec`, from `[sandbox]`, `[tools.exec]`
/// and the paths tools must never see.
pub fn sandbox_policy(config: &Config, workspace: &Path) -> picoclaw_sandbox::Policy {
    use picoclaw_sandbox::{Limits, Policy};
    let s = &config.sandbox;
    let mut p = Policy::new(workspace);
    p.mode = s.mode;
    p.backend = s.backend;
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
