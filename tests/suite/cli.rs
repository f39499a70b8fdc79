//! The command line and config handling of the real binary (issue 2):
//! exit codes, `file:line:col` errors, secrets, help, doctor, a bad store.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::util::*;

#[test]
fn version_prints_and_exits_zero() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("picoclaw {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A minimal valid config: one provider, no channel.
const PROVIDER: &str = r#"
[[providers]]
name = "p"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "m"
"#;

fn config_file(dir: &TempDir, text: &str, mode: u32) -> PathBuf {
    let p = dir.path().join("config.toml");
    fs::write(&p, text).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// Runs `check-config` on `path` and returns (exit code, stdout, stderr).
fn check(path: &Path, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = run_env(&["check-config", "--config", path.to_str().unwrap()], env);
    (out.status.code(), stdout_of(&out), stderr_of(&out))
}

#[test]
fn an_unknown_key_is_reported_with_file_line_column_and_key_path_and_exit_2() {
    let dir = TempDir::new("cli-unknown");
    let path = config_file(
        &dir,
        &format!("[agent]\nmax_tool_iterations = 5\nworkspacee = \"/x\"\n{PROVIDER}"),
        0o600,
    );
    // The daemon and check-config report it the same way.
    for args in [vec!["check-config"], vec![]] {
        let mut all = args.clone();
        all.extend(["--config", path.to_str().unwrap()]);
        let out = run(&all);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "{}:3:1: agent.workspacee: unknown field",
                path.display()
            )),
            "{args:?}: {err}"
        );
        assert!(stdout_of(&out).is_empty(), "nothing printed as config");
    }
}

#[test]
fn a_value_of_the_wrong_type_is_reported_with_its_position_and_key_path_and_exit_2() {
    let dir = TempDir::new("cli-type");
    let path = config_file(
        &dir,
        &format!("[agent]\nmax_tool_iterations = \"ten\"\n{PROVIDER}"),
        0o600,
    );
    let (code, out, err) = check(&path, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2:23: agent.max_tool_iterations: invalid type: string \"ten\"",
            path.display()
        )),
        "{err}"
    );
    assert!(out.is_empty());
}

