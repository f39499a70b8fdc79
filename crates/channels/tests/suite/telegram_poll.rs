use std::time::Duration;

use picoclaw_channels::telegram::Telegram;
use picoclaw_core::{Button, ChannelError, ChatKind, Inbound, InboundKind, Poller, Sender, Sink};
use picoclaw_testkit::fake_telegram::{FakeTelegram, Fault, Incoming};
use serde_json::json;

use super::{connect, options, ALLOWED, GROUP, TOKEN, WAIT};

fn texts(items: &[Inbound]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i.kind {
            InboundKind::Text(t) => t.clone(),
            InboundKind::Unsupported(k) => format!("<{k}>"),
            InboundKind::Scheduled(s) => format!("<scheduled {}>", s.prompt),
            InboundKind::Media { text, files } => format!("<{} files> {text}", files.len()),
            InboundKind::Button(d) => format!("[{d}]"),
        })
        .collect()
}

#[test]
fn connect_learns_the_bot_identity() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    assert_eq!((tg.bot_id(), tg.bot_username()), (4242, "picotest_bot"));
}

#[test]
fn updates_are_acknowledged_only_when_the_cursor_comes_back() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let id = fake.push_text(ALLOWED, ALLOWED, "bob", "hello there");

    let batch = tg.poll(None).unwrap();
    assert_eq!(
        batch.items,
        vec![Inbound {
            channel: String::from("telegram"),
            event_id: id.to_string(),
            chat_id: ALLOWED.to_string(),
            chat_kind: ChatKind::Direct,
            sender: Sender {
                id: ALLOWED.to_string(),
                username: Some(String::from("bob")),
                display: format!("User{ALLOWED}"),
            },
            message_id: Some(String::from("1")),
            kind: InboundKind::Text(String::from("hello there")),
        }]
    );
    assert_eq!(batch.cursor, Some((id + 1).to_string()));
    assert_eq!((fake.confirmed_offset(), fake.pending_updates()), (0, 1));

    // Without the cursor (a crash before storing), the update comes again.
    let again = tg.poll(None).unwrap();
    assert_eq!(again.items, batch.items);

    let after = tg.poll(batch.cursor.as_deref()).unwrap();
    assert_eq!(after.items, vec![]);
    assert_eq!(after.cursor, None);
    assert_eq!(
        (fake.confirmed_offset(), fake.pending_updates()),
        (id + 1, 0)
    );
}

#[test]
fn long_poll_wakes_when_a_message_arrives() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = Telegram::connect(picoclaw_channels::telegram::TelegramOptions {
        poll_timeout: Duration::from_secs(20),
        ..options(&fake)
    })
    .unwrap();
    let batch = std::thread::scope(|s| {
        let poller = s.spawn(|| tg.poll(None));
        fake.wait_for_get_updates(1, WAIT);
        fake.push_text(ALLOWED, ALLOWED, "bob", "late");
        poller.join().unwrap()
    })
    .unwrap();
    assert_eq!(texts(&batch.items), vec!["late"]);
}

