//! MCP in the binary: the manager built from `[mcp.servers.*]` with stdio
//! servers under the sandbox, its tools offered to the agent, and the
//! `picoclaw mcp list|call` commands and doctor's lines.

mod launcher;

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use picoclaw_agent::ToolSource;
use picoclaw_config::Config;
use picoclaw_core::{Tool, ToolOutput};
use picoclaw_mcp::{McpManager, ServerState, ServerStatus};

pub use launcher::SandboxLauncher;

use crate::{setup, Failure};

/// Longest wait for servers to come up in the one-shot commands.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// The running servers and the launcher that confines them.
pub struct Mcp {
    pub manager: McpManager,
    launcher: Arc<SandboxLauncher>,
    /// How long the slowest server may take to start.
    wait: Duration,
}

/// The servers the agent uses, for `picoclaw agent -m` to wait on.
static AGENT_SERVERS: Mutex<Option<Weak<Mcp>>> = Mutex::new(None);

/// Starts the configured servers (`only`: just that one) in the
/// background. `None` when there is nothing to start or list.
pub fn start(config: &Config, only: Option<&str>) -> Result<Option<Arc<Mcp>>, Failure> {
    let servers: Vec<_> = config
        .mcp
        .servers
        .iter()
        .filter(|s| only.is_none_or(|n| n == s.name))
        .map(|s| s.options())
        .collect();
    if servers.is_empty() {
        return Ok(None);
    }
    let wait = servers
        .iter()
        .map(|s| s.timeout)
        .max()
        .unwrap_or_default()
        .min(MAX_WAIT);
    let launcher = Arc::new(SandboxLauncher::new(
        setup::sandbox_policy(config, &config.agent.workspace),
        config.store.dir.clone(),
        setup::tool_ids(config),
    ));
    let manager = McpManager::start(servers, launcher.clone())
        .map_err(|e| Failure::Config(format!("{}: {e}", config.path.display())))?;
    Ok(Some(Arc::new(Mcp {
        manager,
        launcher,
        wait,
    })))
}

/// The servers' tools for the agent; `None` without servers.
pub fn tool_source(config: &Config) -> Result<Option<Arc<dyn ToolSource>>, Failure> {
    let Some(mcp) = start(config, None)? else {
        return Ok(None);
    };
    *AGENT_SERVERS.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::downgrade(&mcp));
    Ok(Some(Arc::new(McpTools(mcp))))
}

/// Waits (bounded) for the agent's servers to be ready, so a one-shot
/// turn sees their tools.
pub fn wait_for_agent_servers() {
    let mcp = AGENT_SERVERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(Weak::upgrade);
    if let Some(m) = mcp {
        m.manager.wait_ready(m.wait);
    }
}

struct McpTools(Arc<Mcp>);

impl ToolSource for McpTools {
    fn generation(&self) -> u64 {
        self.0.manager.generation()
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        // Which server offers which tool, so each call's audit row says
        // what confined the process that ran it.
        let owner: std::collections::HashMap<String, (String, bool)> = self
            .0
            .manager
            .status()
            .into_iter()
            .flat_map(|s| {
                let stdio = s.transport.starts_with("stdio");
                let name = s.name.clone();
                s.tools
                    .into_iter()
                    .map(move |t| (t.name, (name.clone(), stdio)))
            })
            .collect();
        self.0
            .manager
            .tools()
            .into_iter()
            .map(|tool| {
                let (server, stdio) = owner.get(&tool.spec().name).cloned().unwrap_or_default();
                Arc::new(Labelled {
                    tool,
                    server,
                    stdio,
                    mcp: self.0.clone(),
                }) as Arc<dyn Tool>
            })
            .collect()
    }
}

/// An MCP tool whose output carries its server's sandbox label.
struct Labelled {
    tool: Arc<dyn Tool>,
    server: String,
    stdio: bool,
    mcp: Arc<Mcp>,
}

impl Tool for Labelled {
    fn spec(&self) -> picoclaw_core::ToolSpec {
        self.tool.spec()
    }

