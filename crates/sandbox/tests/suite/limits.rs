use std::time::Duration;

use picoclaw_core::Cancel;
use picoclaw_sandbox::{run, Cmd};

use super::util::{running, s, Env, BOMBER};
use picoclaw_sandbox::Backend;

#[test]
fn a_fork_bomb_hits_the_process_limit_and_the_parent_stays_responsive() {
    for env in Env::each_backend() {
        let mut policy = env.policy();
        policy.limits.processes = 32;
        // RLIMIT_NPROC counts per uid system-wide: a uid of its own keeps
        // the bomb from starving tests running in parallel as nobody.
        policy.run_as = Some(BOMBER);
        std::os::unix::fs::chown(&env.ws, Some(BOMBER.0), Some(BOMBER.1)).unwrap();
        let out = env.probe(&policy, &["fork-bomb"]);
        let line = out.stdout.trim_end();
        let made: u32 = line
            .strip_prefix("forked ")
            .and_then(|r| r.strip_suffix(" then EAGAIN"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected fork-bomb output {line:?}"));
        assert!(made < 32, "{line}");
        // The bomb's sleeping children went with the process group, and the
        // sandbox still runs the next command.
        let again = env.probe(&policy, &["echo", "still", "here"]);
        assert_eq!(again.stdout, "still here\n");
    }
}

#[test]
fn writing_past_the_file_size_limit_stops_at_the_limit() {
    for env in Env::each_backend() {
        let mut policy = env.policy();
        policy.limits.file_size_bytes = 10 << 20;
        let target = env.ws.join("big");
        let out = env.probe(&policy, &["write-big", &s(&target), "20"]);
        assert_eq!(out.stdout, "wrote 10485760 then err EFBIG\n");
        assert_eq!(std::fs::metadata(&target).unwrap().len(), 10 << 20);
    }
}

#[test]
fn a_two_gib_allocation_fails() {
    for env in Env::each_backend() {
        let out = env.probe(&env.policy(), &["alloc", &(2u64 << 30).to_string()]);
        assert_eq!(out.stdout, "err ENOMEM\n");
        // Control: the same mapping succeeds without the sandbox.
        assert_eq!(
            env.unsandboxed(&["alloc", &(2u64 << 30).to_string()]),
            "ok\n"
        );
    }
}

#[test]
fn a_cpu_busy_loop_is_killed_by_the_cpu_limit_not_the_timeout() {
    for env in Env::each_backend() {
        let mut policy = env.policy();
        policy.limits.cpu_secs = 1;
        policy.limits.timeout = Duration::from_secs(60);
        let out = env.probe(&policy, &["spin"]);
        // As PID 1 of its namespace the command ignores the kernel's
        // SIGXCPU (no handler); the hard limit's SIGKILL a second later
        // still ends it.
        let sig = if env.uses_namespaces() {
            libc::SIGKILL
        } else {
            libc::SIGXCPU
        };
        assert_eq!(
            (out.exit_code, out.signal, out.timed_out),
            (None, Some(sig), false),
            "{}",
            env.backend.as_str()
        );
    }
}

#[test]
fn sleep_999_is_killed_at_the_timeout() {
    for env in Env::each_backend() {
        let mut policy = env.policy();
        policy.limits.timeout = Duration::from_secs(1);
        let out = run(&policy, Cmd::Shell("sleep 999"), None, &Cancel::new()).unwrap();
        assert_eq!(
            (out.exit_code, out.signal, out.timed_out),
            (None, Some(libc::SIGKILL), true)
        );
        assert!(out.summary().contains("TIMED OUT"), "{}", out.summary());
    }
}

#[test]
fn a_setsid_escapee_holding_the_pipes_does_not_hang_the_call() {
    for env in Env::each_backend() {
        let out = env.probe(&env.policy(), &["detach"]);
        assert!(out.stdout.starts_with("detached "), "{}", out.stdout);
        assert_eq!(out.exit_code, Some(0));
        let escapees = running(&env.probe, "detach");
        if env.uses_namespaces() {
            // The escapee died with the namespace's init: nothing held the
            // pipes, nothing is left.
            assert!(!out.pipes_abandoned, "{}", out.summary());
            assert_eq!(escapees, Vec::<i32>::new());
        } else {
            // Outside our process group, so it survives the group kill;
            // the call still returns after the drain timeout.
            assert!(out.pipes_abandoned);
            assert!(
                out.summary().contains("detached process"),
                "{}",
                out.summary()
            );
            assert_eq!(escapees.len(), 1, "{escapees:?}");
            for pid in escapees {
                // SAFETY: kill(2) on the escapee we found by its command line.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn the_timeout_kills_a_setsid_grandchild_in_the_pid_namespace() {
    let env = Env::with(Backend::Namespaces);
    let mut policy = env.policy();
    policy.limits.timeout = Duration::from_secs(1);
    let out = env.probe(&policy, &["detach-and-wait"]);
    assert!(out.timed_out, "{}", out.summary());
    assert!(out.stdout.starts_with("detached "), "{}", out.stdout);
    assert!(!out.pipes_abandoned, "{}", out.summary());
    assert_eq!(running(&env.probe, "detach-and-wait"), Vec::<i32>::new());
}

#[test]
fn endless_output_is_cut_at_the_ceiling_keeping_head_and_tail() {
    for env in Env::each_backend() {
        let mut policy = env.policy();
        policy.limits.output_bytes = 1 << 20;
        policy.limits.keep_bytes = 8 << 10;
        let out = env.probe(&policy, &["yes"]);
        assert!(out.output_limit_hit && out.truncated);
        assert_eq!(out.signal, Some(libc::SIGKILL));
        assert!(out.stdout.starts_with("y\ny\n"));
        assert!(out.stdout.ends_with("y\n"));
        let marker = out.stdout.lines().find(|l| l.starts_with("[… ")).unwrap();
        let cut: u64 = marker
            .trim_start_matches("[… ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(cut >= (1 << 20) - (8 << 10), "{marker}");
        assert!(out.stdout.len() < (8 << 10) + 64);
    }
}

#[test]
fn cancel_kills_the_command() {
    for env in Env::each_backend() {
        let cancel = Cancel::new();
        cancel.cancel();
        let out = run(&env.policy(), Cmd::Shell("sleep 999"), None, &cancel).unwrap();
        assert_eq!((out.cancelled, out.signal), (true, Some(libc::SIGKILL)));
    }
}
