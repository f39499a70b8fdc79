//! Release artefacts (issue 6): a cross-built binary run under qemu-user,
//! the board configs, and the install and deploy scripts.
//!
//! The emulated tests need a release binary and an emulator, and return
//! early with a note when they are not given:
//!   PICOCLAW_EMULATED_BIN=/abs/path/to/aarch64/picoclaw
//!   PICOCLAW_EMULATOR=/usr/bin/qemu-aarch64-static
//! (`scripts/emulated-e2e` builds the binary and sets both.) With only
//! PICOCLAW_EMULATED_BIN set, that binary runs natively (an x86_64-musl
//! release build, say) and the qemu-only sandbox tests are skipped.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::*;

fn repo() -> PathBuf {
    fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap()
}

/// The release binary under test and its wrapper, or `None` (with a note
/// on stderr) when the environment does not name one.
fn emulated(test: &str) -> Option<Exe> {
    let Some(bin) = std::env::var_os("PICOCLAW_EMULATED_BIN").filter(|b| !b.is_empty()) else {
        eprintln!("{test}: skipped (set PICOCLAW_EMULATED_BIN, and PICOCLAW_EMULATOR for qemu)");
        return None;
    };
    let wrapper = std::env::var_os("PICOCLAW_EMULATOR")
        .filter(|w| !w.is_empty())
        .map(PathBuf::from);
    Some(Exe {
        wrapper,
        bin: PathBuf::from(bin),
    })
}

/// Like [`emulated`], but only under qemu-user, whose missing Landlock and
/// seccomp syscalls these tests are about.
fn under_qemu(test: &str) -> Option<Exe> {
    let exe = emulated(test)?;
    let is_qemu = exe
        .wrapper
        .as_ref()
        .and_then(|w| w.file_name())
        .is_some_and(|n| n.to_string_lossy().starts_with("qemu-"));
    if !is_qemu {
        eprintln!("{test}: skipped (PICOCLAW_EMULATOR is not a qemu-user binary)");
        return None;
    }
    Some(exe)
}

fn output(mut cmd: Command) -> (Option<i32>, String, String) {
    let out: Output = cmd
        .env_remove("PICOCLAW_CONFIG")
        .env_remove("PICOCLAW_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn emulated_binary_prints_the_workspace_version() {
    let Some(exe) = emulated("emulated_binary_prints_the_workspace_version") else {
        return;
    };
    let mut cmd = exe.command();
    cmd.arg("--version");
    let (code, out, err) = output(cmd);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!("picoclaw {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn emulated_binary_accepts_the_example_config() {
    let Some(exe) = emulated("emulated_binary_accepts_the_example_config") else {
        return;
    };
    let dir = TempDir::new("emu-example");
    let copy = dir.path().join("example.toml");
    fs::copy(repo().join("config.example.toml"), &copy).unwrap();
    let mut cmd = exe.command();
    cmd.args(["check-config", "--config"])
        .arg(&copy)
        .env("XDG_STATE_HOME", dir.path().join("state"));
    let (code, out, err) = output(cmd);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("# effective configuration of"), "{out}");
    assert!(out.contains("[sandbox]\nmode = \"enforce\""), "{out}");
    assert!(err.contains("is valid"), "{err}");
}

#[test]
fn emulated_daemon_answers_a_turn_that_writes_then_reads_a_file() {
    let Some(exe) = emulated("emulated_daemon_answers_a_turn_that_writes_then_reads_a_file") else {
        return;
    };
    let mut p = Picoclaw::new("emu-tools");
    p.exe = exe;
    p.start();
    p.say(r#"please [[call write_file {"path":"notes/a.txt","content":"hi from qemu"}]] [[call read_file {"path":"notes/a.txt"}]]"#);
    let replies = p.replies(1);
    assert_eq!(replies.len(), 1, "stderr:\n{}", p.stderr());
    assert!(replies[0].starts_with("done: "), "{replies:?}");
    let written = fs::read_to_string(p.dir.path().join("workspace/notes/a.txt")).unwrap();
    assert_eq!(written, "hi from qemu");
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 2, "stderr:\n{}", p.stderr());
    let tool_results: Vec<String> = reqs[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tool_results.len(), 2, "{tool_results:?}");
    assert!(tool_results[1].contains("hi from qemu"), "{tool_results:?}");
    // It shuts down cleanly on SIGTERM, through qemu's signal forwarding.
    p.signal(libc::SIGTERM);
    let status = p.wait_exit(WAIT).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "stderr:\n{}", p.stderr());
}

