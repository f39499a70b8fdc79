//! What this kernel and user offer, and what each mode would make of it.

use crate::landlock::{self, FULL_ABI};
use crate::policy::{Backend, Mode};

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
    // SAFETY: query-only calls without pointers.
    let (uid, gid, nnp) = unsafe {
        (
            libc::geteuid(),
            libc::getegid(),
            libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) >= 0,
        )
    };
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
    /// Several lines for `picoclaw doctor`: what the kernel offers and what
    /// `mode` would do with it for a default policy (no network, tools
    /// switched to an unprivileged uid when root).
    pub fn describe(&self, mode: Mode) -> String {
        let landlock = match self.landlock_abi {
            Some(abi) if abi >= FULL_ABI => format!("yes, ABI {abi} (all features used)"),
            Some(abi) => format!(
                "yes, ABI {abi} (partial: {})",
                crate::enforce::missing_features(abi).join(", ")
            ),
            None => "NO (kernel < 5.13, or not in the lsm= list)".to_string(),
        };
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let namespaces = match (self.namespaces, self.user_namespace) {
            (true, false) => "yes (as root)",
            (true, true) => "yes (through an unprivileged user namespace)",
            (false, _) if self.is_root => "NO (kernel without namespaces, or no CAP_SYS_ADMIN)",
            (false, _) => "NO (not root, and unprivileged user namespaces are disabled)",
        };
        let mut out = format!(
            "arch: {}\nuser: uid {} gid {}{}\nlandlock: {landlock}\nnamespaces: {namespaces}\nseccomp: {}\nno_new_privs: {}\n",
            self.arch,
            self.uid,
            self.gid,
            if self.is_root { " (root: tools must run_as an unprivileged uid)" } else { "" },
            yes(self.seccomp),
            yes(self.no_new_privs),
        );
        let mut policy = crate::Policy::new("/nonexistent-workspace");
        policy.mode = mode;
        if self.is_root {
            policy.run_as = Some((65534, 65534));
        }
        for backend in [
            Backend::Auto,
            Backend::Landlock,
            Backend::Namespaces,
            Backend::Both,
        ] {
            policy.backend = backend;
            let verdict = match crate::enforce::decide(&policy, self) {
                Ok(d) => format!("runs commands as {}", d.enforcement),
                Err(e) => format!("{e}"),
            };
            out.push_str(&format!(
                "mode {} backend {}: {verdict}\n",
                mode.as_str(),
                backend.as_str()
            ));
        }
        out
    }
}
