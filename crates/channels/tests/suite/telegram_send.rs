use std::time::Duration;

use picoclaw_channels::telegram::{render_markdown, Telegram, TelegramOptions};
use picoclaw_core::{ChannelError, Sink};
use picoclaw_http::{Client, HttpOptions};
use picoclaw_testkit::fake_telegram::{ChatAction, FakeTelegram, Fault, Rejection, SentMessage};

use super::{connect, options, ALLOWED, TOKEN};

/// A DM chat the fake knows (Telegram only lets bots write to chats that
/// wrote first), and the id of the user's message in it.
fn chat_with_user(fake: &FakeTelegram) -> (String, String) {
    fake.push_text(ALLOWED, ALLOWED, "bob", "hi");
    (
        ALLOWED.to_string(),
        (fake.next_message_id(ALLOWED) - 1).to_string(),
    )
}

#[test]
fn reply_is_sent_as_html_replying_to_the_message() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let (chat, msg) = chat_with_user(&fake);
    let chunks = tg.render("**Done**: `a < b` & [docs](https://e.org)");
    assert_eq!(chunks.len(), 1);
    tg.send(&chat, &chunks[0], Some(&msg)).unwrap();
    assert_eq!(
        fake.sent(),
        vec![SentMessage {
            message_id: 2,
            chat_id: ALLOWED,
            text: String::from(
                "<b>Done</b>: <code>a &lt; b</code> &amp; <a href=\"https://e.org\">docs</a>"
            ),
            visible: String::from("Done: a < b & docs"),
            parse_mode: Some(String::from("HTML")),
            reply_to: Some(1),
            buttons: Vec::new(),
        }]
    );
}

/// The fake parses HTML strictly and counts UTF-16 units, so this checks
/// the renderer against Telegram's rules, not against itself.
#[test]
fn every_chunk_of_a_long_rich_reply_is_accepted() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let (chat, msg) = chat_with_user(&fake);
    let mut md = String::from("# Report\n\nSome *context* with <angle> & ampersands 😀.\n\n");
    for i in 0..60 {
        md.push_str(&format!(
            "- item {i}: **bold {i}** and _it_ and ~~old~~ and [link](https://e.org/{i}?a=1&b=\"2\")\n"
        ));
    }
    md.push_str("\n```rust\n");
    for i in 0..300 {
        md.push_str(&format!(
            "let x{i} = if a < b && c > d {{ \"s\" }} else {{ '😀' }};\n"
        ));
    }
    md.push_str("```\n\n> quoted **wisdom** with `code`\n\n");
    md.push_str(&"word ".repeat(2000));
    md.push_str(&"😀".repeat(3000));
    let chunks = tg.render(&md);
    assert!(chunks.len() >= 6, "{}", chunks.len());
    for c in &chunks {
        tg.send(&chat, c, Some(&msg)).unwrap();
    }
    let sent = fake.sent();
    assert_eq!(fake.rejections(), vec![]);
    assert_eq!(sent.len(), chunks.len());
    assert!(sent.iter().all(|s| s.parse_mode.as_deref() == Some("HTML")));
    let visible: String = sent.iter().map(|s| s.visible.as_str()).collect();
    assert_eq!(visible.matches("let x").count(), 300);
    assert_eq!(visible.matches('😀').count(), 3001 + 300);
}

#[test]
fn html_telegram_cannot_parse_is_resent_as_plain_text() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let (chat, _) = chat_with_user(&fake);
    tg.send(&chat, "<b>unclosed &amp; odd <i>tags</b>", None)
        .unwrap();
    assert_eq!(
        fake.rejections(),
        vec![Rejection {
            method: String::from("sendmessage"),
            code: 400,
            description: String::from(
                "Bad Request: can't parse entities: Unmatched end tag at byte offset 29, expected \"</i>\", found \"</b>\""
            ),
        }]
    );
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "unclosed & odd tags");
    assert_eq!(sent[0].parse_mode, None);
}

