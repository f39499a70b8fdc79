//! The gateway thread: one blocking WebSocket at a time, rebuilt whenever
//! it stops proving it is alive.
//!
//! A connection is dead, and replaced (resuming the session), when:
//! - no HELLO arrives within `timeout` of the upgrade, or no READY/RESUMED
//!   within `timeout` of IDENTIFY/RESUME (a resume replay extends it);
//! - a heartbeat is due and the previous one was never acknowledged (the
//!   "zombie" rule of the docs);
//! - nothing at all (no dispatch, no ACK) arrived for two heartbeat
//!   intervals.
//!
//! Reads use a timeout no longer than the next deadline (at most a
//! second), so an idle bot wakes about once a second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use picoclaw_core::{debug, error, info, warn, Backoff};
use picoclaw_http::{open_websocket, HttpError, Stream, StreamOptions};
use serde_json::Value;
use tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::inbound::{classify, Rules, Threads, Verdict};
use super::protocol::{self, CloseAction, Event, SendWindow};
use super::state::{Resume, Shared};
use picoclaw_core::LinkState;

/// What the gateway thread needs.
pub(crate) struct Gateway {
    pub shared: Arc<Shared>,
    pub token: String,
    /// From `GET /gateway/bot`.
    pub url: String,
    pub rules: Rules,
    pub threads: Threads,
    /// HELLO and READY/RESUMED deadline, and the connect timeout.
    pub timeout: Duration,
    pub proxy: Option<String>,
    pub user_agent: String,
    pub rng: u64,
}

/// How one connection ended.
enum End {
    Shutdown,
    Stop(String),
    Again {
        why: String,
        /// The session cannot be resumed: IDENTIFY next time.
        fresh: bool,
        /// Wait this long instead of the backoff.
        delay: Option<Duration>,
    },
}

fn again(why: impl Into<String>) -> End {
    End::Again {
        why: why.into(),
        fresh: false,
        delay: None,
    }
}

/// A connection that reached READY/RESUMED and stayed up this long resets
/// the backoff; shorter ones keep backing off, so a gateway that accepts
/// and drops us at once is not hammered (IDENTIFY is limited per day).
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

impl Gateway {
    pub(crate) fn run(mut self, mut session: Option<Resume>) {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut wait = Duration::ZERO;
        loop {
            if !wait.is_zero() && !self.shared.nap(wait) && self.shared.stopping() {
                return;
            }
            self.shared.reconnect.store(false, Ordering::SeqCst);
            self.shared.wait_room();
            if self.shared.stopping() {
                return;
            }
            let started = Instant::now();
            let (end, was_up) = self.connection(&mut session);
            if self.shared.stopping() {
                // Dropped while connected: whatever broke is moot.
                return;
            }
            match end {
                End::Shutdown => return,
                End::Stop(reason) => {
                    error!("discord: channel stopped: {reason}");
                    self.shared.fail(reason);
                    return;
                }
                End::Again { why, fresh, delay } => {
                    if fresh {
                        session = None;
                    }
                    if was_up && started.elapsed() >= HEALTHY_AFTER {
                        backoff.reset();
                    }
                    wait = delay.unwrap_or_else(|| backoff.next_delay());
                    self.shared.set_state(LinkState::Reconnecting);
                    warn!(
                        "discord: {why}; {} in {} ms",
                        if session.is_some() {
                            "resuming"
                        } else {
                            "identifying"
                        },
                        wait.as_millis()
                    );
                }
            }
        }
    }

