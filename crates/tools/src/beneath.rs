//! Confining every file access to the workspace.
//!
//! The workspace is opened once per call as a directory fd, and every path
//! is opened relative to it with `openat2(2)` and
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: the kernel refuses, atomically
//! with the open, any resolution that leaves the workspace — `..` above it,
//! absolute paths, absolute symlinks (even ones pointing back inside) and
//! relative symlinks that climb out, anywhere in the path. New files and
//! directories are only ever created as one plain name relative to a
//! directory fd opened that way (`O_EXCL`/`mkdirat`, which never follow a
//! final symlink), and atomic writes rename within that same fd.
//!
//! Kernels before 5.6 (or seccomp profiles that hide `openat2`) get a
//! canonicalize-and-check fallback. It is racy: a symlink swapped in between
//! the check and the open wins. There the kernel sandbox (Landlock, from the
//! sandbox issue) is the second wall.
//!
//! Hard links are out of scope for path checks: a hard link inside the
//! workspace to an outside file is an ordinary file here, and `read_file`
//! reads it. Writes are safe anyway because they replace the directory
//! entry by rename and never write into an existing inode.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use crate::args::show;
use crate::sys::{self, Meta};

/// Longest path accepted from the model, as Linux's PATH_MAX.
const PATH_MAX: usize = 4096;

const RESOLVE: u64 = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;

/// Turns a model-supplied path into one relative to the workspace, or says
/// why not. Purely lexical: it rejects the obvious escapes with a clear
/// message before the kernel sees the path; the check in [`Root`] is the one
/// that counts, since a symlink can lead anywhere. Absolute paths are
/// accepted when they start with the workspace path.
pub(crate) fn relative(workspace: &Path, raw: &str) -> Result<PathBuf, String> {
    if raw.contains('\0') {
        return Err("path contains a NUL byte".into());
    }
    if raw.is_empty() {
        return Err("path is empty".into());
    }
    if raw.len() > PATH_MAX {
        return Err(format!(
            "path is too long ({} bytes; the limit is {PATH_MAX})",
            raw.len()
        ));
    }
    let path = Path::new(raw);
    let rel = if path.is_absolute() {
        path.strip_prefix(workspace).map_err(|_| {
            format!(
                "path is outside the workspace: {} (paths are relative to the workspace)",
                show(raw)
            )
        })?
    } else {
        path
    };
    let mut depth = 0usize;
    for c in rel.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!("path escapes the workspace: {}", show(raw)))
            }
        }
    }
    Ok(if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.to_path_buf()
    })
}

