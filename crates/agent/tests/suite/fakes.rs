//! In-memory fakes and a harness that runs the real runtime around them.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use picoclaw_agent::{Agent, AgentOptions, Db, Runtime, RuntimeOptions};
use picoclaw_core::{
    Batch, Caps, ChannelError, ChatKind, ChatMessage, Completion, CompletionRequest, FinishReason,
    Inbound, InboundKind, MediaFile, OutFile, Poller, Provider, ProviderError, Role, Sender, Sink,
    Tool, ToolCall, ToolContext, ToolOutput, ToolSpec, Usage,
};
use picoclaw_store::Store;
use picoclaw_tools::ToolSet;
use tokio::sync::watch;

/// Generous: only a hang ever waits this long.
pub const WAIT: Duration = Duration::from_secs(20);

/// A reply chunk as the channel received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub chat: String,
    pub text: String,
    pub reply_to: Option<String>,
}

/// A chat network in memory: tests push messages, the runtime polls them
/// and sends replies here. Like Telegram, it keeps events until a poll
/// passes a cursor past them, so a poll whose answer was dropped (at
/// shutdown) loses nothing.
#[derive(Default)]
pub struct FakeChannel {
    queue: Mutex<VecDeque<(u32, Inbound)>>,
    arrived: Condvar,
    sent: Mutex<Vec<Sent>>,
    next_id: AtomicU32,
    /// Downloadable files by id, and how often each was fetched.
    files: Mutex<HashMap<String, (Vec<u8>, usize)>>,
    /// Files uploaded with send_file: (chat, file, bytes).
    uploads: Mutex<Vec<(String, OutFile, Vec<u8>)>>,
    /// `Caps::max_file_bytes`; 0 (the default) sends no files.
    pub max_file_bytes: std::sync::atomic::AtomicU64,
}

impl FakeChannel {
    /// Queues a direct message from the person whose private chat is `chat`.
    pub fn push(&self, chat: &str, text: &str) -> String {
        self.push_in(chat, ChatKind::Direct, chat, text)
    }

    /// Queues a message from `sender` in `chat`.
    pub fn push_in(&self, chat: &str, kind: ChatKind, sender: &str, text: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let event = format!("e{n}");
        self.queue.lock().unwrap().push_back((
            n,
            Inbound {
                channel: String::from("fake"),
                event_id: event.clone(),
                chat_id: chat.to_string(),
                chat_kind: kind,
                sender: Sender {
                    id: sender.to_string(),
                    username: None,
                    display: format!("user {sender}"),
                },
                message_id: Some(format!("m{n}")),
                kind: InboundKind::Text(text.to_string()),
            },
        ));
        self.arrived.notify_all();
        event
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// Queues a message with files (their bytes made fetchable by id).
    pub fn push_media(&self, chat: &str, text: &str, files: Vec<(MediaFile, Vec<u8>)>) -> String {
        let mut refs = Vec::new();
        for (f, bytes) in files {
            for s in &f.sizes {
                self.files
                    .lock()
                    .unwrap()
                    .insert(s.id.clone(), (bytes.clone(), 0));
            }
            refs.push(f);
        }
        let event = self.push(chat, text);
        let mut q = self.queue.lock().unwrap();
        if let Some((_, item)) = q.iter_mut().find(|(_, i)| i.event_id == event) {
            item.kind = InboundKind::Media {
                text: text.to_string(),
                files: refs,
            };
        }
        event
    }

    /// How many times the file `id` was downloaded.
    pub fn fetches(&self, id: &str) -> usize {
        self.files.lock().unwrap().get(id).map_or(0, |f| f.1)
    }

    pub fn uploads(&self) -> Vec<(String, OutFile, Vec<u8>)> {
        self.uploads.lock().unwrap().clone()
    }
}

impl Poller for FakeChannel {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn poll(&self, cursor: Option<&str>) -> Result<Batch, ChannelError> {
        let acked: u32 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut q = self.queue.lock().unwrap();
        q.retain(|(n, _)| *n >= acked);
        let (q, _) = self
            .arrived
            .wait_timeout_while(q, Duration::from_millis(50), |q| q.is_empty())
            .unwrap();
        Ok(Batch {
            items: q.iter().map(|(_, i)| i.clone()).collect(),
            cursor: q.back().map(|(n, _)| (n + 1).to_string()),
        })
    }
}

impl Sink for FakeChannel {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn render(&self, markdown: &str) -> Vec<String> {
        vec![markdown.to_string()]
    }

