//! A fake Telegram Bot API server on 127.0.0.1, faithful to the public
//! docs (<https://core.telegram.org/bots/api>) where a client could get
//! them wrong:
//!
//! - requests go to `/bot<token>/<method>` (method names case-insensitive);
//!   a wrong token is 401 `Unauthorized`, an unknown method 404 `Not Found`;
//!   parameters come from the query string, a JSON body or a form body;
//! - every answer is `{"ok":true,"result":...}` or
//!   `{"ok":false,"error_code":N,"description":"..."}`, 429 adding
//!   `"parameters":{"retry_after":S}`;
//! - `getUpdates` honours `offset` (updates below it are confirmed and
//!   forgotten for good; a negative offset keeps only the last ones),
//!   `limit`, `timeout` (a real long poll that wakes when an update is
//!   pushed) and `allowed_updates`; a second poller terminates the first
//!   with 409, and so does a webhook ([`FakeTelegram::set_webhook_conflict`]);
//! - `sendMessage` knows only chats it has seen, checks the text is
//!   non-empty and at most 4096 UTF-16 units after entity parsing, parses
//!   `parse_mode` HTML strictly (see `html.rs`) and answers 400
//!   `Bad Request: can't parse entities: ...` like Telegram, and checks
//!   replies point at an existing message unless
//!   `allow_sending_without_reply`;
//! - `sendChatAction` accepts only the documented actions.
//!
//! Tests push updates ([`FakeTelegram::push_text`], [`Incoming`],
//! [`FakeTelegram::push_update`]), read what the bot sent
//! ([`FakeTelegram::sent`], [`FakeTelegram::wait_for_sent`]) and inject
//! faults per method ([`FakeTelegram::fail_next`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::http::{Reply, Request, Server};

mod html;
mod incoming;

pub use incoming::Incoming;

/// A message the bot sent and the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub message_id: i64,
    pub chat_id: i64,
    /// The `text` parameter exactly as sent.
    pub text: String,
    /// What the user sees: tags removed and entities decoded for HTML.
    pub visible: String,
    pub parse_mode: Option<String>,
    /// The message replied to, when it exists in the chat.
    pub reply_to: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAction {
    pub chat_id: i64,
    pub action: String,
}

/// An error answer the fake produced on its own (not an injected fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub method: String,
    pub code: u16,
    pub description: String,
}

/// A misbehaviour for the next call of a method.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An `ok:false` answer; `retry_after` adds `parameters.retry_after`.
    Status {
        code: u16,
        description: String,
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    Hangup,
    /// `200 OK` with an HTML page instead of JSON.
    NonJson,
    /// A JSON body cut off before its announced length.
    Truncated,
    /// Answer normally, but only after this long.
    Delay(Duration),
}

impl Fault {
    pub fn status(code: u16, description: &str) -> Fault {
        Fault::Status {
            code,
            description: description.to_owned(),
            retry_after: None,
        }
    }

    /// 429 as Telegram sends it.
    pub fn rate_limited(retry_after: u64) -> Fault {
        Fault::Status {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }
}

#[derive(Default)]
struct Chat {
    kind: String,
    next_message_id: i64,
    /// message_id → the message as Telegram would embed it in a reply.
    messages: HashMap<i64, Value>,
}

struct State {
    bot: Value,
    updates: VecDeque<Value>,
    next_update_id: i64,
    confirmed_offset: i64,
    get_updates_calls: usize,
    poll_generation: u64,
    allowed_updates: Option<Vec<String>>,
    chats: HashMap<i64, Chat>,
    blocked: HashSet<i64>,
    sent: Vec<SentMessage>,
    actions: Vec<ChatAction>,
    rejections: Vec<Rejection>,
    faults: HashMap<String, VecDeque<Fault>>,
    webhook_conflict: bool,
    commands: Option<Value>,
    closed: bool,
}

struct Shared {
    token: String,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge every other assertion.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running fake; stops when dropped.
pub struct FakeTelegram {
    server: Server,
    shared: Arc<Shared>,
}

const FIRST_UPDATE_ID: i64 = 731_000_001;

impl FakeTelegram {
    /// Starts a fake for `token`, e.g. `"123456:TEST-token"`; the bot's id
    /// is the number before the colon.
    pub fn start(token: &str) -> FakeTelegram {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(7_000_001);
        let state = State {
            bot: json!({
                "id": bot_id, "is_bot": true, "first_name": "Pico Test",
                "username": "picotest_bot", "can_join_groups": true,
                "can_read_all_group_messages": false, "supports_inline_queries": false,
            }),
            updates: VecDeque::new(),
            next_update_id: FIRST_UPDATE_ID,
            confirmed_offset: 0,
            get_updates_calls: 0,
            poll_generation: 0,
            allowed_updates: None,
            chats: HashMap::new(),
            blocked: HashSet::new(),
            sent: Vec::new(),
            actions: Vec::new(),
            rejections: Vec::new(),
            faults: HashMap::new(),
            webhook_conflict: false,
            commands: None,
            closed: false,
        };
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            state: Mutex::new(state),
            changed: Condvar::new(),
        });
        let handler_shared = shared.clone();
        let server = Server::start(move |req| handle(&handler_shared, req));
        FakeTelegram { server, shared }
    }

