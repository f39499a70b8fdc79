//! fork/exec by hand: a raw `clone` (so the namespace backend can create
//! its namespaces in the same step and the child becomes PID 1 of the new
//! PID namespace), the prepared child setup, then `execve`.
//!
//! Everything the child touches (argv, envp, paths, pipes) is built here
//! before the clone; the child itself only makes syscalls (see `child`).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};

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
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

fn dev_null() -> io::Result<OwnedFd> {
    Ok(nix::fcntl::open(
        c"/dev/null",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?)
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
    let mut old = SigSet::empty();
    let _ = pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    );
    // A raw clone, not nix's: nix::sched::clone runs a closure on a
    // caller-allocated stack, while this needs a fork-like clone (the
    // child continues on its copy of this stack, with `setup` and `image`
    // in place) that can also create the namespaces, making the child
    // PID 1 of the new PID namespace.
    // SAFETY: a fork-like clone (no new stack). The child runs only
    // `child_main`, which never returns and neither allocates nor locks.
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
        child_main(setup, image, stdio);
    }
    let clone_err = io::Error::last_os_error();
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
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

/// The child between clone and exec. Owns its copy of `setup`: the
/// Landlock ruleset is consumed by `restrict_self`.
fn child_main(mut setup: ChildSetup, image: &Image, stdio: [RawFd; 3]) -> ! {
    let status = setup.status.as_raw_fd();
    // SAFETY: async-signal-safe calls on data prepared before the clone;
    // `_exit` never returns. dup2 and execve stay raw: nix's dup2 wants an
    // OwnedFd for the target, and its execve collects the argument
    // pointers into a fresh Vec, an allocation after fork.
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
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        libc::execve(
            image.path.as_ptr(),
            image.argv_ptrs.as_ptr(),
            image.envp_ptrs.as_ptr(),
        );
        let b = crate::landlock::errno().to_le_bytes();
        let rec = [STEP_EXEC | FATAL, b[0], b[1], b[2], b[3]];
        libc::write(status, rec.as_ptr().cast(), rec.len());
        libc::_exit(127);
    }
}