#[test]
fn a_wrong_type_inside_the_providers_array_names_the_entry() {
    let dir = TempDir::new("cli-type2");
    let text = format!("{PROVIDER}\n[[providers]]\nname = \"q\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nmax_tokens = -1\n");
    let path = config_file(&dir, &text, 0o600);
    let (code, _, err) = check(&path, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:13:14: providers[1].max_tokens",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn broken_toml_syntax_is_reported_with_file_line_column_and_exit_2() {
    let dir = TempDir::new("cli-syntax");
    let path = config_file(&dir, "[log]\nlevel = \"info\"\n[agent\nx = 1\n", 0o600);
    let (code, out, err) = check(&path, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:3:7: ", path.display())),
        "names file:line:col of the unclosed table: {err}"
    );
    assert!(err.contains("unclosed table"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn a_missing_config_file_is_a_config_error_naming_the_path() {
    let dir = TempDir::new("cli-missing");
    let path = dir.path().join("nope.toml");
    for args in [vec!["check-config"], vec![]] {
        let mut all = args.clone();
        all.extend(["--config", path.to_str().unwrap()]);
        let out = run(&all);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("No such file"), "{err}");
    }
    assert!(
        !dir.path().join("state").exists(),
        "nothing created for a config that does not exist"
    );
}

#[test]
fn a_group_readable_config_with_an_inline_secret_is_refused_with_chmod_600() {
    let dir = TempDir::new("cli-perm");
    let secret = "sk-inline-SECRET-98765";
    let text = PROVIDER.replace(
        "model = \"m\"",
        &format!("model = \"m\"\napi_key = \"{secret}\""),
    );
    for mode in [0o640, 0o604] {
        let path = config_file(&dir, &text, mode);
        for args in [vec!["check-config"], vec![]] {
            let mut all = args.clone();
            all.extend(["--config", path.to_str().unwrap()]);
            let out = run(&all);
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(2), "mode {mode:o} {args:?}: {err}");
            assert!(err.contains("chmod 600"), "mode {mode:o}: {err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(!err.contains(secret), "the secret is never printed: {err}");
            assert!(stdout_of(&out).is_empty());
        }
    }
    // The same file, private, is fine.
    let path = config_file(&dir, &text, 0o600);
    let (code, out, err) = check(&path, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.contains(secret) && !err.contains(secret), "{out}");
}

#[test]
fn env_and_file_secrets_resolve_and_check_config_prints_them_masked() {
    let dir = TempDir::new("cli-secrets");
    let token = "999:fileSecretTokenValueXYZ";
    let key = "sk-envSecretValue-123";
    let token_file = dir.path().join("token");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "[channels.telegram]\ntoken_file = \"{}\"\nallow_from = [1]\n{}",
        token_file.display(),
        PROVIDER.replace(
            "model = \"m\"",
            "model = \"m\"\napi_key = \"${E2E_PROVIDER_KEY}\""
        )
    );
    // No inline secret, so a world-readable file is acceptable.
    let path = config_file(&dir, &text, 0o644);
    let (code, out, err) = check(&path, &[("E2E_PROVIDER_KEY", key)]);
    assert_eq!(code, Some(0), "{err}");
    for secret in [token, key, "fileSecretToken", "envSecretValue"] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
        assert!(!err.contains(secret), "{secret} leaked:\n{err}");
    }
    let token_line = out
        .lines()
        .find(|l| l.starts_with("token ="))
        .unwrap_or_else(|| panic!("no token line:\n{out}"));
    assert!(token_line.contains("***"), "{token_line}");
    assert!(token_line.contains("from file"), "{token_line}");
    let key_line = out
        .lines()
        .find(|l| l.starts_with("api_key ="))
        .unwrap_or_else(|| panic!("no api_key line:\n{out}"));
    assert!(key_line.contains("***"), "{key_line}");
    assert!(key_line.contains("from environment"), "{key_line}");

    // Unset variable: a config error naming the key and the variable.
    let (code, out, err) = check(&path, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:", path.display())) && err.contains("providers[0].api_key"),
        "{err}"
    );
    assert!(err.contains("E2E_PROVIDER_KEY"), "{err}");
    assert!(out.is_empty());

    // Missing secret file: also a config error naming the file.
    fs::remove_file(&token_file).unwrap();
    let (code, _, err) = check(&path, &[("E2E_PROVIDER_KEY", key)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("channels.telegram.token_file"), "{err}");
    assert!(err.contains(&token_file.display().to_string()), "{err}");
}

#[test]
fn check_config_accepts_the_documented_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config.example.toml");
    let dir = TempDir::new("cli-example");
    // A world-readable copy: the example holds no inline secret.
    let copy = dir.path().join("example.toml");
    fs::copy(example, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
    let state = dir.path().join("xdg-state");
    let (code, out, err) = check(&copy, &[("XDG_STATE_HOME", state.to_str().unwrap())]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("# effective configuration of"), "{out}");
    for section in [
        "[agent]",
        "[store]",
        "[log]",
        "[channels.telegram]",
        "[[providers]]",
        "[sandbox]",
    ] {
        assert!(out.contains(section), "{section} missing:\n{out}");
    }
    assert!(err.contains("is valid"), "{err}");
}

#[test]
fn every_subcommand_has_its_own_help() {
    let cases = [
        (vec!["--help"], "picoclaw check-config [--config PATH]"),
        (vec!["-h"], "picoclaw check-config [--config PATH]"),
        (
            vec!["run", "--help"],
            "Usage: picoclaw [run] [--config PATH]",
        ),
        (
            vec!["check-config", "--help"],
            "Usage: picoclaw check-config",
        ),
        (vec!["doctor", "-h"], "Usage: picoclaw doctor"),
        (vec!["agent", "--help"], "Usage: picoclaw agent [-m TEXT]"),
        (vec!["help", "doctor"], "Usage: picoclaw doctor"),
    ];
    let mut texts = Vec::new();
    for (args, expect) in cases {
        let out = run(&args);
        let text = stdout_of(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
        assert!(text.contains(expect), "{args:?}:\n{text}");
        texts.push(text);
    }
    // Subcommand help is specific, not the general usage again.
    assert_ne!(texts[2], texts[0]);
    assert_ne!(texts[3], texts[4]);
    assert_ne!(texts[4], texts[5]);
}

#[test]
fn an_unknown_command_or_flag_is_a_usage_error_with_exit_2() {
    for args in [
        vec!["frobnicate"],
        vec!["--bogus"],
        vec!["doctor", "-m", "x"],
    ] {
        let out = run(&args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("Usage:"), "{args:?} shows usage: {err}");
        assert!(stdout_of(&out).is_empty(), "{args:?}");
    }
    let err = stderr_of(&run(&["frobnicate"]));
    assert!(err.contains("unknown command \"frobnicate\""), "{err}");
}

#[test]
fn doctor_passes_on_a_good_config_and_reports_the_landlock_abi() {
    let p = Picoclaw::new("doctor");
    let out = p.run_cli(&["doctor"]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr_of(&out));
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("Landlock ABI"), "{text}");
    assert!(text.contains(&p.config.display().to_string()), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("ok    telegram")),
        "the token was checked against the (fake) API: {text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
    assert!(
        !text.contains("sk-e2e-primary-key"),
        "no secret in the report: {text}"
    );
}

#[test]
fn a_garbage_database_stops_the_daemon_once_with_exit_2_naming_the_file() {
    // Exit 2 ("needs a person"): the systemd unit's RestartPreventExitStatus=2
    // keeps systemd from restarting into the same damaged file every 5 s.
    let mut p = Picoclaw::new("garbage-db");
    fs::create_dir_all(p.state_dir()).unwrap();
    let db = p.state_dir().join("picoclaw.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(&db, &garbage).unwrap();
    p.start();
    let status = p.wait_exit(WAIT).expect("the daemon exits by itself");
    let err = p.stderr();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // It gave up at once: never reached Telegram, never retried in a loop,
    // and left the file as it was for a human to look at.
    assert_eq!(p.tg.get_updates_calls(), 0);
    assert_eq!(
        err.lines().filter(|l| l.contains("picoclaw.db")).count(),
        1,
        "one error line, not a crash loop: {err}"
    );
    assert_eq!(fs::read(&db).unwrap(), garbage);
}

#[test]
fn doctor_inspects_the_database_without_creating_or_changing_it() {
    let mut p = Picoclaw::new("doctor-ro");
    let db = p.state_dir().join("picoclaw.db");
    let out = p.run_cli(&["doctor"]);
    let text = stdout_of(&out);
    assert!(
        text.contains("does not exist yet; the first run creates it"),
        "{text}"
    );
    assert!(!db.exists(), "doctor created {}", db.display());

    p.start();
    p.say("hello");
    assert_eq!(p.replies(1).len(), 1, "{}", p.stderr());
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(WAIT).is_some(), "{}", p.stderr());
    let before = fs::read(&db).unwrap();
    let out = p.run_cli(&["doctor"]);
    let text = stdout_of(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok    database") && l.contains("schema v")),
        "{text}"
    );
    assert_eq!(
        fs::read(&db).unwrap(),
        before,
        "doctor changed the database"
    );
}
