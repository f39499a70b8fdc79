//! A provider's "prompt too long" answer, in each vendor's shape, makes the
//! daemon summarise the older part of the conversation and retry once.

use crate::util::*;
use picoclaw_testkit::fake_llm::Fault;

const NOTICE: &str = "Earlier messages were summarised";

fn too_long(body: serde_json::Value) -> Step {
    Step::Fault(Fault::Status {
        code: 400,
        body: Some(body),
        retry_after: None,
    })
}

/// Three answered exchanges, then a message the model refuses as too long
/// once; returns the reply to it.
fn refused_once_then(p: &mut Picoclaw, push: impl Fn(Step), body: serde_json::Value) -> String {
    p.start();
    for i in 0..3 {
        p.say(&format!("earlier question {i}"));
    }
    assert_eq!(p.replies(3).len(), 3, "{}", p.stderr());
    push(too_long(body));
    p.say("the question that overflows");
    let r = p.replies(4);
    assert_eq!(r.len(), 4, "{}", p.stderr());
    r[3].clone()
}

#[test]
fn an_openai_context_length_error_compacts_the_history_and_retries_once() {
    let mut p = Picoclaw::new("compact-openai");
    let llm = std::sync::Arc::new(std::mem::replace(&mut p.llm, FakeLlm::start()));
    let reply = refused_once_then(
        &mut p,
        |s| {
            llm.push(s);
        },
        serde_json::json!({"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
    );
    assert!(reply.contains(NOTICE), "{reply}");
    assert!(
        reply.ends_with("echo: the question that overflows"),
        "{reply}"
    );
    let reqs = llm.requests();
    // 3 answers, the refused call, the summary, the retry.
    assert_eq!(reqs.len(), 6);
    let summary_req = reqs[4].body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(summary_req.contains("earlier question 0"), "{summary_req}");
    let retry = &reqs[5].body;
    assert!(
        retry["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("## Earlier in this conversation (summary)"),
        "{retry}"
    );
    assert!(
        retry["messages"].as_array().unwrap().len()
            < reqs[3].body["messages"].as_array().unwrap().len(),
        "the retry carries less history"
    );
    assert_eq!(
        p.inbound_rows().last().unwrap(),
        &(
            "the question that overflows".to_string(),
            "answered".to_string()
        )
    );
}

#[test]
fn an_anthropic_prompt_too_long_error_compacts_the_history_and_retries_once() {
    let anthropic = FakeLlm::start_with_key("sk-ant-compact");
    let extra = format!(
        "[[providers]]\nname = \"claude\"\nkind = \"anthropic\"\nbase_url = \"{}\"\nmodel = \"claude-test\"\napi_key = \"sk-ant-compact\"\n",
        anthropic.anthropic_base()
    );
    let mut p = Picoclaw::with_config("compact-anthropic", &extra);
    p.edit_config(|c| {
        let start = c.find("[[providers]]\nname = \"primary\"").unwrap();
        let end = start + c[start..].find("max_retries = 1\n").unwrap() + "max_retries = 1\n".len();
        format!("{}{}", &c[..start], &c[end..])
    });
    let reply = refused_once_then(
        &mut p,
        |s| {
            anthropic.push(s);
        },
        serde_json::json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "prompt is too long: 208012 tokens > 200000 maximum"}}),
    );
    assert!(reply.contains(NOTICE), "{reply}");
    let reqs = anthropic.requests();
    assert_eq!(reqs.len(), 6);
    assert!(
        reqs[5].body["system"]
            .to_string()
            .contains("Earlier in this conversation (summary)"),
        "{}",
        reqs[5].body
    );
}
