use picoclaw_core::{ChatMessage, FinishReason, Provider, ToolCall, Usage};
use picoclaw_providers::{Anthropic, ProviderError, ProviderKind};
use picoclaw_testkit::fake_llm::{FakeLlm, Fault, Step, REFUSAL_TEXT};
use serde_json::json;

use super::{opts, read_file_tool, request};

const KEY: &str = "sk-ant-test-key-42";

fn provider(fake: &FakeLlm, key: &str) -> Anthropic {
    let mut o = opts(
        "claude",
        ProviderKind::Anthropic,
        fake.anthropic_base(),
        Some(key),
    );
    o.max_tokens = 1000;
    Anthropic::new(o).unwrap()
}

#[test]
fn plain_answer_comes_back_with_usage_and_the_documented_request_shape() {
    let fake = FakeLlm::start_with_key(KEY);
    let history = [ChatMessage::user("hello there")];
    let c = provider(&fake, KEY)
        .complete(&request("be brief", &history, &[]))
        .unwrap();

    assert_eq!(c.message, ChatMessage::assistant("echo: hello there"));
    assert_eq!(c.finish, FinishReason::Stop);
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 10,
            output_tokens: 3
        }
    );
    assert_eq!(c.served_by, "claude/m");

    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(reqs[0].header("x-api-key"), Some(KEY));
    assert_eq!(reqs[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(
        reqs[0].body,
        json!({
            "model": "m",
            "max_tokens": 1000,
            "system": "be brief",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]
        })
    );
}

#[test]
fn tool_call_round_trip_merges_results_into_one_user_turn() {
    let fake = FakeLlm::start_with_key(KEY);
    let p = provider(&fake, KEY);
    let tools = read_file_tool();
    let mut history = vec![ChatMessage::user(
        r#"[[call read_file {"path":"a.txt"}]] [[call read_file {"path":"b.txt"}]]"#,
    )];

    let first = p.complete(&request("sys", &history, &tools)).unwrap();
    assert_eq!(first.finish, FinishReason::ToolCalls);
    assert_eq!(
        first.message.tool_calls,
        vec![
            ToolCall {
                id: "toolu_fake_1_0".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"a.txt"}"#.into()
            },
            ToolCall {
                id: "toolu_fake_1_1".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"b.txt"}"#.into()
            },
        ]
    );
    assert_eq!(
        fake.requests()[0].body["tools"],
        json!([{"name": "read_file", "description": "Reads a file in the workspace.", "input_schema": tools[0].parameters}])
    );

    history.push(first.message.clone());
    history.push(ChatMessage::tool_result("toolu_fake_1_0", "alpha"));
    history.push(ChatMessage::tool_result(
        "toolu_fake_1_1",
        "beta contents that are long enough to be cut off here",
    ));
    let second = p.complete(&request("sys", &history, &tools)).unwrap();
    assert_eq!(
        second.message.content,
        "done: beta contents that are long enough to be"
    );
    assert_eq!(second.finish, FinishReason::Stop);

    // The fake rejects non-alternating roles and unanswered tool_use ids,
    // so getting here already proves the merge; check the exact shape too.
    assert_eq!(
        fake.requests()[1].body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": history[0].content}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_fake_1_0", "name": "read_file", "input": {"path": "a.txt"}},
                {"type": "tool_use", "id": "toolu_fake_1_1", "name": "read_file", "input": {"path": "b.txt"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_fake_1_0", "content": "alpha"},
                {"type": "tool_result", "tool_use_id": "toolu_fake_1_1", "content": history[3].content}
            ]}
        ])
    );
}

#[test]
fn invalid_stored_arguments_are_sent_as_an_empty_object() {
    let fake = FakeLlm::start();
    let history = vec![
        ChatMessage::user("[[call read_file {broken]]"),
        super::assistant_with(vec![ToolCall {
            id: "t1".into(),
            name: "read_file".into(),
            arguments: "{broken".into(),
        }]),
        ChatMessage::tool_result("t1", "error: arguments are not valid JSON"),
    ];
    let c = provider(&fake, KEY)
        .complete(&request("", &history, &read_file_tool()))
        .unwrap();
    assert_eq!(
        c.message.content,
        "done: error: arguments are not valid JSON"
    );
    assert_eq!(
        fake.requests()[0].body["messages"][1]["content"][0]["input"],
        json!({})
    );
}

#[test]
fn wrong_key_is_an_auth_error_with_the_servers_message() {
    let fake = FakeLlm::start_with_key(KEY);
    let history = [ChatMessage::user("hi")];
    match provider(&fake, "sk-ant-wrong-key").complete(&request("", &history, &[])) {
        Err(ProviderError::Auth { status, message }) => {
            assert_eq!(
                (status, message.as_str()),
                (401, "authentication_error: invalid x-api-key")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn overloaded_is_a_server_error_and_refusal_is_reported() {
    let fake = FakeLlm::start();
    fake.push(Step::status(529))
        .push(Step::Fault(Fault::Refusal));
    let p = provider(&fake, KEY);
    let history = [ChatMessage::user("hi")];
    assert!(matches!(
        p.complete(&request("", &history, &[])),
        Err(ProviderError::Server { status: 529 })
    ));
    let c = p.complete(&request("", &history, &[])).unwrap();
    assert_eq!(
        (c.message.content.as_str(), c.finish),
        (REFUSAL_TEXT, FinishReason::Refusal)
    );
}

#[test]
fn a_message_without_content_is_a_decode_error() {
    let fake = FakeLlm::start();
    fake.push(Step::Fault(Fault::EmptyChoices));
    let history = [ChatMessage::user("hi")];
    let err = provider(&fake, KEY)
        .complete(&request("", &history, &[]))
        .unwrap_err();
    assert!(matches!(err, ProviderError::Decode(_)), "{err:?}");
}
