//! A Model Context Protocol client: picoclaw's way to use the tool servers
//! people already run.
//!
//! [`McpManager`] starts each configured server (a child process on stdio,
//! or a streamable HTTP endpoint with the legacy HTTP+SSE fallback),
//! negotiates the protocol version, lists its tools (following cursors and
//! `notifications/tools/list_changed`) and offers them as
//! [`picoclaw_core::Tool`]s named `mcp_<server>_<tool>`. A server that
//! crashes, hangs (a timed-out call followed by an unanswered ping) or keeps
//! printing garbage is torn down and restarted with capped backoff; its
//! tools answer "unavailable" meanwhile. Frames are size-bounded; requests
//! from the server that we do not support get a JSON-RPC error.
//!
//! Not here: configuration parsing, the CLI, and confinement. Stdio servers
//! are started through a [`Launcher`]; the sandboxed one lives with the
//! binary. No resources, prompts, sampling, roots, elicitation or tasks.

mod error;
mod frame;
mod http;
mod launcher;
mod manager;
mod options;
mod rpc;
mod server;
mod status;
mod stdio;
mod tools;

pub use error::McpError;
pub use launcher::{LaunchSpec, Launched, Launcher, PlainLauncher, Process, PASSED_ENV};
pub use manager::McpManager;
pub use options::{
    SandboxOptions, ServerOptions, Transport, DEFAULT_NET_PORTS, DEFAULT_SERVER_MEMORY,
    MAX_NAME_LEN,
};
pub use server::PROTOCOL_VERSIONS;
pub use status::{ServerState, ServerStatus, ToolInfo};
