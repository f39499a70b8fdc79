//! `picoclaw doctor`: what this host offers and whether picoclaw can work
//! here. Each line is `ok`, `warn` or `FAIL` with the fix.
//!
//! The sandbox crate confines; this module diagnoses: it puts the
//! sandbox's plan into words (`explain`) and runs the live probe table
//! (`selftest`, `doctor --probe`).

mod explain;
mod mcp;
mod sandbox_cli;
mod security;
mod selftest;

use std::path::Path;

use picoclaw_config::Config;

use picoclaw_store::{Store, StoreError, StoreOptions, DB_FILE, SCHEMA_VERSION};

use crate::setup;

struct Report {
    lines: Vec<String>,
    failed: bool,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl AsRef<str>) {
        self.lines
            .push(format!("ok    {what}: {}", detail.as_ref()));
    }
    fn warn(&mut self, what: &str, detail: impl AsRef<str>) {
        self.lines
            .push(format!("warn  {what}: {}", detail.as_ref()));
    }
    fn fail(&mut self, what: &str, detail: impl AsRef<str>) {
        self.failed = true;
        self.lines
            .push(format!("FAIL  {what}: {}", detail.as_ref()));
    }
}

/// Returns the report text and whether everything needed works.
/// `defaults` is set when no config file exists and built-in defaults
/// stand in: it says where files were looked for.
pub fn run(config: Result<Config, String>, defaults: Option<&str>) -> (String, bool) {
    let mut r = Report {
        lines: Vec::new(),
        failed: false,
    };
    r.ok(
        "picoclaw",
        format!("{} ({})", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH),
    );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    r.ok("kernel", kernel.trim());

    let caps = picoclaw_sandbox::probe();
    let mode = config
        .as_ref()
        .map(|c| setup::sandbox_policy(c, &c.agent.workspace).mode)
        .unwrap_or(picoclaw_sandbox::Mode::Enforce);
    for line in explain::describe(&caps, mode).lines() {
        r.lines.push(format!("      sandbox {line}"));
    }
    let template = config
        .as_ref()
        .map(|c| setup::sandbox_policy(c, &c.agent.workspace))
        .unwrap_or_else(|_| picoclaw_sandbox::Policy::new("/nonexistent"));
    match (selftest::effective_backend(&template, &caps), mode) {
        (None, picoclaw_sandbox::Mode::Enforce) => r.fail(
            "sandbox",
            format!("sandbox.backend = {} has no filesystem confinement here (no Landlock: kernel < 5.13; no namespaces: not root and no unprivileged user namespaces): sandbox.mode = \"enforce\" refuses exec", template.backend.as_str()),
        ),
        (None, _) => r.warn("sandbox", "no Landlock and no namespaces: tools are not confined to the workspace by the kernel"),
        (Some(b), _) => r.ok("sandbox", format!("backend {} (Landlock ABI {})", b.as_str(), caps.landlock_abi.map_or("none".to_string(), |a| a.to_string()))),
    }
    if !caps.seccomp {
        r.warn(
            "seccomp",
            "not available: network and dangerous syscalls are not filtered",
        );
    }

    let config = match (config, defaults) {
        (Ok(c), Some(note)) => {
            r.warn(
                "config",
                format!("{note}; built-in defaults shown. `picoclaw onboard` writes one"),
            );
            c
        }
        (Ok(c), None) => {
            r.ok("config", c.path.display().to_string());
            r.ok("tls roots", c.http.trust().describe());
            c
        }
        (Err(e), _) => {
            r.fail("config", e);
            return (r.lines.join("\n"), false);
        }
    };
    if let Some((uid, gid)) = setup::tool_ids(&config) {
        r.ok("tool user", format!("tools run as uid {uid} gid {gid}"));
    }
    if defaults.is_some() && !config.store.dir.exists() {
        // Without a config nothing is set up yet: say what the first run
        // will create instead of creating it from a diagnostic.
        r.ok(
            "state dir",
            format!(
                "{} does not exist yet; the first run creates it",
                config.store.dir.display()
            ),
        );
    } else {
        check_state_dir(&mut r, &config.store.dir);
        check_database(&mut r, &config);
        report_links(&mut r, &config);
    }
    channels(&mut r, &config);
    if config.providers.is_empty() {
        r.warn("providers", "none configured; nothing can answer");
    } else {
        let names: Vec<String> = config
            .providers
            .iter()
            .map(|p| format!("{}/{}", p.name, p.model))
            .collect();
        r.ok("providers", names.join(" > "));
    }
    mcp::check(&mut r, &config);
    security::check(&mut r, &config, defaults.is_none(), &caps);
    let failed = r.failed;
    (r.lines.join("\n"), !failed)
}

