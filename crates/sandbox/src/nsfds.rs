//! Namespace fds the parent keeps, so the namespace backend costs less on
//! the caller's path (issue 12: sandboxed spawn budget) without giving up
//! any of its isolation:
//!
//! - one empty network namespace, created once and joined by every
//!   command (`setns`) instead of a fresh one per command: creating a
//!   network namespace is the most expensive part of the clone, and its
//!   teardown keeps a kernel worker busy after every command. Sharing it
//!   changes nothing a command can reach: its loopback stays down (no
//!   address works, `ENETUNREACH`), and it is only used when seccomp
//!   holds, which refuses every socket but AF_UNIX and every
//!   connect/bind/listen, so no command can leave a listener, an
//!   abstract socket or an interface change behind for the next. Without
//!   seccomp, or inside a user namespace (no right to join), each command
//!   still gets its own;
//! - each command's mount namespace, held until the command was reaped
//!   and then dropped by a background thread: when the last reference to
//!   a mount namespace goes, the kernel unmounts the whole private root
//!   and waits for an RCU grace period, and a PID namespace's init does
//!   that before its exit is reported. Holding a reference moves that
//!   work off the path between the command's exit and `run` returning
//!   (a short-lived reaper thread drops it).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

/// The shared empty network namespace; `None` when it cannot be made
/// (then each command gets its own, as before).
pub(crate) fn empty_netns() -> Option<BorrowedFd<'static>> {
    static NETNS: OnceLock<Option<OwnedFd>> = OnceLock::new();
    NETNS
        .get_or_init(|| {
            let made = make_netns();
            if let Err(e) = &made {
                picoclaw_core::debug!(
                    "sandbox: no shared network namespace ({e}); one per command"
                );
            }
            made.ok()
        })
        .as_ref()
        .map(|fd| fd.as_fd())
}

/// A child in a new network namespace that waits on a pipe; its
/// namespace fd outlives it.
fn make_netns() -> nix::Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // A raw, fork-like clone, like spawn.rs (nix's clone needs a stack).
    // SAFETY: the child only reads a pipe and calls _exit, both
    // async-signal-safe.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWNET | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // Its own copy of the write end would keep the read from ever
        // seeing EOF.
        drop(w);
        let mut b = [0u8; 1];
        let _ = nix::unistd::read(r.as_fd(), &mut b);
        // SAFETY: leaves the child at once.
        unsafe { libc::_exit(0) };
    }
    if pid < 0 {
        return Err(nix::errno::Errno::last());
    }
    let pid = nix::unistd::Pid::from_raw(pid as libc::pid_t);
    let fd = open(
        format!("/proc/{pid}/ns/net").as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    );
    drop(w);
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
    fd
}

/// A reference to the mount namespace of a just-started command; `None`
/// when it already exited (then its own exit paid the teardown).
pub(crate) fn hold_mount_ns(pid: libc::pid_t) -> Option<OwnedFd> {
    open(
        format!("/proc/{pid}/ns/mnt").as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Fds waiting for the reaper, and whether a reaper thread is running.
struct Pending {
    fds: Vec<OwnedFd>,
    running: bool,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    fds: Vec::new(),
    running: false,
});
static WORK: Condvar = Condvar::new();

/// Drops `fd` on the reaper thread, which is started on demand (64 KiB
/// of stack) and ends after a second without work, so an idle picoclaw
/// keeps no extra thread; inline when no thread can be started.
pub(crate) fn release_later(fd: OwnedFd) {
    // A panic while holding the lock leaves at worst fds to close later.
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    p.fds.push(fd);
    if p.running {
        WORK.notify_one();
        return;
    }
    let started = std::thread::Builder::new()
        .name("sandbox-ns-reaper".to_string())
        .stack_size(64 << 10)
        .spawn(reap);
    match started {
        Ok(_) => p.running = true,
        Err(_) => p.fds.clear(),
    }
}

fn reap() {
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let batch = std::mem::take(&mut p.fds);
        if !batch.is_empty() {
            // Closed without the lock: this is the slow part.
            drop(p);
            drop(batch);
            p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        let (next, timeout) = WORK
            .wait_timeout(p, Duration::from_secs(1))
            .unwrap_or_else(|e| e.into_inner());
        p = next;
        if timeout.timed_out() && p.fds.is_empty() {
            p.running = false;
            return;
        }
    }
}
