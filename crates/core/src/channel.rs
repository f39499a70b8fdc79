use std::time::Duration;

/// Direct message or a group/channel conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    Direct,
    Group,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Direct => "direct",
            ChatKind::Group => "group",
        }
    }
}

/// The person behind an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Stable numeric/opaque id on the channel.
    pub id: String,
    /// `@username` without the `@`, when the channel has one.
    pub username: Option<String>,
    /// Human-readable name for prompts and logs.
    pub display: String,
}

/// What arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    /// Text, with any `@botname` mention or group trigger already removed.
    Text(String),
    /// Media the agent cannot handle yet ("photo", "voice", "document",
    /// "sticker", ...). The agent answers with a short notice, not silence.
    Unsupported(String),
}

/// One accepted inbound event. Channels drop unauthorised senders and group
/// messages that are not addressed to the bot before returning a batch, so
/// every `Inbound` is meant for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Channel name, e.g. "telegram".
    pub channel: String,
    /// Unique per channel and stable across redeliveries (Telegram:
    /// `update_id`). The store's dedup key.
    pub event_id: String,
    pub chat_id: String,
    pub chat_kind: ChatKind,
    pub sender: Sender,
    /// The channel's id of the message, to reply to it.
    pub message_id: Option<String>,
    pub kind: InboundKind,
}

/// The result of one poll: accepted events and the cursor to persist with
/// them. The next poll passes that cursor back, which (for Telegram) is what
/// acknowledges the events to the server — so the cursor must only be
/// advanced after the events are durably stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub items: Vec<Inbound>,
    /// `None` when nothing advanced (empty long poll).
    pub cursor: Option<String>,
}

/// A channel failure, classified for the poll/send driver.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// Transient: 5xx, 429, timeouts, connection errors, malformed bodies.
    /// `after` is the server's requested delay (Telegram
    /// `parameters.retry_after`); otherwise the driver backs off itself.
    #[error("{reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The server refused this particular request (chat not found, bot
    /// blocked by the user, message too long). Not retried; the driver logs
    /// it and moves on.
    #[error("rejected: HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// The channel cannot work at all with this configuration (bad token:
    /// 401/404). The driver stops this channel and logs the hint.
    #[error("{0}")]
    Fatal(String),
}

/// A chat network picoclaw talks on. Implementations are blocking (ureq);
/// the runtime calls them from the blocking pool.
pub trait Channel: Send + Sync {
    /// Stable name used in session keys and the store: "telegram", "cli".
    fn name(&self) -> &'static str;

    /// Waits (long poll) for events after `cursor` and returns them with the
    /// cursor that acknowledges them. May return an empty batch.
    fn poll(&self, cursor: Option<&str>) -> Result<Batch, ChannelError>;

    /// Turns model Markdown into the channel's wire chunks, each within the
    /// channel's message size limit. Pure; the runtime stores the chunks
    /// before sending so a restart resends exactly the unsent ones.
    fn render(&self, markdown: &str) -> Vec<String>;

    /// Sends one rendered chunk.
    fn send(&self, chat_id: &str, chunk: &str, reply_to: Option<&str>) -> Result<(), ChannelError>;

    /// Shows "typing…" (best effort; errors are only logged).
    fn typing(&self, chat_id: &str) -> Result<(), ChannelError>;
}
