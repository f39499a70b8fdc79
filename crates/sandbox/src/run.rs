//! Spawning one sandboxed command and collecting its result: the parent
//! prepares everything, the child applies it (see `child`), the parent
//! pumps stdin/stdout/stderr in one poll loop with the deadline, the
//! output ceiling and cancellation.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use picoclaw_core::Cancel;

use crate::child::{self, ChildSetup, STEP_LANDLOCK, STEP_SECCOMP};
use crate::enforce::{decide, Enforcement};
use crate::error::SandboxError;
use crate::landlock::{self, Access, FsRule};
use crate::output::Capture;
use crate::policy::{Limits, Mode, Policy};
use crate::probe::{probe, Capabilities};
use crate::{plan, rules, seccomp};

/// How long to keep reading after the command exited or was killed: a
/// `setsid` grandchild may hold the pipes open forever.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
const SAFE_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

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
/// spawn fail, never silently weakens it.
pub fn run_with(
    policy: &Policy,
    caps: &Capabilities,
    cmd: Cmd<'_>,
    stdin: Option<&[u8]>,
    cancel: &Cancel,
) -> Result<Outcome, SandboxError> {
    let decision = decide(policy, caps)?;
    let workspace = rules::check_workspace(policy)?;
    let (program, args) = match cmd {
        Cmd::Shell(s) => ("/bin/sh".to_string(), vec!["-c".to_string(), s.to_string()]),
        Cmd::Argv([first, rest @ ..]) => (first.clone(), rest.to_vec()),
        Cmd::Argv([]) => return Err(SandboxError::Policy("empty argv".to_string())),
    };
    let tmp = TmpDir::create(&policy.tmp_root, decision.ids)?;
    let ruleset = match decision.landlock_abi {
        Some(abi) => {
            let writable = [workspace.as_path(), tmp.0.as_path()];
            rules::check_writable(policy, &writable)?;
            let own: Vec<FsRule> = writable
                .iter()
                .map(|w| FsRule {
                    path: w.to_path_buf(),
                    access: Access::ReadWrite,
                })
                .collect();
            let own = landlock::open_rules(&own);
            let system = plan::system_rules(policy);
            let fd =
                landlock::build_ruleset(abi, system.iter().chain(&own), &policy.allow_net_ports)
                    .map_err(|source| SandboxError::Setup {
                        what: "building the landlock ruleset",
                        source,
                    })?;
            Some(fd)
        }
        None => None,
    };
    let filters = if decision.seccomp {
        let f = seccomp::compiled(!policy.allow_net_ports.is_empty()).map_err(|e| {
            SandboxError::Setup {
                what: "compiling seccomp",
                source: io::Error::other(e.to_string()),
            }
        })?;
        Some(f)
    } else {
        None
    };
    let (status_r, status_w) = pipe()?;
    let setup = ChildSetup {
        rlimits: rlimits(&policy.limits, caps.is_root),
        max_fd: current_nofile(),
        ids: decision.ids,
        parent_pid: std::process::id() as libc::pid_t,
        confine: policy.mode != Mode::Off,
        ruleset,
        filters,
        strict: policy.mode == Mode::Enforce,
        status: status_w,
    };

    let mut command = std::process::Command::new(&program);
    command
        .args(&args)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .env("LANG", "C.UTF-8")
        .env("HOME", &workspace)
        .env("TMPDIR", &tmp.0)
        .env("TERM", "dumb")
        .current_dir(&workspace)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: `apply` only makes async-signal-safe syscalls on data the
    // closure owns; see child.rs.
    unsafe { command.pre_exec(move || setup.apply()) };
    let start = Instant::now();
    let spawned = command.spawn();
    // Closes our copies of the ruleset fd and the status write end.
    drop(command);
    let records = child::read_status(&status_r);
    let mut child = match spawned {
        Ok(c) => c,
        Err(source) => {
            let step = records
                .iter()
                .find(|(_, e)| *e != 0)
                .map_or("exec", |(s, _)| child::step_name(*s));
            return Err(SandboxError::Spawn { step, source });
        }
    };
    let mut enforcement = decision.enforcement;
    for (step, errno) in records.into_iter().filter(|(_, e)| *e != 0) {
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
    let pumped = pump(&mut child, stdin, &policy.limits, cancel, start)?;
    let duration = start.elapsed();
    drop(tmp);
    let (stdout, cut_out) = pumped.stdout.finish();
    let (stderr, cut_err) = pumped.stderr.finish();
    let outcome = Outcome {
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
    };
    picoclaw_core::debug!("{program}: {}", outcome.summary());
    Ok(outcome)
}

fn rlimits(l: &Limits, is_root: bool) -> [(libc::c_int, u64, u64); 6] {
    let want = [
        (libc::RLIMIT_CORE as libc::c_int, 0),
        (libc::RLIMIT_CPU as libc::c_int, l.cpu_secs),
        (libc::RLIMIT_AS as libc::c_int, l.address_space_bytes),
        (libc::RLIMIT_FSIZE as libc::c_int, l.file_size_bytes),
        (libc::RLIMIT_NOFILE as libc::c_int, l.open_files),
        (libc::RLIMIT_NPROC as libc::c_int, l.processes),
    ];
    want.map(|(res, v)| {
        // CPU: SIGXCPU at the soft limit says why; SIGKILL a second later
        // if the program ignores it.
        let hard = if res == libc::RLIMIT_CPU as libc::c_int {
            v.saturating_add(1)
        } else {
            v
        };
        // Without privilege a hard limit can only go down.
        let cap = if is_root { u64::MAX } else { hard_limit(res) };
        (res, v.min(cap), hard.min(cap))
    })
}

fn hard_limit(resource: libc::c_int) -> u64 {
    let mut cur = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: query into a stack struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            std::ptr::null::<libc::rlimit64>(),
            &mut cur as *mut libc::rlimit64,
        )
    };
    if rc == 0 {
        cur.rlim_max
    } else {
        u64::MAX
    }
}

