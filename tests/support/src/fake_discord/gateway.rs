//! The fake's Gateway: one thread per WebSocket. Everything a connection
//! must send goes through its outbox (under the state lock), so a RESUME
//! replay and new dispatches keep their order.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::{ClientOp, Conn, Out, Session, Shared, State, BOT_ID, BOT_NAME};

pub(super) fn listen(listener: TcpListener, shared: Arc<Shared>) {
    thread::spawn(move || {
        for conn in listener.incoming() {
            if shared.lock().closed {
                break;
            }
            let Ok(conn) = conn else { continue };
            let s = shared.clone();
            thread::spawn(move || serve(conn, &s));
        }
    });
}

/// Appends a dispatch to the current session and delivers it to the
/// connection that holds the session, if any.
pub(super) fn dispatch(st: &mut State, name: &str, data: Value) -> Option<u64> {
    let sid = st.current.clone()?;
    let sess = st.sessions.get_mut(&sid)?;
    sess.seq += 1;
    let seq = sess.seq;
    let payload = json!({"op": 0, "t": name, "s": seq, "d": data}).to_string();
    sess.log.push((seq, payload.clone()));
    for c in st.conns.values_mut() {
        if c.open && c.session.as_deref() == Some(sid.as_str()) {
            c.outbox.push_back(Out::Text(payload.clone()));
        }
    }
    Some(seq)
}

/// The accepted socket, plain or TLS.
enum GwStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for GwStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            GwStream::Plain(s) => s.read(buf),
            GwStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for GwStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            GwStream::Plain(s) => s.write(buf),
            GwStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            GwStream::Plain(s) => s.flush(),
            GwStream::Tls(s) => s.flush(),
        }
    }
}

