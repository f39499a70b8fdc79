use serde_json::json;

use super::fakes::*;

const T0: i64 = 1_767_225_600; // 2026-01-01 00:00 UTC

#[tokio::test]
async fn a_message_the_model_schedules_in_20m_is_sent_once_then_without_a_model_call() {
    let h = Harness::new("at", T0);
    h.llm
        .push(Step::Call(
            "schedule",
            json!({"action": "add", "kind": "at", "when": "in 20m", "message": "Stretch!"})
                .to_string(),
        ))
        .push(Step::Text("Done, in 20 minutes."));
    let run = h.start().await;
    h.chan.push("7", "remind me to stretch in 20 minutes");
    eventually("the confirmation", || {
        h.chan.texts() == ["Done, in 20 minutes."]
    })
    .await;
    assert_eq!(h.jobs(), [(1, T0 + 1200)]);
    h.clock.sleeper_at(T0 + 1200).await;

    h.at(T0 + 1199, 1).await;
    assert_eq!(h.outbox().len(), 1, "only the confirmation so far");
    h.at(T0 + 1200, 1).await;
    eventually("the reminder", || h.chan.sent().len() == 2).await;
    assert_eq!(
        h.chan.sent()[1],
        Sent {
            chat: "7".into(),
            text: "Stretch!".into()
        }
    );
    // A one-off job is gone once it fired, and an hour later nothing more.
    assert_eq!(h.jobs(), []);
    h.at(T0 + 4800, 1).await;
    assert_eq!(h.outbox().len(), 2);
    assert_eq!(h.llm.requests().len(), 2, "the reminder cost no model call");
    run.stop().await;
}

#[tokio::test]
async fn an_every_job_runs_its_prompt_as_a_turn_in_its_chat_each_period() {
    let h = Harness::new("every", T0);
    let run = h.start().await;
    let out = h
        .tool(
            &run,
            "7",
            json!({"action": "add", "kind": "every", "when": "600", "prompt": "check the mail"}),
        )
        .await;
    assert!(!out.is_error, "{}", out.content);
    h.clock.sleeper_at(T0 + 600).await;
    h.at(T0 + 599, 1).await;
    assert_eq!(h.inbound(), []);
    h.at(T0 + 600, 1).await;
    eventually("the first turn", || h.chan.sent().len() == 1).await;
    h.at(T0 + 1200, 1).await;
    eventually("the second turn", || h.chan.sent().len() == 2).await;
    assert_eq!(
        h.llm.prompts(),
        [
            "[scheduled job #1] check the mail",
            "[scheduled job #1] check the mail"
        ]
    );
    for s in h.chan.sent() {
        assert_eq!(s.chat, "7");
        assert_eq!(s.text, "echo: [scheduled job #1] check the mail");
    }
    assert_eq!(
        h.inbound(),
        [
            (format!("job:1:{}", T0 + 600), "answered".into()),
            (format!("job:1:{}", T0 + 1200), "answered".into())
        ]
    );
    assert_eq!(h.jobs(), [(1, T0 + 1800)]);
    run.stop().await;
}

#[tokio::test]
async fn a_cron_job_in_new_york_fires_at_nine_local_before_and_after_the_dst_change() {
    // US clocks go forward on 2025-03-09 at 02:00 EST: 09:00 is 14:00 UTC
    // before and 13:00 UTC after.
    let h = Harness::new("cron-ny", utc(2025, 3, 7, 12, 0));
    let run = h.start().await;
    let out = h
        .tool(
            &run,
            "7",
            json!({"action": "add", "kind": "cron", "when": "0 9 * * *", "tz": "America/New_York", "message": "Good morning"}),
        )
        .await;
    assert_eq!(
        out.content,
        "Added job #1. Next: 2025-03-07 09:00 (America/New_York)."
    );
    let fires = [
        utc(2025, 3, 7, 14, 0),
        utc(2025, 3, 8, 14, 0),
        utc(2025, 3, 9, 13, 0),
        utc(2025, 3, 10, 13, 0),
    ];
    for (i, t) in fires.into_iter().enumerate() {
        h.clock.sleeper_at(t).await;
        h.at(t - 60, 1).await;
        assert_eq!(h.outbox().len(), i, "not before {t}");
        h.at(t, 1).await;
        eventually("the morning message", || h.chan.sent().len() == i + 1).await;
    }
    let list = h.tool(&run, "7", json!({"action": "list"})).await;
    assert!(
        list.content
            .contains("#1 cron \"0 9 * * *\" America/New_York, next 2025-03-11 09:00 (America/New_York), message: Good morning"),
        "{}",
        list.content
    );
    run.stop().await;
}

#[tokio::test]
async fn another_chats_jobs_are_invisible_and_cannot_be_removed() {
    let h = Harness::new("scope", T0);
    let run = h.start().await;
    let add = json!({"action": "add", "kind": "every", "when": "1h", "message": "hydrate"});
    assert!(!h.tool(&run, "alice", add).await.is_error);

    let theirs = h.tool(&run, "mallory", json!({"action": "list"})).await;
    assert!(
        theirs.content.ends_with("No jobs in this chat."),
        "{}",
        theirs.content
    );
    assert!(!theirs.content.contains("hydrate"));
    let removed = h
        .tool(&run, "mallory", json!({"action": "remove", "id": 1}))
        .await;
    assert!(removed.is_error);
    assert_eq!(removed.content, "no job #1 in this chat");
    assert_eq!(h.jobs(), [(1, T0 + 3600)]);

    let mine = h.tool(&run, "alice", json!({"action": "list"})).await;
    assert!(mine.content.contains("#1 every 3600 s"), "{}", mine.content);
    let removed = h
        .tool(&run, "alice", json!({"action": "remove", "id": "1"}))
        .await;
    assert_eq!(removed.content, "Removed job #1.");
    assert_eq!(h.jobs(), []);
    // The source slept until the removed job's due time: nothing fires.
    h.at(T0 + 3600, 1).await;
    assert_eq!(h.outbox(), []);
    run.stop().await;
}

#[tokio::test]
async fn bad_jobs_are_refused_with_a_sentence_the_model_can_act_on() {
    let mut h = Harness::new("refused", T0);
    h.opts.min_every_secs = 300;
    let run = h.start().await;
    let cases = [
        (
            json!({"action": "add", "kind": "cron", "when": "0 9 * * *", "tz": "Mars/Olympus", "message": "x"}),
            "unknown time zone \"Mars/Olympus\"",
        ),
        (
            json!({"action": "add", "kind": "every", "when": "60", "message": "x"}),
            "every: the shortest period is 300 s",
        ),
        (
            json!({"action": "add", "kind": "at", "when": "2025-01-01T00:00Z", "message": "x"}),
            "2025-01-01 00:00 has passed; now is 2026-01-01 00:00 (UTC)",
        ),
        (
            json!({"action": "add", "kind": "cron", "when": "every day", "message": "x"}),
            "bad cron expression \"every day\"",
        ),
        (
            json!({"action": "add", "kind": "at", "when": "in 5m", "message": "x", "prompt": "y"}),
            "give exactly one of 'message' or 'prompt'",
        ),
    ];
    for (args, want) in cases {
        let out = h.tool(&run, "7", args.clone()).await;
        assert!(out.is_error, "{args}");
        assert!(out.content.contains(want), "{args}: {}", out.content);
    }
    assert_eq!(h.jobs(), []);
    run.stop().await;
}
