//! Long-running sandboxed processes (MCP servers): the same confinement as
//! [`crate::run`], but the caller gets the child and its pipes instead of
//! a collected [`crate::Outcome`], and the child may be given read-write
//! directories besides its workspace.
//!
//! What differs from a tool command: there is no wall clock, no output
//! ceiling and no poll loop here (the caller talks over the pipes for as
//! long as it likes); `Limits::timeout`, `output_bytes` and `keep_bytes`
//! are ignored, the rlimits apply. The child's parent-death signal fires
//! when the *thread* that spawned it exits, so spawn from a thread that
//! lives as long as the process should.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use ::landlock::BitFlags;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::child::ChildSetup;
use crate::enforce::{decide, Enforcement};
use crate::error::SandboxError;
use crate::landlock::Access;
use crate::policy::{Mode, Policy};
use crate::probe::{probe, Capabilities};
use crate::run::{self, TmpDir, SAFE_PATH};
use crate::spawn::{self, Image};
use crate::{pump, rules};

/// What to start: the program and its arguments, its environment and the
/// directories it may write besides `Policy::workspace`.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    /// Program and arguments; a bare name is looked up in the child's
    /// `PATH`.
    pub argv: &'a [String],
    /// Added to the fixed `PATH` (the safe system path unless given here),
    /// `LANG=C.UTF-8`, `HOME` (the workspace) and `TMPDIR` (a private dir,
    /// removed with the process); a key given here replaces the fixed one,
    /// except `TMPDIR`. Nothing of picoclaw's own environment is passed.
    pub env: &'a [(String, String)],
    /// Existing directories the process may also write.
    pub writable: &'a [PathBuf],
}

/// A started service. Dropping it kills the process (and its group, or its
/// PID namespace) and removes its private tmp dir.
pub struct Running {
    pid: libc::pid_t,
    /// The child's stdin, stdout and stderr; take them to talk to it.
    pub stdin: Option<File>,
    pub stdout: Option<File>,
    pub stderr: Option<File>,
    enforcement: Enforcement,
    status: Option<ExitStatus>,
    _tmp: TmpDir,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("pid", &self.pid)
            .field("enforcement", &self.enforcement.to_string())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Starts `service` under `policy` with this kernel's capabilities.
pub fn start(policy: &Policy, service: &Service<'_>) -> Result<Running, SandboxError> {
    start_with(policy, &probe(), service)
}

/// [`start`] with the capabilities supplied by the caller (see
/// [`crate::run_with`]).
pub fn start_with(
    policy: &Policy,
    caps: &Capabilities,
    service: &Service<'_>,
) -> Result<Running, SandboxError> {
    let decision = decide(policy, caps)?;
    let workspace = rules::check_workspace(policy)?;
    let writable = writable_dirs(policy, service.writable)?;
    let Some((program, args)) = service.argv.split_first() else {
        return Err(SandboxError::Policy("empty argv".to_string()));
    };
    let tmp = TmpDir::create(&policy.tmp_root, decision.ids)?;
    let (status_r, status_w) = spawn::pipe().map_err(run::setup_err("creating the status pipe"))?;
    let ns_plan = run::namespace_plan_with(policy, &decision, &workspace, &writable, &tmp.0)?;
    let clone_flags = ns_plan.as_ref().map_or(0, |p| p.clone_flags);
    let inside_tmp = if ns_plan.is_some() {
        PathBuf::from("/tmp")
    } else {
        tmp.0.clone()
    };
    let mut rw: Vec<&Path> = vec![&workspace, &tmp.0];
    rw.extend(writable.iter().map(PathBuf::as_path));
    let setup = ChildSetup {
        rlimits: run::rlimits(&policy.limits, caps.is_root),
        max_fd: run::current_nofile(),
        ids: decision.ids,
        parent_pid: std::process::id() as libc::pid_t,
        confine: policy.mode != Mode::Off,
        ruleset: run::landlock_ruleset_with(policy, decision.landlock_abi, &rw)?,
        filters: run::seccomp_filters(policy, decision.seccomp)?,
        strict: policy.mode == Mode::Enforce,
        status: status_w,
        proc_rights: match (decision.landlock_abi, &ns_plan) {
            (Some(abi), Some(_)) => Access::ReadOnly.rights(abi, /*is_dir*/ true),
            _ => BitFlags::EMPTY,
        },
        ns: ns_plan,
        cwd: CString::new(workspace.as_os_str().as_bytes())
            .map_err(|_| SandboxError::Policy("workspace path contains a NUL".to_string()))?,
    };
    let env = environment(service.env, &workspace, &inside_tmp);
    let search = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(SAFE_PATH, |(_, v)| v.as_str());
    let pairs: Vec<(&str, &[u8])> = env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let image = Image::new(program, args, &pairs, search)?;
    let spawned = spawn::spawn(setup, &image, /*with_stdin*/ true, clone_flags)?;
    let pid = spawned.pid;
    let enforcement = run::child_report(&status_r, pid, decision.enforcement)?;
    picoclaw_core::debug!("{program}: started pid {pid} [sandbox: {enforcement}]");
    Ok(Running {
        pid,
        stdin: spawned.stdin.map(File::from),
        stdout: Some(File::from(spawned.stdout)),
        stderr: Some(File::from(spawned.stderr)),
        enforcement,
        status: None,
        _tmp: tmp,
    })
}

/// The fixed variables, then the caller's (which replace a fixed one of
/// the same name, except `TMPDIR`).
fn environment(given: &[(String, String)], home: &Path, tmp: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), SAFE_PATH.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("HOME".into(), home.display().to_string()),
        ("TMPDIR".into(), tmp.display().to_string()),
    ];
    for (k, v) in given {
        if k == "TMPDIR" {
            continue;
        }
        match env.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    env
}

/// The extra writable directories, canonical, with the workspace's checks:
/// never `/`, never `$HOME` or an ancestor of it, never holding a hidden
/// path (checked with the ruleset).
fn writable_dirs(policy: &Policy, dirs: &[PathBuf]) -> Result<Vec<PathBuf>, SandboxError> {
    let mut out = Vec::with_capacity(dirs.len());
    for d in dirs {
        let mut p = policy.clone();
        p.workspace = d.clone();
        let canon = rules::check_workspace(&p)
            .map_err(|e| SandboxError::Policy(format!("writable path: {e}")))?;
        out.push(canon);
    }
    let refs: Vec<&Path> = out.iter().map(PathBuf::as_path).collect();
    rules::check_writable(policy, &refs)?;
    Ok(out)
}

impl Running {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// What held for this process.
    pub fn enforcement(&self) -> &Enforcement {
        &self.enforcement
    }

    /// The exit status once the process has exited; never blocks. What is
    /// left of its process group is killed then.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        // WNOWAIT: the exited leader stays a zombie, so its group id
        // cannot be reused before the leftovers are killed.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(Pid::from_raw(self.pid)), flags) {
            Ok(WaitStatus::StillAlive) => Ok(None),
            Ok(_) => {
                kill_group(self.pid);
                let st = pump::wait(self.pid)?;
                self.status = Some(st);
                Ok(Some(st))
            }
            Err(nix::errno::Errno::EINTR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Kills the process group (under the namespace backend, the whole
    /// PID namespace) and reaps the process.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(st) = self.status {
            return Ok(st);
        }
        kill_group(self.pid);
        let st = pump::wait(self.pid)?;
        self.status = Some(st);
        Ok(st)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Only called while the leader is unreaped, so the ids are still ours.
fn kill_group(pid: libc::pid_t) {
    let pid = Pid::from_raw(pid);
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = kill(pid, Signal::SIGKILL);
}
