//! `picoclaw doctor --probe`: a live self-test of every backend on this
//! very kernel. Each probe is one hostile action run by the sandbox's one
//! probe program (this binary re-executed as `picoclaw __sandbox-probe
//! CASE …`, copied into a scratch workspace) under a copy of the
//! configured policy, and judged by its side effect where there is one.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use picoclaw_config::Config;
use picoclaw_core::Cancel;
use picoclaw_sandbox::{probe, run_with, Backend, Capabilities, Cmd, Mode, Outcome, Policy};

use crate::setup;

/// The first argument that makes the binary run the probe program
/// (`picoclaw_sandbox_probe::main`) instead of picoclaw.
pub const PROBE_ARG: &str = "__sandbox-probe";

/// One probe under one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRow {
    pub probe: &'static str,
    pub backend: Backend,
    /// `None`: the backend is unavailable here (or refused to run).
    pub blocked: Option<bool>,
    pub detail: String,
}

const PROBES: [&str; 7] = [
    "write outside the workspace",
    "read a hidden file (config)",
    "read picoclaw's environ",
    "tcp connect to loopback",
    "udp send to loopback",
    "signal the parent",
    "fork bomb under the process limit",
];

/// The uid the fork-bomb probe runs as when picoclaw is root: one no
/// account uses (below the 2^31 limit some tools assume), so the probe
/// competes with no real process for RLIMIT_NPROC.
const FORK_BOMB_UID: u32 = 2_147_483_600;

const BACKENDS: [Backend; 3] = [Backend::Landlock, Backend::Namespaces, Backend::Both];

/// The backend `policy` resolves to on a kernel with `caps`, or `None`
/// when it cannot confine the filesystem there.
pub fn effective_backend(policy: &Policy, caps: &Capabilities) -> Option<Backend> {
    let ll = caps.landlock_abi.is_some();
    let ns = caps.namespaces;
    match policy.backend {
        Backend::Auto if ll && ns => Some(Backend::Both),
        Backend::Auto if ll => Some(Backend::Landlock),
        Backend::Auto if ns => Some(Backend::Namespaces),
        Backend::Landlock if ll => Some(Backend::Landlock),
        Backend::Namespaces if ns => Some(Backend::Namespaces),
        Backend::Both if ll && ns => Some(Backend::Both),
        _ => None,
    }
}

/// `doctor --probe`: the live probe table for the configured policy, and
/// whether everything the configured backend promises was blocked.
pub fn probe_table(config: &Config) -> (String, bool) {
    let policy = setup::sandbox_policy(config, &config.agent.workspace);
    let rows = match std::env::current_exe() {
        Ok(exe) => selftest(&policy, &exe),
        Err(e) => unavailable_rows(&format!("cannot find the picoclaw binary: {e}")),
    };
    let mut out = render_probe_table(&rows);
    let (verdict, ok) = verdict(&policy, &rows, &probe());
    out.push_str(&verdict);
    (out, ok)
}

fn verdict(policy: &Policy, rows: &[ProbeRow], caps: &Capabilities) -> (String, bool) {
    match (policy.mode, effective_backend(policy, caps)) {
        (Mode::Off, _) => (
            "sandbox.mode = off: nothing is promised\n".to_string(),
            true,
        ),
        (_, None) => (
            format!(
                "FAIL  sandbox.backend = {}: not available on this kernel\n",
                policy.backend.as_str()
            ),
            policy.mode != Mode::Enforce,
        ),
        (_, Some(b)) => {
            let leaks: Vec<String> = rows
                .iter()
                .filter(|r| r.backend == b && r.blocked != Some(true))
                .map(|r| format!("{} ({})", r.probe, r.detail))
                .collect();
            if leaks.is_empty() {
                let line = format!(
                    "ok    configured backend {} (sandbox.backend = {}) blocked every probe\n",
                    b.as_str(),
                    policy.backend.as_str()
                );
                (line, true)
            } else {
                let line = format!(
                    "FAIL  configured backend {} let through: {}\n",
                    b.as_str(),
                    leaks.join("; ")
                );
                (line, false)
            }
        }
    }
}

fn unavailable_rows(why: &str) -> Vec<ProbeRow> {
    let mut out = Vec::new();
    for backend in BACKENDS {
        for p in PROBES {
            out.push(ProbeRow {
                probe: p,
                backend,
                blocked: None,
                detail: why.to_string(),
            });
        }
    }
    out
}

/// Runs every probe under each explicit backend, with `template`'s mode,
/// limits, roots, hidden paths and tool user, in a scratch workspace.
/// `program` must dispatch [`PROBE_ARG`] to the probe program.
pub fn selftest(template: &Policy, program: &Path) -> Vec<ProbeRow> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!("picoclaw-selftest-{}-{seq}", std::process::id()));
    let out = match Scratch::create(&root, template, program) {
        Ok(s) => s.run_all(template),
        Err(e) => unavailable_rows(&format!("scratch setup failed: {e}")),
    };
    let _ = std::fs::remove_dir_all(&root);
    out
}

