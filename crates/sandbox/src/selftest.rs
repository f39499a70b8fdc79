//! `picoclaw doctor --probe`: a live self-test of every backend on this
//! very kernel. Each probe is one hostile action run by [`probe_main`]
//! (the picoclaw binary re-executed as `picoclaw __sandbox-probe CASE …`,
//! copied into a scratch workspace) under a copy of the configured policy,
//! and judged by its side effect where there is one.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use picoclaw_core::Cancel;

use crate::policy::{Backend, Mode, Policy};
use crate::probe::{probe, Capabilities};
use crate::run::{run_with, Cmd};

/// The first argument that makes the binary run [`probe_main`].
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

/// Runs every probe under each explicit backend, with `template`'s mode,
/// limits, roots, hidden paths and tool user, in a scratch workspace.
/// Uses the current executable as the probe program.
pub fn selftest(template: &Policy) -> Vec<ProbeRow> {
    match std::env::current_exe() {
        Ok(exe) => selftest_with(template, &exe),
        Err(e) => unavailable_rows(&format!("cannot find the picoclaw binary: {e}")),
    }
}

fn unavailable_rows(why: &str) -> Vec<ProbeRow> {
    let mut out = Vec::new();
    for backend in [Backend::Landlock, Backend::Namespaces, Backend::Both] {
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

/// [`selftest`] with an explicit probe program (one that dispatches
/// [`PROBE_ARG`] to [`probe_main`]).
pub fn selftest_with(template: &Policy, program: &Path) -> Vec<ProbeRow> {
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
        for backend in [Backend::Landlock, Backend::Namespaces, Backend::Both] {
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
            if effective_backend(&policy, &caps).is_none() {
                for p in PROBES {
                    rows.push(ProbeRow {
                        probe: p,
                        backend,
                        blocked: None,
                        detail: "backend unavailable on this kernel".to_string(),
                    });
                }
                continue;
            }
            for (i, p) in PROBES.iter().enumerate() {
                let (blocked, detail) = self.one(i, &policy, &caps);
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

    fn exec(
        &self,
        policy: &Policy,
        caps: &Capabilities,
        args: &[&str],
    ) -> Result<crate::Outcome, String> {
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
            0 => self.exec(policy, caps, &["write", &victim]).map(|o| {
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
                let limit = policy.limits.processes.to_string();
                self.exec(policy, caps, &["fork-bomb", &limit]).map(|o| {
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
            Ok((blocked, o)) => (
                Some(blocked),
                format!("{} [{}]", o.stdout.trim(), o.enforcement),
            ),
            Err(e) => (None, e),
        }
    }
}

/// The table: one line per probe, one column per backend.
pub fn render_probe_table(rows: &[ProbeRow]) -> String {
    let backends = [Backend::Landlock, Backend::Namespaces, Backend::Both];
    let mut s = format!("{:<36}", "probe");
    for b in backends {
        let _ = write!(s, " {:<13}", b.as_str());
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    for p in PROBES {
        let _ = write!(s, "{p:<36}");
        for b in backends {
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

/// The probe program: one action, printed as `ok …` or `err ERRNO`.
/// Returns the exit status. Runs inside the sandbox, so it must not
/// depend on anything but libc.
pub fn probe_main(args: &[String]) -> i32 {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let err = |e: std::io::Error| format!("err {}", e.raw_os_error().unwrap_or(0));
    let line = match arg(0).as_str() {
        "write" => match std::fs::write(arg(1), "pwned") {
            Ok(()) => "ok".to_string(),
            Err(e) => err(e),
        },
        "read" => match std::fs::read(arg(1)) {
            Ok(b) => format!("ok {}", String::from_utf8_lossy(&b).replace('\0', " ")),
            Err(e) => err(e),
        },
        "tcp" => match std::net::TcpStream::connect(("127.0.0.1", arg(1).parse().unwrap_or(0))) {
            Ok(_) => "ok connected".to_string(),
            Err(e) => err(e),
        },
        "udp" => match UdpSocket::bind("127.0.0.1:0")
            .and_then(|u| u.send_to(b"probe", ("127.0.0.1", arg(1).parse().unwrap_or(0))))
        {
            Ok(_) => "ok sent".to_string(),
            Err(e) => err(e),
        },
        "signal" => {
            // SIGCONT: harmless if it does arrive.
            // SAFETY: kill(2) with a pid and a signal number.
            let rc = unsafe { libc::kill(arg(1).parse().unwrap_or(0), libc::SIGCONT) };
            if rc == 0 {
                "ok".to_string()
            } else {
                err(std::io::Error::last_os_error())
            }
        }
        "fork-bomb" => {
            let cap = arg(1).parse::<u64>().unwrap_or(64).saturating_mul(4);
            let mut made = 0u64;
            let why = loop {
                // SAFETY: the child only sleeps and exits.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // SAFETY: async-signal-safe calls in the child.
                    unsafe {
                        libc::sleep(30);
                        libc::_exit(0);
                    }
                }
                if pid < 0 {
                    break err(std::io::Error::last_os_error());
                }
                made += 1;
                if made >= cap {
                    break "no limit".to_string();
                }
            };
            format!("forked {made} then {why}")
        }
        other => format!("unknown probe {other:?}"),
    };
    println!("{line}");
    0
}
