use std::time::Duration;

use picoclaw_agent::Budgets;
use picoclaw_store::InboundStatus;

use super::fakes::Harness;

fn status(h: &Harness, event: &str) -> Option<InboundStatus> {
    let e = event.to_string();
    h.db.blocking(|s| s.inbound_status("fake", &e)).unwrap()
}

#[tokio::test]
async fn a_spent_daily_budget_defers_turns_to_tomorrow_and_says_so_once() {
    let mut h = Harness::new("budget");
    // Each fake call uses 12 tokens: the first turn spends the budget.
    h.opts.budgets = Budgets {
        per_chat: 10,
        global: 0,
    };
    h.chan.push("1", "first");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        h.chan.sent().len() == 1
    })
    .await;
    let second = h.chan.push("1", "second");
    let third = h.chan.push("1", "third");
    let other = h.chan.push("2", "another chat");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        h.chan.sent().len() == 3
    })
    .await;
    let sent = h.chan.sent();
    assert_eq!(sent[0].text, "echo: first");
    let notice: Vec<_> = sent.iter().filter(|s| s.chat == "1").skip(1).collect();
    assert_eq!(notice.len(), 1, "told once: {sent:?}");
    assert!(
        notice[0]
            .text
            .starts_with("Today's token budget for this chat is used up (12 of 10 tokens)."),
        "{}",
        notice[0].text
    );
    assert!(notice[0].text.contains("after midnight UTC"));
    // The other chat has its own budget.
    assert!(sent
        .iter()
        .any(|s| s.chat == "2" && s.text == "echo: another chat"));
    assert_eq!(
        h.llm.requests().len(),
        2,
        "no model call for the deferred turns"
    );
    // Deferred, not dropped.
    assert_eq!(status(&h, &second), Some(InboundStatus::Pending));
    assert_eq!(status(&h, &third), Some(InboundStatus::Pending));
    assert_eq!(status(&h, &other), Some(InboundStatus::Answered));
    let waiting =
        h.db.blocking(|s| s.pending_inbound_for(&["fake"], 10))
            .unwrap();
    assert!(waiting.is_empty(), "they wait for tomorrow");
}

#[tokio::test]
async fn usage_shows_todays_tokens_and_calls_for_this_chat() {
    let mut h = Harness::new("usage");
    h.opts.budgets = Budgets {
        per_chat: 1000,
        global: 0,
    };
    h.chan.push("1", "hello");
    h.chan.push("2", "elsewhere");
    h.chan.push("1", "/usage");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        h.chan.sent().len() == 3
    })
    .await;
    let reply = &h.replies()[2];
    assert_eq!(
        reply,
        "Today (UTC) in this chat: 12 tokens (10 in, 2 out) in 1 model calls.\nDaily budget per chat: 1000 tokens."
    );
    assert_eq!(h.llm.requests().len(), 2, "/usage is answered locally");
}
