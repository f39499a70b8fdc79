//! Shared vocabulary for picoclaw: the message types that flow between
//! channels, the agent and providers; the traits they meet at (`Poller`
//! and `Sink`, a chat network's receiving and sending sides; `Provider`;
//! `Tool`); and the small cross-cutting helpers every crate needs (leveled
//! logging to stderr, secret redaction, capped backoff, cancellation).
//!
//! This crate does no I/O of its own beyond writing log lines to stderr; it
//! knows nothing about Telegram, any LLM vendor, SQLite or the sandbox.

mod backoff;
mod cancel;
mod channel;
pub mod log;
mod msg;
mod provider;
pub mod redact;
mod tool;

pub use backoff::Backoff;
pub use cancel::Cancel;
pub use channel::{
    Batch, Button, Caps, ChannelError, ChatKind, FileRef, Inbound, InboundKind, LinkState,
    MediaFile, MediaKind, OutFile, Poller, ScheduledTurn, Sender, Sink,
};
pub use msg::{ChatMessage, Image, Role, ToolCall, ToolSpec, Usage};
pub use provider::{
    Completion, CompletionRequest, FinishReason, Provider, ProviderError, Transcriber,
};
pub use tool::{Caller, Tool, ToolContext, ToolOutput};
