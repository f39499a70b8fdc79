//! Spawning one sandboxed command and collecting its result: the parent
//! prepares everything, the child applies it (see `child`), the parent
//! pumps stdin/stdout/stderr in one poll loop with the deadline, the
//! output ceiling and cancellation.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::landlock::{BitFlags, RulesetCreated};
use nix::sys::resource::{getrlimit, Resource};
use picoclaw_core::Cancel;

use crate::child::{self, ChildSetup, FATAL, STEP_LANDLOCK, STEP_SECCOMP};
use crate::enforce::{decide, Decision, Enforcement};
use crate::error::SandboxError;
use crate::landlock::{self, Access, FsRule};
use crate::policy::{Limits, Mode, Policy};
use crate::probe::{probe, Capabilities};
use crate::seccomp::Filters;
use crate::spawn::{self, Image};
use crate::{ns, nsfds, plan, pump, rules, seccomp};

/// How long to keep reading after the command exited or was killed: a
/// `setsid` grandchild may hold the pipes open forever.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
pub(crate) const SAFE_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// What to run.
#[derive(Debug, Clone, Copy)]
pub enum Cmd<'a> {
    /// `/bin/sh -c <string>`.
    Shell(&'a str),
    /// Program and arguments; a bare name is looked up in the fixed PATH.
    Argv(&'a [String]),
}

/// How a sandboxed command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    /// The signal that killed the command, if any.
    pub signal: Option<i32>,
    /// Lossy UTF-8; head and tail kept around a `[… N bytes cut …]` marker.
    pub stdout: String,
    pub stderr: String,
    /// Some output was cut, or the output ceiling killed the command.
    pub truncated: bool,
    /// The output ceiling (`Limits::output_bytes`) was hit and the
    /// process group was killed.
    pub output_limit_hit: bool,
    pub timed_out: bool,
    pub cancelled: bool,
    /// A process outside the group (a `setsid` escapee) still held the
    /// output pipes after the drain timeout; reading stopped.
    pub pipes_abandoned: bool,
    pub duration: Duration,
    pub enforcement: Enforcement,
}

impl Outcome {
    /// One line for tool results and logs: how it ended, how long it
    /// took, what was cut, and the enforcement label.
    pub fn summary(&self) -> String {
        let mut s = match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "no exit status".to_string(),
        };
        s.push_str(&format!(" after {} ms", self.duration.as_millis()));
        if self.timed_out {
            s.push_str(", TIMED OUT");
        }
        if self.cancelled {
            s.push_str(", cancelled");
        }
        if self.output_limit_hit {
            s.push_str(", killed at output limit");
        } else if self.truncated {
            s.push_str(", output truncated");
        }
        if self.pipes_abandoned {
            s.push_str(", stopped waiting for a detached process holding the output");
        }
        s.push_str(&format!(" [sandbox: {}]", self.enforcement));
        s
    }
}

/// Runs `cmd` under `policy` with this kernel's capabilities. Blocking.
pub fn run(
    policy: &Policy,
    cmd: Cmd<'_>,
    stdin: Option<&[u8]>,
    cancel: &Cancel,
) -> Result<Outcome, SandboxError> {
    run_with(policy, &probe(), cmd, stdin, cancel)
}