struct Scratch {
    ws: PathBuf,
    tmp: PathBuf,
    conf: PathBuf,
    secret: PathBuf,
    victim: PathBuf,
    program: String,
}

impl Scratch {
    fn create(root: &Path, template: &Policy, program: &Path) -> std::io::Result<Scratch> {
        let _ = std::fs::remove_dir_all(root);
        let ws = root.join("ws");
        let conf = root.join("conf");
        let outside = root.join("outside");
        for d in [root, &ws, &conf, &outside] {
            std::fs::create_dir_all(d)?;
        }
        let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        mode(root, 0o711)?;
        // Searchable by all: the fork-bomb probe runs as a uid of its own.
        mode(&ws, 0o711)?;
        mode(&conf, 0o755)?;
        mode(&outside, 0o777)?;
        let secret = conf.join("config.toml");
        std::fs::write(&secret, "token = \"SELFTEST-SECRET\"\n")?;
        mode(&secret, 0o644)?;
        let victim = outside.join("victim");
        std::fs::write(&victim, "original")?;
        // World-writable: only the sandbox stands between a tool and it.
        mode(&victim, 0o666)?;
        let copy = ws.join("picoclaw-probe");
        std::fs::copy(program, &copy)?;
        mode(&copy, 0o755)?;
        if let Some((uid, gid)) = template.run_as {
            std::os::unix::fs::chown(&ws, Some(uid), Some(gid))?;
        }
        Ok(Scratch {
            tmp: root.join("tmp"),
            ws,
            conf,
            secret,
            victim,
            program: copy.display().to_string(),
        })
    }

    fn run_all(&self, template: &Policy) -> Vec<ProbeRow> {
        let caps = probe();
        let mut rows = Vec::new();
        for backend in BACKENDS {
            let mut policy = template.clone();
            policy.backend = backend;
            policy.workspace = self.ws.clone();
            policy.tmp_root = self.tmp.clone();
            policy.read_only_paths.push(self.conf.clone());
            policy.hidden_paths.push(self.secret.clone());
            policy.allow_net_ports = Vec::new();
            if policy.mode == Mode::Off {
                policy.mode = Mode::BestEffort;
            }
            let available = effective_backend(&policy, &caps).is_some();
            for (i, p) in PROBES.iter().enumerate() {
                let (blocked, detail) = if available {
                    self.one(i, &policy, &caps)
                } else {
                    (None, "backend unavailable on this kernel".to_string())
                };
                rows.push(ProbeRow {
                    probe: p,
                    backend,
                    blocked,
                    detail,
                });
            }
        }
        rows
    }

    fn exec(&self, policy: &Policy, caps: &Capabilities, args: &[&str]) -> Result<Outcome, String> {
        let mut argv = vec![self.program.clone(), PROBE_ARG.to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        run_with(policy, caps, Cmd::Argv(&argv), None, &Cancel::new()).map_err(|e| e.to_string())
    }

    /// (blocked, detail) for probe `i`.
    fn one(&self, i: usize, policy: &Policy, caps: &Capabilities) -> (Option<bool>, String) {
        let me = std::process::id().to_string();
        let victim = self.victim.display().to_string();
        let secret = self.secret.display().to_string();
        let result = match i {
            0 => self
                .exec(policy, caps, &["write", &victim, "pwned"])
                .map(|o| {
                    let now = std::fs::read_to_string(&self.victim).unwrap_or_default();
                    (now == "original", o)
                }),
            1 => self
                .exec(policy, caps, &["read", &secret])
                .map(|o| (!o.stdout.contains("SELFTEST-SECRET"), o)),
            2 => self
                .exec(policy, caps, &["read", &format!("/proc/{me}/environ")])
                .map(|o| (!o.stdout.starts_with("ok") || o.stdout.trim() == "ok", o)),
            3 => {
                let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
                    return (None, "no loopback listener".to_string());
                };
                let port = l.local_addr().map(|a| a.port()).unwrap_or(0).to_string();
                self.exec(policy, caps, &["tcp", &port]).map(|o| {
                    let _ = l.set_nonblocking(true);
                    let arrived = match l.accept() {
                        Ok((mut c, _)) => {
                            let mut b = Vec::new();
                            let _ = c.read_to_end(&mut b);
                            true
                        }
                        Err(e) => e.kind() != ErrorKind::WouldBlock,
                    };
                    (!arrived, o)
                })
            }
            4 => {
                let Ok(u) = UdpSocket::bind("127.0.0.1:0") else {
                    return (None, "no loopback socket".to_string());
                };
                let port = u.local_addr().map(|a| a.port()).unwrap_or(0).to_string();
                self.exec(policy, caps, &["udp", &port]).map(|o| {
                    let _ = u.set_nonblocking(true);
                    let mut b = [0u8; 16];
                    (u.recv(&mut b).is_err(), o)
                })
            }
            5 => self
                .exec(policy, caps, &["signal", &me])
                .map(|o| (o.stdout.starts_with("err"), o)),
            _ => {
                // A cap of a few times the limit ends a missing limit quickly.
                let cap = policy.limits.processes.saturating_mul(4).to_string();
                // RLIMIT_NPROC counts every process of the uid: run as the
                // tool user, the bomb would leave a running daemon's tools
                // (same uid) unable to fork until it ends.
                let mut own = policy.clone();
                if own.run_as.is_some() {
                    own.run_as = Some((FORK_BOMB_UID, FORK_BOMB_UID));
                }
                let policy = &own;
                self.exec(policy, caps, &["fork-bomb", &cap]).map(|o| {
                    let made = o
                        .stdout
                        .strip_prefix("forked ")
                        .and_then(|r| r.split(' ').next())
                        .and_then(|n| n.parse::<u64>().ok());
                    (made.is_some_and(|n| n < policy.limits.processes), o)
                })
            }
        };
        match result {
            Ok((blocked, o)) => (Some(blocked), format!("{} [{}]", shown(&o), o.enforcement)),
            Err(e) => (None, e),
        }
    }
}

