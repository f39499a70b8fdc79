//! Deciding, in the parent and as a pure function of the policy and the
//! probed capabilities, which layers a run gets, whether `enforce` must
//! refuse, and how the result is labelled.

use std::fmt;

use crate::error::SandboxError;
use crate::landlock::FULL_ABI;
use crate::policy::{Backend, Mode, Policy};
use crate::probe::Capabilities;

/// Landlock features (by ABI) this crate would use but `abi` lacks.
pub(crate) fn missing_features(abi: u32) -> Vec<&'static str> {
    let mut out = Vec::new();
    if abi < 2 {
        out.push("no rename/link across dirs (denied outright)");
    }
    if abi < 3 {
        out.push("truncate not covered");
    }
    if abi < 4 {
        out.push("no tcp port rules");
    }
    if abi < 5 {
        out.push("device ioctls not covered");
    }
    if abi < FULL_ABI {
        out.push("no signal/abstract-socket scopes");
    }
    out
}

/// What held for one run; `Display` is the label every result carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforcement {
    pub mode: Mode,
    /// ABI the Landlock ruleset was built for and applied at.
    pub landlock_abi: Option<u32>,
    /// The namespace backend confined the command (private mount view,
    /// own PID, IPC and UTS namespaces).
    pub namespaces: bool,
    /// ... including its own, empty network namespace (not when
    /// `allow_net_ports` needs the host network).
    pub net_namespace: bool,
    pub seccomp: bool,
    /// The uid the tool switched to, when picoclaw was root.
    pub switched_uid: Option<u32>,
    /// The tool runs with uid 0.
    pub as_root: bool,
    /// Layers the policy wanted that did not hold (best_effort only).
    pub missing: Vec<String>,
}

impl Enforcement {
    /// Everything this crate knows how to apply held.
    pub fn is_full(&self) -> bool {
        let fs = self.landlock_abi.is_some_and(|a| a >= FULL_ABI) || self.namespaces;
        self.mode != Mode::Off && fs && self.seccomp && self.missing.is_empty()
    }

    /// Which filesystem backends held: "landlock", "namespaces", "both"
    /// or "none".
    pub fn backends(&self) -> &'static str {
        match (self.landlock_abi.is_some(), self.namespaces) {
            (true, true) => "both",
            (true, false) => "landlock",
            (false, true) => "namespaces",
            (false, false) => "none",
        }
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mode == Mode::Off {
            return f.write_str("NONE (sandbox.mode=off)");
        }
        match self.landlock_abi {
            Some(abi) if abi >= FULL_ABI => write!(f, "landlock(abi {abi}, full)")?,
            Some(abi) => write!(f, "landlock(abi {abi}, partial)")?,
            None if self.namespaces => {}
            None => f.write_str("NO-landlock")?,
        }
        if self.namespaces {
            if self.landlock_abi.is_some() {
                f.write_str("+")?;
            }
            f.write_str(if self.net_namespace {
                "namespaces"
            } else {
                "namespaces(host-net)"
            })?;
        }
        f.write_str(if self.seccomp {
            "+seccomp"
        } else {
            "+NO-seccomp"
        })?;
        f.write_str("+rlimits")?;
        if let Some(uid) = self.switched_uid {
            write!(f, "+uid {uid}")?;
        } else if self.as_root {
            f.write_str("+AS-ROOT")?;
        }
        if !self.missing.is_empty() {
            write!(f, " [best_effort, missing: {}]", self.missing.join("; "))?;
        }
        Ok(())
    }
}

/// How the namespace backend is set up for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NsChoice {
    /// Also a user namespace (picoclaw lacks CAP_SYS_ADMIN).
    pub user: bool,
    /// A fresh network namespace (no `allow_net_ports`).
    pub net: bool,
}

/// The parent's plan for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub landlock_abi: Option<u32>,
    pub namespaces: Option<NsChoice>,
    pub seccomp: bool,
    pub ids: Option<(u32, u32)>,
    pub enforcement: Enforcement,
}

