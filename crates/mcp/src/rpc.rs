//! JSON-RPC 2.0 over any transport: ids, the table of requests waiting for
//! answers, answers to the server's own requests, notifications handed to
//! the supervisor. Transports feed frames in and send frames out; nothing
//! here blocks a transport's reader thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use picoclaw_core::{debug, info, warn, Cancel};
use serde_json::{json, Value};

use crate::error::McpError;

/// JSON-RPC "method not found".
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// A server printing this many invalid frames in a row is broken, not
/// chatty: it is restarted.
const GARBAGE_LIMIT: u32 = 16;

/// What the connection tells its supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    ListChanged,
    Closed(String),
}

type Reply = Result<Value, McpError>;

/// The receiving half shared by a connection and its transport's threads.
pub(crate) struct Peer {
    pub(crate) server: String,
    pending: Mutex<HashMap<u64, SyncSender<Reply>>>,
    closed: Mutex<Option<String>>,
    garbage_run: AtomicU32,
    events: Box<dyn Fn(Event) + Send + Sync>,
}

/// One message a transport must send, and whether an answer is expected.
pub(crate) struct Outgoing<'a> {
    pub bytes: &'a [u8],
    pub request_id: Option<u64>,
    pub method: &'a str,
}

/// Moves frames; see the stdio and http modules.
pub(crate) trait Transport: Send + Sync {
    fn send(&self, msg: Outgoing<'_>) -> Result<(), McpError>;
    /// Called once the version is negotiated (HTTP sends it as a header).
    fn set_protocol_version(&self, _version: &str) {}
    /// Called after `notifications/initialized` (HTTP opens its GET stream).
    fn initialized(&self) {}
    /// Stops the transport (kills the child, ends the HTTP session).
    fn close(&self);
    fn kind(&self) -> &'static str;
    fn pid(&self) -> Option<u32> {
        None
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Peer {
    pub(crate) fn new(server: &str, events: Box<dyn Fn(Event) + Send + Sync>) -> Arc<Peer> {
        Arc::new(Peer {
            server: server.to_string(),
            pending: Mutex::new(HashMap::new()),
            closed: Mutex::new(None),
            garbage_run: AtomicU32::new(0),
            events,
        })
    }

    pub(crate) fn closed_reason(&self) -> Option<String> {
        lock(&self.closed).clone()
    }

    /// Handles one received frame; returns the frames to send back (answers
    /// to the server's requests).
    pub(crate) fn deliver_frame(&self, frame: &[u8]) -> Vec<Vec<u8>> {
        if frame.iter().all(u8::is_ascii_whitespace) {
            return Vec::new();
        }
        match serde_json::from_slice::<Value>(frame) {
            Ok(Value::Array(batch)) if !batch.is_empty() => {
                batch.into_iter().filter_map(|m| self.deliver(m)).collect()
            }
            Ok(v @ Value::Object(_)) => self.deliver(v).into_iter().collect(),
            Ok(_) => {
                self.garbage(frame, "not a JSON-RPC object");
                Vec::new()
            }
            Err(e) => {
                self.garbage(frame, &e.to_string());
                Vec::new()
            }
        }
    }

    fn deliver(&self, msg: Value) -> Option<Vec<u8>> {
        if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            self.garbage(msg.to_string().as_bytes(), "missing \"jsonrpc\": \"2.0\"");
            return None;
        }
        let id = msg.get("id").filter(|v| !v.is_null());
        match (msg.get("method").and_then(Value::as_str), id) {
            (Some(method), Some(id)) => {
                self.garbage_run.store(0, Ordering::Relaxed);
                Some(self.answer_request(method, id))
            }
            (Some(method), None) => {
                self.garbage_run.store(0, Ordering::Relaxed);
                self.notification(method, msg.get("params"));
                None
            }
            (None, _) if msg.get("result").is_some() || msg.get("error").is_some() => {
                self.garbage_run.store(0, Ordering::Relaxed);
                self.response(&msg);
                None
            }
            _ => {
                self.garbage(
                    msg.to_string().as_bytes(),
                    "neither request, notification nor response",
                );
                None
            }
        }
    }

    fn answer_request(&self, method: &str, id: &Value) -> Vec<u8> {
        let reply = if method == "ping" {
            json!({"jsonrpc": "2.0", "id": id, "result": {}})
        } else {
            // We declare no client capabilities (roots, sampling,
            // elicitation), so everything else is unknown to us; answering
            // keeps the server from waiting forever.
            debug!("mcp {}: refused server request {method}", self.server);
            json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": METHOD_NOT_FOUND,
                "message": format!("Method not found: {method} (picoclaw offers no client features)"),
            }})
        };
        reply.to_string().into_bytes()
    }

    fn notification(&self, method: &str, params: Option<&Value>) {
        match method {
            "notifications/tools/list_changed" => (self.events)(Event::ListChanged),
            "notifications/message" => {
                let p = params.cloned().unwrap_or(Value::Null);
                let level = p.get("level").and_then(Value::as_str).unwrap_or("info");
                let data = match p.get("data") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                let text = snippet(data.as_bytes(), 300);
                match level {
                    "error" | "critical" | "alert" | "emergency" => {
                        warn!("mcp {} says ({level}): {text}", self.server)
                    }
                    _ => debug!("mcp {} says ({level}): {text}", self.server),
                }
            }
            _ => debug!("mcp {}: notification {method}", self.server),
        }
    }

    fn response(&self, msg: &Value) {
        let id = match msg.get("id") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let reply = match (msg.get("error"), msg.get("result")) {
            (Some(e), _) => Err(McpError::Rpc {
                code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_string(),
            }),
            (None, Some(r)) => Ok(r.clone()),
            (None, None) => return,
        };
        let Some(id) = id else {
            warn!(
                "mcp {}: error without a request id: {:?}",
                self.server,
                reply.err()
            );
            return;
        };
        match lock(&self.pending).remove(&id) {
            // The waiter may have just timed out; nothing to do then.
            Some(tx) => drop(tx.try_send(reply)),
            None => debug!(
                "mcp {}: answer to request {id} nobody waits for",
                self.server
            ),
        }
    }

    fn garbage(&self, frame: &[u8], why: &str) {
        let n = self.garbage_run.fetch_add(1, Ordering::Relaxed) + 1;
        warn!(
            "mcp {}: ignored an invalid message ({why}): {}",
            self.server,
            snippet(frame, 80)
        );
        if n >= GARBAGE_LIMIT {
            self.close(format!("{n} invalid messages in a row"));
        }
    }

    /// A frame over the size limit was skipped.
    pub(crate) fn oversized(&self, bytes: usize, max: usize) {
        self.garbage(
            format!("<{bytes} bytes>").as_bytes(),
            &format!("over the {max}-byte message limit"),
        );
    }

    pub(crate) fn is_pending(&self, id: u64) -> bool {
        lock(&self.pending).contains_key(&id)
    }

    /// Fails one request (its HTTP exchange failed).
    pub(crate) fn fail(&self, id: u64, err: McpError) {
        if let Some(tx) = lock(&self.pending).remove(&id) {
            drop(tx.try_send(Err(err)));
        }
    }

    /// Marks the connection dead: every waiter gets `Closed`, the
    /// supervisor hears about it once.
    pub(crate) fn close(&self, reason: String) {
        {
            let mut closed = lock(&self.closed);
            if closed.is_some() {
                return;
            }
            *closed = Some(reason.clone());
        }
        // Dropping the senders wakes every waiter with "disconnected".
        lock(&self.pending).clear();
        info!("mcp {}: connection closed: {reason}", self.server);
        (self.events)(Event::Closed(reason));
    }
}

