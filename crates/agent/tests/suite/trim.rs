use std::time::Duration;

use picoclaw_core::{ChatMessage, Role, ToolCall};

use super::fakes::Harness;

fn tool_call(id: &str) -> ChatMessage {
    ChatMessage {
        role: Role::Assistant,
        content: String::new(),
        tool_calls: vec![ToolCall {
            id: id.into(),
            name: "read_file".into(),
            arguments: "{}".into(),
        }],
        tool_call_id: None,
        images: Vec::new(),
    }
}

#[tokio::test]
async fn a_long_history_is_trimmed_whole_turns_at_a_time_keeping_calls_with_results() {
    let mut h = Harness::new("trim");
    h.opts.context_window = 600;
    // Trimming alone: no summary.
    h.opts.compact_at_percent = 0;
    // Earlier turns in this chat's session, each with a tool call and a
    // large result.
    h.db.call(|s| {
        let session = s.active_session("fake:1")?;
        for i in 0..6 {
            s.append_message(session, None, &ChatMessage::user(format!("question {i}")))?;
            s.append_message(session, None, &tool_call(&format!("c{i}")))?;
            s.append_message(
                session,
                None,
                &ChatMessage::tool_result(format!("c{i}"), "x".repeat(600)),
            )?;
            s.append_message(
                session,
                None,
                &ChatMessage::assistant(format!("answer {i}")),
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    h.chan.push("1", "the newest question");
    h.run_until(Vec::new(), Duration::from_secs(1), |h| {
        !h.chan.sent().is_empty()
    })
    .await;
    let sent = &h.llm.requests()[0].messages;
    assert!(
        sent.len() < 25,
        "history was trimmed: {} messages",
        sent.len()
    );
    assert_eq!(sent[0].role, Role::User, "starts at a user message");
    assert_eq!(sent.last().unwrap().content, "the newest question");
    // Every tool result's call is in the request, and every call's result.
    for (i, m) in sent.iter().enumerate() {
        if let Some(id) = &m.tool_call_id {
            assert!(
                sent[..i]
                    .iter()
                    .any(|c| c.tool_calls.iter().any(|t| &t.id == id)),
                "result {id} without its call"
            );
        }
        for call in &m.tool_calls {
            assert!(
                sent[i..]
                    .iter()
                    .any(|r| r.tool_call_id.as_ref() == Some(&call.id)),
                "call {} without its result",
                call.id
            );
        }
    }
}
