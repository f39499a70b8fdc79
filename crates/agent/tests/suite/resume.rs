use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::{Role, ToolOutput};
use picoclaw_store::InboundStatus;
use tokio::sync::watch;

use super::fakes::{eventually, FakeTool, Harness, Step};

/// The first run dies (is dropped at shutdown) with a tool call recorded but
/// its result missing; a new agent on the same store runs the missing call
/// and finishes the turn without asking the model for that step again.
#[tokio::test]
async fn a_turn_cut_short_mid_tool_resumes_after_a_restart_and_answers_once() {
    let h = Harness::new("resume-tool");
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(AtomicBool::new(false));
    let make_tool = || {
        let gate = gate.clone();
        FakeTool::boxed("slow", calls.clone(), move |_, _, n| {
            // The first call hangs like a process killed mid-command.
            while n == 0 && !gate.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            ToolOutput::ok(format!("result {n}"))
        })
    };
    h.llm
        .push(Step::Call("slow".into(), "{}".into()))
        .push(Step::Text("all done".into()));
    let event = h.chan.push("1", "do the slow thing");

    let (tx, rx) = watch::channel(false);
    let first = tokio::spawn(
        h.runtime(vec![make_tool()], Duration::from_millis(50))
            .run(rx),
    );
    eventually(|| calls.load(Ordering::SeqCst) == 1).await;
    tx.send(true).unwrap();
    first.await.unwrap();
    assert!(h.replies().is_empty());
    let ev = event.clone();
    assert_eq!(
        h.db.blocking(|s| s.inbound_status("fake", &ev)).unwrap(),
        Some(InboundStatus::Working)
    );
    gate.store(true, Ordering::SeqCst);

    h.run_until(vec![make_tool()], Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    assert_eq!(h.replies(), ["all done"]);
    let reqs = h.llm.requests();
    assert_eq!(reqs.len(), 2, "the tool-calling step is not asked again");
    let results: Vec<&str> = reqs[1]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(results, ["result 1"], "one result: the resumed call's");
    assert_eq!(
        h.db.blocking(|s| s.inbound_status("fake", &event)).unwrap(),
        Some(InboundStatus::Answered)
    );
}

/// Cut short after the tool finished, while the model was thinking: the
/// tool is not run again.
#[tokio::test]
async fn a_turn_cut_short_after_a_finished_tool_does_not_run_it_again() {
    let h = Harness::new("resume-model");
    let calls = Arc::new(AtomicUsize::new(0));
    let tool = || {
        FakeTool::boxed("once", calls.clone(), |_, _, n| {
            ToolOutput::ok(format!("ran {n}"))
        })
    };
    h.llm
        .push(Step::Call("once".into(), "{}".into()))
        .push(Step::Hold("never delivered".into()))
        .push(Step::Text("answer after restart".into()));
    h.chan.push("1", "go");

    let (tx, rx) = watch::channel(false);
    let first = tokio::spawn(h.runtime(vec![tool()], Duration::from_millis(50)).run(rx));
    let llm = h.llm.clone();
    eventually(move || llm.requests().len() == 2).await;
    tx.send(true).unwrap();
    first.await.unwrap();
    // The held call finishes on its pool thread; its answer is dropped.
    h.llm.release();

    h.run_until(vec![tool()], Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    assert_eq!(h.replies(), ["answer after restart"]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the finished tool ran once"
    );
}
