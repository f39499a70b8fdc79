mod telegram_poll;
mod telegram_send;

use std::time::Duration;

use picoclaw_channels::telegram::{Telegram, TelegramOptions};
use picoclaw_testkit::fake_telegram::FakeTelegram;

pub const TOKEN: &str = "4242:TEST-fake-token-abcdef";
pub const ALLOWED: i64 = 1001;
pub const GROUP: i64 = -100_500;

/// Generous: only there so a broken test cannot hang the suite.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn options(fake: &FakeTelegram) -> TelegramOptions {
    TelegramOptions {
        api_base: fake.api_base(),
        allow_from: vec![ALLOWED.to_string(), String::from("@alice")],
        group_trigger: Some(String::from("!bot")),
        poll_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ..TelegramOptions::new(TOKEN)
    }
}

pub fn connect(fake: &FakeTelegram) -> Telegram {
    Telegram::connect(options(fake)).unwrap_or_else(|e| panic!("cannot connect to the fake: {e}"))
}
