use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picoclaw_core::{ChatMessage, Completion, Provider};
use picoclaw_providers::{build, Chain, ProviderError, ProviderKind, ProviderOptions, RetryPolicy};
use picoclaw_testkit::fake_llm::{FakeLlm, Fault, Step};
use serde_json::json;

use super::{fast, opts, request};

fn openai(name: &str, fake: &FakeLlm) -> ProviderOptions {
    opts(name, ProviderKind::OpenAi, fake.openai_base(), None)
}

fn ask(chain: &Chain) -> Result<Completion, ProviderError> {
    let history = [ChatMessage::user("ping")];
    chain.complete(&request("", &history, &[]))
}

/// A loopback address nothing listens on.
fn closed_port_base() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}

#[test]
fn rate_limit_with_retry_after_is_waited_out_then_succeeds() {
    let fake = FakeLlm::start();
    fake.push(Step::Fault(Fault::Status {
        code: 429,
        body: None,
        retry_after: Some(1),
    }));
    let slept = Arc::new(Mutex::new(Vec::new()));
    let record = slept.clone();
    let policy = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_secs(20),
    };
    let chain = build(&[openai("a", &fake)], policy)
        .unwrap()
        .with_sleep(move |d| record.lock().unwrap().push(d));
    let c = ask(&chain).unwrap();
    assert_eq!(
        (c.message.content.as_str(), c.served_by.as_str()),
        ("echo: ping", "a/m")
    );
    assert_eq!(*slept.lock().unwrap(), vec![Duration::from_secs(1)]);
    assert_eq!(fake.request_count(), 2);
}

#[test]
fn server_error_then_recovery_on_the_same_provider() {
    let (a, b) = (FakeLlm::start(), FakeLlm::start());
    a.push(Step::status(500)).push(Step::status(503));
    let chain = build(&[openai("a", &a), openai("b", &b)], fast(2)).unwrap();
    let c = ask(&chain).unwrap();
    assert_eq!(c.served_by, "a/m");
    assert_eq!((a.request_count(), b.request_count()), (3, 0));
}

#[test]
fn bad_request_is_neither_retried_nor_sent_to_the_fallback() {
    let (a, b) = (FakeLlm::start(), FakeLlm::start());
    let body = json!({"error": {"message": "The model `gpt-9` does not exist",
        "type": "invalid_request_error", "param": null, "code": "model_not_found"}});
    a.push(Step::Fault(Fault::Status {
        code: 400,
        body: Some(body),
        retry_after: None,
    }));
    let chain = build(&[openai("a", &a), openai("b", &b)], fast(2)).unwrap();
    match ask(&chain) {
        Err(ProviderError::Request { status, message }) => assert_eq!(
            (status, message.as_str()),
            (
                400,
                "invalid_request_error: The model `gpt-9` does not exist"
            )
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!((a.request_count(), b.request_count()), (1, 0));
}

#[test]
fn a_prompt_too_long_for_the_context_is_reported_as_such_without_retry_or_fallback() {
    let (a, b) = (FakeLlm::start(), FakeLlm::start());
    let body = json!({"error": {"message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
    a.push(Step::Fault(Fault::Status {
        code: 400,
        body: Some(body),
        retry_after: None,
    }));
    let chain = build(&[openai("a", &a), openai("b", &b)], fast(2)).unwrap();
    match ask(&chain) {
        Err(ProviderError::ContextLength { message }) => assert_eq!(
            message,
            "invalid_request_error: This model's maximum context length is 8192 tokens."
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!((a.request_count(), b.request_count()), (1, 0));
}

#[test]
fn unauthorized_primary_falls_back_to_the_next_provider_without_retrying() {
    let a = FakeLlm::start_with_key("sk-the-right-key");
    let b = FakeLlm::start();
    let mut bad = openai("a", &a);
    bad.api_key = Some("sk-a-stale-key".into());
    let anthropic_b = opts(
        "b",
        ProviderKind::Anthropic,
        b.anthropic_base(),
        Some("sk-ant-whatever"),
    );
    let chain = build(&[bad, anthropic_b], fast(2)).unwrap();
    let c = ask(&chain).unwrap();
    assert_eq!(
        (c.message.content.as_str(), c.served_by.as_str()),
        ("echo: ping", "b/m")
    );
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
    assert_eq!(chain.label(), "a/m > b/m");
}

#[test]
fn unreachable_primary_falls_back_after_its_retries() {
    let b = FakeLlm::start();
    let down = opts("a", ProviderKind::OpenAi, closed_port_base(), None);
    let chain = build(&[down, openai("b", &b)], fast(1)).unwrap();
    assert_eq!(ask(&chain).unwrap().served_by, "b/m");
    assert_eq!(b.request_count(), 1);
}

#[test]
fn when_every_provider_fails_the_last_error_is_returned() {
    let (a, b) = (FakeLlm::start(), FakeLlm::start());
    for _ in 0..2 {
        a.push(Step::status(500));
        b.push(Step::status(503));
    }
    let chain = build(&[openai("a", &a), openai("b", &b)], fast(1)).unwrap();
    assert!(matches!(
        ask(&chain),
        Err(ProviderError::Server { status: 503 })
    ));
    assert_eq!((a.request_count(), b.request_count()), (2, 2));
    assert_eq!((a.pending(), b.pending()), (0, 0));
}

#[test]
fn malformed_bodies_and_hangups_are_retried_until_an_answer_arrives() {
    let fake = FakeLlm::start();
    for fault in [
        Fault::NonJson,
        Fault::Truncated,
        Fault::EmptyChoices,
        Fault::Hangup,
    ] {
        fake.push(Step::Fault(fault));
    }
    fake.push(Step::text("finally"));
    let chain = build(&[openai("a", &fake)], fast(4)).unwrap();
    assert_eq!(ask(&chain).unwrap().message.content, "finally");
    assert_eq!(fake.request_count(), 5);
}

#[test]
fn a_slow_provider_times_out_and_the_fallback_answers() {
    let (a, b) = (FakeLlm::start(), FakeLlm::start());
    a.push(Step::Fault(Fault::Delay(
        Duration::from_secs(3),
        Box::new(Step::text("too late")),
    )));
    let mut slow = openai("a", &a);
    slow.timeout = Duration::from_millis(300);
    let chain = build(&[slow, openai("b", &b)], fast(0)).unwrap();
    let c = ask(&chain).unwrap();
    assert_eq!(
        (c.message.content.as_str(), c.served_by.as_str()),
        ("echo: ping", "b/m")
    );
}
