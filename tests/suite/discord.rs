//! Discord end to end (issue 11): the real binary with Telegram and
//! Discord both enabled, against the fake Gateway + REST, the fake Telegram
//! and the fake LLM.

use std::time::{Duration, Instant};

use picoclaw_testkit::fake_discord::FakeDiscord;
use picoclaw_testkit::fake_llm::Fault;

use crate::util::*;

const DISCORD_TOKEN: &str = "MTAxNjQ4ODk5.e2e-discord-token.never-logged";
/// The allowed Discord user; their DM channel is `5` + this.
const ALICE: &str = "2024";

/// A fixture with `[channels.discord]` pointing at `fake`.
fn with_discord(tag: &str, fake: &FakeDiscord, extra: &str) -> Picoclaw {
    Picoclaw::with_config(
        tag,
        &format!(
            "[channels.discord]\ntoken = \"{DISCORD_TOKEN}\"\napi_base = \"{}\"\n\
             allow_from = [\"{ALICE}\"]\n{extra}\n",
            fake.api_base()
        ),
    )
}

fn contents(fake: &FakeDiscord, n: usize) -> Vec<String> {
    fake.wait_for_sent(n, WAIT)
        .into_iter()
        .map(|m| m.content)
        .collect()
}

/// Starts the binary and waits until its gateway is READY.
fn start_ready(p: &mut Picoclaw, fake: &FakeDiscord) {
    p.start();
    assert!(fake.wait_for_ready(1, WAIT), "{}", p.stderr());
}

#[test]
fn a_discord_dm_is_answered_as_a_reply_in_the_dm() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let mut p = with_discord("dc-dm", &fake, "");
    start_ready(&mut p, &fake);
    let id = fake.dm(ALICE, "hello from discord");
    let sent = fake.wait_for_sent(1, WAIT);
    assert_eq!(sent.len(), 1, "{}", p.stderr());
    assert_eq!(sent[0].content, "echo: hello from discord");
    assert_eq!(sent[0].channel_id, format!("5{ALICE}"));
    assert_eq!(sent[0].reply_to, Some(id));
    // Telegram runs beside it.
    p.say("and from telegram");
    assert_eq!(p.replies(1), vec!["echo: and from telegram"]);
    assert!(!p.stderr().contains(DISCORD_TOKEN));
}

#[test]
fn a_guild_message_is_answered_only_when_it_mentions_the_bot() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let mut p = with_discord("dc-guild", &fake, "");
    start_ready(&mut p, &fake);
    fake.guild_message("700", "800", ALICE, "talking among ourselves", false);
    fake.guild_message("700", "800", ALICE, "what do you think?", true);
    // In groups the agent sees who is speaking.
    assert_eq!(
        contents(&fake, 1),
        vec!["echo: [User 2024] what do you think?"]
    );
    // A later DM is answered too, so the first guild message was not
    // merely slow: it was dropped.
    fake.dm(ALICE, "barrier");
    assert_eq!(
        contents(&fake, 2),
        vec!["echo: [User 2024] what do you think?", "echo: barrier"]
    );
    assert_eq!(fake.sent()[0].channel_id, "800");
    assert_eq!(p.llm.request_count(), 2);
}

#[test]
fn close_4004_stops_discord_while_telegram_keeps_answering() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let mut p = with_discord("dc-4004", &fake, "");
    start_ready(&mut p, &fake);
    fake.close_with(4004, "Authentication failed.");
    assert!(
        p.wait_log("discord: channel stopped", WAIT),
        "{}",
        p.stderr()
    );
    let log = p.stderr();
    assert!(log.contains("4004 (authentication failed)"), "{log}");
    assert!(log.contains("Reset Token"), "{log}");
    p.say("are you still there?");
    assert_eq!(p.replies(1), vec!["echo: are you still there?"]);
    assert!(p.is_running());
    // Discord is not retried.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.connections().len(), 1);
    assert!(!p.stderr().contains(DISCORD_TOKEN));
}

#[test]
fn a_duplicate_message_create_is_answered_once() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let mut p = with_discord("dc-dup", &fake, "");
    start_ready(&mut p, &fake);
    let id = fake.dm(ALICE, "only once please");
    fake.redeliver(&id);
    assert_eq!(contents(&fake, 1), vec!["echo: only once please"]);
    fake.dm(ALICE, "barrier");
    assert_eq!(
        contents(&fake, 2),
        vec!["echo: only once please", "echo: barrier"]
    );
    assert_eq!(p.llm.request_count(), 2);
}

#[test]
fn kill_9_mid_turn_gives_one_discord_reply_after_restart() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let mut p = with_discord("dc-kill", &fake, "");
    p.llm.push(Step::Fault(Fault::Delay(
        Duration::from_secs(20),
        Box::new(Step::text("answer from the killed process")),
    )));
    start_ready(&mut p, &fake);
    let chat = format!("5{ALICE}");
    fake.dm(ALICE, "think about it");
    assert!(
        wait_until(WAIT, || p.llm.request_count() == 1),
        "{}",
        p.stderr()
    );
    // The turn runs long enough for "typing…".
    assert!(
        fake.wait(WAIT, |f| f.typing().contains(&chat)),
        "{}",
        p.stderr()
    );
    p.kill9();
    assert!(fake.sent().is_empty());
    p.start();
    assert_eq!(
        contents(&fake, 1),
        vec!["echo: think about it"],
        "{}",
        p.stderr()
    );
    // The new process resumed the stored gateway session.
    assert!(
        fake.wait(WAIT, |f| !f.resumes().is_empty()),
        "{:?}",
        fake.ops()
    );
    fake.dm(ALICE, "barrier");
    assert_eq!(
        contents(&fake, 2),
        vec!["echo: think about it", "echo: barrier"]
    );
}

#[test]
fn a_gateway_that_never_says_hello_is_detected_and_recovered() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    fake.set_hello(false);
    let mut p = with_discord("dc-hello", &fake, "gateway_timeout_secs = 1");
    p.start();
    assert!(
        fake.wait(WAIT, |f| f.connections().len() >= 2),
        "{}",
        p.stderr()
    );
    let times = fake.connection_times();
    fake.set_hello(true);
    let healed = Instant::now();
    assert!(fake.wait_for_ready(1, WAIT), "{}", p.stderr());
    eprintln!(
        "measured (e2e): silent gateway with gateway_timeout_secs = 1: next socket {} ms after \
         the first; READY {} ms after HELLO came back",
        (times[1] - times[0]).as_millis(),
        healed.elapsed().as_millis()
    );
    assert!(
        p.stderr().contains("no HELLO within 1000 ms"),
        "{}",
        p.stderr()
    );
    fake.dm(ALICE, "can you hear me now?");
    assert_eq!(contents(&fake, 1), vec!["echo: can you hear me now?"]);
    assert!(!p.stderr().contains(DISCORD_TOKEN));
}