/// Picks the layers for `policy` on a kernel with `caps` and lists what
/// the policy relies on but would not hold. Each protection needs one
/// layer that provides it:
///
/// - filesystem confinement: namespaces, or Landlock ABI 3 (truncate);
/// - picoclaw safe from signals when the tool keeps its uid: the PID
///   namespace, or Landlock ABI 6 (signal scope); a different uid is
///   stopped by DAC, and /proc/<pid>/environ and ptrace by Landlock's
///   ptrace restriction at any ABI and by seccomp;
/// - TCP port filtering for `allow_net_ports`: Landlock ABI 4 only (the
///   namespace backend then keeps the host network);
/// - seccomp, and a tool that is not root.
pub(crate) fn decide(policy: &Policy, caps: &Capabilities) -> Result<Decision, SandboxError> {
    if policy.mode == Mode::Off {
        return Ok(Decision {
            landlock_abi: None,
            namespaces: None,
            seccomp: false,
            ids: None,
            enforcement: Enforcement {
                mode: Mode::Off,
                landlock_abi: None,
                namespaces: false,
                net_namespace: false,
                seccomp: false,
                switched_uid: None,
                as_root: caps.is_root,
                missing: Vec::new(),
            },
        });
    }
    let (want_ll, want_ns) = match policy.backend {
        Backend::Auto | Backend::Both => (true, true),
        Backend::Landlock => (true, false),
        Backend::Namespaces => (false, true),
    };
    let landlock_abi = caps.landlock_abi.filter(|_| want_ll);
    let namespaces = (want_ns && caps.namespaces).then_some(NsChoice {
        user: caps.user_namespace,
        net: policy.allow_net_ports.is_empty(),
    });
    // Switching ids needs root; a non-root picoclaw keeps its own uid, and
    // so does a user namespace, which maps only picoclaw's uid.
    let ids = policy
        .run_as
        .filter(|(uid, _)| caps.is_root && *uid != 0)
        .filter(|_| namespaces.is_none_or(|n| !n.user));
    let same_uid = ids.is_none();
    let as_root = caps.is_root && same_uid;

    let mut missing = Vec::new();
    let strict_both = policy.backend == Backend::Both;
    if (policy.backend == Backend::Landlock || strict_both) && caps.landlock_abi.is_none() {
        missing.push("landlock unavailable".to_string());
    }
    if (policy.backend == Backend::Namespaces || strict_both) && !caps.namespaces {
        missing.push(ns_unavailable(caps));
    }
    let abi = landlock_abi.unwrap_or(0);
    let ns = namespaces.is_some();
    if landlock_abi.is_none() && !ns {
        if policy.backend == Backend::Auto {
            missing.push(format!(
                "no filesystem confinement (landlock unavailable; {})",
                ns_unavailable(caps)
            ));
        }
    } else if !ns && abi < 3 {
        missing.push(format!("landlock abi {abi} < 3 (truncate not covered)"));
    }
    if same_uid && !ns && landlock_abi.is_some() && abi < 6 {
        missing.push(format!(
            "landlock abi {abi} < 6 (the tool keeps picoclaw's uid, so only the signal scope protects picoclaw)"
        ));
    }
    if !policy.allow_net_ports.is_empty() && abi < 4 {
        missing.push(match landlock_abi {
            Some(abi) => format!("landlock abi {abi} < 4 (allow_net_ports needs tcp port rules)"),
            None => "allow_net_ports needs landlock tcp port rules (abi 4)".to_string(),
        });
    }
    if !caps.seccomp || !caps.no_new_privs {
        missing.push("seccomp unavailable".to_string());
    }
    if as_root {
        missing.push(
            "tool would run as root (chmod/chown and capabilities escape the sandbox; set run_as)"
                .to_string(),
        );
    }
    if policy.mode == Mode::Enforce && !missing.is_empty() {
        return Err(SandboxError::Unavailable(format!(
            "sandbox.mode=enforce (backend {}) needs: {}",
            policy.backend.as_str(),
            missing.join("; ")
        )));
    }
    let seccomp = caps.seccomp && caps.no_new_privs;
    Ok(Decision {
        landlock_abi,
        namespaces,
        seccomp,
        ids,
        enforcement: Enforcement {
            mode: policy.mode,
            landlock_abi,
            namespaces: ns,
            net_namespace: namespaces.is_some_and(|n| n.net),
            seccomp,
            switched_uid: ids.map(|(u, _)| u),
            as_root,
            missing,
        },
    })
}