    /// What to put in `api_base`: `http://127.0.0.1:PORT`.
    pub fn api_base(&self) -> String {
        self.server.url()
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    pub fn bot_id(&self) -> i64 {
        self.shared.lock().bot["id"].as_i64().unwrap_or(0)
    }

    /// `picotest_bot`.
    pub fn bot_username(&self) -> String {
        self.shared.lock().bot["username"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// A text message: a private chat when `chat_id == from_id`, else a
    /// supergroup. `username` may be empty. Returns the update_id.
    pub fn push_text(&self, chat_id: i64, from_id: i64, username: &str, text: &str) -> i64 {
        let msg = if chat_id == from_id {
            Incoming::direct(from_id, username)
        } else {
            Incoming::group(chat_id, from_id, username)
        };
        self.push(msg.text(text))
    }

    /// Pushes a message built with [`Incoming`]; returns the update_id.
    pub fn push(&self, msg: Incoming) -> i64 {
        let mut st = self.shared.lock();
        let message = msg.build(&mut st.chats);
        drop(st);
        self.push_update(json!({ "message": message }))
    }

    /// Pushes any update. An `update_id` is assigned unless present.
    /// Returns the update_id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut st = self.shared.lock();
        let id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => id,
            None => st.next_update_id,
        };
        st.next_update_id = st.next_update_id.max(id + 1);
        if let Some(obj) = update.as_object_mut() {
            obj.insert("update_id".into(), json!(id));
        }
        let pos = st
            .updates
            .iter()
            .position(|u| u["update_id"].as_i64().unwrap_or(0) > id)
            .unwrap_or(st.updates.len());
        st.updates.insert(pos, update);
        self.shared.changed.notify_all();
        id
    }

    /// The message id the next message in `chat_id` will get.
    pub fn next_message_id(&self, chat_id: i64) -> i64 {
        let st = self.shared.lock();
        st.chats.get(&chat_id).map_or(1, |c| c.next_message_id)
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Waits until at least `n` messages were sent or `timeout` passed, and
    /// returns all sent messages either way.
    pub fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        self.wait_until(timeout, |st| st.sent.len() >= n);
        self.sent()
    }

    pub fn chat_actions(&self) -> Vec<ChatAction> {
        self.shared.lock().actions.clone()
    }

    /// Errors the fake produced itself (validation), oldest first.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.shared.lock().rejections.clone()
    }

    /// Every `getUpdates` request that carried the right token, faulted
    /// ones included.
    pub fn get_updates_calls(&self) -> usize {
        self.shared.lock().get_updates_calls
    }

    /// Waits until `getUpdates` was called `n` times; returns the count.
    pub fn wait_for_get_updates(&self, n: usize, timeout: Duration) -> usize {
        self.wait_until(timeout, |st| st.get_updates_calls >= n);
        self.get_updates_calls()
    }

