//! The one probe program for the sandbox: `PROBE CASE ARGS…` performs
//! exactly one hostile (or benign) action with raw syscalls and prints the
//! raw result as `ok …` or `err NAME`, so a missing system tool can never
//! make a check pass.
//!
//! Two programs run it, and both run this code, so what the adversarial
//! suite proves is what `picoclaw doctor --probe` shows on a user's box:
//!
//! - `sandbox-probe`, the picoclaw-sandbox crate's test binary, run by the
//!   adversarial suite (`crates/sandbox/tests`);
//! - the picoclaw binary itself, re-executed as `picoclaw __sandbox-probe
//!   CASE …` by `doctor --probe` (one static binary on a board: there is no
//!   second program to ship).
//!
//! A library crate rather than a module of either: the sandbox crate must
//! not carry diagnostics and the binary's code cannot be reached from the
//! sandbox crate's tests, so both link this.
//!
//! It runs inside the sandbox, so it depends on nothing but libc.

use std::ffi::CString;
use std::io::Write;

/// Runs `args[0]` (the case) with its arguments; returns the exit status:
/// 0 when the case ran (whatever it printed), 2 for an unknown case.
pub fn main(args: &[String]) -> i32 {
    let a = Args(args);
    if fs(&a) || net(&a) || kernel(&a) || procs(&a) || misc(&a) {
        let _ = std::io::stdout().flush();
        0
    } else {
        eprintln!("unknown probe case {:?}", a.s(0));
        2
    }
}

struct Args<'a>(&'a [String]);

impl Args<'_> {
    fn s(&self, i: usize) -> String {
        self.0.get(i).cloned().unwrap_or_default()
    }
    fn num(&self, i: usize) -> i64 {
        self.s(i).parse().unwrap_or(0)
    }
    /// A path argument; one with a NUL becomes "" (ENOENT), never a panic.
    fn c(&self, i: usize) -> CString {
        CString::new(self.s(i)).unwrap_or_default()
    }
}

fn errname(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EXDEV => "EXDEV",
        libc::EINVAL => "EINVAL",
        libc::EFBIG => "EFBIG",
        libc::ENOSYS => "ENOSYS",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EROFS => "EROFS",
        libc::ENXIO => "ENXIO",
        libc::ENETUNREACH => "ENETUNREACH",
        _ => return format!("errno{e}"),
    };
    name.to_string()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Prints `ok` + detail when `rc >= 0`, else `err NAME`.
fn report(rc: i64, detail: &str) {
    if rc >= 0 {
        println!("ok{detail}");
    } else {
        println!("err {}", errname(errno()));
    }
}

fn text(buf: &[u8], n: isize) -> String {
    match usize::try_from(n) {
        Ok(n) if n > 0 => String::from_utf8_lossy(&buf[..n]).into_owned(),
        _ => String::new(),
    }
}

/// Filesystem cases: write, read, readlink, link, rename, truncate,
/// chmod, write-big, ls, stat.
fn fs(a: &Args) -> bool {
    // SAFETY (whole match): raw syscalls on C strings and buffers owned
    // here; this program exists to make them.
    unsafe {
        match a.s(0).as_str() {
            "write" => {
                let fd = libc::open(
                    a.c(1).as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o644,
                );
                if fd < 0 {
                    report(-1, "");
                } else {
                    let data = a.s(2);
                    report(libc::write(fd, data.as_ptr().cast(), data.len()) as i64, "");
                }
            }
            "read" => {
                let fd = libc::open(a.c(1).as_ptr(), libc::O_RDONLY);
                if fd < 0 {
                    report(-1, "");
                } else {
                    let mut buf = [0u8; 4096];
                    let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                    report(n as i64, &format!(" {}", text(&buf, n).replace('\0', " ")));
                }
            }
            "readlink" => {
                let mut buf = [0u8; 4096];
                let n = libc::readlink(a.c(1).as_ptr(), buf.as_mut_ptr().cast(), buf.len());
                report(n as i64, &format!(" {}", text(&buf, n)));
            }
            "link" => report(libc::link(a.c(1).as_ptr(), a.c(2).as_ptr()) as i64, ""),
            "rename" => report(libc::rename(a.c(1).as_ptr(), a.c(2).as_ptr()) as i64, ""),
            "truncate" => report(libc::truncate(a.c(1).as_ptr(), 0) as i64, ""),
            "chmod" => report(libc::chmod(a.c(1).as_ptr(), 0o777) as i64, ""),
            "write-big" => {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let fd = libc::open(
                    a.c(1).as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o644,
                );
                let chunk = vec![b'x'; 1 << 20];
                let mut total = 0i64;
                for _ in 0..a.num(2) {
                    let n = libc::write(fd, chunk.as_ptr().cast(), chunk.len());
                    if n < 0 {
                        println!("wrote {total} then err {}", errname(errno()));
                        return true;
                    }
                    total += n as i64;
                }
                println!("wrote {total}");
            }
            "ls" => match std::fs::read_dir(a.s(1)) {
                Ok(rd) => {
                    let mut names: Vec<String> = rd
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    println!("ok {}", names.join(" "));
                }
                Err(e) => println!("err {}", errname(e.raw_os_error().unwrap_or(0))),
            },
            "stat" => {
                let mut st: libc::stat = std::mem::zeroed();
                report(libc::lstat(a.c(1).as_ptr(), &mut st) as i64, "")
            }
            _ => return false,
        }
    }
    true
}