/// Each channel's state and last receive as the running daemon last saved
/// them.
fn report_links(r: &mut Report, config: &Config) {
    let Ok(Some(store)) = inspect_store(config) else {
        return;
    };
    let Ok(Some(text)) = store.meta(crate::links::META_KEY) else {
        r.ok("channels", "no daemon has reported channel states yet");
        return;
    };
    let (saved_at, links) = crate::links::decode(&text);
    let now = std::time::SystemTime::now();
    for l in &links {
        let line = crate::links::describe(l, saved_at, now);
        let what = format!("link {}", l.channel);
        match l.state.as_str() {
            "stopped" => r.fail(&what, line),
            "up" => r.ok(&what, line),
            _ => r.warn(&what, line),
        }
    }
}

pub use sandbox_cli::{sandbox_explain, sandbox_run};
pub use selftest::{probe_table, PROBE_ARG};

/// The database as it is, opened read-only: doctor runs beside a live
/// daemon (or an older one) and must neither create nor migrate the file.
/// `None` when there is no database yet.
fn inspect_store(config: &Config) -> Result<Option<Store>, StoreError> {
    if !config.store.dir.join(DB_FILE).exists() {
        return Ok(None);
    }
    let opts = StoreOptions {
        cache_size_kib: config.store.cache_size_kib,
        ..StoreOptions::default()
    };
    Store::open_read_only(&config.store.dir, &opts).map(Some)
}

fn check_database(r: &mut Report, config: &Config) {
    let path = config.store.dir.join(DB_FILE);
    match inspect_store(config) {
        Ok(None) => r.ok(
            "database",
            format!("{} does not exist yet; the first run creates it", path.display()),
        ),
        // An older schema: the daemon migrates it when it next starts.
        Err(StoreError::ReadOnly { .. }) => r.warn(
            "database",
            format!(
                "{}: an older schema; picoclaw migrates it to v{SCHEMA_VERSION} when it next starts",
                path.display()
            ),
        ),
        Ok(Some(store)) => match store.health() {
            Ok(h) if h.integrity_ok => r.ok(
                "database",
                format!(
                    "{} (schema v{}, {}, {} KiB, {} pending in, {} pending out)",
                    store.path().display(),
                    h.schema_version,
                    h.journal_mode,
                    h.size_bytes / 1024,
                    h.pending_inbound,
                    h.pending_outbox
                ),
            ),
            Ok(_) => r.fail(
                "database",
                "integrity check failed; move the file aside to start fresh",
            ),
            Err(e) => r.fail("database", e.to_string()),
        },
        Err(e) => r.fail("database", e.to_string()),
    }
}

fn channels(r: &mut Report, config: &Config) {
    match &config.telegram {
        None => r.ok("telegram", "disabled"),
        Some(_) => match setup::telegram_options(config)
            .map(picoclaw_channels::telegram::Telegram::connect)
        {
            Some(Ok(t)) => r.ok(
                "telegram",
                format!("token accepted, bot @{}", t.bot_username()),
            ),
            Some(Err(picoclaw_core::ChannelError::Fatal(m))) => r.fail("telegram", m),
            Some(Err(e)) => r.warn(
                "telegram",
                format!("cannot reach the Bot API right now: {e}"),
            ),
            None => {}
        },
    }
    match setup::discord_options(config).map(picoclaw_channels::discord::Discord::connect) {
        None => r.ok("discord", "disabled"),
        Some(Ok(d)) => r.ok(
            "discord",
            format!("token accepted, bot {}", d.bot_username()),
        ),
        Some(Err(picoclaw_core::ChannelError::Fatal(m))) => r.fail("discord", m),
        Some(Err(e)) => r.warn(
            "discord",
            format!("cannot reach the Discord API right now: {e}"),
        ),
    }
}

fn check_state_dir(r: &mut Report, dir: &Path) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        r.fail("state dir", format!("cannot create {}: {e}", dir.display()));
        return;
    }
    let probe = dir.join(".doctor-write-test");
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            r.ok("state dir", format!("{} is writable", dir.display()));
        }
        Err(e) => r.fail(
            "state dir",
            format!("{} is not writable: {e}", dir.display()),
        ),
    }
}
