use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::ToolOutput;
use picoclaw_store::InboundStatus;
use tokio::sync::watch;

use super::fakes::{eventually, FakeTool, Harness, Step};

fn status(h: &Harness, event: &str) -> Option<InboundStatus> {
    let event = event.to_string();
    h.db.blocking(|s| s.inbound_status("fake", &event)).unwrap()
}

#[tokio::test]
async fn stop_during_a_turn_cancels_it_and_both_messages_get_one_reply() {
    let h = Harness::new("stop");
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    // The tool runs until the turn is cancelled.
    let tool = FakeTool::boxed("wait", Arc::new(AtomicUsize::new(0)), move |ctx, _, _| {
        seen.store(true, Ordering::SeqCst);
        let start = std::time::Instant::now();
        while !ctx.cancel.is_cancelled() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        ToolOutput::ok("cancelled")
    });
    h.llm.push(Step::Call("wait".into(), "{}".into()));
    let (tx, rx) = watch::channel(false);
    let work = tokio::spawn(h.runtime(vec![tool], Duration::from_secs(1)).run(rx));
    let job = h.chan.push("1", "a long job");
    eventually(|| started.load(Ordering::SeqCst)).await;
    let stop = h.chan.push("1", "/stop");
    eventually(|| status(&h, &stop) == Some(InboundStatus::Ignored)).await;
    tx.send(true).unwrap();
    work.await.unwrap();
    assert_eq!(h.replies(), ["Stopped."]);
    assert_eq!(status(&h, &job), Some(InboundStatus::Answered));
    assert_eq!(h.llm.requests().len(), 1, "the model is not asked again");
}

#[tokio::test]
async fn stop_in_another_chat_does_not_cancel_this_one() {
    let h = Harness::new("stop-other");
    h.llm.push(Step::Hold("done anyway".into()));
    let (tx, rx) = watch::channel(false);
    let work = tokio::spawn(h.runtime(Vec::new(), Duration::from_secs(1)).run(rx));
    h.chan.push("1", "slow question");
    let llm = h.llm.clone();
    eventually(move || !llm.requests().is_empty()).await;
    h.chan.push("2", "/stop");
    // Give the /stop time to be ingested while the turn is still held.
    eventually(|| {
        h.db.blocking(|s| s.cursor("fake")).is_ok()
            && h.db
                .blocking(|s| s.inbound_status("fake", "e2"))
                .unwrap()
                .is_some()
    })
    .await;
    h.llm.release();
    eventually(|| h.chan.sent().len() == 2).await;
    tx.send(true).unwrap();
    work.await.unwrap();
    let sent = h.chan.sent();
    assert_eq!(sent[0].text, "done anyway");
    assert_eq!(
        (sent[1].chat.as_str(), sent[1].text.as_str()),
        ("2", "Nothing is running.")
    );
}
