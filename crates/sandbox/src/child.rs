//! The code that runs between fork and exec.
//!
//! Everything here is prepared by the parent; `apply` only makes syscalls
//! on data it already owns: no allocation, no locks, no logging (the
//! parent is multi-threaded, so after fork only async-signal-safe calls are
//! allowed). The `nix` and `landlock` calls used here qualify: paths are
//! `&CStr` (nix's `NixPath` for `CStr` passes the pointer through), errors
//! are plain enums. Outcomes are reported over a close-on-exec pipe as
//! fixed 5-byte records: step number (with [`FATAL`] set when the step
//! aborted the spawn), then errno (0 = applied) little-endian. A failed
//! namespace mount step is preceded by a [`STEP_NS_OP`] record carrying
//! its index.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use ::landlock::{AccessFs, BitFlags, RulesetCreated};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::Mode;

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
/// Best effort only: Landlock held, but the crate dropped rights this
/// kernel lacks (the capabilities claimed a newer ABI).
pub(crate) const STEP_LANDLOCK_PARTIAL: u8 = 16;
pub(crate) const STEP_NETNS: u8 = 17;
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
        STEP_LANDLOCK_PARTIAL => "landlock (partially enforced: kernel ABI older than claimed)",
        STEP_SECCOMP => "seccomp",
        STEP_USERNS => "user namespace maps",
        STEP_MOUNT => "namespace mounts",
        STEP_PIVOT => "pivot_root",
        STEP_CHDIR => "chdir to the workspace",
        STEP_PROC_RULE => "landlock rule for the fresh /proc",
        STEP_NETNS => "joining the empty network namespace",
        _ => "exec",
    }
}

pub(crate) struct ChildSetup {
    /// `(resource, soft, hard)`.
    pub rlimits: [(Resource, u64, u64); 6],
    /// Upper bound for the fcntl fallback when close_range is missing.
    pub max_fd: libc::c_int,
    pub ids: Option<(u32, u32)>,
    pub parent_pid: libc::pid_t,
    /// Off mode: no no_new_privs, no Landlock, no seccomp.
    pub confine: bool,
    pub ruleset: Option<RulesetCreated>,
    pub filters: Option<Filters>,
    /// Enforce: a failed layer aborts the spawn instead of being reported.
    pub strict: bool,
    pub status: OwnedFd,
    /// The namespace backend's mount view (the child was cloned into the
    /// namespaces already).
    pub ns: Option<NsPlan>,
    /// Landlock rights for the fresh `/proc` (both backends at once): the
    /// parent's ruleset only knows the host's procfs.
    pub proc_rights: BitFlags<AccessFs>,
    pub cwd: std::ffi::CString,
}

/// `Err(errno)` of a failed nix call, for the report.
fn code(e: Errno) -> i32 {
    e as i32
}

impl ChildSetup {
    fn report(&self, step: u8, errno: i32) {
        let e = errno.to_le_bytes();
        let rec = [step, e[0], e[1], e[2], e[3]];
        // A failed report only loses the label detail; the parent then
        // treats the layer as unknown.
        let _ = nix::unistd::write(self.status.as_fd(), &rec);
    }

    fn fail(&self, step: u8, errno: i32) -> io::Error {
        self.report(step | FATAL, errno);
        io::Error::from_raw_os_error(errno)
    }

    /// Runs in the forked child. Order matters: the mount view first
    /// (while the child still has every capability in its namespaces),
    /// the /proc rule before the rlimits (RLIMIT_NOFILE could leave no fd
    /// for the open), ids before the death signal (a credential change
    /// clears it), no_new_privs before Landlock (required when not root),
    /// seccomp last so nothing before it is filtered.
    pub(crate) fn apply(&mut self) -> io::Result<()> {
        if let Some(plan) = &self.ns {
            self.apply_ns(plan)?;
        }
        self.add_proc_rule();
        self.session_and_limits()?;
        self.switch_ids()?;
        self.arm_death_signal()?;
        nix::unistd::chdir(self.cwd.as_c_str()).map_err(|e| self.fail(STEP_CHDIR, code(e)))?;
        if self.confine {
            self.confine()?;
        }
        Ok(())
    }

