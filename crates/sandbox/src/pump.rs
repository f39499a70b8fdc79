//! The parent's poll loop over a started child: feeds stdin, captures
//! stdout/stderr within the ceiling, and enforces the deadline and
//! cancellation by killing the whole process group (and, under the
//! namespace backend, with it the PID namespace, whose init it is).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
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

/// Only called while the leader is alive or an unreaped zombie, so the
/// group id cannot have been reused.
fn kill_group(pgid: libc::pid_t) {
    let pid = Pid::from_raw(pgid);
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = kill(pid, Signal::SIGKILL);
}

fn set_nonblocking(fd: &OwnedFd) {
    if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd, FcntlArg::F_SETFL(flags));
    }
}

/// `pidfd_open` stays raw: nix has no wrapper for it.
fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: plain syscall; the fd is ours on success.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: non-negative return is a fresh fd.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The parent's view of one running child.
struct Pump<'a> {
    pgid: libc::pid_t,
    pidfd: Option<OwnedFd>,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    input: Option<OwnedFd>,
    pending: &'a [u8],
    limits: &'a Limits,
    deadline: Instant,
    /// The leader's exit status once reaped.
    status: Option<ExitStatus>,
    /// When the group was killed (or the leader exited): the drain
    /// timeout counts from here.
    settle: Option<Instant>,
    buf: Vec<u8>,
    p: Pumped,
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
    for fd in [
        Some(&child.stdout),
        Some(&child.stderr),
        child.stdin.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        set_nonblocking(fd);
    }
    let mut pump = Pump {
        pgid: child.pid,
        pidfd: pidfd_open(child.pid),
        out: Some(child.stdout),
        err: Some(child.stderr),
        input: child.stdin,
        pending: stdin.unwrap_or_default(),
        limits,
        deadline: start + limits.timeout,
        status: None,
        settle: None,
        buf: vec![0u8; 16 << 10],
        p: Pumped {
            stdout: Capture::new(limits.keep_bytes),
            stderr: Capture::new(limits.keep_bytes),
            status: ExitStatus::from_raw(0),
            timed_out: false,
            cancelled: false,
            output_limit_hit: false,
            pipes_abandoned: false,
        },
    };
    loop {
        let now = Instant::now();
        pump.poll_exit_without_pidfd(now)?;
        if pump.status.is_some() && pump.out.is_none() && pump.err.is_none() {
            break;
        }
        if pump.drain_expired(now) {
            continue;
        }
        pump.check_deadline_and_cancel(now, cancel);
        if pump.input.is_some() && pump.pending.is_empty() {
            pump.input = None;
        }
        let mut fds = pump.poll_set();
        // SAFETY: fds is a live array of pollfd.
        let rc = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                pump.poll_timeout(now).as_millis() as i32,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for pfd in fds.iter().filter(|p| p.revents != 0) {
            pump.ready(pfd.fd)?;
        }
    }
    pump.p.status = pump.status.unwrap_or_else(|| ExitStatus::from_raw(0));
    Ok(pump.p)
}

fn is(f: &Option<OwnedFd>, fd: RawFd) -> bool {
    f.as_ref().is_some_and(|f| f.as_raw_fd() == fd)
}