/// [`run`] with the capabilities supplied by the caller: tests pretend a
/// kernel without Landlock or with an older ABI (a lower ABI is really
/// applied at that level). Claiming more than the kernel has makes the
/// spawn fail under enforce, and is listed as missing under best effort;
/// it never silently weakens the label.
pub fn run_with(
    policy: &Policy,
    caps: &Capabilities,
    cmd: Cmd<'_>,
    stdin: Option<&[u8]>,
    cancel: &Cancel,
) -> Result<Outcome, SandboxError> {
    let decision = decide(policy, caps)?;
    let workspace = rules::check_workspace(policy)?;
    let (program, args) = command(cmd)?;
    let tmp = TmpDir::create(&policy.tmp_root, decision.ids)?;
    let (status_r, status_w) = spawn::pipe().map_err(setup_err("creating the status pipe"))?;
    let ns_plan = namespace_plan(policy, &decision, &workspace, &tmp.0)?;
    let clone_flags = ns_plan.as_ref().map_or(0, |p| p.clone_flags);
    let inside_tmp = if ns_plan.is_some() {
        PathBuf::from("/tmp")
    } else {
        tmp.0.clone()
    };
    let setup = ChildSetup {
        rlimits: rlimits(&policy.limits, caps.is_root),
        max_fd: current_nofile(),
        ids: decision.ids,
        parent_pid: std::process::id() as libc::pid_t,
        confine: policy.mode != Mode::Off,
        ruleset: landlock_ruleset(policy, decision.landlock_abi, &workspace, &tmp.0)?,
        filters: seccomp_filters(policy, decision.seccomp)?,
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
    let image = image(&program, &args, &workspace, &inside_tmp)?;

    let start = Instant::now();
    let spawned = spawn::spawn(setup, &image, stdin.is_some(), clone_flags)?;
    let mount_ns = (clone_flags & libc::CLONE_NEWNS != 0)
        .then(|| nsfds::hold_mount_ns(spawned.pid))
        .flatten();
    let enforcement = child_report(&status_r, spawned.pid, decision.enforcement)?;
    let pumped = pump::pump(spawned, stdin, &policy.limits, cancel, start)?;
    let duration = start.elapsed();
    if let Some(fd) = mount_ns {
        nsfds::release_later(fd);
    }
    drop(tmp);
    let outcome = outcome(pumped, duration, enforcement);
    picoclaw_core::debug!("{program}: {}", outcome.summary());
    Ok(outcome)
}

pub(crate) fn setup_err(what: &'static str) -> impl Fn(io::Error) -> SandboxError {
    move |source| SandboxError::Setup { what, source }
}

/// Program and arguments.
fn command(cmd: Cmd<'_>) -> Result<(String, Vec<String>), SandboxError> {
    match cmd {
        Cmd::Shell(s) => Ok(("/bin/sh".to_string(), vec!["-c".to_string(), s.to_string()])),
        Cmd::Argv([first, rest @ ..]) => Ok((first.clone(), rest.to_vec())),
        Cmd::Argv([]) => Err(SandboxError::Policy("empty argv".to_string())),
    }
}

/// The Landlock ruleset for one run: the cached system rules plus the
/// workspace and this run's tmp dir, read-write.
fn landlock_ruleset(
    policy: &Policy,
    abi: Option<u32>,
    workspace: &Path,
    tmp: &Path,
) -> Result<Option<RulesetCreated>, SandboxError> {
    landlock_ruleset_with(policy, abi, &[workspace, tmp])
}

/// [`landlock_ruleset`] with any number of read-write directories (a
/// service's own dirs besides its workspace and tmp).
pub(crate) fn landlock_ruleset_with(
    policy: &Policy,
    abi: Option<u32>,
    writable: &[&Path],
) -> Result<Option<RulesetCreated>, SandboxError> {
    let Some(abi) = abi else {
        return Ok(None);
    };
    rules::check_writable(policy, writable)?;
    let own: Vec<FsRule> = writable
        .iter()
        .map(|w| FsRule {
            path: w.to_path_buf(),
            access: Access::ReadWrite,
        })
        .collect();
    let own = landlock::open_rules(&own);
    let system = plan::system_rules(policy);
    let strict = policy.mode == Mode::Enforce;
    landlock::build_ruleset(
        abi,
        strict,
        system.iter().chain(&own),
        &policy.allow_net_ports,
    )
    .map(Some)
    .map_err(|e| SandboxError::Setup {
        what: "building the landlock ruleset",
        source: io::Error::other(e),
    })
}

pub(crate) fn seccomp_filters(
    policy: &Policy,
    wanted: bool,
) -> Result<Option<Filters>, SandboxError> {
    if !wanted {
        return Ok(None);
    }
    seccomp::compiled(!policy.allow_net_ports.is_empty())
        .map(Some)
        .map_err(|e| SandboxError::Setup {
            what: "assembling seccomp",
            source: io::Error::other(e),
        })
}

fn namespace_plan(
    policy: &Policy,
    decision: &Decision,
    workspace: &Path,
    tmp: &Path,
) -> Result<Option<ns::NsPlan>, SandboxError> {
    namespace_plan_with(policy, decision, workspace, &[], tmp)
}

/// [`namespace_plan`] with extra read-write directories bound at their
/// own paths.
pub(crate) fn namespace_plan_with(
    policy: &Policy,
    decision: &Decision,
    workspace: &Path,
    extra: &[PathBuf],
    tmp: &Path,
) -> Result<Option<ns::NsPlan>, SandboxError> {
    let Some(choice) = decision.namespaces else {
        return Ok(None);
    };
    let stage = stage_dir(&policy.tmp_root)?;
    let mut plan = ns::plan_with(
        policy,
        workspace,
        extra,
        tmp,
        &stage,
        choice.user,
        choice.net,
    )?;
    // The shared empty network namespace only where nothing can change
    // it (see nsfds).
    if choice.net && !choice.user && decision.seccomp {
        if let Some(fd) = nsfds::empty_netns() {
            plan.clone_flags &= !libc::CLONE_NEWNET;
            plan.join_net = Some(fd);
        }
    }
    Ok(Some(plan))
}

/// The program image with the fixed environment: nothing of picoclaw's
/// own environment (API keys, tokens) reaches the tool.
fn image(
    program: &str,
    args: &[String],
    workspace: &Path,
    tmp: &Path,
) -> Result<Image, SandboxError> {
    let env: [(&str, &[u8]); 5] = [
        ("PATH", SAFE_PATH.as_bytes()),
        ("LANG", b"C.UTF-8"),
        ("HOME", workspace.as_os_str().as_bytes()),
        ("TMPDIR", tmp.as_os_str().as_bytes()),
        ("TERM", b"dumb"),
    ];
    Image::new(program, args, &env, SAFE_PATH)
}

/// Reads the child's step records: a fatal one becomes the spawn error
/// (after reaping the child), a failed best-effort layer is taken out of
/// the label and listed as missing.
pub(crate) fn child_report(
    status: &OwnedFd,
    pid: libc::pid_t,
    mut enforcement: Enforcement,
) -> Result<Enforcement, SandboxError> {
    let records = child::read_status(status);
    if let Some((step, errno)) = records.iter().find(|(s, _)| s & FATAL != 0) {
        // The child gave up before exec; reap it.
        let _ = pump::wait(pid);
        let step = step & !FATAL;
        let mut source = io::Error::from_raw_os_error(*errno);
        if step == child::STEP_MOUNT {
            if let Some((_, idx)) = records.iter().find(|(s, _)| *s == child::STEP_NS_OP) {
                source = io::Error::new(source.kind(), format!("{source} (mount step {idx})"));
            }
        }
        return Err(SandboxError::Spawn {
            step: child::step_name(step),
            source,
        });
    }
    for (step, errno) in records
        .into_iter()
        .filter(|(s, e)| *e != 0 && *s != child::STEP_NS_OP)
    {
        if step == child::STEP_LANDLOCK_PARTIAL {
            enforcement.missing.push(child::step_name(step).to_string());
            continue;
        }
        let why = io::Error::from_raw_os_error(errno);
        if step == STEP_LANDLOCK {
            enforcement.landlock_abi = None;
        } else if step == STEP_SECCOMP {
            enforcement.seccomp = false;
        }
        enforcement
            .missing
            .push(format!("{} failed: {why}", child::step_name(step)));
    }
    Ok(enforcement)
}

fn outcome(pumped: pump::Pumped, duration: Duration, enforcement: Enforcement) -> Outcome {
    let (stdout, cut_out) = pumped.stdout.finish();
    let (stderr, cut_err) = pumped.stderr.finish();
    Outcome {
        exit_code: pumped.status.code(),
        signal: pumped.status.signal(),
        stdout,
        stderr,
        truncated: cut_out || cut_err || pumped.output_limit_hit,
        output_limit_hit: pumped.output_limit_hit,
        timed_out: pumped.timed_out,
        cancelled: pumped.cancelled,
        pipes_abandoned: pumped.pipes_abandoned,
        duration,
        enforcement,
    }
}

pub(crate) fn rlimits(l: &Limits, is_root: bool) -> [(Resource, u64, u64); 6] {
    let want = [
        (Resource::RLIMIT_CORE, 0),
        (Resource::RLIMIT_CPU, l.cpu_secs),
        (Resource::RLIMIT_AS, l.address_space_bytes),
        (Resource::RLIMIT_FSIZE, l.file_size_bytes),
        (Resource::RLIMIT_NOFILE, l.open_files),
        (Resource::RLIMIT_NPROC, l.processes),
    ];
    want.map(|(res, v)| {
        // CPU: SIGXCPU at the soft limit says why; SIGKILL a second later
        // if the program ignores it.
        let hard = if res == Resource::RLIMIT_CPU {
            v.saturating_add(1)
        } else {
            v
        };
        // Without privilege a hard limit can only go down.
        let cap = if is_root {
            u64::MAX
        } else {
            getrlimit(res).map_or(u64::MAX, |(_, hard)| hard)
        };
        (res, v.min(cap), hard.min(cap))
    })
}

/// The fd ceiling for the close-on-exec fallback of old kernels.
pub(crate) fn current_nofile() -> libc::c_int {
    getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft.min(1 << 16) as libc::c_int)
}