/// A JSON-RPC session over one transport.
pub(crate) struct Conn {
    pub(crate) peer: Arc<Peer>,
    pub(crate) transport: Box<dyn Transport>,
    next_id: AtomicU64,
}

impl Conn {
    pub(crate) fn new(peer: Arc<Peer>, transport: Box<dyn Transport>) -> Conn {
        Conn {
            peer,
            transport,
            next_id: AtomicU64::new(1),
        }
    }

    /// Sends a request and waits for its answer. On timeout or `cancel` the
    /// server gets `notifications/cancelled` (never for `initialize`, which
    /// the protocol forbids cancelling).
    pub(crate) fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancel: Option<&Cancel>,
    ) -> Result<Value, McpError> {
        if let Some(reason) = self.peer.closed_reason() {
            return Err(McpError::Closed(reason));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = sync_channel(1);
        lock(&self.peer.pending).insert(id, tx);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let bytes = msg.to_string().into_bytes();
        let sent = self.transport.send(Outgoing {
            bytes: &bytes,
            request_id: Some(id),
            method,
        });
        if let Err(e) = sent {
            lock(&self.peer.pending).remove(&id);
            return Err(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            let slice = deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(100));
            match rx.recv_timeout(slice) {
                Ok(reply) => return reply,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(McpError::Closed(
                        self.peer
                            .closed_reason()
                            .unwrap_or_else(|| "connection ended".into()),
                    ))
                }
                Err(RecvTimeoutError::Timeout) => {
                    let cancelled = cancel.is_some_and(Cancel::is_cancelled);
                    if !cancelled && Instant::now() < deadline {
                        continue;
                    }
                    lock(&self.peer.pending).remove(&id);
                    // The answer may have raced in after the last wait.
                    if let Ok(reply) = rx.try_recv() {
                        return reply;
                    }
                    if method != "initialize" {
                        let reason = if cancelled { "cancelled" } else { "timed out" };
                        let _ = self.notify(
                            "notifications/cancelled",
                            json!({"requestId": id, "reason": reason}),
                        );
                    }
                    return Err(if cancelled {
                        McpError::Cancelled
                    } else {
                        McpError::Timeout(timeout)
                    });
                }
            }
        }
    }

    pub(crate) fn notify(&self, method: &str, params: Value) -> Result<(), McpError> {
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let bytes = msg.to_string().into_bytes();
        self.transport.send(Outgoing {
            bytes: &bytes,
            request_id: None,
            method,
        })
    }

    pub(crate) fn close(&self, reason: &str) {
        self.peer.close(reason.to_string());
        self.transport.close();
    }
}

/// A short, single-line, printable excerpt of untrusted bytes for logs.
pub(crate) fn snippet(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}
