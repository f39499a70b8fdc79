//! What a policy means on this kernel, as data: the label, the Landlock
//! path rules, the namespace mount view and the seccomp deny list. The
//! binary's doctor puts it into words (`picoclaw sandbox explain`); this
//! crate only plans, it does not diagnose.

use std::path::{Path, PathBuf};

use crate::enforce::{decide, Enforcement};
use crate::error::SandboxError;
use crate::landlock::{has_port_rules, has_scopes, RealFs};
use crate::policy::Policy;
use crate::probe::Capabilities;
use crate::{ns, rules, seccomp};

/// Everything a run of `policy` would get, planned now: `/etc` entries
/// created later are covered by the next command's plan, not this one.
#[derive(Debug)]
#[non_exhaustive]
pub struct Effective {
    /// The label a run would carry.
    pub enforcement: Enforcement,
    /// The canonical workspace (cwd and `$HOME`), or why it is refused.
    pub workspace: Result<PathBuf, SandboxError>,
    /// `(uid, gid)` the tool switches to; `None` keeps picoclaw's.
    pub switch_to: Option<(u32, u32)>,
    pub landlock: Option<LandlockRules>,
    /// `None` also when the workspace is refused (nothing to plan).
    pub namespaces: Option<MountView>,
    pub seccomp: Option<SeccompRules>,
}

#[derive(Debug)]
#[non_exhaustive]
pub struct LandlockRules {
    pub abi: u32,
    /// What is allowed; everything else is denied. The per-command tmp
    /// dir is shown as `<tmp_root>/<per-command>`.
    pub paths: Result<Vec<PathRule>, SandboxError>,
    /// Never readable, even below an allowed root.
    pub hidden: Vec<PathBuf>,
    /// Ports `connect()` may reach over TCP (binding none); `None` when
    /// this ABI has no port rules.
    pub tcp_connect: Option<Vec<u16>>,
    /// Signals and abstract unix sockets stay inside the sandbox (ABI 6).
    pub scoped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub path: PathBuf,
    /// `read+exec`, `read`, `read+write` or `read+write+exec+create`.
    pub access: &'static str,
}

#[derive(Debug)]
#[non_exhaustive]
pub struct MountView {
    pub user_namespace: bool,
    /// An empty network namespace (no `allow_net_ports`).
    pub net_namespace: bool,
    /// The private root, in mount order; nothing else exists inside.
    pub mounts: Result<Vec<Mount>, SandboxError>,
}

/// One step of the private root, with paths as seen from inside.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mount {
    Symlink {
        at: PathBuf,
        target: PathBuf,
    },
    /// `from` on the host bound at `at` (usually the same path).
    Bind {
        at: PathBuf,
        from: PathBuf,
        writable: bool,
    },
    /// A submount of a bound root, made read-only too.
    ReadOnlySubmount(PathBuf),
    /// A hidden file under a bound root, covered by an empty file.
    HiddenFile(PathBuf),
    /// A hidden directory under a bound root, covered by an empty tmpfs.
    HiddenDir(PathBuf),
    /// A fresh procfs for the command's own PID namespace.
    Proc(PathBuf),
}

#[derive(Debug)]
#[non_exhaustive]
pub struct SeccompRules {
    /// Refused with EPERM (some only for some arguments, such as `clone`
    /// with namespace flags); `clone3` gets ENOSYS so libc falls back to
    /// `clone`, whose flags are checked.
    pub denied: Vec<&'static str>,
    /// `allow_net_ports` is set: inet sockets work (TCP limited by
    /// Landlock, UDP unfiltered) and unix sockets are denied, because
    /// `connect()`'s address family cannot be seen by seccomp.
    pub network: bool,
}

/// What a run of `policy` would get on a kernel with `caps`. `Err` is the
/// refusal [`crate::run`] would return (enforce, a layer missing).
pub fn effective(policy: &Policy, caps: &Capabilities) -> Result<Effective, SandboxError> {
    let decision = decide(policy, caps)?;
    let workspace = rules::check_workspace(policy);
    let tmp = policy.tmp_root.join("<per-command>");
    let landlock = decision.landlock_abi.map(|abi| {
        let ws = workspace
            .as_deref()
            .unwrap_or(Path::new("<workspace>"))
            .to_path_buf();
        let paths = rules::fs_rules(policy, &[&ws, &tmp], &RealFs).map(|list| {
            list.into_iter()
                .map(|r| PathRule {
                    path: r.path,
                    access: r.access.label(),
                })
                .collect()
        });
        LandlockRules {
            abi,
            paths,
            hidden: rules::hidden(policy),
            tcp_connect: has_port_rules(abi).then(|| policy.allow_net_ports.clone()),
            scoped: has_scopes(abi),
        }
    });
    let namespaces = match (decision.namespaces, &workspace) {
        (Some(choice), Ok(ws)) => {
            let stage = policy.tmp_root.join(".newroot");
            let mounts = ns::plan(policy, ws, &tmp, &stage, choice.user, choice.net)
                .map(|plan| ns::mounts(&plan));
            Some(MountView {
                user_namespace: choice.user,
                net_namespace: choice.net,
                mounts,
            })
        }
        _ => None,
    };
    let seccomp = decision.seccomp.then(|| {
        let network = !policy.allow_net_ports.is_empty();
        let mut denied: Vec<&'static str> =
            seccomp::deny_list(network).iter().map(|d| d.name).collect();
        denied.dedup();
        SeccompRules { denied, network }
    });
    Ok(Effective {
        enforcement: decision.enforcement,
        workspace,
        switch_to: decision.ids,
        landlock,
        namespaces,
        seccomp,
    })
}
