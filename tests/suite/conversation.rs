use crate::util::*;

#[test]
fn plain_question_gets_exactly_one_answer_from_the_model() {
    let mut p = Picoclaw::new("plain");
    p.start();
    p.say("hello there");
    let replies = p.replies(1);
    assert_eq!(
        replies,
        vec!["echo: hello there"],
        "stderr:\n{}",
        p.stderr()
    );
    // No second reply turns up later.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(p.tg.sent().len(), 1);
    assert_eq!(
        p.llm.request_count(),
        1,
        "a message that needs no tool costs one LLM call"
    );
}

#[test]
fn a_turn_with_two_tool_calls_runs_both_tools_then_answers() {
    let mut p = Picoclaw::new("tools");
    p.start();
    p.say(r#"please [[call write_file {"path":"notes/a.txt","content":"hi from tool"}]] [[call read_file {"path":"notes/a.txt"}]]"#);
    let replies = p.replies(1);
    assert_eq!(replies.len(), 1, "stderr:\n{}", p.stderr());
    assert!(replies[0].starts_with("done: "), "{replies:?}");
    let written = std::fs::read_to_string(p.dir.path().join("workspace/notes/a.txt")).unwrap();
    assert_eq!(written, "hi from tool");
    // The second request carried both tool results back to the model.
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 2);
    let tool_results = p.tool_messages(1);
    assert_eq!(tool_results.len(), 2);
    assert!(tool_results[1].contains("hi from tool"), "{tool_results:?}");
}

/// The non-system messages of one LLM request as `(role, content)`.
fn dialogue(req: &crate::util::RecordedRequest) -> Vec<(String, String)> {
    req.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| {
            (
                m["role"].as_str().unwrap_or("").to_owned(),
                m["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn history_carries_over_between_messages_of_one_chat() {
    let mut p = Picoclaw::new("history");
    p.start();
    p.say("my name is Ada");
    assert_eq!(p.replies(1), vec!["echo: my name is Ada"]);
    p.say("what is my name?");
    assert_eq!(p.replies(2)[1], "echo: what is my name?");
    let reqs = p.llm.requests();
    assert_eq!(
        dialogue(&reqs[1]),
        vec![
            ("user".into(), "my name is Ada".into()),
            ("assistant".into(), "echo: my name is Ada".into()),
            ("user".into(), "what is my name?".into()),
        ]
    );
}

#[test]
fn new_starts_a_fresh_conversation_without_earlier_messages() {
    let mut p = Picoclaw::new("new");
    p.start();
    p.say("remember the word pineapple");
    assert_eq!(p.replies(1).len(), 1);
    p.say("/new");
    assert_eq!(p.replies(2)[1], "Started a fresh conversation.");
    p.say("which word?");
    assert_eq!(p.replies(3)[2], "echo: which word?");
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 2, "/new itself costs no LLM call");
    assert_eq!(
        dialogue(&reqs[1]),
        vec![("user".into(), "which word?".into())]
    );
    let system = reqs[1].body["messages"][0]["content"]
        .as_str()
        .unwrap_or("");
    assert!(!system.contains("pineapple"));
}

#[test]
fn status_reports_the_model_conversation_size_and_memory() {
    let mut p = Picoclaw::new("status");
    p.start();
    p.say("hello");
    assert_eq!(p.replies(1).len(), 1);
    p.say("/status");
    let status = p.replies(2)[1].clone();
    assert!(status.contains("test-model"), "{status}");
    assert!(status.contains("Memory (RSS): "), "{status}");
    assert!(status.contains(" MiB"), "{status}");
    assert!(status.contains("Uptime: "), "{status}");
    // The first exchange: one user and one assistant message so far.
    assert!(status.contains("This conversation: 2 messages"), "{status}");
    assert_eq!(p.llm.request_count(), 1, "/status is answered locally");
}

#[test]
fn help_and_start_explain_the_commands() {
    let mut p = Picoclaw::new("help");
    p.start();
    p.say("/start");
    p.say("/help");
    let r = p.replies(2);
    assert_eq!(r[0], r[1]);
    for cmd in ["/new", "/status", "/stop"] {
        assert!(r[0].contains(cmd), "{}", r[0]);
    }
    assert_eq!(p.llm.request_count(), 0);
}

#[test]
fn stop_aborts_a_slow_turn_with_one_stopped_and_no_late_answer() {
    use picoclaw_testkit::fake_llm::Fault;
    let mut p = Picoclaw::new("stop");
    let delay = std::time::Duration::from_millis(1500);
    p.llm.push(Step::Fault(Fault::Delay(
        delay,
        Box::new(Step::text("the late answer")),
    )));
    p.start();
    p.say("a slow question");
    assert!(wait_until(WAIT, || p.llm.request_count() == 1));
    let in_flight = std::time::Instant::now();
    p.say("/stop");
    assert_eq!(p.replies(1), vec!["Stopped."], "{}", p.stderr());
    // Let the abandoned request complete before looking for a late answer.
    std::thread::sleep(delay.saturating_sub(in_flight.elapsed()) + delay / 2);
    assert_eq!(p.barrier("stop"), vec!["Stopped.", "echo: barrier stop"]);
    // Nothing is resumed after a restart either.
    p.wait_outbox_flushed();
    p.kill9();
    p.start();
    assert_eq!(
        p.barrier("stop-2"),
        vec!["Stopped.", "echo: barrier stop", "echo: barrier stop-2"]
    );
    let rows = p.inbound_rows();
    assert_eq!(rows[0], ("a slow question".into(), "answered".into()));
    assert_eq!(rows[1].0, "/stop");
}

#[test]
fn stop_with_nothing_running_says_so() {
    let mut p = Picoclaw::new("stop-idle");
    p.start();
    p.say("/stop");
    assert_eq!(p.replies(1), vec!["Nothing is running."]);
}

#[test]
fn unknown_tools_and_broken_arguments_come_back_to_the_model_as_errors() {
    let mut p = Picoclaw::new("bad-calls");
    p.start();
    p.say("[[call summon_dragon {}]] [[call write_file this is not json]]");
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    assert!(r[0].starts_with("done: "), "{r:?}");
    let results = p.tool_messages(1);
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0].contains("summon_dragon"), "{results:?}");
    assert!(results[1].to_lowercase().contains("json"), "{results:?}");
    assert!(p.is_running());
}

