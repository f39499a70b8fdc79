//! Misbehaving stdio servers: garbage, oversized lines, crashes, hangs.
//! Each must be survived or restarted, and calls must end, never hang.

use std::time::{Duration, Instant};

use picoclaw_core::ToolOutput;
use picoclaw_mcp::{McpError, ServerState, Transport};
use serde_json::{json, Value};

use super::util::*;

#[test]
fn garbage_lines_between_messages_are_logged_and_survived() {
    let dir = TempDir::new("garbage");
    let m = start_ready(vec![fake("fake", "garbage", &dir)]);
    for i in 0..3 {
        assert_eq!(
            call(&m, "mcp_fake_echo", json!({"text": i})),
            ToolOutput::ok(format!("echo: {i}"))
        );
    }
    assert_eq!(status(&m, "fake").restarts, 0);
}

#[test]
fn a_server_that_only_prints_garbage_is_restarted() {
    let dir = TempDir::new("flood");
    let m = start(vec![fake("fake", "flood", &dir)]);
    let s = wait_for("a restart", Duration::from_secs(20), || {
        let s = status(&m, "fake");
        (s.restarts >= 1).then_some(s)
    });
    let err = s.last_error.unwrap_or_default();
    assert!(err.contains("invalid messages in a row"), "{err}");
}

#[test]
fn oversized_lines_are_dropped_and_the_next_message_is_read() {
    let dir = TempDir::new("oversized");
    let mut o = fake("fake", "oversized=300000", &dir);
    o.max_message_bytes = 64 * 1024;
    let m = start_ready(vec![o]);
    assert_eq!(
        call(&m, "mcp_fake_echo", json!({"text": "still here"})),
        ToolOutput::ok("echo: still here")
    );
    assert_eq!(status(&m, "fake").restarts, 0);
}

#[test]
fn an_answer_over_the_size_limit_fails_the_call_by_timeout_not_by_memory() {
    let dir = TempDir::new("bigline");
    let mut o = fake("fake", "", &dir);
    o.max_message_bytes = 16 * 1024;
    let m = start_ready(vec![o]);
    let out =
        tool(&m, "mcp_fake_big").call(&ctx(Duration::from_secs(1)), &json!({"bytes": 100_000}));
    assert!(
        out.is_error && out.content.contains("no answer within"),
        "{out:?}"
    );
    assert_eq!(
        call(&m, "mcp_fake_echo", json!({"text": "after"})),
        ToolOutput::ok("echo: after")
    );
}

#[test]
fn a_server_crashing_mid_call_fails_the_call_at_once_and_is_restarted() {
    let dir = TempDir::new("crash");
    let m = start_ready(vec![fake("fake", "crash_first_call", &dir)]);
    let first_pid = status(&m, "fake").pid.unwrap();
    let started = Instant::now();
    let out = tool(&m, "mcp_fake_echo").call(&ctx(Duration::from_secs(60)), &json!({"text": "x"}));
    assert!(out.is_error, "{out:?}");
    assert!(
        out.content.contains("connection to the server lost"),
        "{out:?}"
    );
    assert!(out.content.contains("being restarted"), "{out:?}");
    // Behaviour, not speed: it did not wait for the 60 s deadline.
    assert!(started.elapsed() < Duration::from_secs(50));
    let s = wait_for("the restarted server", Duration::from_secs(20), || {
        let s = status(&m, "fake");
        (s.state == ServerState::Ready && s.restarts == 1).then_some(s)
    });
    assert_eq!(s.server_info.as_deref(), Some("fake 2"));
    assert_ne!(s.pid, Some(first_pid));
    assert!(!process_alive(first_pid));
    assert_eq!(
        call(&m, "mcp_fake_echo", json!({"text": "again"})),
        ToolOutput::ok("echo: again")
    );
}

fn cancellations(dir: &TempDir) -> Vec<Value> {
    logged(dir)
        .into_iter()
        .filter(|m| m["method"] == "notifications/cancelled")
        .map(|m| m["params"].clone())
        .collect()
}

fn call_id(dir: &TempDir, tool: &str) -> Value {
    logged(dir)
        .into_iter()
        .find(|m| m["method"] == "tools/call" && m["params"]["name"] == tool)
        .map(|m| m["id"].clone())
        .unwrap()
}

#[test]
fn a_hung_server_times_out_the_call_gets_cancelled_and_is_restarted() {
    let dir = TempDir::new("hang");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let out = tool(&m, "mcp_fake_freeze").call(&ctx(Duration::from_millis(500)), &json!({}));
    assert!(
        out.is_error && out.content.contains("no answer within"),
        "{out:?}"
    );
    wait_for("the cancellation", Duration::from_secs(5), || {
        (!cancellations(&dir).is_empty()).then_some(())
    });
    assert_eq!(
        cancellations(&dir),
        [json!({"requestId": call_id(&dir, "freeze"), "reason": "timed out"})]
    );
    // Frozen means the ping after the timeout goes unanswered too.
    let s = wait_for("the restart", Duration::from_secs(30), || {
        let s = status(&m, "fake");
        (s.restarts == 1 && s.state == ServerState::Ready).then_some(s)
    });
    assert!(s.last_error.unwrap_or_default().contains("ping"));
    assert_eq!(
        call(&m, "mcp_fake_echo", json!({"text": "back"})),
        ToolOutput::ok("echo: back")
    );
}

