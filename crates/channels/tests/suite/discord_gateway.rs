//! The Discord gateway against the fake: identify, who and where,
//! resume, op 7 / op 9, close codes, replay after a restart.

// Helpers outside #[test] fns panic on failed setup by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use picoclaw_channels::discord::Discord;
use picoclaw_core::{
    ChannelError, ChatKind, Inbound, InboundKind, LinkState, Poller, Sender, Sink,
};
use picoclaw_testkit::fake_discord::{FakeDiscord, BOT_ID};
use serde_json::json;

use super::{discord, discord_options, poll_n, ALICE, DISCORD_TOKEN, WAIT};

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

/// A connected channel whose gateway reached READY.
fn ready(fake: &FakeDiscord) -> Discord {
    let d = discord(fake);
    // The first poll starts the gateway.
    let batch = d.poll(None).unwrap();
    assert!(batch.items.is_empty());
    assert!(fake.wait_for_ready(1, WAIT), "no READY: {:?}", fake.ops());
    d
}

#[test]
fn identify_carries_the_token_and_intents_and_a_dm_is_delivered() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    assert_eq!((d.bot_id(), d.bot_username()), (BOT_ID, "picotest"));
    let identify = fake.identifies();
    assert_eq!(identify.len(), 1);
    assert_eq!(identify[0]["token"], DISCORD_TOKEN);
    // GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
    assert_eq!(identify[0]["intents"], 1 + (1 << 9) + (1 << 12) + (1 << 15));
    assert_eq!(fake.connections(), vec!["/?v=10&encoding=json"]);
    assert_eq!(d.link_detail().state, LinkState::Up);

    let id = fake.dm(ALICE, "hello there");
    let (items, cursor) = poll_n(&d, None, 1);
    assert_eq!(
        items,
        vec![Inbound {
            channel: String::from("discord"),
            event_id: id.clone(),
            chat_id: format!("5{ALICE}"),
            chat_kind: ChatKind::Direct,
            sender: Sender {
                id: String::from(ALICE),
                username: Some(format!("user{ALICE}")),
                display: format!("User {ALICE}"),
            },
            message_id: Some(id),
            kind: InboundKind::Text(String::from("hello there")),
        }]
    );
    // READY was seq 1, the message seq 2.
    let cursor = cursor.unwrap();
    assert!(
        cursor.starts_with("v1 fake-session-1 2 ws://127.0.0.1:"),
        "{cursor}"
    );
    assert!(d.link_detail().last_receive.is_some());
}

#[test]
fn guild_messages_are_answered_only_when_mentioned_and_threads_in_the_thread() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    fake.guild_message("700", "800", ALICE, "chatter among humans", false);
    fake.guild_message("700", "800", ALICE, "what is 2+2?", true);
    fake.create_thread("700", "800", "850");
    fake.guild_message("700", "850", ALICE, "and in the thread?", true);
    let (items, _) = poll_n(&d, None, 2);
    assert_eq!(texts(&items), vec!["what is 2+2?", "and in the thread?"]);
    assert_eq!(items[0].chat_kind, ChatKind::Group);
    assert_eq!(items[0].chat_id, "800");
    // The thread is its own conversation, answered where it was asked.
    assert_eq!(items[1].chat_id, "850");
    d.send(&items[1].chat_id, "4", items[1].message_id.as_deref())
        .unwrap();
    let sent = fake.sent();
    assert_eq!(sent[0].channel_id, "850");
    assert_eq!(sent[0].reply_to, items[1].message_id);
    // Nothing else was queued (the chatter is dropped).
    assert!(d.poll(None).unwrap().items.is_empty());
}