fn ns_unavailable(caps: &Capabilities) -> String {
    if caps.is_root {
        "namespaces unavailable (kernel without them, or no CAP_SYS_ADMIN)".to_string()
    } else {
        "namespaces unavailable (not root and unprivileged user namespaces are disabled)"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(abi: Option<u32>, root: bool) -> Capabilities {
        Capabilities {
            landlock_abi: abi,
            seccomp: true,
            no_new_privs: true,
            uid: if root { 0 } else { 1000 },
            gid: 0,
            is_root: root,
            namespaces: false,
            user_namespace: false,
            arch: "x86_64",
        }
    }

    #[test]
    fn enforce_needs_abi_6_when_the_tool_keeps_picoclaws_uid() {
        let policy = Policy::new("/ws");
        let err = decide(&policy, &caps(Some(5), false)).unwrap_err();
        assert!(err.to_string().contains("landlock abi 5 < 6"), "{err}");
        let d = decide(&policy, &caps(Some(6), false)).unwrap();
        assert_eq!(
            d.enforcement.to_string(),
            "landlock(abi 6, full)+seccomp+rlimits"
        );
    }

    #[test]
    fn root_with_run_as_needs_abi_3_and_switches_ids() {
        let mut policy = Policy::new("/ws");
        policy.run_as = Some((65534, 65533));
        let d = decide(&policy, &caps(Some(3), true)).unwrap();
        assert_eq!(d.ids, Some((65534, 65533)));
        assert_eq!(
            d.enforcement.to_string(),
            "landlock(abi 3, partial)+seccomp+rlimits+uid 65534"
        );
        assert!(decide(&policy, &caps(Some(2), true)).is_err());
    }

    #[test]
    fn best_effort_lists_every_missing_layer() {
        let mut policy = Policy::new("/ws");
        policy.mode = Mode::BestEffort;
        let mut c = caps(None, true);
        c.seccomp = false;
        let d = decide(&policy, &c).unwrap();
        assert_eq!(
            d.enforcement.missing,
            [
                "no filesystem confinement (landlock unavailable; namespaces unavailable (kernel without them, or no CAP_SYS_ADMIN))",
                "seccomp unavailable",
                "tool would run as root (chmod/chown and capabilities escape the sandbox; set run_as)"
            ]
        );
        assert!(!d.enforcement.is_full());
    }

    fn with_ns(mut c: Capabilities) -> Capabilities {
        c.namespaces = true;
        c.user_namespace = !c.is_root;
        c
    }

    #[test]
    fn auto_uses_both_layers_when_both_exist_and_namespaces_alone_without_landlock() {
        let mut policy = Policy::new("/ws");
        policy.run_as = Some((65534, 65534));
        let both = decide(&policy, &with_ns(caps(Some(7), true))).unwrap();
        assert_eq!(
            both.enforcement.to_string(),
            "landlock(abi 7, full)+namespaces+seccomp+rlimits+uid 65534"
        );
        assert_eq!(both.enforcement.backends(), "both");
        let ns = decide(&policy, &with_ns(caps(None, true))).unwrap();
        assert_eq!(
            ns.enforcement.to_string(),
            "namespaces+seccomp+rlimits+uid 65534"
        );
        assert_eq!(
            ns.namespaces,
            Some(NsChoice {
                user: false,
                net: true
            })
        );
        let err = decide(&policy, &caps(None, true)).unwrap_err();
        assert!(
            err.to_string().contains("no filesystem confinement"),
            "{err}"
        );
    }

    #[test]
    fn the_pid_namespace_stands_in_for_the_signal_scope_of_an_old_landlock() {
        // Non-root picoclaw on a 5.15-style kernel (ABI 1): Landlock alone
        // is refused, Landlock plus a user namespace is enough.
        let policy = Policy::new("/ws");
        assert!(decide(&policy, &caps(Some(1), false)).is_err());
        let d = decide(&policy, &with_ns(caps(Some(1), false))).unwrap();
        assert_eq!(
            d.namespaces,
            Some(NsChoice {
                user: true,
                net: true
            })
        );
        assert_eq!(
            d.enforcement.to_string(),
            "landlock(abi 1, partial)+namespaces+seccomp+rlimits"
        );
    }

    #[test]
    fn an_explicit_backend_that_is_missing_is_refused_under_enforce() {
        let mut policy = Policy::new("/ws");
        policy.run_as = Some((65534, 65534));
        policy.backend = Backend::Both;
        let err = decide(&policy, &caps(Some(7), true)).unwrap_err();
        assert!(err.to_string().contains("namespaces unavailable"), "{err}");
        policy.backend = Backend::Landlock;
        let err = decide(&policy, &with_ns(caps(None, true))).unwrap_err();
        assert!(err.to_string().contains("landlock unavailable"), "{err}");
        policy.backend = Backend::Namespaces;
        let d = decide(&policy, &with_ns(caps(Some(7), true))).unwrap();
        assert_eq!(
            (d.landlock_abi, d.enforcement.backends()),
            (None, "namespaces")
        );
    }

    #[test]
    fn allowed_tcp_ports_keep_the_host_network_and_need_landlock_port_rules() {
        let mut policy = Policy::new("/ws");
        policy.run_as = Some((65534, 65534));
        policy.allow_net_ports = vec![443];
        let d = decide(&policy, &with_ns(caps(Some(7), true))).unwrap();
        assert_eq!(
            d.enforcement.to_string(),
            "landlock(abi 7, full)+namespaces(host-net)+seccomp+rlimits+uid 65534"
        );
        let err = decide(&policy, &with_ns(caps(None, true))).unwrap_err();
        assert!(err.to_string().contains("tcp port rules"), "{err}");
    }
}
