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
        flags: libc::c_ulong,
    },
    /// Remount an existing (sub)mount with `flags`.
    Remount {
        dst: CString,
        flags: libc::c_ulong,
    },
    Tmpfs {
        dst: CString,
        flags: libc::c_ulong,
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
fn locked_flags(p: &Path) -> libc::c_ulong {
    let Ok(cp) = CString::new(p.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: plain data filled by statvfs.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    if unsafe { libc::statvfs(cp.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    // libc defines ST_RELATIME for glibc only; the kernel's statfs flag
    // is 0x1000 on every architecture, musl included.
    const ST_RELATIME: libc::c_ulong = 0x1000;
    let mut out = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (ST_RELATIME, libc::MS_RELATIME),
        (libc::ST_RDONLY, libc::MS_RDONLY),
    ] {
        if st.f_flag & st_flag != 0 {
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

struct Builder {
    stage: PathBuf,
    ops: Vec<Op>,
    made: BTreeSet<PathBuf>,
}

impl Builder {
    /// `mkdir -p` of `p` (a path inside the sandbox) under the stage.
    fn mkdirs(&mut self, p: &Path) -> Result<(), SandboxError> {
        let mut cur = PathBuf::from("/");
        for comp in p.components().skip(1) {
            cur.push(comp);
            if self.made.insert(cur.clone()) {
                self.ops.push(Op::Mkdir(c(&under(&self.stage, &cur))?));
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
                self.ops.push(Op::Touch(c(&under(&self.stage, at))?, 0o644));
            }
            Ok(())
        }
    }
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
    let hidden = rules::hidden(policy);
    let mut b = Builder {
        stage: stage.to_path_buf(),
        ops: Vec::new(),
        made: BTreeSet::new(),
    };
    let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
    let rw = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NOSUID | libc::MS_NODEV;
    // The private /tmp first: roots or a workspace below /tmp (tests, odd
    // setups) then get their mount points in it instead of being hidden
    // by it.
    b.mkdirs(Path::new("/tmp"))?;
    b.ops.push(Op::Bind {
        src: c(tmp)?,
        dst: c(&under(stage, Path::new("/tmp")))?,
        flags: rw | locked_flags(tmp),
    });
    let submounts = mount_points();
    let mut bound: Vec<PathBuf> = Vec::new();
    for root in &policy.read_only_paths {
        let Ok(meta) = root.symlink_metadata() else {
            continue;
        };
        let Ok(canon) = root.canonicalize() else {
            continue;
        };
        if hidden.iter().any(|h| canon.starts_with(h)) {
            continue;
        }
        if meta.file_type().is_symlink() {
            // `/bin -> usr/bin`: the same link inside, pointing at the
            // bound target (or nowhere, if the target is not a root).
            if let (Ok(target), Some(parent)) = (std::fs::read_link(root), root.parent()) {
                if b.made.insert(root.clone()) {
                    b.mkdirs(parent)?;
                    b.ops.push(Op::Symlink {
                        target: c(&target)?,
                        at: c(&under(stage, root))?,
                    });
                }
            }
            continue;
        }
        if bound.iter().any(|r| canon.starts_with(r)) {
            continue;
        }
        b.mount_point(&canon, &canon)?;
        b.ops.push(Op::Bind {
            src: c(&canon)?,
            dst: c(&under(stage, &canon))?,
            flags: ro | locked_flags(&canon),
        });
        // A recursive bind carries submounts over with their own flags;
        // each must be made read-only on its own.
        for m in submounts
            .iter()
            .filter(|m| m.starts_with(&canon) && *m != &canon)
        {
            b.ops.push(Op::Remount {
                dst: c(&under(stage, m))?,
                flags: ro | locked_flags(m),
            });
        }
        bound.push(canon);
    }
    let mut empty_needed = false;
    for h in &hidden {
        if !bound.iter().any(|r| h.starts_with(r)) {
            continue;
        }
        match h.symlink_metadata() {
            Ok(m) if m.is_dir() => b.ops.push(Op::Tmpfs {
                dst: c(&under(stage, h))?,
                flags: libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                data: CString::from(c"mode=000,size=4k"),
            }),
            Ok(m) if m.file_type().is_symlink() => {}
            Ok(_) => {
                empty_needed = true;
                b.ops.push(Op::Bind {
                    src: c(&under(stage, Path::new(EMPTY)))?,
                    dst: c(&under(stage, h))?,
                    flags: ro,
                });
            }
            Err(_) => {}
        }
    }
    if empty_needed {
        b.ops
            .insert(0, Op::Touch(c(&under(stage, Path::new(EMPTY)))?, 0));
    }
    b.mkdirs(Path::new("/dev"))?;
    for dev in DEVICES {
        let host = Path::new("/dev").join(dev);
        if !host.exists() {
            continue;
        }
        b.mount_point(&host, &host)?;
        b.ops.push(Op::Bind {
            src: c(&host)?,
            dst: c(&under(stage, &host))?,
            flags: libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NOSUID | locked_flags(&host),
        });
    }
    for (target, name) in DEV_LINKS {
        b.ops.push(Op::Symlink {
            target: CString::new(*target).map_err(|_| SandboxError::Policy("nul".into()))?,
            at: c(&under(stage, &Path::new("/dev").join(name)))?,
        });
    }
    b.mkdirs(Path::new("/proc"))?;
    b.ops.push(Op::Proc(c(&under(stage, Path::new("/proc")))?));
    // A workspace under /tmp gets its mount point in the private tmp
    // (scratch, removed with it), never in the host's /tmp.
    b.mkdirs(workspace)?;
    b.ops.push(Op::Bind {
        src: c(workspace)?,
        dst: c(&under(stage, workspace))?,
        flags: rw | locked_flags(workspace),
    });
    let user = if user {
        // SAFETY: getters without failure modes.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Some(UserMaps {
            uid_map: CString::new(format!("{uid} {uid} 1\n"))
                .map_err(|_| SandboxError::Policy("nul".into()))?,
            gid_map: CString::new(format!("{gid} {gid} 1\n"))
                .map_err(|_| SandboxError::Policy("nul".into()))?,
        })
    } else {
        None
    };
    let mut clone_flags = BASE_FLAGS;
    if net {
        clone_flags |= libc::CLONE_NEWNET;
    }
    if user.is_some() {
        clone_flags |= libc::CLONE_NEWUSER;
    }
    Ok(NsPlan {
        clone_flags,
        user,
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
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let flags = BASE_FLAGS | libc::CLONE_NEWNET;
        if root && trial_clone(flags) {
            return Some(false);
        }
        trial_clone(flags | libc::CLONE_NEWUSER).then_some(true)
    })
}

fn trial_clone(flags: libc::c_int) -> bool {
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

/// Text for `explain`: the mount view, one line per step.
pub(crate) fn describe(plan: &NsPlan) -> Vec<String> {
    let stage = plan.stage.to_bytes().len();
    let inside = |p: &CStr| -> String {
        let s = String::from_utf8_lossy(p.to_bytes());
        let t = s.get(stage..).unwrap_or("/");
        if t.is_empty() {
            "/".to_string()
        } else {
            t.to_string()
        }
    };
    let mut out = Vec::new();
    for op in &plan.ops {
        let line = match op {
            Op::Mkdir(_) | Op::Touch(..) => continue,
            Op::Symlink { target, at } => {
                format!("symlink   {} -> {}", inside(at), target.to_string_lossy())
            }
            Op::Bind { src, dst, flags } => format!(
                "{}  {}{}",
                if flags & libc::MS_RDONLY != 0 {
                    "bind ro "
                } else {
                    "bind rw "
                },
                inside(dst),
                if src.to_bytes().starts_with(plan.stage.to_bytes()) {
                    " (hidden: empty file)".to_string()
                } else if inside(dst) != src.to_string_lossy() {
                    format!(" <- {}", src.to_string_lossy())
                } else {
                    String::new()
                }
            ),
            Op::Remount { dst, .. } => format!("remount ro {} (submount)", inside(dst)),
            Op::Tmpfs { dst, .. } => format!("tmpfs     {} (hidden: empty dir)", inside(dst)),
            Op::Proc(dst) => format!("proc      {} (own PID namespace)", inside(dst)),
        };
        out.push(line);
    }
    out
}
