//! `picoclaw onboard`: from nothing to a working setup. Asks (or takes
//! flags and environment variables, for scripts) for the provider, model
//! and key, the Telegram/Discord tokens and the owner's user id; checks
//! each key against its endpoint when that is reachable; writes a 0600
//! `config.toml` and a workspace with starter persona files; prints the
//! next command. An existing config is never replaced without `--force`.

mod ask;
mod check;
mod render;

use std::io::{IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Failure;
use ask::Ask;
use check::Verdict;

/// A provider the user can name: wire format, endpoint, a model to start
/// with, and where its key usually lives in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub anthropic: bool,
    pub base_url: &'static str,
    pub model: &'static str,
    /// `None`: a local server that needs no key.
    pub key_env: Option<&'static str>,
}

const PRESETS: &[Preset] = &[
    Preset {
        name: "openai",
        anthropic: false,
        base_url: "https://api.openai.com/v1",
        model: "gpt-4o-mini",
        key_env: Some("OPENAI_API_KEY"),
    },
    Preset {
        name: "anthropic",
        anthropic: true,
        base_url: "https://api.anthropic.com",
        model: "claude-3-5-haiku-latest",
        key_env: Some("ANTHROPIC_API_KEY"),
    },
    Preset {
        name: "openrouter",
        anthropic: false,
        base_url: "https://openrouter.ai/api/v1",
        model: "openai/gpt-4o-mini",
        key_env: Some("OPENROUTER_API_KEY"),
    },
    Preset {
        name: "groq",
        anthropic: false,
        base_url: "https://api.groq.com/openai/v1",
        model: "llama-3.1-8b-instant",
        key_env: Some("GROQ_API_KEY"),
    },
    Preset {
        name: "deepseek",
        anthropic: false,
        base_url: "https://api.deepseek.com/v1",
        model: "deepseek-chat",
        key_env: Some("DEEPSEEK_API_KEY"),
    },
    Preset {
        name: "gemini",
        anthropic: false,
        base_url: "https://generativelanguage.googleapis.com/v1beta/openai",
        model: "gemini-2.0-flash",
        key_env: Some("GEMINI_API_KEY"),
    },
    Preset {
        name: "ollama",
        anthropic: false,
        base_url: "http://127.0.0.1:11434/v1",
        model: "qwen2.5:3b",
        key_env: None,
    },
];

/// The command line of `picoclaw onboard`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub telegram_token: Option<String>,
    pub telegram_api_base: Option<String>,
    pub discord_token: Option<String>,
    pub discord_api_base: Option<String>,
    /// The owner's user id, for every channel set up.
    pub owner: Option<String>,
    pub workspace: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub force: bool,
    /// Never ask, even on a terminal.
    pub yes: bool,
    /// Do not contact any endpoint.
    pub no_check: bool,
}

