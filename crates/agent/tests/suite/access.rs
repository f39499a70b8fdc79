//! Who may talk and what each chat may do (issue 16), through the real
//! runtime: the tools each request offers, refusals, pairing, and the
//! yes/no before a confirmed call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use picoclaw_agent::{
    pairing_now, Access, Agent, ChannelAccess, DmPolicy, Runtime, RuntimeOptions, ToolRule,
};
use picoclaw_core::{ChatKind, Role, Tool, ToolOutput};
use picoclaw_store::Approval;
use tokio::sync::watch;

use super::fakes::{eventually, FakeTool, Harness, Step};

const OWNER: &str = "1";
const MEMBER: &str = "2";

fn policy(rules: Vec<ToolRule>, confirm_timeout: Duration) -> Access {
    Access::new(
        vec![(
            String::from("fake"),
            ChannelAccess {
                dm_policy: DmPolicy::Pairing,
                allow_from: vec![MEMBER.into()],
                owners: vec![OWNER.into()],
                everyone_owns: false,
            },
        )],
        rules,
        confirm_timeout,
    )
}

fn tool(name: &'static str, calls: &Arc<AtomicUsize>) -> Box<dyn Tool> {
    FakeTool::boxed(name, calls.clone(), |_, _, _| ToolOutput::ok("ran"))
}

/// `exec`, `write_file` and `read_file` fakes sharing one call counter.
fn tools(calls: &Arc<AtomicUsize>) -> Vec<Box<dyn Tool>> {
    vec![
        tool("exec", calls),
        tool("write_file", calls),
        tool("read_file", calls),
    ]
}

fn agent(h: &Harness, tools: Vec<Box<dyn Tool>>, access: Access) -> Agent {
    h.agent(tools).with_access(access)
}

/// The tool results the model saw in request `n`.
fn tool_results(h: &Harness, n: usize) -> Vec<String> {
    h.llm.requests()[n]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.clone())
        .collect()
}

