//! Subagents: a child turn with its own history and tools, bounded by
//! depth, concurrency and time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use picoclaw_agent::SubagentOptions;
use picoclaw_core::{Role, ToolOutput};

use super::fakes::{eventually, FakeTool, Harness, Request, Step};

/// The subagent's system prompt starts this way; the parent's does not.
fn is_child(r: &Request) -> bool {
    r.system.starts_with("You are a subagent")
}

fn task_of(r: &Request) -> String {
    r.messages
        .iter()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.clone())
        .unwrap_or_default()
}

fn spawn(task: &str) -> (String, String) {
    (
        String::from("spawn"),
        serde_json::json!({ "task": task }).to_string(),
    )
}

fn limits(max_concurrent: usize, timeout: Duration) -> SubagentOptions {
    SubagentOptions {
        max_concurrent,
        timeout,
        ..SubagentOptions::default()
    }
}

fn tool_results(r: &Request) -> Vec<String> {
    r.messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.clone())
        .collect()
}

#[tokio::test]
async fn a_subagent_works_from_the_task_alone_and_its_answer_is_the_tool_result() {
    let h = Harness::new("spawn-basic");
    let calls = Arc::new(AtomicUsize::new(0));
    let lookups = calls.clone();
    h.llm
        .push(Step::Call(
            "spawn".into(),
            r#"{"task":"look up the answer","tools":["lookup"]}"#.into(),
        ))
        // The child: one tool round, then its answer.
        .push(Step::Call("lookup".into(), "{}".into()))
        .push(Step::Text("the answer is 42".into()))
        .push(Step::Text("Done: 42.".into()));
    h.chan.push("1", "please delegate this");
    let tool = FakeTool::boxed("lookup", calls, |_, _, _| ToolOutput::ok("42"));
    let other = FakeTool::boxed("other", Arc::new(AtomicUsize::new(0)), |_, _, _| {
        ToolOutput::ok("")
    });
    let agent = h
        .agent(vec![tool, other])
        .with_subagents(SubagentOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    assert_eq!(h.replies(), ["Done: 42."]);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
    let reqs = h.llm.requests();
    let child: Vec<&Request> = reqs.iter().filter(|r| is_child(r)).collect();
    assert_eq!(child.len(), 2);
    // Its own short history: the task, nothing of the parent's chat.
    assert_eq!(child[0].messages.len(), 1);
    assert_eq!(task_of(child[0]), "look up the answer");
    // Only the tools it was given (and spawn, one level down).
    assert_eq!(child[0].tools, ["lookup", "spawn"]);
    let parent_last = reqs.last().unwrap();
    assert!(!is_child(parent_last));
    assert_eq!(tool_results(parent_last), ["the answer is 42"]);
    // The parent's history holds the spawn call and its result, not the
    // child's steps.
    let roles: Vec<Role> = parent_last.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool]);
    // Every model call, the child's two included, is counted (the fake
    // reports 10 input tokens each).
    let session = h.db.blocking(|s| s.active_session("fake:1")).unwrap();
    let usage = h.db.blocking(|s| s.usage_totals(session)).unwrap();
    assert_eq!(usage.input_tokens, 10 * 4);
}

