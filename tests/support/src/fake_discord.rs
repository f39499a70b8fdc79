//! A fake Discord on 127.0.0.1 — REST on one port, the Gateway WebSocket on
//! another — following the public docs
//! (<https://discord.com/developers/docs/events/gateway>,
//! <https://discord.com/developers/docs/topics/rate-limits>) where a client
//! could get them wrong:
//!
//! - REST under `/api/v10` wants `Authorization: Bot <token>` (else 401
//!   `{"message": "401: Unauthorized", "code": 0}`); `GET /users/@me`,
//!   `GET /gateway/bot`, `POST /channels/{id}/messages` (content 1..=2000
//!   UTF-16 units, known channel, `message_reference` to an existing
//!   message unless `fail_if_not_exists: false`) and
//!   `POST /channels/{id}/typing` (204);
//! - every REST answer carries `X-RateLimit-Limit/-Remaining/-Reset/
//!   -Reset-After/-Bucket` for its (route, channel) bucket; a request over
//!   the limit, or during a global limit, is a real 429 with `retry_after`
//!   and `global` — and is counted as a violation the tests can assert on;
//! - the gateway wants `?v=10&encoding=json`, sends HELLO, ACKs heartbeats,
//!   answers IDENTIFY with READY (`session_id`, `resume_gateway_url`) or
//!   closes 4004 (bad token) / 4014 (Message Content not allowed), answers
//!   RESUME by replaying every event after `seq` then RESUMED, or op 9 for
//!   an unknown session; more than 120 payloads a minute close it with
//!   4008, a payload before IDENTIFY with 4003, a second IDENTIFY 4005;
//! - events dispatched while the bot is disconnected are kept in its
//!   session and replayed on RESUME, as Discord does.
//!
//! Faults: ACKs off, a socket that never says HELLO, op 1/7/9 injection,
//! close codes, dropped TCP, 429 (route or global) and 5xx injection.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{Scheme, Server};

mod gateway;
mod rest;

pub const BOT_ID: &str = "900000000000000001";
pub const BOT_NAME: &str = "picotest";

/// A message the bot created and the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
    pub channel_id: String,
    pub content: String,
    /// The message replied to, when the reference resolved.
    pub reply_to: Option<String>,
    pub flags: u64,
    /// `allowed_mentions` as sent (`null` when absent).
    pub allowed_mentions: Value,
    /// Uploaded files (`multipart/form-data` `files[n]`): name and bytes.
    pub attachments: Vec<(String, Vec<u8>)>,
}

/// A REST call as received.
#[derive(Debug, Clone)]
pub struct RestCall {
    pub method: String,
    pub path: String,
    pub at: Instant,
    pub status: u16,
    pub user_agent: String,
}

/// A misbehaviour for the next REST call of a route.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429. `global` also blocks every route for `retry_after`.
    RateLimited { retry_after: f64, global: bool },
    /// An error answer `{"message", "code"}`.
    Status {
        status: u16,
        message: String,
        code: u64,
    },
    /// Close the connection without answering.
    Hangup,
}

/// What a connected client sent, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOp {
    Identify(Value),
    Resume(Value),
    Heartbeat(Value),
    Other(Value),
}

#[derive(Debug, Default)]
struct Session {
    /// Every event dispatched in the session: (seq, payload text).
    log: Vec<(u64, String)>,
    seq: u64,
}

#[derive(Debug, Default)]
struct Conn {
    /// Path and query of the upgrade request.
    target: String,
    /// When the upgrade completed.
    at: Option<Instant>,
    /// Set once READY/RESUMED went out: dispatches are delivered.
    session: Option<String>,
    outbox: VecDeque<Out>,
    open: bool,
}

#[derive(Debug, Clone)]
enum Out {
    Text(String),
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Drop,
}

#[derive(Debug)]
struct Bucket {
    remaining: u32,
    reset_at: Instant,
}

