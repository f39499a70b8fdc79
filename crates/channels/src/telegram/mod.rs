//! Telegram Bot API channel: long polling with `getUpdates`, replies with
//! `sendMessage` in HTML parse mode, "typing…" with `sendChatAction`,
//! received files with `getFile`, files sent with `sendPhoto` /
//! `sendDocument`, yes/no questions as inline keyboards whose presses
//! arrive as `callback_query` updates (answered with `answerCallbackQuery`).
//!
//! Exactly-once delivery is split with the runtime: [`Telegram::poll`]
//! returns a cursor (next `update_id`) that covers every update seen,
//! including the ones it dropped, and only acknowledges them to Telegram
//! when the runtime passes that cursor back on the next poll — after it
//! stored the batch.

mod api;
mod html;
mod inbound;
mod markdown;
mod media;

use std::sync::OnceLock;
use std::time::Duration;

use picoclaw_core::{redact, Batch, Button, Caps, ChannelError, OutFile, Poller, Sink};
use picoclaw_http::{Client, HttpOptions};
use serde_json::{json, Value};

use api::{to_channel_error, Api, Failure};
pub use html::MAX_MESSAGE_LEN;
use inbound::{BotUser, Rules, Verdict};
pub use media::{MAX_DOWNLOAD_BYTES, MAX_PHOTO_BYTES, MAX_UPLOAD_BYTES};

/// How to reach and filter Telegram. Build with [`TelegramOptions::new`]
/// and override fields as needed.
#[derive(Debug, Clone)]
pub struct TelegramOptions {
    /// Bot token from @BotFather. Registered as a secret on connect.
    pub token: String,
    /// Requests go to `{api_base}/bot{token}/{method}`. Plain `http://` is
    /// allowed for a local Bot API server or a test fake.
    pub api_base: String,
    /// Explicit proxy URL; `None` uses `HTTPS_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// A prefix such as `!bot` that addresses the bot in groups, besides
    /// mentions and replies.
    pub group_trigger: Option<String>,
    /// The `getUpdates` long-poll `timeout`; the HTTP deadline is this
    /// plus [`POLL_GRACE`].
    pub poll_timeout: Duration,
    /// Deadline of every other request.
    pub request_timeout: Duration,
}

/// How much longer than the long-poll timeout the HTTP request may take
/// before it counts as hung.
pub const POLL_GRACE: Duration = Duration::from_secs(15);

/// The public Bot API server.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// The `getUpdates` long-poll timeout unless configured.
pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(30);

impl TelegramOptions {
    pub fn new(token: impl Into<String>) -> TelegramOptions {
        TelegramOptions {
            token: token.into(),
            api_base: String::from(DEFAULT_API_BASE),
            proxy: None,
            group_trigger: None,
            poll_timeout: DEFAULT_POLL_TIMEOUT,
            request_timeout: Duration::from_secs(20),
        }
    }
}

/// A Telegram bot. Built without network access; the bot's identity is
/// learned with `getMe` on the first poll (or by [`Telegram::connect`]), so
/// a board that boots before its network comes up starts anyway.
pub struct Telegram {
    api: Api,
    group_trigger: Option<String>,
    /// Set once `getMe` answered: whom mentions and replies address.
    rules: OnceLock<Rules>,
    poll_timeout: Duration,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("bot", &self.rules.get().map(|r| &r.bot.username))
            .finish_non_exhaustive()
    }
}

impl Telegram {
    /// Checks the token with `getMe` and learns the bot's id and username
    /// (needed to recognise mentions of and replies to the bot in groups).
    ///
    /// A bad token or API base is [`ChannelError::Fatal`]; network trouble
    /// is [`ChannelError::Retry`] and the runtime reconnects with backoff.
    pub fn connect(opts: TelegramOptions) -> Result<Telegram, ChannelError> {
        let tg = Telegram::new(opts)?;
        tg.identify()?;
        Ok(tg)
    }

    /// Checks the token's shape and builds the client; no request is made.
    pub fn new(opts: TelegramOptions) -> Result<Telegram, ChannelError> {
        let token = opts.token.trim();
        if token.is_empty() {
            return Err(ChannelError::Fatal(String::from(
                "channels.telegram.token is empty: set it to the token @BotFather gave you",
            )));
        }
        if token.contains(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace()) {
            return Err(ChannelError::Fatal(String::from(
                "channels.telegram.token contains characters a Telegram token never has; \
                 run `picoclaw doctor`",
            )));
        }
        // The token travels in the URL path; make sure no log shows it.
        redact::register(token);
        let http = Client::new(&HttpOptions {
            timeout: opts.request_timeout,
            connect_timeout: opts.request_timeout.min(Duration::from_secs(10)),
            proxy: opts.proxy.clone(),
            ..HttpOptions::default()
        })
        .map_err(|e| to_channel_error("connect", &opts.api_base, Failure::Transport(e)))?;
        let api = Api::new(http, &opts.api_base, token);
        Ok(Telegram {
            api,
            group_trigger: opts.group_trigger.filter(|t| !t.trim().is_empty()),
            rules: OnceLock::new(),
            poll_timeout: opts.poll_timeout,
        })
    }

