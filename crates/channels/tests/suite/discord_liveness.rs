//! Never deaf: a gateway connection that stops proving it is alive is
//! replaced. The detection times are printed (measured, not asserted).

// Helpers outside #[test] fns panic on failed setup by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use picoclaw_channels::discord::{Discord, DiscordOptions};
use picoclaw_core::{InboundKind, LinkState, Poller};
use picoclaw_testkit::fake_discord::FakeDiscord;

use super::{discord_options, poll_n, ALICE, DISCORD_TOKEN, WAIT};

fn connect(fake: &FakeDiscord, gateway_timeout: Duration) -> Discord {
    let d = Discord::connect(DiscordOptions {
        gateway_timeout,
        ..discord_options(fake)
    })
    .unwrap();
    assert!(d.poll(None).unwrap().items.is_empty());
    d
}

fn text_of(d: &Discord) -> Vec<String> {
    poll_n(d, None, 1)
        .0
        .into_iter()
        .map(|i| match i.kind {
            InboundKind::Text(t) => t,
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn missing_heartbeat_acks_rebuild_the_connection_and_resume_with_the_last_seq() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    fake.set_heartbeat_interval(Duration::from_millis(300));
    let d = connect(&fake, Duration::from_secs(2));
    assert!(fake.wait_for_ready(1, WAIT));
    fake.dm(ALICE, "before the silence");
    assert_eq!(text_of(&d), vec!["before the silence"]);
    let silent = Instant::now();
    fake.set_acks(false);
    assert!(
        fake.wait(WAIT, |f| f.connections().len() >= 2),
        "{:?}",
        fake.ops()
    );
    let redialled = fake.connection_times()[1] - silent;
    fake.set_acks(true);
    assert!(fake.wait_for_ready(2, WAIT));
    assert!(fake.wait(WAIT, |_| d.link_detail().state == LinkState::Up));
    eprintln!(
        "measured: ACKs stopped (interval 300 ms): new socket after {} ms, resumed (link up) \
         after {} ms",
        redialled.as_millis(),
        silent.elapsed().as_millis()
    );
    let resume = &fake.resumes()[0];
    assert_eq!(resume["seq"], 2);
    assert_eq!(resume["session_id"], "fake-session-1");
    fake.dm(ALICE, "after the silence");
    assert_eq!(text_of(&d), vec!["after the silence"]);
}

#[test]
fn a_gateway_that_never_says_hello_is_abandoned_and_the_next_connection_works() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    fake.set_hello(false);
    let d = connect(&fake, Duration::from_secs(1));
    assert!(fake.wait(WAIT, |f| f.connections().len() >= 2));
    assert_eq!(d.link_detail().state, LinkState::Reconnecting);
    let times = fake.connection_times();
    fake.set_hello(true);
    let n = fake.connections().len();
    assert!(fake.wait_for_ready(1, WAIT));
    assert!(fake.wait(WAIT, |_| d.link_detail().state == LinkState::Up));
    eprintln!(
        "measured: silent gateway (hello timeout 1 s): first socket abandoned and the next \
         one opened {} ms later; {n} sockets before HELLO came back",
        (times[1] - times[0]).as_millis(),
    );
    fake.dm(ALICE, "finally");
    assert_eq!(text_of(&d), vec!["finally"]);
}

#[test]
fn an_identify_that_gets_no_ready_is_retried_on_a_new_connection() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    fake.set_ready(false);
    let d = connect(&fake, Duration::from_secs(1));
    assert!(fake.wait(WAIT, |f| f.identifies().len() >= 2));
    assert!(fake.connections().len() >= 2);
    fake.set_ready(true);
    assert!(fake.wait_for_ready(1, WAIT));
    fake.dm(ALICE, "ready at last");
    assert_eq!(text_of(&d), vec!["ready at last"]);
}

#[test]
fn a_dropped_connection_shows_as_reconnecting_since_the_drop_until_resumed() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = connect(&fake, Duration::from_secs(1));
    assert!(fake.wait_for_ready(1, WAIT));
    assert_eq!(d.link_detail().state, LinkState::Up);
    fake.set_hello(false);
    let before = Instant::now();
    fake.drop_connections();
    assert!(fake.wait(WAIT, |f| f.connections().len() >= 3));
    let link = d.link_detail();
    assert_eq!(link.state, LinkState::Reconnecting);
    let since = link.down_since.unwrap();
    assert!(since >= before);
    assert!(fake.wait(WAIT, |f| f.connections().len() >= 4));
    // The first failure's time, not the latest attempt's.
    let link = d.link_detail();
    assert_eq!(
        (link.state, link.down_since),
        (LinkState::Reconnecting, Some(since)),
        "{:?}",
        fake.connections()
    );
    fake.set_hello(true);
    assert!(fake.wait_for_ready(2, WAIT));
    assert!(fake.wait(WAIT, |_| d.link_detail().state == LinkState::Up));
}

#[test]
fn reconnect_on_request_resumes_the_session() {
    let fake = FakeDiscord::start(DISCORD_TOKEN);
    let d = connect(&fake, Duration::from_secs(2));
    assert!(fake.wait_for_ready(1, WAIT));
    d.reconnect();
    assert!(fake.wait_for_ready(2, WAIT));
    assert_eq!((fake.identifies().len(), fake.resumes().len()), (1, 1));
}
