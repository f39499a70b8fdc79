//! Cases specific to the namespace backend, and a kernel without Landlock.

use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};

use picoclaw_sandbox::{probe, Backend, Capabilities, Mode};

use super::util::{assert_blocked, s, Env};

#[test]
fn udp_and_tcp_to_loopback_reach_nothing_from_the_network_namespace_alone() {
    // seccomp off (best effort), so only the empty network namespace
    // stands between the probe and the host's loopback.
    let env = Env::with(Backend::Namespaces);
    let mut policy = env.policy();
    policy.mode = Mode::BestEffort;
    let caps = Capabilities {
        seccomp: false,
        ..probe()
    };
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_nonblocking(true).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let uport = u.local_addr().unwrap().port().to_string();
    let tport = l.local_addr().unwrap().port().to_string();
    let out = env.probe_with(&policy, &caps, &["udp", &uport]);
    assert!(
        out.enforcement.to_string().contains("NO-seccomp"),
        "{}",
        out.enforcement
    );
    assert_eq!(out.stdout, "err ENETUNREACH\n");
    let out = env.probe_with(&policy, &caps, &["tcp", &tport]);
    assert_eq!(out.stdout, "err ENETUNREACH\n");
    let mut buf = [0u8; 16];
    assert!(matches!(u.recv(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock));
    assert!(matches!(l.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock));
    // Control: the same probe without a sandbox does reach the socket.
    assert_eq!(env.unsandboxed(&["udp", &uport]), "ok sent\n");
}

#[test]
fn proc_shows_only_the_sandboxs_own_processes() {
    for backend in [Backend::Namespaces, Backend::Both] {
        let env = Env::with(backend);
        let out = env.probe(&env.policy(), &["pids"]);
        assert_eq!(out.stdout, "ok 1\n", "{}", backend.as_str());
    }
    // Control: the host's /proc lists many.
    assert!(Env::new().unsandboxed(&["pids"]).split(' ').count() > 3);
}

#[test]
fn hidden_and_unlisted_paths_do_not_exist_inside_the_mount_view() {
    let env = Env::with(Backend::Namespaces);
    let state = env.root.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("picoclaw.db"), "SQLite format 3").unwrap();
    let mut policy = env.policy();
    policy.hidden_paths = vec![state.clone()];
    for (path, who) in [
        (s(&state), "the state dir"),
        (s(&state.join("picoclaw.db")), "the database"),
        (s(&env.outside), "a sibling of the workspace"),
        (s(&env.home), "a home directory"),
        ("/root".to_string(), "root's home"),
        ("/var".to_string(), "/var"),
        ("/run".to_string(), "/run"),
        ("/home".to_string(), "/home"),
    ] {
        let out = env.probe(&policy, &["stat", &path]);
        assert_eq!(out.stdout, "err ENOENT\n", "{who}");
    }
    // /etc/shadow is covered by an empty, mode-000 stand-in.
    assert_eq!(
        env.probe(&policy, &["read", "/etc/shadow"]).stdout,
        "err EACCES\n"
    );
    let root = env.probe(&env.root_policy(), &["read", "/etc/shadow"]);
    assert_eq!(root.stdout, "ok \n");
    // The root holds only what was granted.
    let out = env.probe(&policy, &["ls", "/"]);
    let names: Vec<&str> = out
        .stdout
        .trim_end()
        .trim_start_matches("ok ")
        .split(' ')
        .collect();
    for name in &names {
        assert!(
            ["bin", "dev", "etc", "lib", "lib32", "lib64", "proc", "sbin", "sys", "tmp", "usr"]
                .contains(name),
            "unexpected /{name} in {names:?}"
        );
    }
    assert_eq!(
        env.probe(&policy, &["ls", "/dev"]).stdout,
        "ok fd full null random stderr stdin stdout tty urandom zero\n"
    );
}

#[test]
fn auto_on_a_kernel_without_landlock_picks_namespaces_and_still_blocks_every_case() {
    let env = Env::new();
    let caps = Capabilities {
        landlock_abi: None,
        ..probe()
    };
    let victim = env.outside_file("victim", "original");
    let keys = env.home.join(".ssh/authorized_keys");
    let me = std::process::id().to_string();
    let environ = format!("/proc/{me}/environ");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_nonblocking(true).unwrap();
    let uport = u.local_addr().unwrap().port().to_string();
    let cases: Vec<Vec<String>> = [
        vec!["write", &s(&victim), "pwned"],
        vec!["write", &s(&keys), "ssh-ed25519 attacker"],
        vec!["truncate", &s(&victim)],
        vec!["chmod", &s(&victim)],
        vec!["rename", &s(&victim), &s(&env.ws.join("moved"))],
        vec!["link", &s(&victim), &s(&env.ws.join("linked"))],
        vec!["read", "/etc/shadow"],
        vec!["read", &environ],
        vec!["kill", &me],
        vec!["ptrace", &me],
        vec!["tcp", &port],
        vec!["udp", &uport],
        vec!["unshare-user"],
        vec!["io_uring"],
        vec!["write", "/picoclaw-sandbox-escape", "x"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(String::from).collect())
    .collect();
    for case in &cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        let out = env.probe_with(&env.policy(), &caps, &args);
        assert_eq!(
            out.enforcement.to_string(),
            "namespaces+seccomp+rlimits+uid 65534"
        );
        assert_blocked(&out.stdout, &case.join(" "));
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
    assert!(!keys.exists());
    assert!(!env.ws.join("moved").exists() && !env.ws.join("linked").exists());
    l.set_nonblocking(true).unwrap();
    assert!(matches!(l.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock));
    let mut buf = [0u8; 16];
    assert!(matches!(u.recv(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock));
}

#[test]
fn commands_share_one_empty_network_namespace_only_while_seccomp_holds() {
    let env = Env::with(Backend::Namespaces);
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    let netns = |policy: &picoclaw_sandbox::Policy, caps: &Capabilities| {
        let out = env.probe_with(policy, caps, &["readlink", "/proc/self/ns/net"]);
        let link = out.stdout.trim().trim_start_matches("ok ").to_string();
        assert!(link.starts_with("net:["), "{}", out.stdout);
        assert_ne!(std::path::Path::new(&link), host, "the host's own");
        link
    };
    let caps = probe();
    let policy = env.policy();
    let shared = netns(&policy, &caps);
    assert_eq!(netns(&policy, &caps), shared);
    // Without seccomp nothing stops a command from changing it, so each
    // gets its own (the shared one lives on, so its number is not reused).
    let mut loose = env.policy();
    loose.mode = Mode::BestEffort;
    let no_seccomp = Capabilities {
        seccomp: false,
        ..probe()
    };
    assert_ne!(netns(&loose, &no_seccomp), shared);
}
