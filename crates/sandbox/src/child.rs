//! The code that runs between fork and exec.
//!
//! Everything here is prepared by the parent; `apply` only makes syscalls
//! on data it already owns: no allocation, no locks, no logging (the
//! parent is multi-threaded, so after fork only async-signal-safe calls are
//! allowed). Outcomes are reported over a close-on-exec pipe as fixed
//! 5-byte records: step number, then errno (0 = applied) little-endian.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::landlock;
use crate::seccomp::{self, Filters};

pub(crate) const STEP_SETSID: u8 = 1;
pub(crate) const STEP_RLIMIT: u8 = 2;
pub(crate) const STEP_FDS: u8 = 3;
pub(crate) const STEP_IDS: u8 = 4;
pub(crate) const STEP_PDEATHSIG: u8 = 5;
pub(crate) const STEP_NNP: u8 = 6;
pub(crate) const STEP_LANDLOCK: u8 = 7;
pub(crate) const STEP_SECCOMP: u8 = 8;

pub(crate) fn step_name(step: u8) -> &'static str {
    match step {
        STEP_SETSID => "setsid",
        STEP_RLIMIT => "setrlimit",
        STEP_FDS => "close-on-exec fds",
        STEP_IDS => "switching uid/gid",
        STEP_PDEATHSIG => "parent-death signal",
        STEP_NNP => "no_new_privs",
        STEP_LANDLOCK => "landlock",
        STEP_SECCOMP => "seccomp",
        _ => "exec",
    }
}

pub(crate) struct ChildSetup {
    /// `(RLIMIT_*, soft, hard)`.
    pub rlimits: [(libc::c_int, u64, u64); 6],
    /// Upper bound for the fcntl fallback when close_range is missing.
    pub max_fd: libc::c_int,
    pub ids: Option<(u32, u32)>,
    pub parent_pid: libc::pid_t,
    /// Off mode: no no_new_privs, no Landlock, no seccomp.
    pub confine: bool,
    pub ruleset: Option<OwnedFd>,
    pub filters: Option<Filters>,
    /// Enforce: a failed layer aborts the spawn instead of being reported.
    pub strict: bool,
    pub status: OwnedFd,
}

impl ChildSetup {
    fn report(&self, step: u8, errno: i32) {
        let e = errno.to_le_bytes();
        let rec = [step, e[0], e[1], e[2], e[3]];
        // SAFETY: write(2) of a stack buffer; a failed report only loses
        // the label detail, the parent then treats the layer as unknown.
        unsafe { libc::write(self.status.as_raw_fd(), rec.as_ptr().cast(), rec.len()) };
    }

    fn fail(&self, step: u8, errno: i32) -> io::Error {
        self.report(step, errno);
        io::Error::from_raw_os_error(errno)
    }

    /// Runs in the forked child. Order matters: ids before the death
    /// signal (a credential change clears it), no_new_privs before
    /// Landlock (required when not root), seccomp last so nothing before
    /// it is filtered.
    pub(crate) fn apply(&self) -> io::Result<()> {
        let err = landlock::errno;
        // SAFETY (whole function): raw syscalls with plain-data arguments
        // owned by `self` or on the stack.
        unsafe {
            if libc::setsid() < 0 {
                return Err(self.fail(STEP_SETSID, err()));
            }
            for (resource, soft, hard) in self.rlimits {
                let lim = libc::rlimit64 {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                let rc = libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    resource,
                    &lim as *const libc::rlimit64,
                    std::ptr::null_mut::<libc::rlimit64>(),
                );
                if rc != 0 {
                    return Err(self.fail(STEP_RLIMIT, err()));
                }
            }
            let rc = libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if rc != 0 {
                // Kernels before 5.11: mark each fd by hand.
                for fd in 3..self.max_fd {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            if let Some((uid, gid)) = self.ids {
                // Raw syscalls: glibc's wrappers would try to broadcast to
                // threads that do not exist in the child.
                if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                    || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                    || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
                {
                    return Err(self.fail(STEP_IDS, err()));
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(self.fail(STEP_PDEATHSIG, err()));
            }
            if libc::getppid() != self.parent_pid {
                // picoclaw died before the death signal was armed.
                return Err(self.fail(STEP_PDEATHSIG, libc::ESRCH));
            }
            if !self.confine {
                return Ok(());
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(self.fail(STEP_NNP, err()));
            }
        }
        if let Some(ruleset) = &self.ruleset {
            let e = landlock::restrict_self(ruleset.as_raw_fd());
            if e != 0 && self.strict {
                return Err(self.fail(STEP_LANDLOCK, e));
            }
            self.report(STEP_LANDLOCK, e);
        }
        if let Some(filters) = &self.filters {
            for prog in [&filters.prelude, &filters.main] {
                let e = seccomp::install(prog);
                if e != 0 && self.strict {
                    return Err(self.fail(STEP_SECCOMP, e));
                }
                if e != 0 {
                    self.report(STEP_SECCOMP, e);
                    return Ok(());
                }
            }
            self.report(STEP_SECCOMP, 0);
        }
        Ok(())
    }
}

/// Reads the child's records after spawn (the write end is closed by then
/// in both processes, so this never blocks for long).
pub(crate) fn read_status(fd: &OwnedFd) -> Vec<(u8, i32)> {
    let mut buf = [0u8; 64];
    let mut out = Vec::new();
    let mut filled = 0;
    loop {
        // SAFETY: read into the unfilled tail of a stack buffer.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[filled..].as_mut_ptr().cast(),
                buf.len() - filled,
            )
        };
        if n <= 0 {
            break;
        }
        filled += n as usize;
        if filled == buf.len() {
            break;
        }
    }
    for rec in buf[..filled].chunks_exact(5) {
        out.push((rec[0], i32::from_le_bytes([rec[1], rec[2], rec[3], rec[4]])));
    }
    out
}
