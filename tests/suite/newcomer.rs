//! A newcomer's first ten minutes: the README's commands on a machine with
//! no config file and no state directory, as root and as an unprivileged
//! user; the daemon started by hand with nothing to answer; a provider that
//! is not running.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::*;

/// Unprivileged users of their own (no passwd entry needed), not
/// `nobody`: RLIMIT_NPROC is per uid, and other tests' tools run as nobody.
const SANDBOX_USER: u32 = 64_011;
const DOCTOR_USER: u32 = 64_012;

/// The binary with nothing set up: a fresh HOME, no XDG or PICOCLAW
/// variables, and STATE_DIRECTORY naming a directory that does not exist
/// (so root's default, /var/lib/picoclaw, is never touched).
fn fresh(dir: &Path, args: &[&str], uid: Option<u32>) -> Output {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("STATE_DIRECTORY", dir.join("state"))
        .stdin(Stdio::null());
    if let Some(id) = uid {
        cmd.uid(id).gid(id);
    }
    cmd.output().expect("run picoclaw")
}

fn assert_nothing_set_up(dir: &Path, out: &Output) {
    assert!(
        !dir.join("state").exists(),
        "state dir created\n{}",
        stderr_of(out)
    );
    assert!(
        !Path::new("/etc/picoclaw/config.toml").exists(),
        "this host has /etc/picoclaw/config.toml; the no-config tests need a host without one"
    );
}

/// A world-writable directory outside any workspace: only the sandbox
/// stops a tool writing there.
fn outside(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let o = dir.join("outside");
    std::fs::create_dir_all(&o).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&o, std::fs::Permissions::from_mode(0o777)).unwrap();
    o
}

fn sandbox_run_without_config(uid: Option<u32>) {
    let dir = TempDir::new("fresh-sandbox");
    let o = outside(dir.path());
    let script = format!(
        "echo hi > note && cat note && pwd && if cat /etc/shadow 2>/dev/null; then echo LEAK; fi; touch {}/pwned 2>/dev/null; true",
        o.display()
    );
    let out = fresh(
        dir.path(),
        &["sandbox", "run", "--", "sh", "-c", &script],
        uid,
    );
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("no config file found"), "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("hi"), "{stdout}");
    let ws = lines.next().unwrap_or_default().to_string();
    assert!(ws.contains("picoclaw-try-"), "{stdout}");
    assert_eq!(lines.next(), None, "{stdout}");
    assert!(!o.join("pwned").exists(), "wrote outside the workspace");
    assert!(
        !Path::new(&ws).exists(),
        "temporary workspace {ws} left behind"
    );
    assert!(stderr.contains("[sandbox: landlock"), "{stderr}");
    assert_nothing_set_up(dir.path(), &out);
}

#[test]
fn sandbox_run_works_as_root_with_no_config_file_and_no_state_dir() {
    sandbox_run_without_config(None);
}

#[test]
fn sandbox_run_works_as_an_unprivileged_user_with_no_config_file_and_no_state_dir() {
    sandbox_run_without_config(Some(SANDBOX_USER));
}

fn doctor_probe_without_config(uid: Option<u32>) {
    let dir = TempDir::new("fresh-doctor");
    outside(dir.path());
    let out = fresh(dir.path(), &["doctor", "--probe"], uid);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr_of(&out));
    assert!(
        text.contains("warn  config: no config file found"),
        "{text}"
    );
    assert!(text.contains("`picoclaw onboard` writes one"), "{text}");
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("probe "))
        .take(8)
        .collect();
    assert_eq!(table.len(), 8, "no probe table:\n{text}");
    assert!(
        table[1..].iter().all(|l| !l.contains("NOT BLOCKED")),
        "{text}"
    );
    assert!(text.contains("blocked every probe"), "{text}");
    assert_nothing_set_up(dir.path(), &out);
}

#[test]
fn doctor_probe_works_as_root_with_no_config_file_and_no_state_dir() {
    doctor_probe_without_config(None);
}

#[test]
fn doctor_probe_works_as_an_unprivileged_user_with_no_config_file_and_no_state_dir() {
    doctor_probe_without_config(Some(DOCTOR_USER));
}

#[test]
fn sandbox_explain_works_with_no_config_file() {
    let dir = TempDir::new("fresh-explain");
    let out = fresh(dir.path(), &["sandbox", "explain"], None);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr_of(&out));
    assert!(text.starts_with("note: workspace "), "{text}");
    assert!(text.contains("\nmode: enforce\n"), "{text}");
    assert!(text.contains("/etc/shadow"), "{text}");
    assert_nothing_set_up(dir.path(), &out);
}

/// The example config with its state in `dir`.
fn example_config(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml"),
    )
    .unwrap();
    let src = src.replace(
        "# dir = \"/var/lib/picoclaw\"",
        &format!("dir = \"{}\"", dir.join("state").display()),
    );
    let path = dir.join("config.toml");
    write_private(&path, &src);
    path
}

#[test]
fn the_daemon_started_on_a_terminal_with_no_channel_says_what_is_missing_in_two_lines() {
    let dir = TempDir::new("no-channel");
    let config = example_config(dir.path());
    let (mut master, slave) = pty();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .env_remove("PICOCLAW_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(slave)
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let mut text = Vec::new();
    // Reading a pty master whose other end is closed ends in EIO.
    let _ = master.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).replace('\r', "");
    assert_eq!(status.code(), Some(2), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("picoclaw: no chat channel is enabled in "),
        "{text}"
    );
    assert!(lines[1].contains("`picoclaw onboard`"), "{text}");
    assert!(lines[1].contains("`picoclaw agent`"), "{text}");
    assert!(!dir.path().join("state").exists(), "nothing created");
}

/// A pseudo-terminal: the master end, and the slave end for a child's
/// stdio.
fn pty() -> (std::fs::File, Stdio) {
    use std::os::fd::FromRawFd;
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty writes two new descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned from here on.
    unsafe { (std::fs::File::from_raw_fd(m), Stdio::from_raw_fd(s)) }
}

#[test]
fn an_unreachable_provider_is_named_with_its_url_and_the_fix_once() {
    let dir = TempDir::new("unreachable");
    let url = refused_url();
    let config = dir.path().join("config.toml");
    write_private(
        &config,
        &format!(
            "[store]\ndir = \"{}\"\n\n[[providers]]\nname = \"local\"\nkind = \"openai\"\nbase_url = \"{url}\"\nmodel = \"m\"\nmax_retries = 1\n",
            dir.path().join("state").display()
        ),
    );
    let mut child = Command::new(BIN)
        .args(["agent", "--config"])
        .arg(&config)
        .env_remove("PICOCLAW_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nagain\nthird\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    let replies: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("I can't reach the model"))
        .collect();
    assert_eq!(replies.len(), 3, "{stdout}\n{stderr}");
    for r in &replies {
        assert!(r.contains(&format!("at {url} (connection refused)")), "{r}");
        assert!(r.contains("or set base_url"), "{r}");
    }
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains(&url)).collect();
    assert_eq!(said.len(), 1, "one log line naming the URL:\n{stderr}");
    assert!(
        said[0].contains("start the model server that should listen there"),
        "{stderr}"
    );
    assert!(!stderr.contains("retry"), "{stderr}");
}
