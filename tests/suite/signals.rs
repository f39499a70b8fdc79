//! Signals and the systemd notify protocol (issue 2).

use crate::util::*;

/// Starts the daemon with `NOTIFY_SOCKET` (and extra env) pointing at a
/// socket the test reads, and waits for `READY=1` and the first poll.
fn start_notified(p: &mut Picoclaw, env: &[(&str, &str)]) -> NotifySocket {
    let sock = start_ready(p, env);
    assert!(
        p.tg.wait_for_get_updates(1, WAIT) >= 1,
        "polling: {}",
        p.stderr()
    );
    sock
}

/// Like [`start_notified`], without waiting for Telegram.
fn start_ready(p: &mut Picoclaw, env: &[(&str, &str)]) -> NotifySocket {
    let sock = NotifySocket::bind(p.dir.path());
    let path = sock.path.clone();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    p.start_with(|cmd| {
        cmd.env("NOTIFY_SOCKET", &path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env);
    });
    let got = sock.wait_for("READY=1", WAIT);
    assert!(
        got.iter().any(|s| s == "READY=1"),
        "{got:?}\nstderr:\n{}",
        p.stderr()
    );
    sock
}

fn stops_cleanly_on(sig: i32, name: &str) {
    let mut p = Picoclaw::new(&format!("sig-{name}"));
    let sock = start_notified(&mut p, &[]);
    // It answers while running...
    p.say("before the signal");
    assert_eq!(p.replies(1), vec!["echo: before the signal"]);
    p.signal(sig);
    let got = sock.wait_for("STOPPING=1", WAIT);
    let status = p.wait_exit(WAIT);
    let err = p.stderr();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit 0 on {name}: {err}"
    );
    assert_eq!(
        got.iter()
            .filter(|s| !s.starts_with("WATCHDOG"))
            .collect::<Vec<_>>(),
        vec!["READY=1", "STOPPING=1"],
        "READY=1 once, then STOPPING=1 once"
    );
    assert!(err.contains(&format!("{name}: shutting down")), "{err}");
    assert!(err.contains("stopped"), "{err}");
    // ...and the store was flushed: the answered message is on disk.
    assert_eq!(
        p.inbound_rows(),
        vec![("before the signal".to_string(), "answered".to_string())]
    );
}