struct State {
    token: String,
    heartbeat_interval: Duration,
    acks: bool,
    hello: bool,
    ready: bool,
    message_content_allowed: bool,
    sessions: HashMap<String, Session>,
    /// The bot's current session: where new events go.
    current: Option<String>,
    next_session: u64,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    ops: Vec<(u64, ClientOp)>,
    closes_sent: Vec<u16>,
    /// READY and RESUMED sent.
    readies: usize,
    // REST
    channels: HashMap<String, Vec<String>>,
    next_snowflake: u64,
    sent: Vec<SentMessage>,
    typing: Vec<String>,
    calls: Vec<RestCall>,
    faults: HashMap<String, VecDeque<Fault>>,
    limit: u32,
    window: Duration,
    buckets: HashMap<(String, String), Bucket>,
    global_until: Option<Instant>,
    violations: usize,
    messages: HashMap<String, Value>,
    closed: bool,
    /// CDN path → bytes, served without a token.
    cdn: HashMap<String, Arc<Vec<u8>>>,
    downloads: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    gateway_port: u16,
    /// `Some`: the gateway speaks `wss://` with this certificate.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    /// `ws://127.0.0.1:PORT` or `wss://…`.
    fn gateway_base(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}", self.gateway_port)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running fake; stops when dropped.
pub struct FakeDiscord {
    rest: Server,
    shared: Arc<Shared>,
}

impl FakeDiscord {
    pub fn start(token: &str) -> FakeDiscord {
        FakeDiscord::start_on(token, None)
    }

    /// REST over HTTPS and the gateway over `wss://`, with this server
    /// certificate (see [`crate::tls::TestCa`]).
    pub fn start_tls(token: &str, tls: Arc<rustls::ServerConfig>) -> FakeDiscord {
        FakeDiscord::start_on(token, Some(tls))
    }

    fn start_on(token: &str, tls: Option<Arc<rustls::ServerConfig>>) -> FakeDiscord {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind gateway");
        let gateway_port = listener.local_addr().expect("gateway addr").port();
        let state = State {
            token: token.to_owned(),
            heartbeat_interval: Duration::from_millis(41_250),
            acks: true,
            hello: true,
            ready: true,
            message_content_allowed: true,
            sessions: HashMap::new(),
            current: None,
            next_session: 1,
            conns: HashMap::new(),
            next_conn: 1,
            ops: Vec::new(),
            closes_sent: Vec::new(),
            readies: 0,
            channels: HashMap::new(),
            next_snowflake: 1_100_000_000_000_000_000,
            sent: Vec::new(),
            cdn: HashMap::new(),
            downloads: 0,
            typing: Vec::new(),
            calls: Vec::new(),
            faults: HashMap::new(),
            limit: 50,
            window: Duration::from_secs(1),
            buckets: HashMap::new(),
            global_until: None,
            violations: 0,
            messages: HashMap::new(),
            closed: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            gateway_port,
            tls: tls.clone(),
        });
        gateway::listen(listener, shared.clone());
        let s = shared.clone();
        let scheme = tls.map_or(Scheme::Http, Scheme::Https);
        let rest = Server::start_with(scheme, move |req| rest::handle(&s, req));
        FakeDiscord { rest, shared }
    }

    /// What to put in `api_base`: `http://127.0.0.1:PORT/api/v10` (or
    /// `https://`).
    pub fn api_base(&self) -> String {
        format!("{}/api/v10", self.rest.url())
    }

