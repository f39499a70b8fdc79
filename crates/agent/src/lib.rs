//! The agent: turns an inbound message into an answer by asking the
//! configured provider, running the tools it calls and recording every step
//! in the store; and the runtime around it, which takes any number of event
//! sources and channel sinks and drives them exactly once (store an event
//! before acknowledging it, store a reply before sending it, resume
//! unfinished turns after a crash).
//!
//! It depends on the `Poller`/`Sink`, `Provider` and `Tool` traits, never on
//! Telegram or a particular LLM vendor. All state is owned by one
//! current-thread tokio runtime; blocking work (SQLite, HTTP, tools) goes to
//! tokio's bounded blocking pool.
//!
//! Who owns what: `runtime` wires sources, the worker and one outbox per
//! channel; `source`/`poll` store events; `worker` answers them in order
//! (`commands` for chat commands, `turn` for model turns); `outbox` sends.
//! `access` decides who may talk and which tools a turn sees; `pairing`
//! answers strangers with a code; `confirm` carries a tool call's yes/no.

mod access;
mod audit;
mod budget;
mod commands;
mod compact;
mod confirm;
mod db;
mod history;
mod links;
mod media;
mod memory;
mod outbox;
mod pairing;
mod poll;
mod prompt;
mod reply;
mod running;
mod runtime;
mod send_file;
mod source;
mod spawn;
mod trim;
mod turn;
mod worker;

pub use access::{
    group_of, Access, ChannelAccess, DmPolicy, Standing, ToolRule, DEFAULT_CONFIRM_TIMEOUT, GROUPS,
    HEARTBEAT_SENDER, RESTRICTED,
};
pub use budget::Budgets;
pub use commands::{rss_kib, CommandCtx};
pub use db::Db;
pub use links::{describe as describe_link, Link, Links};
pub use media::{MediaOptions, INBOX};
pub use memory::memory_tools;
pub use pairing::{normalize as normalize_pairing_code, now as pairing_now, CODE_TTL, MAX_PENDING};
pub use prompt::PromptSection;
pub use reply::Reply;
pub use runtime::{Runtime, RuntimeOptions};
pub use source::{Inbox, Source, Task};
pub use spawn::{SubagentOptions, MAX_DEPTH as MAX_SUBAGENT_DEPTH};
pub use turn::{Agent, AgentOptions, ToolSource};
