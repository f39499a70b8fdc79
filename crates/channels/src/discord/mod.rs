//! Discord channel: the Gateway v10 WebSocket (JSON) for incoming
//! messages, REST for replies and "typing…".
//!
//! The gateway is push, so it runs on its own thread with a blocking
//! WebSocket ([`gateway`]) that classifies each `MESSAGE_CREATE` and queues
//! the accepted ones; [`Poller::poll`](picoclaw_core::Poller::poll) drains that bounded queue, waiting
//! up to [`POLL_WAIT`] when it is empty.
//!
//! Exactly once, with the runtime: the event id is the message id, so a
//! RESUME replay or a duplicate dispatch is stored once. The cursor a poll
//! returns is the session and sequence that every queued message is
//! covered by (`v1 <session> <seq> <resume url>`); the runtime stores it
//! with the messages, and after a restart the first poll's cursor makes
//! the gateway RESUME from there, so messages that arrived but were not yet
//! stored when the process died are replayed by Discord (while the session
//! is still resumable; after that Discord answers op 9 and the bot starts a
//! new session).

mod gateway;
mod inbound;
mod media;
mod protocol;
mod ratelimit;
mod render;
mod rest;
mod state;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use picoclaw_core::{redact, Batch, Caps, ChannelError, LinkState, OutFile, Poller, Sink};
use picoclaw_http::{Client, HttpOptions};
use serde_json::{json, Value};

use gateway::Gateway;
use inbound::{Rules, Threads};
pub use media::MAX_UPLOAD_BYTES;
pub use render::MAX_MESSAGE_LEN;
use rest::{to_channel_error, Rest};
pub use state::Link;
use state::{Resume, Shared};

/// The public API.
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";
/// How long the gateway may take to connect, say HELLO, or answer
/// IDENTIFY/RESUME before the connection is treated as dead.
pub const DEFAULT_GATEWAY_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest a [`Poller::poll`](picoclaw_core::Poller::poll) waits for a message.
pub const POLL_WAIT: Duration = Duration::from_secs(5);

/// Discord asks bots to identify themselves this way.
const USER_AGENT: &str = concat!(
    "DiscordBot (https://github.com/picoclaw/picoclaw, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// How to reach and filter Discord. Build with [`DiscordOptions::new`].
#[derive(Debug, Clone)]
pub struct DiscordOptions {
    /// Bot token from the developer portal. Registered as a secret.
    pub token: String,
    /// REST base, `https://discord.com/api/v10`; the gateway URL comes from
    /// `GET {api_base}/gateway/bot`. `http://` is allowed for a local fake.
    pub api_base: String,
    /// Explicit proxy for REST and the gateway (`http://` only for the
    /// gateway); `None` uses `HTTPS_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// Guild ids the bot answers in; empty is every guild it is in.
    pub allow_guilds: Vec<String>,
    /// Channel ids the bot answers in (threads follow their parent);
    /// empty is every channel.
    pub allow_channels: Vec<String>,
    /// In guilds, answer only when mentioned or replied to.
    pub mention_only: bool,
    /// Deadline of every REST request.
    pub request_timeout: Duration,
    /// See [`DEFAULT_GATEWAY_TIMEOUT`].
    pub gateway_timeout: Duration,
}

impl DiscordOptions {
    pub fn new(token: impl Into<String>) -> DiscordOptions {
        DiscordOptions {
            token: token.into(),
            api_base: String::from(DEFAULT_API_BASE),
            proxy: None,
            allow_guilds: Vec::new(),
            allow_channels: Vec::new(),
            mention_only: true,
            request_timeout: Duration::from_secs(20),
            gateway_timeout: DEFAULT_GATEWAY_TIMEOUT,
        }
    }
}

/// A Discord bot. [`Discord::new`] makes no request; the first
/// [`Poller::poll`] checks the token, learns the bot's id and starts the
/// gateway thread.
pub struct Discord {
    rest: Rest,
    shared: Arc<Shared>,
    token: String,
    opts: DiscordOptions,
    /// The bot user (id, username), from `GET /users/@me`.
    bot: OnceLock<(String, String)>,
    /// Set once the gateway thread runs.
    started: Mutex<bool>,
    /// The last cursor handed out and when.
    reported: Mutex<Option<(Resume, Instant)>>,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord")
            .field("bot", &self.bot_username())
            .finish_non_exhaustive()
    }
}

/// A cursor not advanced by messages is handed out at most this often
/// (each one is a store write).
const IDLE_CURSOR_EVERY: Duration = Duration::from_secs(30);

impl Discord {
    /// [`Discord::new`], then checks the token and learns the bot's id at
    /// once (`GET /users/@me`). The gateway still starts on the first poll.
    pub fn connect(opts: DiscordOptions) -> Result<Discord, ChannelError> {
        let d = Discord::new(opts)?;
        d.identify()?;
        Ok(d)
    }

