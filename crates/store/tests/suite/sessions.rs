use picoclaw_core::{ChatMessage, Role, ToolCall, Usage};
use picoclaw_store::{SessionStats, Store};

use super::text;

fn assistant_calling(id: &str) -> ChatMessage {
    ChatMessage {
        role: Role::Assistant,
        content: String::new(),
        tool_calls: vec![ToolCall {
            id: id.into(),
            name: "read_file".into(),
            arguments: r#"{"path": "notes.md", "bad json": "#.into(),
        }],
        tool_call_id: None,
        images: Vec::new(),
    }
}

#[test]
fn active_session_is_stable_per_key_and_new_session_archives_it() {
    let mut store = Store::open_in_memory().unwrap();
    let a = store.active_session("telegram:1").unwrap();
    assert_eq!(store.active_session("telegram:1").unwrap(), a);
    let other = store.active_session("telegram:2").unwrap();
    assert_ne!(other, a);

    store
        .append_message(a, None, &ChatMessage::user("old"))
        .unwrap();
    let fresh = store.new_session("telegram:1").unwrap();
    assert_ne!(fresh, a);
    assert_eq!(store.active_session("telegram:1").unwrap(), fresh);
    assert_eq!(store.active_session("telegram:2").unwrap(), other);
    assert_eq!(texts(&store, fresh, 0, 10), Vec::<ChatMessage>::new());
    // The archived session's messages stay on record.
    assert_eq!(texts(&store, a, 0, 10), [ChatMessage::user("old")]);

    // /new on a key with no session yet just creates one.
    let first = store.new_session("telegram:3").unwrap();
    assert_eq!(store.active_session("telegram:3").unwrap(), first);
}

#[test]
fn history_returns_the_newest_messages_oldest_first_with_tool_calls() {
    let mut store = Store::open_in_memory().unwrap();
    let s = store.active_session("telegram:1").unwrap();
    let msgs = [
        ChatMessage::user("first"),
        ChatMessage::assistant("one"),
        ChatMessage::user("read my notes"),
        assistant_calling("call_1"),
        ChatMessage::tool_result("call_1", "# Notes\n- ünïcödé ✓"),
        ChatMessage::assistant("done"),
    ];
    let mut ids = Vec::new();
    for m in &msgs {
        ids.push(store.append_message(s, None, m).unwrap());
    }
    assert_eq!(texts(&store, s, 0, 4), msgs[2..]);
    assert_eq!(texts(&store, s, 0, 100), msgs);
    assert_eq!(texts(&store, s, 0, 0), []);
    // Only what came after a known id, with the ids.
    let since = store.history(s, ids[3], 100).unwrap();
    assert_eq!(
        since,
        [(ids[4], msgs[4].clone()), (ids[5], msgs[5].clone())]
    );
    assert_eq!(store.history(s, ids[5], 100).unwrap(), []);
}

fn texts(store: &Store, session: i64, after: i64, max: usize) -> Vec<ChatMessage> {
    store
        .history(session, after, max)
        .unwrap()
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn turn_messages_returns_only_what_this_inbound_recorded() {
    let mut store = Store::open_in_memory().unwrap();
    let ids = store
        .ingest(
            "telegram",
            &[text("1", "c", "a"), text("2", "c", "b")],
            None,
        )
        .unwrap();
    let s = store.active_session("telegram:c").unwrap();
    store
        .append_message(s, Some(ids[0]), &ChatMessage::user("a"))
        .unwrap();
    store
        .append_message(s, Some(ids[1]), &ChatMessage::user("b"))
        .unwrap();
    store
        .append_message(s, Some(ids[1]), &assistant_calling("c9"))
        .unwrap();
    store
        .append_message(s, None, &ChatMessage::assistant("unrelated"))
        .unwrap();

    assert_eq!(
        store.turn_messages(ids[1]).unwrap(),
        [ChatMessage::user("b"), assistant_calling("c9")]
    );
    assert_eq!(
        store.turn_messages(ids[0]).unwrap(),
        [ChatMessage::user("a")]
    );
    assert_eq!(store.turn_messages(12345).unwrap(), []);
}

#[test]
fn session_stats_count_messages_and_characters() {
    let mut store = Store::open_in_memory().unwrap();
    let s = store.active_session("k").unwrap();
    assert_eq!(store.session_stats(s).unwrap(), SessionStats::default());
    store
        .append_message(s, None, &ChatMessage::user("héllo"))
        .unwrap();
    store
        .append_message(s, None, &ChatMessage::assistant("ok"))
        .unwrap();
    let calls = assistant_calling("x");
    store.append_message(s, None, &calls).unwrap();
    let json_chars = serde_json::to_string(&calls.tool_calls)
        .unwrap()
        .chars()
        .count() as u64;
    let all = 5 + 2 + json_chars;
    assert_eq!(
        store.session_stats(s).unwrap(),
        SessionStats {
            messages: 3,
            chars: all,
            live_chars: all,
            compacted: false,
        }
    );
    // After a compaction covering the first message, only the rest is live.
    let first = store.history(s, 0, 10).unwrap()[0].0;
    store.set_session_summary(s, "summary", first).unwrap();
    let st = store.session_stats(s).unwrap();
    assert_eq!((st.messages, st.chars, st.compacted), (3, all, true));
    assert_eq!(st.live_chars, all - 5);
    assert_eq!(
        store.session_stats(9999).unwrap(),
        SessionStats::default(),
        "an unknown session is empty"
    );
}

#[test]
fn usage_totals_sum_only_this_session() {
    let mut store = Store::open_in_memory().unwrap();
    let s = store.active_session("a").unwrap();
    let other = store.active_session("b").unwrap();
    assert_eq!(store.usage_totals(s).unwrap(), Usage::default());
    let u = |i, o| Usage {
        input_tokens: i,
        output_tokens: o,
    };
    store.record_usage(s, "openai", u(100, 20)).unwrap();
    store.record_usage(s, "anthropic", u(50, 5)).unwrap();
    store.record_usage(other, "openai", u(7, 7)).unwrap();
    assert_eq!(store.usage_totals(s).unwrap(), u(150, 25));
    assert_eq!(store.usage_totals(other).unwrap(), u(7, 7));
}
