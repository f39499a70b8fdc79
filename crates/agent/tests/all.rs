//! The agent as a library: turns driven through the real runtime with
//! in-memory fakes for the channel, the provider and the tools (no binary,
//! no sockets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
