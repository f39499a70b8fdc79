//! The code that runs between fork and exec.
//!
//! Everything here is prepared by the parent; `apply` only makes syscalls
//! on data it already owns: no allocation, no locks, no logging (the
//! parent is multi-threaded, so after fork only async-signal-safe calls are
//! allowed). Outcomes are reported over a close-on-exec pipe as fixed
//! 5-byte records: step number (with [`FATAL`] set when the step aborted
//! the spawn), then errno (0 = applied) little-endian. A failed namespace
//! mount step is preceded by a [`STEP_NS_OP`] record carrying its index.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::landlock;
use crate::ns::{NsPlan, Op};
use crate::seccomp::{self, Filters};

pub(crate) const STEP_SETSID: u8 = 1;
pub(crate) const STEP_RLIMIT: u8 = 2;
pub(crate) const STEP_FDS: u8 = 3;
pub(crate) const STEP_IDS: u8 = 4;
pub(crate) const STEP_PDEATHSIG: u8 = 5;
pub(crate) const STEP_NNP: u8 = 6;
pub(crate) const STEP_LANDLOCK: u8 = 7;
pub(crate) const STEP_SECCOMP: u8 = 8;
pub(crate) const STEP_USERNS: u8 = 9;
pub(crate) const STEP_MOUNT: u8 = 10;
pub(crate) const STEP_PIVOT: u8 = 11;
pub(crate) const STEP_CHDIR: u8 = 12;
pub(crate) const STEP_EXEC: u8 = 13;
pub(crate) const STEP_NS_OP: u8 = 14;
pub(crate) const STEP_PROC_RULE: u8 = 15;
/// Set on the step of a record that aborted the spawn.
pub(crate) const FATAL: u8 = 0x80;

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
        STEP_USERNS => "user namespace maps",
        STEP_MOUNT => "namespace mounts",
        STEP_PIVOT => "pivot_root",
        STEP_CHDIR => "chdir to the workspace",
        STEP_PROC_RULE => "landlock rule for the fresh /proc",
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
    /// The namespace backend's mount view (the child was cloned into the
    /// namespaces already).
    pub ns: Option<NsPlan>,
    /// Landlock rights for the fresh `/proc` (both backends at once): the
    /// parent's ruleset only knows the host's procfs.
    pub proc_rule_bits: u64,
    pub cwd: std::ffi::CString,
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
        self.report(step | FATAL, errno);
        io::Error::from_raw_os_error(errno)
    }

    /// Builds the private root and moves into it. Runs first: while the
    /// child still has every capability in its namespaces.
    fn apply_ns(&self, plan: &NsPlan) -> io::Result<()> {
        let err = landlock::errno;
        let null = std::ptr::null::<libc::c_char>();
        // SAFETY (whole function): raw syscalls on C strings prepared by
        // the parent and owned by `plan`.
        unsafe {
            if let Some(maps) = &plan.user {
                for (file, data) in [
                    (c"/proc/self/setgroups", c"deny"),
                    (c"/proc/self/uid_map", maps.uid_map.as_c_str()),
                    (c"/proc/self/gid_map", maps.gid_map.as_c_str()),
                ] {
                    if write_file(file, data) != 0 {
                        return Err(self.fail(STEP_USERNS, err()));
                    }
                }
            }
            let private = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(null, c"/".as_ptr(), null, private, std::ptr::null()) != 0 {
                return Err(self.fail(STEP_MOUNT, err()));
            }
            if libc::mount(
                c"tmpfs".as_ptr(),
                plan.stage.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=0755,size=1m".as_ptr().cast(),
            ) != 0
            {
                return Err(self.fail(STEP_MOUNT, err()));
            }
            for (i, op) in plan.ops.iter().enumerate() {
                let e = apply_op(op);
                if e != 0 {
                    self.report(STEP_NS_OP, i as i32);
                    return Err(self.fail(STEP_MOUNT, e));
                }
            }
            // pivot_root(".", "."): the old root ends up stacked on the
            // new one and is detached right away, with everything under it.
            if libc::chdir(plan.stage.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
                || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(c"/".as_ptr()) != 0
            {
                return Err(self.fail(STEP_PIVOT, err()));
            }
            libc::unlink(c"/.picoclaw-empty".as_ptr());
            let ro = libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV;
            if libc::mount(null, c"/".as_ptr(), null, ro, std::ptr::null()) != 0 {
                return Err(self.fail(STEP_PIVOT, err()));
            }
        }
        Ok(())
    }

    /// Runs in the forked child. Order matters: the mount view first
    /// (while the child still has every capability in its namespaces),
    /// the /proc rule before the rlimits (RLIMIT_NOFILE could leave no fd
    /// for the open), ids before the death signal (a credential change
    /// clears it), no_new_privs before Landlock (required when not root),
    /// seccomp last so nothing before it is filtered.
    pub(crate) fn apply(&self) -> io::Result<()> {
        if let Some(plan) = &self.ns {
            self.apply_ns(plan)?;
        }
        self.add_proc_rule();
        self.session_and_limits()?;
        self.switch_ids()?;
        self.arm_death_signal()?;
        // SAFETY: chdir to a C string owned by `self`.
        if unsafe { libc::chdir(self.cwd.as_ptr()) } != 0 {
            return Err(self.fail(STEP_CHDIR, landlock::errno()));
        }
        if self.confine {
            self.confine()?;
        }
        Ok(())
    }

    /// Both backends at once: the parent's ruleset only knows the host's
    /// procfs, so the fresh `/proc` gets its rule here. Without it /proc
    /// is unreadable: less access, not more, so a failure is reported,
    /// never fatal.
    fn add_proc_rule(&self) {
        let Some(ruleset) = self.ruleset.as_ref().filter(|_| self.proc_rule_bits != 0) else {
            return;
        };
        // SAFETY: open/close of a constant path.
        let e = unsafe {
            let fd = libc::open(c"/proc".as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if fd >= 0 {
                let e = landlock::add_path_rule(ruleset.as_raw_fd(), self.proc_rule_bits, fd);
                libc::close(fd);
                e
            } else {
                landlock::errno()
            }
        };
        if e != 0 {
            self.report(STEP_PROC_RULE, e);
        }
    }

    /// Own session and process group (so the parent can kill the whole
    /// group), the rlimits, and every inherited fd above stderr marked
    /// close-on-exec.
    fn session_and_limits(&self) -> io::Result<()> {
        let err = landlock::errno;
        // SAFETY (whole block): raw syscalls with plain-data arguments
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
        }
        Ok(())
    }

    fn switch_ids(&self) -> io::Result<()> {
        let Some((uid, gid)) = self.ids else {
            return Ok(());
        };
        // Raw syscalls: glibc's wrappers would try to broadcast to
        // threads that do not exist in the child.
        // SAFETY: plain-data syscalls.
        let failed = unsafe {
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
        };
        if failed {
            return Err(self.fail(STEP_IDS, landlock::errno()));
        }
        Ok(())
    }

    /// SIGKILL when picoclaw dies, and a check that it has not already.
    fn arm_death_signal(&self) -> io::Result<()> {
        // SAFETY: plain-data prctl and getppid.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(self.fail(STEP_PDEATHSIG, landlock::errno()));
            }
            // In a PID namespace the parent is outside it and getppid()
            // says 0; the namespace dies with its init anyway.
            if self.ns.is_none() && libc::getppid() != self.parent_pid {
                // picoclaw died before the death signal was armed.
                return Err(self.fail(STEP_PDEATHSIG, libc::ESRCH));
            }
        }
        Ok(())
    }

    /// no_new_privs, then Landlock, then seccomp. Under enforce a failed
    /// layer aborts; under best effort it is reported and the rest go on.
    fn confine(&self) -> io::Result<()> {
        // SAFETY: plain-data prctl.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(self.fail(STEP_NNP, landlock::errno()));
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

/// One prepared mount step; 0 or an errno.
fn apply_op(op: &Op) -> i32 {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: raw syscalls on C strings owned by the plan.
    let rc = unsafe {
        match op {
            Op::Mkdir(p) => {
                let rc = libc::mkdir(p.as_ptr(), 0o755);
                if rc == 0 {
                    // picoclaw runs with umask 077: without this, mount
                    // points on the way to the workspace (one under /tmp)
                    // are 0700 root and the tool user cannot reach it.
                    libc::chmod(p.as_ptr(), 0o755)
                } else if landlock::errno() == libc::EEXIST {
                    0
                } else {
                    rc
                }
            }
            Op::Touch(p, mode) => {
                let fd = libc::open(
                    p.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    *mode as libc::c_uint,
                );
                if fd >= 0 {
                    libc::fchmod(fd, *mode);
                    libc::close(fd);
                    0
                } else {
                    -1
                }
            }
            Op::Symlink { target, at } => libc::symlink(target.as_ptr(), at.as_ptr()),
            Op::Bind { src, dst, flags } => {
                let rc = libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                );
                if rc != 0 {
                    rc
                } else {
                    libc::mount(null, dst.as_ptr(), null, *flags, std::ptr::null())
                }
            }
            Op::Remount { dst, flags } => {
                libc::mount(null, dst.as_ptr(), null, *flags, std::ptr::null())
            }
            Op::Tmpfs { dst, flags, data } => libc::mount(
                c"tmpfs".as_ptr(),
                dst.as_ptr(),
                c"tmpfs".as_ptr(),
                *flags,
                data.as_ptr().cast(),
            ),
            Op::Proc(dst) => libc::mount(
                c"proc".as_ptr(),
                dst.as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ),
        }
    };
    if rc == 0 {
        0
    } else {
        landlock::errno()
    }
}

/// open + write + close; 0 or -1.
///
/// # Safety
/// Async-signal-safe raw syscalls only.
unsafe fn write_file(path: &CStr, data: &CStr) -> i32 {
    // SAFETY: valid C strings.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return -1;
        }
        let bytes = data.to_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if n == bytes.len() as isize {
            0
        } else {
            -1
        }
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