    /// The rules, learning the bot's identity with `getMe` the first time.
    fn identify(&self) -> Result<&Rules, ChannelError> {
        if let Some(rules) = self.rules.get() {
            return Ok(rules);
        }
        let me = self.call("getMe", &json!({}), None)?;
        let (Some(id), Some(username)) = (
            me.get("id").and_then(Value::as_i64),
            me.get("username").and_then(Value::as_str),
        ) else {
            return Err(ChannelError::Retry {
                reason: String::from("Telegram getMe: answer without the bot's id and username"),
                after: None,
            });
        };
        let rules = Rules {
            bot: BotUser {
                id,
                username: username.to_owned(),
            },
            group_trigger: self.group_trigger.clone(),
        };
        Ok(self.rules.get_or_init(|| {
            picoclaw_core::info!("telegram: connected as @{username} (id {id})");
            rules
        }))
    }

    /// The bot's `@username`, without the `@` (empty before the first
    /// successful `getMe`).
    pub fn bot_username(&self) -> &str {
        self.rules.get().map_or("", |r| r.bot.username.as_str())
    }

    /// The bot's user id (0 before the first successful `getMe`).
    pub fn bot_id(&self) -> i64 {
        self.rules.get().map_or(0, |r| r.bot.id)
    }

    fn call(
        &self,
        method: &str,
        params: &Value,
        timeout: Option<Duration>,
    ) -> Result<Value, ChannelError> {
        self.api
            .call(method, params, timeout)
            .map_err(|f| to_channel_error(method, &self.api.api_base, f))
    }

    fn send_message(
        &self,
        chat_id: &str,
        text: &str,
        html: bool,
        reply_to: Option<i64>,
        buttons: &[Button],
    ) -> Result<(), Failure> {
        let mut params = json!({
            "chat_id": chat_ref(chat_id),
            "text": text,
            "link_preview_options": {"is_disabled": true},
        });
        if html {
            params["parse_mode"] = json!("HTML");
        }
        if let Some(id) = reply_to {
            // If the user deleted their message, answer anyway.
            params["reply_parameters"] =
                json!({"message_id": id, "allow_sending_without_reply": true});
        }
        if !buttons.is_empty() {
            // One row; a press reports `callback_data` in a callback_query.
            let row: Vec<Value> = buttons
                .iter()
                .map(|b| json!({"text": b.label, "callback_data": b.data}))
                .collect();
            params["reply_markup"] = json!({"inline_keyboard": [row]});
        }
        self.api.call("sendMessage", &params, None).map(drop)
    }

    /// Stops the client's spinner on a pressed button. Best effort: a
    /// query older than Telegram keeps (a redelivery after a crash) is
    /// refused, which changes nothing.
    fn answer_presses(&self, queries: &[String]) {
        for id in queries {
            let params = json!({"callback_query_id": id});
            if let Err(e) = self.call("answerCallbackQuery", &params, None) {
                picoclaw_core::debug!("telegram: answerCallbackQuery: {e}");
            }
        }
    }

    fn send_chunk(
        &self,
        chat_id: &str,
        chunk: &str,
        reply_to: Option<&str>,
        buttons: &[Button],
    ) -> Result<(), ChannelError> {
        let reply_to = reply_to.and_then(|r| r.trim().parse::<i64>().ok());
        let failure = match self.send_message(chat_id, chunk, /*html*/ true, reply_to, buttons) {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        match failure {
            Failure::Api {
                status: 400,
                ref description,
                ..
            } if description.contains("can't parse entities") => {
                picoclaw_core::warn!(
                    "telegram: chat {chat_id}: HTML refused ({description}); resending as plain text"
                );
                self.send_message(
                    chat_id,
                    &html::to_plain(chunk),
                    /*html*/ false,
                    reply_to,
                    buttons,
                )
                .map_err(|f| to_channel_error("sendMessage", &self.api.api_base, f))
            }
            other => Err(to_channel_error("sendMessage", &self.api.api_base, other)),
        }
    }
}

/// Model Markdown → Telegram HTML chunks, each within [`MAX_MESSAGE_LEN`]
/// of visible text and of HTML. Pure; what [`Telegram::render`] does.
pub fn render_markdown(markdown: &str) -> Vec<String> {
    html::chunks(markdown::parse(markdown), MAX_MESSAGE_LEN)
}

/// Numeric chat ids go out as numbers, `@channelname` as a string.
fn chat_ref(chat_id: &str) -> Value {
    match chat_id.trim().parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(chat_id),
    }
}

