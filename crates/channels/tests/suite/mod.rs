mod discord_files;
mod discord_gateway;
mod discord_liveness;
mod discord_send;
mod telegram_files;
mod telegram_poll;
mod telegram_send;

use std::time::Duration;

use picoclaw_channels::discord::{Discord, DiscordOptions};
use picoclaw_channels::telegram::{Telegram, TelegramOptions};
use picoclaw_testkit::fake_discord::FakeDiscord;
use picoclaw_testkit::fake_telegram::FakeTelegram;

pub const TOKEN: &str = "4242:TEST-fake-token-abcdef";
pub const ALLOWED: i64 = 1001;
pub const GROUP: i64 = -100_500;

/// Generous: only there so a broken test cannot hang the suite.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn options(fake: &FakeTelegram) -> TelegramOptions {
    TelegramOptions {
        api_base: fake.api_base(),
        group_trigger: Some(String::from("!bot")),
        poll_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ..TelegramOptions::new(TOKEN)
    }
}

pub fn connect(fake: &FakeTelegram) -> Telegram {
    Telegram::connect(options(fake)).unwrap_or_else(|e| panic!("cannot connect to the fake: {e}"))
}

pub const DISCORD_TOKEN: &str = "MTAxNjQ4ODk5.fake-discord-token.for-channel-tests";
/// The allowed Discord user.
pub const ALICE: &str = "101";

/// Short deadlines so liveness tests finish quickly.
pub fn discord_options(fake: &FakeDiscord) -> DiscordOptions {
    DiscordOptions {
        api_base: fake.api_base(),
        request_timeout: Duration::from_secs(5),
        gateway_timeout: Duration::from_secs(2),
        ..DiscordOptions::new(DISCORD_TOKEN)
    }
}

pub fn discord(fake: &FakeDiscord) -> Discord {
    Discord::connect(discord_options(fake))
        .unwrap_or_else(|e| panic!("cannot connect to the fake Discord: {e}"))
}

/// Polls until `n` messages arrived (or [`WAIT`] passed); returns them
/// and the last cursor handed out.
pub fn poll_n(
    d: &Discord,
    cursor: Option<&str>,
    n: usize,
) -> (Vec<picoclaw_core::Inbound>, Option<String>) {
    use picoclaw_core::Poller;
    let end = std::time::Instant::now() + WAIT;
    let mut items = Vec::new();
    let mut last = cursor.map(str::to_owned);
    while items.len() < n && std::time::Instant::now() < end {
        let batch = d
            .poll(last.as_deref())
            .unwrap_or_else(|e| panic!("poll failed: {e}"));
        items.extend(batch.items);
        if batch.cursor.is_some() {
            last = batch.cursor;
        }
    }
    (items, last)
}
