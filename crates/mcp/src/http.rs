//! Streamable HTTP (MCP 2025-03-26 and later): every message is a POST to
//! the endpoint, answered with JSON, an SSE stream or 202; `Mcp-Session-Id`
//! and `MCP-Protocol-Version` ride on every later request; a GET stream
//! carries the server's own notifications. Also the legacy 2024-11-05
//! HTTP+SSE transport: one long GET stream that names a POST endpoint.

use std::io::BufReader;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use picoclaw_core::{debug, warn};
use picoclaw_http::{Client, HttpOptions, Method, StreamingResponse};

use crate::error::McpError;
use crate::frame::{Sse, SseReader};
use crate::rpc::{snippet, Outgoing, Peer, Transport};

/// How often a broken POST stream is resumed with `Last-Event-ID`.
const MAX_RESUMES: u32 = 5;
/// A GET stream is reopened after this long even if the server keeps it
/// open, so a vanished peer does not pin a thread forever.
const LISTEN_WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Streamable,
    /// Legacy HTTP+SSE: messages are POSTed here, answers come on the GET.
    Legacy {
        post_url: String,
    },
}

struct Inner {
    client: Client,
    url: String,
    headers: Vec<(String, String)>,
    session: Mutex<Option<String>>,
    version: Mutex<Option<String>>,
    peer: Arc<Peer>,
    closed: AtomicBool,
    max: usize,
    timeout: Duration,
    mode: Mode,
}

pub(crate) struct Http {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn client(timeout: Duration, max: usize) -> Result<Client, McpError> {
    Ok(Client::new(&HttpOptions {
        timeout,
        body_limit: max as u64,
        ..HttpOptions::default()
    })?)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), McpError> {
    thread::Builder::new()
        .name(name.to_string())
        // TLS handshakes want more than the reader threads' 128 KiB.
        .stack_size(512 * 1024)
        .spawn(f)
        .map(drop)
        .map_err(|e| McpError::Http(format!("thread: {e}")))
}

impl Http {
    pub(crate) fn streamable(
        url: &str,
        headers: &[(String, String)],
        peer: Arc<Peer>,
        timeout: Duration,
        max: usize,
    ) -> Result<Http, McpError> {
        Ok(Http {
            inner: Arc::new(Inner {
                client: client(timeout, max)?,
                url: url.to_string(),
                headers: headers.to_vec(),
                session: Mutex::new(None),
                version: Mutex::new(None),
                peer,
                closed: AtomicBool::new(false),
                max,
                timeout,
                mode: Mode::Streamable,
            }),
        })
    }