impl Poller for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn poll(&self, cursor: Option<&str>) -> Result<Batch, ChannelError> {
        let rules = self.identify()?;
        let offset = cursor.and_then(|c| {
            let parsed = c.trim().parse::<i64>().ok();
            if parsed.is_none() {
                picoclaw_core::warn!("telegram: ignoring unreadable cursor {c:?}");
            }
            parsed
        });
        let mut params = json!({
            "timeout": self.poll_timeout.as_secs(),
            "limit": 100,
            // Edits would re-ask a question already answered, and channel
            // posts are not conversations. Button presses answer questions.
            "allowed_updates": ["message", "callback_query"],
        });
        if let Some(offset) = offset {
            params["offset"] = json!(offset);
        }
        let result = self.call("getUpdates", &params, Some(self.poll_timeout + POLL_GRACE))?;
        let Value::Array(updates) = result else {
            return Err(ChannelError::Retry {
                reason: String::from("Telegram getUpdates: result is not an array"),
                after: None,
            });
        };
        let mut batch = Batch::default();
        let mut presses = Vec::new();
        let mut highest: Option<i64> = None;
        for update in &updates {
            let Some(update_id) = update.get("update_id").and_then(Value::as_i64) else {
                picoclaw_core::warn!("telegram: skipping an update without a numeric update_id");
                continue;
            };
            highest = Some(highest.map_or(update_id, |h| h.max(update_id)));
            match inbound::classify(update, update_id, rules) {
                Verdict::Accept(item) => batch.items.push(item),
                Verdict::Ignore(why) => {
                    picoclaw_core::debug!("telegram: update {update_id}: {why}")
                }
                Verdict::Pressed { item, query_id } => {
                    batch.items.extend(item);
                    presses.push(query_id);
                }
                Verdict::Malformed(why) => {
                    picoclaw_core::warn!("telegram: skipping update {update_id}: {why}")
                }
            }
        }
        self.answer_presses(&presses);
        // Acknowledge everything seen, dropped updates included, and never
        // move the cursor backwards.
        batch.cursor = highest.map(|h| (h + 1).max(offset.unwrap_or(i64::MIN)).to_string());
        Ok(batch)
    }

    /// ureq's own deadline for `getUpdates` is the poll timeout plus
    /// [`POLL_GRACE`]; a call still running well past it is wedged below
    /// ureq (a proxy that keeps the socket half-open), so the runtime stops
    /// waiting for it and polls on a fresh connection.
    fn poll_deadline(&self) -> Option<Duration> {
        Some(self.poll_timeout + POLL_GRACE + POLL_GRACE)
    }

    fn reconnect(&self) {
        self.api.reset();
    }
}

impl Sink for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn caps(&self) -> Caps {
        Caps {
            max_file_bytes: MAX_UPLOAD_BYTES,
            max_photo_bytes: MAX_PHOTO_BYTES,
            buttons: true,
            ..Caps::default()
        }
    }

    fn send_file(
        &self,
        chat_id: &str,
        file: &OutFile,
        data: std::fs::File,
        len: u64,
    ) -> Result<(), ChannelError> {
        self.upload(chat_id, file, data, len)
    }

    fn fetch_file(
        &self,
        file: &str,
        max: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, ChannelError> {
        self.fetch(file, max.min(MAX_DOWNLOAD_BYTES), out)
    }

    fn render(&self, markdown: &str) -> Vec<String> {
        render_markdown(markdown)
    }

    fn send(&self, chat_id: &str, chunk: &str, reply_to: Option<&str>) -> Result<(), ChannelError> {
        self.send_chunk(chat_id, chunk, reply_to, &[])
    }

    fn send_buttons(
        &self,
        chat_id: &str,
        chunk: &str,
        reply_to: Option<&str>,
        buttons: &[Button],
    ) -> Result<(), ChannelError> {
        self.send_chunk(chat_id, chunk, reply_to, buttons)
    }

    fn typing(&self, chat_id: &str) -> Result<(), ChannelError> {
        self.call(
            "sendChatAction",
            &json!({"chat_id": chat_ref(chat_id), "action": "typing"}),
            None,
        )
        .map(drop)
    }
}
