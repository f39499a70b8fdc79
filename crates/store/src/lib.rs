//! picoclaw's embedded SQLite store: channel cursors and inbound events
//! (the exactly-once ingest), sessions and their messages, the outbox of
//! rendered reply chunks, token usage, the tool-call audit log, schedules,
//! long-term memory and access (people approved by pairing, their codes,
//! tool calls waiting for a yes or no) — one file, `picoclaw.db`, in the
//! state directory, in WAL mode, with numbered migrations in `PRAGMA
//! user_version`.
//!
//! It does not decide anything: no retry policy, no session keys, no
//! rendering. It stores what the runtime hands it, each multi-row change in
//! one transaction, and classifies SQLite failures into errors an operator
//! can act on ([`StoreError`]). [`Store`] owns one connection and is not
//! `Sync`; share it as `Arc<Mutex<Store>>` and call it off the async
//! threads.

mod access;
mod audit;
mod error;
mod inbound;
mod memory;
mod migrations;
mod outbox;
mod schedule;
mod session;
mod store;
mod usage;

pub use access::{
    Approval, ConfirmAsk, ConfirmStatus, Paired, PairingAsk, PairingCode, PairingIssue,
};
pub use audit::{AuditFilter, AuditStatus, ToolAudit};
pub use error::StoreError;
pub use inbound::{InboundRow, InboundStatus};
pub use memory::{MemoryHit, SHARED_SCOPE};
pub use migrations::SCHEMA_VERSION;
pub use outbox::OutboxRow;
pub use schedule::{Fire, Job, JobAction, Missed, NewJob};
pub use session::SessionStats;
pub use store::{FileState, Health, Store, StoreOptions, DB_FILE};
pub use usage::ChatUsage;

#[cfg(test)]
mod tests;
