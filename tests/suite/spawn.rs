//! Subagents through the binary: a child turn runs its task with the
//! parent's sandboxed tools, its tokens count, and its timeout holds.

use std::time::Duration;

use picoclaw_testkit::fake_llm::Fault;

use crate::util::*;

/// The model calls of the chat, as `picoclaw usage` counts them.
fn calls_counted(p: &Picoclaw) -> String {
    let out = p.run_cli(&["usage", "--since", "1d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("telegram:{USER} ")))
        .unwrap_or_else(|| panic!("no row for the chat:\n{text}"))
        .to_string();
    row.split_whitespace().nth(1).unwrap_or("").to_string()
}

#[test]
fn a_subagent_runs_its_task_in_the_same_sandbox_and_its_model_calls_are_counted() {
    let mut p = Picoclaw::new("spawn");
    p.start();
    p.say(r#"[[call spawn {"task":"run it [[call exec {\"command\":\"id -u\"}]]","tools":["exec"]}]]"#);
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 4, "parent, child, child, parent");
    // The child's first request: its task alone, only exec offered.
    let child = &reqs[1].body;
    let msgs = child["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "system prompt and the task: {child}");
    assert!(msgs[0]["content"]
        .as_str()
        .unwrap()
        .starts_with("You are a subagent"));
    let tools: Vec<&str> = child["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(tools, ["exec", "spawn"]);
    // exec ran as the sandbox's tool user, not root.
    let child_result = &reqs[2].body["messages"].as_array().unwrap().last().unwrap()["content"];
    let text = child_result.as_str().unwrap();
    assert!(text.starts_with("exit 0"), "{text}");
    assert!(text.contains("65534"), "{text}");
    // The parent got the child's final answer as the spawn result.
    assert_eq!(p.tool_messages(3), [format!("done: {}", &text[..40])]);
    assert_eq!(calls_counted(&p), "4", "the child's two calls count");
}

#[test]
fn a_subagent_over_its_timeout_is_stopped_and_the_parent_answers() {
    let mut p = Picoclaw::with_config("spawn-timeout", "[tools.spawn]\ntimeout_secs = 1\n");
    p.llm
        .push(Step::tool_call("spawn", r#"{"task":"take your time"}"#))
        .push(Step::Fault(Fault::Delay(
            Duration::from_secs(4),
            Box::new(Step::text("too late")),
        )));
    p.start();
    p.say("delegate");
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    assert_eq!(
        p.tool_messages(2),
        ["the subagent did not finish within 1 s and was stopped; work it did may be in the workspace"]
    );
    assert!(
        r[0].starts_with("done: the subagent did not finish"),
        "{r:?}"
    );
}
