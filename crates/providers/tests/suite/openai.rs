use picoclaw_core::{ChatMessage, FinishReason, Provider, ToolCall, Usage};
use picoclaw_providers::{OpenAi, ProviderError, ProviderKind};
use picoclaw_testkit::fake_llm::{FakeLlm, Fault, Step, REFUSAL_TEXT};
use serde_json::json;

use super::{assistant_with, opts, read_file_tool, request};

fn provider(fake: &FakeLlm, key: Option<&str>) -> OpenAi {
    OpenAi::new(opts("a", ProviderKind::OpenAi, fake.openai_base(), key)).unwrap()
}

#[test]
fn plain_answer_comes_back_with_usage_and_the_documented_request_shape() {
    let fake = FakeLlm::start_with_key("sk-test-key-123");
    let mut o = opts(
        "a",
        ProviderKind::OpenAi,
        fake.openai_base(),
        Some("sk-test-key-123"),
    );
    o.temperature = Some(0.5);
    o.headers = vec![("HTTP-Referer".into(), "https://picoclaw.example".into())];
    let p = OpenAi::new(o).unwrap();
    let history = [ChatMessage::user("hello there")];
    let c = p.complete(&request("be brief", &history, &[])).unwrap();

    assert_eq!(c.message, ChatMessage::assistant("echo: hello there"));
    assert_eq!(c.finish, FinishReason::Stop);
    // The fake counts 10 per message sent (system + user) and words out.
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 20,
            output_tokens: 3
        }
    );
    assert_eq!(c.served_by, "a/m");

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer sk-test-key-123")
    );
    assert_eq!(
        reqs[0].header("http-referer"),
        Some("https://picoclaw.example")
    );
    assert_eq!(
        reqs[0].body,
        json!({
            "model": "m",
            "max_tokens": 1024,
            "temperature": 0.5,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello there"}
            ]
        })
    );
}

#[test]
fn base_url_without_v1_posts_to_chat_completions() {
    let fake = FakeLlm::start();
    let p = OpenAi::new(opts(
        "ollama",
        ProviderKind::OpenAi,
        format!("{}/", fake.anthropic_base()),
        None,
    ))
    .unwrap();
    let history = [ChatMessage::user("hi")];
    let c = p.complete(&request("", &history, &[])).unwrap();
    assert_eq!(c.message.content, "echo: hi");
    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/chat/completions");
    assert_eq!(reqs[0].header("authorization"), None);
}

#[test]
fn tool_call_round_trip_sends_tools_and_encodes_results() {
    let fake = FakeLlm::start();
    let p = provider(&fake, None);
    let tools = read_file_tool();
    let mut history = vec![ChatMessage::user(
        r#"read it [[call read_file {"path":"notes.txt"}]] [[call read_file {"path":"b"}]]"#,
    )];

    let first = p.complete(&request("sys", &history, &tools)).unwrap();
    assert_eq!(first.finish, FinishReason::ToolCalls);
    assert_eq!(first.message.content, "");
    assert_eq!(
        first.message.tool_calls,
        vec![
            ToolCall {
                id: "call_fake_1_0".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"notes.txt"}"#.into()
            },
            ToolCall {
                id: "call_fake_1_1".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"b"}"#.into()
            },
        ]
    );
    assert_eq!(
        fake.requests()[0].body["tools"],
        json!([{"type": "function", "function": {
        "name": "read_file", "description": "Reads a file in the workspace.", "parameters": tools[0].parameters}}])
    );

    history.push(first.message.clone());
    history.push(ChatMessage::tool_result(
        "call_fake_1_0",
        "shopping: milk, eggs",
    ));
    history.push(ChatMessage::tool_result("call_fake_1_1", "(empty file)"));
    let second = p.complete(&request("sys", &history, &tools)).unwrap();
    assert_eq!(second.message.content, "done: (empty file)");
    assert_eq!(second.finish, FinishReason::Stop);

    let sent = &fake.requests()[1].body["messages"];
    assert_eq!(
        sent.as_array().unwrap()[2..],
        [
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_fake_1_0", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"notes.txt\"}"}},
                {"id": "call_fake_1_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"b\"}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_fake_1_0", "content": "shopping: milk, eggs"}),
            json!({"role": "tool", "tool_call_id": "call_fake_1_1", "content": "(empty file)"}),
        ]
    );
}

#[test]
fn arguments_sent_as_an_object_are_accepted() {
    let fake = FakeLlm::start();
    // Ollama's shape: arguments as an object, no call id, finish "stop".
    let body = json!({"model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "",
        "tool_calls": [{"function": {"name": "read_file", "arguments": {"path": "x.md"}}}]}}]});
    fake.push(Step::Fault(Fault::Status {
        code: 200,
        body: Some(body),
        retry_after: None,
    }));
    let p = provider(&fake, None);
    let history = [ChatMessage::user("go")];
    let c = p
        .complete(&request("", &history, &read_file_tool()))
        .unwrap();
    assert_eq!(
        c.message,
        assistant_with(vec![ToolCall {
            id: "call_0".into(),
            name: "read_file".into(),
            arguments: r#"{"path":"x.md"}"#.into(),
        }])
    );
    assert_eq!(c.finish, FinishReason::ToolCalls);
    assert_eq!(c.usage, Usage::default());
}

#[test]
fn refusal_is_reported_with_its_text() {
    let fake = FakeLlm::start();
    fake.push(Step::Fault(Fault::Refusal));
    let history = [ChatMessage::user("something bad")];
    let c = provider(&fake, None)
        .complete(&request("", &history, &[]))
        .unwrap();
    assert_eq!(
        (c.message.content.as_str(), c.finish),
        (REFUSAL_TEXT, FinishReason::Refusal)
    );
}

#[test]
fn wrong_key_is_an_auth_error_with_the_servers_message() {
    let fake = FakeLlm::start_with_key("sk-right-key-000");
    let history = [ChatMessage::user("hi")];
    let err = provider(&fake, Some("sk-wrong-key-999"))
        .complete(&request("", &history, &[]))
        .unwrap_err();
    match err {
        ProviderError::Auth { status, message } => {
            assert_eq!(
                (status, message.as_str()),
                (401, "invalid_request_error: Incorrect API key provided.")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_bodies_are_decode_errors_and_cut_connections_are_transport_errors() {
    let fake = FakeLlm::start();
    for fault in [Fault::NonJson, Fault::Truncated, Fault::EmptyChoices] {
        fake.push(Step::Fault(fault));
    }
    fake.push(Step::Fault(Fault::Hangup));
    let p = provider(&fake, None);
    let history = [ChatMessage::user("hi")];
    // A body shorter than its content-length fails while reading, before
    // any JSON is seen: that is the transport's error, retried all the same.
    for expected in ["decode", "transport", "decode", "transport"] {
        let err = p.complete(&request("", &history, &[])).unwrap_err();
        let kind = match err {
            ProviderError::Decode(_) => "decode",
            ProviderError::Transport(_) => "transport",
            other => panic!("{other:?}"),
        };
        assert_eq!(kind, expected);
    }
    assert_eq!(fake.request_count(), 4);
}
