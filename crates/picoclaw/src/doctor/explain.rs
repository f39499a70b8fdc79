//! `picoclaw sandbox explain` and the sandbox lines of `doctor`: the
//! sandbox crate's plan ([`picoclaw_sandbox::effective`]) in words.

use std::fmt::Write;

use picoclaw_sandbox::{
    effective, Backend, Capabilities, Effective, LandlockRules, Mode, Mount, MountView, Policy,
    SeccompRules,
};

/// The effective rules of `policy` on this kernel, one per line. Paths
/// are listed as planned now; `/etc` entries created later are not
/// covered until the next command.
pub fn explain(policy: &Policy, caps: &Capabilities) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "mode: {}", policy.mode.as_str());
    let e = match effective(policy, caps) {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(s, "verdict: {e}");
            return s;
        }
    };
    let _ = writeln!(s, "label: {}", e.enforcement);
    if policy.mode == Mode::Off {
        let _ = writeln!(
            s,
            "no confinement; environment cleared, rlimits and timeout only"
        );
    }
    identity(&mut s, policy, caps, &e);
    if let Some(ll) = &e.landlock {
        landlock(&mut s, ll);
    }
    if let Some(ns) = &e.namespaces {
        namespaces(&mut s, ns);
    }
    if let Some(sc) = &e.seccomp {
        seccomp(&mut s, sc);
    }
    let l = &policy.limits;
    let _ = writeln!(
        s,
        "limits: timeout {} s, cpu {} s, address space {} MiB, file size {} MiB, {} open files, {} processes, output {} KiB (keep {} KiB), core 0",
        l.timeout.as_secs(),
        l.cpu_secs,
        l.address_space_bytes >> 20,
        l.file_size_bytes >> 20,
        l.open_files,
        l.processes,
        l.output_bytes >> 10,
        l.keep_bytes >> 10,
    );
    let _ = writeln!(s, "environment: PATH LANG HOME TMPDIR TERM only");
    s
}

fn identity(s: &mut String, policy: &Policy, caps: &Capabilities, e: &Effective) {
    match &e.workspace {
        Ok(ws) => {
            let _ = writeln!(s, "workspace (cwd, HOME): {}", ws.display());
        }
        Err(err) => {
            let _ = writeln!(s, "workspace: {err}");
        }
    }
    let _ = writeln!(
        s,
        "TMPDIR: {} (created per command, removed after)",
        policy.tmp_root.join("<per-command>").display()
    );
    let ids = match e.switch_to {
        Some((u, g)) => format!("uid {u} gid {g}, no supplementary groups"),
        None => format!("unchanged (uid {})", caps.uid),
    };
    let _ = writeln!(s, "user: {ids}");
}

fn landlock(s: &mut String, ll: &LandlockRules) {
    let _ = writeln!(
        s,
        "landlock abi {}, allowed (everything else denied):",
        ll.abi
    );
    match &ll.paths {
        Ok(list) => {
            for r in list {
                let _ = writeln!(s, "  {:<24} {}", r.access, r.path.display());
            }
        }
        Err(e) => {
            let _ = writeln!(s, "  {e}");
        }
    }
    let names: Vec<String> = ll.hidden.iter().map(|h| h.display().to_string()).collect();
    let _ = writeln!(s, "  hidden: {}", names.join(", "));
    if let Some(ports) = &ll.tcp_connect {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let _ = writeln!(
            s,
            "  tcp connect ports: {}; tcp bind: none",
            if ports.is_empty() {
                "none".to_string()
            } else {
                ports.join(", ")
            }
        );
    }
    if ll.scoped {
        let _ = writeln!(
            s,
            "  scopes: no signals or abstract unix sockets outside the sandbox"
        );
    }
}

fn namespaces(s: &mut String, ns: &MountView) {
    let _ = writeln!(
        s,
        "namespaces: mount, pid, ipc, uts{}{}; private root, everything else absent:",
        if ns.net_namespace {
            ", net (no network at all)"
        } else {
            " (host network kept for allow_net_ports)"
        },
        if ns.user_namespace { ", user" } else { "" },
    );
    let mounts = match &ns.mounts {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(s, "  {e}");
            return;
        }
    };
    for m in mounts {
        let line = match m {
            Mount::Symlink { at, target } => {
                format!("symlink   {} -> {}", at.display(), target.display())
            }
            Mount::Bind { at, from, writable } => format!(
                "bind {}   {}{}",
                if *writable { "rw" } else { "ro" },
                at.display(),
                if from != at {
                    format!(" <- {}", from.display())
                } else {
                    String::new()
                }
            ),
            Mount::HiddenFile(p) => format!("bind ro   {} (hidden: empty file)", p.display()),
            Mount::ReadOnlySubmount(p) => format!("remount ro {} (submount)", p.display()),
            Mount::HiddenDir(p) => format!("tmpfs     {} (hidden: empty dir)", p.display()),
            Mount::Proc(p) => format!("proc      {} (own PID namespace)", p.display()),
            _ => format!("{m:?}"),
        };
        let _ = writeln!(s, "  {line}");
    }
}

