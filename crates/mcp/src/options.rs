use std::path::PathBuf;
use std::time::Duration;

use crate::error::McpError;

/// How to reach one MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        /// The child's whole environment besides PATH, HOME and LANG.
        env: Vec<(String, String)>,
    },
    /// A streamable HTTP endpoint (falls back to the 2024-11-05 HTTP+SSE
    /// transport when the server asks for it).
    Http {
        url: String,
        /// Extra request headers (e.g. `Authorization`), sent on every
        /// request and never logged.
        headers: Vec<(String, String)>,
    },
}

/// Confinement for a stdio server, applied by the launcher. Carried from
/// the configuration; the plain launcher does not enforce it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxOptions {
    /// Directories the server may write, besides its own private one.
    pub writable_paths: Vec<PathBuf>,
    /// Directories it may read (and execute from) besides the system
    /// roots: where the server is installed, data it serves.
    pub read_paths: Vec<PathBuf>,
    pub allow_net: bool,
    /// TCP ports it may connect to when `allow_net`.
    pub net_ports: Vec<u16>,
    /// Address-space limit; `None`: the launcher's default.
    pub memory_bytes: Option<u64>,
}

/// One configured MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Short name; tools appear as `mcp_<name>_<tool>`. Letters, digits,
    /// `-` and `_`, at most [`MAX_NAME_LEN`] characters.
    pub name: String,
    pub transport: Transport,
    /// A disabled server is listed in the status but never started.
    pub enabled: bool,
    /// Deadline for one request (initialize, a tool call, a page of the
    /// tool list).
    pub timeout: Duration,
    /// When given, only these tools (the server's own names) are offered.
    pub enabled_tools: Option<Vec<String>>,
    pub sandbox: SandboxOptions,
    /// Longest accepted line (stdio) or event (SSE) or JSON body; longer
    /// ones are dropped unread rather than buffered.
    pub max_message_bytes: usize,
    /// A tool result longer than this is cut, with a marker saying so.
    pub max_result_bytes: usize,
    /// First and longest delay between restarts of a failing server.
    pub restart_backoff: (Duration, Duration),
}

/// Longest server name: tool names must stay within providers' 64
/// characters.
pub const MAX_NAME_LEN: usize = 24;

/// A sandboxed server's default address-space limit: node reserves about
/// 1 GiB of virtual memory before running a line (RLIMIT_AS is not RSS).
pub const DEFAULT_SERVER_MEMORY: u64 = 2 << 30;

/// TCP ports a server with `allow_net` may connect to unless configured.
pub const DEFAULT_NET_PORTS: [u16; 1] = [443];

impl ServerOptions {
    /// A server with default limits: 60 s per request, 4 MiB messages,
    /// 32 KiB results, restarts backing off from 1 s to 60 s.
    pub fn new(name: impl Into<String>, transport: Transport) -> ServerOptions {
        ServerOptions {
            name: name.into(),
            transport,
            enabled: true,
            timeout: Duration::from_secs(60),
            enabled_tools: None,
            sandbox: SandboxOptions::default(),
            max_message_bytes: 4 * 1024 * 1024,
            max_result_bytes: 32 * 1024,
            restart_backoff: (Duration::from_secs(1), Duration::from_secs(60)),
        }
    }

    pub fn stdio(name: impl Into<String>, command: impl Into<String>, args: &[&str]) -> Self {
        ServerOptions::new(
            name,
            Transport::Stdio {
                command: command.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                env: Vec::new(),
            },
        )
    }

    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        ServerOptions::new(
            name,
            Transport::Http {
                url: url.into(),
                headers: Vec::new(),
            },
        )
    }

    pub(crate) fn validate(&self) -> Result<(), McpError> {
        let name = &self.name;
        if name.is_empty()
            || name.len() > MAX_NAME_LEN
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(McpError::Options(format!(
                "server name '{name}' must be 1-{MAX_NAME_LEN} letters, digits, '-' or '_'"
            )));
        }
        match &self.transport {
            Transport::Stdio { command, .. } if command.trim().is_empty() => {
                Err(McpError::Options(format!("server '{name}': empty command")))
            }
            Transport::Http { url, .. }
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                Err(McpError::Options(format!(
                    "server '{name}': url must start with http:// or https://"
                )))
            }
            _ if self.timeout.is_zero() => Err(McpError::Options(format!(
                "server '{name}': timeout must be above zero"
            ))),
            _ => Ok(()),
        }
    }

    pub(crate) fn describe_transport(&self) -> String {
        match &self.transport {
            Transport::Stdio { command, args, .. } => {
                let mut s = format!("stdio: {command}");
                for a in args {
                    s.push(' ');
                    s.push_str(a);
                }
                s
            }
            Transport::Http { url, .. } => format!("http: {url}"),
        }
    }
}
