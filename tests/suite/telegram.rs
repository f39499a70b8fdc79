//! The Telegram side of the slice (issue 3): who may talk, groups, media,
//! long replies, and the Bot API's error answers.

use picoclaw_testkit::fake_telegram::{Fault, Incoming};
use serde_json::json;

use crate::util::*;

const GROUP: i64 = -1_001_234_567;

/// Every user message the model was shown, over all requests.
fn user_texts(p: &Picoclaw) -> Vec<String> {
    p.llm
        .requests()
        .iter()
        .flat_map(|r| r.body["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_reply_longer_than_4096_characters_arrives_split_in_order_without_loss() {
    let mut p = Picoclaw::new("split");
    // Paragraphs, a single line far over the limit (no newline to cut at),
    // multi-byte characters and characters HTML must escape.
    let para = |i: usize| {
        format!(
            "Paragraph {i}: caf\u{e9} na\u{ef}ve \u{1F980} a < b && c > d. {}",
            "lorem ipsum dolor sit amet ".repeat(40).trim_end()
        )
    };
    let mut text = String::new();
    for i in 0..6 {
        text.push_str(&para(i));
        text.push_str("\n\n");
    }
    text.push_str("w\u{f6}rd ".repeat(1500).trim_end());
    text.push_str("\n\nThe end.");
    assert!(text.chars().count() > 3 * 4096);
    p.llm.push(Step::text(text.clone()));
    p.start();
    p.say("tell me everything");
    // Wait for the last chunk, then make sure nothing else follows.
    assert!(
        wait_until(WAIT, || p
            .visible()
            .last()
            .is_some_and(|t| t.ends_with("The end."))),
        "{:?}\n{}",
        p.visible(),
        p.stderr()
    );
    let all = p.barrier("after-split");
    let chunks = &all[..all.len() - 1];
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    for c in chunks {
        assert!(
            c.chars().count() <= 4096,
            "chunk of {} chars",
            c.chars().count()
        );
        assert!(!c.trim().is_empty());
    }
    assert!(p.tg.rejections().is_empty(), "{:?}", p.tg.rejections());
    // Concatenated, the chunks are the model's text; only whitespace at a
    // cut may differ.
    let mut rest = text.as_str();
    for c in chunks {
        rest = rest.trim_start();
        let c = c.trim();
        if !rest.starts_with(c) {
            let at = c
                .char_indices()
                .zip(rest.chars())
                .find(|((_, a), b)| a != b)
                .map_or(c.len().min(rest.len()), |((i, _), _)| i);
            let from = c.floor_char_boundary(at.saturating_sub(40));
            panic!(
                "chunk does not continue the text at byte {at}:\nchunk: {:?}\ntext:  {:?}",
                &c[from..c.len().min(at + 40)],
                &rest[from..rest.len().min(at + 40)]
            );
        }
        rest = &rest[c.len()..];
    }
    assert_eq!(rest.trim(), "", "text left over");
    // Only the first chunk quotes the user's message.
    let sent = p.tg.sent();
    assert!(sent[0].reply_to.is_some());
    assert!(sent[1..chunks.len()].iter().all(|m| m.reply_to.is_none()));
}

#[test]
fn an_unauthorized_user_gets_no_reply_costs_no_llm_call_and_is_logged_by_id_only() {
    let mut p = Picoclaw::new("unauthorized");
    // With the default dm_policy ("pairing") a stranger gets a code; see
    // access.rs. Here nobody but allow_from may talk.
    p.edit_config(|c| {
        c.replace(
            "poll_timeout_secs = 1\n",
            "poll_timeout_secs = 1\ndm_policy = \"allowlist\"\n",
        )
    });
    p.start();
    let stranger = 666_777;
    p.tg.push_text(stranger, stranger, "mallory", "please leak the secret plan");
    let sent = p.barrier("auth");
    assert_eq!(sent, vec!["echo: barrier auth"]);
    assert!(p.tg.sent().iter().all(|m| m.chat_id == USER));
    assert_eq!(
        p.llm.request_count(),
        1,
        "only the barrier reached the model"
    );
    assert_eq!(user_texts(&p), vec!["barrier auth"]);
    let err = p.stderr();
    assert!(err.contains(&stranger.to_string()), "{err}");
    assert!(!err.contains("secret plan"), "message text logged:\n{err}");
    assert!(!err.contains("mallory"), "only the id is logged:\n{err}");
    // Not stored either: nothing to answer after a restart.
    assert_eq!(
        p.inbound_rows()
            .into_iter()
            .map(|(t, _)| t)
            .collect::<Vec<_>>(),
        vec!["barrier auth"]
    );
}

#[test]
fn a_group_message_is_answered_only_when_the_bot_is_mentioned() {
    let mut p = Picoclaw::new("group");
    p.start();
    p.tg.push_text(GROUP, USER, "alice", "just chatting among friends");
    p.tg.push_text(GROUP, USER, "alice", "@picotest_bot what is up");
    let sent = p.tg.wait_for_sent(1, WAIT);
    assert_eq!(sent.len(), 1, "{}", p.stderr());
    assert_eq!(sent[0].chat_id, GROUP);
    assert!(sent[0].visible.starts_with("echo: "), "{:?}", sent[0]);
    assert!(sent[0].visible.contains("what is up"), "{:?}", sent[0]);
    let all = p.barrier("group");
    assert_eq!(all.len(), 2, "{all:?}");
    let texts = user_texts(&p);
    assert!(
        !texts.iter().any(|t| t.contains("among friends")),
        "the unaddressed message never reached the model: {texts:?}"
    );
    assert_eq!(p.llm.request_count(), 2);
}

#[test]
fn a_reply_to_the_bot_in_a_group_is_answered() {
    let mut p = Picoclaw::new("group-reply");
    p.start();
    p.tg.push_text(GROUP, USER, "alice", "@picotest_bot first");
    let first = p.tg.wait_for_sent(1, WAIT);
    assert_eq!(first.len(), 1, "{}", p.stderr());
    p.tg.push(
        Incoming::group(GROUP, USER, "alice")
            .text("and a follow-up")
            .reply_to(first[0].message_id),
    );
    let sent = p.tg.wait_for_sent(2, WAIT);
    assert_eq!(sent.len(), 2, "{}", p.stderr());
    assert_eq!(sent[1].chat_id, GROUP);
    assert!(sent[1].visible.contains("and a follow-up"), "{sent:?}");
}

#[test]
fn a_sticker_gets_a_not_supported_reply_without_asking_the_model() {
    let mut p = Picoclaw::new("sticker");
    p.start();
    p.tg.push(
        Incoming::direct(USER, "alice")
            .media("sticker")
            .text("look"),
    );
    p.tg.push(Incoming::direct(USER, "alice").media("video_note"));
    let sent = p.tg.wait_for_sent(2, WAIT);
    assert_eq!(sent.len(), 2, "{}", p.stderr());
    assert!(sent[0].visible.contains("sticker"), "{:?}", sent[0].visible);
    assert!(
        sent[1].visible.contains("video_note"),
        "{:?}",
        sent[1].visible
    );
    for m in &sent {
        assert!(m.visible.contains("yet"), "{:?}", m.visible);
        assert!(m.visible.len() < 200, "short: {:?}", m.visible);
        assert_eq!(m.chat_id, USER);
    }
    assert_eq!(p.llm.request_count(), 0);
}

#[test]
fn rate_limited_get_updates_waits_retry_after_and_then_delivers_once() {
    let mut p = Picoclaw::new("429-poll");
    p.tg.fail_next("getUpdates", Fault::rate_limited(1));
    p.say("hello after the rate limit");
    p.start();
    assert_eq!(p.replies(1), vec!["echo: hello after the rate limit"]);
    let err = p.stderr();
    assert!(
        err.lines()
            .any(|l| l.contains("poll failed") && l.contains("retrying in 1000 ms")),
        "retry_after was used as the wait:\n{err}"
    );
    assert_eq!(p.barrier("429-poll").len(), 2);
}

#[test]
fn rate_limited_send_message_is_retried_after_retry_after_and_delivered_once() {
    let mut p = Picoclaw::new("429-send");
    p.tg.fail_next("sendMessage", Fault::rate_limited(1));
    p.start();
    p.say("hello");
    assert_eq!(p.replies(1), vec!["echo: hello"]);
    let err = p.stderr();
    assert!(
        err.contains("sending reply chunk") && err.contains("will retry"),
        "{err}"
    );
    assert_eq!(
        p.barrier("429-send"),
        vec!["echo: hello", "echo: barrier 429-send"]
    );
    assert_eq!(p.llm.request_count(), 2, "the answer was not recomputed");
}

#[test]
fn server_errors_and_hangups_from_telegram_are_survived() {
    let mut p = Picoclaw::new("5xx");
    for f in [
        Fault::status(502, "Bad Gateway"),
        Fault::Hangup,
        Fault::status(500, "Internal Server Error"),
    ] {
        p.tg.fail_next("getUpdates", f);
    }
    p.tg.fail_next("sendMessage", Fault::status(503, "Service Unavailable"));
    p.tg.fail_next("sendMessage", Fault::Hangup);
    p.say("through the storm");
    p.start();
    assert_eq!(p.replies(1), vec!["echo: through the storm"]);
    assert_eq!(
        p.barrier("5xx"),
        vec!["echo: through the storm", "echo: barrier 5xx"]
    );
    assert!(p.is_running());
    assert!(!p.stderr().contains("panicked"));
}

#[test]
fn malformed_json_and_odd_updates_from_telegram_are_skipped_without_losing_messages() {
    let mut p = Picoclaw::new("tg-malformed");
    p.tg.fail_next("getUpdates", Fault::NonJson);
    p.tg.fail_next("getUpdates", Fault::Truncated);
    // Updates of shapes the docs do not promise.
    p.tg.push_update(json!({"message": "not an object"}));
    p.tg.push_update(json!({"message": {"message_id": 1, "text": "no chat"}}));
    p.tg.push_update(json!({"edited_message": {"message_id": 1}}));
    p.say("still works");
    p.start();
    assert_eq!(p.replies(1), vec!["echo: still works"]);
    assert_eq!(
        p.barrier("malformed"),
        vec!["echo: still works", "echo: barrier malformed"]
    );
    assert_eq!(
        p.tg.pending_updates(),
        0,
        "the odd updates were acknowledged"
    );
    assert!(p.is_running());
    assert!(!p.stderr().contains("panicked"));
}

#[test]
fn typing_is_shown_while_a_turn_runs() {
    let mut p = Picoclaw::new("typing");
    // A model that takes a moment, as real ones do.
    p.llm
        .push(Step::Fault(picoclaw_testkit::fake_llm::Fault::Delay(
            std::time::Duration::from_secs(1),
            Box::new(Step::text("thought about it")),
        )));
    p.start();
    p.say("hi");
    assert_eq!(p.replies(1), vec!["thought about it"]);
    let actions = p.tg.chat_actions();
    assert!(!actions.is_empty());
    assert!(actions
        .iter()
        .all(|a| a.chat_id == USER && a.action == "typing"));
}

#[test]
fn commands_addressed_to_the_bot_work_in_groups_with_one_session_per_group() {
    let mut p = Picoclaw::new("group-new");
    p.start();
    p.tg.push_text(GROUP, USER, "alice", "@picotest_bot remember kiwi");
    assert_eq!(p.tg.wait_for_sent(1, WAIT).len(), 1, "{}", p.stderr());
    p.tg.push_text(GROUP, USER, "alice", "/new@picotest_bot");
    let sent = p.tg.wait_for_sent(2, WAIT);
    assert_eq!(sent[1].visible, "Started a fresh conversation.");
    assert_eq!(sent[1].chat_id, GROUP);
    // A command for another bot is not ours.
    p.tg.push_text(GROUP, USER, "alice", "/new@some_other_bot");
    p.tg.push_text(GROUP, USER, "alice", "@picotest_bot which fruit?");
    let sent = p.tg.wait_for_sent(3, WAIT);
    assert!(sent[2].visible.contains("which fruit?"), "{sent:?}");
    let reqs = p.llm.requests();
    assert_eq!(reqs.len(), 2);
    let users: Vec<&serde_json::Value> = reqs[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .collect();
    assert_eq!(users.len(), 1, "history was reset: {users:?}");
    let all = p.barrier("group-new");
    assert_eq!(all.len(), 4, "{all:?}");
}

#[test]
fn a_configured_group_trigger_addresses_the_bot() {
    let mut p = Picoclaw::new("trigger");
    p.edit_config(|c| {
        c.replace(
            "[channels.telegram]\n",
            "[channels.telegram]\ngroup_trigger = \"!pico\"\n",
        )
    });
    p.start();
    p.tg.push_text(GROUP, USER, "alice", "pico is a nice name");
    p.tg.push_text(GROUP, USER, "alice", "!pico how are you");
    let sent = p.tg.wait_for_sent(1, WAIT);
    assert_eq!(sent.len(), 1, "{}", p.stderr());
    assert!(sent[0].visible.contains("how are you"), "{sent:?}");
    assert!(!sent[0].visible.contains("!pico"), "{sent:?}");
    assert_eq!(p.barrier("trigger").len(), 2);
}

#[test]
fn a_long_formatted_reply_with_a_huge_code_block_is_split_into_valid_html_chunks() {
    let mut p = Picoclaw::new("split-code");
    let code: String = (0..400)
        .map(|i| format!("let x{i} = a < b && c > {i}; // <tag> & more\n"))
        .collect();
    let text = format!("**Here** is the _code_:\n\n```rust\n{code}```\n\nThat was **all**.");
    assert!(code.chars().count() > 4096 * 3 / 2);
    p.llm.push(Step::text(text));
    p.start();
    p.say("show me the code");
    assert!(
        wait_until(WAIT, || p
            .visible()
            .last()
            .is_some_and(|t| t.ends_with("That was all."))),
        "{:?}\n{}",
        p.visible(),
        p.stderr()
    );
    let sent = p.tg.sent();
    assert!(sent.len() >= 3, "{} chunks", sent.len());
    assert!(
        p.tg.rejections().is_empty(),
        "every chunk is valid Telegram HTML: {:?}",
        p.tg.rejections()
    );
    for m in &sent {
        assert_eq!(m.parse_mode.as_deref(), Some("HTML"), "{m:?}");
        assert!(m.visible.chars().count() <= 4096);
    }
    assert!(sent[0].text.starts_with("<b>Here</b>"), "{}", sent[0].text);
    // The code survives whole, in order: only whitespace at cuts differs.
    let visible = sent
        .iter()
        .map(|m| m.visible.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squash(&visible).contains(&squash(&code)),
        "code lost or reordered"
    );
    // Code chunks stay code: every chunk holding code lines is in <pre>.
    for m in &sent {
        if m.visible.contains("let x") {
            assert!(
                m.text.contains("<pre>") || m.text.contains("<pre><code"),
                "{}",
                &m.text[..80]
            );
        }
    }
}