    /// Opens the legacy SSE stream and waits (up to `timeout`) for its
    /// `endpoint` event.
    pub(crate) fn legacy(
        url: &str,
        headers: &[(String, String)],
        peer: Arc<Peer>,
        timeout: Duration,
        max: usize,
    ) -> Result<Http, McpError> {
        let client = client(timeout, max)?;
        let mut hdrs: Vec<(&str, &str)> = vec![("accept", "text/event-stream")];
        hdrs.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let resp =
            client.send_streaming(Method::Get, url, &hdrs, None, None /*no deadline*/)?;
        if !resp.is_success() || !is_event_stream(&resp) {
            return Err(McpError::HttpStatus {
                status: resp.status,
                body: "expected an SSE stream for the legacy HTTP+SSE transport".into(),
            });
        }
        let (tx, rx) = sync_channel::<Result<String, McpError>>(1);
        let stream_peer = peer.clone();
        let base = url.to_string();
        let slot: Arc<Mutex<Option<Arc<Inner>>>> = Arc::new(Mutex::new(None));
        let reader_slot = slot.clone();
        spawn(&format!("mcp-{}-sse", peer.server), move || {
            let mut sse = SseReader::new(BufReader::new(resp), max);
            let mut tx = Some(tx);
            loop {
                match sse.next_event() {
                    Ok(Sse::Event(ev)) if ev.event == "endpoint" => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(resolve(&base, ev.data.trim()));
                        }
                    }
                    Ok(Sse::Event(ev)) if ev.event.is_empty() || ev.event == "message" => {
                        let inner = lock(&reader_slot).clone();
                        for reply in stream_peer.deliver_frame(ev.data.as_bytes()) {
                            if let Some(inner) = &inner {
                                inner.post_small(&reply);
                            }
                        }
                    }
                    Ok(Sse::Event(_)) => {}
                    Ok(Sse::TooLong(n)) => stream_peer.oversized(n, max),
                    Ok(Sse::Eof) => break stream_peer.close("the SSE stream ended".into()),
                    Err(e) => break stream_peer.close(format!("the SSE stream broke: {e}")),
                }
            }
        })?;
        let post_url = rx
            .recv_timeout(timeout)
            .map_err(|_| McpError::Protocol("no endpoint event on the SSE stream".into()))??;
        let inner = Arc::new(Inner {
            client,
            url: url.to_string(),
            headers: headers.to_vec(),
            session: Mutex::new(None),
            version: Mutex::new(None),
            peer,
            closed: AtomicBool::new(false),
            max,
            timeout,
            mode: Mode::Legacy { post_url },
        });
        *lock(&slot) = Some(inner.clone());
        Ok(Http { inner })
    }
}

/// The legacy endpoint event names a path (or a URL); it must stay on the
/// server's origin, so a server cannot point our POSTs elsewhere.
fn resolve(base: &str, endpoint: &str) -> Result<String, McpError> {
    let base_origin = origin(base);
    let url = if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.to_string()
    } else if endpoint.starts_with('/') {
        format!("{base_origin}{endpoint}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{endpoint}")
    };
    if origin(&url) != base_origin || endpoint.is_empty() {
        return Err(McpError::Protocol(format!(
            "endpoint '{}' is not on the server's origin",
            snippet(endpoint.as_bytes(), 100)
        )));
    }
    Ok(url)
}

fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find(['/', '?', '#']) {
        Some(i) => &url[..start + i],
        None => url,
    }
}

fn is_event_stream(resp: &StreamingResponse) -> bool {
    resp.header("content-type")
        .is_some_and(|c| c.trim_start().starts_with("text/event-stream"))
}

