//! The fake LLM must refuse what the real APIs refuse, or the provider
//! tests above would pass against requests a real server rejects.

use picoclaw_http::{Client, HttpOptions};
use picoclaw_testkit::fake_llm::FakeLlm;
use serde_json::{json, Value};

fn post(url: &str, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
    let client = Client::new(&HttpOptions::default()).unwrap();
    let resp = client
        .post_json(url, headers, body.to_string().as_bytes(), None)
        .unwrap();
    (resp.status, serde_json::from_slice(&resp.body).unwrap())
}

fn anthropic_error(message: &str) -> Value {
    json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
}

#[test]
fn fake_anthropic_rejects_what_the_messages_api_rejects() {
    let fake = FakeLlm::start();
    let url = format!("{}/v1/messages", fake.anthropic_base());
    let v = [("anthropic-version", "2023-06-01")];
    let user = json!({"role": "user", "content": "hi"});

    let (status, body) = post(
        &url,
        &v,
        json!({"model": "m", "max_tokens": 10, "messages": [user, user]}),
    );
    assert_eq!(
        (status, body),
        (400, anthropic_error("messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"user\" roles in a row"))
    );
    let (status, body) = post(&url, &v, json!({"model": "m", "messages": [user]}));
    assert_eq!(
        (status, body),
        (400, anthropic_error("max_tokens: Field required"))
    );
    let (status, body) = post(
        &url,
        &[],
        json!({"model": "m", "max_tokens": 10, "messages": [user]}),
    );
    assert_eq!(
        (status, body),
        (
            400,
            anthropic_error("anthropic-version: header is required")
        )
    );
    let unanswered = json!([user,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}]},
        {"role": "user", "content": [{"type": "text", "text": "never mind"}]}]);
    let (status, _) = post(
        &url,
        &v,
        json!({"model": "m", "max_tokens": 10, "messages": unanswered}),
    );
    assert_eq!(status, 400);
    assert_eq!(fake.request_count(), 4);
}

#[test]
fn fake_openai_rejects_orphan_tool_results_and_empty_tool_lists() {
    let fake = FakeLlm::start();
    let url = format!("{}/chat/completions", fake.openai_base());
    let user = json!({"role": "user", "content": "hi"});

    let orphan = json!([user, {"role": "tool", "tool_call_id": "c9", "content": "x"}]);
    let (status, body) = post(&url, &[], json!({"model": "m", "messages": orphan}));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, body) = post(
        &url,
        &[],
        json!({"model": "m", "messages": [user], "tools": []}),
    );
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": {"message": "[] is too short - 'tools'", "type": "invalid_request_error", "param": null, "code": null}})
        )
    );
    let (status, _) = post(&url, &[], json!({"messages": [user]}));
    assert_eq!(status, 400);
    let (status, body) = post(&url, &[], json!({"model": "m", "messages": [user]}));
    assert_eq!(
        (status, body["choices"][0]["message"]["content"].clone()),
        (200, json!("echo: hi"))
    );
}