    /// Checks the token's shape and builds the client; no request is made.
    pub fn new(opts: DiscordOptions) -> Result<Discord, ChannelError> {
        let token = opts.token.trim();
        let token = token.strip_prefix("Bot ").unwrap_or(token).trim();
        if token.is_empty() {
            return Err(ChannelError::Fatal(String::from(
                "channels.discord.token is empty: set it to the bot token from \
                 https://discord.com/developers/applications → your application → Bot",
            )));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ChannelError::Fatal(String::from(
                "channels.discord.token contains whitespace, which a Discord token never has; \
                 run `picoclaw doctor`",
            )));
        }
        redact::register(token);
        let http = Client::new(&HttpOptions {
            timeout: opts.request_timeout,
            connect_timeout: opts.request_timeout.min(Duration::from_secs(10)),
            proxy: opts.proxy.clone(),
            user_agent: String::from(USER_AGENT),
            ..HttpOptions::default()
        })
        .map_err(|e| to_channel_error("connect", &opts.api_base, rest::Failure::Transport(e)))?;
        let rest = Rest::new(http, &opts.api_base, token);
        Ok(Discord {
            rest,
            shared: Arc::new(Shared::new()),
            token: token.to_owned(),
            opts,
            bot: OnceLock::new(),
            started: Mutex::new(false),
            reported: Mutex::new(None),
        })
    }

    fn get(&self, what: &str, route: &'static str, path: &str) -> Result<Value, ChannelError> {
        self.rest
            .call(route, "", path, None)
            .map_err(|f| self.fatal_check(to_channel_error(what, &self.rest.api_base, f)))
    }

    /// The bot's id and username, asked for once.
    fn identify(&self) -> Result<&(String, String), ChannelError> {
        if let Some(bot) = self.bot.get() {
            return Ok(bot);
        }
        let me = self.get("get current user", "GET /users/@me", "/users/@me")?;
        let (Some(id), Some(name)) = (
            me.get("id").and_then(Value::as_str),
            me.get("username").and_then(Value::as_str),
        ) else {
            return Err(ChannelError::Retry {
                reason: String::from(
                    "Discord /users/@me: answer without the bot's id and username",
                ),
                after: None,
            });
        };
        Ok(self.bot.get_or_init(|| {
            picoclaw_core::info!("discord: connected as {name} (id {id})");
            (id.to_owned(), name.to_owned())
        }))
    }

    /// The bot's user id (empty before the first successful poll).
    pub fn bot_id(&self) -> &str {
        self.bot.get().map_or("", |b| b.0.as_str())
    }

    /// The bot's username (empty before the first successful poll).
    pub fn bot_username(&self) -> &str {
        self.bot.get().map_or("", |b| b.1.as_str())
    }

    /// The gateway connection's state, since when it is down, and its last
    /// receive. [`Poller::link`] is the state alone.
    pub fn link_detail(&self) -> Link {
        self.shared.lock().link.clone()
    }

    /// Starts the gateway thread once: asks for the gateway URL, and
    /// resumes the session in the stored cursor if there is one.
    fn start(&self, cursor: Option<&str>) -> Result<(), ChannelError> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if *started {
            return Ok(());
        }
        let (bot_id, _) = self.identify()?;
        let gw = self.get("get gateway", "GET /gateway/bot", "/gateway/bot")?;
        let Some(url) = gw.get("url").and_then(Value::as_str) else {
            return Err(ChannelError::Retry {
                reason: String::from("Discord /gateway/bot: answer without a url"),
                after: None,
            });
        };
        let gw = Gateway {
            shared: self.shared.clone(),
            token: self.token.clone(),
            url: url.to_owned(),
            rules: Rules {
                bot_id: bot_id.clone(),
                allow_guilds: self.opts.allow_guilds.clone(),
                allow_channels: self.opts.allow_channels.clone(),
                mention_only: self.opts.mention_only,
            },
            threads: Threads::default(),
            timeout: self.opts.gateway_timeout,
            proxy: self.opts.proxy.clone(),
            user_agent: String::from(USER_AGENT),
            rng: gateway::seed(),
        };
        let resume = cursor.and_then(|c| {
            let r = Resume::from_cursor(c);
            if r.is_none() {
                picoclaw_core::warn!("discord: ignoring unreadable cursor");
            }
            r
        });
        if let Some(r) = &resume {
            picoclaw_core::info!("discord: resuming the stored session at seq {}", r.seq);
        }
        std::thread::Builder::new()
            .name(String::from("discord-gateway"))
            .stack_size(256 * 1024)
            .spawn(move || gw.run(resume))
            .map_err(|e| ChannelError::Retry {
                reason: format!("cannot start the Discord gateway thread: {e}"),
                after: None,
            })?;
        *started = true;
        Ok(())
    }

    /// The cursor to hand out with a batch, if it is worth a store write.
    fn cursor(&self, resume: Option<Resume>, has_items: bool) -> Option<String> {
        let resume = resume?;
        let mut last = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let due = match &*last {
            None => true,
            Some((prev, at)) => {
                *prev != resume
                    && (has_items
                        || prev.session_id != resume.session_id
                        || at.elapsed() >= IDLE_CURSOR_EVERY)
            }
        };
        if !due {
            return None;
        }
        let c = resume.to_cursor();
        *last = Some((resume, Instant::now()));
        Some(c)
    }

    fn fatal_check(&self, err: ChannelError) -> ChannelError {
        if let ChannelError::Fatal(m) = &err {
            // A token refused by REST is refused by the gateway too: stop
            // the channel (the next poll reports it) rather than retry.
            self.shared.fail(m.clone());
        }
        err
    }
}