#[tokio::test]
async fn spawning_stops_at_depth_two() {
    let h = Harness::new("spawn-depth");
    h.llm.respond(|r| {
        let task = task_of(r);
        let answered = r.messages.iter().any(|m| m.role == Role::Tool);
        Some(match (is_child(r), task.as_str(), answered) {
            (false, _, false) => Step::Calls(vec![spawn("level one")]),
            (true, "level one", false) => Step::Calls(vec![spawn("level two")]),
            (true, "level two", false) => Step::Calls(vec![spawn("level three")]),
            (_, _, true) => Step::Text(format!(
                "after: {}",
                r.messages.last().map_or("", |m| m.content.as_str())
            )),
            _ => Step::Text(String::from("unexpected")),
        })
    });
    h.chan.push("1", "go deep");
    let agent = h.agent(vec![]).with_subagents(SubagentOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let reqs = h.llm.requests();
    let first_of = |task: &str| {
        reqs.iter()
            .find(|r| is_child(r) && task_of(r) == task && r.messages.len() == 1)
            .cloned()
            .unwrap()
    };
    assert_eq!(first_of("level one").tools, ["spawn"]);
    assert!(
        first_of("level two").tools.is_empty(),
        "a depth-2 child is offered no spawn"
    );
    assert!(!reqs.iter().any(|r| task_of(r) == "level three"));
    // The depth-2 child called spawn anyway and was told it does not exist.
    let refused = reqs
        .iter()
        .find(|r| task_of(r) == "level two" && r.messages.len() == 3)
        .unwrap();
    assert!(
        tool_results(refused)[0].starts_with("unknown tool 'spawn'"),
        "{:?}",
        tool_results(refused)
    );
}

#[tokio::test]
async fn at_most_two_subagents_run_at_once_and_a_third_waits_for_a_slot() {
    let h = Harness::new("spawn-concurrency");
    let started = Arc::new(AtomicUsize::new(0));
    let seen = started.clone();
    h.llm.respond(move |r| {
        if !is_child(r) {
            return Some(if r.messages.iter().any(|m| m.role == Role::Tool) {
                Step::Text(tool_results(r).join(" | "))
            } else {
                Step::Calls(vec![spawn("a"), spawn("b"), spawn("c")])
            });
        }
        seen.fetch_add(1, Ordering::SeqCst);
        Some(Step::Hold(format!("answer {}", task_of(r))))
    });
    h.chan.push("1", "three things at once");
    let agent = h
        .agent(vec![])
        .with_subagents(limits(2, Duration::from_secs(60)));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut rt = picoclaw_agent::Runtime::new(
        agent,
        picoclaw_agent::RuntimeOptions {
            shutdown_timeout: Duration::from_secs(1),
        },
    );
    rt.channel(h.chan.clone());
    let run = tokio::spawn(rt.run(rx));
    eventually(|| started.load(Ordering::SeqCst) >= 2).await;
    // Give a third child every chance to start wrongly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(started.load(Ordering::SeqCst), 2, "the third waits");
    h.llm.release();
    eventually(|| !h.chan.sent().is_empty()).await;
    tx.send(true).unwrap();
    run.await.unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(
        h.llm.max_in_flight.load(Ordering::SeqCst),
        2,
        "never more than two model calls in flight"
    );
    // Results in call order, whatever order the children finished in.
    assert_eq!(h.replies(), ["answer a | answer b | answer c"]);
}

#[tokio::test]
async fn a_nested_spawn_with_no_free_slot_is_refused_at_once() {
    let h = Harness::new("spawn-nested-full");
    h.llm.respond(|r| {
        let answered = r.messages.iter().any(|m| m.role == Role::Tool);
        Some(match (is_child(r), answered) {
            (false, false) => Step::Calls(vec![spawn("outer")]),
            (true, false) => Step::Calls(vec![spawn("inner")]),
            (_, true) => Step::Text(tool_results(r).join(" | ")),
        })
    });
    h.chan.push("1", "nest");
    let agent = h
        .agent(vec![])
        .with_subagents(limits(1, Duration::from_secs(60)));
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let reply = &h.replies()[0];
    assert!(
        reply.contains("at most 1 subagents run at once and none is free"),
        "{reply}"
    );
    assert!(!h.llm.requests().iter().any(|r| task_of(r) == "inner"));
}

#[tokio::test]
async fn a_subagent_past_its_timeout_is_stopped_and_the_parent_goes_on() {
    let h = Harness::new("spawn-timeout");
    h.llm.respond(|r| {
        Some(
            match (is_child(r), r.messages.iter().any(|m| m.role == Role::Tool)) {
                (false, false) => Step::Calls(vec![spawn("slow")]),
                (false, true) => Step::Text(format!("parent saw: {}", tool_results(r)[0])),
                (true, _) => Step::Hold(String::from("too late")),
            },
        )
    });
    h.chan.push("1", "try the slow thing");
    let agent = h
        .agent(vec![])
        .with_subagents(limits(2, Duration::from_secs(1)));
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    h.llm.release();
    assert_eq!(
        h.replies(),
        ["parent saw: the subagent did not finish within 1 s and was stopped; work it did may be in the workspace"]
    );
}

#[tokio::test]
async fn a_subagent_may_not_be_given_tools_its_parent_lacks() {
    let h = Harness::new("spawn-subset");
    h.llm
        .push(Step::Call(
            "spawn".into(),
            r#"{"task":"t","tools":["exec"]}"#.into(),
        ))
        .push(Step::Text("ok".into()));
    h.chan.push("1", "x");
    let tool = FakeTool::boxed("lookup", Arc::new(AtomicUsize::new(0)), |_, _, _| {
        ToolOutput::ok("")
    });
    let agent = h
        .agent(vec![tool])
        .with_subagents(SubagentOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let reqs = h.llm.requests();
    assert_eq!(
        tool_results(&reqs[1]),
        ["'tools' names \"exec\", which is not one of your tools (lookup)"]
    );
    assert!(!reqs.iter().any(is_child));
}

#[tokio::test]
async fn a_subagents_tool_calls_are_scrubbed_of_secrets_and_audited_like_the_parents() {
    let h = Harness::new("spawn-audit");
    picoclaw_core::redact::register("subagent-held-token-0123456789");
    h.llm
        .push(Step::Call(
            "spawn".into(),
            r#"{"task":"read the env","tools":["leaky"]}"#.into(),
        ))
        .push(Step::Call("leaky".into(), r#"{"what":"env"}"#.into()))
        .push(Step::Text("read it".into()))
        .push(Step::Text("Done.".into()));
    h.chan.push("1", "delegate");
    let tool = FakeTool::boxed("leaky", Arc::new(AtomicUsize::new(0)), |_, _, _| {
        ToolOutput::ok("TOKEN=subagent-held-token-0123456789")
    });
    let agent = h
        .agent(vec![tool])
        .with_subagents(SubagentOptions::default());
    h.run_agent_until(agent, |h| !h.chan.sent().is_empty())
        .await;
    let reqs = h.llm.requests();
    let child_second = reqs.iter().filter(|r| is_child(r)).nth(1).unwrap();
    assert_eq!(tool_results(child_second), ["TOKEN=***"]);
    let rows =
        h.db.call(|s| {
            s.tool_calls(&picoclaw_store::AuditFilter {
                limit: 10,
                ..Default::default()
            })
        })
        .await
        .unwrap();
    let summary: Vec<(&str, Option<i64>, &str)> = rows
        .iter()
        .map(|r| (r.tool.as_str(), r.inbound_id, r.chat_id.as_str()))
        .collect();
    // The child's call (no inbound of its own), then the parent's spawn.
    assert_eq!(summary, [("leaky", None, "1"), ("spawn", Some(1), "1")]);
}