#[test]
fn under_qemu_doctor_reports_that_landlock_is_missing_and_enforce_refuses() {
    let Some(exe) =
        under_qemu("under_qemu_doctor_reports_that_landlock_is_missing_and_enforce_refuses")
    else {
        return;
    };
    let p = Picoclaw::new("emu-doctor");
    let mut cmd = exe.command();
    cmd.args(["doctor", "--config"]).arg(&p.config);
    let (code, out, err) = output(cmd);
    // qemu-user answers landlock_create_ruleset with ENOSYS and
    // prctl(PR_GET_SECCOMP) with EINVAL; the probe reports both as absent
    // instead of failing.
    let line = |prefix: &str| out.lines().find(|l| l.starts_with(prefix));
    assert!(line("      sandbox landlock: NO").is_some(), "{out}\n{err}");
    assert!(line("      sandbox seccomp: NO").is_some(), "{out}\n{err}");
    // doctor gives a verdict for each backend enforce could use; under
    // qemu every one of them is a refusal.
    let verdicts: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("      sandbox mode enforce"))
        .collect();
    assert!(!verdicts.is_empty(), "{out}");
    for v in &verdicts {
        assert!(v.contains("sandbox refused to run the command"), "{v}");
    }
    let fail = line("FAIL  sandbox").unwrap_or_default();
    assert!(fail.contains("\"enforce\" refuses exec"), "{out}");
    // The rest of the host is fine: the sandbox line is the only failure,
    // and exit 1 comes from a finished report, not a crash.
    assert!(out.contains("ok    telegram: token accepted"), "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails, [fail], "{out}");
    assert_eq!(code, Some(1), "{out}\n{err}");
}

#[test]
fn under_qemu_enforce_refuses_exec_and_the_model_is_told_why() {
    let Some(exe) = under_qemu("under_qemu_enforce_refuses_exec_and_the_model_is_told_why") else {
        return;
    };
    let mut p = Picoclaw::new("emu-exec");
    p.exe = exe;
    p.start();
    p.say(r#"run it [[call exec {"command":"touch ran-anyway"}]]"#);
    let replies = p.replies(1);
    assert_eq!(replies.len(), 1, "stderr:\n{}", p.stderr());
    assert!(replies[0].starts_with("done: "), "{replies:?}");
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 2, "stderr:\n{}", p.stderr());
    let tool: Vec<String> = reqs[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tool.len(), 1, "{tool:?}");
    // The refusal names what is missing; seccomp is missing under qemu
    // whichever filesystem backend the probe found.
    assert!(
        tool[0]
            .starts_with("exec refused: sandbox refused to run the command: sandbox.mode=enforce"),
        "{tool:?}"
    );
    assert!(tool[0].contains("seccomp unavailable"), "{tool:?}");
    assert!(
        !p.dir.path().join("workspace/ran-anyway").exists(),
        "the command must not have run"
    );
    // The daemon survived the refusal and still answers.
    p.say("still there?");
    assert_eq!(p.replies(2)[1], "echo: still there?");
}

/// Writes the two credential files a board config reads.
fn credentials(dir: &Path, telegram: &str, llm: &str) -> PathBuf {
    let creds = dir.join("credentials");
    fs::create_dir_all(&creds).unwrap();
    write_private(&creds.join("telegram"), telegram);
    write_private(&creds.join("llm"), llm);
    creds
}

fn check_board(board: &str, creds: &Path, state: &Path) -> (Option<i32>, String, String) {
    let mut cmd = Exe::native().command();
    cmd.args(["check-config", "--config"])
        .arg(repo().join("boards").join(board).join("config.toml"))
        .env("CREDENTIALS_DIRECTORY", creds)
        .env("STATE_DIRECTORY", state);
    output(cmd)
}

#[test]
fn every_board_config_is_valid_with_systemd_credentials() {
    for (board, mode) in [
        ("licheerv-nano", "best_effort"),
        ("pi-zero-2w", "enforce"),
        ("x86_64", "enforce"),
    ] {
        let dir = TempDir::new("board");
        let creds = credentials(dir.path(), "123:board-token\n", "sk-board-key\n");
        let state = dir.path().join("state");
        let (code, out, err) = check_board(board, &creds, &state);
        assert_eq!(code, Some(0), "{board}: {err}");
        assert!(err.contains("is valid"), "{board}: {err}");
        assert!(
            out.contains("token = \"***\"  # from file"),
            "{board}: {out}"
        );
        assert!(
            out.contains("api_key = \"***\"  # from file"),
            "{board}: {out}"
        );
        assert!(
            !out.contains("board-token") && !out.contains("sk-board-key"),
            "{out}"
        );
        assert!(
            out.contains(&format!("[sandbox]\nmode = \"{mode}\"")),
            "{board}: {out}"
        );
        assert!(
            out.contains(&format!("dir = \"{}\"", state.display())),
            "{board}: the state dir comes from systemd's STATE_DIRECTORY:\n{out}"
        );
    }
}

