//! `picoclaw doctor`: what this host offers and whether picoclaw can work
//! here. Each line is `ok`, `warn` or `FAIL` with the fix.

use std::path::Path;

use picoclaw_config::Config;

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
pub fn run(config: Result<Config, String>) -> (String, bool) {
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
    for line in caps.describe(mode).lines() {
        r.lines.push(format!("      sandbox {line}"));
    }
    match (caps.landlock_abi, mode) {
        (None, picoclaw_sandbox::Mode::Enforce) => r.fail(
            "sandbox",
            "no Landlock on this kernel: sandbox.mode = \"enforce\" refuses exec (set best_effort to run with seccomp+rlimits only, or use a 5.13+ kernel)",
        ),
        (None, _) => r.warn("sandbox", "no Landlock: tools are not confined to the workspace by the kernel"),
        (Some(abi), _) => r.ok("sandbox", format!("Landlock ABI {abi}")),
    }
    if !caps.seccomp {
        r.warn(
            "seccomp",
            "not available: network and dangerous syscalls are not filtered",
        );
    }

    let config = match config {
        Ok(c) => {
            r.ok("config", c.path.display().to_string());
            c
        }
        Err(e) => {
            r.fail("config", e);
            return (r.lines.join("\n"), false);
        }
    };
    if let Some((uid, gid)) = setup::tool_ids(&config) {
        r.ok("tool user", format!("tools run as uid {uid} gid {gid}"));
    }
    check_state_dir(&mut r, &config.store.dir);
    match setup::open_store(&config) {
        Ok(store) => match store.health() {
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
    match &config.telegram {
        None => r.ok("telegram", "disabled"),
        Some(_) => match setup::telegram_options(&config)
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
    let failed = r.failed;
    (r.lines.join("\n"), !failed)
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
