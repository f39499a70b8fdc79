//! Deciding, in the parent and as a pure function of the policy and the
//! probed capabilities, which layers a run gets, whether `enforce` must
//! refuse, and how the result is labelled.

use std::fmt;

use crate::error::SandboxError;
use crate::landlock::FULL_ABI;
use crate::policy::{Mode, Policy};
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

/// The Landlock ABI `enforce` needs for this policy and reason.
///
/// - 3 always: filesystem rules including truncate.
/// - 4 when TCP ports are allowed: port rules are the only port filter.
/// - 6 when the tool keeps picoclaw's uid: then only the signal scope
///   stops it from killing picoclaw (a different uid is stopped by DAC;
///   /proc/<pid>/environ and ptrace are covered by Landlock's ptrace
///   restriction at any ABI, and by seccomp).
pub(crate) fn required_abi(policy: &Policy, same_uid: bool) -> (u32, &'static str) {
    if same_uid {
        (
            6,
            "the tool keeps picoclaw's uid, so only the signal scope protects picoclaw",
        )
    } else if !policy.allow_net_ports.is_empty() {
        (4, "allow_net_ports needs tcp port rules")
    } else {
        (3, "filesystem rules incl. truncate")
    }
}

/// What held for one run; `Display` is the label every result carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforcement {
    pub mode: Mode,
    /// ABI the Landlock ruleset was built for and applied at.
    pub landlock_abi: Option<u32>,
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
        self.mode != Mode::Off
            && self.landlock_abi.is_some_and(|a| a >= FULL_ABI)
            && self.seccomp
            && self.missing.is_empty()
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
            None => f.write_str("NO-landlock")?,
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

/// The parent's plan for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub landlock_abi: Option<u32>,
    pub seccomp: bool,
    pub ids: Option<(u32, u32)>,
    pub enforcement: Enforcement,
}

pub(crate) fn decide(policy: &Policy, caps: &Capabilities) -> Result<Decision, SandboxError> {
    if policy.mode == Mode::Off {
        return Ok(Decision {
            landlock_abi: None,
            seccomp: false,
            ids: None,
            enforcement: Enforcement {
                mode: Mode::Off,
                landlock_abi: None,
                seccomp: false,
                switched_uid: None,
                as_root: caps.is_root,
                missing: Vec::new(),
            },
        });
    }
    // Switching ids needs root; a non-root picoclaw keeps its own uid.
    let ids = policy.run_as.filter(|(uid, _)| caps.is_root && *uid != 0);
    let same_uid = ids.is_none();
    let as_root = caps.is_root && same_uid;
    let (need_abi, why) = required_abi(policy, same_uid);

    let mut missing = Vec::new();
    match caps.landlock_abi {
        None => missing.push("landlock unavailable".to_string()),
        Some(abi) if abi < need_abi => {
            missing.push(format!("landlock abi {abi} < {need_abi} ({why})"));
        }
        Some(_) => {}
    }
    if !caps.seccomp || !caps.no_new_privs {
        missing.push("seccomp unavailable".to_string());
    }
    if as_root {
        missing.push(
            "tool would run as root (chmod/chown and capabilities escape Landlock; set run_as)"
                .to_string(),
        );
    }
    if policy.mode == Mode::Enforce && !missing.is_empty() {
        return Err(SandboxError::Unavailable(format!(
            "sandbox.mode=enforce needs: {}",
            missing.join("; ")
        )));
    }
    let seccomp = caps.seccomp && caps.no_new_privs;
    Ok(Decision {
        landlock_abi: caps.landlock_abi,
        seccomp,
        ids,
        enforcement: Enforcement {
            mode: policy.mode,
            landlock_abi: caps.landlock_abi,
            seccomp,
            switched_uid: ids.map(|(u, _)| u),
            as_root,
            missing,
        },
    })
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
                "landlock unavailable",
                "seccomp unavailable",
                "tool would run as root (chmod/chown and capabilities escape Landlock; set run_as)"
            ]
        );
        assert!(!d.enforcement.is_full());
    }
}
