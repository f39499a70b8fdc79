//! Doctor's security section: what a curious local user, a stranger who
//! finds the bot, or a leaked file would get. Each finding names its fix.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use picoclaw_config::{Config, SecretSource};
use picoclaw_sandbox::{Capabilities, Mode};

use super::Report;
use crate::setup;

/// `has_file`: the config came from a file (not built-in defaults).
pub(super) fn check(r: &mut Report, config: &Config, has_file: bool, caps: &Capabilities) {
    if has_file {
        config_file(r, &config.path, caps.uid);
        for f in &config.secret_files {
            secret_file(r, f);
        }
    }
    secrets(r, config);
    channels(r, config);
    group_exec(r, config);
    sandbox(r, config, caps);
    if config.store.dir.exists() {
        state_dir(r, &config.store.dir);
    }
    user(r, config, caps);
}

fn src(s: SecretSource) -> &'static str {
    match s {
        SecretSource::Inline => "inline",
        SecretSource::Env => "from the environment",
        SecretSource::File => "from a file",
    }
}

/// `(what, where it comes from)` for every secret the config holds.
fn all_secrets(c: &Config) -> Vec<(String, SecretSource)> {
    let mut out = Vec::new();
    if let Some(t) = &c.telegram {
        out.push(("telegram token".to_string(), t.token_source));
    }
    if let Some(d) = &c.discord {
        out.push(("discord token".to_string(), d.token_source));
    }
    for p in &c.providers {
        if let Some(s) = p.api_key_source {
            out.push((format!("{} api_key", p.name), s));
        }
    }
    out
}

fn mode_of(m: &std::fs::Metadata) -> String {
    format!("{:03o}", m.mode() & 0o777)
}

fn config_file(r: &mut Report, path: &Path, me: u32) {
    let what = "security config file";
    let Ok(m) = std::fs::metadata(path) else {
        return;
    };
    let p = path.display();
    let bits = m.mode() & 0o777;
    // A readable file with an inline secret never gets here: loading
    // refuses it (picoclaw_config::ConfigError::Insecure).
    if bits & 0o044 != 0 {
        r.warn(
            what,
            format!(
                "{p} is readable by other users (mode {}): chmod 600 {p}",
                mode_of(&m)
            ),
        );
    } else if bits & 0o022 != 0 {
        r.warn(
            what,
            format!(
                "{p} is writable by other users (mode {}): they could change what picoclaw runs; chmod 600 {p}",
                mode_of(&m)
            ),
        );
    } else if m.uid() != me && m.uid() != 0 {
        r.warn(
            what,
            format!(
                "{p} belongs to uid {}, not to root or to the user picoclaw runs as (uid {me}): that user can change it; chown {me} {p}",
                m.uid()
            ),
        );
    } else {
        r.ok(
            what,
            format!("{p}: mode {}, owner uid {}", mode_of(&m), m.uid()),
        );
    }
}

fn secret_file(r: &mut Report, path: &Path) {
    let Ok(m) = std::fs::metadata(path) else {
        return;
    };
    if m.mode() & 0o044 != 0 {
        let p = path.display();
        r.warn(
            "security secret file",
            format!(
                "{p} is readable by other users (mode {}): chmod 600 {p}",
                mode_of(&m)
            ),
        );
    }
}

fn secrets(r: &mut Report, c: &Config) {
    let list = all_secrets(c);
    if list.is_empty() {
        r.ok("security secrets", "none configured");
        return;
    }
    let text: Vec<String> = list
        .iter()
        .map(|(w, s)| format!("{w} {}", src(*s)))
        .collect();
    let mut line = text.join(", ");
    if list.iter().any(|(_, s)| *s == SecretSource::Inline) {
        line.push_str(
            "; inline keys are only as private as the config file (`${VAR}` or *_file keeps them out of it)",
        );
    }
    r.ok("security secrets", line);
}