/// An `io::Error` from a path operation, as a sentence for the model.
pub(crate) fn describe(err: &io::Error, raw: &str) -> String {
    let p = show(raw);
    match err.raw_os_error() {
        Some(libc::EXDEV) => format!(
            "path escapes the workspace: {p} (through '..' or a symlink; symlinks with absolute targets are refused too)"
        ),
        Some(libc::ELOOP) => format!("too many symlinks, or a symlink where none is allowed: {p}"),
        Some(libc::ENOENT) => format!("no such file or directory: {p}"),
        Some(libc::ENOTDIR) => format!("a component of the path is not a directory: {p}"),
        Some(libc::EISDIR) => format!("is a directory: {p}"),
        Some(libc::EACCES | libc::EPERM) => format!("permission denied: {p}"),
        Some(libc::ENAMETOOLONG) => format!("a file name in the path is too long: {p}"),
        Some(libc::ENOSPC | libc::EDQUOT) => "no space left on the device".into(),
        Some(libc::EROFS) => "the workspace is on a read-only file system".into(),
        _ => format!("{p}: {err}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parents {
    /// Create missing parent directories (inside the workspace).
    Create,
    MustExist,
}

/// A directory fd plus one name in it: where a write lands.
pub(crate) struct Entry {
    pub dir: OwnedFd,
    pub name: CString,
    /// What is there now, not following a symlink.
    pub existing: Option<Meta>,
}

/// The workspace, opened as a directory fd that every lookup starts from.
pub(crate) struct Root {
    fd: OwnedFd,
    /// Set only when `openat2` is unavailable: the canonical workspace path
    /// the racy fallback checks against.
    fallback: Option<PathBuf>,
}

impl Root {
    pub(crate) fn open(workspace: &Path) -> io::Result<Root> {
        let fd = open_workspace(workspace)?;
        let fallback = if openat2_available(&fd) {
            None
        } else {
            Some(std::fs::canonicalize(workspace)?)
        };
        Ok(Root { fd, fallback })
    }

    /// The pre-5.6 resolver, forced, so tests can cover it on any kernel.
    #[cfg(test)]
    pub(crate) fn open_with_fallback(workspace: &Path) -> io::Result<Root> {
        let fd = open_workspace(workspace)?;
        let fallback = Some(std::fs::canonicalize(workspace)?);
        Ok(Root { fd, fallback })
    }

    /// Opens an existing path (symlinks are followed while they stay
    /// inside). Never creates anything.
    pub(crate) fn open_at(&self, rel: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
        let flags = flags & !(libc::O_CREAT | libc::O_TRUNC);
        let Some(canonical_root) = &self.fallback else {
            let path = sys::cstring(rel.as_os_str())?;
            return openat2_retrying(&self.fd, &path, flags);
        };
        // Racy fallback: resolve in user space, check, then open the result
        // with O_NOFOLLOW so at least the last component cannot be swapped.
        let resolved = std::fs::canonicalize(canonical_root.join(rel))?;
        if !resolved.starts_with(canonical_root) {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let path = sys::cstring(resolved.as_os_str())?;
        sys::openat(libc::AT_FDCWD, &path, flags | libc::O_NOFOLLOW, 0)
    }

    /// Opens the directory `rel` for reading, creating it and any missing
    /// parents first. Each new directory is one `mkdirat` relative to a
    /// parent that was itself opened beneath the workspace.
    pub(crate) fn ensure_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.ensure_dir_depth(rel, 0)
    }

    fn ensure_dir_depth(&self, rel: &Path, depth: usize) -> io::Result<OwnedFd> {
        const MAX_NEW_LEVELS: usize = 64;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        let not_found = match self.open_at(rel, flags) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => e,
            other => return other,
        };
        // A path ending in `..` names no directory we could create.
        let Some(name) = rel.file_name().filter(|_| depth < MAX_NEW_LEVELS) else {
            return Err(not_found);
        };
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let parent_fd = self.ensure_dir_depth(parent, depth + 1)?;
        let name = sys::cstring(name)?;
        match sys::mkdirat(&parent_fd, &name, 0o755) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
            _ => {}
        }
        // O_NOFOLLOW: if someone raced a symlink into this name, fail.
        sys::openat(parent_fd.as_raw_fd(), &name, flags | libc::O_NOFOLLOW, 0)
    }

    /// The directory holding `rel` and the final name, looked at without
    /// following it. `rel` must end in a plain file name.
    pub(crate) fn entry(&self, rel: &Path, parents: Parents) -> io::Result<Entry> {
        let name = match rel.components().next_back() {
            Some(Component::Normal(name)) => name,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the path must end in a file name",
                ))
            }
        };
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = match parents {
            Parents::Create => self.ensure_dir(parent)?,
            Parents::MustExist => self.open_at(parent, libc::O_RDONLY | libc::O_DIRECTORY)?,
        };
        let name = sys::cstring(name)?;
        let existing = sys::lstat_at(&dir, &name)?;
        Ok(Entry {
            dir,
            name,
            existing,
        })
    }
}

fn open_workspace(workspace: &Path) -> io::Result<OwnedFd> {
    let path = sys::cstring(workspace.as_os_str())?;
    sys::openat(libc::AT_FDCWD, &path, libc::O_PATH | libc::O_DIRECTORY, 0)
}

fn openat2_retrying(root: &OwnedFd, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // The kernel answers EAGAIN when a concurrent rename or mount means it
    // cannot prove a `..` stayed beneath; the man page says to retry.
    let mut tries = 0;
    loop {
        match sys::openat2(root, path, flags, 0, RESOLVE) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < 8 => tries += 1,
            other => return other,
        }
    }
}