#[test]
fn a_slow_call_times_out_but_a_server_answering_ping_is_kept() {
    let dir = TempDir::new("slow");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let out = tool(&m, "mcp_fake_slow").call(&ctx(Duration::from_millis(300)), &json!({}));
    assert!(
        out.is_error && out.content.contains("no answer within"),
        "{out:?}"
    );
    wait_for("the liveness ping", Duration::from_secs(10), || {
        logged(&dir)
            .iter()
            .any(|m| m["method"] == "ping")
            .then_some(())
    });
    assert_eq!(
        cancellations(&dir),
        [json!({"requestId": call_id(&dir, "slow"), "reason": "timed out"})]
    );
    // The ping was answered: the same process serves the next call.
    assert_eq!(
        call(&m, "mcp_fake_echo", json!({"text": "same"})),
        ToolOutput::ok("echo: same")
    );
    let s = status(&m, "fake");
    assert_eq!((s.restarts, s.server_info.as_deref()), (0, Some("fake 1")));
}

#[test]
fn a_cancelled_turn_cancels_the_call_on_the_server() {
    let dir = TempDir::new("cancel");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let c = ctx(Duration::from_secs(60));
    let cancel = c.cancel.clone();
    let slow = tool(&m, "mcp_fake_slow");
    let worker = std::thread::spawn(move || slow.call(&c, &json!({})));
    wait_for(
        "the call to reach the server",
        Duration::from_secs(10),
        || {
            logged(&dir)
                .iter()
                .any(|m| m["params"]["name"] == "slow")
                .then_some(())
        },
    );
    cancel.cancel();
    let out = worker.join().unwrap();
    assert_eq!(out, ToolOutput::error("mcp_fake_slow: cancelled"));
    wait_for("the cancellation", Duration::from_secs(5), || {
        (!cancellations(&dir).is_empty()).then_some(())
    });
    assert_eq!(
        cancellations(&dir),
        [json!({"requestId": call_id(&dir, "slow"), "reason": "cancelled"})]
    );
}

#[test]
fn a_server_that_cannot_start_is_retried_and_its_calls_say_unavailable() {
    let mut o = fake("gone", "", &TempDir::new("gone"));
    o.transport = Transport::Stdio {
        command: "/nonexistent/mcp-server".into(),
        args: Vec::new(),
        env: Vec::new(),
    };
    let m = start(vec![o]);
    let s = wait_for("two failed attempts", Duration::from_secs(20), || {
        let s = status(&m, "gone");
        (s.restarts >= 2).then_some(s)
    });
    assert!(s.last_error.unwrap_or_default().contains("cannot start"));
    assert!(matches!(
        m.call("gone", "echo", json!({})),
        Err(McpError::Unavailable { .. })
    ));
    assert!(!m.wait_ready(Duration::from_millis(100)));
}

#[test]
fn a_server_that_stops_reading_its_stdin_never_blocks_callers_and_is_restarted() {
    let dir = TempDir::new("deaf");
    let m = start_ready(vec![fake("fake", "", &dir)]);
    let _ = tool(&m, "mcp_fake_deafen").call(&ctx(Duration::from_millis(200)), &json!({}));
    // Enough 100 KB calls to fill the pipe and then the write queue.
    let echo = tool(&m, "mcp_fake_echo");
    let big = "z".repeat(100_000);
    let workers: Vec<_> = (0..80)
        .map(|_| {
            let (echo, big) = (echo.clone(), big.clone());
            std::thread::spawn(move || {
                echo.call(&ctx(Duration::from_secs(30)), &json!({"text": big}))
            })
        })
        .collect();
    let outs: Vec<ToolOutput> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        outs.iter().all(|o| o.is_error),
        "none can have been answered"
    );
    assert!(
        outs.iter()
            .any(|o| o.content.contains("stopped reading its stdin")),
        "{:?}",
        outs.iter()
            .map(|o| &o.content)
            .collect::<std::collections::BTreeSet<_>>()
    );
    wait_for("the restart", Duration::from_secs(20), || {
        let s = status(&m, "fake");
        (s.state == ServerState::Ready && s.restarts >= 1).then_some(())
    });
    assert_eq!(
        call(&m, "mcp_fake_echo", json!({"text": "listening again"})),
        ToolOutput::ok("echo: listening again")
    );
}