impl Inner {
    fn headers<'a>(
        &'a self,
        session: &'a Option<String>,
        version: &'a Option<String>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut h: Vec<(&str, &str)> = Vec::with_capacity(self.headers.len() + 4);
        if let Some(s) = session {
            h.push(("mcp-session-id", s));
        }
        if let Some(v) = version {
            h.push(("mcp-protocol-version", v));
        }
        h.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        h
    }

    fn post(&self, bytes: &[u8], deadline: Duration) -> Result<StreamingResponse, McpError> {
        let session = lock(&self.session).clone();
        let version = lock(&self.version).clone();
        let mut h = self.headers(&session, &version);
        h.push(("content-type", "application/json"));
        h.push(("accept", "application/json, text/event-stream"));
        let url = match &self.mode {
            Mode::Streamable => self.url.as_str(),
            Mode::Legacy { post_url } => post_url.as_str(),
        };
        let resp =
            self.client
                .send_streaming(Method::Post, url, &h, Some(bytes), Some(deadline))?;
        if resp.status == 404 && session.is_some() {
            // The server forgot our session; a new one needs a fresh
            // initialize, which is what a restart does.
            self.peer
                .close("the server ended the session (HTTP 404)".into());
        }
        Ok(resp)
    }

    /// POSTs a notification or an answer; the server acknowledges with 202.
    fn post_small(&self, bytes: &[u8]) {
        match self.post(bytes, self.timeout) {
            Ok(resp) if resp.is_success() => {}
            Ok(resp) => warn!(
                "mcp {}: server refused a message with HTTP {}",
                self.peer.server, resp.status
            ),
            Err(e) => warn!("mcp {}: sending a message failed: {e}", self.peer.server),
        }
    }

    /// POSTs a request and feeds whatever comes back into the peer.
    fn exchange(self: &Arc<Self>, bytes: &[u8], id: u64, method: &str) {
        let deadline = self.timeout + Duration::from_secs(2);
        let resp = match self.post(bytes, deadline) {
            Ok(r) => r,
            Err(e) => return self.peer.fail(id, e),
        };
        if !resp.is_success() {
            let status = resp.status;
            let body = resp
                .read_body(4096)
                .map(|b| snippet(&b, 200))
                .unwrap_or_default();
            return self.peer.fail(id, McpError::HttpStatus { status, body });
        }
        if method == "initialize" {
            if let Some(s) = resp.header("mcp-session-id") {
                *lock(&self.session) = Some(s.to_string());
            }
        }
        if matches!(self.mode, Mode::Legacy { .. }) {
            // The answer arrives on the SSE stream.
            return;
        }
        if is_event_stream(&resp) {
            self.read_stream(resp, Some(id));
        } else if resp.status == 202 {
            self.peer.fail(
                id,
                McpError::Protocol("HTTP 202 without an answer to a request".into()),
            );
        } else {
            match resp.read_body(self.max as u64) {
                Ok(body) => {
                    for reply in self.peer.deliver_frame(&body) {
                        self.post_small(&reply);
                    }
                }
                Err(e) => self.peer.fail(id, e.into()),
            }
        }
        if !self.peer.is_pending(id) {
            return;
        }
        self.peer.fail(
            id,
            McpError::Protocol("the server's answer did not contain our request's result".into()),
        );
    }

    /// Reads an SSE stream; a POST stream that breaks before its answer is
    /// resumed with GET + `Last-Event-ID`, waiting as long as the server's
    /// `retry` asks.
    fn read_stream(&self, mut resp: StreamingResponse, waiting_for: Option<u64>) {
        let mut last_id: Option<String> = None;
        let mut retry = Duration::from_secs(1);
        let mut resumes = 0;
        loop {
            let mut sse = SseReader::new(BufReader::new(resp), self.max);
            loop {
                match sse.next_event() {
                    Ok(Sse::Event(ev)) => {
                        if let Some(id) = ev.id {
                            last_id = Some(id);
                        }
                        if let Some(ms) = ev.retry_ms {
                            retry = Duration::from_millis(ms.min(60_000));
                        }
                        if !ev.data.is_empty() && (ev.event.is_empty() || ev.event == "message") {
                            for reply in self.peer.deliver_frame(ev.data.as_bytes()) {
                                self.post_small(&reply);
                            }
                        }
                    }
                    Ok(Sse::TooLong(n)) => self.peer.oversized(n, self.max),
                    Ok(Sse::Eof) | Err(_) => break,
                }
            }
            let Some(id) = waiting_for else { return };
            let Some(last) = last_id.clone() else { return };
            if !self.peer.is_pending(id)
                || resumes >= MAX_RESUMES
                || self.closed.load(Ordering::SeqCst)
            {
                return;
            }
            resumes += 1;
            thread::sleep(retry);
            match self.get(Some(&last), Some(self.timeout)) {
                Ok(r) if r.is_success() && is_event_stream(&r) => resp = r,
                Ok(r) => {
                    debug!(
                        "mcp {}: resuming the stream got HTTP {}",
                        self.peer.server, r.status
                    );
                    return;
                }
                Err(e) => {
                    debug!("mcp {}: resuming the stream failed: {e}", self.peer.server);
                    return;
                }
            }
        }
    }

    fn get(
        &self,
        last_event_id: Option<&str>,
        deadline: Option<Duration>,
    ) -> Result<StreamingResponse, McpError> {
        let session = lock(&self.session).clone();
        let version = lock(&self.version).clone();
        let mut h = self.headers(&session, &version);
        h.push(("accept", "text/event-stream"));
        if let Some(last) = last_event_id {
            h.push(("last-event-id", last));
        }
        let resp = self
            .client
            .send_streaming(Method::Get, &self.url, &h, None, deadline)?;
        if resp.status == 404 && session.is_some() {
            self.peer
                .close("the server ended the session (HTTP 404)".into());
        }
        Ok(resp)
    }

    /// The optional GET stream for the server's own notifications
    /// (`tools/list_changed` among them).
    fn listen(&self) {
        while !self.closed.load(Ordering::SeqCst) && self.peer.closed_reason().is_none() {
            match self.get(None, Some(LISTEN_WINDOW)) {
                Ok(r) if r.is_success() && is_event_stream(&r) => self.read_stream(r, None),
                Ok(r) => {
                    // 405: the server offers no such stream; fine.
                    debug!(
                        "mcp {}: no GET stream (HTTP {})",
                        self.peer.server, r.status
                    );
                    return;
                }
                Err(e) => {
                    debug!("mcp {}: GET stream failed: {e}", self.peer.server);
                    thread::sleep(Duration::from_secs(5));
                }
            }
            thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Transport for Http {
    fn send(&self, msg: Outgoing<'_>) -> Result<(), McpError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(McpError::Closed("transport closed".into()));
        }
        let Some(id) = msg.request_id else {
            // Synchronous, so `notifications/initialized` lands before the
            // requests that follow it.
            let resp = self.inner.post(msg.bytes, self.inner.timeout)?;
            if !resp.is_success() {
                return Err(McpError::HttpStatus {
                    status: resp.status,
                    body: resp
                        .read_body(4096)
                        .map(|b| snippet(&b, 200))
                        .unwrap_or_default(),
                });
            }
            return Ok(());
        };
        let inner = self.inner.clone();
        let bytes = msg.bytes.to_vec();
        let method = msg.method.to_string();
        spawn(&format!("mcp-{}-post", inner.peer.server), move || {
            inner.exchange(&bytes, id, &method)
        })
    }

    fn set_protocol_version(&self, version: &str) {
        *lock(&self.inner.version) = Some(version.to_string());
    }

    fn initialized(&self) {
        if self.inner.mode != Mode::Streamable {
            return;
        }
        let inner = self.inner.clone();
        let name = format!("mcp-{}-get", inner.peer.server);
        if let Err(e) = spawn(&name, move || inner.listen()) {
            debug!("mcp: no GET stream: {e}");
        }
    }

    fn close(&self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let session = lock(&self.inner.session).clone();
        if let (Some(_), Mode::Streamable) = (&session, &self.inner.mode) {
            let version = lock(&self.inner.version).clone();
            let h = self.inner.headers(&session, &version);
            let _ = self.inner.client.send_streaming(
                Method::Delete,
                &self.inner.url,
                &h,
                None,
                Some(Duration::from_secs(2)),
            );
        }
    }

    fn kind(&self) -> &'static str {
        match self.inner.mode {
            Mode::Streamable => "http",
            Mode::Legacy { .. } => "http+sse (legacy)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_endpoints_resolve_on_the_servers_origin_only() {
        let base = "http://127.0.0.1:9/sse";
        assert_eq!(
            resolve(base, "/message?sessionId=1").unwrap(),
            "http://127.0.0.1:9/message?sessionId=1"
        );
        assert_eq!(
            resolve(base, "messages").unwrap(),
            "http://127.0.0.1:9/messages"
        );
        assert_eq!(
            resolve(base, "http://127.0.0.1:9/m").unwrap(),
            "http://127.0.0.1:9/m"
        );
        assert!(resolve(base, "http://127.0.0.2:9/m").is_err());
        assert!(resolve(base, "").is_err());
    }
}
