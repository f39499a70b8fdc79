//! The namespace backend: the command gets its own mount, PID, network,
//! IPC and UTS namespaces (and a user namespace when picoclaw lacks
//! CAP_SYS_ADMIN) and a private root built from a tmpfs:
//!
//! - the system roots bound read-only at their own paths (recursively;
//!   every submount remounted read-only too), symlinked roots such as
//!   `/bin -> usr/bin` recreated as symlinks;
//! - each hidden path under a bound root covered: files by an empty,
//!   mode-000 file, directories by an empty, mode-000, read-only tmpfs.
//!   Over-mounting rather than binding `/etc` entry by entry keeps the
//!   cost constant (a handful of mounts instead of ~150) and needs no
//!   replanning when `/etc` changes; the price is that the *name* of a
//!   hidden file under a root stays visible (its content does not).
//!   Hidden paths outside the roots (state dir, config elsewhere) simply
//!   do not exist inside;
//! - `/dev` with null, zero, full, random, urandom and tty bound from the
//!   host, plus the `/dev/fd` and `/dev/std*` links;
//! - a fresh `/proc` for the new PID namespace;
//! - the per-command tmp dir at `/tmp`, the workspace read-write at its own
//!   path;
//! - then `pivot_root`, the old root detached, `/` remounted read-only.
//!
//! The parent prepares every path and flag here; the child (see `child`)
//! only walks the prepared list with raw syscalls.

use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::mount::MsFlags;

use crate::effective::Mount;
use crate::error::SandboxError;
use crate::policy::Policy;
use crate::rules;

/// Devices inside; `tty` fails with ENXIO (no controlling terminal).
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];
const DEV_LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
];
/// Where the empty stand-in for hidden files lives until it is unlinked
/// after `pivot_root` (bind mounts keep the inode alive).
const EMPTY: &str = "/.picoclaw-empty";

pub(crate) const BASE_FLAGS: libc::c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;

/// One prepared step in the child, all paths absolute on the host (the
/// new root is still mounted at the stage dir).
#[derive(Debug)]
pub(crate) enum Op {
    /// `mkdir`, tolerating EEXIST.
    Mkdir(CString),
    /// Create an empty file (mount point for a file bind).
    Touch(CString, libc::mode_t),
    Symlink {
        target: CString,
        at: CString,
    },
    /// Recursive bind, then a remount with `flags` (read-only etc.).
    Bind {
        src: CString,
        dst: CString,
        flags: MsFlags,
    },
    /// Remount an existing (sub)mount with `flags`.
    Remount {
        dst: CString,
        flags: MsFlags,
    },
    Tmpfs {
        dst: CString,
        flags: MsFlags,
        data: CString,
    },
    Proc(CString),
}

/// The user namespace maps, written by the child itself.
#[derive(Debug)]
pub(crate) struct UserMaps {
    pub uid_map: CString,
    pub gid_map: CString,
}

#[derive(Debug)]
pub(crate) struct NsPlan {
    pub clone_flags: libc::c_int,
    /// Join this (empty, shared) network namespace instead of creating
    /// one (see `nsfds`).
    pub join_net: Option<std::os::fd::BorrowedFd<'static>>,
    pub user: Option<UserMaps>,
    pub stage: CString,
    pub ops: Vec<Op>,
}

fn c(p: &Path) -> Result<CString, SandboxError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| SandboxError::Policy(format!("path {} contains a NUL", p.display())))
}

fn under(stage: &Path, p: &Path) -> PathBuf {
    stage.join(p.strip_prefix("/").unwrap_or(p))
}

/// Flags of the mount holding `p` that a remount must keep: in a user
/// namespace they are locked, and dropping one fails with EPERM.
fn locked_flags(p: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(p) else {
        return MsFlags::empty();
    };
    // nix (like libc) names ST_RELATIME for glibc only; the kernel's
    // statfs flag is 0x1000 on every architecture, musl included.
    const ST_RELATIME: libc::c_ulong = 0x1000;
    let bits = st.flags().bits();
    let mut out = MsFlags::empty();
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
        (libc::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if bits & st_flag != 0 {
            out |= ms_flag;
        }
    }
    out
}

