use crate::util::*;

#[test]
fn a_message_the_model_schedules_for_in_1s_arrives_in_the_chat_without_another_model_call() {
    let mut p = Picoclaw::new("schedule-at");
    p.llm
        .push(Step::tool_call(
            "schedule",
            r#"{"action":"add","kind":"at","when":"in 1s","message":"Tea is ready"}"#,
        ))
        .push(Step::text("Timer set."));
    p.start();
    p.say("tea timer please");
    let mut got = p.replies(2);
    got.sort();
    assert_eq!(
        got,
        ["Tea is ready", "Timer set."],
        "stderr:\n{}",
        p.stderr()
    );
    assert_eq!(
        p.llm.request_count(),
        2,
        "the reminder itself cost no model call"
    );
    assert!(p.tool_messages(1)[0].starts_with("Added job #1. Next: "));
    // Fired once and gone.
    let list = p.run_cli(&["schedule", "list"]);
    assert_eq!(
        stdout_of(&list),
        "no scheduled jobs\n",
        "{}",
        stderr_of(&list)
    );
}

#[test]
fn schedule_list_and_remove_on_the_host_see_every_chats_jobs() {
    let mut p = Picoclaw::new("schedule-cli");
    p.llm
        .push(Step::tool_call(
            "schedule",
            r#"{"action":"add","kind":"every","when":"1h","prompt":"check the weather"}"#,
        ))
        .push(Step::text("I'll check hourly."));
    p.start();
    p.say("check the weather every hour");
    assert_eq!(p.replies(1), ["I'll check hourly."]);

    let list = p.run_cli(&["schedule", "list"]);
    let out = stdout_of(&list);
    assert!(list.status.success(), "{}", stderr_of(&list));
    assert!(
        out.starts_with(&format!("telegram:{USER}  #1 every 3600 s, next ")),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("prompt: check the weather"),
        "{out}"
    );

    let removed = p.run_cli(&["schedule", "remove", "1"]);
    assert_eq!(
        stdout_of(&removed),
        "removed job #1\n",
        "{}",
        stderr_of(&removed)
    );
    assert_eq!(
        stdout_of(&p.run_cli(&["schedule", "list"])),
        "no scheduled jobs\n"
    );
    let again = p.run_cli(&["schedule", "remove", "1"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr_of(&again).contains("no job #1"),
        "{}",
        stderr_of(&again)
    );
}
