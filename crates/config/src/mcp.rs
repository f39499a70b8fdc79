//! `[mcp.servers.NAME]`: MCP servers, each either a command speaking
//! stdio (started under the sandbox) or a streamable HTTP URL.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use picoclaw_mcp::{
    SandboxOptions, ServerOptions, Transport, DEFAULT_NET_PORTS, DEFAULT_SERVER_MEMORY,
    MAX_NAME_LEN,
};
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::{list, q};
use crate::secret::is_env_only;
use crate::{ConfigError, Secret, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    pub servers: Option<BTreeMap<String, RawServer>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub url: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub timeout_secs: Option<u64>,
    pub enabled_tools: Option<Vec<String>>,
    pub writable_paths: Option<Vec<String>>,
    pub read_paths: Option<Vec<String>>,
    pub allow_net: Option<bool>,
    pub net_ports: Option<Vec<u16>>,
    pub memory_mib: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct McpConfig {
    /// By name.
    pub servers: Vec<McpServerConfig>,
}

/// A configured value that may be a secret: header values always are;
/// `env` values are when they use `${VAR}`.
#[derive(Debug, Clone)]
pub enum McpValue {
    Plain(String),
    Secret(Secret, SecretSource),
}

impl McpValue {
    pub fn expose(&self) -> &str {
        match self {
            McpValue::Plain(s) => s,
            McpValue::Secret(s, _) => s.expose(),
        }
    }

    /// For an inline table, where a `# from ...` comment cannot go.
    fn render(&self) -> String {
        match self {
            McpValue::Plain(s) => q(s),
            McpValue::Secret(s, src) => {
                let from = match src {
                    SecretSource::Inline => "inline",
                    SecretSource::Env => "from environment",
                    SecretSource::File => "from file",
                };
                q(&format!("{} ({from})", s.masked()))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum McpTransport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, McpValue)>,
    },
    Http {
        url: String,
        headers: Vec<(String, McpValue)>,
    },
}

#[derive(Debug, Clone)]
pub struct McpServerConfig {
    pub name: String,
    pub transport: McpTransport,
    pub enabled: bool,
    pub timeout: Duration,
    /// `None`: every tool the server lists.
    pub enabled_tools: Option<Vec<String>>,
    pub writable_paths: Vec<PathBuf>,
    pub read_paths: Vec<PathBuf>,
    pub allow_net: bool,
    pub net_ports: Vec<u16>,
    pub memory_mib: u64,
}

impl McpServerConfig {
    /// The MCP client's options for this server.
    pub fn options(&self) -> ServerOptions {
        let transport = match &self.transport {
            McpTransport::Stdio { command, args, env } => Transport::Stdio {
                command: command.clone(),
                args: args.clone(),
                env: pairs(env),
            },
            McpTransport::Http { url, headers } => Transport::Http {
                url: url.clone(),
                headers: pairs(headers),
            },
        };
        let mut o = ServerOptions::new(self.name.clone(), transport);
        o.enabled = self.enabled;
        o.timeout = self.timeout;
        o.enabled_tools = self.enabled_tools.clone();
        o.sandbox = SandboxOptions {
            writable_paths: self.writable_paths.clone(),
            read_paths: self.read_paths.clone(),
            allow_net: self.allow_net,
            net_ports: self.net_ports.clone(),
            memory_bytes: Some(self.memory_mib << 20),
        };
        o
    }
}

fn pairs(values: &[(String, McpValue)]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect()
}

const STDIO_ONLY: [&str; 7] = [
    "args",
    "env",
    "writable_paths",
    "read_paths",
    "allow_net",
    "net_ports",
    "memory_mib",
];

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawMcp>) -> Result<McpConfig, ConfigError> {
    let mut servers = Vec::new();
    for (name, s) in raw.and_then(|m| m.servers).unwrap_or_default() {
        servers.push(server(ctx, name, s)?);
    }
    Ok(McpConfig { servers })
}

fn server(ctx: &Ctx<'_>, name: String, s: RawServer) -> Result<McpServerConfig, ConfigError> {
    let table = format!("mcp.servers.{name}");
    let k = |key: &str| format!("{table}.{key}");
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ctx.invalid(
            &table,
            format!("server name must be 1-{MAX_NAME_LEN} letters, digits, '-' or '_' (tools are named mcp_<server>_<tool>)"),
        ));
    }
    let stdio_keys = [
        s.args.is_some(),
        s.env.is_some(),
        s.writable_paths.is_some(),
        s.read_paths.is_some(),
        s.allow_net.is_some(),
        s.net_ports.is_some(),
        s.memory_mib.is_some(),
    ];
    let transport = match (s.command, s.url) {
        (Some(_), Some(_)) => {
            return Err(ctx.invalid(
                &k("url"),
                "set either command (a stdio server) or url (streamable HTTP), not both",
            ))
        }
        (None, None) => {
            return Err(ctx.invalid(
                &table,
                "missing: set command (a stdio server) or url (streamable HTTP)",
            ))
        }
        (Some(command), None) => {
            if s.headers.is_some() {
                return Err(ctx.invalid(&k("headers"), "only for url (HTTP) servers"));
            }
            if command.trim().is_empty() {
                return Err(ctx.invalid(&k("command"), "must not be empty"));
            }
            let mut env = Vec::new();
            for (var, value) in s.env.unwrap_or_default() {
                let key = k("env");
                let expanded = ctx.expand(&key, &value)?;
                env.push((
                    var,
                    if value.contains("${") {
                        McpValue::Secret(Secret::new(expanded), SecretSource::Env)
                    } else {
                        McpValue::Plain(expanded)
                    },
                ));
            }
            McpTransport::Stdio {
                command: ctx.expand(&k("command"), &command)?,
                args: s
                    .args
                    .unwrap_or_default()
                    .iter()
                    .map(|a| ctx.expand(&k("args"), a))
                    .collect::<Result<_, _>>()?,
                env,
            }
        }
        (None, Some(url)) => {
            if let Some(i) = stdio_keys.iter().position(|set| *set) {
                return Err(ctx.invalid(
                    &k(STDIO_ONLY[i]),
                    "only for command (stdio) servers; an HTTP server runs elsewhere",
                ));
            }
            let mut headers = Vec::new();
            for (header, value) in s.headers.unwrap_or_default() {
                let source = if is_env_only(&value) {
                    SecretSource::Env
                } else {
                    SecretSource::Inline
                };
                let v = ctx.expand(&k("headers"), &value)?;
                headers.push((header, McpValue::Secret(Secret::new(v), source)));
            }
            McpTransport::Http {
                url: ctx.url(&k("url"), url)?,
                headers,
            }
        }
    };
    let defaults = ServerOptions::new(
        name.clone(),
        Transport::Stdio {
            command: String::new(),
            args: Vec::new(),
            env: Vec::new(),
        },
    );
    let enabled_tools = s.enabled_tools;
    if enabled_tools
        .as_ref()
        .is_some_and(|t| t.iter().any(|n| n.trim().is_empty()))
    {
        return Err(ctx.invalid(&k("enabled_tools"), "tool names must not be empty"));
    }
    let paths = |key: &str, list: Option<Vec<String>>| -> Result<Vec<PathBuf>, ConfigError> {
        list.unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, p)| ctx.path_value(&format!("{}[{i}]", k(key)), p))
            .collect()
    };
    let net_ports = s.net_ports.unwrap_or_else(|| DEFAULT_NET_PORTS.to_vec());
    if net_ports.contains(&0) {
        return Err(ctx.invalid(&k("net_ports"), "0 is not a port"));
    }
    Ok(McpServerConfig {
        transport,
        enabled: s.enabled.unwrap_or(true),
        timeout: ctx.secs(
            &k("timeout_secs"),
            s.timeout_secs,
            defaults.timeout,
            1,
            3_600,
        )?,
        enabled_tools,
        writable_paths: paths("writable_paths", s.writable_paths)?,
        read_paths: paths("read_paths", s.read_paths)?,
        allow_net: s.allow_net.unwrap_or(false),
        net_ports,
        memory_mib: ctx.range(
            &k("memory_mib"),
            s.memory_mib,
            DEFAULT_SERVER_MEMORY >> 20,
            64,
            1 << 20,
        )?,
        name,
    })
}

