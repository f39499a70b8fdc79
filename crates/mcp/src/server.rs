//! One server's supervisor: connect (launch, initialize, list tools), serve
//! events (list changes, liveness checks), and on any failure tear down and
//! reconnect after a capped, jittered backoff. Calls made while it is down
//! fail at once with "unavailable".

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use picoclaw_core::{info, warn, Backoff, Cancel, ToolOutput};
use serde_json::{json, Value};

use crate::error::McpError;
use crate::http::Http;
use crate::launcher::{LaunchSpec, Launcher};
use crate::options::{ServerOptions, Transport};
use crate::rpc::{Conn, Event, Peer};
use crate::status::{ServerState, ServerStatus, ToolInfo};
use crate::stdio::Stdio;
use crate::tools::{offered, render, RemoteTool};

/// Newest first: what we offer in `initialize`, and every version whose
/// answer we accept. 2024-11-05 is what legacy HTTP+SSE servers speak; its
/// tool calls are the same.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// A server that stayed up this long gets its backoff reset.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// How long a server gets to answer a ping after a request timed out.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Guards against a server whose cursors never end.
const MAX_PAGES: usize = 64;

#[derive(Debug)]
enum Ev {
    Conn(Event),
    /// A request timed out: is the server alive at all?
    CheckAlive,
}

#[derive(Default)]
struct Shared {
    state: Phase,
    conn: Option<Arc<Conn>>,
    /// Bumped per connection so late events of a dead one are ignored.
    epoch: u64,
    events: VecDeque<(u64, Ev)>,
    shutdown: bool,
    tools: Vec<RemoteTool>,
    hidden: Vec<String>,
    protocol_version: Option<String>,
    server_info: Option<String>,
    transport: Option<&'static str>,
    pid: Option<u32>,
    restarts: u32,
    list_refreshes: u32,
    last_error: Option<String>,
    attempts: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Starting,
    Ready,
    Restarting {
        until: Instant,
    },
    Stopped,
}

pub(crate) struct Server {
    pub(crate) opts: ServerOptions,
    launcher: Arc<dyn Launcher>,
    shared: Mutex<Shared>,
    wake: Condvar,
    generation: Arc<AtomicU64>,
}