fn current_nofile() -> libc::c_int {
    let mut cur = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: query into a stack struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE as libc::c_int,
            std::ptr::null::<libc::rlimit64>(),
            &mut cur as *mut libc::rlimit64,
        )
    };
    if rc == 0 {
        cur.rlim_cur.min(1 << 16) as libc::c_int
    } else {
        1024
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SandboxError::Setup {
            what: "creating the status pipe",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: both fds are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The private per-command `TMPDIR`, removed on drop.
struct TmpDir(PathBuf);

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl TmpDir {
    fn create(root: &Path, ids: Option<(u32, u32)>) -> Result<TmpDir, SandboxError> {
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
        // SAFETY: geteuid cannot fail.
        if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } || meta.mode() & 0o022 != 0 {
            return Err(SandboxError::Policy(format!(
                "tmp root {} is not a directory owned by us and closed to others",
                root.display()
            )));
        }
        let name = format!(
            "{}-{}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = root.join(name);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(setup)?;
        let dir = TmpDir(dir);
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

struct Pumped {
    stdout: Capture,
    stderr: Capture,
    status: ExitStatus,
    timed_out: bool,
    cancelled: bool,
    output_limit_hit: bool,
    pipes_abandoned: bool,
}

fn kill_group(pgid: libc::pid_t) {
    // SAFETY: only called while the leader is alive or an unreaped zombie,
    // so the group id cannot have been reused.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
        libc::kill(pgid, libc::SIGKILL);
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: plain syscall; the fd is ours on success.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: non-negative return is a fresh fd.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The poll loop. The group is killed when the deadline passes, on
/// cancel, at the output ceiling, and when the leader exits (leftover
/// background jobs must not outlive the call). After that, reading goes
/// on for at most `DRAIN_TIMEOUT`.
fn pump(
    child: &mut Child,
    stdin: Option<&[u8]>,
    limits: &Limits,
    cancel: &Cancel,
    start: Instant,
) -> io::Result<Pumped> {
    let pgid = child.id() as libc::pid_t;
    let pidfd = pidfd_open(pgid);
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let mut input = child.stdin.take();
    let mut pending = stdin.unwrap_or_default();
    for fd in [
        out.as_ref().map(|f| f.as_raw_fd()),
        err.as_ref().map(|f| f.as_raw_fd()),
        input.as_ref().map(|f| f.as_raw_fd()),
    ]
    .into_iter()
    .flatten()
    {
        set_nonblocking(fd);
    }
    let mut p = Pumped {
        stdout: Capture::new(limits.keep_bytes),
        stderr: Capture::new(limits.keep_bytes),
        status: ExitStatus::from_raw(0),
        timed_out: false,
        cancelled: false,
        output_limit_hit: false,
        pipes_abandoned: false,
    };
    let deadline = start + limits.timeout;
    let mut status: Option<ExitStatus> = None;
    let mut settle: Option<Instant> = None;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let now = Instant::now();
        if status.is_none() && pidfd.is_none() {
            // Kernels before 5.3: no pidfd, poll the exit every 20 ms.
            if let Some(st) = child.try_wait()? {
                kill_group(pgid);
                status = Some(st);
                settle.get_or_insert(now);
            }
        }
        if status.is_some() && out.is_none() && err.is_none() {
            break;
        }
        if let Some(t) = settle {
            if now >= t + DRAIN_TIMEOUT && (out.is_some() || err.is_some()) {
                p.pipes_abandoned = true;
                out = None;
                err = None;
                continue;
            }
        }
        if status.is_none() && settle.is_none() {
            if now >= deadline {
                p.timed_out = true;
            } else if cancel.is_cancelled() {
                p.cancelled = true;
            }
            if p.timed_out || p.cancelled {
                kill_group(pgid);
                settle = Some(now);
            }
        }
        if input.is_some() && pending.is_empty() {
            input = None;
        }

        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(4);
        let mut push = |fd: RawFd, events: libc::c_short| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        };
        if let Some(f) = &out {
            push(f.as_raw_fd(), libc::POLLIN);
        }
        if let Some(f) = &err {
            push(f.as_raw_fd(), libc::POLLIN);
        }
        if let Some(f) = &input {
            push(f.as_raw_fd(), libc::POLLOUT);
        }
        if let (Some(f), None) = (&pidfd, status) {
            push(f.as_raw_fd(), libc::POLLIN);
        }
        let mut wait = Duration::from_millis(if pidfd.is_some() { 100 } else { 20 });
        if settle.is_none() {
            wait = wait.min(deadline.saturating_duration_since(now));
        }
        if let Some(t) = settle {
            wait = wait.min((t + DRAIN_TIMEOUT).saturating_duration_since(now));
        }
        // SAFETY: fds is a live array of pollfd.
        let rc = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis() as i32,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for pfd in &fds {
            if pfd.revents == 0 {
                continue;
            }
            let is = |f: &Option<_>| {
                f.as_ref()
                    .is_some_and(|f: &std::process::ChildStdout| f.as_raw_fd() == pfd.fd)
            };
            if is(&out) || err.as_ref().is_some_and(|f| f.as_raw_fd() == pfd.fd) {
                let is_out = is(&out);
                // SAFETY: read into our buffer from a pipe we own.
                let n = unsafe { libc::read(pfd.fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    let cap = if is_out { &mut p.stdout } else { &mut p.stderr };
                    cap.push(&buf[..n as usize]);
                    let total = p.stdout.total() + p.stderr.total();
                    if total > limits.output_bytes as u64 && !p.output_limit_hit {
                        p.output_limit_hit = true;
                        if status.is_none() {
                            kill_group(pgid);
                        }
                        settle.get_or_insert(Instant::now());
                    }
                } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                    if is_out {
                        out = None;
                    } else {
                        err = None;
                    }
                }
            } else if input.as_ref().is_some_and(|f| f.as_raw_fd() == pfd.fd) {
                let chunk = pending.len().min(64 << 10);
                // SAFETY: write from a live slice to a pipe we own.
                let n = unsafe { libc::write(pfd.fd, pending.as_ptr().cast(), chunk) };
                if n > 0 {
                    pending = &pending[n as usize..];
                } else if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                    // EPIPE: the command stopped reading; that is its call.
                    pending = &[];
                }
            } else if status.is_none() {
                // The pidfd: the leader exited and is a zombie, so its
                // group id is still reserved; clear leftovers, then reap.
                kill_group(pgid);
                status = Some(child.wait()?);
                settle.get_or_insert(Instant::now());
            }
        }
    }
    p.status = status.unwrap_or_else(|| ExitStatus::from_raw(0));
    Ok(p)
}