/// The key of the first inline (not `${ENV}`) header value, for the
/// permission check.
pub(crate) fn inline_secret(raw: &RawMcp) -> Option<String> {
    raw.servers.as_ref()?.iter().find_map(|(name, s)| {
        s.headers
            .as_ref()?
            .values()
            .any(|v| !is_env_only(v))
            .then(|| format!("mcp.servers.{name}.headers"))
    })
}

fn table(values: &[(String, McpValue)]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("{} = {}", q(k), v.render()))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

pub(crate) fn render(m: &McpConfig, o: &mut String) {
    for s in &m.servers {
        let _ = writeln!(o, "[mcp.servers.{}]", s.name);
        match &s.transport {
            McpTransport::Stdio { command, args, env } => {
                let _ = writeln!(
                    o,
                    "command = {}\nargs = {}\nenv = {}",
                    q(command),
                    list(args, true),
                    table(env)
                );
            }
            McpTransport::Http { url, headers } => {
                let _ = writeln!(o, "url = {}\nheaders = {}", q(url), table(headers));
            }
        }
        let _ = writeln!(
            o,
            "enabled = {}\ntimeout_secs = {}",
            s.enabled,
            s.timeout.as_secs()
        );
        if let Some(t) = &s.enabled_tools {
            let _ = writeln!(o, "enabled_tools = {}", list(t, true));
        }
        if let McpTransport::Stdio { .. } = s.transport {
            let show = |p: &[PathBuf]| -> Vec<String> {
                p.iter().map(|p| p.display().to_string()).collect()
            };
            let _ = writeln!(
                o,
                "writable_paths = {}\nread_paths = {}\nallow_net = {}\nnet_ports = {}\nmemory_mib = {}",
                list(&show(&s.writable_paths), true),
                list(&show(&s.read_paths), true),
                s.allow_net,
                list(&s.net_ports, false),
                s.memory_mib
            );
        }
        o.push('\n');
    }
}
