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
//! - `sendChatAction` accepts only the documented actions;
//! - `getFile` answers a `File` with a `file_path` for files registered with
//!   [`FakeTelegram::put_file`] (400 `invalid file_id` otherwise, 400
//!   `file is too big` over 20 MB), downloaded from
//!   `GET /file/bot<token>/<file_path>` (404 for anything else);
//! - `sendPhoto` / `sendDocument` take `multipart/form-data` uploads (the
//!   file part named like the method's field), refuse photos over 10 MB
//!   and documents over 50 MB, and record them ([`FakeTelegram::sent_files`]).
//! - `reply_markup` inline keyboards are checked like Telegram checks them
//!   (a button needs `text` and an action; `callback_data` is 1-64 bytes);
//!   [`FakeTelegram::press`] presses one as a user would, delivering a
//!   `callback_query` update (only to a bot whose `allowed_updates` asks
//!   for them), and `answerCallbackQuery` accepts each query id once.
//!
//! Tests push updates ([`FakeTelegram::push_text`], [`Incoming`],
//! [`FakeTelegram::push_update`]), read what the bot sent
//! ([`FakeTelegram::sent`], [`FakeTelegram::wait_for_sent`]) and inject
//! faults per method ([`FakeTelegram::fail_next`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::http::{Scheme, Server};

mod html;
mod incoming;
mod methods;

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
    /// Inline keyboard buttons as (text, callback_data), row by row.
    pub buttons: Vec<(String, String)>,
}

/// A file the bot uploaded with sendPhoto or sendDocument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentFile {
    pub message_id: i64,
    pub chat_id: i64,
    /// "sendPhoto" or "sendDocument".
    pub method: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
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
    /// Carry out the request at once (a sendMessage is delivered and
    /// recorded) but hold the answer this long: the client cannot know yet
    /// that it succeeded.
    AckDelay(Duration),
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
    /// Callback query ids delivered and not yet answered.
    open_queries: HashSet<String>,
    answered_queries: Vec<String>,
    next_query: u64,
    closed: bool,
    /// file_id → (file_path, bytes).
    files: HashMap<String, (String, Arc<Vec<u8>>)>,
    sent_files: Vec<SentFile>,
    /// Completed file downloads (GET /file/...).
    downloads: usize,
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
        Self::start_on(Scheme::Http, token)
    }

    /// Like [`FakeTelegram::start`], served over HTTPS with `tls` (see
    /// [`crate::tls::TestCa`]); [`FakeTelegram::api_base`] is then
    /// `https://127.0.0.1:PORT`.
    pub fn start_tls(token: &str, tls: Arc<rustls::ServerConfig>) -> FakeTelegram {
        Self::start_on(Scheme::Https(tls), token)
    }

    fn start_on(scheme: Scheme, token: &str) -> FakeTelegram {
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
            open_queries: HashSet::new(),
            answered_queries: Vec::new(),
            next_query: 1,
            closed: false,
            files: HashMap::new(),
            sent_files: Vec::new(),
            downloads: 0,
        };
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            state: Mutex::new(state),
            changed: Condvar::new(),
        });
        let handler_shared = shared.clone();
        let server = Server::start_with(scheme, move |req| methods::handle(&handler_shared, req));
        FakeTelegram { server, shared }
    }

    /// What to put in `api_base`: `http://127.0.0.1:PORT` (or `https://`).
    pub fn api_base(&self) -> String {
        self.server.url()
    }

    /// The HTTP(S) server underneath, for connection counts.
    pub fn server(&self) -> &Server {
        &self.server
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

    /// User `from_id` presses the button labelled `label` under the bot's
    /// message `message_id` in `chat_id`: a `callback_query` update as the
    /// Bot API delivers it. Returns the query id. Panics when there is no
    /// such button (a user cannot press what is not there).
    pub fn press(&self, chat_id: i64, message_id: i64, from_id: i64, label: &str) -> String {
        let mut st = self.shared.lock();
        let message = st
            .chats
            .get(&chat_id)
            .and_then(|c| c.messages.get(&message_id))
            .cloned()
            .unwrap_or_else(|| panic!("fake telegram: no message {message_id} in chat {chat_id}"));
        let data = message["reply_markup"]["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .find(|b| b["text"] == label)
            .and_then(|b| b["callback_data"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("fake telegram: no button {label:?} under {message}"));
        let id = format!(
            "{}{:06}",
            4_382_000 + chat_id.unsigned_abs() % 1000,
            st.next_query
        );
        st.next_query += 1;
        st.open_queries.insert(id.clone());
        drop(st);
        self.push_update(json!({"callback_query": {
            "id": id,
            "from": {"id": from_id, "is_bot": false, "first_name": format!("User{from_id}"),
                     "language_code": "en"},
            "message": message,
            "chat_instance": format!("-{}", chat_id.unsigned_abs()),
            "data": data,
        }}));
        id
    }

    /// Callback query ids the bot answered, in order.
    pub fn answered_queries(&self) -> Vec<String> {
        self.shared.lock().answered_queries.clone()
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

    /// Queues a fault for the next call of `method` (FIFO per method);
    /// `"file"` names the file download endpoint.
    pub fn fail_next(&self, method: &str, fault: Fault) {
        let mut st = self.shared.lock();
        st.faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(fault);
    }

    /// Faults queued for `method` that no call has taken yet.
    pub fn pending_faults(&self, method: &str) -> usize {
        let st = self.shared.lock();
        st.faults
            .get(&method.to_ascii_lowercase())
            .map_or(0, VecDeque::len)
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

    /// Makes `bytes` downloadable as `file_id` (getFile, then
    /// `/file/bot<token>/<path>`); returns its `file_path`.
    pub fn put_file(&self, file_id: &str, bytes: Vec<u8>) -> String {
        let mut st = self.shared.lock();
        let path = format!("documents/file_{}", st.files.len());
        st.files
            .insert(file_id.to_owned(), (path.clone(), Arc::new(bytes)));
        path
    }

    /// Files downloaded so far.
    pub fn downloads(&self) -> usize {
        self.shared.lock().downloads
    }

    /// Files the bot uploaded, oldest first.
    pub fn sent_files(&self) -> Vec<SentFile> {
        self.shared.lock().sent_files.clone()
    }

    /// Waits until `n` files were uploaded or `timeout` passed.
    pub fn wait_for_files(&self, n: usize, timeout: Duration) -> Vec<SentFile> {
        self.wait_until(timeout, |st| st.sent_files.len() >= n);
        self.sent_files()
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