fn serve(tcp: TcpStream, shared: &Arc<Shared>) {
    let mut target = String::new();
    let Ok(raw) = tcp.try_clone() else { return };
    let _ = raw.set_read_timeout(Some(Duration::from_secs(10)));
    let stream = match &shared.tls {
        None => GwStream::Plain(tcp),
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            let mut s = rustls::StreamOwned::new(conn, tcp);
            while s.conn.is_handshaking() {
                if s.conn.complete_io(&mut s.sock).is_err() {
                    return;
                }
            }
            GwStream::Tls(Box::new(s))
        }
    };
    // The signature is tungstenite's; its error type is large by design.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        target = req.uri().to_string();
        Ok(resp)
    };
    let Ok(mut ws) = tungstenite::accept_hdr(stream, callback) else {
        return;
    };
    let _ = raw.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = raw.set_nodelay(true);
    let id = {
        let mut st = shared.lock();
        st.next_conn += 1;
        let id = st.next_conn;
        let mut conn = Conn {
            target: target.clone(),
            at: Some(Instant::now()),
            open: true,
            ..Conn::default()
        };
        if !(target.contains("v=10") && target.contains("encoding=json")) {
            conn.outbox
                .push_back(Out::Close(4012, String::from("Invalid API version.")));
        } else if st.hello {
            let ms = st.heartbeat_interval.as_millis() as u64;
            conn.outbox.push_back(Out::Text(
                json!({"op": 10, "d": {"heartbeat_interval": ms}, "s": null, "t": null})
                    .to_string(),
            ));
        }
        st.conns.insert(id, conn);
        shared.changed.notify_all();
        id
    };
    let mut client = Client {
        id,
        identified: false,
        sends: VecDeque::new(),
    };
    'conn: loop {
        let outs: Vec<Out> = {
            let mut st = shared.lock();
            if st.closed {
                break;
            }
            st.conns
                .get_mut(&id)
                .map(|c| c.outbox.drain(..).collect())
                .unwrap_or_default()
        };
        for out in outs {
            match out {
                Out::Text(t) => {
                    if ws.send(Message::text(t)).is_err() {
                        break 'conn;
                    }
                }
                Out::Close(code, reason) => {
                    shared.lock().closes_sent.push(code);
                    let _ = ws.close(Some(CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    }));
                    let _ = ws.flush();
                    break 'conn;
                }
                Out::Drop => break 'conn,
            }
        }
        match ws.read() {
            Ok(Message::Text(t)) => {
                let mut st = shared.lock();
                client.handle(&mut st, &shared.gateway_base(), t.as_str());
                shared.changed.notify_all();
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = raw.shutdown(std::net::Shutdown::Both);
    let mut st = shared.lock();
    if let Some(c) = st.conns.get_mut(&id) {
        c.open = false;
        c.session = None;
    }
    shared.changed.notify_all();
}

struct Client {
    id: u64,
    identified: bool,
    /// Send times in the last minute, for the 120/60 s limit.
    sends: VecDeque<Instant>,
}

impl Client {
    fn out(&self, st: &mut State, out: Out) {
        if let Some(c) = st.conns.get_mut(&self.id) {
            c.outbox.push_back(out);
        }
    }

    fn close(&self, st: &mut State, code: u16, reason: &str) {
        self.out(st, Out::Close(code, reason.to_owned()));
    }

    fn handle(&mut self, st: &mut State, gateway: &str, text: &str) {
        let now = Instant::now();
        while self
            .sends
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.sends.pop_front();
        }
        self.sends.push_back(now);
        if self.sends.len() > 120 {
            return self.close(st, 4008, "Rate limited.");
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return self.close(st, 4002, "Error while decoding payload.");
        };
        let op = v.get("op").and_then(Value::as_u64);
        let d = v.get("d").cloned().unwrap_or(Value::Null);
        match op {
            Some(1) => {
                st.ops.push((self.id, ClientOp::Heartbeat(d)));
                if st.acks {
                    self.out(st, Out::Text(json!({"op": 11}).to_string()));
                }
            }
            Some(2) => {
                st.ops.push((self.id, ClientOp::Identify(d.clone())));
                if self.identified {
                    return self.close(st, 4005, "Already authenticated.");
                }
                if d.get("token").and_then(Value::as_str) != Some(st.token.as_str()) {
                    return self.close(st, 4004, "Authentication failed.");
                }
                let intents = d.get("intents").and_then(Value::as_u64).unwrap_or(0);
                if intents & (1 << 15) != 0 && !st.message_content_allowed {
                    return self.close(st, 4014, "Disallowed intent(s).");
                }
                if !st.ready {
                    return;
                }
                self.identified = true;
                let sid = format!("fake-session-{}", st.next_session);
                st.next_session += 1;
                st.sessions.insert(sid.clone(), Session::default());
                st.current = Some(sid.clone());
                let seq = next_seq(st, &sid);
                let ready = json!({
                    "op": 0, "t": "READY", "s": seq,
                    "d": {
                        "v": 10,
                        "user": {"id": BOT_ID, "username": BOT_NAME, "bot": true, "discriminator": "0"},
                        "guilds": [],
                        "session_id": sid,
                        "resume_gateway_url": format!("{gateway}/resume"),
                        "application": {"id": BOT_ID, "flags": 0},
                    }
                });
                self.out(st, Out::Text(ready.to_string()));
                self.attach(st, &sid);
            }
            Some(6) => {
                st.ops.push((self.id, ClientOp::Resume(d.clone())));
                if d.get("token").and_then(Value::as_str) != Some(st.token.as_str()) {
                    return self.close(st, 4004, "Authentication failed.");
                }
                let sid = d
                    .get("session_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let after = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
                let Some(sess) = st.sessions.get(&sid) else {
                    return self.out(st, Out::Text(json!({"op": 9, "d": false}).to_string()));
                };
                if !st.ready {
                    return;
                }
                let replay: Vec<String> = sess
                    .log
                    .iter()
                    .filter(|(s, _)| *s > after)
                    .map(|(_, p)| p.clone())
                    .collect();
                for p in replay {
                    self.out(st, Out::Text(p));
                }
                let seq = next_seq(st, &sid);
                self.out(
                    st,
                    Out::Text(json!({"op": 0, "t": "RESUMED", "s": seq, "d": null}).to_string()),
                );
                self.identified = true;
                st.current = Some(sid.clone());
                self.attach(st, &sid);
            }
            Some(_) if !self.identified => self.close(st, 4003, "Not authenticated."),
            Some(_) => st.ops.push((self.id, ClientOp::Other(v))),
            None => self.close(st, 4001, "Unknown opcode."),
        }
    }

    /// This connection now receives the session's dispatches (any other
    /// connection holding it loses it, as on Discord).
    fn attach(&self, st: &mut State, sid: &str) {
        for (id, c) in st.conns.iter_mut() {
            if *id != self.id && c.session.as_deref() == Some(sid) {
                c.session = None;
            }
        }
        if let Some(c) = st.conns.get_mut(&self.id) {
            c.session = Some(sid.to_owned());
        }
        st.readies += 1;
    }
}

fn next_seq(st: &mut State, sid: &str) -> u64 {
    match st.sessions.get_mut(sid) {
        Some(s) => {
            s.seq += 1;
            s.seq
        }
        None => 0,
    }
}
