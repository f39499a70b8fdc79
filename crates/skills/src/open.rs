//! Reading skill files without following symlinks.
//!
//! The workspace's `skills/` is writable by the model's tools, and picoclaw
//! (possibly root) reads it: a `SKILL.md` planted as a symlink to
//! `/etc/shadow` must not end up in the prompt. Every step below the
//! configured directory is an `openat` relative to the previous step's fd
//! with `O_NOFOLLOW`, so a symlink swapped in anywhere is refused
//! race-free; the file must be a regular file no larger than the cap.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn openat(dir: Option<&OwnedFd>, name: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(name.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let flags = flags | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: a NUL-terminated path and a live dir fd (or AT_FDCWD).
    let fd = unsafe { libc::openat(at, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The directory `name` inside `parent`, refused when it is a symlink.
/// A symlink there fails with ELOOP (the kernel says ENOTDIR for
/// `O_DIRECTORY | O_NOFOLLOW`; the link is told apart from a file here).
pub(crate) fn dir(parent: &OwnedFd, name: &Path) -> io::Result<OwnedFd> {
    openat(Some(parent), name, libc::O_RDONLY | libc::O_DIRECTORY).map_err(|e| {
        let link = e.raw_os_error() == Some(libc::ENOTDIR)
            && openat(Some(parent), name, libc::O_PATH)
                .and_then(|fd| File::from(fd).metadata())
                .is_ok_and(|m| m.file_type().is_symlink());
        if link {
            io::Error::from_raw_os_error(libc::ELOOP)
        } else {
            e
        }
    })
}

/// The configured root directory; a symlinked root is followed (the
/// owner wrote its path).
pub(crate) fn root(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Names in a directory opened with [`dir`] or [`root`], sorted.
pub(crate) fn list(dir: &OwnedFd) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// `(size, mtime seconds, mtime nanoseconds)` of `name` in `dir`, without
/// following a symlink; `None` when missing.
pub(crate) fn stamp(dir: &OwnedFd, name: &str) -> Option<(u64, i64, i64)> {
    let meta = File::from(openat(Some(dir), Path::new(name), libc::O_PATH).ok()?)
        .metadata()
        .ok()?;
    Some((meta.size(), meta.mtime(), meta.mtime_nsec()))
}

/// The whole file `name` in `dir`, refused when it is not a regular file
/// or larger than `max` bytes.
pub(crate) fn read(dir: &OwnedFd, name: &str, max: u64) -> io::Result<String> {
    let fd = openat(
        Some(dir),
        Path::new(name),
        libc::O_RDONLY | libc::O_NONBLOCK,
    )?;
    let mut file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(io::Error::other(format!(
            "{} bytes; the limit is {max}",
            meta.len()
        )));
    }
    let mut text = String::new();
    file.by_ref().take(max).read_to_string(&mut text)?;
    Ok(text)
}
