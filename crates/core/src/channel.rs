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
    /// Files (photos, voice notes, audio, documents) with the message's
    /// text or caption, cleaned like [`InboundKind::Text`] and possibly
    /// empty. Only references are stored: the agent downloads the files
    /// when the turn runs ([`Sink::fetch_file`]).
    Media { text: String, files: Vec<MediaFile> },
    /// Media the agent cannot handle ("sticker", "video", "location",
    /// ...). The agent answers with a short notice, not silence.
    Unsupported(String),
    /// A turn picoclaw starts itself (a scheduled job, the heartbeat): a
    /// prompt for the model, never a chat command. Boxed so the common
    /// variants stay small.
    Scheduled(Box<ScheduledTurn>),
    /// A press on a button the bot sent (see [`Sink::send_buttons`]), with
    /// that button's `data`. Acted on when it arrives (it answers a
    /// question a running turn asked) and never stored as a message.
    Button(String),
}

/// What a scheduled turn asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledTurn {
    pub prompt: String,
    /// A reply that is exactly this (trimmed) is recorded but not sent
    /// (the heartbeat's `HEARTBEAT_OK`).
    pub quiet: Option<String>,
}

/// What a received file is, which decides how the model gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A picture: an image part for vision models.
    Photo,
    /// A recorded voice message: transcribed when transcription is set up.
    Voice,
    /// A music or audio file: transcribed like a voice note.
    Audio,
    /// Any other file: saved for the file tools.
    Document,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Voice => "voice note",
            MediaKind::Audio => "audio file",
            MediaKind::Document => "document",
        }
    }
}

/// One received file, as the channel describes it; nothing is fetched yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaFile {
    pub kind: MediaKind,
    /// The file name the sender's app gave, untrusted (may hold `../`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// Length in seconds (voice notes, audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u32>,
    /// Every size the channel offers, smallest first (Telegram sends a
    /// photo in several resolutions); one entry otherwise. Never empty.
    pub sizes: Vec<FileRef>,
}

/// One downloadable file on the channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRef {
    /// The channel's handle for [`Sink::fetch_file`]: Telegram's
    /// `file_id`, a Discord attachment URL.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A button under a message the bot sends: what it shows, and the data a
/// press reports back as [`InboundKind::Button`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    /// At most 64 bytes (Telegram's `callback_data` limit).
    pub data: String,
}

/// One inbound event addressed to the bot. Channels drop group messages
/// that are not addressed to the bot before returning a batch; who may talk
/// (allow lists, pairing) is the runtime's decision, made with the store.
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
    /// The source has nothing more to deliver (end of the terminal's
    /// input). The driver stops polling it without an error.
    #[error("no more input")]
    Closed,
}

/// How a channel's connection is doing, for the watchdog, `/status` and
/// `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet (first connection after start).
    Connecting,
    /// Receiving.
    Up,
    /// Lost and being rebuilt (with backoff).
    Reconnecting,
    /// Given up for good: a configuration problem (bad token, disallowed
    /// intents). Other channels keep running.
    Stopped(String),
}

impl LinkState {
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::Reconnecting => "reconnecting",
            LinkState::Stopped(_) => "stopped",
        }
    }
}

/// What a chat network can do, for command handlers and the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Shows a "typing…" indicator (the runtime skips the calls otherwise).
    pub typing: bool,
    /// Chat commands arrive as plain text starting with `/` (all channels
    /// today).
    pub text_commands: bool,
    /// Largest file [`Sink::send_file`] may upload; 0: it sends no files.
    pub max_file_bytes: u64,
    /// Largest picture sent as a photo (shown inline); bigger ones go as
    /// documents. 0: no photos.
    pub max_photo_bytes: u64,
    /// Shows buttons under a message ([`Sink::send_buttons`]) and reports
    /// presses; without them, a question says which words to reply with.
    pub buttons: bool,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            typing: true,
            text_commands: true,
            max_file_bytes: 0,
            max_photo_bytes: 0,
            buttons: false,
        }
    }
}

