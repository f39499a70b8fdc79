use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use picoclaw_core::{Cancel, Tool, ToolOutput};
use serde_json::Value;

use crate::error::McpError;
use crate::launcher::Launcher;
use crate::options::ServerOptions;
use crate::server::Server;
use crate::status::{ServerState, ServerStatus};
use crate::tools::McpTool;

/// All configured MCP servers, each supervised on its own thread.
///
/// The set of tools changes at run time (`notifications/tools/list_changed`,
/// a server coming up late), so instead of a fixed list the agent asks
/// [`McpManager::generation`] each turn and rebuilds its tool set from
/// [`McpManager::tools`] only when the number moved.
pub struct McpManager {
    servers: Vec<Arc<Server>>,
    disabled: Vec<ServerOptions>,
    generation: Arc<AtomicU64>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl McpManager {
    /// Validates the options and starts every enabled server in the
    /// background; returns at once. Stdio servers are started through
    /// `launcher`.
    pub fn start(
        servers: Vec<ServerOptions>,
        launcher: Arc<dyn Launcher>,
    ) -> Result<McpManager, McpError> {
        let mut names = HashSet::new();
        for o in &servers {
            o.validate()?;
            if !names.insert(o.name.clone()) {
                return Err(McpError::Options(format!(
                    "server '{}' is configured twice",
                    o.name
                )));
            }
        }
        let generation = Arc::new(AtomicU64::new(0));
        let (enabled, disabled): (Vec<_>, Vec<_>) = servers.into_iter().partition(|o| o.enabled);
        let servers: Vec<Arc<Server>> = enabled
            .into_iter()
            .map(|o| Server::new(o, launcher.clone(), generation.clone()))
            .collect();
        let mut threads = Vec::new();
        for s in &servers {
            let s2 = s.clone();
            let handle = std::thread::Builder::new()
                .name(format!("mcp-{}", s.opts.name))
                .stack_size(256 * 1024)
                .spawn(move || s2.run())
                .map_err(|e| McpError::Launch(format!("thread: {e}")))?;
            threads.push(handle);
        }
        Ok(McpManager {
            servers,
            disabled,
            generation,
            threads: Mutex::new(threads),
        })
    }

    /// Waits until every enabled server is ready or has failed at least
    /// once, up to `timeout`. Returns whether all are ready.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && !self.servers.iter().all(|s| s.settled()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.status()
            .iter()
            .all(|s| matches!(s.state, ServerState::Ready | ServerState::Disabled))
    }

    /// The tools currently offered, across servers. A restarting server's
    /// last known tools stay listed; calling them reports it unavailable.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let mut out: Vec<Arc<dyn Tool>> = Vec::new();
        for s in &self.servers {
            for tool in s.tools() {
                out.push(Arc::new(McpTool {
                    server: s.clone(),
                    tool,
                }));
            }
        }
        out
    }

    /// Changes whenever the set or shape of offered tools changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn status(&self) -> Vec<ServerStatus> {
        let mut out: Vec<ServerStatus> = self.servers.iter().map(|s| s.status()).collect();
        out.extend(self.disabled.iter().map(|o| ServerStatus {
            name: o.name.clone(),
            transport: o.describe_transport(),
            connection: None,
            state: ServerState::Disabled,
            pid: None,
            protocol_version: None,
            server_info: None,
            tools: Vec::new(),
            hidden_tools: Vec::new(),
            restarts: 0,
            list_refreshes: 0,
            last_error: None,
        }));
        out
    }

    /// Calls `tool` (the server's own name) on `server` with the server's
    /// timeout, for `picoclaw mcp call`. Tools outside `enabled_tools` are
    /// reachable here on purpose: this is the owner debugging.
    pub fn call(&self, server: &str, tool: &str, args: Value) -> Result<ToolOutput, McpError> {
        let s = self
            .servers
            .iter()
            .find(|s| s.opts.name == server)
            .ok_or_else(|| McpError::UnknownServer(server.to_string()))?;
        if !args.is_object() {
            return Err(McpError::Options("arguments must be a JSON object".into()));
        }
        s.call_tool(
            tool,
            args,
            s.opts.timeout,
            &Cancel::new(),
            /*offered_only*/ false,
        )
    }

    /// Closes every connection (stdio servers get their stdin closed, then
    /// are killed) and stops the supervisors. Also done on drop.
    pub fn shutdown(&self) {
        for s in &self.servers {
            s.shutdown();
        }
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for McpManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}
