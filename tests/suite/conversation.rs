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
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    let tool_results: Vec<&str> = msgs
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(tool_results.len(), 2);
    assert!(tool_results[1].contains("hi from tool"), "{tool_results:?}");
}