/// A workspace file to deliver to a chat ([`Sink::send_file`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutFile {
    /// Relative to the workspace; opened beneath it when sent.
    pub path: String,
    /// The name the chat shows.
    pub name: String,
    /// Shown inline as a picture rather than attached as a document.
    pub photo: bool,
}

/// The receiving side of a chat network. Implementations are blocking
/// (ureq, a WebSocket thread's queue, stdin); the runtime calls them from
/// the blocking pool, one poll at a time per channel.
pub trait Poller: Send + Sync {
    /// Stable name used in session keys and the store: "telegram", "cli".
    fn name(&self) -> &'static str;

    /// Waits (long poll) for events after `cursor` and returns them with the
    /// cursor that acknowledges them. May return an empty batch.
    fn poll(&self, cursor: Option<&str>) -> Result<Batch, ChannelError>;

    /// The longest one `poll` may take before the runtime treats the
    /// connection as dead: it stops waiting for that call, asks for
    /// [`Poller::reconnect`] and polls again. `None`: no deadline.
    fn poll_deadline(&self) -> Option<Duration> {
        None
    }

    /// Drops pooled connections so the next call dials afresh (after a hung
    /// poll: a proxy that swallowed the connection keeps it half-open).
    fn reconnect(&self) {}

    /// The channel's own view of its connection, when it has one beyond
    /// "the last poll worked" (a push channel with its own socket). `None`
    /// lets the runtime derive it from poll results.
    fn link(&self) -> Option<LinkState> {
        None
    }
}

/// The sending side of a chat network. Blocking, called from the blocking
/// pool by the channel's outbox loop.
pub trait Sink: Send + Sync {
    /// The same name as the channel's [`Poller`]: replies go to the channel
    /// an event came from.
    fn name(&self) -> &'static str;

    fn caps(&self) -> Caps {
        Caps::default()
    }

    /// Turns model Markdown into the channel's wire chunks, each within the
    /// channel's message size limit. Pure; the runtime stores the chunks
    /// before sending so a restart resends exactly the unsent ones.
    fn render(&self, markdown: &str) -> Vec<String>;

    /// Sends one rendered chunk.
    fn send(&self, chat_id: &str, chunk: &str, reply_to: Option<&str>) -> Result<(), ChannelError>;

    /// Sends one rendered chunk with `buttons` under it. Channels without
    /// buttons send the chunk alone (the default); its text then says what
    /// to reply.
    fn send_buttons(
        &self,
        chat_id: &str,
        chunk: &str,
        reply_to: Option<&str>,
        buttons: &[Button],
    ) -> Result<(), ChannelError> {
        let _ = buttons;
        self.send(chat_id, chunk, reply_to)
    }

    /// Shows "typing…" (best effort; errors are only logged).
    fn typing(&self, _chat_id: &str) -> Result<(), ChannelError> {
        Ok(())
    }

    /// Uploads `data` (`len` bytes, already checked against
    /// [`Caps::max_file_bytes`]) as `file` to the chat. Like [`Sink::send`]
    /// it is called from the outbox, which stored the send first.
    fn send_file(
        &self,
        _chat_id: &str,
        file: &OutFile,
        _data: std::fs::File,
        _len: u64,
    ) -> Result<(), ChannelError> {
        Err(ChannelError::Rejected {
            status: 0,
            message: format!("{} cannot send files", file.name),
        })
    }

    /// Downloads the received file `file` (an id from [`FileRef`]) into
    /// `out`, refusing more than `max` bytes; returns the bytes written.
    /// The sending side is the one that holds the channel's credentials,
    /// which the download needs, so it lives here.
    fn fetch_file(
        &self,
        _file: &str,
        _max: u64,
        _out: &mut dyn std::io::Write,
    ) -> Result<u64, ChannelError> {
        Err(ChannelError::Rejected {
            status: 0,
            message: format!("{} cannot download files", self.name()),
        })
    }
}