/// Whether the kernel has `openat2`, probed once per process on the
/// workspace fd. EPERM counts as "no": container seccomp profiles older than
/// the syscall deny it that way, and opening "." beneath cannot be refused
/// for any other reason.
fn openat2_available(root: &OwnedFd) -> bool {
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Ordering::Relaxed) {
        YES => return true,
        NO => return false,
        _ => {}
    }
    let probe = sys::openat2(root, c".", libc::O_PATH, 0, RESOLVE);
    let available =
        !matches!(probe, Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)));
    if !available {
        picoclaw_core::warn!(
            "openat2 is unavailable (kernel < 5.6?); file tools fall back to a racy canonicalize-and-check confinement"
        );
    }
    STATE.store(if available { YES } else { NO }, Ordering::Relaxed);
    available
}

/// Replaces `name` in `dir` with `data` atomically: a temp file in the same
/// directory, fsync, then rename over the old name. Readers see the old or
/// the new content, never a mix, and a crash leaves at most a stray temp
/// file. The rename replaces the directory entry, so a hard link or a
/// symlink at `name` is replaced rather than written through.
pub(crate) fn write_atomic(
    dir: &OwnedFd,
    name: &CStr,
    data: &[u8],
    perm: Option<u32>,
) -> io::Result<()> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut attempt = 0;
    let (tmp, fd) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!(".picoclaw-write-{}-{n}.tmp", std::process::id());
        let tmp = sys::cstring(OsStr::new(&tmp))?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        match sys::openat(dir.as_raw_fd(), &tmp, flags, 0o644) {
            Ok(fd) => break (tmp, fd),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && attempt < 16 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let mut file = File::from(fd);
    let written = (|| {
        if let Some(perm) = perm {
            // Keep an edited file's permissions (umask would not).
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(perm))?;
        }
        file.write_all(data)?;
        file.sync_all()?;
        sys::renameat(dir, &tmp, name)
    })();
    if let Err(e) = written {
        let _ = sys::unlinkat(dir, &tmp);
        return Err(e);
    }
    // Make the rename itself durable; failure here loses nothing visible.
    // SAFETY: fsync on a valid fd has no memory effects.
    unsafe { libc::fsync(dir.as_raw_fd()) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::AtomicUsize;

    /// `<tmp>/ws` (the workspace) and `<tmp>/outside`, removed on drop.
    struct Dirs {
        base: PathBuf,
        ws: PathBuf,
        outside: PathBuf,
    }

    impl Dirs {
        fn new() -> Dirs {
            static N: AtomicUsize = AtomicUsize::new(0);
            let base = std::env::temp_dir().join(format!(
                "picoclaw-beneath-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let ws = base.join("ws");
            let outside = base.join("outside");
            std::fs::create_dir_all(&ws).unwrap();
            std::fs::create_dir_all(&outside).unwrap();
            let ws = std::fs::canonicalize(ws).unwrap();
            let outside = std::fs::canonicalize(outside).unwrap();
            Dirs { base, ws, outside }
        }
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    fn both_resolvers(test: impl Fn(&Dirs, Root)) {
        let d = Dirs::new();
        test(&d, Root::open(&d.ws).unwrap());
        let d = Dirs::new();
        test(&d, Root::open_with_fallback(&d.ws).unwrap());
    }

    fn errno(r: io::Result<OwnedFd>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    const READ: libc::c_int = libc::O_RDONLY;

    #[test]
    fn lexical_check_refuses_climbing_above_the_workspace() {
        let ws = Path::new("/srv/ws");
        let refused = |raw: &str| relative(ws, raw).unwrap_err();
        assert_eq!(refused("../x"), "path escapes the workspace: ../x");
        assert_eq!(
            refused("a/../../x"),
            "path escapes the workspace: a/../../x"
        );
        assert_eq!(
            refused("/etc/passwd"),
            "path is outside the workspace: /etc/passwd (paths are relative to the workspace)"
        );
        assert_eq!(
            refused("/srv/wsx/a"),
            "path is outside the workspace: /srv/wsx/a (paths are relative to the workspace)"
        );
        assert_eq!(refused("a\0b"), "path contains a NUL byte");
        assert_eq!(refused(""), "path is empty");
        assert_eq!(relative(ws, "/srv/ws/a/b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(relative(ws, "/srv/ws").unwrap(), PathBuf::from("."));
        assert_eq!(relative(ws, "a/../b").unwrap(), PathBuf::from("a/../b"));
    }

    #[test]
    fn kernel_resolver_is_used_and_refuses_even_absolute_links_back_inside() {
        let d = Dirs::new();
        let root = Root::open(&d.ws).unwrap();
        assert!(
            root.fallback.is_none(),
            "openat2 missing: kernel older than 5.6?"
        );
        std::fs::write(d.ws.join("f"), "x").unwrap();
        symlink(d.ws.join("f"), d.ws.join("abs_inside")).unwrap();
        assert_eq!(
            errno(root.open_at(Path::new("abs_inside"), READ)),
            Some(libc::EXDEV)
        );
    }

    #[test]
    fn parent_dir_escape_is_refused_by_the_resolver_itself() {
        both_resolvers(|d, root| {
            std::fs::write(d.outside.join("secret"), "s").unwrap();
            assert_eq!(
                errno(root.open_at(Path::new("../outside/secret"), READ)),
                Some(libc::EXDEV)
            );
        });
    }

    #[test]
    fn symlink_out_of_the_workspace_is_refused_anywhere_in_the_path() {
        both_resolvers(|d, root| {
            std::fs::write(d.outside.join("secret"), "s").unwrap();
            symlink(&d.outside, d.ws.join("abs")).unwrap();
            symlink("../outside", d.ws.join("rel")).unwrap();
            symlink(d.outside.join("secret"), d.ws.join("file_link")).unwrap();
            for p in [
                "abs/secret",
                "rel/secret",
                "file_link",
                "abs",
                "rel/../ws/../outside/secret",
            ] {
                assert_eq!(
                    errno(root.open_at(Path::new(p), READ)),
                    Some(libc::EXDEV),
                    "{p}"
                );
            }
        });
    }

    #[test]
    fn relative_symlinks_that_stay_inside_are_followed() {
        both_resolvers(|d, root| {
            std::fs::create_dir(d.ws.join("real")).unwrap();
            std::fs::write(d.ws.join("real/f"), "inside").unwrap();
            symlink("real", d.ws.join("alias")).unwrap();
            let fd = root.open_at(Path::new("alias/f"), READ).unwrap();
            assert_eq!(std::io::read_to_string(File::from(fd)).unwrap(), "inside");
        });
    }

    #[test]
    fn ensure_dir_creates_missing_parents_inside_only() {
        both_resolvers(|d, root| {
            root.ensure_dir(Path::new("a/b/c")).unwrap();
            assert!(d.ws.join("a/b/c").is_dir());

            symlink(&d.outside, d.ws.join("out")).unwrap();
            let err = root.ensure_dir(Path::new("out/new/deeper")).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
            assert!(!d.outside.join("new").exists());

            // A dangling symlink where a directory should be created is not
            // turned into a directory at its target.
            symlink("../outside/made", d.ws.join("dangling")).unwrap();
            assert!(root.ensure_dir(Path::new("dangling/x")).is_err());
            assert!(!d.outside.join("made").exists());
        });
    }

    #[test]
    fn atomic_write_replaces_the_entry_and_leaves_no_temp_file() {
        both_resolvers(|d, root| {
            std::fs::write(d.outside.join("target"), "outside").unwrap();
            std::fs::hard_link(d.outside.join("target"), d.ws.join("hard")).unwrap();
            let entry = root.entry(Path::new("hard"), Parents::MustExist).unwrap();
            write_atomic(&entry.dir, &entry.name, b"new", Some(0o600)).unwrap();
            assert_eq!(std::fs::read_to_string(d.ws.join("hard")).unwrap(), "new");
            // The hard-linked outside inode is untouched: rename replaced
            // the directory entry instead of writing into it.
            assert_eq!(
                std::fs::read_to_string(d.outside.join("target")).unwrap(),
                "outside"
            );
            let names: Vec<_> = std::fs::read_dir(&d.ws)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from("hard")]);
        });
    }
}