    fn call(&self, ctx: &picoclaw_core::ToolContext, args: &serde_json::Value) -> ToolOutput {
        let mut out = self.tool.call(ctx, args);
        out.sandbox = Some(match self.mcp.launcher.label(&self.server) {
            Some(label) => format!("mcp {}: {label}", self.server),
            None if self.stdio => format!("mcp {}: not started", self.server),
            None => format!("mcp {}: remote (http), not sandboxed here", self.server),
        });
        out
    }
}

impl Mcp {
    pub fn wait_ready(&self) -> bool {
        self.manager.wait_ready(self.wait)
    }

    /// One entry per server: whether it is usable (ready or disabled), a
    /// headline and detail lines.
    pub fn report(&self) -> Vec<(bool, String, String, Vec<String>)> {
        self.manager
            .status()
            .into_iter()
            .map(|s| {
                let ok = matches!(s.state, ServerState::Ready | ServerState::Disabled);
                let head = headline(&s, self.launcher.label(&s.name));
                (ok, s.name.clone(), head, details(&s))
            })
            .collect()
    }
}

fn headline(s: &ServerStatus, label: Option<String>) -> String {
    let mut parts = vec![s.state.as_str().to_string()];
    if let ServerState::Restarting { retry_in } = &s.state {
        parts[0] = format!("restarting in {} s", retry_in.as_secs().max(1));
    }
    if let Some(c) = &s.connection {
        parts.push(c.clone());
    }
    if let Some(info) = &s.server_info {
        parts.push(info.clone());
    }
    if let Some(v) = &s.protocol_version {
        parts.push(format!("protocol {v}"));
    }
    if s.restarts > 0 {
        parts.push(format!("{} restarts", s.restarts));
    }
    if let Some(l) = label.filter(|_| s.state != ServerState::Disabled) {
        parts.push(format!("sandbox {l}"));
    }
    parts.join("; ")
}

fn details(s: &ServerStatus) -> Vec<String> {
    let mut out = vec![s.transport.clone()];
    for t in &s.tools {
        let first = t.description.lines().next().unwrap_or("");
        out.push(format!("tool {}  {}", t.name, short(first, 90)));
    }
    if !s.hidden_tools.is_empty() {
        out.push(format!("not offered: {}", s.hidden_tools.join(", ")));
    }
    if let Some(e) = s
        .last_error
        .as_ref()
        .filter(|_| s.state != ServerState::Ready)
    {
        out.push(format!("last error: {e}"));
    }
    out
}

fn short(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `picoclaw mcp list`.
pub fn list(config: &Config) -> Result<(), Failure> {
    let Some(mcp) = start(config, None)? else {
        println!(
            "no MCP servers configured ([mcp.servers.NAME] in {})",
            config.path.display()
        );
        return Ok(());
    };
    let all_ok = mcp.wait_ready();
    for (_, name, head, details) in mcp.report() {
        println!("{name}: {head}");
        for d in details {
            println!("  {d}");
        }
    }
    mcp.manager.shutdown();
    if all_ok {
        Ok(())
    } else {
        Err(Failure::Runtime(
            "some MCP servers are not ready (see above)".into(),
        ))
    }
}

/// `picoclaw mcp call SERVER TOOL [JSON]`: prints the result the model
/// would see; exit 1 when the call fails or the tool reports an error.
pub fn call(config: &Config, server: &str, tool: &str, json: &str) -> Result<(), Failure> {
    let args: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Failure::Config(format!("mcp call: the arguments are not JSON: {e}")))?;
    if !config.mcp.servers.iter().any(|s| s.name == server) {
        return Err(Failure::Config(format!(
            "mcp call: no server named {server:?} in {}",
            config.path.display()
        )));
    }
    let Some(mcp) = start(config, Some(server))? else {
        return Err(Failure::Config(format!("mcp call: no server {server:?}")));
    };
    mcp.wait_ready();
    let result = mcp.manager.call(server, tool, args);
    mcp.manager.shutdown();
    match result {
        Ok(out) => {
            println!("{}", out.content);
            if out.is_error {
                Err(Failure::Runtime(format!(
                    "{server}/{tool} reported an error"
                )))
            } else {
                Ok(())
            }
        }
        Err(e) => Err(Failure::Runtime(format!("{server}/{tool}: {e}"))),
    }
}
