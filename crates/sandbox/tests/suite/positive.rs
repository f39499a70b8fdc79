use picoclaw_core::Cancel;
use picoclaw_sandbox::{probe, run, Backend, Capabilities, Cmd, Mode, SandboxError};

use super::util::{s, Env};

fn sh(policy: &picoclaw_sandbox::Policy, script: &str) -> picoclaw_sandbox::Outcome {
    run(policy, Cmd::Shell(script), None, &Cancel::new()).unwrap()
}

fn landlock_abi() -> u32 {
    probe()
        .landlock_abi
        .expect("the adversarial suite needs a kernel with Landlock")
}

#[test]
fn ordinary_shell_work_runs_and_is_labelled_fully_enforced() {
    for env in Env::each_backend() {
        let out = sh(
            &env.policy(),
            "echo hello | tr a-z A-Z; echo data > notes.txt && cat notes.txt; \
             test -r /usr/bin/env && echo usr-readable; \
             cd \"$TMPDIR\" && echo t > t && cat t; \
             echo x > /dev/null && echo null-ok; id -u",
        );
        assert_eq!(
            out.stdout,
            "HELLO\ndata\nusr-readable\nt\nnull-ok\n65534\n",
            "{}: {}",
            env.backend.as_str(),
            out.stderr
        );
        assert_eq!((out.exit_code, out.stderr.as_str()), (Some(0), ""));
        assert_eq!(
            std::fs::read_to_string(env.ws.join("notes.txt")).unwrap(),
            "data\n"
        );
        let abi = landlock_abi();
        let expected = match env.backend {
            Backend::Landlock => format!("landlock(abi {abi}, full)+seccomp+rlimits+uid 65534"),
            Backend::Namespaces => "namespaces+seccomp+rlimits+uid 65534".to_string(),
            _ => format!("landlock(abi {abi}, full)+namespaces+seccomp+rlimits+uid 65534"),
        };
        assert_eq!(out.enforcement.to_string(), expected);
        assert!(out.enforcement.is_full());
    }
}

#[test]
fn stdin_is_fed_to_the_command() {
    let env = Env::new();
    let input = "line\n".repeat(50_000);
    let out = run(
        &env.policy(),
        Cmd::Shell("wc -l"),
        Some(input.as_bytes()),
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(out.stdout.trim(), "50000");
}

#[test]
fn the_private_tmp_dir_is_removed_afterwards() {
    for env in Env::each_backend() {
        let out = sh(&env.policy(), "echo $TMPDIR; touch $TMPDIR/leftover");
        let tmp = out.stdout.trim();
        if env.uses_namespaces() {
            assert_eq!(tmp, "/tmp");
        } else {
            assert!(tmp.starts_with(&s(&env.root.join("tmp"))), "{tmp}");
            assert!(!std::path::Path::new(tmp).exists());
        }
        // Only the (empty) namespace stage dir stays in the tmp root.
        let mut left: Vec<String> = std::fs::read_dir(env.root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".newroot")
            .collect();
        left.sort();
        assert_eq!(left, Vec::<String>::new(), "{}", env.backend.as_str());
    }
}

#[test]
fn the_landlock_backend_is_refused_without_landlock_and_best_effort_labels_it() {
    let env = Env::with(Backend::Landlock);
    let caps = Capabilities {
        landlock_abi: None,
        ..probe()
    };
    let argv = [env.probe.clone(), "echo".to_string(), "ran".to_string()];
    let err =
        picoclaw_sandbox::run_with(&env.policy(), &caps, Cmd::Argv(&argv), None, &Cancel::new())
            .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Unavailable(m) if m.contains("landlock unavailable")),
        "{err}"
    );

    let mut policy = env.policy();
    policy.mode = Mode::BestEffort;
    let victim = env.outside_file("victim", "original");
    let out = env.probe_with(&policy, &caps, &["write", &s(&victim), "changed"]);
    assert_eq!(
        out.enforcement.to_string(),
        "NO-landlock+seccomp+rlimits+uid 65534 [best_effort, missing: landlock unavailable]"
    );
    // The label is honest: without Landlock the world-writable file falls.
    assert_eq!(out.stdout, "ok\n");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "changed");
}