impl Server {
    pub(crate) fn new(
        opts: ServerOptions,
        launcher: Arc<dyn Launcher>,
        generation: Arc<AtomicU64>,
    ) -> Arc<Server> {
        Arc::new(Server {
            opts,
            launcher,
            shared: Mutex::new(Shared::default()),
            wake: Condvar::new(),
            generation,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, epoch: u64, ev: Ev) {
        let mut s = self.lock();
        if s.epoch == epoch {
            s.events.push_back((epoch, ev));
            self.wake.notify_all();
        }
    }

    pub(crate) fn shutdown(&self) {
        let conn = {
            let mut s = self.lock();
            s.shutdown = true;
            self.wake.notify_all();
            s.conn.take()
        };
        if let Some(conn) = conn {
            conn.close("picoclaw is shutting down");
        }
    }

    /// The supervisor loop; runs on its own thread until shutdown.
    pub(crate) fn run(self: Arc<Self>) {
        let (base, cap) = self.opts.restart_backoff;
        let mut backoff = Backoff::new(base, cap);
        loop {
            let epoch = {
                let mut s = self.lock();
                if s.shutdown {
                    break;
                }
                s.epoch += 1;
                s.events.clear();
                s.state = Phase::Starting;
                s.attempts += 1;
                s.epoch
            };
            let started = Instant::now();
            let reason = match self.connect(epoch) {
                Ok((conn, epoch)) => {
                    let reason = self.serve(&conn, epoch);
                    conn.close(reason.as_deref().unwrap_or("picoclaw is shutting down"));
                    reason
                }
                Err(e) => Some(e.to_string()),
            };
            let mut s = self.lock();
            s.conn = None;
            s.pid = None;
            let Some(reason) = reason.filter(|_| !s.shutdown) else {
                break;
            };
            if started.elapsed() >= HEALTHY_AFTER {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            warn!(
                "mcp {}: unavailable ({reason}); restarting in {} ms",
                self.opts.name,
                delay.as_millis()
            );
            s.last_error = Some(reason);
            s.restarts += 1;
            let until = Instant::now() + delay;
            s.state = Phase::Restarting { until };
            while !s.shutdown && Instant::now() < until {
                let left = until.saturating_duration_since(Instant::now());
                s = self
                    .wake
                    .wait_timeout(s, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        self.lock().state = Phase::Stopped;
    }

    fn peer(self: &Arc<Self>, epoch: u64) -> Arc<Peer> {
        let weak: Weak<Server> = Arc::downgrade(self);
        Peer::new(
            &self.opts.name,
            Box::new(move |ev| {
                if let Some(s) = weak.upgrade() {
                    s.push(epoch, Ev::Conn(ev));
                }
            }),
        )
    }

    /// Registers a connection so shutdown can close it even mid-handshake.
    fn adopt(&self, conn: Conn) -> Result<Arc<Conn>, McpError> {
        let conn = Arc::new(conn);
        let mut s = self.lock();
        if s.shutdown {
            drop(s);
            conn.close("picoclaw is shutting down");
            return Err(McpError::Closed("shutting down".into()));
        }
        s.conn = Some(conn.clone());
        s.pid = conn.transport.pid();
        s.transport = Some(conn.transport.kind());
        Ok(conn)
    }

    fn open(self: &Arc<Self>, epoch: u64, legacy: bool) -> Result<Arc<Conn>, McpError> {
        let o = &self.opts;
        let peer = self.peer(epoch);
        let transport: Box<dyn crate::rpc::Transport> = match &o.transport {
            Transport::Stdio { command, args, env } => {
                let spec = LaunchSpec {
                    server: o.name.clone(),
                    command: command.clone(),
                    args: args.clone(),
                    env: env.clone(),
                    sandbox: o.sandbox.clone(),
                };
                Box::new(Stdio::start(
                    &*self.launcher,
                    &spec,
                    peer.clone(),
                    o.max_message_bytes,
                )?)
            }
            Transport::Http { url, headers } if legacy => Box::new(Http::legacy(
                url,
                headers,
                peer.clone(),
                o.timeout,
                o.max_message_bytes,
            )?),
            Transport::Http { url, headers } => Box::new(Http::streamable(
                url,
                headers,
                peer.clone(),
                o.timeout,
                o.max_message_bytes,
            )?),
        };
        self.adopt(Conn::new(peer, transport))
    }

    /// Returns the connection and the epoch its events carry.
    fn connect(self: &Arc<Self>, mut epoch: u64) -> Result<(Arc<Conn>, u64), McpError> {
        let mut conn = self.open(epoch, /*legacy*/ false)?;
        let init = match self.initialize(&conn) {
            // The spec's test for a pre-2025 server: the initialize POST is
            // refused, so try the old GET-stream transport at the same URL.
            Err(
                first @ McpError::HttpStatus {
                    status: 400 | 404 | 405,
                    ..
                },
            ) if matches!(self.opts.transport, Transport::Http { .. }) => {
                conn.close("trying the legacy HTTP+SSE transport");
                // A new epoch, so the first connection's "closed" event does
                // not end the second.
                epoch = {
                    let mut s = self.lock();
                    s.epoch += 1;
                    s.events.clear();
                    s.epoch
                };
                let both = |e: McpError| {
                    McpError::Protocol(format!("initialize POST: {first}; legacy HTTP+SSE: {e}"))
                };
                conn = self.open(epoch, /*legacy*/ true).map_err(both)?;
                self.initialize(&conn).map_err(both)
            }
            other => other,
        };
        let result = match init {
            Ok(r) => r,
            Err(e) => {
                conn.close(&e.to_string());
                return Err(e);
            }
        };
        match self.finish_handshake(&conn, &result) {
            Ok(()) => Ok((conn, epoch)),
            Err(e) => {
                conn.close(&e.to_string());
                Err(e)
            }
        }
    }

    fn initialize(&self, conn: &Conn) -> Result<Value, McpError> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "picoclaw", "version": env!("CARGO_PKG_VERSION")},
        });
        conn.request("initialize", params, self.opts.timeout, None)
    }

    fn finish_handshake(&self, conn: &Conn, result: &Value) -> Result<(), McpError> {
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !PROTOCOL_VERSIONS.contains(&version) {
            return Err(McpError::Protocol(format!(
                "server speaks protocol version '{version}'; picoclaw supports {}",
                PROTOCOL_VERSIONS.join(", ")
            )));
        }
        conn.transport.set_protocol_version(version);
        conn.notify("notifications/initialized", json!({}))?;
        conn.transport.initialized();
        let info = result.get("serverInfo");
        let server_info = info.map(|i| {
            let s = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
            format!("{} {}", s("name"), s("version"))
        });
        let has_tools = result.pointer("/capabilities/tools").is_some();
        let (tools, hidden) = if has_tools {
            self.list_tools(conn)?
        } else {
            (Vec::new(), Vec::new())
        };
        info!(
            "mcp {}: ready ({}, protocol {version}, {} tools)",
            self.opts.name,
            server_info.as_deref().unwrap_or("unnamed server"),
            tools.len()
        );
        let mut s = self.lock();
        s.protocol_version = Some(version.to_string());
        s.server_info = server_info;
        s.state = Phase::Ready;
        self.set_tools(&mut s, tools, hidden);
        Ok(())
    }

    fn list_tools(&self, conn: &Conn) -> Result<(Vec<RemoteTool>, Vec<String>), McpError> {
        let mut listed: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = conn.request("tools/list", params, self.opts.timeout, None)?;
            let Some(tools) = page.get("tools").and_then(Value::as_array) else {
                return Err(McpError::Protocol(
                    "tools/list result has no tools array".into(),
                ));
            };
            listed.extend(tools.iter().cloned());
            let next = page.get("nextCursor").and_then(Value::as_str);
            match next {
                Some(n) if !n.is_empty() && cursor.as_deref() != Some(n) => {
                    cursor = Some(n.to_string())
                }
                _ => break,
            }
        }
        let (tools, hidden) = offered(&self.opts.name, &listed, self.opts.enabled_tools.as_deref());
        if let Some(wanted) = &self.opts.enabled_tools {
            for w in wanted {
                if !listed
                    .iter()
                    .any(|t| t.get("name").and_then(Value::as_str) == Some(w))
                {
                    warn!(
                        "mcp {}: enabled_tools names '{w}', which the server does not offer",
                        self.opts.name
                    );
                }
            }
        }
        Ok((tools, hidden))
    }

    fn set_tools(&self, s: &mut Shared, tools: Vec<RemoteTool>, hidden: Vec<String>) {
        if s.tools != tools {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        s.tools = tools;
        s.hidden = hidden;
    }

    /// Handles events until the connection dies (`Some(reason)`) or
    /// shutdown (`None`).
    fn serve(&self, conn: &Conn, epoch: u64) -> Option<String> {
        loop {
            let ev = {
                let mut s = self.lock();
                loop {
                    if s.shutdown {
                        return None;
                    }
                    if let Some((e, ev)) = s.events.pop_front() {
                        if e == epoch {
                            break ev;
                        }
                        continue;
                    }
                    s = self.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
                }
            };
            match ev {
                Ev::Conn(Event::Closed(reason)) => return Some(reason),
                Ev::Conn(Event::ListChanged) => {
                    // Several changes queued up need one refresh.
                    self.lock()
                        .events
                        .retain(|(_, e)| !matches!(e, Ev::Conn(Event::ListChanged)));
                    match self.list_tools(conn) {
                        Ok((tools, hidden)) => {
                            info!(
                                "mcp {}: tool list changed ({} tools)",
                                self.opts.name,
                                tools.len()
                            );
                            let mut s = self.lock();
                            s.list_refreshes += 1;
                            self.set_tools(&mut s, tools, hidden);
                        }
                        Err(McpError::Closed(_)) => {}
                        Err(e) => warn!(
                            "mcp {}: refreshing the tool list failed: {e}",
                            self.opts.name
                        ),
                    }
                }
                Ev::CheckAlive => {
                    match conn.request("ping", json!({}), PING_TIMEOUT.min(self.opts.timeout), None)
                    {
                        Ok(_) | Err(McpError::Closed(_)) => {}
                        Err(McpError::Rpc { .. }) => {} // answered, if oddly
                        Err(e) => {
                            return Some(format!("hung: a request timed out and ping failed ({e})"))
                        }
                    }
                }
            }
        }
    }

    /// Calls a tool by its MCP name. `offered_only` refuses tools the
    /// allow-list hides (the model's path); `mcp call` may reach any.
    pub(crate) fn call_tool(
        &self,
        name: &str,
        args: Value,
        timeout: Duration,
        cancel: &Cancel,
        offered_only: bool,
    ) -> Result<ToolOutput, McpError> {
        let (conn, epoch) = {
            let s = self.lock();
            let conn = match (&s.state, &s.conn) {
                (Phase::Ready, Some(c)) => c.clone(),
                _ => {
                    return Err(McpError::Unavailable {
                        server: self.opts.name.clone(),
                        reason: describe(&s).1,
                    })
                }
            };
            if offered_only && !s.tools.iter().any(|t| t.mcp_name == name) {
                return Err(McpError::UnknownTool {
                    server: self.opts.name.clone(),
                    tool: name.to_string(),
                });
            }
            (conn, s.epoch)
        };
        let params = json!({"name": name, "arguments": args});
        match conn.request("tools/call", params, timeout, Some(cancel)) {
            Ok(result) => Ok(render(&result, self.opts.max_result_bytes)),
            Err(e @ McpError::Timeout(_)) => {
                self.push(epoch, Ev::CheckAlive);
                Err(e)
            }
            Err(McpError::Closed(reason)) => Err(McpError::Closed(format!(
                "{reason}; the server is being restarted"
            ))),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn tools(&self) -> Vec<RemoteTool> {
        self.lock().tools.clone()
    }

    /// Ready, or failed at least once since start (or stopped).
    pub(crate) fn settled(&self) -> bool {
        let s = self.lock();
        match s.state {
            Phase::Ready | Phase::Stopped => true,
            Phase::Restarting { .. } => true,
            Phase::Starting => s.attempts > 1,
        }
    }

    pub(crate) fn status(&self) -> ServerStatus {
        let s = self.lock();
        ServerStatus {
            name: self.opts.name.clone(),
            transport: self.opts.describe_transport(),
            connection: s.transport.map(str::to_string),
            state: describe(&s).0,
            pid: s.pid,
            protocol_version: s.protocol_version.clone(),
            server_info: s.server_info.clone(),
            tools: s
                .tools
                .iter()
                .map(|t| ToolInfo {
                    name: t.exposed.clone(),
                    mcp_name: t.mcp_name.clone(),
                    description: t.description.clone(),
                })
                .collect(),
            hidden_tools: s.hidden.clone(),
            restarts: s.restarts,
            list_refreshes: s.list_refreshes,
            last_error: s.last_error.clone(),
        }
    }
}

fn describe(s: &Shared) -> (ServerState, String) {
    match s.state {
        Phase::Starting => (ServerState::Starting, "starting".into()),
        Phase::Ready => (ServerState::Ready, "ready".into()),
        Phase::Stopped => (ServerState::Stopped, "stopped".into()),
        Phase::Restarting { until } => {
            let retry_in = until.saturating_duration_since(Instant::now());
            let why = s.last_error.clone().unwrap_or_default();
            (
                ServerState::Restarting { retry_in },
                format!("restarting in {} ms after: {why}", retry_in.as_millis()),
            )
        }
    }
}
