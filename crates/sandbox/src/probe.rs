//! What this kernel and user offer.

use crate::landlock;

/// The kernel features and identity the sandbox depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Landlock ABI version; `None` when the kernel lacks it or it is not
    /// enabled in the LSM list.
    pub landlock_abi: Option<u32>,
    pub seccomp: bool,
    pub no_new_privs: bool,
    pub uid: u32,
    pub gid: u32,
    pub is_root: bool,
    /// This process can create the namespace backend's namespaces
    /// (checked once per process by a trial clone).
    pub namespaces: bool,
    /// ... and needs a user namespace for it (no CAP_SYS_ADMIN).
    pub user_namespace: bool,
    pub arch: &'static str,
}

/// Asks the kernel; cheap (a few syscalls; the namespace trial runs once
/// per process), so callers need not cache.
pub fn probe() -> Capabilities {
    let ns = crate::ns::probe();
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let nnp = nix::sys::prctl::get_no_new_privs().is_ok();
    Capabilities {
        landlock_abi: landlock::probe_abi(),
        seccomp: crate::seccomp::available(),
        no_new_privs: nnp,
        uid,
        gid,
        is_root: uid == 0,
        namespaces: ns.is_some(),
        user_namespace: ns == Some(true),
        arch: std::env::consts::ARCH,
    }
}

impl Capabilities {
    /// Landlock features this crate uses that the kernel's ABI lacks;
    /// empty when it has them all, or has no Landlock at all.
    pub fn landlock_gaps(&self) -> Vec<&'static str> {
        self.landlock_abi
            .map(crate::enforce::missing_features)
            .unwrap_or_default()
    }
}