/// Mount points from `/proc/self/mountinfo` (octal escapes decoded).
fn mount_points() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|field| {
            let b = field.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'\\' && i + 3 < b.len() {
                    if let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
                out.push(b[i]);
                i += 1;
            }
            PathBuf::from(std::ffi::OsStr::from_bytes(&out))
        })
        .collect()
}

/// The flags every remount of a bind carries: read-only, or read-write
/// for the workspace and tmp, never setuid or device files.
const RO: MsFlags = MsFlags::MS_REMOUNT
    .union(MsFlags::MS_BIND)
    .union(MsFlags::MS_RDONLY)
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV);
const RW: MsFlags = RO.difference(MsFlags::MS_RDONLY);

struct Builder {
    stage: PathBuf,
    ops: Vec<Op>,
    made: BTreeSet<PathBuf>,
    /// Canonical roots bound so far.
    bound: Vec<PathBuf>,
}

impl Builder {
    /// `p` (a path inside the sandbox) on the host, under the stage.
    fn at(&self, p: &Path) -> Result<CString, SandboxError> {
        c(&under(&self.stage, p))
    }

    /// `mkdir -p` of `p` (a path inside the sandbox) under the stage.
    fn mkdirs(&mut self, p: &Path) -> Result<(), SandboxError> {
        let mut cur = PathBuf::from("/");
        for comp in p.components().skip(1) {
            cur.push(comp);
            if self.made.insert(cur.clone()) {
                self.ops.push(Op::Mkdir(self.at(&cur)?));
            }
        }
        Ok(())
    }

    /// The mount point for a bind of `src` at `at`.
    fn mount_point(&mut self, src: &Path, at: &Path) -> Result<(), SandboxError> {
        if src.is_dir() {
            self.mkdirs(at)
        } else {
            if let Some(parent) = at.parent() {
                self.mkdirs(parent)?;
            }
            if self.made.insert(at.to_path_buf()) {
                self.ops.push(Op::Touch(self.at(at)?, 0o644));
            }
            Ok(())
        }
    }

    /// The per-command tmp dir at `/tmp`. First, so roots or a workspace
    /// below /tmp (tests, odd setups) get their mount points in it
    /// instead of being hidden by it.
    fn private_tmp(&mut self, tmp: &Path) -> Result<(), SandboxError> {
        self.mkdirs(Path::new("/tmp"))?;
        self.ops.push(Op::Bind {
            src: c(tmp)?,
            dst: self.at(Path::new("/tmp"))?,
            flags: RW | locked_flags(tmp),
        });
        Ok(())
    }

    /// Each system root read-only at its own path, symlinked roots as
    /// symlinks; roots inside a hidden path or an already bound root are
    /// skipped.
    fn roots(&mut self, policy: &Policy, hidden: &[PathBuf]) -> Result<(), SandboxError> {
        let submounts = mount_points();
        for root in &policy.read_only_paths {
            let (Ok(meta), Ok(canon)) = (root.symlink_metadata(), root.canonicalize()) else {
                continue;
            };
            if hidden.iter().any(|h| canon.starts_with(h)) {
                continue;
            }
            if meta.file_type().is_symlink() {
                self.symlinked_root(root)?;
            } else if !self.bound.iter().any(|r| canon.starts_with(r)) {
                self.bind_root(&canon, &submounts)?;
            }
        }
        Ok(())
    }

    /// `/bin -> usr/bin`: the same link inside, pointing at the bound
    /// target (or nowhere, if the target is not a root).
    fn symlinked_root(&mut self, root: &Path) -> Result<(), SandboxError> {
        if let (Ok(target), Some(parent)) = (std::fs::read_link(root), root.parent()) {
            if self.made.insert(root.to_path_buf()) {
                self.mkdirs(parent)?;
                self.ops.push(Op::Symlink {
                    target: c(&target)?,
                    at: self.at(root)?,
                });
            }
        }
        Ok(())
    }