#[test]
fn send_rate_limit_and_server_errors_are_retryable() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let (chat, _) = chat_with_user(&fake);
    fake.fail_next("sendMessage", Fault::rate_limited(3));
    fake.fail_next("sendMessage", Fault::status(500, "Internal Server Error"));
    fake.fail_next("sendMessage", Fault::Hangup);
    assert!(matches!(
        tg.send(&chat, "x", None),
        Err(ChannelError::Retry { after: Some(d), .. }) if d == Duration::from_secs(3)
    ));
    assert!(matches!(
        tg.send(&chat, "x", None),
        Err(ChannelError::Retry { after: None, .. })
    ));
    assert!(matches!(
        tg.send(&chat, "x", None),
        Err(ChannelError::Retry { after: None, .. })
    ));
    tg.send(&chat, "x", None).unwrap();
    assert_eq!(fake.sent().len(), 1);
}

#[test]
fn slow_send_times_out_as_retryable() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = Telegram::connect(TelegramOptions {
        request_timeout: Duration::from_secs(1),
        ..options(&fake)
    })
    .unwrap();
    let (chat, _) = chat_with_user(&fake);
    fake.fail_next("sendMessage", Fault::Delay(Duration::from_secs(4)));
    assert!(matches!(
        tg.send(&chat, "x", None),
        Err(ChannelError::Retry { .. })
    ));
}

#[test]
fn blocked_or_unknown_chats_are_rejected_not_retried() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let (chat, _) = chat_with_user(&fake);
    fake.block_chat(ALLOWED);
    match tg.send(&chat, "x", None) {
        Err(ChannelError::Rejected { status, message }) => {
            assert_eq!(
                (status, message.as_str()),
                (403, "Forbidden: bot was blocked by the user")
            );
        }
        other => panic!("{other:?}"),
    }
    match tg.send("5555", "x", None) {
        Err(ChannelError::Rejected { status, message }) => {
            assert_eq!(
                (status, message.as_str()),
                (400, "Bad Request: chat not found")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reply_to_a_deleted_message_is_still_delivered() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let (chat, _) = chat_with_user(&fake);
    tg.send(&chat, "answer", Some("999")).unwrap();
    let sent = fake.sent();
    assert_eq!((sent.len(), sent[0].reply_to), (1, None));
}

#[test]
fn typing_sends_the_typing_action() {
    let fake = FakeTelegram::start(TOKEN);
    let tg = connect(&fake);
    let (chat, _) = chat_with_user(&fake);
    tg.typing(&chat).unwrap();
    assert_eq!(
        fake.chat_actions(),
        vec![ChatAction {
            chat_id: ALLOWED,
            action: String::from("typing"),
        }]
    );
}

#[test]
fn render_is_available_without_a_connection() {
    assert_eq!(render_markdown("*hi*"), vec!["<i>hi</i>"]);
}

/// The fake itself: a token check on every path and query-string
/// parameters, as the Bot API accepts them.
#[test]
fn fake_checks_tokens_and_accepts_query_parameters() {
    let fake = FakeTelegram::start(TOKEN);
    fake.push_text(ALLOWED, ALLOWED, "bob", "hi");
    let http = Client::new(&HttpOptions::default()).unwrap();
    let base = fake.api_base();
    let wrong = http.get(&format!("{base}/bot1:nope/getMe"), None).unwrap();
    assert_eq!(wrong.status, 401);
    assert_eq!(
        String::from_utf8_lossy(&wrong.body),
        r#"{"description":"Unauthorized","error_code":401,"ok":false}"#
    );
    let unknown = http
        .get(&format!("{base}/bot{TOKEN}/sendTelepathy"), None)
        .unwrap();
    assert_eq!(unknown.status, 404);
    let url = format!("{base}/bot{TOKEN}/SENDMESSAGE?chat_id={ALLOWED}&text=a%20%26%20b+c");
    let ok = http.get(&url, None).unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(fake.sent()[0].text, "a & b c");
    let long = format!(
        "{base}/bot{TOKEN}/sendMessage?chat_id={ALLOWED}&text={}",
        "x".repeat(4097)
    );
    assert_eq!(http.get(&long, None).unwrap().status, 400);
}
