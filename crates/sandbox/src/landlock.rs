//! Landlock through raw syscalls: access masks per ABI, the pure planner
//! that turns roots and hidden paths into path rules, ruleset creation in
//! the parent and the one-syscall restrict step for the child.
//!
//! Raw syscalls rather than the `landlock` crate: we need the exact masks
//! per ABI (the crate's best-effort compatibility silently drops rights),
//! the ruleset fd must be built in the parent and applied after fork, and
//! the whole thing is ~150 lines instead of another dependency.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub(crate) const EXECUTE: u64 = 1 << 0;
pub(crate) const WRITE_FILE: u64 = 1 << 1;
pub(crate) const READ_FILE: u64 = 1 << 2;
pub(crate) const READ_DIR: u64 = 1 << 3;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_BLOCK: u64 = 1 << 11;
const REFER: u64 = 1 << 13;
pub(crate) const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
/// Rights that make sense on a non-directory; the kernel rejects the others.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

const CREATE_RULESET_VERSION: u32 = 1 << 0;
const RULE_PATH_BENEATH: u32 = 1;
const RULE_NET_PORT: u32 = 2;

/// Newest ABI whose features we use (6: scopes). 7 only adds audit flags.
pub(crate) const FULL_ABI: u32 = 6;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[repr(C)]
struct NetPortAttr {
    allowed_access: u64,
    port: u64,
}

/// Every filesystem right the kernel knows at `abi`.
pub(crate) fn handled_fs(abi: u32) -> u64 {
    let mut all = (1 << 13) - 1;
    if abi >= 2 {
        all |= REFER;
    }
    if abi >= 3 {
        all |= TRUNCATE;
    }
    if abi >= 5 {
        all |= IOCTL_DEV;
    }
    all
}

pub(crate) fn handled_net(abi: u32) -> u64 {
    if abi >= 4 {
        NET_BIND_TCP | NET_CONNECT_TCP
    } else {
        0
    }
}

pub(crate) fn scopes(abi: u32) -> u64 {
    if abi >= 6 {
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    } else {
        0
    }
}

/// What a path rule grants, before masking to the ABI and file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadExec,
    ReadOnly,
    /// `/dev/null`: read, write, and `O_TRUNC` for `> /dev/null`.
    DevNull,
    /// Workspace and tmp: everything except creating device nodes and
    /// device ioctls (a root tool could otherwise mknod the disk).
    ReadWrite,
}

