//! One module per area. Each test names the behaviour it proves.

// Test helpers outside #[test] fns panic on failed setup by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod audit;
mod cli;
mod compaction;
mod conversation;
mod discord;
mod doctor;
mod emulated;
mod exactly_once;
mod faults;
mod files;
mod https;
mod mcp;
mod media;
mod newcomer;
mod onboard;
mod providers;
mod schedule;
mod security;
mod signals;
mod skills;
mod soak;
mod spawn;
mod telegram;
mod web;
