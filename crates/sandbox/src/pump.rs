//! The parent's poll loop over a started child: feeds stdin, captures
//! stdout/stderr within the ceiling, and enforces the deadline and
//! cancellation by killing the whole process group (and, under the
//! namespace backend, with it the PID namespace, whose init it is).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use picoclaw_core::Cancel;

use crate::output::Capture;
use crate::policy::Limits;
use crate::run::DRAIN_TIMEOUT;
use crate::spawn::Spawned;

pub(crate) struct Pumped {
    pub stdout: Capture,
    pub stderr: Capture,
    pub status: ExitStatus,
    pub timed_out: bool,
    pub cancelled: bool,
    pub output_limit_hit: bool,
    pub pipes_abandoned: bool,
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
pub(crate) fn pump(
    child: Spawned,
    stdin: Option<&[u8]>,
    limits: &Limits,
    cancel: &Cancel,
    start: Instant,
) -> io::Result<Pumped> {
    let pgid = child.pid;
    let pidfd = pidfd_open(pgid);
    let mut out = Some(child.stdout);
    let mut err = Some(child.stderr);
    let mut input = child.stdin;
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
            if let Some(st) = try_wait(pgid)? {
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
            let is = |f: &Option<OwnedFd>| f.as_ref().is_some_and(|f| f.as_raw_fd() == pfd.fd);
            if is(&out) || is(&err) {
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
            } else if is(&input) {
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
                status = Some(self::wait(pgid)?);
                settle.get_or_insert(Instant::now());
            }
        }
    }
    p.status = status.unwrap_or_else(|| ExitStatus::from_raw(0));
    Ok(p)
}

fn try_wait(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    let mut st = 0;
    // SAFETY: waitpid on our own child with an out pointer.
    let rc = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
    match rc {
        0 => Ok(None),
        r if r == pid => Ok(Some(ExitStatus::from_raw(st))),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Blocks until `pid` is reaped.
pub(crate) fn wait(pid: libc::pid_t) -> io::Result<ExitStatus> {
    loop {
        let mut st = 0;
        // SAFETY: as above.
        let rc = unsafe { libc::waitpid(pid, &mut st, 0) };
        if rc == pid {
            return Ok(ExitStatus::from_raw(st));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