#[test]
fn sigterm_sends_stopping_and_exits_zero_after_ready() {
    stops_cleanly_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_sends_stopping_and_exits_zero_after_ready() {
    stops_cleanly_on(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_during_a_slow_turn_lets_it_finish_within_the_deadline() {
    let mut p = Picoclaw::new("sig-inflight");
    p.llm
        .push(Step::Fault(picoclaw_testkit::fake_llm::Fault::Delay(
            std::time::Duration::from_millis(800),
            Box::new(Step::text("finished during shutdown")),
        )));
    let sock = start_notified(&mut p, &[]);
    p.say("slow one");
    assert!(wait_until(WAIT, || p.llm.request_count() == 1));
    p.signal(libc::SIGTERM);
    sock.wait_for("STOPPING=1", WAIT);
    let status = p.wait_exit(WAIT);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", p.stderr());
    // The turn in flight finished and its reply went out before exit.
    assert_eq!(
        p.visible(),
        vec!["finished during shutdown"],
        "{}",
        p.stderr()
    );
    assert_eq!(
        p.inbound_rows(),
        vec![("slow one".to_string(), "answered".to_string())]
    );
}

#[test]
fn sighup_applies_a_changed_log_level_and_keeps_running() {
    let mut p = Picoclaw::new("sig-hup");
    start_notified(&mut p, &[]);
    p.say("one");
    assert_eq!(p.replies(1), vec!["echo: one"]);
    // At debug level a turn logs debug lines.
    assert!(p.wait_log(" DEBUG ", WAIT), "{}", p.stderr());
    p.edit_config(|c| c.replace("level = \"debug\"", "level = \"warn\""));
    p.signal(libc::SIGHUP);
    assert!(
        p.wait_log("log.level = warn applied", WAIT),
        "the reload is confirmed even though info lines are now hidden:\n{}",
        p.stderr()
    );
    let before = p.stderr().len();
    p.say("two");
    assert_eq!(p.replies(2), vec!["echo: one", "echo: two"]);
    assert!(p.is_running());
    let after = p.stderr()[before..].to_string();
    assert!(
        !after.contains(" DEBUG ") && !after.contains(" INFO "),
        "warn level in effect after SIGHUP:\n{after}"
    );
}

#[test]
fn sighup_with_a_broken_config_logs_an_error_and_keeps_running() {
    let mut p = Picoclaw::new("sig-hup-bad");
    start_notified(&mut p, &[]);
    p.edit_config(|c| format!("{c}\n[agent\n"));
    p.signal(libc::SIGHUP);
    assert!(
        p.wait_log("SIGHUP: config not reloaded", WAIT),
        "{}",
        p.stderr()
    );
    let err = p.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("SIGHUP: config not reloaded"))
        .unwrap();
    assert!(line.contains(" ERROR "), "{line}");
    assert!(
        line.contains(&p.config.display().to_string()),
        "names the file: {line}"
    );
    p.say("still there?");
    assert_eq!(p.replies(1), vec!["echo: still there?"]);
    assert!(p.is_running());
}

#[test]
fn watchdog_pings_arrive_when_watchdog_usec_is_set() {
    let mut p = Picoclaw::new("sig-watchdog");
    let sock = start_notified(&mut p, &[("WATCHDOG_USEC", "400000")]);
    let got = sock.wait_for("WATCHDOG=1", WAIT);
    assert!(got.iter().any(|s| s == "WATCHDOG=1"), "{got:?}");
    assert_eq!(got[0], "READY=1", "ready comes first: {got:?}");
    // Pings keep coming (the first tick is immediate, later ones are not).
    let before = got.iter().filter(|s| *s == "WATCHDOG=1").count();
    let more = wait_until(WAIT, || {
        sock.wait_for("never", std::time::Duration::from_millis(200))
            .iter()
            .filter(|s| *s == "WATCHDOG=1")
            .count()
            >= before + 2
    });
    assert!(more, "{:?}", sock.wait_for("never", Default::default()));
}

#[test]
fn no_watchdog_pings_without_watchdog_usec() {
    let mut p = Picoclaw::new("sig-nowatchdog");
    let sock = start_notified(&mut p, &[]);
    p.say("hello");
    assert_eq!(p.replies(1), vec!["echo: hello"]);
    p.signal(libc::SIGTERM);
    let got = sock.wait_for("STOPPING=1", WAIT);
    assert_eq!(got, vec!["READY=1", "STOPPING=1"]);
}

#[test]
fn while_telegram_is_unreachable_at_boot_the_watchdog_is_fed_and_sigterm_still_stops_cleanly() {
    let mut p = Picoclaw::new("sig-boot");
    // getMe keeps failing: the connect backoff outlasts the test.
    for _ in 0..10 {
        p.tg.fail_next(
            "getMe",
            picoclaw_testkit::fake_telegram::Fault::status(502, "Bad Gateway"),
        );
    }
    let sock = start_ready(&mut p, &[("WATCHDOG_USEC", "400000")]);
    let got = sock.wait_for("WATCHDOG=1", WAIT);
    assert!(
        got.iter().any(|s| s == "WATCHDOG=1"),
        "{got:?}\n{}",
        p.stderr()
    );
    assert!(
        p.wait_log("telegram: poll failed (Telegram getMe: HTTP 502", WAIT),
        "{}",
        p.stderr()
    );
    assert_eq!(p.tg.get_updates_calls(), 0, "still not connected");
    p.signal(libc::SIGTERM);
    let got = sock.wait_for("STOPPING=1", WAIT);
    let status = p.wait_exit(WAIT);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", p.stderr());
    assert!(
        got.iter().any(|s| s == "STOPPING=1"),
        "STOPPING=1 also when stopped before channels connected: {got:?}"
    );
}

#[test]
fn sigterm_during_a_turn_longer_than_the_deadline_exits_zero_and_the_next_start_answers_once() {
    let mut p = Picoclaw::new("sig-deadline");
    p.edit_config(|c| c.replace("shutdown_timeout_secs = 5", "shutdown_timeout_secs = 1"));
    p.llm
        .push(Step::Fault(picoclaw_testkit::fake_llm::Fault::Delay(
            std::time::Duration::from_secs(30),
            Box::new(Step::text("far too late")),
        )));
    let sock = start_notified(&mut p, &[]);
    p.say("a very slow question");
    assert!(wait_until(WAIT, || p.llm.request_count() == 1));
    p.signal(libc::SIGTERM);
    sock.wait_for("STOPPING=1", WAIT);
    let status = p.wait_exit(WAIT);
    let err = p.stderr();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{err}");
    assert!(err.contains("it will resume on the next start"), "{err}");
    assert!(p.visible().is_empty());
    assert_eq!(
        p.inbound_rows(),
        vec![("a very slow question".to_string(), "working".to_string())]
    );
    p.start();
    assert_eq!(p.replies(1), vec!["echo: a very slow question"]);
    assert_eq!(
        p.barrier("deadline"),
        vec!["echo: a very slow question", "echo: barrier deadline"]
    );
}
