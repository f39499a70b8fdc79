//! The picoclaw binary: command line, config, logging and exit codes. All
//! behaviour lives in the library crates; this file only wires them.

mod access;
mod asuser;
mod audit;
mod cli;
mod daemon;
mod doctor;
mod fresh_store;
#[cfg(any(target_env = "musl", test))]
mod heap;
mod links;
mod mcp;
mod notify;
mod onboard;
mod os;
mod schedule;
mod setup;
mod skills;
mod terminal;
mod usage;

use std::process::ExitCode;

use picoclaw_core::log::{self, Level};

/// Why the process ends unsuccessfully.
#[derive(Debug)]
pub enum Failure {
    /// Usage, configuration or state error a person must fix: exit 2.
    Config(String),
    /// Something failed at run time: exit 1.
    Runtime(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Config(m) | Failure::Runtime(m) => f.write_str(m),
        }
    }
}

fn main() -> ExitCode {
    #[cfg(target_env = "musl")]
    heap::init();
    // `doctor --probe` re-executes this binary inside the sandbox as the
    // sandbox's one probe program; nothing else (no config, no logging)
    // runs there.
    let first = std::env::args().nth(1);
    if first.as_deref() == Some(doctor::PROBE_ARG) {
        let rest: Vec<String> = std::env::args().skip(2).collect();
        std::process::exit(picoclaw_sandbox_probe::main(&rest));
    }
    // Files picoclaw creates (database, workspace files) are private by
    // default; tools get what they need through explicit ownership.
    // SAFETY: umask has no failure mode.
    unsafe {
        libc::umask(0o077);
    }
    // The daemon's first start creates its database in a child (see
    // fresh_store.rs); the child runs after the umask, like the daemon.
    if first.as_deref() == Some(fresh_store::CREATE_STORE_ARG) {
        let rest: Vec<String> = std::env::args().skip(2).collect();
        std::process::exit(fresh_store::child_main(&rest));
    }
    let cli = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("picoclaw: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    init_log(None);
    let result = match cli.command {
        cli::Command::Version => {
            println!("picoclaw {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        cli::Command::Help(topic) => match cli::help_for(topic.as_deref()) {
            Some(text) => {
                println!("{text}");
                Ok(())
            }
            None => Err(Failure::Config(format!(
                "no help for {:?}",
                topic.unwrap_or_default()
            ))),
        },
        cli::Command::CheckConfig => load(&cli.config).map(|c| {
            print!("{}", c.render_masked());
            eprintln!("picoclaw: {} is valid", c.path.display());
        }),
        cli::Command::Doctor { probe } => {
            let (config, defaults) = match load_or_defaults(&cli.config) {
                Ok((c, note)) => (Ok(c), note),
                Err(f) => (Err(f.to_string()), None),
            };
            let probed = match (&config, probe) {
                (Ok(c), true) => Some(doctor::probe_table(c)),
                _ => None,
            };
            let (report, mut ok) = doctor::run(config, defaults.as_deref());
            println!("{report}");
            if let Some((table, probe_ok)) = probed {
                println!("\n{table}");
                ok &= probe_ok;
            }
            if ok {
                Ok(())
            } else {
                Err(Failure::Runtime(String::from(
                    "doctor found problems (FAIL lines above)",
                )))
            }
        }
        cli::Command::Sandbox(action) => {
            load_or_defaults(&cli.config).and_then(|(c, defaults)| {
                if let Some(note) = &defaults {
                    eprintln!("picoclaw: {note}; using built-in defaults (`picoclaw onboard` writes a config)");
                }
                match action {
                    cli::SandboxAction::Explain => {
                        print!("{}", doctor::sandbox_explain(&c).map_err(Failure::Runtime)?);
                        Ok(())
                    }
                    cli::SandboxAction::Run(argv) => {
                        match doctor::sandbox_run(&c, defaults.is_some(), &argv) {
                            Ok(0) => Ok(()),
                            Ok(code) => std::process::exit(code),
                            Err(m) => Err(Failure::Runtime(m)),
                        }
                    }
                }
            })
        }
        cli::Command::Agent { message } => {
            load(&cli.config).and_then(|c| terminal::run(c, message))
        }
        cli::Command::Schedule(action) => load(&cli.config).and_then(|c| schedule::run(&c, action)),
        cli::Command::Run => load(&cli.config).and_then(daemon::run),
        cli::Command::Usage { since } => load(&cli.config).and_then(|c| usage::run(&c, since)),
        cli::Command::Mcp(action) => load(&cli.config).and_then(|c| match action {
            cli::McpAction::List => mcp::list(&c),
            cli::McpAction::Call { server, tool, args } => mcp::call(&c, &server, &tool, &args),
        }),
        cli::Command::SkillsList => load(&cli.config).and_then(|c| skills::list(&c)),
        cli::Command::Audit(q) => load(&cli.config).and_then(|c| audit::run(&c, &q)),
        cli::Command::Onboard(args) => onboard::run(args, cli.config.as_deref()),
        cli::Command::Pairing(action) => load(&cli.config).and_then(|c| access::run(&c, action)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(m)) => {
            eprintln!("picoclaw: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            log::write(Level::Error, "picoclaw", format_args!("{m}"));
            ExitCode::from(1)
        }
    }
}

fn load(path: &Option<std::path::PathBuf>) -> Result<picoclaw_config::Config, Failure> {
    let config = picoclaw_config::load(path.as_deref()).map_err(|e| match e {
        picoclaw_config::ConfigError::NotFound { .. } => {
            Failure::Config(format!("{e}\n  {ONBOARD_HINT}"))
        }
        e => Failure::Config(e.to_string()),
    })?;
    Ok(configure(config))
}

/// The one command that sets picoclaw up.
pub const ONBOARD_HINT: &str =
    "`picoclaw onboard` writes one: it asks for a provider, its key and a chat channel";

/// For the commands that are useful before any setup (`doctor`,
/// `sandbox`): the config, or, when no file exists at any default location
/// and none was named, the built-in defaults with a note saying where
/// files were looked for.
fn load_or_defaults(
    path: &Option<std::path::PathBuf>,
) -> Result<(picoclaw_config::Config, Option<String>), Failure> {
    match picoclaw_config::load(path.as_deref()) {
        Ok(c) => Ok((configure(c), None)),
        Err(picoclaw_config::ConfigError::NotFound { tried }) => {
            let first = tried.first().cloned().unwrap_or_default();
            let config =
                picoclaw_config::defaults(&first).map_err(|e| Failure::Config(e.to_string()))?;
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            let note = format!("no config file found (tried {})", tried.join(", "));
            Ok((configure(config), Some(note)))
        }
        Err(e) => Err(Failure::Config(e.to_string())),
    }
}

fn configure(config: picoclaw_config::Config) -> picoclaw_config::Config {
    init_log(Some(config.log.level));
    picoclaw_core::redact::set_user_patterns(&config.log.redact_patterns);
    // Before any client exists: every HTTPS connection (channels,
    // providers, MCP, doctor's checks) trusts these roots.
    picoclaw_http::install(config.http.trust());
    config
}

/// `PICOCLAW_LOG` wins over `log.level`.
fn init_log(configured: Option<Level>) {
    let level = std::env::var("PICOCLAW_LOG")
        .ok()
        .and_then(|v| Level::parse(&v))
        .or(configured)
        .unwrap_or(Level::Info);
    log::set_level(level);
}