impl Args {
    /// Takes the flag `name` (its value from `p` when it has one); false
    /// when it is not an onboard flag.
    pub fn take(&mut self, name: &str, p: &mut lexopt::Parser) -> Result<bool, String> {
        let mut value = || -> Result<String, String> {
            p.value()
                .map_err(|e| e.to_string())?
                .into_string()
                .map_err(|_| format!("--{name}: not valid UTF-8"))
        };
        match name {
            "force" => self.force = true,
            "yes" | "non-interactive" => self.yes = true,
            "no-check" => self.no_check = true,
            "provider" => self.provider = Some(value()?),
            "model" => self.model = Some(value()?),
            "base-url" => self.base_url = Some(value()?),
            "api-key" => self.api_key = Some(value()?),
            "telegram-token" => self.telegram_token = Some(value()?),
            "telegram-api-base" => self.telegram_api_base = Some(value()?),
            "discord-token" => self.discord_token = Some(value()?),
            "discord-api-base" => self.discord_api_base = Some(value()?),
            "owner" => self.owner = Some(value()?),
            "workspace" => self.workspace = Some(PathBuf::from(value()?)),
            "state-dir" => self.state_dir = Some(PathBuf::from(value()?)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// One chat channel to set up.
#[derive(Debug, Clone)]
pub struct ChannelAnswers {
    pub token: String,
    pub api_base: Option<String>,
    pub owner: Option<String>,
}

/// Everything onboarding collected.
#[derive(Debug, Clone)]
pub struct Answers {
    pub preset: Preset,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub telegram: Option<ChannelAnswers>,
    pub discord: Option<ChannelAnswers>,
    pub workspace: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

/// Where the config goes: `--config`, `$PICOCLAW_CONFIG`, else the first
/// place picoclaw looks that this user may write (`/etc/picoclaw` for
/// root, `~/.config/picoclaw` otherwise).
fn target(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("PICOCLAW_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if crate::os::is_root() {
        return PathBuf::from("/etc/picoclaw/config.toml");
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("picoclaw/config.toml")
}

pub fn run(args: Args, config: Option<&Path>) -> Result<(), Failure> {
    let path = target(config);
    if path.exists() && !args.force {
        return Err(Failure::Config(format!(
            "{} already exists; not replacing it (pass --force to write a new one, or edit it and run `picoclaw check-config`)",
            path.display()
        )));
    }
    let ask = Ask {
        interactive: !args.yes && std::io::stdin().is_terminal(),
    };
    if ask.interactive {
        println!(
            "Setting up picoclaw; the config goes to {}. Enter keeps the [default].",
            path.display()
        );
    }
    let answers = gather(&ask, args.clone())?;
    if !args.no_check {
        checks(&answers)?;
    }
    write_config(&path, &render::config(&answers))?;
    let loaded = picoclaw_config::load(Some(&path)).map_err(|e| {
        Failure::Config(format!(
            "the written config does not load (a bug in onboard): {e}"
        ))
    })?;
    let ws = workspace(&loaded)?;
    println!(
        "wrote {} (mode 600) and the workspace {}",
        path.display(),
        ws.display()
    );
    // The commands need --config unless picoclaw finds this file itself.
    let found = picoclaw_config::find(None).ok();
    next_steps(&path, found.as_deref() != Some(path.as_path()), &answers);
    Ok(())
}

fn gather(ask: &Ask, a: Args) -> Result<Answers, Failure> {
    let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
    if !ask.interactive && a.provider.is_none() {
        return Err(Failure::Config(format!(
            "onboard: --provider is required without a terminal (one of {}; any OpenAI-compatible server: --provider openai --base-url URL)",
            names.join(", ")
        )));
    }
    let name = ask.value(
        a.provider,
        &format!("Provider ({})", names.join(", ")),
        "openai",
    )?;
    let preset = *PRESETS
        .iter()
        .find(|p| p.name == name.to_ascii_lowercase())
        .ok_or_else(|| {
            Failure::Config(format!(
                "onboard: unknown provider {name:?}; use one of {}",
                names.join(", ")
            ))
        })?;
    let base_url = ask
        .value(a.base_url, "API base URL", preset.base_url)?
        .trim_end_matches('/')
        .to_string();
    let model = ask.value(a.model, "Model", preset.model)?;
    let api_key = match preset.key_env {
        Some(env) => ask.secret(a.api_key, Some(env), &format!("API key (or set {env})"))?,
        None => a.api_key.filter(|k| !k.trim().is_empty()),
    };
    if preset.key_env.is_some() && api_key.is_none() && base_url == preset.base_url {
        return Err(Failure::Config(format!(
            "onboard: {} needs an API key: pass --api-key or set {}",
            preset.name,
            preset.key_env.unwrap_or("the key")
        )));
    }
    let telegram = channel(
        ask,
        a.telegram_token,
        "TELEGRAM_BOT_TOKEN",
        "Telegram bot token from @BotFather (empty: no Telegram)",
        a.telegram_api_base,
        a.owner.clone(),
        "Your Telegram user id (numeric; @userinfobot tells you)",
    )?;
    let discord = channel(
        ask,
        a.discord_token,
        "DISCORD_BOT_TOKEN",
        "Discord bot token (empty: no Discord)",
        a.discord_api_base,
        a.owner,
        "Your Discord user id (Developer Mode, right-click, Copy User ID)",
    )?;
    for (what, c) in [("Telegram", &telegram), ("Discord", &discord)] {
        if let Some(owner) = c.as_ref().and_then(|c| c.owner.as_deref()) {
            if owner.is_empty() || !owner.chars().all(|ch| ch.is_ascii_digit()) {
                return Err(Failure::Config(format!(
                    "onboard: {what} user id {owner:?} must be a number"
                )));
            }
        }
    }
    Ok(Answers {
        preset,
        base_url,
        model,
        api_key,
        telegram,
        discord,
        // The config reads relative paths from its own directory; the
        // user meant this one.
        workspace: a.workspace.map(absolute),
        state_dir: a.state_dir.map(absolute),
    })
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map_or(p.clone(), |d| d.join(p))
}

#[allow(clippy::too_many_arguments)]
fn channel(
    ask: &Ask,
    token: Option<String>,
    env: &str,
    question: &str,
    api_base: Option<String>,
    owner: Option<String>,
    owner_question: &str,
) -> Result<Option<ChannelAnswers>, Failure> {
    let Some(token) = ask.secret(token, Some(env), question)? else {
        return Ok(None);
    };
    let owner = ask.value(owner, owner_question, "")?;
    Ok(Some(ChannelAnswers {
        token,
        api_base,
        owner: Some(owner).filter(|o| !o.is_empty()),
    }))
}

/// Each key against its endpoint. Refused: stop (nothing is written).
/// Unreachable: say so and go on.
fn checks(a: &Answers) -> Result<(), Failure> {
    use picoclaw_channels::{discord, telegram};
    use picoclaw_core::log;
    // The channels warn about an empty allow list when built; for a token
    // check that is noise.
    let level = log::level();
    log::set_level(log::Level::Error);
    let mut results = vec![("provider", check::provider(a))];
    if let Some(t) = &a.telegram {
        let base = t.api_base.as_deref().unwrap_or(telegram::DEFAULT_API_BASE);
        results.push(("telegram", check::telegram(&t.token, base)));
    }
    if let Some(d) = &a.discord {
        let base = d.api_base.as_deref().unwrap_or(discord::DEFAULT_API_BASE);
        results.push(("discord", check::discord(&d.token, base)));
    }
    log::set_level(level);
    let mut refused = Vec::new();
    for (what, v) in results {
        match v {
            Verdict::Accepted(m) => println!("ok    {what}: {m}"),
            Verdict::Unchecked(m) => println!("note  {what}: {m}"),
            Verdict::Rejected(m) => {
                println!("FAIL  {what}: {m}");
                refused.push(what);
            }
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Failure::Config(format!(
        "onboard: the {} key was refused; nothing written (fix it and run onboard again, or --no-check to write it anyway)",
        refused.join(" and ")
    )))
}

/// Writes `text` to `path` with mode 0600 from the first byte (a temp
/// file renamed into place, so a crash never leaves half a config).
fn write_config(path: &Path, text: &str) -> Result<(), Failure> {
    let fail =
        |what: &str, e: std::io::Error| Failure::Runtime(format!("{what} {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::os::ensure_private_dir(dir)?;
    }
    let tmp = path.with_extension("toml.onboard-tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| fail("cannot write", e))?;
    // An old temp file keeps its mode; make sure.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| f.write_all(text.as_bytes()))
        .and_then(|()| f.sync_all())
        .map_err(|e| fail("cannot write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| fail("cannot write", e))
}

/// The configured workspace, created as the daemon does, with starter
/// persona files where none exist yet.
fn workspace(config: &picoclaw_config::Config) -> Result<PathBuf, Failure> {
    let ids = crate::setup::tool_ids(config);
    let ws = crate::os::prepare_workspace(&config.agent.workspace, &config.store.dir, ids)?;
    for (name, text) in render::STARTER_FILES {
        let file = ws.join(name);
        if file.exists() {
            continue;
        }
        std::fs::write(&file, text)
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", file.display())))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&file, Some(uid), Some(gid)).map_err(|e| {
                Failure::Runtime(format!("cannot hand {} to uid {uid}: {e}", file.display()))
            })?;
        }
    }
    Ok(ws)
}

fn next_steps(path: &Path, needs_flag: bool, a: &Answers) {
    let flag = if needs_flag {
        format!(" --config {}", path.display())
    } else {
        String::new()
    };
    println!("Next: `picoclaw agent{flag}` to talk to it from this terminal.");
    if a.telegram.is_some() || a.discord.is_some() {
        println!("Then: `picoclaw{flag}` runs the bot (boards/picoclaw.service runs it under systemd); `picoclaw doctor{flag}` checks the setup.");
    } else {
        println!("No chat channel yet: run onboard again with a Telegram or Discord token (--force) to use it from your phone.");
    }
}
