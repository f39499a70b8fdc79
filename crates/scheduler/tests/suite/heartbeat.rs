use super::fakes::*;

const T0: i64 = 1_767_225_600; // 2026-01-01 00:00 UTC

/// Walks the clock forward in 5-minute steps for `mins` minutes, letting
/// both sources handle each step.
async fn walk(h: &Harness, from: i64, mins: i64) -> i64 {
    let mut t = from;
    for _ in 0..mins / 5 {
        t += 300;
        h.at(t, 2).await;
    }
    t
}

#[tokio::test]
async fn an_absent_empty_or_all_done_heartbeat_file_makes_no_model_call_for_hours() {
    let mut h = Harness::new("hb-idle", T0);
    h.heartbeat_to("42", 30);
    let file = h.workspace.join("HEARTBEAT.md");
    let run = h.start().await;
    let mut t = walk(&h, T0, 60).await;
    std::fs::write(&file, "").unwrap();
    t = walk(&h, t, 60).await;
    std::fs::write(
        &file,
        "# Heartbeat\n<!-- - [ ] put tasks here -->\n- [x] done\n\n",
    )
    .unwrap();
    walk(&h, t, 60).await;
    assert_eq!(h.llm.requests().len(), 0, "no request reached the model");
    assert_eq!(h.inbound(), [], "nothing was even queued");
    assert_eq!(h.chan.sent(), []);
    run.stop().await;
}

#[tokio::test]
async fn heartbeat_ok_is_not_sent_and_any_other_reply_goes_to_the_target_chat() {
    let mut h = Harness::new("hb-reply", T0);
    h.heartbeat_to("42", 30);
    std::fs::write(
        h.workspace.join("HEARTBEAT.md"),
        "# Tasks\n- [ ] water the plants\n",
    )
    .unwrap();
    h.llm
        .push(Step::Text("  HEARTBEAT_OK\n"))
        .push(Step::Text("Time to water the plants."));
    let run = h.start().await;

    // The first start waits one interval.
    walk(&h, T0, 25).await;
    assert_eq!(h.llm.requests().len(), 0);
    h.at(T0 + 1800, 2).await;
    let first = format!("heartbeat:{}", T0 + 1800);
    eventually("the quiet turn answered", || {
        h.inbound() == [(first.clone(), "answered".to_string())]
    })
    .await;
    assert_eq!(h.outbox(), [], "HEARTBEAT_OK is not even queued");
    let prompt = &h.llm.prompts()[0];
    assert!(
        prompt.starts_with("[heartbeat] Now: 2026-01-01 00:30 (UTC)."),
        "{prompt}"
    );
    assert!(
        prompt.ends_with("# Tasks\n- [ ] water the plants"),
        "{prompt}"
    );

    h.at(T0 + 3600, 2).await;
    eventually("the reminder", || h.chan.sent().len() == 1).await;
    assert_eq!(
        h.chan.sent(),
        [Sent {
            chat: "42".into(),
            text: "Time to water the plants.".into()
        }]
    );
    assert_eq!(h.llm.requests().len(), 2);
    run.stop().await;
}

#[tokio::test]
async fn the_heartbeat_keeps_to_its_active_hours_and_its_rhythm_across_restarts() {
    let mut h = Harness::new("hb-hours", T0);
    h.heartbeat_to("42", 60);
    if let Some(o) = h.heartbeat.as_mut() {
        o.active = Some((8 * 60, 9 * 60));
    }
    std::fs::write(h.workspace.join("HEARTBEAT.md"), "- [ ] stand up").unwrap();
    let run = h.start().await;
    // 01:00 .. 07:00: due every hour, but outside 08:00-09:00.
    walk(&h, T0, 7 * 60).await;
    assert_eq!(h.llm.requests().len(), 0);
    run.stop().await;

    // A restart keeps the stored due time (08:00), it does not start over.
    let run = h.start().await;
    h.clock.sleeper_at(utc(2026, 1, 1, 8, 0)).await;
    h.at(utc(2026, 1, 1, 8, 0), 2).await;
    eventually("the 08:00 heartbeat", || h.llm.requests().len() == 1).await;
    eventually("its reply", || h.chan.sent().len() == 1).await;
    walk(&h, utc(2026, 1, 1, 8, 0), 120).await;
    assert_eq!(h.llm.requests().len(), 1, "09:00 and 10:00 are outside");
    run.stop().await;
}