    fn random(&mut self) -> f64 {
        // xorshift64: jitter needs spread, not secrecy.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One WebSocket from upgrade to close. The bool says whether it
    /// reached READY/RESUMED.
    fn connection(&mut self, session: &mut Option<Resume>) -> (End, bool) {
        let base = session
            .as_ref()
            .map_or(self.url.as_str(), |s| s.url.as_str());
        let url = protocol::gateway_url(base);
        let opts = StreamOptions {
            connect_timeout: self.timeout,
            proxy: self.proxy.clone(),
        };
        let up = match open_websocket(&url, &self.user_agent, &opts) {
            Ok(up) => up,
            Err(HttpError::Invalid(why)) if session.is_some() => {
                let end = End::Again {
                    why: format!("unusable resume URL ({why})"),
                    fresh: true,
                    delay: Some(Duration::ZERO),
                };
                return (end, false);
            }
            Err(HttpError::Invalid(why)) => {
                return (End::Stop(format!("unusable gateway URL: {why}")), false)
            }
            Err(e) => return (again(format!("cannot open the gateway ({e})")), false),
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(8 << 20))
            .max_frame_size(Some(8 << 20));
        let _ = up.stream.set_write_timeout(Some(Duration::from_secs(10)));
        let ws = WebSocket::from_partially_read(up.stream, up.leftover, Role::Client, Some(config));
        let mut conn = Conn {
            ws,
            window: SendWindow::new(),
        };
        let mut up = false;
        let end = self.session(&mut conn, session, &mut up);
        conn.close();
        (end, up)
    }

    fn session(&mut self, conn: &mut Conn, session: &mut Option<Resume>, up: &mut bool) -> End {
        // HELLO first.
        let hello_by = Instant::now() + self.timeout;
        let interval = loop {
            if self.shared.stopping() {
                return End::Shutdown;
            }
            let left = hello_by.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return again(format!(
                    "no HELLO within {} ms of connecting",
                    self.timeout.as_millis()
                ));
            }
            match conn.read(left.min(Duration::from_secs(1))) {
                Read::Text(t) => match protocol::parse(&t) {
                    Ok(Event::Hello { interval }) => break interval,
                    Ok(_) => debug!("discord: payload before HELLO ignored"),
                    Err(why) => warn!("discord: unreadable payload: {why}"),
                },
                Read::Idle => {}
                Read::Closed(code) => return self.closed(code),
                Read::Failed(why) => return again(why),
            }
        };
        let hello = match session {
            Some(s) => protocol::resume(&self.token, &s.session_id, s.seq),
            None => protocol::identify(&self.token),
        };
        if let Err(why) = conn.send(hello, &self.shared) {
            return again(why);
        }
        let now = Instant::now();
        let mut ready_by = Some(now + self.timeout);
        let mut next_beat = now + interval.mul_f64(self.random());
        let mut acked = true;
        let mut heard = now;
        loop {
            if self.shared.stopping() {
                return End::Shutdown;
            }
            if self.shared.reconnect.swap(false, Ordering::SeqCst) {
                return End::Again {
                    why: String::from("reconnect requested"),
                    fresh: false,
                    delay: Some(Duration::ZERO),
                };
            }
            let now = Instant::now();
            if ready_by.is_some_and(|d| now >= d) {
                return again(format!(
                    "no {} within {} ms",
                    if session.is_some() {
                        "RESUMED"
                    } else {
                        "READY"
                    },
                    self.timeout.as_millis()
                ));
            }
            if now.duration_since(heard) >= interval * 2 {
                return again(
                    "nothing received (no dispatch, no heartbeat ACK) for two heartbeat intervals",
                );
            }
            if now >= next_beat {
                if !acked {
                    return again("no HEARTBEAT_ACK since the last heartbeat (zombie connection)");
                }
                if let Err(why) = conn.send(
                    protocol::heartbeat(session.as_ref().map(|s| s.seq)),
                    &self.shared,
                ) {
                    return again(why);
                }
                acked = false;
                next_beat = now + interval;
            }
            let mut until = next_beat.min(heard + interval * 2);
            if let Some(d) = ready_by {
                until = until.min(d);
            }
            let wait = until
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(5), Duration::from_secs(1));
            let text = match conn.read(wait) {
                Read::Text(t) => t,
                Read::Idle => continue,
                Read::Closed(code) => return self.closed(code),
                Read::Failed(why) => return again(why),
            };
            heard = Instant::now();
            self.shared.heard();
            let event = match protocol::parse(&text) {
                Ok(e) => e,
                Err(why) => {
                    warn!("discord: unreadable payload: {why}");
                    continue;
                }
            };
            match event {
                Event::HeartbeatAck => acked = true,
                Event::HeartbeatRequest => {
                    if let Err(why) = conn.send(
                        protocol::heartbeat(session.as_ref().map(|s| s.seq)),
                        &self.shared,
                    ) {
                        return again(why);
                    }
                }
                Event::Reconnect => {
                    return End::Again {
                        why: String::from("the gateway asked to reconnect (op 7)"),
                        fresh: false,
                        delay: Some(Duration::ZERO),
                    }
                }
                Event::InvalidSession { resumable } => {
                    // The documented wait before identifying again.
                    let wait = Duration::from_millis(1000 + (self.random() * 4000.0) as u64);
                    return End::Again {
                        why: format!(
                            "invalid session (op 9, {})",
                            if resumable {
                                "resumable"
                            } else {
                                "not resumable"
                            }
                        ),
                        fresh: !resumable,
                        delay: Some(wait),
                    };
                }
                Event::Hello { .. } | Event::Other(_) => {}
                Event::Dispatch { seq, name, data } => {
                    if ready_by.is_some() {
                        // A resume replays missed events before RESUMED.
                        ready_by = Some(Instant::now() + self.timeout);
                    }
                    match self.dispatch(session, seq, &name, data, up) {
                        Ok(true) => ready_by = None,
                        Ok(false) => {}
                        Err(end) => return end,
                    }
                }
            }
        }
    }

    /// Handles one dispatch. `Ok(true)` when it was READY or RESUMED.
    fn dispatch(
        &mut self,
        session: &mut Option<Resume>,
        seq: Option<u64>,
        name: &str,
        data: Value,
        up: &mut bool,
    ) -> Result<bool, End> {
        if name == "READY" {
            let id = data.get("session_id").and_then(Value::as_str);
            let url = data.get("resume_gateway_url").and_then(Value::as_str);
            let (Some(id), Some(url)) = (id, url) else {
                return Err(again("READY without session_id or resume_gateway_url"));
            };
            let s = Resume {
                session_id: id.to_owned(),
                seq: seq.unwrap_or(0),
                url: url.to_owned(),
            };
            self.shared.commit(&s, None);
            *session = Some(s);
            *up = true;
            self.shared.set_state(LinkState::Up);
            let user = data
                .pointer("/user/username")
                .and_then(Value::as_str)
                .unwrap_or("?");
            info!("discord: gateway ready as {user}");
            return Ok(true);
        }
        let Some(s) = session.as_mut() else {
            debug!("discord: {name} before READY ignored");
            return Ok(false);
        };
        let next = Resume {
            seq: seq.unwrap_or(s.seq).max(s.seq),
            ..s.clone()
        };
        let item = if name == "MESSAGE_CREATE" {
            self.message(&data)
        } else {
            self.threads.observe(name, &data);
            None
        };
        if !self.shared.commit(&next, item) {
            // Not recorded: the resume replays it once poll made room.
            return Err(End::Again {
                why: String::from("inbound queue full (messages are not being stored)"),
                fresh: false,
                delay: Some(Duration::ZERO),
            });
        }
        *s = next;
        if name == "RESUMED" {
            *up = true;
            self.shared.set_state(LinkState::Up);
            info!("discord: session resumed at seq {}", s.seq);
            return Ok(true);
        }
        Ok(false)
    }

    fn message(&self, data: &Value) -> Option<picoclaw_core::Inbound> {
        let id = data.get("id").and_then(Value::as_str).unwrap_or("?");
        match classify(data, &self.rules, &self.threads) {
            Verdict::Accept(item) => Some(item),
            Verdict::Ignore(why) => {
                debug!("discord: message {id}: {why}");
                None
            }
            Verdict::OutOfScope(why) => {
                debug!("discord: message {id}: {why}");
                None
            }
            Verdict::Malformed(why) => {
                warn!("discord: skipping message {id}: {why}");
                None
            }
        }
    }

    fn closed(&self, code: Option<u16>) -> End {
        let Some(code) = code else {
            return again("the gateway closed the connection");
        };
        match protocol::on_close(code) {
            CloseAction::Resume => again(format!("the gateway closed the connection ({code})")),
            CloseAction::Identify => End::Again {
                why: format!("the gateway closed the connection ({code}: session gone)"),
                fresh: true,
                delay: None,
            },
            CloseAction::Stop(why) => End::Stop(why),
        }
    }
}