#[tokio::test]
async fn a_group_chat_is_not_offered_exec_or_writes_and_a_call_made_anyway_is_refused() {
    let h = Harness::new("access-group");
    let calls = Arc::new(AtomicUsize::new(0));
    h.llm
        .push(Step::Call("exec".into(), r#"{"command":"id"}"#.into()))
        .push(Step::Text("could not".into()))
        .push(Step::Text("in private".into()));
    let a = agent(
        &h,
        tools(&calls),
        policy(Vec::new(), Duration::from_secs(5)),
    );
    h.chan.push_in("g", ChatKind::Group, OWNER, "run id");
    h.chan.push(OWNER, "and here?");
    h.run_agent_until(a, |h| h.replies().len() == 2).await;
    let reqs = h.llm.requests();
    assert_eq!(reqs[0].tools, ["read_file"], "even the owner, in a group");
    assert_eq!(reqs[2].tools, ["exec", "write_file", "read_file"]);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        tool_results(&h, 1),
        ["The tool 'exec' is not available in this chat."]
    );
    assert!(
        !reqs[0].system.contains("write_file"),
        "the prompt names only offered tools"
    );
}

#[tokio::test]
async fn a_member_gets_the_restricted_profile_and_a_rule_can_lift_or_deny_by_group() {
    let h = Harness::new("access-rules");
    let calls = Arc::new(AtomicUsize::new(0));
    let rules = vec![
        ToolRule {
            users: vec![MEMBER.into()],
            allow: vec!["fs".into()],
            ..ToolRule::default()
        },
        ToolRule {
            chat: Some(ChatKind::Direct),
            deny: vec!["read_file".into()],
            ..ToolRule::default()
        },
    ];
    let a = agent(&h, tools(&calls), policy(rules, Duration::from_secs(5)));
    h.chan.push(MEMBER, "hello");
    h.chan.push_in("g", ChatKind::Group, MEMBER, "hello group");
    h.run_agent_until(a, |h| h.replies().len() == 2).await;
    let reqs = h.llm.requests();
    assert_eq!(
        reqs[0].tools,
        ["write_file"],
        "fs allowed, read_file denied"
    );
    assert_eq!(reqs[1].tools, ["write_file", "read_file"]);
}

#[tokio::test]
async fn a_stranger_gets_a_pairing_code_without_a_model_call_and_is_answered_once_approved() {
    let h = Harness::new("access-pairing");
    let a = agent(&h, Vec::new(), policy(Vec::new(), Duration::from_secs(5)));
    h.chan.push("7", "hello?");
    h.chan.push_in("g", ChatKind::Group, "7", "hello group?");
    h.run_agent_until(a, |h| h.replies().len() == 1).await;
    let reply = h.replies()[0].clone();
    assert!(reply.contains("pairing code"), "{reply}");
    assert_eq!(h.llm.requests().len(), 0, "no model call for a stranger");
    let code = reply.split("**").nth(1).unwrap().to_string();
    assert_eq!(code.len(), 8, "{reply}");
    assert!(reply.contains(&format!("picoclaw pairing approve fake {code}")));
    let approved =
        h.db.blocking(|s| s.approve_pairing("fake", &code, pairing_now(), "host"))
            .unwrap();
    assert!(matches!(approved, Approval::Approved(_)), "{approved:?}");

    h.chan.push("7", "now?");
    let a = agent(&h, Vec::new(), policy(Vec::new(), Duration::from_secs(5)));
    h.run_agent_until(a, |h| h.replies().len() == 2).await;
    assert_eq!(h.replies()[1], "echo: now?");
    assert_eq!(h.llm.requests().len(), 1);
    // The group message was dropped at ingest: stored were the two direct
    // messages only.
    let rows =
        h.db.blocking(|s| s.pending_inbound_for(&["fake"], 10))
            .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn an_owner_approves_a_code_with_pair_and_a_member_cannot() {
    let h = Harness::new("access-pair-cmd");
    let a = agent(&h, Vec::new(), policy(Vec::new(), Duration::from_secs(5)));
    h.chan.push("7", "hi");
    h.run_agent_until(a, |h| h.replies().len() == 1).await;
    let code = h.replies()[0].split("**").nth(1).unwrap().to_lowercase();
    h.chan.push(MEMBER, &format!("/pair {code}"));
    h.chan.push(OWNER, &format!("/pair {code}"));
    h.chan.push("7", "hi again");
    let a = agent(&h, Vec::new(), policy(Vec::new(), Duration::from_secs(5)));
    h.run_agent_until(a, |h| h.replies().len() == 4).await;
    let r = h.replies();
    assert_eq!(r[1], "Only an owner can approve pairing codes.");
    assert_eq!(r[2], "Approved user 7 (user 7): they can talk to me now.");
    assert_eq!(r[3], "echo: hi again");
}

/// Runs a turn whose `danger` call needs confirming; `answer` is sent once
/// the question shows. Returns (tool calls, replies, tool results seen).
async fn confirm_flow(tag: &str, answer: Option<&str>) -> (usize, Vec<String>, Vec<String>) {
    let h = Harness::new(tag);
    let calls = Arc::new(AtomicUsize::new(0));
    h.llm
        .push(Step::Call(
            "danger".into(),
            r#"{"command":"rm -rf build"}"#.into(),
        ))
        .push(Step::Text("finished".into()));
    let rules = vec![ToolRule {
        confirm: vec!["danger".into()],
        ..ToolRule::default()
    }];
    let a = agent(
        &h,
        vec![tool("danger", &calls)],
        policy(rules, Duration::from_millis(800)),
    );
    let (tx, rx) = watch::channel(false);
    let mut rt = Runtime::new(
        a,
        RuntimeOptions {
            shutdown_timeout: Duration::from_secs(1),
        },
    );
    rt.channel(h.chan.clone());
    let work = tokio::spawn(rt.run(rx));
    h.chan.push(OWNER, "clean up");
    let chan = h.chan.clone();
    eventually(move || chan.sent().iter().any(|s| s.text.starts_with("May I run"))).await;
    if let Some(a) = answer {
        h.chan.push(OWNER, a);
    }
    let chan = h.chan.clone();
    eventually(move || chan.sent().len() == 2).await;
    tx.send(true).unwrap();
    work.await.unwrap();
    let stored = h.db.blocking(|s| s.inbound_status("fake", "e2")).unwrap();
    assert_eq!(stored, None, "the answer is not stored as a message");
    (
        calls.load(Ordering::SeqCst),
        h.replies(),
        tool_results(&h, 1),
    )
}

#[tokio::test]
async fn a_confirmed_call_shows_the_exact_command_and_runs_only_after_yes() {
    let (calls, replies, results) = confirm_flow("confirm-yes", Some("yes")).await;
    assert_eq!(calls, 1);
    assert!(replies[0].contains("rm -rf build"), "{}", replies[0]);
    assert!(replies[0].contains("Reply **yes**"), "{}", replies[0]);
    assert_eq!(replies[1], "finished");
    assert_eq!(results, ["ran"]);
}

#[tokio::test]
async fn no_refuses_a_confirmed_call_and_the_model_is_told() {
    let (calls, _, results) = confirm_flow("confirm-no", Some("No")).await;
    assert_eq!(calls, 0);
    assert_eq!(
        results,
        ["The user declined this danger call; it was not run."]
    );
}

#[tokio::test]
async fn silence_until_the_timeout_refuses_a_confirmed_call() {
    let (calls, _, results) = confirm_flow("confirm-timeout", None).await;
    assert_eq!(calls, 0);
    assert_eq!(
        results,
        ["The user did not confirm this danger call in time; it was not run."]
    );
}

#[tokio::test]
async fn a_restart_while_waiting_refuses_the_call_and_the_resumed_turn_tells_the_model() {
    let h = Harness::new("confirm-restart");
    let calls = Arc::new(AtomicUsize::new(0));
    h.llm
        .push(Step::Call(
            "danger".into(),
            r#"{"command":"reboot"}"#.into(),
        ))
        .push(Step::Text("it did not run".into()));
    let rules = || {
        vec![ToolRule {
            confirm: vec!["danger".into()],
            ..ToolRule::default()
        }]
    };
    let build = |h: &Harness| {
        let a = agent(
            h,
            vec![tool("danger", &calls)],
            policy(rules(), Duration::from_secs(30)),
        );
        let mut rt = Runtime::new(
            a,
            RuntimeOptions {
                shutdown_timeout: Duration::from_millis(200),
            },
        );
        rt.channel(h.chan.clone());
        rt
    };
    let (tx, rx) = watch::channel(false);
    let work = tokio::spawn(build(&h).run(rx));
    h.chan.push(OWNER, "reboot it");
    let chan = h.chan.clone();
    eventually(move || chan.sent().iter().any(|s| s.text.starts_with("May I run"))).await;
    // Stopped while waiting: the turn is dropped after the shutdown
    // timeout and resumes on the next start.
    tx.send(true).unwrap();
    work.await.unwrap();
    let (tx, rx) = watch::channel(false);
    let work = tokio::spawn(build(&h).run(rx));
    let chan = h.chan.clone();
    eventually(move || chan.sent().len() == 2).await;
    // A late "yes" to the old question changes nothing.
    h.chan.push(OWNER, "yes");
    let chan = h.chan.clone();
    eventually(move || chan.sent().len() == 3).await;
    tx.send(true).unwrap();
    work.await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(h.replies()[1], "it did not run");
    assert_eq!(
        tool_results(&h, 1),
        [
            "picoclaw restarted while waiting for the user to confirm this danger call; it was \
          not run. Ask the user whether to try again."
        ]
    );
    assert_eq!(h.replies()[2], "echo: yes", "an ordinary message by then");
}
