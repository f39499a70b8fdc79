use std::os::unix::fs::PermissionsExt;

use super::util::{s, Env};

#[test]
fn writing_authorized_keys_outside_the_workspace_is_denied() {
    let env = Env::new();
    let keys = env.home.join(".ssh/authorized_keys");
    std::fs::write(&keys, "original\n").unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o666)).unwrap();
    for (who, policy) in env.both() {
        let out = env.probe(&policy, &["write", &s(&keys), "ssh-ed25519 AAAA attacker"]);
        assert_eq!(out.stdout, "err EACCES\n", "as {who}");
        assert_eq!(
            std::fs::read_to_string(&keys).unwrap(),
            "original\n",
            "as {who}"
        );
        let new_key = env.home.join(".ssh/authorized_keys2");
        let out = env.probe(&policy, &["write", &s(&new_key), "x"]);
        assert_eq!(out.stdout, "err EACCES\n", "as {who}");
        assert!(!new_key.exists(), "as {who}");
    }
    assert_eq!(
        env.unsandboxed(&["write", &s(&env.home.join(".ssh/control")), "x"]),
        "ok\n"
    );
}

#[test]
fn writing_outside_through_a_symlink_in_the_workspace_is_denied() {
    let env = Env::new();
    let victim = env.outside_file("victim", "original");
    std::os::unix::fs::symlink(&env.outside, env.ws.join("dirlink")).unwrap();
    std::os::unix::fs::symlink(&victim, env.ws.join("filelink")).unwrap();
    for (who, policy) in env.both() {
        let via_dir = env.ws.join("dirlink/victim");
        assert_eq!(
            env.probe(&policy, &["write", &s(&via_dir), "pwned"]).stdout,
            "err EACCES\n",
            "as {who}"
        );
        let via_file = env.ws.join("filelink");
        assert_eq!(
            env.probe(&policy, &["write", &s(&via_file), "pwned"])
                .stdout,
            "err EACCES\n",
            "as {who}"
        );
        assert_eq!(
            env.probe(&policy, &["read", &s(&via_file)]).stdout,
            "err EACCES\n",
            "as {who}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "original",
            "as {who}"
        );
    }
}

#[test]
fn hard_linking_an_outside_file_in_and_writing_it_is_denied() {
    let env = Env::new();
    let victim = env.outside_file("victim", "original");
    for (who, policy) in env.both() {
        let inside = env.ws.join(format!("linked-{who}"));
        assert_eq!(
            env.probe(&policy, &["link", &s(&victim), &s(&inside)])
                .stdout,
            "err EXDEV\n",
            "as {who}"
        );
        assert!(!inside.exists(), "as {who}");
        // Writing the name afterwards creates a new file, not the victim.
        assert_eq!(
            env.probe(&policy, &["write", &s(&inside), "pwned"]).stdout,
            "ok\n",
            "as {who}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "original",
            "as {who}"
        );
    }
}

#[test]
fn renaming_an_outside_file_into_the_workspace_is_denied() {
    let env = Env::new();
    let victim = env.outside_file("victim", "original");
    for (who, policy) in env.both() {
        let inside = env.ws.join("moved");
        assert_eq!(
            env.probe(&policy, &["rename", &s(&victim), &s(&inside)])
                .stdout,
            "err EACCES\n",
            "as {who}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "original",
            "as {who}"
        );
        assert!(!inside.exists(), "as {who}");
    }
}

#[test]
fn truncating_an_outside_file_is_denied() {
    let env = Env::new();
    let victim = env.outside_file("victim", "original");
    for (who, policy) in env.both() {
        assert_eq!(
            env.probe(&policy, &["truncate", &s(&victim)]).stdout,
            "err EACCES\n",
            "as {who}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "original",
            "as {who}"
        );
    }
}

#[test]
fn chmod_of_an_outside_file_is_denied_for_the_tool_user() {
    // Landlock does not cover chmod; the uid switch does, which is why
    // enforce refuses to run tools as root (see positive.rs).
    let env = Env::new();
    let victim = env.outside_file("victim", "original");
    let out = env.probe(&env.policy(), &["chmod", &s(&victim)]);
    assert_eq!(out.stdout, "err EPERM\n");
    let m = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
    assert_eq!(m, 0o666);
}

#[test]
fn hidden_config_and_state_dir_are_unreadable_even_under_an_allowed_root() {
    let env = Env::new();
    let etc = env.root.join("fake-etc");
    std::fs::create_dir_all(etc.join("state")).unwrap();
    std::fs::write(etc.join("public.conf"), "public").unwrap();
    std::fs::write(etc.join("config.toml"), "token = \"sekrit\"").unwrap();
    std::fs::write(etc.join("state/picoclaw.db"), "SQLite format 3").unwrap();
    for (who, mut policy) in env.both() {
        policy.read_only_paths.push(etc.clone());
        policy.hidden_paths = vec![etc.join("config.toml"), etc.join("state")];
        let out = env.probe(&policy, &["read", &s(&etc.join("public.conf"))]);
        assert_eq!(out.stdout, "ok public\n", "as {who}");
        let out = env.probe(&policy, &["read", &s(&etc.join("config.toml"))]);
        assert_eq!(out.stdout, "err EACCES\n", "as {who}");
        let out = env.probe(&policy, &["read", &s(&etc.join("state/picoclaw.db"))]);
        assert_eq!(out.stdout, "err EACCES\n", "as {who}");
    }
    assert_eq!(
        env.unsandboxed(&["read", &s(&etc.join("config.toml"))]),
        "ok token = \"sekrit\"\n"
    );
}

#[test]
fn etc_shadow_is_unreadable_even_for_a_root_tool() {
    let env = Env::new();
    for (who, policy) in env.both() {
        assert_eq!(
            env.probe(&policy, &["read", "/etc/shadow"]).stdout,
            "err EACCES\n",
            "as {who}"
        );
        // The rest of /etc stays readable.
        assert!(
            env.probe(&policy, &["read", "/etc/passwd"])
                .stdout
                .starts_with("ok root:"),
            "as {who}"
        );
    }
    assert!(env.unsandboxed(&["read", "/etc/shadow"]).starts_with("ok "));
}

#[test]
fn creating_files_at_the_filesystem_root_and_in_real_home_is_denied() {
    let env = Env::new();
    for (who, policy) in env.both() {
        let out = env.probe(&policy, &["write", "/picoclaw-sandbox-escape", "x"]);
        assert_eq!(out.stdout, "err EACCES\n", "as {who}");
        assert!(!std::path::Path::new("/picoclaw-sandbox-escape").exists());
        let out = env.probe(&policy, &["write", "/root/picoclaw-sandbox-escape", "x"]);
        assert_eq!(out.stdout, "err EACCES\n", "as {who}");
    }
}