/// A seed for jitter that differs between processes and restarts.
pub(crate) fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

enum Read {
    Text(String),
    /// Nothing within the timeout (or a control frame).
    Idle,
    /// A close frame (with its code) or a clean end of stream.
    Closed(Option<u16>),
    Failed(String),
}

struct Conn {
    ws: WebSocket<Stream>,
    window: SendWindow,
}

impl Conn {
    fn read(&mut self, timeout: Duration) -> Read {
        let _ = self.ws.get_ref().set_read_timeout(Some(timeout));
        match self.ws.read() {
            Ok(Message::Text(t)) => Read::Text(t.as_str().to_owned()),
            // Pings are answered by the library on the next flush.
            Ok(Message::Ping(_)) => {
                let _ = self.ws.flush();
                Read::Idle
            }
            Ok(Message::Close(frame)) => Read::Closed(frame.map(|f| u16::from(f.code))),
            Ok(_) => Read::Idle,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Read::Idle
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Read::Closed(None)
            }
            Err(e) => Read::Failed(format!("gateway connection failed: {e}")),
        }
    }

    /// Sends one payload within the gateway's 120-per-minute limit.
    fn send(&mut self, text: String, shared: &Shared) -> Result<(), String> {
        let wait = self.window.wait(Instant::now());
        if !wait.is_zero() {
            warn!(
                "discord: gateway send limit reached; waiting {} ms",
                wait.as_millis()
            );
            shared.nap(wait);
        }
        self.window.record(Instant::now());
        self.ws
            .send(Message::text(text))
            .map_err(|e| format!("cannot send to the gateway: {e}"))
    }

    /// Closes with 4000 (not 1000/1001, which would end the session and
    /// forbid resuming), without waiting for the answer.
    fn close(&mut self) {
        let _ = self
            .ws
            .get_ref()
            .set_write_timeout(Some(Duration::from_secs(2)));
        let _ = self.ws.close(Some(CloseFrame {
            code: CloseCode::from(4000),
            reason: "reconnecting".into(),
        }));
        let _ = self.ws.flush();
        self.ws.get_ref().shutdown();
    }
}