    /// The gateway URL `GET /gateway/bot` hands out.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_base()
    }

    /// The HELLO `heartbeat_interval` for new connections.
    pub fn set_heartbeat_interval(&self, d: Duration) {
        self.shared.lock().heartbeat_interval = d;
    }

    /// Whether heartbeats are acknowledged (off: a zombie connection).
    pub fn set_acks(&self, on: bool) {
        self.shared.lock().acks = on;
    }

    /// Off: new connections are accepted and upgraded but never get HELLO.
    pub fn set_hello(&self, on: bool) {
        self.shared.lock().hello = on;
    }

    /// Off: IDENTIFY and RESUME get no answer at all.
    pub fn set_ready(&self, on: bool) {
        self.shared.lock().ready = on;
    }

    /// Off: IDENTIFY with the MESSAGE_CONTENT intent is closed with 4014,
    /// as when the intent is not enabled in the developer portal.
    pub fn set_message_content_allowed(&self, on: bool) {
        self.shared.lock().message_content_allowed = on;
    }

    /// REST buckets allow `limit` requests per `window` per route and
    /// channel (default 50 per second).
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        let mut st = self.shared.lock();
        st.limit = limit.max(1);
        st.window = window;
        st.buckets.clear();
    }

    /// Queues a fault for the next call of `route`, e.g.
    /// `"POST /channels/{id}/messages"` (FIFO per route).
    pub fn fail_next(&self, route: &str, fault: Fault) {
        self.shared
            .lock()
            .faults
            .entry(route.to_owned())
            .or_default()
            .push_back(fault);
    }

    fn to_open_conns(&self, out: Out) {
        let mut st = self.shared.lock();
        for c in st.conns.values_mut().filter(|c| c.open) {
            c.outbox.push_back(out.clone());
        }
        if let Out::Close(code, _) = out {
            st.closes_sent.push(code);
        }
    }

    /// op 1: asks the bot for a heartbeat now.
    pub fn request_heartbeat(&self) {
        self.to_open_conns(Out::Text(json!({"op": 1, "d": null}).to_string()));
    }

    /// op 7 Reconnect.
    pub fn send_reconnect(&self) {
        self.to_open_conns(Out::Text(json!({"op": 7, "d": null}).to_string()));
    }

    /// op 9 Invalid Session; not resumable also forgets the session.
    pub fn invalidate_session(&self, resumable: bool) {
        if !resumable {
            let mut st = self.shared.lock();
            if let Some(id) = st.current.take() {
                st.sessions.remove(&id);
            }
        }
        self.to_open_conns(Out::Text(json!({"op": 9, "d": resumable}).to_string()));
    }

    /// Closes every open connection with `code`.
    pub fn close_with(&self, code: u16, reason: &str) {
        self.to_open_conns(Out::Close(code, reason.to_owned()));
    }

    /// Drops every open connection's TCP without a close frame.
    pub fn drop_connections(&self) {
        self.to_open_conns(Out::Drop);
    }

    /// Serves `bytes` as an attachment at a CDN-style URL on the REST
    /// server (`GET /attachments/...`, no token needed) and returns the
    /// attachment object to put in a message's `attachments`.
    pub fn attachment(&self, filename: &str, content_type: &str, bytes: Vec<u8>) -> Value {
        let mut st = self.shared.lock();
        st.next_snowflake += 1;
        let id = st.next_snowflake.to_string();
        let path = format!("/attachments/{id}/{filename}");
        let size = bytes.len();
        st.cdn.insert(path.clone(), Arc::new(bytes));
        json!({"id": id, "filename": filename, "content_type": content_type, "size": size,
               "url": format!("{}{path}", self.rest.url()), "proxy_url": format!("{}{path}", self.rest.url())})
    }

    /// Attachment downloads served so far.
    pub fn downloads(&self) -> usize {
        self.shared.lock().downloads
    }

    /// A DM from `user` with `attachments` (see [`FakeDiscord::attachment`]).
    pub fn dm_with(&self, user: &str, text: &str, attachments: Vec<Value>) -> String {
        let channel = format!("5{user}");
        self.message(json!({
            "channel_id": channel, "content": text,
            "author": author(user), "attachments": attachments,
        }))
    }

    /// A DM from `user` (creating the DM channel); returns the message id.
    pub fn dm(&self, user: &str, text: &str) -> String {
        let channel = format!("5{user}");
        self.message(json!({
            "channel_id": channel, "content": text,
            "author": author(user),
        }))
    }

    /// A message in a guild channel (or thread); `mention` adds
    /// `<@bot>` in front and the bot to `mentions`.
    pub fn guild_message(
        &self,
        guild: &str,
        channel: &str,
        user: &str,
        text: &str,
        mention: bool,
    ) -> String {
        let (content, mentions) = if mention {
            (
                format!("<@{BOT_ID}> {text}"),
                json!([{"id": BOT_ID, "username": BOT_NAME, "bot": true}]),
            )
        } else {
            (text.to_owned(), json!([]))
        };
        self.message(json!({
            "channel_id": channel, "guild_id": guild, "content": content,
            "author": author(user), "member": {"nick": null, "roles": []},
            "mentions": mentions,
        }))
    }

    /// Dispatches `MESSAGE_CREATE` for `partial` (id, type, timestamp and
    /// the usual empty fields filled in); returns the message id.
    pub fn message(&self, mut partial: Value) -> String {
        let id = {
            let mut st = self.shared.lock();
            st.next_snowflake += 1;
            let id = st.next_snowflake.to_string();
            let channel = partial["channel_id"].as_str().unwrap_or("").to_owned();
            st.channels.entry(channel).or_default().push(id.clone());
            id
        };
        let defaults = json!({
            "id": id, "type": 0, "tts": false, "mention_everyone": false,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "timestamp": "2025-01-01T00:00:00.000000+00:00",
        });
        if let (Some(obj), Value::Object(d)) = (partial.as_object_mut(), defaults) {
            for (k, v) in d {
                obj.entry(k).or_insert(v);
            }
        }
        self.shared
            .lock()
            .messages
            .insert(id.clone(), partial.clone());
        self.dispatch("MESSAGE_CREATE", partial);
        id
    }

    /// Dispatches the same `MESSAGE_CREATE` again (a duplicate delivery).
    pub fn redeliver(&self, message_id: &str) {
        let msg = self.shared.lock().messages.get(message_id).cloned();
        if let Some(m) = msg {
            self.dispatch("MESSAGE_CREATE", m);
        }
    }

    /// A thread under `parent`: known to REST and announced with
    /// `THREAD_CREATE`.
    pub fn create_thread(&self, guild: &str, parent: &str, thread: &str) {
        self.shared
            .lock()
            .channels
            .entry(thread.to_owned())
            .or_default();
        self.dispatch(
            "THREAD_CREATE",
            json!({"id": thread, "type": 11, "guild_id": guild, "parent_id": parent, "name": "t"}),
        );
    }

    /// Any dispatch, in the bot's current session (kept for a resume when
    /// it is disconnected; lost when it never identified). Returns its
    /// sequence number.
    pub fn dispatch(&self, name: &str, data: Value) -> Option<u64> {
        let mut st = self.shared.lock();
        let seq = gateway::dispatch(&mut st, name, data);
        self.shared.changed.notify_all();
        seq
    }

    /// Everything the clients sent, oldest first.
    pub fn ops(&self) -> Vec<ClientOp> {
        self.shared
            .lock()
            .ops
            .iter()
            .map(|(_, o)| o.clone())
            .collect()
    }

    pub fn identifies(&self) -> Vec<Value> {
        self.ops()
            .into_iter()
            .filter_map(|o| match o {
                ClientOp::Identify(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    pub fn resumes(&self) -> Vec<Value> {
        self.ops()
            .into_iter()
            .filter_map(|o| match o {
                ClientOp::Resume(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    /// Upgrade targets (path and query) of every connection, oldest first.
    pub fn connections(&self) -> Vec<String> {
        let st = self.shared.lock();
        let mut ids: Vec<&u64> = st.conns.keys().collect();
        ids.sort();
        ids.into_iter()
            .map(|i| st.conns[i].target.clone())
            .collect()
    }

    /// When each connection was upgraded, oldest first.
    pub fn connection_times(&self) -> Vec<Instant> {
        let st = self.shared.lock();
        let mut ids: Vec<&u64> = st.conns.keys().collect();
        ids.sort();
        ids.into_iter().filter_map(|i| st.conns[i].at).collect()
    }

    /// Connections that reached READY or RESUMED and are still open.
    pub fn live_connections(&self) -> usize {
        let st = self.shared.lock();
        st.conns
            .values()
            .filter(|c| c.open && c.session.is_some())
            .count()
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Channel ids the bot showed "typing…" in.
    pub fn typing(&self) -> Vec<String> {
        self.shared.lock().typing.clone()
    }

    pub fn rest_calls(&self) -> Vec<RestCall> {
        self.shared.lock().calls.clone()
    }

    /// Requests made while over a bucket or during a global limit.
    pub fn violations(&self) -> usize {
        self.shared.lock().violations
    }

    /// Waits until `cond` holds on the fake's observations or `timeout`
    /// passes; returns whether it held.
    pub fn wait(&self, timeout: Duration, cond: impl Fn(&FakeDiscord) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            let st = self.shared.lock();
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            drop(self.shared.changed.wait_timeout(st, wait));
        }
    }

    /// Waits for `n` sent messages and returns all of them.
    pub fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        self.wait(timeout, |f| f.sent().len() >= n);
        self.sent()
    }

    /// Waits until `n` connections reached READY/RESUMED in total.
    pub fn wait_for_ready(&self, n: usize, timeout: Duration) -> bool {
        self.wait(timeout, |f| f.ready_count() >= n)
    }

    /// READY and RESUMED sent so far.
    pub fn ready_count(&self) -> usize {
        self.shared.lock().readies
    }

    /// Close codes the fake sent, oldest first.
    pub fn closes_sent(&self) -> Vec<u16> {
        self.shared.lock().closes_sent.clone()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.shared.gateway_port));
    }
}

fn author(user: &str) -> Value {
    json!({
        "id": user, "username": format!("user{user}"), "global_name": format!("User {user}"),
        "discriminator": "0", "avatar": null,
    })
}
