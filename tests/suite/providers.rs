//! Provider retries and fallback as the user sees them (issue 3).

use picoclaw_testkit::fake_llm::Fault;

use crate::util::*;

/// The fixture with a second provider, `backup`, behind the primary.
fn with_backup(tag: &str) -> (Picoclaw, FakeLlm) {
    let backup = FakeLlm::start();
    let p = Picoclaw::with_config(tag, &fallback_provider("backup", &backup));
    (p, backup)
}

#[test]
fn a_failing_primary_falls_over_to_the_backup_provider() {
    let (mut p, backup) = with_backup("fallback-5xx");
    // max_retries = 1: two attempts at the primary, then the backup.
    p.llm.push(Step::status(500)).push(Step::status(503));
    p.start();
    p.say("are you there?");
    assert_eq!(p.replies(1), vec!["echo: are you there?"]);
    assert_eq!(p.llm.request_count(), 2);
    assert_eq!(backup.request_count(), 1);
    assert_eq!(backup.requests()[0].body["model"], "backup-model");
    assert_eq!(
        p.inbound_rows(),
        vec![("are you there?".to_string(), "answered".to_string())]
    );
    // Who answered is recorded with the usage.
    let providers: Vec<String> = p
        .db()
        .prepare("SELECT provider FROM usage")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(providers.len(), 1);
    assert!(providers[0].contains("backup"), "{providers:?}");
}

#[test]
fn an_unreachable_primary_falls_over_to_the_backup_provider() {
    let (mut p, backup) = with_backup("fallback-refused");
    let primary = p.llm.openai_base();
    p.edit_config(|c| c.replace(&primary, &refused_url()));
    p.start();
    p.say("anyone?");
    assert_eq!(p.replies(1), vec!["echo: anyone?"], "{}", p.stderr());
    assert_eq!(p.llm.request_count(), 0);
    assert_eq!(backup.request_count(), 1);
}

#[test]
fn when_every_provider_fails_the_user_gets_a_short_clear_message_and_the_turn_is_failed() {
    let (mut p, backup) = with_backup("all-fail");
    p.llm.push(Step::status(500)).push(Step::status(500));
    backup.push(Step::status(502)).push(Step::status(502));
    p.start();
    p.say("hello?");
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    assert!(
        r[0].starts_with("Sorry, I couldn't get an answer from the model"),
        "{}",
        r[0]
    );
    assert!(r[0].chars().count() < 400, "short: {}", r[0]);
    assert!(!r[0].contains("sk-e2e"), "no secrets: {}", r[0]);
    assert_eq!(p.llm.request_count(), 2);
    assert_eq!(backup.request_count(), 2);
    assert_eq!(
        p.inbound_rows(),
        vec![("hello?".to_string(), "failed".to_string())]
    );
    // Providers recover; the next message is answered normally.
    assert_eq!(
        p.barrier("recovered"),
        vec![r[0].clone(), "echo: barrier recovered".to_string()]
    );
}

#[test]
fn a_400_from_the_provider_is_reported_without_trying_the_backup() {
    let (mut p, backup) = with_backup("400");
    p.llm.push(Step::Fault(Fault::Status {
        code: 400,
        body: Some(
            serde_json::json!({"error": {"message": "context too long for this model",
            "type": "invalid_request_error", "param": null, "code": null}}),
        ),
        retry_after: None,
    }));
    p.start();
    p.say("a huge question");
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    assert!(r[0].contains("HTTP 400"), "{}", r[0]);
    assert!(
        r[0].contains("context too long"),
        "the reason is shown: {}",
        r[0]
    );
    assert_eq!(p.llm.request_count(), 1, "not retried");
    assert_eq!(backup.request_count(), 0, "no fallback on a 400");
    assert_eq!(
        p.inbound_rows(),
        vec![("a huge question".to_string(), "failed".to_string())]
    );
}

#[test]
fn a_rate_limited_provider_is_retried_after_retry_after() {
    let mut p = Picoclaw::new("llm-429");
    p.llm.push(Step::Fault(Fault::Status {
        code: 429,
        body: None,
        retry_after: Some(1),
    }));
    p.start();
    p.say("busy?");
    assert_eq!(p.replies(1), vec!["echo: busy?"], "{}", p.stderr());
    assert_eq!(p.llm.request_count(), 2);
    assert!(p.stderr().contains("retry 1/1 in 1000ms"), "{}", p.stderr());
}

#[test]
fn malformed_answers_from_the_provider_are_survived() {
    let mut p = Picoclaw::new("llm-malformed");
    // Each is retried once (max_retries = 1) and then answered properly.
    p.llm
        .push(Step::Fault(Fault::NonJson))
        .push(Step::text("first answer"))
        .push(Step::Fault(Fault::Truncated))
        .push(Step::text("second answer"))
        .push(Step::Fault(Fault::EmptyChoices))
        .push(Step::text("third answer"));
    p.start();
    p.say("one");
    assert_eq!(p.replies(1), vec!["first answer"], "{}", p.stderr());
    p.say("two");
    assert_eq!(p.replies(2)[1], "second answer");
    p.say("three");
    assert_eq!(p.replies(3)[2], "third answer");
    assert_eq!(p.llm.request_count(), 6);
    assert!(p.is_running());
    assert!(!p.stderr().contains("panicked"));
}

#[test]
fn the_anthropic_format_works_end_to_end_with_tools() {
    let anthropic = FakeLlm::start_with_key("sk-ant-e2e");
    let extra = format!(
        r#"[[providers]]
name = "claude"
kind = "anthropic"
base_url = "{}"
model = "claude-test"
api_key = "sk-ant-e2e"
"#,
        anthropic.anthropic_base()
    );
    let mut p = Picoclaw::with_config("anthropic", &extra);
    // Only the Anthropic provider: drop the OpenAI primary.
    p.edit_config(|c| {
        let start = c.find("[[providers]]\nname = \"primary\"").unwrap();
        let end = start + c[start..].find("max_retries = 1\n").unwrap() + "max_retries = 1\n".len();
        format!("{}{}", &c[..start], &c[end..])
    });
    p.start();
    p.say(r#"save it [[call write_file {"path":"a.txt","content":"via claude"}]]"#);
    let r = p.replies(1);
    assert!(r[0].starts_with("done: "), "{r:?}\n{}", p.stderr());
    assert_eq!(
        std::fs::read_to_string(p.workspace().join("a.txt")).unwrap(),
        "via claude"
    );
    assert_eq!(p.llm.request_count(), 0);
    let reqs = anthropic.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(reqs[0].header("x-api-key"), Some("sk-ant-e2e"));
}