    fn bind_root(&mut self, canon: &Path, submounts: &[PathBuf]) -> Result<(), SandboxError> {
        self.mount_point(canon, canon)?;
        self.ops.push(Op::Bind {
            src: c(canon)?,
            dst: self.at(canon)?,
            flags: RO | locked_flags(canon),
        });
        // A recursive bind carries submounts over with their own flags;
        // each must be made read-only on its own.
        for m in submounts
            .iter()
            .filter(|m| m.starts_with(canon) && m.as_path() != canon)
        {
            self.ops.push(Op::Remount {
                dst: self.at(m)?,
                flags: RO | locked_flags(m),
            });
        }
        self.bound.push(canon.to_path_buf());
        Ok(())
    }

    /// Covers each hidden path under a bound root: directories with an
    /// empty read-only tmpfs, files with the empty stand-in (created
    /// first of all, so it exists before any bind needs it).
    fn hide(&mut self, hidden: &[PathBuf]) -> Result<(), SandboxError> {
        let mut empty_needed = false;
        for h in hidden {
            if !self.bound.iter().any(|r| h.starts_with(r)) {
                continue;
            }
            match h.symlink_metadata() {
                Ok(m) if m.is_dir() => self.ops.push(Op::Tmpfs {
                    dst: self.at(h)?,
                    flags: MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | MsFlags::MS_NODEV
                        | MsFlags::MS_NOEXEC,
                    data: CString::from(c"mode=000,size=4k"),
                }),
                Ok(m) if m.file_type().is_symlink() => {}
                Ok(_) => {
                    empty_needed = true;
                    self.ops.push(Op::Bind {
                        src: self.at(Path::new(EMPTY))?,
                        dst: self.at(h)?,
                        flags: RO,
                    });
                }
                Err(_) => {}
            }
        }
        if empty_needed {
            let empty = Op::Touch(self.at(Path::new(EMPTY))?, 0);
            self.ops.insert(0, empty);
        }
        Ok(())
    }

    /// `/dev` with the few devices a shell needs and the fd links.
    fn dev(&mut self) -> Result<(), SandboxError> {
        self.mkdirs(Path::new("/dev"))?;
        for dev in DEVICES {
            let host = Path::new("/dev").join(dev);
            if !host.exists() {
                continue;
            }
            self.mount_point(&host, &host)?;
            self.ops.push(Op::Bind {
                src: c(&host)?,
                dst: self.at(&host)?,
                flags: MsFlags::MS_REMOUNT
                    | MsFlags::MS_BIND
                    | MsFlags::MS_NOSUID
                    | locked_flags(&host),
            });
        }
        for (target, name) in DEV_LINKS {
            self.ops.push(Op::Symlink {
                target: c(Path::new(target))?,
                at: self.at(&Path::new("/dev").join(name))?,
            });
        }
        Ok(())
    }

    /// A fresh `/proc`, then the workspace read-write at its own path (a
    /// workspace under /tmp gets its mount point in the private tmp,
    /// scratch removed with it, never in the host's /tmp).
    fn proc_and_workspace(&mut self, workspace: &Path) -> Result<(), SandboxError> {
        self.mkdirs(Path::new("/proc"))?;
        self.ops.push(Op::Proc(self.at(Path::new("/proc"))?));
        self.mkdirs(workspace)?;
        self.ops.push(Op::Bind {
            src: c(workspace)?,
            dst: self.at(workspace)?,
            flags: RW | locked_flags(workspace),
        });
        Ok(())
    }
}

/// The user namespace maps: picoclaw's own ids, and nothing else.
fn user_maps() -> Result<UserMaps, SandboxError> {
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let map = |id: u32| {
        CString::new(format!("{id} {id} 1\n")).map_err(|_| SandboxError::Policy("nul".into()))
    };
    Ok(UserMaps {
        uid_map: map(uid)?,
        gid_map: map(gid)?,
    })
}

/// Prepares the whole mount view for one run. `stage` is an empty host
/// directory to mount the new root on (any path works: the mount is
/// private to the child's namespace).
pub(crate) fn plan(
    policy: &Policy,
    workspace: &Path,
    tmp: &Path,
    stage: &Path,
    user: bool,
    net: bool,
) -> Result<NsPlan, SandboxError> {
    plan_with(policy, workspace, &[], tmp, stage, user, net)
}

