//! In-memory fakes (after the agent crate's test fakes), a fake clock
//! that tests move by hand, and a look into the store's tables.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use picoclaw_agent::{Agent, AgentOptions, Db, Runtime, RuntimeOptions};
use picoclaw_core::{
    Batch, ChannelError, ChatKind, ChatMessage, Completion, CompletionRequest, FinishReason,
    Inbound, InboundKind, Poller, Provider, ProviderError, Role, Sender, Sink, Tool, ToolCall,
    ToolContext, ToolOutput, Usage,
};
use picoclaw_scheduler::{
    Clock, Heartbeat, HeartbeatOptions, Scheduler, SchedulerOptions, Sleep, Zone,
};
use picoclaw_store::{Store, StoreOptions};
use picoclaw_tools::ToolSet;
use tokio::sync::watch;

/// Generous: only a hang ever waits this long.
pub const WAIT: Duration = Duration::from_secs(20);
pub const CHANNEL: &str = "fake";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub chat: String,
    pub text: String,
}

#[derive(Default)]
pub struct FakeChannel {
    queue: Mutex<VecDeque<Inbound>>,
    arrived: Condvar,
    sent: Mutex<Vec<Sent>>,
    next_id: AtomicU32,
}

impl FakeChannel {
    /// A direct message from the person whose private chat is `chat`.
    pub fn push(&self, chat: &str, text: &str) {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.queue.lock().unwrap().push_back(Inbound {
            channel: CHANNEL.into(),
            event_id: format!("e{n}"),
            chat_id: chat.into(),
            chat_kind: ChatKind::Direct,
            sender: Sender {
                id: chat.into(),
                username: None,
                display: format!("user {chat}"),
            },
            message_id: Some(format!("m{n}")),
            kind: InboundKind::Text(text.into()),
        });
        self.arrived.notify_all();
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    pub fn texts(&self) -> Vec<String> {
        self.sent().into_iter().map(|s| s.text).collect()
    }
}

impl Poller for FakeChannel {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn poll(&self, _cursor: Option<&str>) -> Result<Batch, ChannelError> {
        let q = self.queue.lock().unwrap();
        let (mut q, _) = self
            .arrived
            .wait_timeout_while(q, Duration::from_millis(50), |q| q.is_empty())
            .unwrap();
        Ok(Batch {
            items: q.drain(..).collect(),
            cursor: None,
        })
    }
}

impl Sink for FakeChannel {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn render(&self, markdown: &str) -> Vec<String> {
        vec![markdown.to_string()]
    }

