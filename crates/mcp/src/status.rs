use std::time::Duration;

/// Where a server's connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerState {
    /// `enabled = false`: never started.
    Disabled,
    /// Launching, initializing or listing tools.
    Starting,
    Ready,
    /// Down after a failure; the next attempt is due in `retry_in`.
    Restarting {
        retry_in: Duration,
    },
    /// Shut down with the manager.
    Stopped,
}

impl ServerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ServerState::Disabled => "disabled",
            ServerState::Starting => "starting",
            ServerState::Ready => "ready",
            ServerState::Restarting { .. } => "restarting",
            ServerState::Stopped => "stopped",
        }
    }
}

/// A tool the model is offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInfo {
    /// `mcp_<server>_<tool>`, as the model sees it.
    pub name: String,
    /// The server's own name for it (what `enabled_tools` lists).
    pub mcp_name: String,
    pub description: String,
}

/// One server, for `doctor` and `picoclaw mcp list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    pub name: String,
    /// The configured transport: `stdio: CMD ARGS` or `http: URL`.
    pub transport: String,
    /// The transport in use once connected: `stdio`, `http` or
    /// `http+sse (legacy)`.
    pub connection: Option<String>,
    pub state: ServerState,
    /// The stdio server's process id while it runs.
    pub pid: Option<u32>,
    pub protocol_version: Option<String>,
    /// `name version` from the server's `initialize` answer.
    pub server_info: Option<String>,
    /// The offered tools (kept from the last good list while restarting).
    pub tools: Vec<ToolInfo>,
    /// Listed by the server but not offered: outside `enabled_tools`, or
    /// runnable only as tasks.
    pub hidden_tools: Vec<String>,
    pub restarts: u32,
    /// Tool lists re-fetched after `notifications/tools/list_changed`.
    pub list_refreshes: u32,
    /// Why the last connection ended or failed.
    pub last_error: Option<String>,
}