impl Drop for Discord {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.nudge.notify_all();
        self.shared.arrived.notify_all();
    }
}

/// Snowflakes only: a chat id goes into a URL path.
fn snowflake(id: &str) -> Result<&str, ChannelError> {
    let id = id.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || id.len() > 20 {
        return Err(ChannelError::Rejected {
            status: 400,
            message: format!("{id:?} is not a Discord channel id"),
        });
    }
    Ok(id)
}

impl Poller for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn poll(&self, cursor: Option<&str>) -> Result<Batch, ChannelError> {
        if let Some(f) = self.shared.lock().fatal.clone() {
            return Err(ChannelError::Fatal(f));
        }
        self.start(cursor)?;
        let end = Instant::now() + POLL_WAIT;
        let mut inner = self.shared.lock();
        while inner.queue.is_empty() && inner.fatal.is_none() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            inner = self
                .shared
                .arrived
                .wait_timeout(inner, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        if inner.queue.is_empty() {
            if let Some(f) = &inner.fatal {
                return Err(ChannelError::Fatal(f.clone()));
            }
        }
        let items: Vec<_> = inner.queue.drain(..).collect();
        let resume = inner.resume.clone();
        drop(inner);
        if !items.is_empty() {
            self.shared.nudge.notify_all();
        }
        let cursor = self.cursor(resume, !items.is_empty());
        Ok(Batch { items, cursor })
    }

    /// A poll waits at most [`POLL_WAIT`]; only the first one also makes
    /// two REST calls (identity, gateway URL).
    fn poll_deadline(&self) -> Option<Duration> {
        Some(POLL_WAIT + self.opts.request_timeout * 2 + Duration::from_secs(5))
    }

    /// Drops the gateway connection and resumes at once.
    fn reconnect(&self) {
        self.shared.reconnect.store(true, Ordering::SeqCst);
        self.shared.nudge.notify_all();
    }

    fn link(&self) -> Option<LinkState> {
        Some(self.shared.lock().link.state.clone())
    }
}

impl Sink for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn caps(&self) -> Caps {
        Caps {
            max_file_bytes: MAX_UPLOAD_BYTES,
            max_photo_bytes: MAX_UPLOAD_BYTES,
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
        self.fetch(file, max, out)
    }

    fn render(&self, markdown: &str) -> Vec<String> {
        render::chunks(markdown, MAX_MESSAGE_LEN)
    }

    fn send(&self, chat_id: &str, chunk: &str, reply_to: Option<&str>) -> Result<(), ChannelError> {
        let channel = snowflake(chat_id)?;
        let mut body = json!({
            "content": chunk,
            // The model's text must not ping @everyone, roles or users.
            "allowed_mentions": {"parse": [], "replied_user": false},
            // SUPPRESS_EMBEDS: no link previews, as on Telegram.
            "flags": 4,
        });
        if let Some(id) = reply_to.filter(|r| snowflake(r).is_ok()) {
            // If the user deleted their message, answer anyway.
            body["message_reference"] = json!({"message_id": id, "fail_if_not_exists": false});
        }
        self.rest
            .call(
                "POST /channels/{id}/messages",
                channel,
                &format!("/channels/{channel}/messages"),
                Some(&body),
            )
            .map(drop)
            .map_err(|f| {
                self.fatal_check(to_channel_error("create message", &self.rest.api_base, f))
            })
    }

    fn typing(&self, chat_id: &str) -> Result<(), ChannelError> {
        let channel = snowflake(chat_id)?;
        self.rest
            .call(
                "POST /channels/{id}/typing",
                channel,
                &format!("/channels/{channel}/typing"),
                None,
            )
            .map(drop)
            .map_err(|f| self.fatal_check(to_channel_error("typing", &self.rest.api_base, f)))
    }
}
