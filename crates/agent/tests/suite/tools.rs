use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::{Role, ToolOutput};

use super::fakes::{FakeTool, Harness, Step};

fn call(name: &str, args: &str) -> Step {
    Step::Call(name.to_string(), args.to_string())
}

#[tokio::test]
async fn tool_results_go_back_to_the_model_until_it_answers() {
    let h = Harness::new("loop");
    let calls = Arc::new(AtomicUsize::new(0));
    h.llm
        .push(call("lookup", r#"{"q":"a"}"#))
        .push(call("lookup", r#"{"q":"b"}"#))
        .push(Step::Text("found a and b".into()));
    h.chan.push("1", "look things up");
    let tool = FakeTool::boxed("lookup", calls.clone(), |_, args, _| {
        ToolOutput::ok(format!("result for {}", args["q"].as_str().unwrap_or("?")))
    });
    h.run_until(vec![tool], Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    assert_eq!(h.replies(), ["found a and b"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let reqs = h.llm.requests();
    assert_eq!(reqs.len(), 3);
    let last = &reqs[2].messages;
    let results: Vec<&str> = last
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(results, ["result for a", "result for b"]);
    assert_eq!(reqs[0].tools, ["lookup"]);
    assert!(
        reqs[0].system.contains("Tools: lookup."),
        "{}",
        reqs[0].system
    );
}

#[tokio::test]
async fn at_the_iteration_cap_the_model_must_answer_without_tools() {
    let mut h = Harness::new("cap");
    h.opts.max_tool_iterations = 2;
    let calls = Arc::new(AtomicUsize::new(0));
    for i in 0..3 {
        h.llm.push(call("lookup", &format!(r#"{{"q":"{i}"}}"#)));
    }
    h.chan.push("1", "loop forever");
    let tool = FakeTool::boxed("lookup", calls.clone(), |_, _, n| {
        ToolOutput::ok(format!("r{n}"))
    });
    h.run_until(vec![tool], Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    let reqs = h.llm.requests();
    assert_eq!(reqs.len(), 3, "two tool rounds, then one final call");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the final call's tool call is not run"
    );
    assert_eq!(reqs[1].tools, ["lookup"]);
    assert!(reqs[2].tools.is_empty(), "the final call offers no tools");
    assert!(!reqs[2].system.contains("Tools:"), "nor names them");
    let note = reqs[2].messages.last().unwrap();
    assert!(
        note.content.contains("tool-call limit"),
        "{:?}",
        note.content
    );
    // The model called a tool anyway and said nothing: the call is dropped
    // and the user still gets an answer.
    assert_eq!(h.replies(), ["(The model returned an empty answer.)"]);
}

#[tokio::test]
async fn the_same_failing_call_three_times_ends_the_turn_with_the_reason() {
    let h = Harness::new("fail");
    let calls = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        h.llm.push(call("flaky", r#"{"x":1}"#));
    }
    h.chan.push("1", "try it");
    let tool = FakeTool::boxed("flaky", calls.clone(), |_, _, _| {
        ToolOutput::error("disk on fire")
    });
    h.run_until(vec![tool], Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(h.llm.requests().len(), 3);
    let reply = &h.replies()[0];
    assert!(
        reply.starts_with(
            "I stopped: the tool `flaky` failed 3 times in a row with the same arguments."
        ),
        "{reply}"
    );
    assert!(reply.contains("disk on fire"), "{reply}");
}

#[tokio::test]
async fn a_failing_call_with_new_arguments_each_time_is_not_a_loop() {
    let h = Harness::new("fail-varied");
    let calls = Arc::new(AtomicUsize::new(0));
    for i in 0..4 {
        h.llm.push(call("flaky", &format!(r#"{{"x":{i}}}"#)));
    }
    h.llm.push(Step::Text("gave up politely".into()));
    h.chan.push("1", "try it");
    let tool = FakeTool::boxed("flaky", calls.clone(), |_, _, _| ToolOutput::error("nope"));
    h.run_until(vec![tool], Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(h.replies(), ["gave up politely"]);
}

/// Tools that appear while picoclaw runs (an MCP server's list changed).
struct Changing {
    generation: AtomicUsize,
}

impl picoclaw_agent::ToolSource for Changing {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst) as u64
    }

    fn tools(&self) -> Vec<Arc<dyn picoclaw_core::Tool>> {
        if self.generation.load(Ordering::SeqCst) == 0 {
            return Vec::new();
        }
        let tool = FakeTool::boxed("late", Arc::new(AtomicUsize::new(0)), |_, _, _| {
            ToolOutput::ok("late result")
        });
        vec![Arc::from(tool)]
    }
}

#[tokio::test]
async fn a_tool_source_that_changes_is_offered_from_the_next_call_on() {
    let h = Harness::new("source");
    let source = Arc::new(Changing {
        generation: AtomicUsize::new(0),
    });
    let agent = |h: &Harness| {
        picoclaw_agent::Agent::new(
            h.opts.clone(),
            h.llm.clone(),
            picoclaw_tools::ToolSet::new(Vec::new()),
            h.db.clone(),
        )
        .with_tool_source(source.clone())
    };
    h.chan.push("1", "first");
    h.run_agent_until(agent(&h), |h| h.chan.sent().len() == 1)
        .await;
    source.generation.store(1, Ordering::SeqCst);
    h.llm.push(call("late", "{}"));
    h.chan.push("1", "second");
    h.run_agent_until(agent(&h), |h| h.chan.sent().len() == 2)
        .await;
    let reqs = h.llm.requests();
    assert!(reqs[0].tools.is_empty());
    assert_eq!(reqs[1].tools, ["late"]);
    assert!(
        reqs[1].system.contains("Tools: late."),
        "{}",
        reqs[1].system
    );
    let result = reqs[2]
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Tool)
        .unwrap();
    assert_eq!(result.content, "late result");
}

#[tokio::test]
async fn secrets_in_tool_output_never_reach_the_model_and_every_call_is_audited() {
    let h = Harness::new("redact");
    picoclaw_core::redact::register("config-held-token-0123456789");
    let calls = Arc::new(AtomicUsize::new(0));
    h.llm
        .push(call("leaky", r#"{"what":"env"}"#))
        .push(call("leaky", r#"{"what":"fail"}"#))
        .push(Step::Text("done".into()));
    h.chan.push("1", "show me");
    let tool = FakeTool::boxed("leaky", calls.clone(), |_, args, _| {
        if args["what"] == "fail" {
            return ToolOutput::error("no such file: id_rsa");
        }
        ToolOutput::ok(
            "TOKEN_FROM_CONFIG=config-held-token-0123456789\n\
             key sk-proj-0123456789abcdefABCDEF\n\
             -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\n-----END EC PRIVATE KEY-----\n",
        )
    });
    h.run_until(vec![tool], Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    let reqs = h.llm.requests();
    let seen: Vec<String> = reqs[2]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.clone())
        .collect();
    assert_eq!(
        seen,
        [
            "TOKEN_FROM_CONFIG=***\nkey sk-***\n-----BEGIN EC PRIVATE KEY-----***-----END EC PRIVATE KEY-----\n",
            "no such file: id_rsa"
        ]
    );
    let rows =
        h.db.call(|s| {
            s.tool_calls(&picoclaw_store::AuditFilter {
                limit: 10,
                ..Default::default()
            })
        })
        .await
        .unwrap();
    let summary: Vec<(&str, &str, &str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.tool.as_str(),
                r.arguments.as_str(),
                r.status.as_str(),
                r.detail.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("leaky", r#"{"what":"env"}"#, "ok", None),
            (
                "leaky",
                r#"{"what":"fail"}"#,
                "error",
                Some("no such file: id_rsa")
            ),
        ]
    );
    let who: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.channel.as_str(), r.chat_id.as_str(), r.user_id.as_str()))
        .collect();
    assert_eq!(who, [("fake", "1", "1"), ("fake", "1", "1")]);
}