    /// Builds the private root and moves into it.
    fn apply_ns(&self, plan: &NsPlan) -> io::Result<()> {
        let none = None::<&CStr>;
        if let Some(netns) = plan.join_net {
            nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| self.fail(STEP_NETNS, code(e)))?;
        }
        if let Some(maps) = &plan.user {
            for (file, data) in [
                (c"/proc/self/setgroups", c"deny"),
                (c"/proc/self/uid_map", maps.uid_map.as_c_str()),
                (c"/proc/self/gid_map", maps.gid_map.as_c_str()),
            ] {
                write_file(file, data).map_err(|e| self.fail(STEP_USERNS, code(e)))?;
            }
        }
        let mounts = || -> nix::Result<()> {
            let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
            mount(none, c"/", none, private, none)?;
            mount(
                Some(c"tmpfs"),
                plan.stage.as_c_str(),
                Some(c"tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(c"mode=0755,size=1m"),
            )
        };
        mounts().map_err(|e| self.fail(STEP_MOUNT, code(e)))?;
        for (i, op) in plan.ops.iter().enumerate() {
            if let Err(e) = apply_op(op) {
                self.report(STEP_NS_OP, i as i32);
                return Err(self.fail(STEP_MOUNT, code(e)));
            }
        }
        // pivot_root(".", "."): the old root ends up stacked on the new
        // one and is detached right away, with everything under it.
        let pivot = || -> nix::Result<()> {
            nix::unistd::chdir(plan.stage.as_c_str())?;
            nix::unistd::pivot_root(c".", c".")?;
            umount2(c".", MntFlags::MNT_DETACH)?;
            nix::unistd::chdir(c"/")?;
            let _ = nix::unistd::unlink(c"/.picoclaw-empty");
            let ro = MsFlags::MS_REMOUNT
                | MsFlags::MS_BIND
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV;
            mount(none, c"/", none, ro, none)
        };
        pivot().map_err(|e| self.fail(STEP_PIVOT, code(e)))
    }

    /// Both backends at once: the parent's ruleset only knows the host's
    /// procfs, so the fresh `/proc` gets its rule here. Without it /proc
    /// is unreadable: less access, not more, so a failure is reported,
    /// never fatal.
    fn add_proc_rule(&mut self) {
        if self.proc_rights.is_empty() {
            return;
        }
        let Some(ruleset) = self.ruleset.as_mut() else {
            return;
        };
        let e = landlock::add_proc_rule(ruleset, self.proc_rights);
        if e != 0 {
            self.report(STEP_PROC_RULE, e);
        }
    }

    /// Own session and process group (so the parent can kill the whole
    /// group), the rlimits, and every inherited fd above stderr marked
    /// close-on-exec.
    fn session_and_limits(&self) -> io::Result<()> {
        nix::unistd::setsid().map_err(|e| self.fail(STEP_SETSID, code(e)))?;
        // glibc and musl both implement setrlimit as one prlimit64
        // syscall (musl falls back to a thread broadcast only on kernels
        // before 2.6.36, which lack everything else here too).
        for (resource, soft, hard) in self.rlimits {
            setrlimit(resource, soft, hard).map_err(|e| self.fail(STEP_RLIMIT, code(e)))?;
        }
        // Raw: nix has no close_range.
        // SAFETY: plain-data syscall.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if rc != 0 {
            // Kernels before 5.11: mark each fd by hand.
            for fd in 3..self.max_fd {
                // SAFETY: fcntl on a number that may or may not be an fd;
                // EBADF is harmless.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
        Ok(())
    }

    fn switch_ids(&self) -> io::Result<()> {
        let Some((uid, gid)) = self.ids else {
            return Ok(());
        };
        // Raw syscalls, not nix: nix calls the libc wrappers, and glibc's
        // and musl's broadcast the change to every thread they know of,
        // threads that exist only in the parent (this child came from a
        // raw clone, behind libc's back), so they would hang or fail.
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
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| self.fail(STEP_PDEATHSIG, code(e)))?;
        // In a PID namespace the parent is outside it and getppid() says
        // 0; the namespace dies with its init anyway.
        if self.ns.is_none() && nix::unistd::getppid().as_raw() != self.parent_pid {
            // picoclaw died before the death signal was armed.
            return Err(self.fail(STEP_PDEATHSIG, libc::ESRCH));
        }
        Ok(())
    }