    /// The highest `offset` a `getUpdates` call confirmed updates with (0
    /// before any): every update_id below it is gone for good.
    pub fn confirmed_offset(&self) -> i64 {
        self.shared.lock().confirmed_offset
    }

    /// Waits until the confirmed offset reaches `offset`; returns it.
    pub fn wait_for_confirmed(&self, offset: i64, timeout: Duration) -> i64 {
        self.wait_until(timeout, |st| st.confirmed_offset >= offset);
        self.confirmed_offset()
    }

    /// Updates not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// Queues a fault for the next call of `method` (FIFO per method).
    pub fn fail_next(&self, method: &str, fault: Fault) {
        let mut st = self.shared.lock();
        st.faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(fault);
    }

    /// While set, `getUpdates` answers 409 as if a webhook were active
    /// (until the bot calls `deleteWebhook`).
    pub fn set_webhook_conflict(&self, on: bool) {
        self.shared.lock().webhook_conflict = on;
        self.shared.changed.notify_all();
    }

    /// The user blocked the bot: sends to this chat get 403.
    pub fn block_chat(&self, chat_id: i64) {
        self.shared.lock().blocked.insert(chat_id);
    }

    /// The last `setMyCommands` list.
    pub fn my_commands(&self) -> Option<Value> {
        self.shared.lock().commands.clone()
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while !done(&st) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            st = match self.shared.changed.wait_timeout(st, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn ok(result: Value) -> Reply {
    Reply::json(200, &json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str, retry_after: Option<u64>) -> Reply {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(s) = retry_after {
        body["parameters"] = json!({"retry_after": s});
    }
    let reply = Reply::json(code, &body);
    match retry_after {
        Some(s) => reply.with_header("retry-after", &s.to_string()),
        None => reply,
    }
}

fn handle(shared: &Shared, req: &Request) -> Reply {
    let Some(rest) = req.path.strip_prefix("/bot") else {
        return error(404, "Not Found", None);
    };
    let Some((token, method)) = rest.split_once('/') else {
        return error(404, "Not Found", None);
    };
    if token != shared.token {
        return error(401, "Unauthorized", None);
    }
    let method = method.to_ascii_lowercase();
    const KNOWN: &[&str] = &[
        "getme",
        "getupdates",
        "sendmessage",
        "sendchataction",
        "setmycommands",
        "deletewebhook",
        "getwebhookinfo",
    ];
    if !KNOWN.contains(&method.as_str()) {
        return error(404, "Not Found", None);
    }
    let fault = {
        let mut st = shared.lock();
        if method == "getupdates" {
            st.get_updates_calls += 1;
            shared.changed.notify_all();
        }
        st.faults.get_mut(&method).and_then(VecDeque::pop_front)
    };
    match fault {
        Some(Fault::Status {
            code,
            description,
            retry_after,
        }) => return error(code, &description, retry_after),
        Some(Fault::Hangup) => return Reply::Hangup,
        Some(Fault::NonJson) => {
            return Reply::raw(
                200,
                "text/html",
                "<html><body><h1>Welcome to nginx!</h1></body></html>",
            )
        }
        Some(Fault::Truncated) => {
            return Reply::Truncated {
                status: 200,
                body: br#"{"ok":true,"result":[{"update_id":7310"#.to_vec(),
            }
        }
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        None => {}
    }
    let params = match params(req) {
        Ok(p) => p,
        Err(desc) => return reject(shared, &method, 400, &desc),
    };
    let result = match method.as_str() {
        "getme" => Ok(shared.lock().bot.clone()),
        "getupdates" => get_updates(shared, &params),
        "sendmessage" => send_message(shared, &params),
        "sendchataction" => send_chat_action(shared, &params),
        "setmycommands" => match params.get("commands") {
            Some(Value::Array(list)) => {
                shared.lock().commands = Some(Value::Array(list.clone()));
                Ok(json!(true))
            }
            _ => Err((
                400,
                String::from("Bad Request: parameter \"commands\" is required"),
            )),
        },
        "deletewebhook" => {
            shared.lock().webhook_conflict = false;
            Ok(json!(true))
        }
        _ => {
            let st = shared.lock();
            Ok(json!({
                "url": if st.webhook_conflict { "https://example.invalid/hook" } else { "" },
                "has_custom_certificate": false,
                "pending_update_count": st.updates.len(),
            }))
        }
    };
    match result {
        Ok(v) => ok(v),
        Err((code, desc)) => reject(shared, &method, code, &desc),
    }
}

fn reject(shared: &Shared, method: &str, code: u16, description: &str) -> Reply {
    shared.lock().rejections.push(Rejection {
        method: method.to_owned(),
        code,
        description: description.to_owned(),
    });
    shared.changed.notify_all();
    error(code, description, None)
}

type Params = Map<String, Value>;
type ApiResult = Result<Value, (u16, String)>;

/// Query string, then a JSON or form body. Form and query values are
/// strings; ones that look like JSON objects/arrays are parsed, as the Bot
/// API does for fields like `reply_parameters`.
fn params(req: &Request) -> Result<Params, String> {
    let mut out = Map::new();
    form_pairs(&req.query, &mut out);
    if req.body.is_empty() {
        return Ok(out);
    }
    let ctype = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => out.extend(map),
            _ => return Err(String::from("Bad Request: can't parse JSON request body")),
        }
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        form_pairs(&String::from_utf8_lossy(&req.body), &mut out);
    } else {
        return Err(format!("Bad Request: unsupported Content-Type {ctype:?}"));
    }
    Ok(out)
}

fn form_pairs(s: &str, out: &mut Params) {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        let value = if v.starts_with('{') || v.starts_with('[') {
            serde_json::from_str(&v).unwrap_or(Value::String(v))
        } else {
            Value::String(v)
        };
        out.insert(percent_decode(k), value);
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An integer parameter: a JSON number or a numeric string.
fn int_param(p: &Params, key: &str) -> Result<Option<i64>, (u16, String)> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| (400, format!("Bad Request: invalid {key} specified"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| (400, format!("Bad Request: invalid {key} specified"))),
        Some(_) => Err((400, format!("Bad Request: invalid {key} specified"))),
    }
}

fn object_param(p: &Params, key: &str) -> Result<Option<Map<String, Value>>, (u16, String)> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err((400, format!("Bad Request: can't parse {key} JSON object"))),
        },
        Some(_) => Err((400, format!("Bad Request: can't parse {key} JSON object"))),
    }
}

