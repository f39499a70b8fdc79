//! `picoclaw doctor`'s security section: each finding with its fix.

use std::os::unix::fs::PermissionsExt;

use crate::util::*;

fn doctor(p: &Picoclaw) -> (Option<i32>, String) {
    let out = p.run_cli(&["doctor"]);
    (out.status.code(), stdout_of(&out))
}

fn line<'a>(text: &'a str, what: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(&format!(" security {what}: ")))
        .unwrap_or_else(|| panic!("no security {what} line:\n{text}"))
}

#[test]
fn doctor_flags_a_world_readable_config_holding_keys_and_says_how_to_fix_it() {
    let p = Picoclaw::new("sec-config");
    let path = p.config.display().to_string();
    let (code, text) = doctor(&p);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        line(&text, "config file"),
        format!(
            "ok    security config file: {path}: mode 600, owner uid {}",
            nix_uid()
        )
    );
    assert!(
        line(&text, "secrets")
            .starts_with("ok    security secrets: telegram token inline, primary api_key inline; "),
        "{text}"
    );

    // World-readable with keys in it: the config is refused, and doctor
    // says so with the fix.
    std::fs::set_permissions(&p.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, text) = doctor(&p);
    assert_eq!(code, Some(1), "{text}");
    let fail = text
        .lines()
        .find(|l| l.starts_with("FAIL  config: "))
        .unwrap_or("");
    assert!(
        fail.contains("readable by group or others (mode 0644)")
            && fail.contains(&format!("chmod 600 {path}")),
        "{text}"
    );

    // Keys kept in a file instead: the config may be readable, but doctor
    // still points at both, and at the key file's mode.
    let key = p.dir.path().join("llm.key");
    std::fs::write(&key, "sk-e2e-primary-key").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    p.edit_config(|t| {
        t.replace(&format!("token = \"{TOKEN}\""), "token_file = \"tg.token\"")
            .replace(
                "api_key = \"sk-e2e-primary-key\"",
                "api_key_file = \"llm.key\"",
            )
    });
    write_private(&p.dir.path().join("tg.token"), TOKEN);
    std::fs::set_permissions(&p.config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let (code, text) = doctor(&p);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        line(&text, "config file"),
        format!("warn  security config file: {path} is readable by other users (mode 664): chmod 600 {path}")
    );
    let key = key.display().to_string();
    assert_eq!(
        line(&text, "secret file"),
        format!("warn  security secret file: {key} is readable by other users (mode 644): chmod 600 {key}")
    );
    assert_eq!(
        line(&text, "secrets"),
        "ok    security secrets: telegram token from a file, primary api_key from a file"
    );
}

#[test]
fn doctor_flags_a_bot_open_to_everyone_exec_in_groups_and_a_loose_state_dir() {
    let p = Picoclaw::with_config(
        "sec-open",
        "[sandbox]\nmode = \"best_effort\"\n\n[[tools.policy]]\nchat = \"group\"\nallow = [\"exec\"]\n",
    );
    p.edit_config(|t| t.replace("allow_from = [", "allow_from = [\"*\", "));
    std::fs::create_dir_all(p.state_dir()).unwrap();
    std::fs::set_permissions(p.state_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, text) = doctor(&p);
    assert!(
        line(&text, "telegram")
            .starts_with("warn  security telegram: answers everyone (allow_from = [\"*\"])"),
        "{text}"
    );
    assert!(
        line(&text, "group exec")
            .starts_with("warn  security group exec: exec is offered in group chats"),
        "{text}"
    );
    assert!(
        line(&text, "sandbox").starts_with("warn  security sandbox: mode best_effort"),
        "{text}"
    );
    let state = p.state_dir().display().to_string();
    assert!(
        line(&text, "state dir").starts_with(&format!(
            "warn  security state dir: {state} is open to other users (mode 755)"
        )),
        "{text}"
    );
    assert!(
        line(&text, "user").starts_with("ok    security user: "),
        "{text}"
    );

    p.edit_config(|t| {
        t.replace("allow_from = [\"*\", ", "allow_from = [") + "\n[tools.exec]\nenabled = false\n"
    });
    std::fs::set_permissions(p.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let (_, text) = doctor(&p);
    assert_eq!(
        line(&text, "telegram"),
        "ok    security telegram: answers only the 1 listed user(s)"
    );
    assert_eq!(
        line(&text, "group exec"),
        "ok    security group exec: exec is off ([tools.exec] enabled = false)"
    );
    assert_eq!(
        line(&text, "state dir"),
        format!("ok    security state dir: {state} is private to its owner")
    );
}

fn nix_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap()
}