    /// no_new_privs, then Landlock, then seccomp. Under enforce a failed
    /// layer aborts; under best effort it is reported and the rest go on.
    fn confine(&mut self) -> io::Result<()> {
        nix::sys::prctl::set_no_new_privs().map_err(|e| self.fail(STEP_NNP, code(e)))?;
        if let Some(ruleset) = self.ruleset.take() {
            match landlock::restrict_self(ruleset) {
                Ok(true) => self.report(STEP_LANDLOCK, 0),
                // HardRequirement (enforce) never gets here.
                Ok(false) => self.report(STEP_LANDLOCK_PARTIAL, libc::EOPNOTSUPP),
                Err(e) if self.strict => return Err(self.fail(STEP_LANDLOCK, e)),
                Err(e) => self.report(STEP_LANDLOCK, e),
            }
        }
        if let Some(filters) = &self.filters {
            let e = seccomp::install(&filters.program);
            if e != 0 && self.strict {
                return Err(self.fail(STEP_SECCOMP, e));
            }
            self.report(STEP_SECCOMP, e);
        }
        Ok(())
    }
}

/// One prepared mount step.
fn apply_op(op: &Op) -> nix::Result<()> {
    let none = None::<&CStr>;
    match op {
        Op::Mkdir(p) => match nix::unistd::mkdir(p.as_c_str(), Mode::from_bits_truncate(0o755)) {
            // picoclaw runs with umask 077: without the chmod, mount
            // points on the way to the workspace (one under /tmp) are
            // 0700 root and the tool user cannot reach it.
            Ok(()) => nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                p.as_c_str(),
                Mode::from_bits_truncate(0o755),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            ),
            Err(Errno::EEXIST) => Ok(()),
            Err(e) => Err(e),
        },
        Op::Touch(p, mode) => {
            let mode = Mode::from_bits_truncate(*mode);
            let fd = nix::fcntl::open(
                p.as_c_str(),
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
                mode,
            )?;
            nix::sys::stat::fchmod(&fd, mode)
        }
        Op::Symlink { target, at } => {
            nix::unistd::symlinkat(target.as_c_str(), nix::fcntl::AT_FDCWD, at.as_c_str())
        }
        Op::Bind { src, dst, flags } => {
            let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(Some(src.as_c_str()), dst.as_c_str(), none, bind, none)?;
            mount(none, dst.as_c_str(), none, *flags, none)
        }
        Op::Remount { dst, flags } => mount(none, dst.as_c_str(), none, *flags, none),
        Op::Tmpfs { dst, flags, data } => mount(
            Some(c"tmpfs"),
            dst.as_c_str(),
            Some(c"tmpfs"),
            *flags,
            Some(data.as_c_str()),
        ),
        Op::Proc(dst) => mount(
            Some(c"proc"),
            dst.as_c_str(),
            Some(c"proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            none,
        ),
    }
}

/// open + write + close.
fn write_file(path: &CStr, data: &CStr) -> nix::Result<()> {
    let fd = nix::fcntl::open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let bytes = data.to_bytes();
    match nix::unistd::write(&fd, bytes)? {
        n if n == bytes.len() => Ok(()),
        _ => Err(Errno::EIO),
    }
}

/// Reads the child's records after spawn (the write end is closed by then
/// in both processes, so this never blocks for long).
pub(crate) fn read_status(fd: &OwnedFd) -> Vec<(u8, i32)> {
    let mut buf = [0u8; 64];
    let mut filled = 0;
    while filled < buf.len() {
        match nix::unistd::read(fd.as_fd(), &mut buf[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    buf[..filled]
        .chunks_exact(5)
        .map(|rec| (rec[0], i32::from_le_bytes([rec[1], rec[2], rec[3], rec[4]])))
        .collect()
}
