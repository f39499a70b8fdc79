//! `sandbox-probe CASE ARGS…`: performs exactly one hostile (or benign)
//! action with raw syscalls and prints the raw result as `ok …` or
//! `err NAME`, for the adversarial test suite. It is a test fixture, not
//! part of picoclaw.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CString;
use std::io::Write;

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

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
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
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (i, b) in path.iter().enumerate() {
        a.sun_path[i] = *b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + path.len();
    (a, len as libc::socklen_t)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(picoclaw_sandbox::PROBE_ARG) {
        std::process::exit(picoclaw_sandbox::probe_main(&args[1..]));
    }
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<i64>().unwrap_or(0);
    // SAFETY (whole match): raw syscalls on valid, owned arguments; this
    // binary exists to make them.
    unsafe {
        match arg(0).as_str() {
            "write" => {
                let fd = libc::open(
                    c(&arg(1)).as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o644,
                );
                if fd < 0 {
                    return report(-1, "");
                }
                let data = arg(2);
                report(libc::write(fd, data.as_ptr().cast(), data.len()) as i64, "");
            }
            "read" => {
                let fd = libc::open(c(&arg(1)).as_ptr(), libc::O_RDONLY);
                if fd < 0 {
                    return report(-1, "");
                }
                let mut buf = [0u8; 4096];
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                let text = if n > 0 {
                    String::from_utf8_lossy(&buf[..n as usize]).into_owned()
                } else {
                    String::new()
                };
                report(n as i64, &format!(" {}", text.replace('\0', " ")));
            }
            "readlink" => {
                let mut buf = [0u8; 4096];
                let n = libc::readlink(c(&arg(1)).as_ptr(), buf.as_mut_ptr().cast(), buf.len());
                let text = if n > 0 {
                    String::from_utf8_lossy(&buf[..n as usize]).into_owned()
                } else {
                    String::new()
                };
                report(n as i64, &format!(" {text}"));
            }
            "link" => report(
                libc::link(c(&arg(1)).as_ptr(), c(&arg(2)).as_ptr()) as i64,
                "",
            ),
            "rename" => report(
                libc::rename(c(&arg(1)).as_ptr(), c(&arg(2)).as_ptr()) as i64,
                "",
            ),
            "truncate" => report(libc::truncate(c(&arg(1)).as_ptr(), 0) as i64, ""),
            "chmod" => report(libc::chmod(c(&arg(1)).as_ptr(), 0o777) as i64, ""),
            "tcp" => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    return println!("err {} socket", errname(errno()));
                }
                let a = sockaddr_in(num(1) as u16);
                let rc = libc::connect(
                    fd,
                    (&a as *const libc::sockaddr_in).cast(),
                    std::mem::size_of_val(&a) as u32,
                );
                if rc == 0 {
                    libc::write(fd, b"hello".as_ptr().cast(), 5);
                }
                report(rc as i64, " connected");
            }
            "udp" => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                if fd < 0 {
                    return println!("err {} socket", errname(errno()));
                }
                let a = sockaddr_in(num(1) as u16);
                let rc = libc::sendto(
                    fd,
                    b"hello".as_ptr().cast(),
                    5,
                    0,
                    (&a as *const libc::sockaddr_in).cast(),
                    std::mem::size_of_val(&a) as u32,
                );
                report(rc as i64, " sent");
            }
            "unix" | "unix-abstract" | "unix-dgram" => {
                let dgram = arg(0) == "unix-dgram";
                let ty = if dgram {
                    libc::SOCK_DGRAM
                } else {
                    libc::SOCK_STREAM
                };
                let fd = libc::socket(libc::AF_UNIX, ty, 0);
                if fd < 0 {
                    return println!("err {} socket", errname(errno()));
                }
                let mut path = arg(1).into_bytes();
                if arg(0) == "unix-abstract" {
                    path.insert(0, 0);
                }
                let (a, len) = sockaddr_un(&path);
                let ap = (&a as *const libc::sockaddr_un).cast();
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
            "kill" => report(libc::kill(num(1) as i32, libc::SIGKILL) as i64, ""),
            "ptrace" => report(libc::ptrace(libc::PTRACE_ATTACH, num(1) as i32, 0, 0), ""),
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
                    c("user").as_ptr(),
                    c("probe").as_ptr(),
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
            "ids" => println!("ok ruid={} euid={}", libc::getuid(), libc::geteuid()),
            "fstat" => {
                let mut st: libc::stat = std::mem::zeroed();
                report(libc::fstat(num(1) as i32, &mut st) as i64, "")
            }
            "env" => {
                for (k, v) in std::env::vars_os() {
                    println!("{}={}", k.to_string_lossy(), v.to_string_lossy());
                }
            }
            "fork-bomb" => {
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
                    if made >= 10_000 {
                        break 0;
                    }
                };
                println!("forked {made} then {}", errname(err));
            }
            "write-big" => {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let fd = libc::open(
                    c(&arg(1)).as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o644,
                );
                let chunk = vec![b'x'; 1 << 20];
                let mut total = 0i64;
                for _ in 0..num(2) {
                    let n = libc::write(fd, chunk.as_ptr().cast(), chunk.len());
                    if n < 0 {
                        println!("wrote {total} then err {}", errname(errno()));
                        return;
                    }
                    total += n as i64;
                }
                println!("wrote {total}");
            }
            "alloc" => {
                let len = num(1) as usize;
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                report(if p == libc::MAP_FAILED { -1 } else { 0 }, "");
            }
            "spin" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "detach" | "detach-and-wait" => {
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
                if arg(0) == "detach-and-wait" {
                    std::io::stdout().flush().unwrap();
                    libc::sleep(999);
                }
            }
            "yes" => {
                let line = b"y\n".repeat(4096);
                let mut out = std::io::stdout().lock();
                while out.write_all(&line).is_ok() {}
            }
            "echo" => println!("{}", args[1..].join(" ")),
            "pids" => {
                // Numeric entries of /proc: the processes this one can see.
                let mut pids: Vec<u32> = std::fs::read_dir("/proc")
                    .unwrap()
                    .flatten()
                    .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                    .collect();
                pids.sort();
                let list: Vec<String> = pids.iter().map(u32::to_string).collect();
                println!("ok {}", list.join(" "));
            }
            "ls" => match std::fs::read_dir(arg(1)) {
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
                report(libc::lstat(c(&arg(1)).as_ptr(), &mut st) as i64, "")
            }
            other => {
                eprintln!("unknown probe case {other:?}");
                std::process::exit(2);
            }
        }
    }
}