#[test]
fn rate_limit_surfaces_retry_after() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.fail_next("getUpdates", Fault::rate_limited(7));
    match tg.poll(None) {
        Err(ChannelError::Retry { after, reason }) => {
            assert_eq!(after, Some(Duration::from_secs(7)), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_faults_are_retryable_and_lose_nothing() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let id = fake.push_text(ALLOWED, ALLOWED, "bob", "still here?");
    for fault in [
        Fault::status(502, "Bad Gateway"),
        Fault::NonJson,
        Fault::Truncated,
        Fault::Hangup,
    ] {
        fake.fail_next("getUpdates", fault.clone());
        match tg.poll(None) {
            Err(ChannelError::Retry { after: None, .. }) => {}
            other => panic!("{fault:?}: {other:?}"),
        }
    }
    let batch = tg.poll(None).unwrap();
    assert_eq!(texts(&batch.items), vec!["still here?"]);
    assert_eq!(batch.cursor, Some((id + 1).to_string()));
}

#[test]
fn wrong_token_is_fatal_at_connect_with_a_doctor_hint() {
    let fake = FakeTelegram::start(TOKEN);
    let mut opts = options(&fake);
    opts.token = String::from("4242:WRONG-token-xyz");
    match Telegram::connect(opts) {
        Err(ChannelError::Fatal(m)) => {
            assert!(
                m.starts_with("Telegram rejected the bot token (HTTP 401"),
                "{m}"
            );
            assert!(m.contains("picoclaw doctor"), "{m}");
            assert!(!m.contains("WRONG-token"), "token leaked: {m}");
        }
        other => panic!("{other:?}"),
    }
    let mut opts = options(&fake);
    opts.api_base = format!("{}/not-telegram", fake.api_base());
    assert!(
        matches!(Telegram::connect(opts), Err(ChannelError::Fatal(m)) if m.contains("HTTP 404"))
    );
}

#[test]
fn unreachable_server_at_connect_is_retryable() {
    let fake = FakeTelegram::start(TOKEN);
    fake.fail_next("getMe", Fault::status(500, "Internal Server Error"));
    assert!(matches!(
        Telegram::connect(options(&fake)),
        Err(ChannelError::Retry { .. })
    ));
}

#[test]
fn webhook_conflict_is_explained() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.set_webhook_conflict(true);
    match tg.poll(None) {
        Err(ChannelError::Retry { reason, .. }) => {
            assert!(reason.contains("HTTP 409"), "{reason}");
            assert!(reason.contains("webhook is set"), "{reason}");
            assert!(reason.contains("deleteWebhook"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_poller_is_explained_as_a_conflict() {
    let fake = FakeTelegram::start(TOKEN);
    let slow = Telegram::connect(picoclaw_channels::telegram::TelegramOptions {
        poll_timeout: Duration::from_secs(20),
        ..options(&fake)
    })
    .unwrap();
    let other = connect(&fake);
    let first = std::thread::scope(|s| {
        let poller = s.spawn(|| slow.poll(None));
        fake.wait_for_get_updates(1, WAIT);
        other.poll(None).unwrap();
        poller.join().unwrap()
    });
    match first {
        Err(ChannelError::Retry { reason, .. }) => {
            assert!(
                reason.contains("another getUpdates poller is running"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stranger_s_message_is_passed_on_for_the_runtime_to_judge() {
    // Who may talk (allow_from, pairing) is decided with the store.
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let id = fake.push_text(666, 666, "mallory", "let me in");
    let batch = tg.poll(None).unwrap();
    assert_eq!(texts(&batch.items), vec!["let me in"]);
    assert_eq!(batch.items[0].sender.id, "666");
    assert_eq!(batch.cursor, Some((id + 1).to_string()));
}

#[test]
fn a_button_press_is_polled_as_a_button_event_and_its_query_answered() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.push_text(ALLOWED, ALLOWED, "bob", "hi");
    let batch = tg.poll(None).unwrap();
    let buttons = [
        Button {
            label: "Yes".into(),
            data: "confirm:1:yes".into(),
        },
        Button {
            label: "No".into(),
            data: "confirm:1:no".into(),
        },
    ];
    tg.send_buttons(&ALLOWED.to_string(), "May I?", None, &buttons)
        .unwrap();
    let asked = &fake.sent()[0];
    assert_eq!(
        asked.buttons,
        [
            ("Yes".to_string(), "confirm:1:yes".to_string()),
            ("No".to_string(), "confirm:1:no".to_string())
        ]
    );
    let query = fake.press(ALLOWED, asked.message_id, ALLOWED, "No");
    let batch = tg.poll(batch.cursor.as_deref()).unwrap();
    assert_eq!(batch.items.len(), 1);
    let press = &batch.items[0];
    assert_eq!(press.kind, InboundKind::Button("confirm:1:no".into()));
    let me = ALLOWED.to_string();
    assert_eq!((&press.chat_id, &press.sender.id), (&me, &me));
    assert_eq!(fake.answered_queries(), [query]);
    assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
}

#[test]
fn group_messages_need_a_mention_a_reply_or_the_trigger() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.push_text(GROUP, ALLOWED, "bob", "just chatting");
    fake.push_text(GROUP, ALLOWED, "bob", "@picotest_bot what is 2+2?");
    fake.push_text(GROUP, ALLOWED, "bob", "!bot summarise");
    fake.push_text(GROUP, ALLOWED, "bob", "/new@picotest_bot");
    fake.push_text(GROUP, ALLOWED, "bob", "/new@someone_else_bot");
    let last = fake.push_text(GROUP, 666, "mallory", "just chatting too");
    let batch = tg.poll(None).unwrap();
    assert_eq!(
        texts(&batch.items),
        vec!["what is 2+2?", "summarise", "/new"]
    );
    assert!(batch.items.iter().all(|i| i.chat_kind == ChatKind::Group));
    assert_eq!(batch.cursor, Some((last + 1).to_string()));

    // A reply to the bot's own message needs no mention.
    tg.send(&GROUP.to_string(), "4", None).unwrap();
    let bot_msg = fake.sent()[0].message_id;
    fake.push(
        Incoming::group(GROUP, ALLOWED, "bob")
            .reply_to(bot_msg)
            .text("and 3+3?"),
    );
    let user_msg = fake.next_message_id(GROUP) - 1;
    fake.push(
        Incoming::group(GROUP, ALLOWED, "bob")
            .reply_to(user_msg)
            .text("reply to a human"),
    );
    let batch = tg.poll(batch.cursor.as_deref()).unwrap();
    assert_eq!(texts(&batch.items), vec!["and 3+3?"]);
}

#[test]
fn photos_voice_audio_and_documents_are_files_and_other_media_unsupported() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    for kind in [
        "photo",
        "voice",
        "document",
        "sticker",
        "animation",
        "video_note",
    ] {
        fake.push(Incoming::direct(ALLOWED, "bob").media(kind).text("look"));
    }
    fake.push(Incoming::group(GROUP, ALLOWED, "bob").media("photo"));
    fake.push(
        Incoming::group(GROUP, ALLOWED, "bob")
            .media("audio")
            .text("@picotest_bot listen"),
    );
    let batch = tg.poll(None).unwrap();
    assert_eq!(
        texts(&batch.items),
        vec![
            "<1 files> look",
            "<1 files> look",
            "<1 files> look",
            "<sticker>",
            "<animation>",
            "<video_note>",
            "<1 files> listen"
        ]
    );
}

#[test]
fn malformed_updates_are_skipped_and_acknowledged() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.push_update(json!({"message": "not an object"}));
    fake.push_update(json!({"message": {"message_id": "x", "chat": {"id": ALLOWED, "type": "private"}, "from": {"id": ALLOWED}, "text": "t"}}));
    let good = fake.push_text(ALLOWED, ALLOWED, "bob", "fine");
    let bad_last = fake.push_update(json!({"message": {"chat": null}}));
    let batch = tg.poll(None).unwrap();
    assert_eq!(texts(&batch.items), vec!["fine"]);
    assert_eq!(batch.items[0].event_id, good.to_string());
    assert_eq!(batch.cursor, Some((bad_last + 1).to_string()));
}

#[test]
fn edits_and_bot_messages_are_not_answered() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    fake.push_update(json!({"edited_message": {"message_id": 1, "date": 0,
        "chat": {"id": ALLOWED, "type": "private"}, "from": {"id": ALLOWED, "is_bot": false},
        "text": "edited"}}));
    fake.push(Incoming::direct(ALLOWED, "bob").from_bot().text("beep"));
    let batch = tg.poll(None).unwrap();
    assert_eq!(batch.items, vec![]);
    // The edit was filtered by allowed_updates on the server side, the
    // bot's message by the channel; both are acknowledged.
    tg.poll(batch.cursor.as_deref()).unwrap();
    assert_eq!(fake.pending_updates(), 0);
}