impl Access {
    pub(crate) fn bits(self, abi: u32, is_dir: bool) -> u64 {
        let raw = match self {
            Access::ReadExec => EXECUTE | READ_FILE | READ_DIR,
            Access::ReadOnly => READ_FILE | READ_DIR,
            Access::DevNull => READ_FILE | WRITE_FILE | TRUNCATE,
            Access::ReadWrite => handled_fs(abi) & !(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV),
        };
        let masked = raw & handled_fs(abi);
        if is_dir {
            masked
        } else {
            masked & FILE_RIGHTS
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Access::ReadExec => "read+exec",
            Access::ReadOnly => "read",
            Access::DevNull => "read+write",
            Access::ReadWrite => "read+write+exec+create",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FsRule {
    pub path: PathBuf,
    pub access: Access,
}

/// The two questions the planner asks the filesystem; a fake in tests.
pub(crate) trait FsView {
    fn exists(&self, path: &Path) -> bool;
    /// Entries of a directory as full paths; empty when not a directory.
    fn list(&self, dir: &Path) -> Vec<PathBuf>;
}

pub(crate) struct RealFs;

impl FsView for RealFs {
    fn exists(&self, path: &Path) -> bool {
        path.symlink_metadata().is_ok()
    }

    fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        out.sort();
        out
    }
}

/// Turns granted roots into path rules that never cover a hidden path.
///
/// Landlock only allows, so a hidden file under an allowed root (the config
/// under `/etc`) is hidden by granting the root's other entries one by one,
/// recursing only along directories that contain something hidden. All
/// paths must already be canonical (see [`canonical_or_lexical`]), so a
/// symlink cannot smuggle a hidden target in under another name.
pub(crate) fn plan_fs(
    roots: &[(PathBuf, Access)],
    hidden: &[PathBuf],
    fs: &dyn FsView,
) -> Vec<FsRule> {
    let mut out = Vec::new();
    for (root, access) in roots {
        if fs.exists(root) {
            plan_one(root, *access, hidden, fs, &mut out);
        }
    }
    out
}

fn plan_one(
    path: &Path,
    access: Access,
    hidden: &[PathBuf],
    fs: &dyn FsView,
    out: &mut Vec<FsRule>,
) {
    if hidden.iter().any(|h| path.starts_with(h)) {
        return;
    }
    if hidden.iter().any(|h| h.starts_with(path)) {
        for entry in fs.list(path) {
            plan_one(&entry, access, hidden, fs, out);
        }
        return;
    }
    out.push(FsRule {
        path: path.to_path_buf(),
        access,
    });
}

/// The canonical form of `path` if it exists, else its canonical parent
/// joined with the file name (a hidden file that does not exist yet must
/// still be carved out of its directory), else `path` unchanged.
pub(crate) fn canonical_or_lexical(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => match parent.canonicalize() {
            Ok(p) => p.join(name),
            Err(_) => path.to_path_buf(),
        },
        _ => path.to_path_buf(),
    }
}

/// Asks the kernel for its Landlock ABI; `None` when absent or disabled.
pub(crate) fn probe_abi() -> Option<u32> {
    // SAFETY: the documented version query takes no attribute pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(rc).ok().filter(|abi| *abi >= 1)
}

/// A path rule whose target is already open (`O_PATH`), so building a
/// ruleset is one `landlock_add_rule` per rule. Held across runs by the
/// plan cache; the fd pins the inode the rule was planned for.
#[derive(Debug)]
pub(crate) struct OpenedRule {
    pub path: PathBuf,
    pub access: Access,
    pub is_dir: bool,
    pub fd: OwnedFd,
}

impl OpenedRule {
    pub(crate) fn open(rule: &FsRule) -> io::Result<OpenedRule> {
        let c = CString::new(rule.path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: c is a valid C string; O_PATH opens without read permission.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: st is plain data filled by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and out pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OpenedRule {
            path: rule.path.clone(),
            access: rule.access,
            is_dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
            fd,
        })
    }
}

/// Opens every rule, skipping (with a debug line) paths that vanished or
/// cannot be opened: a missing rule only denies more.
pub(crate) fn open_rules(rules: &[FsRule]) -> Vec<OpenedRule> {
    rules
        .iter()
        .filter_map(|r| match OpenedRule::open(r) {
            Ok(o) => Some(o),
            Err(e) => {
                picoclaw_core::debug!("landlock rule for {} skipped: {e}", r.path.display());
                None
            }
        })
        .collect()
}

/// Builds the ruleset in the parent from already opened rules.
pub(crate) fn build_ruleset<'a>(
    abi: u32,
    rules: impl IntoIterator<Item = &'a OpenedRule>,
    ports: &[u16],
) -> io::Result<OwnedFd> {
    let attr = RulesetAttr {
        handled_access_fs: handled_fs(abi),
        handled_access_net: handled_net(abi),
        scoped: scopes(abi),
    };
    // SAFETY: attr is a valid ruleset_attr of the size we pass; the kernel
    // accepts a larger struct from an older ABI when the extra fields are 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    let fd = RawFd::try_from(rc).map_err(|_| io::Error::other("bad ruleset fd"))?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd (O_CLOEXEC by default).
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd) };
    for rule in rules {
        let allowed = rule.access.bits(abi, rule.is_dir);
        if allowed == 0 {
            continue;
        }
        let e = add_path_rule(ruleset.as_raw_fd(), allowed, rule.fd.as_raw_fd());
        if e != 0 {
            picoclaw_core::debug!(
                "landlock rule for {} skipped: {}",
                rule.path.display(),
                io::Error::from_raw_os_error(e)
            );
        }
    }
    if handled_net(abi) != 0 {
        for port in ports {
            let attr = NetPortAttr {
                allowed_access: NET_CONNECT_TCP,
                port: u64::from(*port),
            };
            // SAFETY: valid net_port_attr for RULE_NET_PORT.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    ruleset.as_raw_fd(),
                    RULE_NET_PORT,
                    &attr as *const NetPortAttr,
                    0u32,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(ruleset)
}

/// One path rule; async-signal-safe (the namespace child adds its fresh
/// `/proc` this way). Returns 0 or an errno.
pub(crate) fn add_path_rule(ruleset: RawFd, allowed: u64, target: RawFd) -> i32 {
    let attr = PathBeneathAttr {
        allowed_access: allowed,
        parent_fd: target,
    };
    // SAFETY: valid path_beneath_attr for RULE_PATH_BENEATH.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    };
    if rc == 0 {
        0
    } else {
        errno()
    }
}

/// Child side: one syscall, async-signal-safe. Returns 0 or an errno.
pub(crate) fn restrict_self(ruleset_fd: RawFd) -> i32 {
    // SAFETY: plain syscall on an fd inherited from the parent.
    let rc = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset_fd, 0u32) };
    if rc == 0 {
        0
    } else {
        errno()
    }
}

pub(crate) fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}