fn channels(r: &mut Report, c: &Config) {
    let mut open = |name: &str, allow: &[String], pairing: bool, fix: &str| {
        let what = format!("security {name}");
        if allow.iter().any(|a| a == "*") {
            r.warn(
                &what,
                format!("answers everyone (allow_from = [\"*\"]): any stranger spends your tokens and uses its tools; {fix}"),
            );
        } else if allow.is_empty() && pairing {
            r.ok(
                &what,
                "answers owners and people approved by pairing (strangers get a code)",
            );
        } else if allow.is_empty() {
            r.ok(&what, "answers nobody yet (allow_from is empty)");
        } else {
            r.ok(
                &what,
                format!("answers only the {} listed user(s)", allow.len()),
            );
        }
    };
    if let Some(t) = &c.telegram {
        open(
            "telegram",
            &t.allow_from,
            t.dm_policy == picoclaw_agent::DmPolicy::Pairing,
            "list user ids in [channels.telegram] allow_from",
        );
    }
    if let Some(d) = &c.discord {
        open(
            "discord",
            &d.allow_from,
            d.dm_policy == picoclaw_agent::DmPolicy::Pairing,
            "list user ids in [channels.discord] allow_from",
        );
    }
}

fn group_exec(r: &mut Report, c: &Config) {
    let what = "security group exec";
    let groups = c.telegram.is_some() || c.discord.is_some();
    if !c.tools.exec_enabled {
        r.ok(what, "exec is off ([tools.exec] enabled = false)");
    } else if !groups {
        r.ok(
            what,
            "no chat channel: only this machine's terminal reaches exec",
        );
    } else if !crate::access::policy(c).offered_in_some_group("exec") {
        r.ok(
            what,
            "exec is not offered in group chats (no [[tools.policy]] rule allows it there)",
        );
    } else {
        r.warn(
            what,
            "exec is offered in group chats by a [[tools.policy]] rule: whoever is allowed and writes in a group with the bot can run (sandboxed) commands; take exec out of that rule's allow if that is not wanted",
        );
    }
}

fn sandbox(r: &mut Report, c: &Config, caps: &Capabilities) {
    let what = "security sandbox";
    let policy = setup::sandbox_policy(c, &c.agent.workspace);
    let enforced = match picoclaw_sandbox::effective(&policy, caps) {
        Ok(e) => e.enforcement.to_string(),
        Err(e) => format!("nothing ({e})"),
    };
    match policy.mode {
        Mode::Enforce => r.ok(
            what,
            format!("mode enforce; this kernel enforces {enforced}"),
        ),
        Mode::BestEffort => r.warn(
            what,
            format!("mode best_effort: commands run with whatever holds (here {enforced}); sandbox.mode = \"enforce\" refuses them when a layer is missing"),
        ),
        Mode::Off => r.warn(
            what,
            "mode off: commands run unconfined with picoclaw's own rights; set sandbox.mode = \"enforce\"",
        ),
    }
}

fn state_dir(r: &mut Report, dir: &Path) {
    let what = "security state dir";
    let d = dir.display();
    let db = dir.join("picoclaw.db");
    let loose = [dir, db.as_path()].into_iter().find_map(|p| {
        let m = std::fs::metadata(p).ok()?;
        (m.mode() & 0o077 != 0).then(|| (p.display().to_string(), mode_of(&m)))
    });
    match loose {
        Some((p, mode)) => r.warn(
            what,
            format!("{p} is open to other users (mode {mode}): they can read chat history and memory; chmod 700 {d} and chmod 600 {d}/picoclaw.db*"),
        ),
        None => r.ok(what, format!("{d} is private to its owner")),
    }
}

fn user(r: &mut Report, c: &Config, caps: &Capabilities) {
    let what = "security user";
    if !caps.is_root {
        r.ok(
            what,
            format!("picoclaw runs as uid {} (not root); tools run as the same user, inside the sandbox", caps.uid),
        );
        return;
    }
    match setup::tool_ids(c) {
        Some((0, _)) => r.warn(
            what,
            "root, and tool commands run as root too: set sandbox.tool_user = \"nobody\" (or a dedicated user)",
        ),
        Some((uid, gid)) => r.ok(
            what,
            format!("root (needed to switch users); tool commands run as uid {uid} gid {gid}"),
        ),
        None => r.warn(what, "root; tool commands keep root's uid"),
    }
}