    fn caps(&self) -> Caps {
        let max = self.max_file_bytes.load(Ordering::SeqCst);
        Caps {
            max_file_bytes: max,
            max_photo_bytes: max,
            ..Caps::default()
        }
    }

    fn fetch_file(
        &self,
        file: &str,
        max: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, ChannelError> {
        let mut files = self.files.lock().unwrap();
        let Some((bytes, n)) = files.get_mut(file) else {
            return Err(ChannelError::Rejected {
                status: 404,
                message: String::from("no such file"),
            });
        };
        *n += 1;
        if bytes.len() as u64 > max {
            return Err(ChannelError::Rejected {
                status: 413,
                message: String::from("too big"),
            });
        }
        out.write_all(bytes).unwrap();
        Ok(bytes.len() as u64)
    }

    fn send_file(
        &self,
        chat: &str,
        file: &OutFile,
        mut data: std::fs::File,
        len: u64,
    ) -> Result<(), ChannelError> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut data, &mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, len);
        self.uploads
            .lock()
            .unwrap()
            .push((chat.to_string(), file.clone(), bytes));
        Ok(())
    }

    fn send(&self, chat: &str, chunk: &str, reply_to: Option<&str>) -> Result<(), ChannelError> {
        self.sent.lock().unwrap().push(Sent {
            chat: chat.to_string(),
            text: chunk.to_string(),
            reply_to: reply_to.map(str::to_string),
        });
        Ok(())
    }
}

/// One scripted model answer.
pub enum Step {
    Text(String),
    /// One tool call: name and raw JSON arguments.
    Call(String, String),
    /// Several tool calls in one answer.
    Calls(Vec<(String, String)>),
    /// Blocks until [`FakeProvider::release`], then answers with the text.
    Hold(String),
    /// Fails the call.
    Fail(ProviderError),
}

/// What one request carried.
#[derive(Debug, Clone)]
pub struct Request {
    pub system: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<String>,
}

type Responder = dyn Fn(&Request) -> Option<Step> + Send + Sync;

/// A provider that answers from a script, and echoes the last user
/// message once the script is spent.
#[derive(Default)]
pub struct FakeProvider {
    script: Mutex<VecDeque<Step>>,
    requests: Mutex<Vec<Request>>,
    held: Mutex<bool>,
    release: Condvar,
    calls: AtomicUsize,
    /// Consulted before the script: answers requests it recognises.
    responder: Mutex<Option<Arc<Responder>>>,
    /// Calls inside `complete` right now, and the most there ever were.
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl FakeProvider {
    pub fn push(&self, step: Step) -> &Self {
        self.script.lock().unwrap().push_back(step);
        self
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn release(&self) {
        *self.held.lock().unwrap() = true;
        self.release.notify_all();
    }

    /// Answers requests for which `f` returns a step (subagents running
    /// side by side, whose order the FIFO script cannot know).
    pub fn respond(&self, f: impl Fn(&Request) -> Option<Step> + Send + Sync + 'static) {
        *self.responder.lock().unwrap() = Some(Arc::new(f));
    }
}

struct InFlight<'a>(&'a FakeProvider);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Provider for FakeProvider {
    fn label(&self) -> String {
        String::from("fake/model")
    }

    fn complete(&self, req: &CompletionRequest<'_>) -> Result<Completion, ProviderError> {
        let request = Request {
            system: req.system.to_string(),
            messages: req.messages.to_vec(),
            tools: req.tools.iter().map(|t| t.name.clone()).collect(),
        };
        self.requests.lock().unwrap().push(request.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let _in_flight = InFlight(self);
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let responder = self.responder.lock().unwrap().clone();
        let step = match responder.and_then(|f| f(&request)) {
            Some(step) => Some(step),
            None => self.script.lock().unwrap().pop_front(),
        };
        let message = match step {
            Some(Step::Text(t)) => ChatMessage::assistant(t),
            Some(Step::Call(name, args)) => ChatMessage {
                role: Role::Assistant,
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: format!("call-{n}"),
                    name,
                    arguments: args,
                }],
                tool_call_id: None,
                images: Vec::new(),
            },
            Some(Step::Calls(calls)) => ChatMessage::calls(
                calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, arguments))| ToolCall {
                        id: format!("call-{n}-{i}"),
                        name,
                        arguments,
                    })
                    .collect(),
            ),
            Some(Step::Fail(e)) => return Err(e),
            Some(Step::Hold(t)) => {
                let held = self.held.lock().unwrap();
                let _held = self.release.wait_while(held, |r| !*r).unwrap();
                ChatMessage::assistant(t)
            }
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
            usage: Usage {
                input_tokens: 10,
                output_tokens: 2,
            },
            finish,
            served_by: String::from("fake/model"),
        })
    }
}