#[test]
fn the_same_failing_tool_call_three_times_ends_the_turn_with_an_explanation() {
    let mut p = Picoclaw::new("same-failure");
    for _ in 0..3 {
        p.llm
            .push(Step::tool_call("read_file", r#"{"path":"missing.txt"}"#));
    }
    // Never used if the loop stops as it should.
    p.llm
        .push(Step::tool_call("read_file", r#"{"path":"missing.txt"}"#));
    p.start();
    p.say("read missing.txt");
    let r = p.replies(1);
    assert_eq!(r.len(), 1, "{}", p.stderr());
    assert!(
        r[0].contains("read_file") && r[0].contains("3 times"),
        "{}",
        r[0]
    );
    assert_eq!(p.llm.request_count(), 3);
    assert_eq!(p.llm.pending(), 1);
}

#[test]
fn at_the_tool_iteration_cap_the_model_is_asked_for_an_answer_without_tools() {
    let mut p = Picoclaw::new("iteration-cap");
    p.edit_config(|c| c.replace("[agent]\n", "[agent]\nmax_tool_iterations = 2\n"));
    p.llm
        .push(Step::tool_call("list_dir", r#"{"path":"."}"#))
        .push(Step::tool_call("list_dir", r#"{"path":"./"}"#))
        .push(Step::text("final answer without tools"));
    p.start();
    p.say("keep looking");
    assert_eq!(
        p.replies(1),
        vec!["final answer without tools"],
        "{}",
        p.stderr()
    );
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[1].body.get("tools").is_some());
    assert!(
        reqs[2].body.get("tools").is_none_or(|t| t.is_null()),
        "no tools offered at the cap: {}",
        reqs[2].body["tools"]
    );
    let last = reqs[2].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "user");
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .contains("tool-call limit"),
        "{last}"
    );
}

#[test]
fn usage_on_the_host_lists_tokens_and_calls_per_chat() {
    let mut p = Picoclaw::new("usage-cli");
    p.start();
    p.say("one");
    p.say("two");
    assert_eq!(p.replies(2).len(), 2, "{}", p.stderr());
    let out = p.run_cli(&["usage", "--since", "1d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.starts_with("Usage over the last 1 day(s):\n"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("telegram:{USER} ")))
        .unwrap_or_else(|| panic!("no row for the chat:\n{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "2", "two model calls: {row}");
    assert!(
        text.lines().last().unwrap().starts_with("all chats"),
        "{text}"
    );
}