/// The probe's answer for the detail column, without what a successful
/// read returned (picoclaw's environment, the fake secret).
fn shown(o: &Outcome) -> String {
    let line = o.stdout.lines().next().unwrap_or_default();
    match line.strip_prefix("ok ") {
        Some(read) if !read.starts_with("connected") && !read.starts_with("sent") => {
            format!("ok (read {} bytes)", read.len())
        }
        _ => line.to_string(),
    }
}

/// The table: one line per probe, one column per backend.
pub fn render_probe_table(rows: &[ProbeRow]) -> String {
    let mut s = format!("{:<36}", "probe");
    for b in BACKENDS {
        let _ = write!(s, " {:<13}", b.as_str());
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    for p in PROBES {
        let _ = write!(s, "{p:<36}");
        for b in BACKENDS {
            let cell =
                rows.iter()
                    .find(|r| r.probe == p && r.backend == b)
                    .map_or("-", |r| match r.blocked {
                        Some(true) => "blocked",
                        Some(false) => "NOT BLOCKED",
                        None => "unavailable",
                    });
            let _ = write!(s, " {cell:<13}");
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(probe: &'static str, backend: Backend, blocked: Option<bool>) -> ProbeRow {
        ProbeRow {
            probe,
            backend,
            blocked,
            detail: "d".to_string(),
        }
    }

    #[test]
    fn the_table_has_one_line_per_probe_and_a_column_per_backend() {
        let mut rows = unavailable_rows("x");
        rows[0].blocked = Some(true);
        rows[1].blocked = Some(false);
        let table = render_probe_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 1 + PROBES.len(), "{table}");
        assert_eq!(
            lines[0],
            format!(
                "{:<36} {:<13} {:<13} both",
                "probe", "landlock", "namespaces"
            )
        );
        assert_eq!(
            lines[1],
            format!(
                "{:<36} {:<13} {:<13} unavailable",
                PROBES[0], "blocked", "unavailable"
            )
        );
        assert!(lines[2].contains(" NOT BLOCKED "), "{table}");
    }

    #[test]
    fn the_verdict_fails_when_the_configured_backend_lets_a_probe_through() {
        let mut caps = probe();
        caps.landlock_abi = Some(7);
        caps.namespaces = true;
        let policy = Policy::new("/ws");
        let mut rows = vec![row(PROBES[0], Backend::Both, Some(true))];
        assert_eq!(
            verdict(&policy, &rows, &caps),
            (
                "ok    configured backend both (sandbox.backend = auto) blocked every probe\n"
                    .to_string(),
                true
            )
        );
        rows.push(row(PROBES[1], Backend::Both, Some(false)));
        rows.push(row(PROBES[2], Backend::Landlock, Some(false)));
        let (text, ok) = verdict(&policy, &rows, &caps);
        assert_eq!(
            text,
            format!(
                "FAIL  configured backend both let through: {} (d)\n",
                PROBES[1]
            )
        );
        assert!(!ok);
    }

    #[test]
    fn a_read_probe_detail_never_shows_what_was_read() {
        let o = |stdout: &str| Outcome {
            exit_code: Some(0),
            signal: None,
            stdout: stdout.to_string(),
            stderr: String::new(),
            truncated: false,
            output_limit_hit: false,
            timed_out: false,
            cancelled: false,
            pipes_abandoned: false,
            duration: std::time::Duration::ZERO,
            enforcement: run_with_label(),
        };
        assert_eq!(shown(&o("ok API_KEY=sk-1\n")), "ok (read 12 bytes)");
        assert_eq!(shown(&o("err EACCES\n")), "err EACCES");
        assert_eq!(shown(&o("ok connected\n")), "ok connected");
    }

    fn run_with_label() -> picoclaw_sandbox::Enforcement {
        picoclaw_sandbox::Enforcement {
            mode: Mode::Off,
            landlock_abi: None,
            namespaces: false,
            net_namespace: false,
            seccomp: false,
            switched_uid: None,
            as_root: false,
            missing: Vec::new(),
        }
    }
}
