//! Landlock: the access rights each rule grants, the pure planner that
//! turns roots and hidden paths into path rules, and the ruleset, built
//! with the Landlock maintainers' `landlock` crate in the parent and
//! applied by the child after fork.
//!
//! Between fork and exec the child may not allocate (the parent is
//! multi-threaded). The crate's `add_rule` and `restrict_self` do not:
//! their errors are plain enums around `io::Error::last_os_error()`, and
//! every path is an fd opened before the fork (or with a constant C
//! string in the child), so the child uses the crate too.
//!
//! Rights are requested exactly at the ABI `decide` picked: under enforce
//! with `CompatLevel::HardRequirement` (an ABI the kernel lacks fails the
//! spawn), under best effort with `CompatLevel::BestEffort`, whose silent
//! downgrade the child detects in the `RestrictionStatus` and reports, so
//! the label never claims more than held.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    Access as _, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    RestrictionStatus, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetError,
    RulesetStatus, Scope, ABI,
};

/// Newest ABI whose features we use (6: scopes). 7 only adds audit flags.
pub(crate) const FULL_ABI: u32 = 6;

/// Newest ABI whose rights this code was reviewed against: a newer kernel
/// is used at this level, so a right added later is never granted to the
/// workspace unreviewed.
const NEWEST_REVIEWED: u32 = 7;

fn abi(abi: u32) -> ABI {
    ABI::from(abi.min(NEWEST_REVIEWED) as i32)
}

/// Every filesystem right the kernel knows at `abi`.
pub(crate) fn handled_fs(v: u32) -> BitFlags<AccessFs> {
    AccessFs::from_all(abi(v))
}

/// The ABI has TCP port rules (4).
pub(crate) fn has_port_rules(v: u32) -> bool {
    !AccessNet::from_all(abi(v)).is_empty()
}

/// The ABI has the signal and abstract-socket scopes (6).
pub(crate) fn has_scopes(v: u32) -> bool {
    !Scope::from_all(abi(v)).is_empty()
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
    pub(crate) fn rights(self, v: u32, is_dir: bool) -> BitFlags<AccessFs> {
        let all = handled_fs(v);
        let raw = match self {
            Access::ReadExec => AccessFs::Execute | AccessFs::ReadFile | AccessFs::ReadDir,
            Access::ReadOnly => AccessFs::ReadFile | AccessFs::ReadDir,
            Access::DevNull => AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate,
            Access::ReadWrite => {
                all & !(AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::IoctlDev)
            }
        };
        // The kernel rejects directory-only rights on a file.
        let masked = raw & all;
        if is_dir {
            masked
        } else {
            masked & AccessFs::from_file(abi(v))
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
/// A raw query: the crate keeps its own on purpose private (so rulesets
/// never depend on it), but labels and `decide` need the number.
pub(crate) fn probe_abi() -> Option<u32> {
    const CREATE_RULESET_VERSION: u32 = 1 << 0;
    // SAFETY: the documented version query takes no attribute pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
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
        let fd = nix::fcntl::open(
            c.as_c_str(),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        let st = nix::sys::stat::fstat(&fd)?;
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

/// Builds the ruleset in the parent from already opened rules, handling
/// exactly what ABI `v` offers. `strict`: enforce, so a right or scope
/// the kernel lacks is an error instead of a downgrade.
pub(crate) fn build_ruleset<'a>(
    v: u32,
    strict: bool,
    rules: impl IntoIterator<Item = &'a OpenedRule>,
    ports: &[u16],
) -> Result<RulesetCreated, RulesetError> {
    let level = if strict {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(handled_fs(v))?;
    if has_port_rules(v) {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi(v)))?;
    }
    if has_scopes(v) {
        ruleset = ruleset.scope(Scope::from_all(abi(v)))?;
    }
    // no_new_privs is the child's own step (it also guards seccomp).
    let mut created = ruleset.create()?.no_new_privs(false);
    for rule in rules {
        let allowed = rule.access.rights(v, rule.is_dir);
        if allowed.is_empty() {
            continue;
        }
        if let Err(e) = (&mut created).add_rule(PathBeneath::new(rule.fd.as_fd(), allowed)) {
            picoclaw_core::debug!("landlock rule for {} skipped: {e}", rule.path.display());
        }
    }
    if has_port_rules(v) {
        for port in ports {
            (&mut created).add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }
    Ok(created)
}

/// Child side: one read-only rule for the fresh `/proc` of the namespace
/// backend. Allocation-free (constant path, crate errors are plain data).
/// Returns 0 or an errno.
pub(crate) fn add_proc_rule(ruleset: &mut RulesetCreated, rights: BitFlags<AccessFs>) -> i32 {
    let fd = match nix::fcntl::open(
        c"/proc",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => return e as i32,
    };
    match ruleset.add_rule(PathBeneath::new(fd, rights)) {
        Ok(_) => 0,
        Err(_) => errno(),
    }
}

/// Child side: applies the ruleset; allocation-free. `Ok(true)`: fully
/// enforced; `Ok(false)`: the best-effort crate dropped something this
/// kernel lacks; `Err(errno)`: not applied.
pub(crate) fn restrict_self(ruleset: RulesetCreated) -> Result<bool, i32> {
    match ruleset.restrict_self() {
        Ok(RestrictionStatus {
            ruleset: RulesetStatus::FullyEnforced,
            ..
        }) => Ok(true),
        Ok(RestrictionStatus {
            ruleset: RulesetStatus::PartiallyEnforced,
            ..
        }) => Ok(false),
        Ok(_) => Err(libc::EOPNOTSUPP),
        Err(_) => Err(errno()),
    }
}

/// The errno of the syscall that just failed (EIO when none is set).
pub(crate) fn errno() -> i32 {
    match nix::errno::Errno::last_raw() {
        0 => libc::EIO,
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The uapi bit numbers (include/uapi/linux/landlock.h), so moving to
    /// the crate changed no right.
    #[test]
    fn rights_are_the_kernel_bits_per_abi_and_file_type() {
        let (exec, write, read, read_dir) = (1u64, 1 << 1, 1 << 2, 1 << 3);
        let (make_char, make_block, refer, truncate) = (1 << 6, 1 << 11, 1 << 13, 1 << 14);
        assert_eq!(
            Access::ReadExec.rights(1, true).bits(),
            exec | read | read_dir
        );
        assert_eq!(Access::ReadExec.rights(7, false).bits(), exec | read);
        let dir_rw = ((1 << 13) - 1) | refer | truncate;
        assert_eq!(
            Access::ReadWrite.rights(7, true).bits(),
            dir_rw & !(make_char | make_block)
        );
        assert_eq!(
            Access::ReadWrite.rights(1, true).bits(),
            ((1 << 13) - 1) & !(make_char | make_block)
        );
        assert_eq!(
            Access::ReadWrite.rights(7, false).bits(),
            exec | write | read | truncate
        );
        // No truncate right before ABI 3.
        assert_eq!(Access::DevNull.rights(2, false).bits(), write | read);
        assert_eq!(handled_fs(7).bits(), dir_rw | (1 << 15));
    }

    #[test]
    fn a_newer_kernel_is_used_at_the_newest_reviewed_abi() {
        assert_eq!(handled_fs(10), handled_fs(NEWEST_REVIEWED));
        assert!(has_port_rules(4) && !has_port_rules(3));
        assert!(has_scopes(6) && !has_scopes(5));
    }
}
