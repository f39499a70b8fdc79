//! Chat networks picoclaw talks on, each implementing
//! [`picoclaw_core::Poller`] (receiving) and [`picoclaw_core::Sink`]
//! (sending): the Telegram Bot API over long polling (`telegram`) and the
//! Discord Gateway WebSocket with REST replies (`discord`). A channel turns
//! the network's updates into
//! [`picoclaw_core::Inbound`] events (in groups, only messages addressed to
//! the bot; who may talk is the runtime's decision), renders the model's
//! Markdown into the network's wire format in size-limited chunks, and sends
//! them (with buttons where the network has them).
//!
//! Channels do not persist anything, retry, sleep or run the agent: they
//! classify every failure into a [`picoclaw_core::ChannelError`] and the
//! runtime decides when to try again. They never depend on providers.

pub mod discord;
mod split;
pub mod telegram;
