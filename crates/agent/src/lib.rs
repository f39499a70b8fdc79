//! The agent: turns an inbound message into an answer by asking the
//! configured provider, running the tools it calls and recording every step
//! in the store; and the runtime that drives channels exactly once (store an
//! event before acknowledging it, store a reply before sending it, resume
//! unfinished turns after a crash).
//!
//! It depends on the `Channel`, `Provider` and `Tool` traits, never on
//! Telegram or a particular LLM vendor. All state is owned by one
//! current-thread tokio runtime; blocking work (SQLite, HTTP, tools) goes to
//! tokio's bounded blocking pool.

mod commands;
mod db;
mod prompt;
mod runtime;
mod trim;
mod turn;

pub use db::Db;
pub use runtime::{Runtime, RuntimeOptions};
pub use turn::{Agent, AgentOptions, Reply};