/// The (empty) directory the namespace child mounts its new root on.
/// Shared by all runs: each mounts it in its own mount namespace.
fn stage_dir(tmp_root: &Path) -> Result<PathBuf, SandboxError> {
    let stage = tmp_root.join(".newroot");
    match std::fs::create_dir(&stage) {
        Ok(()) => Ok(stage),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(stage),
        Err(source) => Err(SandboxError::Setup {
            what: "creating the namespace stage dir",
            source,
        }),
    }
}

/// The private per-command `TMPDIR`, removed on drop.
pub(crate) struct TmpDir(pub(crate) PathBuf);

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl TmpDir {
    pub(crate) fn create(root: &Path, ids: Option<(u32, u32)>) -> Result<TmpDir, SandboxError> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let setup = |source| SandboxError::Setup {
            what: "creating the private tmp dir",
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(setup)?;
        // Someone else's directory (or a symlink) at a shared /tmp path
        // could redirect or read our tool's temp files.
        let meta = root.symlink_metadata().map_err(setup)?;
        let me = nix::unistd::geteuid().as_raw();
        if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o022 != 0 {
            return Err(SandboxError::Policy(format!(
                "tmp root {} is not a directory owned by us and closed to others",
                root.display()
            )));
        }
        // pid-seq is unique among live processes, but a process killed
        // mid-command leaves its dir behind and a later process may get the
        // same pid: skip names that exist (create is atomic, so a name is
        // never shared).
        let mut tries = 0;
        let dir = loop {
            let name = format!(
                "{}-{}",
                std::process::id(),
                TMP_SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let dir = root.join(name);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break TmpDir(dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 64 => tries += 1,
                Err(e) => return Err(setup(e)),
            }
        };
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&dir.0, Some(uid), Some(gid)).map_err(setup)?;
        }
        Ok(dir)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            picoclaw_core::warn!("could not remove sandbox tmp {}: {e}", self.0.display());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_leftover_tmp_dir_with_the_next_name_is_skipped_not_an_error() {
        let root =
            std::env::temp_dir().join(format!("picoclaw-tmpdir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o711))
            .unwrap();
        // What a killed process with our pid would have left behind.
        let next = TMP_SEQ.load(Ordering::Relaxed);
        for seq in next..next + 3 {
            std::fs::create_dir(root.join(format!("{}-{seq}", std::process::id()))).unwrap();
        }
        let dir = TmpDir::create(&root, None).unwrap();
        assert!(dir.0.is_dir());
        assert!(!(next..next + 3).any(|s| dir.0.ends_with(format!("{}-{s}", std::process::id()))));
        drop(dir);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