fn sockaddr_in(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn sockaddr_un(path: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (slot, b) in a.sun_path.iter_mut().zip(path) {
        *slot = *b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + path.len().min(a.sun_path.len());
    (a, len as libc::socklen_t)
}

/// Network cases: tcp, udp, unix, unix-abstract, unix-dgram,
/// socketpair-dgram, netlink.
fn net(a: &Args) -> bool {
    // SAFETY (whole match): raw socket calls on stack-owned addresses.
    unsafe {
        match a.s(0).as_str() {
            "tcp" => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    println!("err {} socket", errname(errno()));
                    return true;
                }
                let addr = sockaddr_in(a.num(1) as u16);
                let rc = libc::connect(
                    fd,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of_val(&addr) as u32,
                );
                if rc == 0 {
                    libc::write(fd, b"hello".as_ptr().cast(), 5);
                }
                report(rc as i64, " connected");
            }
            "udp" => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                if fd < 0 {
                    println!("err {} socket", errname(errno()));
                    return true;
                }
                let addr = sockaddr_in(a.num(1) as u16);
                let rc = libc::sendto(
                    fd,
                    b"hello".as_ptr().cast(),
                    5,
                    0,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of_val(&addr) as u32,
                );
                report(rc as i64, " sent");
            }
            case @ ("unix" | "unix-abstract" | "unix-dgram") => {
                let dgram = case == "unix-dgram";
                let ty = if dgram {
                    libc::SOCK_DGRAM
                } else {
                    libc::SOCK_STREAM
                };
                let fd = libc::socket(libc::AF_UNIX, ty, 0);
                if fd < 0 {
                    println!("err {} socket", errname(errno()));
                    return true;
                }
                let mut path = a.s(1).into_bytes();
                if case == "unix-abstract" {
                    path.insert(0, 0);
                }
                let (addr, len) = sockaddr_un(&path);
                let ap = (&addr as *const libc::sockaddr_un).cast();
                let rc = if dgram {
                    libc::sendto(fd, b"hello".as_ptr().cast(), 5, 0, ap, len) as i32
                } else {
                    let rc = libc::connect(fd, ap, len);
                    if rc == 0 {
                        libc::write(fd, b"hello".as_ptr().cast(), 5);
                    }
                    rc
                };
                report(rc as i64, " connected");
            }
            "socketpair-dgram" => {
                let mut sv = [0; 2];
                report(
                    libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sv.as_mut_ptr()) as i64,
                    "",
                );
            }
            "netlink" => report(libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, 0) as i64, ""),
            _ => return false,
        }
    }
    true
}

