//! HTTPS end to end: the fakes serve TLS with a certificate from a CA made
//! for the test, and the real binary must trust it only through
//! `[http] ca_file`, refuse it otherwise (in words, with backoff), and
//! refuse a certificate for another name.

use std::time::Duration;

use picoclaw_testkit::tls::{self_signed_server, TestCa, LOOPBACK_NAMES};

use crate::util::*;

/// Fakes for Telegram and the model, both over HTTPS with `ca`'s
/// certificate for 127.0.0.1; `extra` is appended to the config.
fn over_https(tag: &str, ca: &TestCa, extra: &str) -> Picoclaw {
    let tg = FakeTelegram::start_tls(TOKEN, ca.loopback_server());
    let llm = FakeLlm::start_tls(Some(LLM_KEY), ca.loopback_server());
    let p = Picoclaw::with_fakes(tag, tg, llm, extra);
    ca.write_pem(&p.dir.path().join("ca.pem"));
    p
}

const TRUST_TEST_CA: &str = "[http]\nca_file = \"ca.pem\"\n";

#[test]
fn a_message_is_answered_over_https_when_ca_file_trusts_the_servers_ca() {
    let ca = TestCa::new();
    let mut p = over_https("https-reply", &ca, TRUST_TEST_CA);
    assert!(p.tg.api_base().starts_with("https://127.0.0.1:"));
    assert!(p.llm.openai_base().starts_with("https://127.0.0.1:"));
    p.start();
    p.say("hello over tls");
    assert_eq!(
        p.replies(1),
        vec!["echo: hello over tls"],
        "stderr:\n{}",
        p.stderr()
    );
    assert_eq!(p.llm.request_count(), 1);
    assert_eq!(p.tg.server().handshake_failures(), Vec::<String>::new());
    assert_eq!(p.llm.server().handshake_failures(), Vec::<String>::new());
    // Connections are kept alive, not one handshake per call.
    let polls = p.tg.get_updates_calls();
    assert!(
        p.tg.server().connections() < polls + 3,
        "{} connections for {polls} polls",
        p.tg.server().connections()
    );
}

#[test]
fn an_untrusted_certificate_is_refused_logged_in_words_and_retried_with_backoff() {
    // No ca_file: the built-in roots do not know the test CA.
    let ca = TestCa::new();
    let mut p = over_https("https-untrusted", &ca, "");
    p.start();
    assert!(
        p.wait_log(
            "certificate not trusted: unknown issuer — set [http] ca_file",
            WAIT
        ),
        "stderr:\n{}",
        p.stderr()
    );
    // Backoff from 1 s doubling (with jitter): 3 or 4 attempts in 4.5 s.
    // A tight loop would make hundreds.
    std::thread::sleep(Duration::from_millis(4500));
    let attempts = p.tg.server().connections();
    assert!(
        (2..=5).contains(&attempts),
        "{attempts} connection attempts in 4.5 s\n{}",
        p.stderr()
    );
    // Every attempt was refused by picoclaw during the handshake, with the
    // alert that says why; nothing reached the Bot API.
    let failures = p.tg.server().handshake_failures();
    assert!(
        !failures.is_empty() && failures.iter().all(|f| f.contains("UnknownCA")),
        "{failures:?}"
    );
    assert_eq!(p.tg.get_updates_calls(), 0);
    assert!(p.is_running(), "a TLS failure must not stop the daemon");
}

#[test]
fn an_untrusted_model_server_is_retried_with_backoff_then_the_user_is_told() {
    // Telegram is plain; the model's certificate is self-signed, so the
    // provider's retry policy (max_retries = 1) decides the attempts.
    let tg = FakeTelegram::start(TOKEN);
    let llm = FakeLlm::start_tls(Some(LLM_KEY), self_signed_server(LOOPBACK_NAMES));
    let mut p = Picoclaw::with_fakes("https-untrusted-llm", tg, llm, "");
    p.start();
    p.say("hello?");
    let r = p.replies(1);
    assert!(
        r[0].starts_with("Sorry, I couldn't get an answer from the model"),
        "{r:?}\n{}",
        p.stderr()
    );
    let log = p.stderr();
    assert!(
        log.contains("certificate not trusted: unknown issuer — set [http] ca_file")
            && log.contains("retry 1/1"),
        "{log}"
    );
    // One attempt and one retry, each refused in the handshake: a TLS
    // failure is a retryable transport error, not a tight loop and not a
    // give-up on the first try.
    assert_eq!(p.llm.server().connections(), 2, "{log}");
    assert_eq!(p.llm.server().handshake_failures().len(), 2);
    assert_eq!(p.llm.request_count(), 0);
}

#[test]
fn a_certificate_for_another_host_name_is_refused_as_a_mismatch() {
    let ca = TestCa::new();
    let tg = FakeTelegram::start_tls(TOKEN, ca.server(&["api.telegram.org"]));
    let llm = FakeLlm::start_with_key(LLM_KEY);
    let mut p = Picoclaw::with_fakes("https-mismatch", tg, llm, TRUST_TEST_CA);
    ca.write_pem(&p.dir.path().join("ca.pem"));
    p.start();
    assert!(
        p.wait_log(
            "certificate hostname mismatch: the URL names 127.0.0.1, the certificate is for api.telegram.org",
            WAIT
        ),
        "stderr:\n{}",
        p.stderr()
    );
    assert_eq!(p.tg.get_updates_calls(), 0);
    // Every handshake that got as far as the certificate was refused for
    // it. (Under load a retry can also be cut short by the test ending,
    // which shows up as a different failure; that one proves nothing.)
    let failures = p.tg.server().handshake_failures();
    assert!(
        failures
            .iter()
            .any(|f| f == "received fatal alert: BadCertificate"),
        "{failures:?}"
    );
}

#[test]
fn doctor_says_which_roots_are_in_use() {
    let ca = TestCa::new();
    let p = over_https("https-doctor", &ca, TRUST_TEST_CA);
    let out = p.run_cli(&["doctor"]);
    let text = stdout_of(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("ok    tls roots: "))
        .unwrap_or_else(|| panic!("no tls roots line:\n{text}"));
    let builtin: usize = line
        .strip_prefix("ok    tls roots: built-in webpki roots: ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(builtin > 100, "{line}");
    assert_eq!(
        line,
        format!(
            "ok    tls roots: built-in webpki roots: {builtin} certificates, plus ca_file: {}, 1 certificate",
            p.dir.path().join("ca.pem").display()
        )
    );
    // With the CA trusted, doctor's own Bot API check gets through.
    assert!(
        text.contains("ok    telegram: token accepted, bot @picotest_bot"),
        "{text}"
    );

    let plain = Picoclaw::new("https-doctor-plain");
    let text = stdout_of(&plain.run_cli(&["doctor"]));
    assert!(
        text.contains(&format!(
            "ok    tls roots: built-in webpki roots: {builtin} certificates\n"
        )),
        "{text}"
    );
}

#[test]
fn a_ca_file_that_cannot_be_read_is_a_config_error_with_exit_2() {
    let p = Picoclaw::with_config("https-bad-ca", "[http]\nca_file = \"nowhere.pem\"\n");
    let out = p.run_cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    let config = p.config.display().to_string();
    assert!(
        err.contains(&format!("{config}:")) && err.contains(":1: http.ca_file: cannot read "),
        "{err}"
    );
    assert!(
        err.contains("nowhere.pem: No such file or directory"),
        "{err}"
    );
}