#[test]
fn a_board_config_names_the_empty_credential_it_cannot_use() {
    let dir = TempDir::new("board-empty");
    let creds = credentials(dir.path(), "", "sk-board-key\n");
    let (code, _, err) = check_board("pi-zero-2w", &creds, &dir.path().join("state"));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "channels.telegram.token_file: {} is empty",
            creds.join("telegram").display()
        )),
        "{err}"
    );
}

/// Runs scripts/install.sh into `root` with the test binary.
fn install(root: &Path, board: &str) -> (Option<i32>, String, String) {
    let mut cmd = Command::new("sh");
    cmd.arg(repo().join("scripts/install.sh"))
        .args(["--board", board, "--root"])
        .arg(root)
        .arg("--bin")
        .arg(BIN)
        .env_remove("DESTDIR");
    output(cmd)
}

/// Every path under `root` with its type, mode and owner, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let kind = if meta.is_dir() {
                "d"
            } else if meta.file_type().is_symlink() {
                "l"
            } else {
                "f"
            };
            out.push(format!(
                "{kind} {:o} {}:{} {rel}",
                meta.permissions().mode() & 0o7777,
                meta.uid(),
                meta.gid()
            ));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn install_into_a_temp_root_twice_gives_the_same_private_tree() {
    let dir = TempDir::new("install");
    let root = dir.path().join("root");
    fs::create_dir_all(&root).unwrap();
    let (code, out, err) = install(&root, "licheerv-nano");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("installed /etc/picoclaw/config.toml from boards/licheerv-nano/config.toml"),
        "{out}"
    );
    let first = tree(&root);

    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let owner = format!("{uid}:{gid}");
    let mut expected: Vec<String> = [
        ("d", 0o755, "etc"),
        ("d", 0o700, "etc/picoclaw"),
        ("f", 0o644, "etc/picoclaw/config.example.toml"),
        ("f", 0o600, "etc/picoclaw/config.toml"),
        ("d", 0o700, "etc/picoclaw/credentials"),
        ("f", 0o600, "etc/picoclaw/credentials/llm"),
        ("f", 0o600, "etc/picoclaw/credentials/telegram"),
        ("d", 0o755, "etc/systemd"),
        ("d", 0o755, "etc/systemd/system"),
        ("f", 0o644, "etc/systemd/system/picoclaw.service"),
        ("d", 0o755, "etc/systemd/system/picoclaw.service.d"),
        (
            "f",
            0o644,
            "etc/systemd/system/picoclaw.service.d/board.conf",
        ),
        ("d", 0o755, "usr"),
        ("d", 0o755, "usr/local"),
        ("d", 0o755, "usr/local/bin"),
        ("f", 0o755, "usr/local/bin/picoclaw"),
        ("d", 0o755, "var"),
        ("d", 0o755, "var/lib"),
        ("d", 0o700, "var/lib/picoclaw"),
    ]
    .iter()
    .map(|(k, m, p)| format!("{k} {m:o} {owner} {p}"))
    .collect();
    // With systemctl on this machine the unit is also enabled offline.
    let wants = root.join("etc/systemd/system/multi-user.target.wants/picoclaw.service");
    if fs::symlink_metadata(&wants).is_ok() {
        assert_eq!(
            fs::read_link(&wants).unwrap(),
            Path::new("/etc/systemd/system/picoclaw.service")
        );
        expected.push(format!(
            "d 755 {owner} etc/systemd/system/multi-user.target.wants"
        ));
        expected.push(format!(
            "l 777 {owner} etc/systemd/system/multi-user.target.wants/picoclaw.service"
        ));
        expected.sort();
    }
    assert_eq!(first, expected);

    let read = |p: &str| fs::read(root.join(p)).unwrap();
    assert_eq!(read("usr/local/bin/picoclaw"), fs::read(BIN).unwrap());
    assert_eq!(
        read("etc/picoclaw/config.toml"),
        fs::read(repo().join("boards/licheerv-nano/config.toml")).unwrap()
    );
    assert_eq!(
        read("etc/systemd/system/picoclaw.service"),
        fs::read(repo().join("boards/picoclaw.service")).unwrap()
    );
    assert_eq!(
        read("etc/systemd/system/picoclaw.service.d/board.conf"),
        fs::read(repo().join("boards/licheerv-nano/picoclaw.conf")).unwrap()
    );
    assert!(read("etc/picoclaw/credentials/telegram").is_empty());
    assert!(out.contains("next: put the Telegram bot token"), "{out}");

    let (code, out, err) = install(&root, "licheerv-nano");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("keeping existing /etc/picoclaw/config.toml"),
        "{out}"
    );
    assert_eq!(tree(&root), first, "a second install changes nothing");
}

