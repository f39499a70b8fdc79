//! kill -9 at awkward moments, then a restart: the user gets exactly one
//! answer and finished work is not redone (issue 3).

use std::time::Duration;

use picoclaw_testkit::fake_llm::Fault;
use picoclaw_testkit::fake_telegram::Fault as TgFault;

use crate::util::*;

/// A model step that answers only after the test has killed the binary.
fn stalled(text: &str) -> Step {
    Step::Fault(Fault::Delay(
        Duration::from_secs(20),
        Box::new(Step::text(text)),
    ))
}

fn tool_rows(p: &Picoclaw) -> i64 {
    p.db()
        .query_row(
            "SELECT count(*) FROM messages WHERE role = 'tool'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn kill_9_while_the_model_is_thinking_then_restart_gives_exactly_one_answer() {
    let mut p = Picoclaw::new("kill-llm");
    p.llm.push(stalled("answer from the killed process"));
    p.start();
    p.say("what is 6 x 7?");
    assert!(
        wait_until(WAIT, || p.llm.request_count() == 1),
        "{}",
        p.stderr()
    );
    p.kill9();
    assert_eq!(p.tg.sent().len(), 0);
    p.start();
    assert_eq!(p.replies(1), vec!["echo: what is 6 x 7?"], "{}", p.stderr());
    assert_eq!(
        p.barrier("after-kill"),
        vec!["echo: what is 6 x 7?", "echo: barrier after-kill"]
    );
    // The resumed turn asked once more, with the user message stored once.
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 3);
    let users: Vec<&serde_json::Value> = reqs[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .collect();
    assert_eq!(users.len(), 1, "{users:?}");
    assert!(p.stderr().contains("resuming turn"), "{}", p.stderr());
}

#[test]
fn kill_9_after_a_tool_ran_resumes_without_running_the_tool_again() {
    let mut p = Picoclaw::new("kill-tool");
    p.llm
        .push(Step::tool_call(
            "write_file",
            r#"{"path":"kill/a.txt","content":"written by the tool"}"#,
        ))
        .push(stalled("answer from the killed process"));
    p.start();
    p.say("write the file, then think hard");
    // The second model call is in flight: the tool ran and its result is
    // committed (results are stored before the next call).
    assert!(
        wait_until(WAIT, || p.llm.request_count() == 2),
        "{}",
        p.stderr()
    );
    let file = p.workspace().join("kill/a.txt");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "written by the tool"
    );
    p.kill9();
    // Someone edits the file meanwhile; a re-run would overwrite this.
    std::fs::write(&file, "edited after the crash").unwrap();
    p.start();
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    assert!(r[0].starts_with("done: "), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "edited after the crash",
        "write_file ran again after the restart"
    );
    assert_eq!(tool_rows(&p), 1);
    // The resumed call carried the one call and its one result.
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 3);
    let msgs = reqs[2].body["messages"].as_array().unwrap();
    assert_eq!(msgs.iter().filter(|m| m["role"] == "tool").count(), 1);
    assert_eq!(
        msgs.iter()
            .filter(|m| m.get("tool_calls").is_some_and(|c| !c.is_null()))
            .count(),
        1
    );
    assert_eq!(p.barrier("after-tool-kill").len(), 2);
}

#[test]
fn kill_9_while_the_reply_cannot_be_sent_then_restart_sends_it_exactly_once() {
    let mut p = Picoclaw::new("kill-send");
    // The answer is computed and queued, but Telegram asks for a long
    // pause before it takes it; the process dies meanwhile.
    p.tg.fail_next("sendMessage", TgFault::rate_limited(60));
    p.start();
    p.say("reply to me");
    assert!(p.wait_log("sending reply chunk", WAIT), "{}", p.stderr());
    p.kill9();
    p.start();
    assert_eq!(p.replies(1), vec!["echo: reply to me"], "{}", p.stderr());
    assert_eq!(
        p.barrier("after-send-kill"),
        vec!["echo: reply to me", "echo: barrier after-send-kill"]
    );
    assert_eq!(p.llm.request_count(), 2, "the answer was not recomputed");
}

#[test]
fn a_message_answered_but_not_yet_acknowledged_is_not_answered_twice_after_kill_9() {
    let mut p = Picoclaw::new("kill-ack");
    let update = p.say("first");
    // The first poll delivers the update; the second, which would carry
    // the acknowledging offset, hangs before Telegram sees that offset.
    p.tg.fail_next("getUpdates", TgFault::Delay(Duration::ZERO));
    p.tg.fail_next("getUpdates", TgFault::Delay(Duration::from_secs(20)));
    p.start();
    assert_eq!(p.replies(1), vec!["echo: first"], "{}", p.stderr());
    assert!(p.tg.confirmed_offset() <= update, "acknowledged too early");
    p.wait_outbox_flushed();
    assert!(p.tg.confirmed_offset() <= update, "acknowledged too early");
    p.kill9();
    p.start();
    assert_eq!(
        p.barrier("after-ack-kill"),
        vec!["echo: first", "echo: barrier after-ack-kill"]
    );
    assert!(p.tg.confirmed_offset() > update);
    assert_eq!(p.llm.request_count(), 2);
    assert_eq!(
        p.inbound_rows()
            .into_iter()
            .map(|(t, _)| t)
            .collect::<Vec<_>>(),
        vec!["first", "barrier after-ack-kill"]
    );
}

#[test]
fn repeated_kill_9_during_a_turn_still_gives_exactly_one_answer() {
    let mut p = Picoclaw::new("kill-repeat");
    p.llm
        .push(stalled("lost 1"))
        .push(stalled("lost 2"))
        .push(stalled("lost 3"));
    p.start();
    p.say("persist");
    for n in 1..=3 {
        assert!(
            wait_until(WAIT, || p.llm.request_count() == n),
            "{}",
            p.stderr()
        );
        p.kill9();
        p.start();
    }
    assert_eq!(p.replies(1), vec!["echo: persist"], "{}", p.stderr());
    assert_eq!(
        p.barrier("after-repeat"),
        vec!["echo: persist", "echo: barrier after-repeat"]
    );
}
