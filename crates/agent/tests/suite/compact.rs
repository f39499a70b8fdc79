use std::time::Duration;

use picoclaw_core::{ChatMessage, ProviderError};

use super::fakes::{Harness, Step};

const NOTICE: &str = "_(Earlier messages were summarised";

/// Six earlier exchanges of ~400 tokens each in the chat's session.
async fn long_history(h: &Harness) {
    h.db.call(|s| {
        let session = s.active_session("fake:1")?;
        for i in 0..6 {
            s.append_message(
                session,
                None,
                &ChatMessage::user(format!("old question {i} {}", "q".repeat(800))),
            )?;
            s.append_message(
                session,
                None,
                &ChatMessage::assistant(format!("old answer {i} {}", "a".repeat(800))),
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

fn raw_messages(h: &Harness) -> u64 {
    h.db.blocking(|s| {
        let id = s.active_session("fake:1")?;
        s.session_stats(id)
    })
    .unwrap()
    .messages
}

#[tokio::test]
async fn a_history_past_the_threshold_is_summarised_kept_raw_and_the_user_is_told() {
    let mut h = Harness::new("compact");
    h.opts.context_window = 3_000;
    long_history(&h).await;
    h.llm
        .push(Step::Text(
            "SUMMARY: six old questions were answered.".into(),
        ))
        .push(Step::Text("the answer".into()));
    h.chan.push("1", "new question");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    let reqs = h.llm.requests();
    assert_eq!(reqs.len(), 2, "one summary request, then the answer");
    assert!(reqs[0].system.contains("You condense conversations"));
    assert!(reqs[0].tools.is_empty());
    let transcript = &reqs[0].messages[0].content;
    assert!(transcript.contains("user: old question 0"), "{transcript}");
    assert!(
        !transcript.contains("new question"),
        "the turn in progress is not summarised"
    );
    assert!(
        reqs[1].system.contains(
            "## Earlier in this conversation (summary)\nSUMMARY: six old questions were answered."
        ),
        "{}",
        reqs[1].system
    );
    assert!(reqs[1].messages.len() < 13, "older turns left the prompt");
    assert_eq!(reqs[1].messages.last().unwrap().content, "new question");
    let reply = &h.replies()[0];
    assert!(reply.starts_with(NOTICE), "{reply}");
    assert!(reply.ends_with("\n\nthe answer"), "{reply}");
    // Nothing deleted: 12 old + the new question and its answer.
    assert_eq!(raw_messages(&h), 14);
    let (summary, upto) =
        h.db.blocking(|s| {
            let id = s.active_session("fake:1")?;
            s.session_summary(id)
        })
        .unwrap();
    assert!(summary.unwrap().starts_with("SUMMARY"));
    assert!(upto > 0);
    // The next turn sees the summary without summarising again.
    h.chan.push("1", "and then?");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        h.chan.sent().len() == 2
    })
    .await;
    let reqs = h.llm.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[2].system.contains("SUMMARY: six old"));
    assert!(!h.replies()[1].starts_with(NOTICE));
}

#[tokio::test]
async fn a_context_length_error_compacts_and_retries_exactly_once() {
    let mut h = Harness::new("compact-error");
    h.opts.compact_at_percent = 0;
    long_history(&h).await;
    h.llm
        .push(Step::Fail(ProviderError::ContextLength {
            message: "prompt is too long: 208012 tokens > 200000 maximum".into(),
        }))
        .push(Step::Text("SUMMARY: earlier stuff".into()))
        .push(Step::Text("answered after compaction".into()));
    h.chan.push("1", "new question");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    let reqs = h.llm.requests();
    assert_eq!(reqs.len(), 3, "refused, summary, one retry");
    assert!(reqs[1].system.contains("You condense conversations"));
    assert!(reqs[2].system.contains("SUMMARY: earlier stuff"));
    assert!(reqs[2].messages.len() < reqs[0].messages.len());
    let reply = &h.replies()[0];
    assert!(reply.starts_with(NOTICE), "{reply}");
    assert!(reply.ends_with("answered after compaction"), "{reply}");
}

#[tokio::test]
async fn a_prompt_still_too_long_after_compacting_is_reported_not_retried_again() {
    let mut h = Harness::new("compact-twice");
    h.opts.compact_at_percent = 0;
    long_history(&h).await;
    let too_long = || {
        Step::Fail(ProviderError::ContextLength {
            message: "maximum context length is 8192 tokens".into(),
        })
    };
    h.llm
        .push(too_long())
        .push(Step::Text("SUMMARY".into()))
        .push(too_long())
        .push(Step::Text("never asked".into()));
    h.chan.push("1", "new question");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    assert_eq!(h.llm.requests().len(), 3);
    let reply = &h.replies()[0];
    assert!(reply.contains("too long for the model"), "{reply}");
    assert!(reply.contains("/new"), "{reply}");
}
