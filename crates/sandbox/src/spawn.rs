//! fork/exec by hand: a raw `clone` (so the namespace backend can create
//! its namespaces in the same step and the child becomes PID 1 of the new
//! PID namespace), the prepared child setup, then `execve`.
//!
//! Everything the child touches (argv, envp, paths, pipes) is built here
//! before the clone; the child itself only makes raw syscalls.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::child::{ChildSetup, FATAL, STEP_EXEC};
use crate::error::SandboxError;

/// The program image: resolved path, argv and envp as C arrays.
pub(crate) struct Image {
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
}

fn cstr(s: &[u8], what: &str) -> Result<CString, SandboxError> {
    CString::new(s).map_err(|_| SandboxError::Policy(format!("{what} contains a NUL byte")))
}

impl Image {
    /// `program` is looked up in `search_path` unless it contains a `/`.
    pub(crate) fn new(
        program: &str,
        args: &[String],
        env: &[(&str, &[u8])],
        search_path: &str,
    ) -> Result<Image, SandboxError> {
        let resolved = if program.contains('/') {
            program.as_bytes().to_vec()
        } else {
            search_path
                .split(':')
                .map(|dir| Path::new(dir).join(program))
                .find(|p| is_executable(p))
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .ok_or_else(|| SandboxError::Spawn {
                    step: "exec",
                    source: io::Error::from_raw_os_error(libc::ENOENT),
                })?
        };
        let argv: Vec<CString> = std::iter::once(program)
            .chain(args.iter().map(String::as_str))
            .map(|a| cstr(a.as_bytes(), "an argument"))
            .collect::<Result<_, _>>()?;
        let envp: Vec<CString> = env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v);
                cstr(&kv, "an environment variable")
            })
            .collect::<Result<_, _>>()?;
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        Ok(Image {
            path: cstr(&resolved, "the program path")?,
            argv_ptrs: ptrs(&argv),
            envp_ptrs: ptrs(&envp),
            _argv: argv,
            _envp: envp,
        })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The parent's side of a started child.
pub(crate) struct Spawned {
    pub pid: libc::pid_t,
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dev_null() -> io::Result<OwnedFd> {
    // SAFETY: constant path; the fd is ours on success.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Starts the child. `clone_flags` are the namespace flags (0 for a plain
/// fork). Consumes `setup` so its fds (ruleset, status write end) are
/// closed in the parent once the child has its copies.
pub(crate) fn spawn(
    setup: ChildSetup,
    image: &Image,
    with_stdin: bool,
    clone_flags: libc::c_int,
) -> Result<Spawned, SandboxError> {
    let setup_err = |what| move |source| SandboxError::Setup { what, source };
    let (in_r, in_w) = if with_stdin {
        let (r, w) = pipe().map_err(setup_err("creating pipes"))?;
        (r, Some(w))
    } else {
        (dev_null().map_err(setup_err("opening /dev/null"))?, None)
    };
    let (out_r, out_w) = pipe().map_err(setup_err("creating pipes"))?;
    let (err_r, err_w) = pipe().map_err(setup_err("creating pipes"))?;
    let stdio = [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];

    // Signals stay blocked from before the clone until just before exec,
    // so none of picoclaw's handlers runs in the child.
    // SAFETY: sigset_t is plain data; the calls only fill/swap masks.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: a fork-like clone (no new stack). The child runs only
    // `child_main`, which never returns and makes raw syscalls only.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (clone_flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        child_main(&setup, image, stdio);
    }
    let clone_err = io::Error::last_os_error();
    // SAFETY: restores our own mask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(SandboxError::Spawn {
            step: "clone",
            source: clone_err,
        });
    }
    drop(setup);
    Ok(Spawned {
        pid: pid as libc::pid_t,
        stdin: in_w,
        stdout: out_r,
        stderr: err_r,
    })
}

/// The child between clone and exec.
fn child_main(setup: &ChildSetup, image: &Image, stdio: [RawFd; 3]) -> ! {
    // SAFETY: async-signal-safe raw syscalls on data prepared before the
    // clone; `_exit` never returns.
    unsafe {
        for (target, fd) in stdio.iter().enumerate() {
            let target = target as RawFd;
            let ok = if *fd == target {
                libc::fcntl(target, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(*fd, target) == target
            };
            if !ok {
                libc::_exit(127);
            }
        }
        if setup.apply().is_err() {
            libc::_exit(127);
        }
        // Rust ignores SIGPIPE in the parent; ignored signals survive exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(
            image.path.as_ptr(),
            image.argv_ptrs.as_ptr(),
            image.envp_ptrs.as_ptr(),
        );
        let e = crate::landlock::errno();
        let b = e.to_le_bytes();
        let rec = [STEP_EXEC | FATAL, b[0], b[1], b[2], b[3]];
        libc::write(setup.status.as_raw_fd(), rec.as_ptr().cast(), rec.len());
        libc::_exit(127);
    }
}