type Behaviour = dyn Fn(&ToolContext, &serde_json::Value, usize) -> ToolOutput + Send + Sync;

/// A tool whose behaviour is a closure of (context, arguments, call number).
pub struct FakeTool {
    name: &'static str,
    calls: Arc<AtomicUsize>,
    run: Arc<Behaviour>,
}

impl FakeTool {
    pub fn boxed(
        name: &'static str,
        calls: Arc<AtomicUsize>,
        run: impl Fn(&ToolContext, &serde_json::Value, usize) -> ToolOutput + Send + Sync + 'static,
    ) -> Box<dyn Tool> {
        Box::new(FakeTool {
            name,
            calls,
            run: Arc::new(run),
        })
    }
}

impl Tool for FakeTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.to_string(),
            description: format!("the {} tool", self.name),
            parameters: serde_json::json!({"type": "object"}),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &serde_json::Value) -> ToolOutput {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        (self.run)(ctx, args, n)
    }
}

/// The parts around one store: each `run` builds a fresh agent (as a
/// restart would) on the same database.
pub struct Harness {
    pub db: Db,
    pub chan: Arc<FakeChannel>,
    pub llm: Arc<FakeProvider>,
    pub opts: AgentOptions,
    workspace: PathBuf,
}

impl Harness {
    pub fn new(tag: &str) -> Harness {
        let workspace =
            std::env::temp_dir().join(format!("picoclaw-agent-lib-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&workspace);
        std::fs::create_dir_all(&workspace).unwrap();
        Harness {
            db: Db::new(Store::open_in_memory().unwrap()),
            chan: Arc::new(FakeChannel::default()),
            llm: Arc::new(FakeProvider::default()),
            opts: AgentOptions {
                workspace: workspace.clone(),
                max_tool_iterations: 20,
                context_window: 16_000,
                compact_at_percent: 75,
                budgets: Default::default(),
                max_history_messages: 200,
                group_sessions_per_user: false,
                system_prompt: None,
                tool_timeout: Duration::from_secs(5),
            },
            workspace,
        }
    }

    /// An agent over the fakes with `tools`, as a restart would build it.
    pub fn agent(&self, tools: Vec<Box<dyn Tool>>) -> Agent {
        Agent::new(
            self.opts.clone(),
            self.llm.clone(),
            ToolSet::new(tools),
            self.db.clone(),
        )
    }

    /// A runtime over the fakes with `tools`, stopping after `shutdown`.
    pub fn runtime(&self, tools: Vec<Box<dyn Tool>>, shutdown: Duration) -> Runtime {
        self.runtime_for(self.agent(tools), shutdown)
    }

    fn runtime_for(&self, agent: Agent, shutdown: Duration) -> Runtime {
        let mut rt = Runtime::new(
            agent,
            RuntimeOptions {
                shutdown_timeout: shutdown,
            },
        );
        rt.channel(self.chan.clone());
        rt
    }

    /// Runs the runtime until `until` holds (checked every 10 ms), then
    /// shuts it down. Panics if it does not hold within [`WAIT`].
    pub async fn run_until(
        &self,
        tools: Vec<Box<dyn Tool>>,
        shutdown: Duration,
        until: impl Fn(&Harness) -> bool,
    ) {
        self.run(self.runtime(tools, shutdown), until).await;
    }

    /// Like [`Harness::run_until`] with an agent built by the test.
    pub async fn run_agent_until(&self, agent: Agent, until: impl Fn(&Harness) -> bool) {
        self.run(self.runtime_for(agent, Duration::from_secs(1)), until)
            .await;
    }

    async fn run(&self, rt: Runtime, until: impl Fn(&Harness) -> bool) {
        let (tx, rx) = watch::channel(false);
        let work = tokio::spawn(rt.run(rx));
        let start = std::time::Instant::now();
        while !until(self) {
            assert!(
                start.elapsed() < WAIT,
                "condition not reached; sent: {:?}",
                self.chan.sent()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tx.send(true).unwrap();
        work.await.unwrap();
    }

    /// Texts of the replies so far.
    pub fn replies(&self) -> Vec<String> {
        self.chan.sent().into_iter().map(|s| s.text).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.workspace);
    }
}

/// Waits (off the event loop) until `cond` holds.
pub async fn eventually(cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "condition not reached");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
