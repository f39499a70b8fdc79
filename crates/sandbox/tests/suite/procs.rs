use std::os::fd::FromRawFd;

use super::util::{assert_blocked, retry_busy, s, Env};

fn me() -> String {
    std::process::id().to_string()
}

#[test]
fn the_parents_environ_and_exe_link_are_unreadable() {
    for env in Env::each_backend() {
        let environ = format!("/proc/{}/environ", me());
        let exe = format!("/proc/{}/exe", me());
        let out = env.probe(&env.policy(), &["read", &environ]).stdout;
        assert_blocked(&out, env.backend.as_str());
        // A root tool keeps CAP_SYS_PTRACE and can read environ on this kernel
        // (one reason enforce refuses root tools), but not the exe link;
        // in a PID namespace picoclaw's /proc entry does not exist at all.
        for (who, policy) in env.both() {
            let out = env.probe(&policy, &["readlink", &exe]).stdout;
            assert_blocked(&out, &who);
            // /proc itself stays readable for the tool's own use.
            let own = env.probe(&policy, &["readlink", "/proc/self/exe"]).stdout;
            assert_eq!(own, format!("ok {}\n", env.probe), "as {who}");
        }
        assert!(env.unsandboxed(&["read", &environ]).starts_with("ok "));
    }
}

#[test]
fn killing_the_parent_is_denied_and_the_parent_survives() {
    for env in Env::each_backend() {
        for (who, policy) in env.both() {
            // If this were allowed the whole test binary would die here.
            assert_blocked(&env.probe(&policy, &["kill", &me()]).stdout, &who);
        }
    }
}

#[test]
fn ptrace_attach_to_the_parent_is_denied() {
    for env in Env::each_backend() {
        for (who, policy) in env.both() {
            assert_eq!(
                env.probe(&policy, &["ptrace", &me()]).stdout,
                "err EPERM\n",
                "as {who}"
            );
        }
    }
}

#[test]
fn kernel_attack_surface_syscalls_fail_with_eperm() {
    for env in Env::each_backend() {
        let policy = env.root_policy();
        for case in [
            "io_uring",
            "keyctl",
            "bpf",
            "perf",
            "unshare-user",
            "clone-newuser",
        ] {
            let control = env.unsandboxed(&[case]);
            assert_ne!(
                control, "err EPERM\n",
                "{case} is EPERM even without the sandbox"
            );
            assert_eq!(env.probe(&policy, &[case]).stdout, "err EPERM\n", "{case}");
        }
        // clone3 answers ENOSYS so libc falls back to the filterable clone.
        assert_eq!(env.probe(&policy, &["clone3"]).stdout, "err ENOSYS\n");
    }
}

#[test]
fn a_setuid_binary_gains_nothing_and_no_new_privs_is_set() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    for env in Env::each_backend() {
        let suid = env.ws.join("suid-probe");
        std::fs::copy(&env.probe, &suid).unwrap();
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        // Control: outside the sandbox the bit works (the fs is not nosuid).
        let control = loop {
            match std::process::Command::new(&suid)
                .arg("ids")
                .uid(65534)
                .gid(65534)
                .output()
            {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(
            String::from_utf8_lossy(&control.stdout),
            "ok ruid=65534 euid=0\n"
        );
        let argv = [s(&suid), "ids".to_string()];
        let out = retry_busy(|| {
            picoclaw_sandbox::run(
                &env.policy(),
                picoclaw_sandbox::Cmd::Argv(&argv),
                None,
                &picoclaw_core::Cancel::new(),
            )
        });
        assert_eq!(out.stdout, "ok ruid=65534 euid=65534\n");
        let out = env.probe(&env.policy(), &["read", "/proc/self/status"]);
        let status = out.stdout;
        assert!(
            status.lines().any(|l| l == "NoNewPrivs:\t1"),
            "{}: {status} {}",
            env.backend.as_str(),
            out.enforcement
        );
    }
}

#[test]
fn the_environment_holds_only_the_allow_list() {
    for env in Env::each_backend() {
        // SAFETY: test-only; no other test reads this variable.
        unsafe { std::env::set_var("PICOCLAW_FAKE_SECRET", "sk-live-should-not-leak") };
        let out = env.probe(&env.policy(), &["env"]);
        let mut keys: Vec<&str> = out
            .stdout
            .lines()
            .map(|l| l.split('=').next().unwrap_or(""))
            .collect();
        keys.sort();
        assert_eq!(keys, ["HOME", "LANG", "PATH", "TERM", "TMPDIR"]);
        assert!(!out.stdout.contains("sk-live"));
        assert!(out.stdout.contains(&format!("HOME={}\n", env.ws.display())));
    }
}

#[test]
fn descriptors_inherited_without_cloexec_are_closed() {
    for env in Env::each_backend() {
        let path = std::ffi::CString::new("/etc/hostname").unwrap();
        // SAFETY: plain open without O_CLOEXEC, the very leak under test.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
        assert!(fd > 2);
        // SAFETY: we own the fd; closes it at the end of the test.
        let _guard = unsafe { std::fs::File::from_raw_fd(fd) };
        let out = env.probe(&env.policy(), &["fstat", &fd.to_string()]);
        assert_eq!(out.stdout, "err EBADF\n");
        // Control: a plain spawn inherits it.
        assert_eq!(env.unsandboxed(&["fstat", &fd.to_string()]), "ok\n");
    }
}
