//! `start`: a long-running sandboxed process with its pipes (what MCP
//! servers run under). The confinement is the run path's; these tests
//! check what is specific to services: the pipes stay open for a
//! conversation, extra writable dirs, the environment, and that killing
//! the service takes everything it started with it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use picoclaw_sandbox::{start, Running, Service};

use super::util::{running, s, Env};

fn start_sh(env: &Env, script: &str, vars: &[(&str, &str)], writable: &[PathBuf]) -> Running {
    let argv = vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    start(
        &env.policy(),
        &Service {
            argv: &argv,
            env: &vars,
            writable,
        },
    )
    .unwrap()
}

fn wait_exit(p: &mut Running) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = p.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "service did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_service_answers_line_by_line_over_its_pipes_until_stdin_closes() {
    for env in Env::each_backend() {
        let mut p = start_sh(
            &env,
            "while read line; do echo \"got $line\"; done; echo bye >&2",
            &[],
            &[],
        );
        let mut stdin = p.stdin.take().unwrap();
        let mut out = BufReader::new(p.stdout.take().unwrap());
        for word in ["one", "two"] {
            writeln!(stdin, "{word}").unwrap();
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert_eq!(line, format!("got {word}\n"), "{:?}", env.backend);
        }
        assert!(p.try_wait().unwrap().is_none(), "still running");
        drop(stdin);
        assert!(wait_exit(&mut p).success());
        let mut err = String::new();
        p.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(err, "bye\n");
        assert!(p.enforcement().is_full(), "{}", p.enforcement());
    }
}

#[test]
fn a_service_gets_only_the_fixed_variables_and_its_own() {
    let env = Env::new();
    let argv = vec!["/usr/bin/env".to_string()];
    let vars = vec![
        ("API_TOKEN".to_string(), "t0ken".to_string()),
        ("LANG".to_string(), "de_DE.UTF-8".to_string()),
        ("TMPDIR".to_string(), "/elsewhere".to_string()),
    ];
    let mut p = start(
        &env.policy(),
        &Service {
            argv: &argv,
            env: &vars,
            writable: &[],
        },
    )
    .unwrap();
    let mut out = String::new();
    p.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    wait_exit(&mut p);
    let mut keys: Vec<&str> = out.lines().map(|l| l.split('=').next().unwrap()).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["API_TOKEN", "HOME", "LANG", "PATH", "TMPDIR"],
        "{out}"
    );
    assert!(out.contains("API_TOKEN=t0ken\n"));
    assert!(out.contains("LANG=de_DE.UTF-8\n"));
    assert!(out.contains(&format!("HOME={}\n", s(&env.ws))));
    assert!(!out.contains("TMPDIR=/elsewhere"), "{out}");
}

#[test]
fn a_service_writes_its_workspace_and_extra_dirs_and_nothing_else() {
    for env in Env::each_backend() {
        let extra = env.root.join("cache");
        std::fs::create_dir_all(&extra).unwrap();
        std::os::unix::fs::chown(&extra, Some(65534), Some(65534)).unwrap();
        let script = format!(
            "echo a > {ws}/a; echo b > {extra}/b; echo c > {out}/c; cat {secret}; true",
            ws = s(&env.ws),
            extra = s(&extra),
            out = s(&env.outside),
            secret = s(&env.outside_file("secret", "top secret")),
        );
        let mut p = start_sh(&env, &script, &[], std::slice::from_ref(&extra));
        let mut out = String::new();
        p.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        wait_exit(&mut p);
        let b = env.backend;
        assert_eq!(std::fs::read_to_string(env.ws.join("a")).unwrap(), "a\n");
        assert_eq!(std::fs::read_to_string(extra.join("b")).unwrap(), "b\n");
        assert!(!env.outside.join("c").exists(), "{b:?}: wrote outside");
        assert!(!out.contains("top secret"), "{b:?}: read outside: {out}");
    }
}

#[test]
fn a_writable_dir_holding_a_hidden_path_is_refused() {
    let env = Env::new();
    let mut policy = env.policy();
    policy.hidden_paths = vec![env.outside.join("config.toml")];
    let argv = vec!["/bin/true".to_string()];
    let err = start(
        &policy,
        &Service {
            argv: &argv,
            env: &[],
            writable: std::slice::from_ref(&env.outside),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("hidden path"), "{err}");
    let root = start(
        &policy,
        &Service {
            argv: &argv,
            env: &[],
            writable: &[PathBuf::from("/")],
        },
    )
    .unwrap_err();
    assert!(root.to_string().contains("must not be /"), "{root}");
}

#[test]
fn a_service_without_ports_reaches_no_tcp_listener() {
    for env in Env::each_backend() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let argv = vec![env.probe.clone(), "tcp".to_string(), port.to_string()];
        let mut p = start(
            &env.policy(),
            &Service {
                argv: &argv,
                env: &[],
                writable: &[],
            },
        )
        .unwrap();
        let mut out = String::new();
        p.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        wait_exit(&mut p);
        assert_eq!(out, "err EPERM socket\n", "{:?}", env.backend);
        l.set_nonblocking(true).unwrap();
        assert!(l.accept().is_err(), "a connection arrived");
    }
}

#[test]
fn killing_a_service_takes_its_background_children_with_it() {
    for env in Env::each_backend() {
        let marker = format!(
            "{}.{}",
            4000 + env.root.as_os_str().len(),
            std::process::id()
        );
        let mut p = start_sh(
            &env,
            &format!("sleep {marker} & echo started; wait"),
            &[],
            &[],
        );
        let mut out = BufReader::new(p.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "started\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while running("sleep", &marker).is_empty() {
            assert!(Instant::now() < deadline, "sleep never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!p.kill().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !running("sleep", &marker).is_empty() {
            assert!(
                Instant::now() < deadline,
                "{:?}: the background child outlived the service",
                env.backend
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