fn get_updates(shared: &Shared, p: &Params) -> ApiResult {
    let offset = int_param(p, "offset")?;
    let limit = int_param(p, "limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = int_param(p, "timeout")?.unwrap_or(0).max(0) as u64;
    let allowed = match p.get("allowed_updates") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            return Err((
                400,
                String::from("Bad Request: can't parse allowed_updates"),
            ))
        }
    };
    let mut st = shared.lock();
    if st.webhook_conflict {
        return Err((
            409,
            String::from(
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            ),
        ));
    }
    // Like the real API, the list persists until changed; an empty list
    // means "all the default kinds".
    if let Some(list) = allowed {
        st.allowed_updates = (!list.is_empty()).then_some(list);
    }
    match offset {
        Some(o) if o > 0 => {
            st.updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
            st.confirmed_offset = st.confirmed_offset.max(o);
        }
        Some(o) if o < 0 => {
            let keep = o.unsigned_abs() as usize;
            while st.updates.len() > keep {
                if let Some(u) = st.updates.pop_front() {
                    let next = u["update_id"].as_i64().unwrap_or(0) + 1;
                    st.confirmed_offset = st.confirmed_offset.max(next);
                }
            }
        }
        _ => {}
    }
    shared.changed.notify_all();
    st.poll_generation += 1;
    let generation = st.poll_generation;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        if let Some(list) = st.allowed_updates.clone() {
            // Kinds the bot did not ask for are never delivered.
            st.updates
                .retain(|u| list.iter().any(|k| u.get(k.as_str()).is_some()));
        }
        let batch: Vec<Value> = st.updates.iter().take(limit).cloned().collect();
        let now = Instant::now();
        if !batch.is_empty() || now >= deadline || st.closed {
            return Ok(Value::Array(batch));
        }
        st = match shared.changed.wait_timeout(st, deadline - now) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
        if st.poll_generation != generation {
            return Err((
                409,
                String::from(
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                ),
            ));
        }
        if st.webhook_conflict {
            return Err((409, String::from("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")));
        }
    }
}

