//! Thin safe wrappers over the `*at(2)` syscalls the file tools need. Every
//! function takes a directory fd and, except `openat2`, a single name, so
//! nothing here walks a path on its own.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

pub(crate) fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Repeats a call interrupted by a signal.
fn retry_eintr(mut f: impl FnMut() -> io::Result<libc::c_int>) -> io::Result<libc::c_int> {
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// `openat2(2)`; `ENOSYS` on kernels before 5.6.
pub(crate) fn openat2(
    dir: &impl AsRawFd,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain old data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = u64::from(mode);
    how.resolve = resolve;
    let fd = retry_eintr(|| {
        // SAFETY: `path` is NUL-terminated and `how` outlives the call; the
        // size argument matches the struct passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        check(r as libc::c_int)
    })?;
    // SAFETY: the kernel just returned this fd to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Plain `openat(2)` (or `open(2)` with `AT_FDCWD`).
pub(crate) fn openat(
    dir: RawFd,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    let fd = retry_eintr(|| {
        // SAFETY: `path` is NUL-terminated; the mode is passed as the
        // variadic argument openat expects.
        check(unsafe {
            libc::openat(
                dir,
                path.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })
    })?;
    // SAFETY: freshly returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn mkdirat(dir: &impl AsRawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

pub(crate) fn renameat(dir: &impl AsRawFd, from: &CStr, to: &CStr) -> io::Result<()> {
    let fd = dir.as_raw_fd();
    // SAFETY: both names are NUL-terminated.
    check(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) }).map(drop)
}

pub(crate) fn unlinkat(dir: &impl AsRawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    /// FIFO, socket or device: never read or written by the tools.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub kind: Kind,
    pub size: u64,
    /// Permission bits only (no setuid/setgid/sticky).
    pub perm: u32,
}

fn meta(st: &libc::stat) -> Meta {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    };
    Meta {
        kind,
        size: st.st_size as u64,
        perm: st.st_mode & 0o777,
    }
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `None` when the name does not
/// exist.
pub(crate) fn lstat_at(dir: &impl AsRawFd, name: &CStr) -> io::Result<Option<Meta>> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and `st` is large enough for a stat.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(r) {
        // SAFETY: fstatat succeeded, so it filled the struct.
        Ok(_) => Ok(Some(meta(unsafe { st.assume_init_ref() }))),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn fstat(fd: &impl AsRawFd) -> io::Result<Meta> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is large enough for a stat.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled the struct.
    Ok(meta(unsafe { st.assume_init_ref() }))
}

pub(crate) fn readlinkat(dir: &impl AsRawFd, name: &CStr) -> io::Result<OsString> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its full length; readlinkat writes at
    // most that many bytes and does not NUL-terminate.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsString::from_vec(buf))
}

/// The names in a directory (without `.` and `..`), at most `max` of them,
/// plus how many more there were.
pub(crate) fn read_dir_names(dir: &OwnedFd, max: usize) -> io::Result<(Vec<OsString>, usize)> {
    struct Dir(*mut libc::DIR);
    impl Drop for Dir {
        fn drop(&mut self) {
            // SAFETY: the pointer came from a successful fdopendir and is
            // closed exactly once, here.
            unsafe { libc::closedir(self.0) };
        }
    }

    // fdopendir takes ownership of the fd, so give it a duplicate.
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd has no memory effects.
    let dup = check(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `dup` is a valid directory fd that nothing else owns.
    let dirp = unsafe { libc::fdopendir(dup) };
    if dirp.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `dup` is still ours to close.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    let dirp = Dir(dirp);
    let mut names = Vec::new();
    let mut more = 0usize;
    loop {
        // readdir signals errors only through errno, so clear it first.
        // SAFETY: __errno_location returns this thread's errno slot.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `dirp.0` is an open DIR stream used by this thread only.
        let ent = unsafe { libc::readdir(dirp.0) };
        if ent.is_null() {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(0) | None => Ok((names, more)),
                _ => Err(e),
            };
        }
        // SAFETY: readdir returned a valid entry whose d_name is
        // NUL-terminated and lives until the next readdir call.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if names.len() < max {
            names.push(OsString::from_vec(name.to_vec()));
        } else {
            more += 1;
        }
    }
}
