use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use picoclaw_core::Cancel;
use picoclaw_sandbox::{probe, run_with, Backend, Capabilities, Cmd, Mode, Outcome, Policy};

pub const NOBODY: (u32, u32) = (65534, 65534);
/// Tool ids for fork bombs (see `limits.rs`).
pub const BOMBER: (u32, u32) = (64001, 64001);

/// A scratch tree: `ws` (the workspace, owned by the tool uid), `outside`
/// (world-writable, so only the sandbox stands between a tool and it),
/// `home` (a fake `$HOME` with `.ssh`), `tmp` (the tmp root).
pub struct Env {
    pub backend: Backend,
    pub root: PathBuf,
    pub ws: PathBuf,
    pub outside: PathBuf,
    pub home: PathBuf,
    pub probe: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// The three filesystem backends every adversarial case runs under.
pub const BACKENDS: [Backend; 3] = [Backend::Landlock, Backend::Namespaces, Backend::Both];

impl Env {
    /// A fresh tree for each backend in turn.
    pub fn each_backend() -> impl Iterator<Item = Env> {
        BACKENDS.into_iter().map(Env::with)
    }

    pub fn new() -> Env {
        Env::with(Backend::Auto)
    }

    pub fn with(backend: Backend) -> Env {
        let root = std::env::temp_dir().join(format!(
            "picoclaw-sbx-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let ws = root.join("ws");
        let outside = root.join("outside");
        let home = root.join("home");
        for d in [&root, &ws, &outside, &home, &home.join(".ssh")] {
            std::fs::create_dir_all(d).unwrap();
        }
        mode(&root, 0o711);
        mode(&outside, 0o777);
        mode(&home, 0o777);
        mode(&home.join(".ssh"), 0o777);
        std::os::unix::fs::chown(&ws, Some(NOBODY.0), Some(NOBODY.1)).unwrap();
        let probe = ws.join("sandbox-probe");
        std::fs::copy(env!("CARGO_BIN_EXE_sandbox-probe"), &probe).unwrap();
        mode(&probe, 0o755);
        Env {
            backend,
            root: root.canonicalize().unwrap(),
            ws: ws.canonicalize().unwrap(),
            outside: outside.canonicalize().unwrap(),
            home: home.canonicalize().unwrap(),
            probe: probe.canonicalize().unwrap().display().to_string(),
        }
    }

    /// A world-writable file outside the workspace with known content.
    pub fn outside_file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.outside.join(name);
        std::fs::write(&p, content).unwrap();
        mode(&p, 0o666);
        p
    }

    /// The configured shape: enforce, tools as `nobody`.
    pub fn policy(&self) -> Policy {
        let mut p = Policy::new(&self.ws);
        p.backend = self.backend;
        p.run_as = Some(NOBODY);
        p.tmp_root = self.root.join("tmp");
        p.limits.timeout = Duration::from_secs(20);
        p
    }

    /// Tools stay root: every kernel layer has to hold on its own, with
    /// no help from DAC. Best effort, since enforce refuses root tools.
    pub fn root_policy(&self) -> Policy {
        let mut p = self.policy();
        p.mode = Mode::BestEffort;
        p.run_as = None;
        p
    }

    pub fn probe(&self, policy: &Policy, args: &[&str]) -> Outcome {
        self.probe_with(policy, &probe(), args)
    }

    pub fn probe_with(&self, policy: &Policy, caps: &Capabilities, args: &[&str]) -> Outcome {
        let mut argv = vec![self.probe.clone()];
        argv.extend(args.iter().map(|s| s.to_string()));
        retry_busy(|| run_with(policy, caps, Cmd::Argv(&argv), None, &Cancel::new()))
    }

    /// The same probe without any sandbox, as root: the control that shows
    /// a denial comes from the sandbox and not from the setup.
    pub fn unsandboxed(&self, args: &[&str]) -> String {
        let out = loop {
            match std::process::Command::new(&self.probe).args(args).output() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                other => break other.unwrap(),
            }
        };
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The configured tool user and a root tool, labelled with the
    /// backend for assertion messages.
    pub fn both(&self) -> [(String, Policy); 2] {
        let b = self.backend.as_str();
        [
            (format!("nobody/{b}"), self.policy()),
            (format!("root/{b}"), self.root_policy()),
        ]
    }

    pub fn uses_namespaces(&self) -> bool {
        self.backend != Backend::Landlock
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs `f`, retrying while exec fails with ETXTBSY: another test thread
/// may have forked while our probe copy was still open for writing, and
/// that child holds the write fd until its own exec.
pub fn retry_busy(
    mut f: impl FnMut() -> Result<Outcome, picoclaw_sandbox::SandboxError>,
) -> Outcome {
    for _ in 0..50 {
        match f() {
            Err(picoclaw_sandbox::SandboxError::Spawn { source, .. })
                if source.raw_os_error() == Some(libc::ETXTBSY) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
    panic!("probe binary stayed busy");
}

/// The probe's answer for a blocked action: `err` with an errno that
/// means "not allowed" or "not there". Which one depends on the layer
/// that stopped it (Landlock: EACCES/EXDEV, seccomp: EPERM, a read-only
/// bind: EROFS, the private mount view: ENOENT); callers check the side
/// effect separately.
#[track_caller]
pub fn assert_blocked(out: &str, who: &str) {
    let ok = ["EACCES", "EPERM", "EROFS", "ENOENT", "EXDEV", "ESRCH"]
        .iter()
        .any(|e| out == format!("err {e}\n") || out == format!("err {e} socket\n"));
    assert!(ok, "as {who}: expected a denial, got {out:?}");
}

/// Host pids whose command line is exactly `program arg`.
pub fn running(program: &str, arg: &str) -> Vec<i32> {
    let want = format!("{program}\0{arg}\0");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

pub fn s(p: &Path) -> String {
    p.display().to_string()
}
