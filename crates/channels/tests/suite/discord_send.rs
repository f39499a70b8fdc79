//! Discord REST against the fake: replies, splitting, typing, rate limits
//! and errors.

// Helpers outside #[test] fns panic on failed setup by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use picoclaw_core::{ChannelError, Poller, Sink};
use picoclaw_testkit::fake_discord::{FakeDiscord, Fault};
use serde_json::json;

use super::{discord, poll_n, ALICE, DISCORD_TOKEN, WAIT};

const MESSAGES: &str = "POST /channels/{id}/messages";

/// A channel that received one DM from Alice: (channel, chat id, message id).
fn with_dm(fake: &FakeDiscord) -> (picoclaw_channels::discord::Discord, String, String) {
    let d = discord(fake);
    assert!(d.poll(None).unwrap().items.is_empty());
    assert!(fake.wait_for_ready(1, WAIT));
    fake.dm(ALICE, "question");
    let (items, _) = poll_n(&d, None, 1);
    let m = items.into_iter().next().unwrap();
    (d, m.chat_id, m.message_id.unwrap())
}

fn message_calls(fake: &FakeDiscord) -> usize {
    fake.rest_calls()
        .iter()
        .filter(|c| c.path.ends_with("/messages"))
        .count()
}

#[test]
fn a_reply_quotes_the_question_without_pinging_anyone_or_previewing_links() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, msg) = with_dm(&fake);
    d.send(&chat, "answer @everyone https://example.com", Some(&msg))
        .unwrap();
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].content, "answer @everyone https://example.com");
    assert_eq!(sent[0].reply_to, Some(msg));
    assert_eq!(
        sent[0].allowed_mentions,
        json!({"parse": [], "replied_user": false})
    );
    assert_eq!(sent[0].flags, 4);
    let ua = &fake.rest_calls()[0].user_agent;
    assert!(ua.starts_with("DiscordBot (https://"), "{ua}");
}

#[test]
fn a_reply_to_a_deleted_message_still_goes_out() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, _) = with_dm(&fake);
    d.send(&chat, "still here", Some("1234")).unwrap();
    assert_eq!(fake.sent()[0].reply_to, None);
}

#[test]
fn a_4500_character_reply_goes_out_as_three_messages() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, msg) = with_dm(&fake);
    let para = "é".repeat(1499);
    let text = format!("{para}\n\n{para}\n\n{para}");
    assert_eq!(text.chars().count(), 4501);
    let chunks = d.render(&text);
    assert_eq!(chunks.len(), 3);
    for (i, c) in chunks.iter().enumerate() {
        d.send(&chat, c, (i == 0).then_some(msg.as_str())).unwrap();
    }
    let sent = fake.sent();
    assert_eq!(
        sent.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        vec![para.as_str(); 3]
    );
    assert_eq!(sent[0].reply_to, Some(msg));
}

#[test]
fn typing_shows_in_the_chat() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, _) = with_dm(&fake);
    d.typing(&chat).unwrap();
    assert_eq!(fake.typing(), vec![chat]);
}

#[test]
fn a_route_429_is_waited_out_without_sending_into_it() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, _) = with_dm(&fake);
    fake.fail_next(
        MESSAGES,
        Fault::RateLimited {
            retry_after: 0.4,
            global: false,
        },
    );
    let after = match d.send(&chat, "one", None) {
        Err(ChannelError::Retry { after, .. }) => after,
        other => panic!("{other:?}"),
    };
    assert_eq!(after, Some(Duration::from_millis(400)));
    // Asking again at once does not reach Discord.
    let calls = message_calls(&fake);
    assert!(matches!(
        d.send(&chat, "one", None),
        Err(ChannelError::Retry { after: Some(_), .. })
    ));
    assert_eq!(message_calls(&fake), calls);
    // Typing is another route and is not held.
    d.typing(&chat).unwrap();
    std::thread::sleep(after.unwrap());
    d.send(&chat, "one", None).unwrap();
    assert_eq!(fake.violations(), 0);
    assert_eq!(fake.sent().len(), 1);
}

#[test]
fn a_global_429_holds_every_route() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, _) = with_dm(&fake);
    fake.fail_next(
        MESSAGES,
        Fault::RateLimited {
            retry_after: 0.3,
            global: true,
        },
    );
    assert!(matches!(
        d.send(&chat, "one", None),
        Err(ChannelError::Retry { after: Some(_), .. })
    ));
    let calls = fake.rest_calls().len();
    assert!(matches!(
        d.typing(&chat),
        Err(ChannelError::Retry { after: Some(_), .. })
    ));
    assert_eq!(fake.rest_calls().len(), calls);
    std::thread::sleep(Duration::from_millis(300));
    d.typing(&chat).unwrap();
    d.send(&chat, "one", None).unwrap();
    assert_eq!(fake.violations(), 0);
}

#[test]
fn an_exhausted_bucket_is_not_sent_into() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    fake.set_rate_limit(2, Duration::from_millis(800));
    let (d, chat, _) = with_dm(&fake);
    d.send(&chat, "1", None).unwrap();
    d.send(&chat, "2", None).unwrap();
    let after = match d.send(&chat, "3", None) {
        Err(ChannelError::Retry { after: Some(a), .. }) => a,
        other => panic!("{other:?}"),
    };
    assert!(after <= Duration::from_millis(800), "{after:?}");
    assert_eq!(message_calls(&fake), 2);
    std::thread::sleep(after);
    d.send(&chat, "3", None).unwrap();
    assert_eq!(fake.violations(), 0);
    assert_eq!(fake.sent().len(), 3);
}

#[test]
fn server_errors_are_retryable_and_request_errors_are_not() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, _) = with_dm(&fake);
    fake.fail_next(
        MESSAGES,
        Fault::Status {
            status: 502,
            message: String::from("Bad Gateway"),
            code: 0,
        },
    );
    assert!(matches!(
        d.send(&chat, "x", None),
        Err(ChannelError::Retry { after: None, .. })
    ));
    d.send(&chat, "x", None).unwrap();
    fake.fail_next(MESSAGES, Fault::Hangup);
    assert!(matches!(
        d.send(&chat, "y", None),
        Err(ChannelError::Retry { .. })
    ));
    match d.send("424242", "to nowhere", None) {
        Err(ChannelError::Rejected { status, message }) => {
            assert_eq!(
                (status, message.as_str()),
                (404, "Unknown Channel (code 10003)")
            )
        }
        other => panic!("{other:?}"),
    }
    let too_long = "x".repeat(2001);
    assert!(matches!(
        d.send(&chat, &too_long, None),
        Err(ChannelError::Rejected { status: 400, .. })
    ));
    assert!(matches!(
        d.send("../../users/@me", "x", None),
        Err(ChannelError::Rejected { status: 400, .. })
    ));
}

#[test]
fn a_401_stops_the_channel_with_the_portal_hint() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let (d, chat, _) = with_dm(&fake);
    fake.fail_next(
        MESSAGES,
        Fault::Status {
            status: 401,
            message: String::from("401: Unauthorized"),
            code: 0,
        },
    );
    let msg = match d.send(&chat, "x", None) {
        Err(ChannelError::Fatal(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("Reset Token"), "{msg}");
    match d.poll(None) {
        Err(ChannelError::Fatal(m)) => assert_eq!(m, msg),
        other => panic!("{other:?}"),
    }
}