fn seccomp(s: &mut String, sc: &SeccompRules) {
    let _ = writeln!(s, "seccomp EPERM: {}", sc.denied.join(" "));
    let _ = writeln!(
        s,
        "seccomp ENOSYS: clone3 (libc falls back to clone, whose flags are checked)"
    );
    if sc.network {
        let _ = writeln!(
            s,
            "network: AF_INET/AF_INET6 sockets only; TCP limited to the ports above by Landlock; \
             UDP is NOT filtered; unix sockets denied (connect() cannot be told apart)"
        );
    } else {
        let _ = writeln!(
            s,
            "network: none (only AF_UNIX stream sockets; connect/bind/listen/accept denied)"
        );
    }
}

/// Several lines for `doctor`: what the kernel offers and what `mode`
/// would do with it for a default policy (no network, tools switched to
/// an unprivileged uid when root), under each backend.
pub fn describe(caps: &Capabilities, mode: Mode) -> String {
    let gaps = caps.landlock_gaps();
    let landlock = match caps.landlock_abi {
        Some(abi) if gaps.is_empty() => format!("yes, ABI {abi} (all features used)"),
        Some(abi) => format!("yes, ABI {abi} (partial: {})", gaps.join(", ")),
        None => "NO (kernel < 5.13, or not in the lsm= list)".to_string(),
    };
    let yes = |b: bool| if b { "yes" } else { "NO" };
    let namespaces = match (caps.namespaces, caps.user_namespace) {
        (true, false) => "yes (as root)",
        (true, true) => "yes (through an unprivileged user namespace)",
        (false, _) if caps.is_root => "NO (kernel without namespaces, or no CAP_SYS_ADMIN)",
        (false, _) => "NO (not root, and unprivileged user namespaces are disabled)",
    };
    let mut out = format!(
        "arch: {}\nuser: uid {} gid {}{}\nlandlock: {landlock}\nnamespaces: {namespaces}\nseccomp: {}\nno_new_privs: {}\n",
        caps.arch,
        caps.uid,
        caps.gid,
        if caps.is_root { " (root: tools must run_as an unprivileged uid)" } else { "" },
        yes(caps.seccomp),
        yes(caps.no_new_privs),
    );
    let mut policy = Policy::new("/nonexistent-workspace");
    policy.mode = mode;
    if caps.is_root {
        policy.run_as = Some((65534, 65534));
    }
    for backend in [
        Backend::Auto,
        Backend::Landlock,
        Backend::Namespaces,
        Backend::Both,
    ] {
        policy.backend = backend;
        let verdict = match effective(&policy, caps) {
            Ok(e) => format!("runs commands as {}", e.enforcement),
            Err(e) => format!("{e}"),
        };
        let _ = writeln!(
            out,
            "mode {} backend {}: {verdict}",
            mode.as_str(),
            backend.as_str()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root and a kernel with Landlock, like the sandbox crate's
    /// adversarial suite.
    #[test]
    fn explain_lists_the_effective_rules() {
        let root = std::env::temp_dir().join(format!("picoclaw-explain-{}", std::process::id()));
        let ws = root.join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let ws = ws.canonicalize().unwrap();
        let mut policy = Policy::new(&ws);
        policy.run_as = Some((65534, 65534));
        policy.tmp_root = root.join("tmp");
        let text = explain(&policy, &picoclaw_sandbox::probe());
        for needle in [
            "mode: enforce",
            &format!("read+write+exec+create   {}", ws.display()),
            "read+exec                /usr",
            "read                     /proc",
            "/etc/shadow",
            "tcp connect ports: none",
            "seccomp EPERM: ptrace",
            "network: none",
            "user: uid 65534 gid 65534",
            "namespaces: mount, pid, ipc, uts, net (no network at all)",
            "bind ro   /etc/shadow (hidden: empty file)",
            "proc      /proc (own PID namespace)",
            &format!("bind rw   {}", ws.display()),
            "bind rw   /tmp <- ",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        // Landlock grants /etc entry by entry, never the whole directory.
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("  read") && l.ends_with(" /etc")),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn describe_names_a_verdict_for_every_backend() {
        let text = describe(&picoclaw_sandbox::probe(), Mode::Enforce);
        for backend in ["auto", "landlock", "namespaces", "both"] {
            let line = format!("mode enforce backend {backend}: runs commands as ");
            assert!(text.contains(&line), "missing {line:?} in:\n{text}");
        }
        assert!(text.contains("landlock: yes, ABI"), "{text}");
    }
}