impl Pump<'_> {
    /// Kernels before 5.3: no pidfd, so the exit is polled every 20 ms.
    fn poll_exit_without_pidfd(&mut self, now: Instant) -> io::Result<()> {
        if self.status.is_none() && self.pidfd.is_none() {
            if let Some(st) = try_wait(self.pgid)? {
                kill_group(self.pgid);
                self.status = Some(st);
                self.settle.get_or_insert(now);
            }
        }
        Ok(())
    }

    /// A process outside the group still holds the pipes after the drain
    /// timeout: stop reading.
    fn drain_expired(&mut self, now: Instant) -> bool {
        let holding = self.out.is_some() || self.err.is_some();
        match self.settle {
            Some(t) if now >= t + DRAIN_TIMEOUT && holding => {
                self.p.pipes_abandoned = true;
                self.out = None;
                self.err = None;
                true
            }
            _ => false,
        }
    }

    fn check_deadline_and_cancel(&mut self, now: Instant, cancel: &Cancel) {
        if self.status.is_some() || self.settle.is_some() {
            return;
        }
        if now >= self.deadline {
            self.p.timed_out = true;
        } else if cancel.is_cancelled() {
            self.p.cancelled = true;
        }
        if self.p.timed_out || self.p.cancelled {
            kill_group(self.pgid);
            self.settle = Some(now);
        }
    }

    fn poll_set(&self) -> Vec<libc::pollfd> {
        let pidfd = self.pidfd.as_ref().filter(|_| self.status.is_none());
        [
            (self.out.as_ref(), libc::POLLIN),
            (self.err.as_ref(), libc::POLLIN),
            (self.input.as_ref(), libc::POLLOUT),
            (pidfd, libc::POLLIN),
        ]
        .into_iter()
        .filter_map(|(fd, events)| {
            fd.map(|f| libc::pollfd {
                fd: f.as_raw_fd(),
                events,
                revents: 0,
            })
        })
        .collect()
    }

    fn poll_timeout(&self, now: Instant) -> Duration {
        let mut wait = Duration::from_millis(if self.pidfd.is_some() { 100 } else { 20 });
        match self.settle {
            None => wait = wait.min(self.deadline.saturating_duration_since(now)),
            Some(t) => wait = wait.min((t + DRAIN_TIMEOUT).saturating_duration_since(now)),
        }
        wait
    }

    fn ready(&mut self, fd: RawFd) -> io::Result<()> {
        if is(&self.out, fd) || is(&self.err, fd) {
            self.read_output(fd, is(&self.out, fd));
        } else if is(&self.input, fd) {
            self.write_input(fd);
        } else if self.status.is_none() {
            // The pidfd: the leader exited and is a zombie, so its group
            // id is still reserved; clear leftovers, then reap.
            kill_group(self.pgid);
            self.status = Some(wait(self.pgid)?);
            self.settle.get_or_insert(Instant::now());
        }
        Ok(())
    }

    fn read_output(&mut self, fd: RawFd, is_out: bool) {
        // SAFETY: read into our buffer from a pipe we own.
        let n = unsafe { libc::read(fd, self.buf.as_mut_ptr().cast(), self.buf.len()) };
        if n > 0 {
            let cap = if is_out {
                &mut self.p.stdout
            } else {
                &mut self.p.stderr
            };
            cap.push(&self.buf[..n as usize]);
            let total = self.p.stdout.total() + self.p.stderr.total();
            if total > self.limits.output_bytes as u64 && !self.p.output_limit_hit {
                self.p.output_limit_hit = true;
                if self.status.is_none() {
                    kill_group(self.pgid);
                }
                self.settle.get_or_insert(Instant::now());
            }
        } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
            if is_out {
                self.out = None;
            } else {
                self.err = None;
            }
        }
    }

    fn write_input(&mut self, fd: RawFd) {
        let chunk = self.pending.len().min(64 << 10);
        // SAFETY: write from a live slice to a pipe we own.
        let n = unsafe { libc::write(fd, self.pending.as_ptr().cast(), chunk) };
        if n > 0 {
            self.pending = &self.pending[n as usize..];
        } else if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
            // EPIPE: the command stopped reading; that is its call.
            self.pending = &[];
        }
    }
}

fn status_of(st: WaitStatus) -> Option<ExitStatus> {
    match st {
        WaitStatus::Exited(_, code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
        WaitStatus::Signaled(_, sig, core) => Some(ExitStatus::from_raw(
            sig as i32 | if core { 0x80 } else { 0 },
        )),
        _ => None,
    }
}

fn try_wait(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    Ok(status_of(waitpid(
        Pid::from_raw(pid),
        Some(WaitPidFlag::WNOHANG),
    )?))
}

/// Blocks until `pid` is reaped.
pub(crate) fn wait(pid: libc::pid_t) -> io::Result<ExitStatus> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(st) => {
                if let Some(st) = status_of(st) {
                    return Ok(st);
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