#[test]
fn op_7_reconnect_resumes_at_the_last_sequence_on_the_resume_url() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    fake.dm(ALICE, "one");
    assert_eq!(texts(&poll_n(&d, None, 1).0), vec!["one"]);
    fake.send_reconnect();
    assert!(fake.wait_for_ready(2, WAIT), "{:?}", fake.ops());
    let resumes = fake.resumes();
    assert_eq!(
        resumes,
        vec![json!({"token": DISCORD_TOKEN, "session_id": "fake-session-1", "seq": 2})]
    );
    assert_eq!(fake.identifies().len(), 1);
    assert_eq!(fake.connections()[1], "/resume/?v=10&encoding=json");
    fake.dm(ALICE, "two");
    assert_eq!(texts(&poll_n(&d, None, 1).0), vec!["two"]);
}

#[test]
fn events_sent_while_disconnected_are_replayed_by_the_resume() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    // Closed with a resumable code; the messages land in the session
    // while the bot is away.
    fake.close_with(4000, "Unknown error.");
    assert!(fake.wait(WAIT, |f| f.live_connections() == 0));
    fake.dm(ALICE, "while away 1");
    fake.dm(ALICE, "while away 2");
    let (items, _) = poll_n(&d, None, 2);
    assert_eq!(texts(&items), vec!["while away 1", "while away 2"]);
    assert_eq!(fake.resumes().len(), 1);
    assert_eq!(fake.identifies().len(), 1);
}

#[test]
fn op_9_not_resumable_waits_then_identifies_afresh() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    let at = Instant::now();
    fake.invalidate_session(/*resumable*/ false);
    assert!(
        fake.wait(WAIT, |f| f.identifies().len() == 2),
        "{:?}",
        fake.ops()
    );
    // The documented 1–5 s pause before identifying again. (A lower bound
    // the code sleeps for; a slow machine only makes it longer.)
    assert!(at.elapsed() >= Duration::from_secs(1));
    assert!(fake.resumes().is_empty());
    assert!(fake.wait_for_ready(2, WAIT));
    fake.dm(ALICE, "after the new session");
    let (items, cursor) = poll_n(&d, None, 1);
    assert_eq!(texts(&items), vec!["after the new session"]);
    assert!(cursor.unwrap().starts_with("v1 fake-session-2 "));
}

#[test]
fn close_4009_starts_a_new_session_and_4000_resumes() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    fake.close_with(4000, "Unknown error.");
    assert!(fake.wait_for_ready(2, WAIT));
    assert_eq!((fake.identifies().len(), fake.resumes().len()), (1, 1));
    fake.close_with(4009, "Session timed out.");
    assert!(fake.wait_for_ready(3, WAIT));
    assert_eq!((fake.identifies().len(), fake.resumes().len()), (2, 1));
    drop(d);
}

#[test]
fn close_4004_stops_the_channel_with_a_clear_error() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    fake.close_with(4004, "Authentication failed.");
    let err = loop {
        match d.poll(None) {
            Ok(b) => assert!(b.items.is_empty()),
            Err(e) => break e,
        }
    };
    let ChannelError::Fatal(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("4004 (authentication failed)"), "{msg}");
    assert!(msg.contains("Reset Token"), "{msg}");
    assert_eq!(d.link_detail().state, LinkState::Stopped(msg));
    // It does not come back.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.connections().len(), 1);
}

#[test]
fn close_4014_explains_how_to_enable_message_content() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    fake.set_message_content_allowed(false);
    let d = discord(&fake);
    let err = loop {
        match d.poll(None) {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    let ChannelError::Fatal(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("4014 (disallowed intents)"), "{msg}");
    assert!(
        msg.contains("Bot → Privileged Gateway Intents → MESSAGE CONTENT INTENT"),
        "{msg}"
    );
    assert_eq!(fake.closes_sent(), vec![4014]);
}

#[test]
fn a_duplicate_dispatch_keeps_the_same_event_id_for_the_store_to_drop() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    let id = fake.dm(ALICE, "once");
    fake.redeliver(&id);
    let (items, _) = poll_n(&d, None, 2);
    assert_eq!(items.len(), 2);
    assert_eq!(
        items
            .iter()
            .map(|i| i.event_id.as_str())
            .collect::<Vec<_>>(),
        vec![id.as_str(), id.as_str()]
    );
}