/// [`plan`] with `extra` read-write directories (canonical) bound at their
/// own paths after the workspace.
pub(crate) fn plan_with(
    policy: &Policy,
    workspace: &Path,
    extra: &[PathBuf],
    tmp: &Path,
    stage: &Path,
    user: bool,
    net: bool,
) -> Result<NsPlan, SandboxError> {
    let hidden = rules::hidden(policy);
    let mut b = Builder {
        stage: stage.to_path_buf(),
        ops: Vec::new(),
        made: BTreeSet::new(),
        bound: Vec::new(),
    };
    b.private_tmp(tmp)?;
    b.roots(policy, &hidden)?;
    b.hide(&hidden)?;
    b.dev()?;
    b.proc_and_workspace(workspace)?;
    for dir in extra {
        b.mkdirs(dir)?;
        b.ops.push(Op::Bind {
            src: c(dir)?,
            dst: b.at(dir)?,
            flags: RW | locked_flags(dir),
        });
    }
    let mut clone_flags = BASE_FLAGS;
    if net {
        clone_flags |= libc::CLONE_NEWNET;
    }
    if user {
        clone_flags |= libc::CLONE_NEWUSER;
    }
    Ok(NsPlan {
        clone_flags,
        join_net: None,
        user: if user { Some(user_maps()?) } else { None },
        stage: c(stage)?,
        ops: b.ops,
    })
}

/// Can this process build the namespace sandbox, and does it need a user
/// namespace for it? `None`: no. Tried once per process with a real clone
/// of a child that exits at once (namespaces can be compiled out, blocked
/// by a container's seccomp profile or by sysctls, so asking is the only
/// reliable check).
pub(crate) fn probe() -> Option<bool> {
    static CACHE: OnceLock<Option<bool>> = OnceLock::new();
    *CACHE.get_or_init(|| {
        let root = nix::unistd::geteuid().is_root();
        let flags = BASE_FLAGS | libc::CLONE_NEWNET;
        if root && trial_clone(flags) {
            return Some(false);
        }
        trial_clone(flags | libc::CLONE_NEWUSER).then_some(true)
    })
}

fn trial_clone(flags: libc::c_int) -> bool {
    // A raw clone, not nix's: nix::sched::clone runs a boxed closure on a
    // caller-allocated stack, while the real spawn (spawn.rs) needs a
    // fork-like clone, and the trial must ask the kernel the same thing.
    // SAFETY: a fork-like clone (no new stack); the child only calls
    // _exit, which is async-signal-safe.
    unsafe {
        let pid = libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if pid == 0 {
            libc::_exit(0);
        }
        if pid < 0 {
            picoclaw_core::debug!(
                "namespace trial clone failed: {}",
                io::Error::last_os_error()
            );
            return false;
        }
        let mut status = 0;
        while libc::waitpid(pid as libc::pid_t, &mut status, 0) < 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

/// The plan as seen from inside, for [`crate::effective`].
pub(crate) fn mounts(plan: &NsPlan) -> Vec<Mount> {
    let stage = plan.stage.to_bytes();
    let path = |p: &CStr| PathBuf::from(std::ffi::OsStr::from_bytes(p.to_bytes()));
    let inside = |p: &CStr| -> PathBuf {
        match p.to_bytes().strip_prefix(stage) {
            Some([]) => PathBuf::from("/"),
            Some(rest) => PathBuf::from(std::ffi::OsStr::from_bytes(rest)),
            None => path(p),
        }
    };
    plan.ops
        .iter()
        .filter_map(|op| match op {
            Op::Mkdir(_) | Op::Touch(..) => None,
            Op::Symlink { target, at } => Some(Mount::Symlink {
                at: inside(at),
                target: path(target),
            }),
            Op::Bind { src, dst, .. } if src.to_bytes().starts_with(stage) => {
                Some(Mount::HiddenFile(inside(dst)))
            }
            Op::Bind { src, dst, flags } => Some(Mount::Bind {
                at: inside(dst),
                from: path(src),
                writable: !flags.contains(MsFlags::MS_RDONLY),
            }),
            Op::Remount { dst, .. } => Some(Mount::ReadOnlySubmount(inside(dst))),
            Op::Tmpfs { dst, .. } => Some(Mount::HiddenDir(inside(dst))),
            Op::Proc(dst) => Some(Mount::Proc(inside(dst))),
        })
        .collect()
}