/// Resolves `chat_id` to a chat the bot can write to.
fn target_chat(st: &State, p: &Params) -> Result<i64, (u16, String)> {
    let id = match p.get("chat_id") {
        None | Some(Value::Null) => {
            return Err((400, String::from("Bad Request: chat_id is empty")))
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err((400, String::from("Bad Request: chat_id is empty")))
        }
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        Some(_) => None,
    };
    let Some(id) = id.filter(|id| st.chats.contains_key(id)) else {
        return Err((400, String::from("Bad Request: chat not found")));
    };
    if st.blocked.contains(&id) {
        return Err((403, String::from("Forbidden: bot was blocked by the user")));
    }
    Ok(id)
}

fn send_message(shared: &Shared, p: &Params) -> ApiResult {
    let mut st = shared.lock();
    let chat_id = target_chat(&st, p)?;
    let text = match p.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err((400, String::from("Bad Request: message text is empty"))),
    };
    let parse_mode = p
        .get("parse_mode")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let visible = match parse_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => text.clone(),
        Some("html") => html::parse(&text)
            .map_err(|e| (400, format!("Bad Request: can't parse entities: {e}")))?,
        // Markdown modes are accepted but not parsed: picoclaw sends HTML.
        Some("markdown" | "markdownv2") => text.clone(),
        Some(_) => return Err((400, String::from("Bad Request: unsupported parse_mode"))),
    };
    if visible.trim().is_empty() {
        return Err((400, String::from("Bad Request: message text is empty")));
    }
    if visible.encode_utf16().count() > 4096 {
        return Err((400, String::from("Bad Request: message is too long")));
    }
    object_param(p, "link_preview_options")?;
    let (reply_id, allow_missing) = match object_param(p, "reply_parameters")? {
        Some(rp) => {
            let id = rp.get("message_id").and_then(Value::as_i64).ok_or((
                400,
                String::from("Bad Request: can't parse reply parameters: message_id is required"),
            ))?;
            let allow = rp
                .get("allow_sending_without_reply")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (Some(id), allow)
        }
        None => (
            int_param(p, "reply_to_message_id")?,
            matches!(
                p.get("allow_sending_without_reply"),
                Some(Value::Bool(true))
            ) || p.get("allow_sending_without_reply").and_then(Value::as_str) == Some("true"),
        ),
    };
    let bot = st.bot.clone();
    let Some(chat) = st.chats.get_mut(&chat_id) else {
        return Err((400, String::from("Bad Request: chat not found")));
    };
    let replied = reply_id.and_then(|id| chat.messages.get(&id).cloned());
    if reply_id.is_some() && replied.is_none() && !allow_missing {
        return Err((
            400,
            String::from("Bad Request: message to be replied not found"),
        ));
    }
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let mut message = json!({
        "message_id": message_id,
        "from": bot,
        "chat": {"id": chat_id, "type": chat.kind},
        "date": now_unix(),
        "text": visible,
    });
    chat.messages.insert(message_id, message.clone());
    if let Some(r) = &replied {
        message["reply_to_message"] = r.clone();
    }
    st.sent.push(SentMessage {
        message_id,
        chat_id,
        text,
        visible,
        parse_mode,
        reply_to: replied.and(reply_id),
    });
    shared.changed.notify_all();
    Ok(message)
}

fn send_chat_action(shared: &Shared, p: &Params) -> ApiResult {
    const ACTIONS: &[&str] = &[
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ];
    let mut st = shared.lock();
    let chat_id = target_chat(&st, p)?;
    let action = p.get("action").and_then(Value::as_str).unwrap_or("");
    if !ACTIONS.contains(&action) {
        return Err((
            400,
            String::from("Bad Request: wrong parameter action in request"),
        ));
    }
    st.actions.push(ChatAction {
        chat_id,
        action: action.to_owned(),
    });
    shared.changed.notify_all();
    Ok(json!(true))
}