#[test]
fn a_restart_with_the_stored_cursor_resumes_and_gets_the_unstored_messages() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let first = ready(&fake);
    fake.dm(ALICE, "stored");
    let (items, cursor) = poll_n(&first, None, 1);
    assert_eq!(texts(&items), vec!["stored"]);
    let cursor = cursor.unwrap();
    // Arrives in the first process's queue, which dies before storing it.
    fake.dm(ALICE, "received but not stored");
    std::thread::sleep(Duration::from_millis(200));
    drop(first);

    let second = discord(&fake);
    let (items, _) = poll_n(&second, Some(&cursor), 1);
    assert_eq!(texts(&items), vec!["received but not stored"]);
    let resumes = fake.resumes();
    assert_eq!(resumes.len(), 1, "{:?}", fake.ops());
    assert_eq!(resumes[0]["seq"], 2);
    assert_eq!(fake.identifies().len(), 1);
}

#[test]
fn a_stale_cursor_falls_back_to_a_new_session() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = discord(&fake);
    let stale = format!("v1 gone-session 17 {}", fake.gateway_url());
    assert!(d.poll(Some(&stale)).unwrap().items.is_empty());
    assert!(fake.wait_for_ready(1, WAIT), "{:?}", fake.ops());
    assert_eq!(fake.resumes()[0]["session_id"], "gone-session");
    assert_eq!(fake.identifies().len(), 1);
    fake.dm(ALICE, "hi");
    assert_eq!(texts(&poll_n(&d, None, 1).0), vec!["hi"]);
}

#[test]
fn more_messages_than_the_queue_holds_all_arrive_once_in_order() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    let want: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    for t in &want {
        fake.dm(ALICE, t);
    }
    // Give the gateway time to fill its queue and pause.
    std::thread::sleep(Duration::from_millis(500));
    let (items, _) = poll_n(&d, None, want.len());
    assert_eq!(texts(&items), want);
    assert!(d.poll(None).unwrap().items.is_empty());
}

#[test]
fn the_server_asking_for_a_heartbeat_gets_one_with_the_sequence() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = ready(&fake);
    fake.dm(ALICE, "x");
    poll_n(&d, None, 1);
    fake.request_heartbeat();
    assert!(fake.wait(WAIT, |f| f.ops().iter().any(
        |o| *o == picoclaw_testkit::fake_discord::ClientOp::Heartbeat(json!(2))
    )));
}

#[test]
fn a_wrong_token_is_refused_at_connect() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let err = Discord::connect(picoclaw_channels::discord::DiscordOptions {
        token: String::from("not-the-token"),
        ..discord_options(&fake)
    })
    .unwrap_err();
    let ChannelError::Fatal(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with("Discord rejected the bot token (HTTP 401"),
        "{msg}"
    );
}

#[test]
fn rest_and_the_gateway_work_over_tls_with_the_installed_ca() {
    let ca = picoclaw_testkit::tls::TestCa::new();
    let pem = std::env::temp_dir().join(format!("picoclaw-discord-ca-{}.pem", std::process::id()));
    ca.write_pem(&pem);
    // Built-in roots plus this CA, for every client made from now on (the
    // binary does this once from [http] ca_file).
    picoclaw_http::install(picoclaw_http::Trust::new(Some(
        picoclaw_http::CaFile::load(&pem).unwrap(),
    )));
    let fake = FakeDiscord::start_tls(DISCORD_TOKEN, ca.loopback_server());
    assert!(fake.api_base().starts_with("https://"));
    assert!(fake.gateway_url().starts_with("wss://"));
    let d = ready(&fake);
    fake.dm(ALICE, "over tls");
    let (items, _) = poll_n(&d, None, 1);
    assert_eq!(texts(&items), vec!["over tls"]);
    d.send(&items[0].chat_id, "encrypted answer", None).unwrap();
    assert_eq!(fake.sent()[0].content, "encrypted answer");
    // A resume goes to the wss:// resume URL.
    fake.send_reconnect();
    assert!(fake.wait_for_ready(2, WAIT));
    let _ = std::fs::remove_file(pem);
}
