use serde_json::json;

use super::fakes::*;

const T0: i64 = 1_767_225_600; // 2026-01-01 00:00 UTC

#[tokio::test]
async fn a_job_due_while_picoclaw_was_down_fires_exactly_once_across_restarts() {
    let h = Harness::new("restart-once", T0);
    let run = h.start().await;
    let out = h
        .tool(
            &run,
            "7",
            json!({"action": "add", "kind": "at", "when": "in 1m", "prompt": "say hi"}),
        )
        .await;
    assert!(!out.is_error, "{}", out.content);
    run.stop().await;

    // Down over the due time, then three starts.
    h.clock.set(T0 + 600);
    for _ in 0..3 {
        let run = h.start().await;
        eventually("the turn", || h.chan.sent().len() == 1).await;
        run.stop().await;
    }
    assert_eq!(
        h.inbound(),
        [(format!("job:1:{}", T0 + 60), "answered".into())]
    );
    assert_eq!(h.llm.requests().len(), 1);
    let prompt = &h.llm.prompts()[0];
    assert!(
        prompt.starts_with("[scheduled job #1] say hi\n(This was due at 2026-01-01 00:01"),
        "{prompt}"
    );
    assert_eq!(h.jobs(), []);
}

#[tokio::test]
async fn missed_due_times_run_once_or_are_skipped_as_each_job_says() {
    let h = Harness::new("restart-policy", T0);
    let run = h.start().await;
    for (msg, missed) in [("once", "run_once"), ("skipped", "skip")] {
        let args = json!({"action": "add", "kind": "every", "when": "600", "message": msg, "missed": missed});
        assert!(!h.tool(&run, "7", args).await.is_error);
    }
    run.stop().await;

    // Down for an hour: six due times of each job pass.
    h.clock.set(T0 + 3630);
    let run = h.start().await;
    eventually("the run_once job", || h.chan.texts() == ["once"]).await;
    // Both continue on their 10-minute grid.
    assert_eq!(h.jobs(), [(1, T0 + 4200), (2, T0 + 4200)]);
    h.at(T0 + 4200, 1).await;
    eventually("both on time", || h.chan.sent().len() == 3).await;
    let mut last: Vec<String> = h.chan.texts()[1..].to_vec();
    last.sort();
    assert_eq!(last, ["once", "skipped"]);
    run.stop().await;
}
