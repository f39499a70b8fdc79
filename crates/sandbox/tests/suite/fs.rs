use std::os::unix::fs::PermissionsExt;

use super::util::{assert_blocked, s, Env};

#[test]
fn writing_authorized_keys_outside_the_workspace_is_denied() {
    for env in Env::each_backend() {
        let keys = env.home.join(".ssh/authorized_keys");
        std::fs::write(&keys, "original\n").unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o666)).unwrap();
        for (who, policy) in env.both() {
            let out = env.probe(&policy, &["write", &s(&keys), "ssh-ed25519 AAAA attacker"]);
            assert_blocked(&out.stdout, &who);
            assert_eq!(
                std::fs::read_to_string(&keys).unwrap(),
                "original\n",
                "as {who}"
            );
            let new_key = env.home.join(".ssh/authorized_keys2");
            let out = env.probe(&policy, &["write", &s(&new_key), "x"]);
            assert_blocked(&out.stdout, &who);
            assert!(!new_key.exists(), "as {who}");
        }
        assert_eq!(
            env.unsandboxed(&["write", &s(&env.home.join(".ssh/control")), "x"]),
            "ok\n"
        );
    }
}

#[test]
fn writing_outside_through_a_symlink_in_the_workspace_is_denied() {
    for env in Env::each_backend() {
        let victim = env.outside_file("victim", "original");
        std::os::unix::fs::symlink(&env.outside, env.ws.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(&victim, env.ws.join("filelink")).unwrap();
        for (who, policy) in env.both() {
            let via_dir = env.ws.join("dirlink/victim");
            let out = env.probe(&policy, &["write", &s(&via_dir), "pwned"]);
            assert_blocked(&out.stdout, &who);
            let via_file = env.ws.join("filelink");
            let out = env.probe(&policy, &["write", &s(&via_file), "pwned"]);
            assert_blocked(&out.stdout, &who);
            let out = env.probe(&policy, &["read", &s(&via_file)]);
            assert_blocked(&out.stdout, &who);
            assert_eq!(
                std::fs::read_to_string(&victim).unwrap(),
                "original",
                "as {who}"
            );
        }
    }
}

#[test]
fn hard_linking_an_outside_file_in_and_writing_it_is_denied() {
    for env in Env::each_backend() {
        let victim = env.outside_file("victim", "original");
        for (who, policy) in env.both() {
            let inside = env.ws.join(format!("linked-{}", who.replace('/', "-")));
            let out = env.probe(&policy, &["link", &s(&victim), &s(&inside)]);
            assert_blocked(&out.stdout, &who);
            assert!(!inside.exists(), "as {who}");
            // Writing the name afterwards creates a new file, not the victim.
            let out = env.probe(&policy, &["write", &s(&inside), "pwned"]);
            assert_eq!(out.stdout, "ok\n", "as {who}");
            assert_eq!(
                std::fs::read_to_string(&victim).unwrap(),
                "original",
                "as {who}"
            );
        }
    }
}

#[test]
fn renaming_an_outside_file_into_the_workspace_is_denied() {
    for env in Env::each_backend() {
        let victim = env.outside_file("victim", "original");
        for (who, policy) in env.both() {
            let inside = env.ws.join("moved");
            let out = env.probe(&policy, &["rename", &s(&victim), &s(&inside)]);
            assert_blocked(&out.stdout, &who);
            assert_eq!(
                std::fs::read_to_string(&victim).unwrap(),
                "original",
                "as {who}"
            );
            assert!(!inside.exists(), "as {who}");
        }
    }
}

#[test]
fn truncating_an_outside_file_is_denied() {
    for env in Env::each_backend() {
        let victim = env.outside_file("victim", "original");
        for (who, policy) in env.both() {
            let out = env.probe(&policy, &["truncate", &s(&victim)]);
            assert_blocked(&out.stdout, &who);
            assert_eq!(
                std::fs::read_to_string(&victim).unwrap(),
                "original",
                "as {who}"
            );
        }
    }
}

#[test]
fn chmod_of_an_outside_file_is_denied_for_the_tool_user() {
    // Landlock does not cover chmod; the uid switch does (and the mount
    // view, where the file does not exist), which is why enforce refuses
    // to run tools as root (see positive.rs).
    for env in Env::each_backend() {
        let victim = env.outside_file("victim", "original");
        let out = env.probe(&env.policy(), &["chmod", &s(&victim)]);
        assert_blocked(&out.stdout, env.backend.as_str());
        let m = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(m, 0o666);
    }
}

#[test]
fn hidden_config_and_state_dir_are_unreadable_even_under_an_allowed_root() {
    for env in Env::each_backend() {
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
            // A root tool may open the namespace backend's empty stand-in
            // (under `both` too: this root lies below /tmp, whose private
            // copy is writable for Landlock); it never sees the content.
            let out = env.probe(&policy, &["read", &s(&etc.join("config.toml"))]);
            if out.stdout != "ok \n" || !who.starts_with("root/") || who == "root/landlock" {
                assert_blocked(&out.stdout, &who);
            }
            let out = env.probe(&policy, &["read", &s(&etc.join("state/picoclaw.db"))]);
            assert_blocked(&out.stdout, &who);
        }
        assert_eq!(
            env.unsandboxed(&["read", &s(&etc.join("config.toml"))]),
            "ok token = \"sekrit\"\n"
        );
    }
}

#[test]
fn etc_shadow_is_unreadable_even_for_a_root_tool() {
    for env in Env::each_backend() {
        for (who, policy) in env.both() {
            let out = env.probe(&policy, &["read", "/etc/shadow"]).stdout;
            if out != "ok \n" || !who.starts_with("root/namespaces") {
                assert_blocked(&out, &who);
            }
            // The rest of /etc stays readable.
            assert!(
                env.probe(&policy, &["read", "/etc/passwd"])
                    .stdout
                    .starts_with("ok root:"),
                "as {who}"
            );
        }
    }
    assert!(Env::new()
        .unsandboxed(&["read", "/etc/shadow"])
        .starts_with("ok root:"));
}

#[test]
fn creating_files_at_the_filesystem_root_and_in_real_home_is_denied() {
    for env in Env::each_backend() {
        for (who, policy) in env.both() {
            let out = env.probe(&policy, &["write", "/picoclaw-sandbox-escape", "x"]);
            assert_blocked(&out.stdout, &who);
            assert!(!std::path::Path::new("/picoclaw-sandbox-escape").exists());
            let out = env.probe(&policy, &["write", "/root/picoclaw-sandbox-escape", "x"]);
            assert_blocked(&out.stdout, &who);
            assert!(!std::path::Path::new("/root/picoclaw-sandbox-escape").exists());
        }
    }
}
