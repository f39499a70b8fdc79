//! The seccomp layer: a readable deny list (pure, unit-tested), assembled
//! into one compact BPF program in the parent (see `bpf`; seccompiler is
//! the reference its tests compare against), installed by the child with
//! one prctl.
//!
//! Default-allow with an explicit deny list, not an allow list: tools are
//! arbitrary programs (shells, compilers, interpreters) whose syscall sets
//! we cannot enumerate on three architectures, and the filesystem wall is
//! Landlock's job. seccomp here removes kernel attack surface and the
//! escape hatches Landlock does not see (ptrace, namespaces, mounts, BPF,
//! io_uring which bypasses syscall-level checks, the network).
//!
//! Syscall numbers come from `libc::SYS_*`, which are per target arch; the
//! binary is built per arch, so the filter arch is fixed at compile time.

/// When a listed syscall is refused with EPERM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum When {
    Always,
    /// Any of these bits set in the (32-bit) argument.
    AnyBit(u8, &'static [u64]),
    /// The argument is none of these values.
    NotIn(u8, &'static [u64]),
    /// `arg & mask` equals one of these values.
    MaskedIn(u8, u64, &'static [u64]),
    /// The argument equals one of these values.
    In(u8, &'static [u64]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deny {
    pub name: &'static str,
    pub nr: i64,
    pub when: When,
}

const NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];
/// Socket types other than SOCK_STREAM (the low 4 bits of `type`). An
/// unconnected datagram unix socket could `sendto` any pathname socket on
/// the host, and Landlock does not govern pathname unix sockets.
const NON_STREAM: &[u64] = &[
    libc::SOCK_DGRAM as u64,
    libc::SOCK_RAW as u64,
    libc::SOCK_RDM as u64,
    libc::SOCK_SEQPACKET as u64,
    10, // SOCK_PACKET (obsolete, but still accepted by the kernel)
];
const UNIX_ONLY: &[u64] = &[libc::AF_UNIX as u64];
const INET_ONLY: &[u64] = &[libc::AF_INET as u64, libc::AF_INET6 as u64];
// The ioctl request type differs between glibc and musl.
#[allow(clippy::unnecessary_cast)]
const TTY_INJECT: &[u64] = &[libc::TIOCSTI as u64, libc::TIOCLINUX as u64];

macro_rules! deny {
    ($name:ident) => {
        deny!($name, When::Always)
    };
    ($name:ident, $when:expr) => {
        Deny {
            name: stringify!($name),
            nr: sys::$name,
            when: $when,
        }
    };
}

/// `libc::SYS_<name>` under the bare name, so the list reads like a table.
#[allow(non_upper_case_globals)]
mod sys {
    #[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
    pub use libc::SYS_kexec_file_load as kexec_file_load;
    pub use libc::{
        SYS_accept as accept, SYS_accept4 as accept4, SYS_acct as acct, SYS_add_key as add_key,
        SYS_adjtimex as adjtimex, SYS_bind as bind, SYS_bpf as bpf, SYS_chroot as chroot,
        SYS_clock_adjtime as clock_adjtime, SYS_clock_settime as clock_settime, SYS_clone as clone,
        SYS_connect as connect, SYS_delete_module as delete_module,
        SYS_fanotify_init as fanotify_init, SYS_finit_module as finit_module,
        SYS_fsconfig as fsconfig, SYS_fsmount as fsmount, SYS_fsopen as fsopen,
        SYS_fspick as fspick, SYS_init_module as init_module, SYS_io_uring_enter as io_uring_enter,
        SYS_io_uring_register as io_uring_register, SYS_io_uring_setup as io_uring_setup,
        SYS_ioctl as ioctl, SYS_kexec_load as kexec_load, SYS_keyctl as keyctl,
        SYS_listen as listen, SYS_mount as mount, SYS_mount_setattr as mount_setattr,
        SYS_move_mount as move_mount, SYS_open_by_handle_at as open_by_handle_at,
        SYS_open_tree as open_tree, SYS_perf_event_open as perf_event_open,
        SYS_pivot_root as pivot_root, SYS_process_vm_readv as process_vm_readv,
        SYS_process_vm_writev as process_vm_writev, SYS_ptrace as ptrace, SYS_quotactl as quotactl,
        SYS_reboot as reboot, SYS_request_key as request_key, SYS_setdomainname as setdomainname,
        SYS_sethostname as sethostname, SYS_setns as setns, SYS_settimeofday as settimeofday,
        SYS_socket as socket, SYS_socketpair as socketpair, SYS_swapoff as swapoff,
        SYS_swapon as swapon, SYS_syslog as syslog, SYS_umount2 as umount2, SYS_unshare as unshare,
        SYS_userfaultfd as userfaultfd,
    };
    /// libc's musl bindings for aarch64 and riscv64 lack this constant; both
    /// use the kernel's asm-generic syscall table, where it is 294.
    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    pub const kexec_file_load: libc::c_long = 294;
}

/// The deny list for a policy with (`net`) or without network.
pub(crate) fn deny_list(net: bool) -> Vec<Deny> {
    let mut list = vec![
        deny!(ptrace),
        deny!(process_vm_readv),
        deny!(process_vm_writev),
        deny!(io_uring_setup),
        deny!(io_uring_enter),
        deny!(io_uring_register),
        deny!(keyctl),
        deny!(add_key),
        deny!(request_key),
        deny!(bpf),
        deny!(perf_event_open),
        deny!(userfaultfd),
        deny!(unshare),
        deny!(setns),
        deny!(clone, When::AnyBit(0, NS_FLAGS)),
        deny!(mount),
        deny!(umount2),
        deny!(pivot_root),
        deny!(chroot),
        deny!(fsopen),
        deny!(fsconfig),
        deny!(fsmount),
        deny!(fspick),
        deny!(move_mount),
        deny!(open_tree),
        deny!(mount_setattr),
        // Opens by file handle, around every path-based check.
        deny!(open_by_handle_at),
        deny!(kexec_load),
        deny!(kexec_file_load),
        deny!(init_module),
        deny!(finit_module),
        deny!(delete_module),
        deny!(reboot),
        deny!(swapon),
        deny!(swapoff),
        deny!(acct),
        deny!(syslog),
        deny!(quotactl),
        deny!(settimeofday),
        deny!(clock_settime),
        deny!(clock_adjtime),
        deny!(adjtimex),
        deny!(sethostname),
        deny!(setdomainname),
        deny!(fanotify_init),
        deny!(ioctl, When::In(1, TTY_INJECT)),
        deny!(socketpair, When::MaskedIn(1, 0xf, NON_STREAM)),
    ];
    if net {
        // connect() must work for TCP, and seccomp cannot see the address
        // family behind connect's pointer, so unix sockets go entirely:
        // otherwise connect() could reach any pathname socket on the host.
        list.push(deny!(socket, When::NotIn(0, INET_ONLY)));
    } else {
        list.push(deny!(socket, When::NotIn(0, UNIX_ONLY)));
        list.push(deny!(socket, When::MaskedIn(1, 0xf, NON_STREAM)));
        list.push(deny!(connect));
        list.push(deny!(bind));
        list.push(deny!(listen));
        list.push(deny!(accept));
        list.push(deny!(accept4));
    }
    list
}

/// The assembled program, installed by the child.
#[derive(Clone)]
pub(crate) struct Filters {
    pub program: Vec<libc::sock_filter>,
}

/// [`crate::bpf::assemble`] of the deny list, once per process for each
/// network setting: the list is static.
pub(crate) fn compiled(net: bool) -> Result<Filters, &'static str> {
    use std::sync::OnceLock;
    static CACHE: [OnceLock<Filters>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = &CACHE[usize::from(net)];
    if let Some(f) = slot.get() {
        return Ok(f.clone());
    }
    let f = Filters {
        program: crate::bpf::assemble(&deny_list(net))?,
    };
    Ok(slot.get_or_init(|| f).clone())
}

/// Child side: installs one program. Async-signal-safe; returns 0 or errno.
pub(crate) fn install(prog: &[libc::sock_filter]) -> i32 {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: a valid program of `len` instructions; the kernel copies it
    // before returning.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        0
    } else {
        crate::landlock::errno()
    }
}

/// `prctl(PR_GET_SECCOMP)` fails with EINVAL on kernels built without it.
pub(crate) fn available() -> bool {
    // SAFETY: query-only prctl.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP) >= 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(net: bool) -> Vec<&'static str> {
        deny_list(net).iter().map(|d| d.name).collect()
    }

    #[test]
    fn escape_hatches_are_denied_in_both_network_modes() {
        for net in [false, true] {
            let n = names(net);
            for must in [
                "ptrace",
                "process_vm_readv",
                "io_uring_setup",
                "keyctl",
                "bpf",
                "perf_event_open",
                "userfaultfd",
                "unshare",
                "setns",
                "mount",
                "pivot_root",
                "kexec_load",
                "init_module",
                "clone",
            ] {
                assert!(n.contains(&must), "{must} missing (net={net})");
            }
        }
    }

    #[test]
    fn without_network_only_unix_stream_sockets_exist_and_connect_is_denied() {
        let list = deny_list(false);
        let socket: Vec<&When> = list
            .iter()
            .filter(|d| d.name == "socket")
            .map(|d| &d.when)
            .collect();
        assert_eq!(
            socket,
            [
                &When::NotIn(0, UNIX_ONLY),
                &When::MaskedIn(1, 0xf, NON_STREAM)
            ]
        );
        for call in ["connect", "bind", "listen", "accept", "accept4"] {
            assert!(
                list.iter()
                    .any(|d| d.name == call && d.when == When::Always),
                "{call}"
            );
        }
    }

    #[test]
    fn with_network_connect_stays_and_unix_sockets_go() {
        let list = deny_list(true);
        assert!(!list.iter().any(|d| d.name == "connect"));
        let socket: Vec<&When> = list
            .iter()
            .filter(|d| d.name == "socket")
            .map(|d| &d.when)
            .collect();
        assert_eq!(socket, [&When::NotIn(0, INET_ONLY)]);
    }

    #[test]
    fn the_program_is_small_and_checks_the_arch_first() {
        for net in [false, true] {
            let p = compiled(net).unwrap().program;
            assert!(p.len() < 128, "{} instructions", p.len());
            assert_eq!(
                (p[0].code, p[0].k),
                (crate::bpf::LD_W_ABS, crate::bpf::ARCH)
            );
            assert_eq!(
                (p[2].code, p[2].k),
                (crate::bpf::RET_K, libc::SECCOMP_RET_KILL_PROCESS)
            );
        }
    }
}