/// Kernel attack surface: ptrace, io_uring, keyctl, bpf, perf,
/// unshare-user, clone-newuser, clone3.
fn kernel(a: &Args) -> bool {
    // SAFETY (whole match): raw syscalls with stack buffers; a child of
    // the clone case only calls _exit.
    unsafe {
        match a.s(0).as_str() {
            "ptrace" => report(libc::ptrace(libc::PTRACE_ATTACH, a.num(1) as i32, 0, 0), ""),
            "io_uring" => {
                let mut params = [0u8; 120];
                report(
                    libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr()),
                    "",
                )
            }
            "keyctl" => report(
                libc::syscall(
                    libc::SYS_add_key,
                    c"user".as_ptr(),
                    c"probe".as_ptr(),
                    b"x".as_ptr(),
                    1,
                    -3,
                ),
                "",
            ),
            "bpf" => {
                let attr = [0u8; 128];
                report(
                    libc::syscall(libc::SYS_bpf, 0, attr.as_ptr(), attr.len()),
                    "",
                )
            }
            "perf" => {
                let mut attr = [0u8; 128];
                attr[4..8].copy_from_slice(&128u32.to_ne_bytes());
                report(
                    libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0),
                    "",
                )
            }
            "unshare-user" => report(libc::unshare(libc::CLONE_NEWUSER) as i64, ""),
            "clone-newuser" => {
                let rc = libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as i64,
                    0,
                    0,
                    0,
                    0,
                );
                if rc == 0 {
                    libc::_exit(0);
                }
                report(rc, "");
            }
            "clone3" => {
                let args = [0u64; 11];
                report(libc::syscall(libc::SYS_clone3, args.as_ptr(), 88), "")
            }
            _ => return false,
        }
    }
    true
}

/// Processes and signals: kill, signal, fork-bomb, detach,
/// detach-and-wait, spin, pids.
fn procs(a: &Args) -> bool {
    // SAFETY (whole match): raw process syscalls; forked children only
    // sleep, write to a pipe and _exit.
    unsafe {
        match a.s(0).as_str() {
            "kill" => report(libc::kill(a.num(1) as i32, libc::SIGKILL) as i64, ""),
            // SIGCONT: harmless if it does arrive.
            "signal" => report(libc::kill(a.num(1) as i32, libc::SIGCONT) as i64, ""),
            "fork-bomb" => {
                // Optional cap (the doctor's probe passes a few times the
                // process limit, so a missing limit ends quickly).
                let cap = match a.num(1) {
                    n if n > 0 => n,
                    _ => 10_000,
                };
                let mut made = 0;
                let err = loop {
                    let pid = libc::fork();
                    if pid == 0 {
                        libc::sleep(30);
                        libc::_exit(0);
                    }
                    if pid < 0 {
                        break errno();
                    }
                    made += 1;
                    if made >= cap {
                        break 0;
                    }
                };
                println!("forked {made} then {}", errname(err));
            }
            "spin" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            case @ ("detach" | "detach-and-wait") => {
                // The `setsid sleep 999 &` escape: a child in its own
                // session keeps stdout open while the leader exits.
                // The leader waits until the child has left the process
                // group, or the group kill could catch it first.
                let mut p = [0; 2];
                libc::pipe(p.as_mut_ptr());
                let pid = libc::fork();
                if pid == 0 {
                    libc::setsid();
                    libc::write(p[1], b"s".as_ptr().cast(), 1);
                    libc::sleep(999);
                    libc::_exit(0);
                }
                let mut b = [0u8; 1];
                libc::read(p[0], b.as_mut_ptr().cast(), 1);
                println!("detached {pid}");
                if case == "detach-and-wait" {
                    let _ = std::io::stdout().flush();
                    libc::sleep(999);
                }
            }
            "pids" => match std::fs::read_dir("/proc") {
                // Numeric entries of /proc: the processes this one can see.
                Ok(rd) => {
                    let mut pids: Vec<u32> = rd
                        .flatten()
                        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                        .collect();
                    pids.sort();
                    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
                    println!("ok {}", list.join(" "));
                }
                Err(e) => println!("err {}", errname(e.raw_os_error().unwrap_or(0))),
            },
            _ => return false,
        }
    }
    true
}

/// What the process is and has: ids, fstat, env, alloc, yes, echo.
fn misc(a: &Args) -> bool {
    // SAFETY (whole match): query syscalls and an anonymous mmap.
    unsafe {
        match a.s(0).as_str() {
            "ids" => println!("ok ruid={} euid={}", libc::getuid(), libc::geteuid()),
            "fstat" => {
                let mut st: libc::stat = std::mem::zeroed();
                report(libc::fstat(a.num(1) as i32, &mut st) as i64, "")
            }
            "env" => {
                for (k, v) in std::env::vars_os() {
                    println!("{}={}", k.to_string_lossy(), v.to_string_lossy());
                }
            }
            "alloc" => {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    a.num(1) as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                report(if p == libc::MAP_FAILED { -1 } else { 0 }, "");
            }
            "yes" => {
                let line = b"y\n".repeat(4096);
                let mut out = std::io::stdout().lock();
                while out.write_all(&line).is_ok() {}
            }
            "echo" => println!("{}", a.0.get(1..).unwrap_or_default().join(" ")),
            _ => return false,
        }
    }
    true
}