#[test]
fn reinstall_keeps_an_edited_config_and_filled_secrets_but_fixes_their_modes() {
    let dir = TempDir::new("install-keep");
    let root = dir.path().join("root");
    fs::create_dir_all(&root).unwrap();
    assert_eq!(install(&root, "x86_64").0, Some(0));
    let config = root.join("etc/picoclaw/config.toml");
    let token = root.join("etc/picoclaw/credentials/telegram");
    fs::write(&config, "# mine\n").unwrap();
    fs::write(&token, "123:mine\n").unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&token, fs::Permissions::from_mode(0o640)).unwrap();

    let (code, out, err) = install(&root, "pi-zero-2w");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(fs::read_to_string(&config).unwrap(), "# mine\n");
    assert_eq!(fs::read_to_string(&token).unwrap(), "123:mine\n");
    for f in [&config, &token] {
        assert_eq!(
            fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.display()
        );
    }
    // The board's drop-in is replaced by the new board's; only the llm
    // secret is still asked for.
    assert_eq!(
        fs::read(root.join("etc/systemd/system/picoclaw.service.d/board.conf")).unwrap(),
        fs::read(repo().join("boards/pi-zero-2w/picoclaw.conf")).unwrap()
    );
    assert!(!out.contains("credentials/telegram"), "{out}");
    assert!(out.contains("into /etc/picoclaw/credentials/llm"), "{out}");
}

#[test]
fn install_refuses_an_unknown_board_without_touching_the_root() {
    let dir = TempDir::new("install-bad");
    let root = dir.path().join("root");
    fs::create_dir_all(&root).unwrap();
    let (code, _, err) = install(&root, "pi-zero-1");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown board pi-zero-1"), "{err}");
    assert_eq!(tree(&root), Vec::<String>::new());
}

fn deploy(args: &[&str], dist: &Path) -> (Option<i32>, String, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/deploy.sh"))
        .args(args)
        .arg("--dist")
        .arg(dist);
    output(cmd)
}

#[test]
fn deploy_dry_run_prints_the_commands_for_the_boards_architecture() {
    let dir = TempDir::new("deploy");
    let version = env!("CARGO_PKG_VERSION");
    for (board, target) in [
        ("licheerv-nano", "riscv64gc-unknown-linux-musl"),
        ("pi-zero-2w", "aarch64-unknown-linux-musl"),
        ("x86_64", "x86_64-unknown-linux-musl"),
    ] {
        let (code, out, err) = deploy(&["board.local", "--board", board, "--dry-run"], dir.path());
        assert_eq!(code, Some(0), "{err}");
        let name = format!("picoclaw-{version}-{target}");
        let tarball = dir.path().join(format!("{name}.tar.gz"));
        let script = repo().join("scripts/build-release");
        let expected = [
            // No tarball in --dist: it would be built first.
            format!("+ {} --target {target}", script.display()),
            format!("+ ssh root@board.local 'cat > /tmp/{name}.tar.gz' < {}", tarball.display()),
            format!(
                "+ ssh root@board.local 'set -e; cd /tmp; tar -xzf /tmp/{name}.tar.gz; ./{name}/install.sh --board {board}; rm -rf ./{name} /tmp/{name}.tar.gz'"
            ),
            "+ ssh root@board.local '/usr/local/bin/picoclaw doctor --config /etc/picoclaw/config.toml'".to_string(),
        ];
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            expected,
            "{board}:\n{out}\n{err}"
        );
    }
}

#[test]
fn deploy_rejects_an_unknown_board_and_a_missing_host() {
    let dir = TempDir::new("deploy-bad");
    let (code, out, err) = deploy(&["board.local", "--board", "pi-4", "--dry-run"], dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown board pi-4"), "{err}");
    assert_eq!(out, "");
    let (code, _, err) = deploy(&["--board", "x86_64", "--dry-run"], dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("HOST is required"), "{err}");
}

#[test]
fn deploy_refuses_a_tarball_that_does_not_match_sha256sums_before_any_ssh() {
    let dir = TempDir::new("deploy-sum");
    let name = format!(
        "picoclaw-{}-x86_64-unknown-linux-musl.tar.gz",
        env!("CARGO_PKG_VERSION")
    );
    fs::write(dir.path().join(&name), b"not the tarball that was built").unwrap();
    fs::write(
        dir.path().join("SHA256SUMS"),
        format!("{}  {name}\n", "0".repeat(64)),
    )
    .unwrap();
    // Not a dry run: an ssh that got this far would try to reach a host
    // name that cannot resolve, and the output would show its "+ ssh" line.
    let (code, out, err) = deploy(&["picoclaw-test.invalid", "--board", "x86_64"], dir.path());
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains(&format!("{name} does not match SHA256SUMS")),
        "{err}"
    );
    assert_eq!(out, "", "nothing was run");
}