#[test]
fn an_older_abi_is_applied_as_partial_and_refused_for_tcp_ports() {
    let env = Env::with(Backend::Landlock);
    let caps = Capabilities {
        landlock_abi: Some(3),
        ..probe()
    };
    let out = env.probe_with(&env.policy(), &caps, &["read", "/etc/shadow"]);
    assert_eq!(out.stdout, "err EACCES\n");
    assert_eq!(
        out.enforcement.to_string(),
        "landlock(abi 3, partial)+seccomp+rlimits+uid 65534"
    );
    let mut net = env.policy();
    net.allow_net_ports = vec![443];
    let argv = [env.probe.clone()];
    let err = picoclaw_sandbox::run_with(&net, &caps, Cmd::Argv(&argv), None, &Cancel::new())
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Unavailable(m) if m.contains("tcp port rules")),
        "{err}"
    );
}

#[test]
fn enforce_refuses_root_tools_and_off_says_none() {
    let env = Env::new();
    let mut policy = env.policy();
    policy.run_as = None;
    let err = run(&policy, Cmd::Shell("true"), None, &Cancel::new()).unwrap_err();
    assert!(
        matches!(&err, SandboxError::Unavailable(m) if m.contains("root")),
        "{err}"
    );
    policy.mode = Mode::Off;
    let out = sh(&policy, "echo free");
    assert_eq!(
        (out.stdout.as_str(), out.enforcement.to_string()),
        ("free\n", "NONE (sandbox.mode=off)".to_string())
    );
}

#[test]
fn workspace_at_root_is_refused() {
    let env = Env::new();
    let mut policy = env.policy();
    policy.workspace = "/".into();
    let err = run(&policy, Cmd::Shell("true"), None, &Cancel::new()).unwrap_err();
    assert!(matches!(err, SandboxError::Policy(_)), "{err}");
}

#[test]
fn effective_lists_the_rules_a_run_would_get() {
    use picoclaw_sandbox::{effective, Mount, PathRule};
    let env = Env::new();
    let e = effective(&env.policy(), &probe()).unwrap();
    let abi = landlock_abi();
    assert_eq!(
        e.enforcement.to_string(),
        format!("landlock(abi {abi}, full)+namespaces+seccomp+rlimits+uid 65534")
    );
    assert_eq!(e.workspace.as_ref().unwrap(), &env.ws);
    assert_eq!(e.switch_to, Some(super::util::NOBODY));
    let ll = e.landlock.unwrap();
    let paths = ll.paths.unwrap();
    for (path, access) in [
        (env.ws.clone(), "read+write+exec+create"),
        ("/usr".into(), "read+exec"),
        ("/proc".into(), "read"),
    ] {
        let rule = PathRule { path, access };
        assert!(paths.contains(&rule), "{rule:?} missing in {paths:?}");
    }
    // Landlock grants /etc entry by entry, never the whole directory.
    assert!(!paths.iter().any(|r| r.path == std::path::Path::new("/etc")));
    assert!(ll.hidden.contains(&"/etc/shadow".into()));
    assert_eq!(ll.tcp_connect, Some(vec![]));
    assert!(ll.scoped);
    let ns = e.namespaces.unwrap();
    assert_eq!((ns.net_namespace, ns.user_namespace), (true, false));
    let mounts = ns.mounts.unwrap();
    for m in [
        Mount::HiddenFile("/etc/shadow".into()),
        Mount::Proc("/proc".into()),
        Mount::Bind {
            at: env.ws.clone(),
            from: env.ws.clone(),
            writable: true,
        },
    ] {
        assert!(mounts.contains(&m), "{m:?} missing in {mounts:?}");
    }
    let seccomp = e.seccomp.unwrap();
    assert!(seccomp.denied.contains(&"ptrace"));
    assert!(!seccomp.network);
}