    fn send(&self, chat: &str, chunk: &str, _reply_to: Option<&str>) -> Result<(), ChannelError> {
        self.sent.lock().unwrap().push(Sent {
            chat: chat.into(),
            text: chunk.into(),
        });
        Ok(())
    }
}

pub enum Step {
    Text(&'static str),
    Call(&'static str, String),
}

/// Answers from a script, then echoes the last user message.
#[derive(Default)]
pub struct FakeProvider {
    script: Mutex<VecDeque<Step>>,
    requests: Mutex<Vec<Vec<ChatMessage>>>,
}

impl FakeProvider {
    pub fn push(&self, step: Step) -> &Self {
        self.script.lock().unwrap().push_back(step);
        self
    }

    /// The messages of every request so far.
    pub fn requests(&self) -> Vec<Vec<ChatMessage>> {
        self.requests.lock().unwrap().clone()
    }

    /// The last user message of every request.
    pub fn prompts(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                r.iter()
                    .rev()
                    .find(|m| m.role == Role::User)
                    .map(|m| m.content.clone())
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Provider for FakeProvider {
    fn label(&self) -> String {
        String::from("fake/model")
    }

    fn complete(&self, req: &CompletionRequest<'_>) -> Result<Completion, ProviderError> {
        self.requests.lock().unwrap().push(req.messages.to_vec());
        let n = self.requests.lock().unwrap().len();
        let message = match self.script.lock().unwrap().pop_front() {
            Some(Step::Text(t)) => ChatMessage::assistant(t),
            Some(Step::Call(name, args)) => ChatMessage::calls(vec![ToolCall {
                id: format!("call-{n}"),
                name: name.into(),
                arguments: args,
            }]),
            None => {
                let last = req
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role == Role::User)
                    .map(|m| m.content.clone())
                    .unwrap_or_default();
                ChatMessage::assistant(format!("echo: {last}"))
            }
        };
        let finish = if message.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        Ok(Completion {
            message,
            usage: Usage::default(),
            finish,
            served_by: String::from("fake/model"),
        })
    }
}

/// A clock that only moves when told. It knows who sleeps until when, so a
/// test can wait for the sources to have handled a time before moving on.
pub struct FakeClock {
    now: watch::Sender<i64>,
    sleepers: Arc<Mutex<Vec<(u64, i64)>>>,
    next: AtomicU32,
}

struct Registered {
    id: u64,
    sleepers: Arc<Mutex<Vec<(u64, i64)>>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sleepers.lock().unwrap().retain(|(i, _)| *i != self.id);
    }
}

impl FakeClock {
    pub fn at(t: i64) -> Arc<FakeClock> {
        Arc::new(FakeClock {
            now: watch::channel(t).0,
            sleepers: Arc::new(Mutex::new(Vec::new())),
            next: AtomicU32::new(0),
        })
    }

    pub fn set(&self, t: i64) {
        self.now.send_replace(t);
    }

    pub fn advance(&self, secs: i64) {
        self.set(*self.now.borrow() + secs);
    }

    /// Waits until `n` sleepers wait for a time later than now: every
    /// source has dealt with the present.
    pub async fn settle(&self, n: usize) {
        let start = std::time::Instant::now();
        loop {
            let now = *self.now.borrow();
            let waiting = self
                .sleepers
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, at)| *at > now)
                .count();
            if waiting >= n {
                return;
            }
            assert!(start.elapsed() < WAIT, "sources did not settle");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until some source sleeps until exactly `at`.
    pub async fn sleeper_at(&self, at: i64) {
        let start = std::time::Instant::now();
        while !self.sleepers.lock().unwrap().iter().any(|(_, t)| *t == at) {
            assert!(
                start.elapsed() < WAIT,
                "nobody sleeps until {at}: {:?}",
                self.sleepers.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: i64) -> Sleep {
        let id = u64::from(self.next.fetch_add(1, Ordering::SeqCst));
        self.sleepers.lock().unwrap().push((id, at));
        let guard = Registered {
            id,
            sleepers: self.sleepers.clone(),
        };
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            let _guard = guard;
            let _ = rx.wait_for(|t| *t >= at).await;
        })
    }
}

/// One store, channel, provider and clock; each `start` builds a fresh
/// runtime on them, as a restart would.
pub struct Harness {
    pub db: Db,
    pub chan: Arc<FakeChannel>,
    pub llm: Arc<FakeProvider>,
    pub clock: Arc<FakeClock>,
    pub opts: SchedulerOptions,
    pub heartbeat: Option<HeartbeatOptions>,
    pub workspace: PathBuf,
}

pub struct Running {
    pub sched: Arc<Scheduler>,
    stop: watch::Sender<bool>,
    work: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        self.work.await.unwrap();
    }
}

impl Harness {
    pub fn new(tag: &str, now: i64) -> Harness {
        let workspace = std::env::temp_dir().join(format!(
            "picoclaw-scheduler-lib-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&workspace);
        std::fs::create_dir_all(&workspace).unwrap();
        Harness {
            db: Db::new(Store::open(&workspace.join("state"), &StoreOptions::default()).unwrap()),
            chan: Arc::new(FakeChannel::default()),
            llm: Arc::new(FakeProvider::default()),
            clock: FakeClock::at(now),
            opts: SchedulerOptions {
                timezone: String::from("UTC"),
                ..SchedulerOptions::default()
            },
            heartbeat: None,
            workspace,
        }
    }

    /// Heartbeat options to the chat `chat`, every `mins` minutes.
    pub fn heartbeat_to(&mut self, chat: &str, mins: i64) {
        self.heartbeat = Some(HeartbeatOptions {
            interval_secs: mins * 60,
            channel: CHANNEL.into(),
            chat_id: chat.into(),
            active: None,
            zone: Zone::utc(),
            workspace: self.workspace.clone(),
        });
    }

    /// Starts a runtime with the job source (and the heartbeat when set),
    /// and waits until its sources sleep.
    pub async fn start(&self) -> Running {
        let sched = Scheduler::new(self.db.clone(), self.opts.clone(), self.clock.clone());
        let tools: Vec<Box<dyn Tool>> = vec![Box::new(sched.tool())];
        let agent = Agent::new(
            AgentOptions {
                workspace: self.workspace.clone(),
                max_tool_iterations: 5,
                context_window: 16_000,
                max_history_messages: 200,
                group_sessions_per_user: false,
                system_prompt: None,
                tool_timeout: Duration::from_secs(5),
                compact_at_percent: 75,
                budgets: Default::default(),
            },
            self.llm.clone(),
            ToolSet::new(tools),
            self.db.clone(),
        );
        let mut rt = Runtime::new(
            agent,
            RuntimeOptions {
                shutdown_timeout: Duration::from_secs(5),
            },
        );
        rt.channel(self.chan.clone());
        rt.source(sched.source());
        let mut sources = 1;
        if let Some(h) = &self.heartbeat {
            rt.source(Heartbeat::new(h.clone(), self.clock.clone()));
            sources += 1;
        }
        let (stop, rx) = watch::channel(false);
        let work = tokio::spawn(rt.run(rx));
        self.clock.settle(sources).await;
        Running { sched, stop, work }
    }

    /// Calls the `schedule` tool as chat `chat` would, off the event loop.
    pub async fn tool(&self, run: &Running, chat: &str, args: serde_json::Value) -> ToolOutput {
        let tool = run.sched.tool();
        let ctx = ToolContext {
            workspace: self.workspace.clone(),
            session: String::from("1"),
            timeout: Duration::from_secs(5),
            cancel: picoclaw_core::Cancel::new(),
            caller: picoclaw_core::Caller {
                channel: CHANNEL.into(),
                chat_id: chat.into(),
                sender_id: chat.into(),
                group: false,
            },
        };
        tokio::task::spawn_blocking(move || tool.call(&ctx, &args))
            .await
            .unwrap()
    }

    /// Moves the clock to `t` and waits for `sources` sources to settle.
    pub async fn at(&self, t: i64, sources: usize) {
        self.clock.set(t);
        self.clock.settle(sources).await;
    }

    /// A read-only connection to the state database (beside the runtime's).
    pub fn sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.workspace.join("state").join(picoclaw_store::DB_FILE),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// `(event_id, status)` of every inbound row, oldest first.
    pub fn inbound(&self) -> Vec<(String, String)> {
        let c = self.sql();
        let mut st = c
            .prepare("SELECT event_id, status FROM inbound ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `(chat_id, body)` of every outbox chunk, queued or sent.
    pub fn outbox(&self) -> Vec<(String, String)> {
        let c = self.sql();
        let mut st = c
            .prepare("SELECT chat_id, body FROM outbox ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `(id, next_run_at)` of every job.
    pub fn jobs(&self) -> Vec<(i64, i64)> {
        self.db
            .blocking(|s| s.jobs(None))
            .unwrap()
            .into_iter()
            .map(|j| (j.id, j.job.next_run_at))
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.workspace);
    }
}

/// Waits (without blocking the event loop) until `cond` holds.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Unix seconds of a UTC wall-clock time.
pub fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    picoclaw_scheduler::Civil {
        year: y,
        month: mo,
        day: d,
        hour: h,
        minute: mi,
        second: 0,
    }
    .to_unix()
}
