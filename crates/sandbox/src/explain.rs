//! `picoclaw sandbox explain`: the effective rules of a policy on this
//! kernel, in words.

use std::fmt::Write;
use std::path::Path;

use crate::enforce::decide;
use crate::landlock::{handled_net, scopes, RealFs};
use crate::policy::{Mode, Policy};
use crate::probe::Capabilities;
use crate::{rules, seccomp};

/// The effective rules, one per line. Paths are listed as planned now;
/// `/etc` entries created later are not covered until the next command.
pub fn explain(policy: &Policy, caps: &Capabilities) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "mode: {}", policy.mode.as_str());
    let decision = match decide(policy, caps) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(s, "verdict: {e}");
            return s;
        }
    };
    let _ = writeln!(s, "label: {}", decision.enforcement);
    if policy.mode == Mode::Off {
        let _ = writeln!(
            s,
            "no confinement; environment cleared, rlimits and timeout only"
        );
    }
    let ws = rules::check_workspace(policy);
    let tmp = policy.tmp_root.join("<per-command>");
    match &ws {
        Ok(ws) => {
            let _ = writeln!(s, "workspace (cwd, HOME): {}", ws.display());
        }
        Err(e) => {
            let _ = writeln!(s, "workspace: {e}");
        }
    }
    let _ = writeln!(
        s,
        "TMPDIR: {} (created per command, removed after)",
        tmp.display()
    );
    let ids = match decision.ids {
        Some((u, g)) => format!("uid {u} gid {g}, no supplementary groups"),
        None => format!("unchanged (uid {})", caps.uid),
    };
    let _ = writeln!(s, "user: {ids}");
    if let Some(abi) = decision.landlock_abi {
        let ws_path = ws.as_deref().unwrap_or(Path::new("<workspace>"));
        let _ = writeln!(s, "landlock abi {abi}, allowed (everything else denied):");
        match rules::fs_rules(policy, &[ws_path, &tmp], &RealFs) {
            Ok(list) => {
                for r in list {
                    let _ = writeln!(s, "  {:<24} {}", r.access.label(), r.path.display());
                }
            }
            Err(e) => {
                let _ = writeln!(s, "  {e}");
            }
        }
        let hidden = rules::hidden(policy);
        let names: Vec<String> = hidden.iter().map(|h| h.display().to_string()).collect();
        let _ = writeln!(s, "  hidden: {}", names.join(", "));
        if handled_net(abi) != 0 {
            let ports: Vec<String> = policy.allow_net_ports.iter().map(u16::to_string).collect();
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
        if scopes(abi) != 0 {
            let _ = writeln!(
                s,
                "  scopes: no signals or abstract unix sockets outside the sandbox"
            );
        }
    }
    if let (Some(choice), Ok(ws)) = (decision.namespaces, &ws) {
        let _ = writeln!(
            s,
            "namespaces: mount, pid, ipc, uts{}{}; private root, everything else absent:",
            if choice.net {
                ", net (no network at all)"
            } else {
                " (host network kept for allow_net_ports)"
            },
            if choice.user { ", user" } else { "" },
        );
        let stage = policy.tmp_root.join(".newroot");
        match crate::ns::plan(policy, ws, &tmp, &stage, choice.user, choice.net) {
            Ok(plan) => {
                for line in crate::ns::describe(&plan) {
                    let _ = writeln!(s, "  {line}");
                }
            }
            Err(e) => {
                let _ = writeln!(s, "  {e}");
            }
        }
    }
    if decision.seccomp {
        let net = !policy.allow_net_ports.is_empty();
        let mut names: Vec<&str> = seccomp::deny_list(net).iter().map(|d| d.name).collect();
        names.dedup();
        let _ = writeln!(s, "seccomp EPERM: {}", names.join(" "));
        let _ = writeln!(
            s,
            "seccomp ENOSYS: clone3 (libc falls back to clone, whose flags are checked)"
        );
        if net {
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
