//! One turn: user message → (model → tools)* → answer, every step persisted
//! so a turn cut short by kill -9 or shutdown resumes where it stopped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picoclaw_core::{
    debug, info, redact, warn, Caller, Cancel, ChatKind, ChatMessage, Completion,
    CompletionRequest, Image, Inbound, InboundKind, Provider, ProviderError, Role, Sink,
    ToolContext, ToolOutput,
};
use picoclaw_store::{InboundRow, InboundStatus, StoreError};
use picoclaw_tools::ToolSet;

use crate::access::{Access, Grant};
use crate::audit;
use crate::compact;
use crate::confirm::Asker;
use crate::db::Db;
use crate::history::{History, Loaded};
use crate::media::{self, MediaOptions};
use crate::prompt::{self, Persona};
use crate::reply::Reply;
use crate::send_file::{CapsMap, SendFile};
use crate::spawn::{Kit, Spawn, SubagentOptions};
use crate::trim;

#[path = "gate.rs"]
mod gate;

use gate::{Gated, Outcome};

/// The same failing call (same tool, same arguments) this many times ends
/// the turn: the model is looping.
const SAME_FAILURE_LIMIT: u32 = 3;

#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub workspace: PathBuf,
    pub max_tool_iterations: u32,
    pub context_window: u32,
    /// Compact the history once it passes this share of `context_window`
    /// (percent; 0: only when the provider says the prompt is too long).
    pub compact_at_percent: u32,
    pub max_history_messages: u32,
    /// Daily token budgets (per chat, and for everyone together).
    pub budgets: crate::budget::Budgets,
    pub group_sessions_per_user: bool,
    pub system_prompt: Option<String>,
    pub tool_timeout: Duration,
}

/// Answers messages: the model ↔ tools loop over a session's history.
pub struct Agent {
    opts: AgentOptions,
    provider: Arc<dyn Provider>,
    tools: Arc<ToolSet>,
    persona: Arc<Persona>,
    /// Tools that come and go (MCP servers), added to `tools`.
    sources: Vec<Arc<dyn ToolSource>>,
    /// The tool set in use and the source generations it was built from.
    current: Mutex<(Vec<u64>, Arc<Tools>)>,
    history: Arc<History>,
    db: Db,
    /// Received files; `None` answers them with a "cannot handle" notice.
    media: Option<Arc<MediaOptions>>,
    /// What each channel can receive, for `send_file`.
    caps: CapsMap,
    /// Set when subagents are on: `spawn` is added to the tools.
    subagents: Option<Arc<Kit>>,
    /// Who may talk and which tools each turn is offered.
    access: Arc<Access>,
}

enum Step {
    Done(Reply),
    Continue,
}

/// Tools that come and go while picoclaw runs (an MCP server's, refreshed
/// when the server says its list changed).
pub trait ToolSource: Send + Sync {
    /// Changes whenever [`ToolSource::tools`] would return a different set.
    fn generation(&self) -> u64;
    fn tools(&self) -> Vec<Arc<dyn picoclaw_core::Tool>>;
}

/// A tool set with what every request derives from it.
struct Tools {
    set: Arc<ToolSet>,
    names: Vec<String>,
    /// Estimated tokens of each spec, sent with every call that offers it.
    tokens: Vec<usize>,
    /// The subsets grants offered so far, by which tools they keep, so a
    /// restricted chat's requests share one copy too (see `gate::offer`).
    subsets: Mutex<Vec<gate::Subset>>,
}

impl Tools {
    fn of(set: Arc<ToolSet>) -> Tools {
        let names = set.specs().iter().map(|s| s.name.clone()).collect();
        let tokens = set
            .specs()
            .iter()
            .map(|s| {
                trim::estimate_tokens(&s.description)
                    + trim::estimate_tokens(&s.parameters.to_string())
            })
            .collect();
        Tools {
            set,
            names,
            tokens,
            subsets: Mutex::new(Vec::new()),
        }
    }
}

/// Where in the store a turn's steps go, and for whom it runs.
struct At<'a> {
    session: i64,
    inbound_id: i64,
    caller: Caller,
    chat_kind: ChatKind,
    /// The user's message, which a confirmation question quotes.
    message_id: Option<String>,
    cancel: &'a Cancel,
    /// The tools this turn may use.
    grant: Grant,
    /// How to ask the user to confirm a call; `None` refuses such calls.
    ask: Option<&'a Asker<'a>>,
    /// Set when this turn compacted the history (the user is told).
    compacted: std::sync::atomic::AtomicBool,
    /// Pictures that came with the turn's message, attached to it on every
    /// request of the turn (never stored).
    images: Vec<Image>,
}

impl Agent {
    pub fn new(opts: AgentOptions, provider: Arc<dyn Provider>, tools: ToolSet, db: Db) -> Agent {
        let persona = Persona::new(opts.workspace.clone(), opts.system_prompt.clone());
        let tools = Arc::new(tools);
        Agent {
            history: Arc::new(History::new(opts.max_history_messages as usize)),
            current: Mutex::new((Vec::new(), Arc::new(Tools::of(tools.clone())))),
            opts,
            provider,
            tools,
            persona: Arc::new(persona),
            sources: Vec::new(),
            db,
            media: None,
            caps: CapsMap::default(),
            subagents: None,
            access: Arc::new(Access::unrestricted()),
        }
    }

    /// Applies an access policy (the default is [`Access::unrestricted`]).
    pub fn with_access(mut self, access: Access) -> Agent {
        self.access = Arc::new(access);
        self
    }

    pub fn access(&self) -> &Arc<Access> {
        &self.access
    }

    /// Adds tools that come and go while picoclaw runs (an MCP server's).
    pub fn with_tool_source(mut self, source: Arc<dyn ToolSource>) -> Agent {
        self.sources.push(source);
        self
    }

    /// Adds a system prompt section kept current by someone else (the
    /// skills listing).
    pub fn with_prompt_section(mut self, section: Arc<dyn prompt::PromptSection>) -> Agent {
        self.persona = Arc::new(self.persona.with_section(section));
        self
    }

    /// Handles received files (photos, voice notes, documents) and, when
    /// `opts.send_files`, offers `send_file`.
    pub fn with_media(mut self, opts: MediaOptions) -> Agent {
        self.media = Some(Arc::new(opts));
        self.rebuild();
        self
    }

    /// Offers `spawn` (subagents) within `opts`' limits.
    pub fn with_subagents(mut self, opts: SubagentOptions) -> Agent {
        self.subagents = (opts.max_depth > 0).then(|| {
            Arc::new(Kit::new(
                self.provider.clone(),
                self.db.clone(),
                opts,
                self.opts.context_window,
            ))
        });
        self.rebuild();
        self
    }

    /// Notes what a channel can receive (the runtime calls it per sink).
    pub(crate) fn note_caps(&self, channel: &str, caps: picoclaw_core::Caps) {
        self.caps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel.to_string(), caps);
    }

    /// The workspace the tools work in (where `send_file` paths are).
    pub fn workspace(&self) -> &std::path::Path {
        &self.opts.workspace
    }

    fn rebuild(&mut self) {
        let gens: Vec<u64> = self.sources.iter().map(|s| s.generation()).collect();
        let fresh = self.assemble();
        *self.current.get_mut().unwrap_or_else(|p| p.into_inner()) = (gens, fresh);
    }

    /// The fixed tools, every source's current ones, the agent's own
    /// (`send_file`), and `spawn` over all of those.
    fn assemble(&self) -> Arc<Tools> {
        let mut more: Vec<Arc<dyn picoclaw_core::Tool>> =
            self.sources.iter().flat_map(|s| s.tools()).collect();
        if self.media.as_ref().is_some_and(|m| m.send_files) {
            more.push(Arc::new(SendFile {
                caps: self.caps.clone(),
            }));
        }
        let set = self.tools.with_more(more);
        let set = match &self.subagents {
            Some(kit) => {
                let inner = Arc::new(set);
                inner.with_more(vec![Arc::new(Spawn {
                    kit: kit.clone(),
                    tools: inner.clone(),
                    depth: 1,
                })])
            }
            None => set,
        };
        Arc::new(Tools::of(Arc::new(set)))
    }

    /// The tools to offer now: the fixed set plus every source's current
    /// tools, rebuilt only when a source's generation moved.
    fn tools_now(&self) -> Arc<Tools> {
        let gens: Vec<u64> = self.sources.iter().map(|s| s.generation()).collect();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.0 != gens {
            current.1 = self.assemble();
            current.0 = gens;
        }
        current.1.clone()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn budgets(&self) -> crate::budget::Budgets {
        self.opts.budgets
    }

    /// The prompt budget in tokens.
    pub fn context_window(&self) -> u32 {
        self.opts.context_window
    }

    /// `name/model` of the provider (the chain's primary).
    pub fn model(&self) -> String {
        self.provider.label()
    }

    /// Conversation key: one per chat, or per person in groups when
    /// configured.
    pub fn session_key(&self, m: &Inbound) -> String {
        if m.chat_kind == ChatKind::Group && self.opts.group_sessions_per_user {
            format!("{}:{}:{}", m.channel, m.chat_id, m.sender.id)
        } else {
            format!("{}:{}", m.channel, m.chat_id)
        }
    }

    /// Answers one stored inbound event with a model turn. Never fails:
    /// errors become a reply that tells the user what went wrong. `sink`
    /// is the event's channel, which received files are fetched from.
    pub(crate) async fn answer(
        &self,
        row: &InboundRow,
        sink: &Arc<dyn Sink>,
        cancel: &Cancel,
        ask: Option<&Asker<'_>>,
    ) -> Reply {
        let (text, images) = match &row.inbound.kind {
            InboundKind::Unsupported(kind) => {
                return Reply::ok(format!(
                    "Sorry, I can't handle {kind} messages yet — please send text."
                ))
            }
            InboundKind::Text(t) => (t.clone(), Vec::new()),
            InboundKind::Scheduled(s) => (s.prompt.clone(), Vec::new()),
            // Never stored; nothing to answer.
            InboundKind::Button(_) => return Reply::ok(String::new()),
            InboundKind::Media { .. } if self.media.is_none() => {
                return Reply::ok("Sorry, I can't handle files here — please send text.")
            }
            InboundKind::Media { .. } => {
                let (row2, sink, cancel2) = (row.clone(), sink.clone(), cancel.clone());
                let (ws, opts) = (self.opts.workspace.clone(), self.media.clone());
                let prepared = tokio::task::spawn_blocking(move || match opts {
                    Some(o) => media::prepare(&row2, &*sink, &ws, &o, &cancel2),
                    None => media::Prepared::default(),
                })
                .await
                .unwrap_or_default();
                (prepared.text, prepared.images)
            }
        };
        match self.turn(row, &text, images, cancel, ask).await {
            Ok(reply) => reply,
            Err(e) => {
                warn!("turn for inbound {} failed: store error: {e}", row.id);
                Reply::failed(format!(
                    "Sorry, I couldn't save this conversation ({}). Nothing was lost; I'll pick it up when storage recovers.",
                    short_store_error(&e)
                ))
            }
        }
    }

    async fn turn(
        &self,
        row: &InboundRow,
        text: &str,
        images: Vec<Image>,
        cancel: &Cancel,
        ask: Option<&Asker<'_>>,
    ) -> Result<Reply, StoreError> {
        let key = self.session_key(&row.inbound);
        let inbound_id = row.id;
        let user = ChatMessage::user(match row.inbound.chat_kind {
            ChatKind::Group => format!("[{}] {text}", row.inbound.sender.display),
            ChatKind::Direct => text.to_string(),
        });
        // One store round trip: mark the event in progress, find the
        // session, read what this turn already recorded (a resumed turn),
        // and for a fresh turn record the user message and read what the
        // first model call needs.
        let fresh = row.status == InboundStatus::Pending;
        let (persona, kept) = (self.persona.clone(), self.history.clone());
        let grant = self.access.grant(&row.inbound);
        let names = gate::offered_names(&self.tools_now(), &grant);
        let (session, prior, first) = self
            .db
            .call(move |s| {
                if fresh {
                    s.set_inbound_status(inbound_id, InboundStatus::Working, None)?;
                }
                let session = s.active_session(&key)?;
                let prior = s.turn_messages(inbound_id)?;
                let mut first = None;
                if prior.is_empty() {
                    s.append_message(session, Some(inbound_id), &user)?;
                    first = Some((kept.load(s, session)?, persona.prompt(&names)));
                }
                Ok((session, prior, first))
            })
            .await?;

        if !prior.is_empty() {
            info!(
                "resuming turn for inbound {inbound_id} ({} steps recorded)",
                prior.len()
            );
            if let Some(last) = prior.last() {
                if last.role == Role::Assistant && last.tool_calls.is_empty() {
                    // Answered before the crash, reply not yet queued.
                    return Ok(Reply::ok(last.content.clone()));
                }
            }
        }

        let at = At {
            session,
            inbound_id,
            caller: Caller {
                channel: row.inbound.channel.clone(),
                chat_id: row.inbound.chat_id.clone(),
                sender_id: row.inbound.sender.id.clone(),
                group: row.inbound.chat_kind == ChatKind::Group,
            },
            chat_kind: row.inbound.chat_kind,
            message_id: row.inbound.message_id.clone(),
            cancel,
            grant,
            ask,
            compacted: std::sync::atomic::AtomicBool::new(false),
            images,
        };
        let reply = self.steps(&at, &prior, first).await?;
        Ok(
            match at.compacted.load(std::sync::atomic::Ordering::Relaxed) {
                true => Reply {
                    text: format!("{}\n\n{}", compact::NOTICE, reply.text),
                    ..reply
                },
                false => reply,
            },
        )
    }

    /// The model ↔ tools loop of one turn, from what it already recorded.
    async fn steps(
        &self,
        at: &At<'_>,
        prior: &[ChatMessage],
        mut first: Option<(Loaded, Arc<str>)>,
    ) -> Result<Reply, StoreError> {
        let (session, inbound_id, cancel) = (at.session, at.inbound_id, at.cancel);
        let mut iterations = prior.iter().filter(|m| !m.tool_calls.is_empty()).count() as u32;
        let mut failures: HashMap<(String, String), u32> = HashMap::new();
        if let Some(Step::Done(reply)) = self.finish_pending_calls(at, prior, &mut failures).await?
        {
            return Ok(reply);
        }

        loop {
            if cancel.is_cancelled() {
                return Ok(Reply::ok("Stopped."));
            }
            let tools_allowed = iterations < self.opts.max_tool_iterations;
            let preloaded = first.take().filter(|_| tools_allowed);
            let completion = match self.ask(at, tools_allowed, preloaded).await? {
                Ok(c) => c,
                Err(ProviderError::Cancelled) => return Ok(Reply::ok("Stopped.")),
                Err(e) => return Ok(provider_failure(&e)),
            };
            let served_by = completion.served_by.clone();
            let usage = completion.usage;
            let mut message = completion.message;
            if !tools_allowed {
                // Asked for a final answer; calls made anyway are dropped so
                // history never holds a call without its result.
                message.tool_calls.clear();
            }
            let calls = message.tool_calls.clone();
            let stored = message.clone();
            self.db
                .call(move |s| {
                    s.record_usage(session, &served_by, usage)?;
                    s.append_message(session, Some(inbound_id), &stored)
                })
                .await?;
            if calls.is_empty() {
                let text = if message.content.trim().is_empty() {
                    String::from("(The model returned an empty answer.)")
                } else {
                    message.content
                };
                return Ok(Reply::ok(text));
            }
            iterations += 1;
            let mut i = 0;
            while i < calls.len() {
                if cancel.is_cancelled() {
                    return Ok(Reply::ok("Stopped."));
                }
                // Consecutive spawn calls run side by side (the subagent
                // limit bounds how many at once); everything else in order.
                let group = calls[i..]
                    .iter()
                    .take_while(|c| c.name == "spawn" && self.subagents.is_some())
                    .count()
                    .max(1);
                if group > 1 {
                    let outcomes = self.execute_all(at, &calls[i..i + group]).await?;
                    for outcome in outcomes {
                        if let Step::Done(r) = self.settle(at, outcome, &mut failures).await? {
                            return Ok(r);
                        }
                    }
                } else if let Step::Done(reply) =
                    self.run_tool(at, &calls[i], &mut failures).await?
                {
                    return Ok(reply);
                }
                i += group;
            }
        }
    }

    /// After a crash between a tool call and its result, runs the calls whose
    /// results are missing.
    async fn finish_pending_calls(
        &self,
        at: &At<'_>,
        prior: &[ChatMessage],
        failures: &mut HashMap<(String, String), u32>,
    ) -> Result<Option<Step>, StoreError> {
        let Some(pos) = prior.iter().rposition(|m| !m.tool_calls.is_empty()) else {
            return Ok(None);
        };
        let answered: Vec<&str> = prior[pos + 1..]
            .iter()
            .filter_map(|m| m.tool_call_id.as_deref())
            .collect();
        for call in &prior[pos].tool_calls {
            if answered.contains(&call.id.as_str()) {
                continue;
            }
            if let Step::Done(r) = self.run_tool(at, call, failures).await? {
                return Ok(Some(Step::Done(r)));
            }
        }
        Ok(Some(Step::Continue))
    }

    async fn run_tool(
        &self,
        at: &At<'_>,
        call: &picoclaw_core::ToolCall,
        failures: &mut HashMap<(String, String), u32>,
    ) -> Result<Step, StoreError> {
        let outcome = match self.gate(at, call).await? {
            Gated::Run(call) => {
                let (output, took) = self.execute(at, &call).await;
                Outcome::ran(call, output, took)
            }
            Gated::Refused(output) => Outcome::refused(call.clone(), output),
        };
        self.settle(at, outcome, failures).await
    }

    /// Starts one call on the blocking pool.
    fn start(
        &self,
        at: &At<'_>,
        call: &picoclaw_core::ToolCall,
    ) -> (tokio::task::JoinHandle<(ToolOutput, Duration)>, Instant) {
        let ctx = ToolContext {
            workspace: self.opts.workspace.clone(),
            session: at.session.to_string(),
            caller: at.caller.clone(),
            timeout: self.opts.tool_timeout,
            cancel: at.cancel.clone(),
        };
        let tools = self.tools_now().set.clone();
        let (name, args) = (call.name.clone(), call.arguments.clone());
        let started = Instant::now();
        let job = tokio::task::spawn_blocking(move || {
            let output = tools.call(&name, &ctx, &args);
            (output, started.elapsed())
        });
        (job, started)
    }

    async fn execute(&self, at: &At<'_>, call: &picoclaw_core::ToolCall) -> (ToolOutput, Duration) {
        let (job, started) = self.start(at, call);
        finished(at, call, job.await, started)
    }

    /// Runs `calls` at once (each past the gate first, one by one: a
    /// question waits for its answer) and returns their outcomes in call
    /// order.
    async fn execute_all(
        &self,
        at: &At<'_>,
        calls: &[picoclaw_core::ToolCall],
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut gated = Vec::with_capacity(calls.len());
        for c in calls {
            gated.push((c, self.gate(at, c).await?));
        }
        let started: Vec<_> = gated
            .into_iter()
            .map(|(c, g)| match g {
                Gated::Run(call) => {
                    let job = self.start(at, &call);
                    (call, Ok(job))
                }
                Gated::Refused(out) => (c.clone(), Err(out)),
            })
            .collect();
        let mut out = Vec::with_capacity(started.len());
        for (call, job) in started {
            out.push(match job {
                Ok((job, t0)) => {
                    let (output, took) = finished(at, &call, job.await, t0);
                    Outcome::ran(call, output, took)
                }
                Err(refusal) => Outcome::refused(call, refusal),
            });
        }
        Ok(out)
    }

    /// Records a call's output with its audit row and the files it sends
    /// (those in one transaction with the result), and applies the
    /// same-failure guard.
    async fn settle(
        &self,
        at: &At<'_>,
        outcome: Outcome,
        failures: &mut HashMap<(String, String), u32>,
    ) -> Result<Step, StoreError> {
        let Outcome {
            call,
            mut output,
            took,
            refused,
        } = outcome;
        let call = &call;
        let (session, inbound_id) = (at.session, at.inbound_id);
        let is_error = output.is_error;
        let record = match refused {
            true => audit::denied(&at.caller, inbound_id, call, &output.content),
            false => audit::record(&at.caller, inbound_id, call, &output, took),
        };
        let result = ChatMessage::tool_result(call.id.clone(), output.content.clone());
        let (channel, chat) = (at.caller.channel.clone(), at.caller.chat_id.clone());
        let files = match is_error {
            true => Vec::new(),
            false => std::mem::take(&mut output.files),
        };
        self.db
            .call(move |s| {
                if files.is_empty() {
                    s.append_message(session, Some(inbound_id), &result)?;
                } else {
                    s.append_result_with_files(
                        session,
                        Some(inbound_id),
                        &result,
                        &channel,
                        &chat,
                        &files,
                    )?;
                }
                s.record_tool_call(&record)
            })
            .await?;
        if is_error {
            let n = failures
                .entry((call.name.clone(), call.arguments.clone()))
                .or_insert(0);
            *n += 1;
            if *n >= SAME_FAILURE_LIMIT {
                warn!("inbound {inbound_id}: tool {} failed {SAME_FAILURE_LIMIT} times with the same arguments; ending the turn", call.name);
                let reason = prompt::cut(output.content.trim(), 300);
                let text = format!(
                    "I stopped: the tool `{}` failed {SAME_FAILURE_LIMIT} times in a row with the same arguments. Last error: {reason}",
                    call.name
                );
                self.append(session, inbound_id, ChatMessage::assistant(text.clone()))
                    .await?;
                return Ok(Step::Done(Reply::ok(text)));
            }
        }
        Ok(Step::Continue)
    }

    /// One provider call with the session's trimmed history, compacting
    /// it first when it nears the context window, and once more (then one
    /// retry) when the provider says the prompt is too long.
    async fn ask(
        &self,
        at: &At<'_>,
        tools_allowed: bool,
        preloaded: Option<(Loaded, Arc<str>)>,
    ) -> Result<Result<Completion, ProviderError>, StoreError> {
        let offer = match tools_allowed {
            true => gate::offer(&self.tools_now(), &at.grant),
            false => gate::Offer::nothing(),
        };
        let (mut loaded, prompt) = match preloaded {
            Some(p) => p,
            None => self.load(at.session, offer.names).await?,
        };
        // Shared with the provider call, not copied: tool schemas are most
        // of a request.
        let offered = offer.specs;
        let tools_tokens = offer.tokens;
        let window = self.opts.context_window as usize;
        let mut retried = false;
        loop {
            let system = compact::with_summary(&prompt, loaded.summary.as_deref());
            let overhead = trim::estimate_tokens(&system) + tools_tokens;
            let used = overhead
                + loaded
                    .messages
                    .iter()
                    .map(|(_, m)| trim::message_tokens(m))
                    .sum::<usize>();
            let at_percent = self.opts.compact_at_percent as usize;
            // Keep what fits the configured share of the window after
            // compacting.
            let keep = (window * compact::KEEP_PERCENT / 100).saturating_sub(overhead);
            if !retried && at_percent > 0 && used * 100 > window * at_percent {
                if let Some(fresh) = self.compact(at, &loaded, keep).await? {
                    loaded = fresh;
                    continue;
                }
            }
            let budget = window.saturating_sub(overhead);
            let start = trim::keep_from(&loaded.messages, |(_, m)| m, budget);
            let mut messages: Vec<ChatMessage> = loaded.messages[start..]
                .iter()
                .map(|(_, m)| m.clone())
                .collect();
            if !at.images.is_empty() {
                attach_images(&mut messages, &at.images);
            }
            if !tools_allowed {
                messages.push(ChatMessage::user(
                    "[system] The tool-call limit for this message was reached. Answer now with what you have; do not call tools.",
                ));
            }
            let (provider, offered) = (self.provider.clone(), offered.clone());
            let job = tokio::task::spawn_blocking(move || {
                provider.complete(&CompletionRequest {
                    system: &system,
                    messages: &messages,
                    tools: offered.as_slice(),
                })
            });
            match wait_or_cancel(job, at.cancel).await {
                Err(ProviderError::ContextLength { message }) if !retried => {
                    warn!("the model says the prompt is too long ({message}); compacting and retrying once");
                    retried = true;
                    // The model's real window is smaller than configured:
                    // keep at most half of what was just refused.
                    let keep = keep.min(used.saturating_sub(overhead) / 2);
                    match self.compact(at, &loaded, keep).await? {
                        Some(fresh) => loaded = fresh,
                        None => return Ok(Err(ProviderError::ContextLength { message })),
                    }
                }
                other => return Ok(other),
            }
        }
    }

    /// The session's history and the system prompt naming `tools`, in one
    /// hop to the blocking pool (the prompt's files are only re-read when
    /// they change).
    async fn load(
        &self,
        session: i64,
        tools: Vec<String>,
    ) -> Result<(Loaded, Arc<str>), StoreError> {
        let (persona, kept) = (self.persona.clone(), self.history.clone());
        self.db
            .call(move |s| Ok((kept.load(s, session)?, persona.prompt(&tools))))
            .await
    }

    /// Summarises the older part of `loaded`, keeping a tail of at most
    /// `keep` tokens (and always the turn in progress), and records it;
    /// returns the
    /// history as the next call should see it, or `None` when there was
    /// nothing to summarise or the summary failed (then the call goes on
    /// with the history trimmed as usual, and a provider that refuses it
    /// says so to the user).
    async fn compact(
        &self,
        at: &At<'_>,
        loaded: &Loaded,
        keep: usize,
    ) -> Result<Option<Loaded>, StoreError> {
        let Some(plan) = compact::plan(loaded, keep) else {
            return Ok(None);
        };
        let text = compact::transcript(loaded.summary.as_deref(), &loaded.messages[..plan.cut]);
        let provider = self.provider.clone();
        let job = tokio::task::spawn_blocking(move || {
            provider.complete(&compact::request(&[ChatMessage::user(text)]))
        });
        let done = match wait_or_cancel(job, at.cancel).await {
            Ok(c) if !c.message.content.trim().is_empty() => c,
            Ok(_) => {
                warn!("compaction: the model returned an empty summary; not compacting");
                return Ok(None);
            }
            Err(e) => {
                warn!("compaction: the summary request failed ({e}); not compacting");
                return Ok(None);
            }
        };
        let (session, upto, summary) = (
            at.session,
            plan.upto,
            done.message.content.trim().to_string(),
        );
        let (served_by, usage) = (done.served_by.clone(), done.usage);
        let kept = self.history.clone();
        let fresh = self
            .db
            .call(move |s| {
                s.record_usage(session, &served_by, usage)?;
                s.set_session_summary(session, &summary, upto)?;
                kept.forget(session);
                kept.load(s, session)
            })
            .await?;
        info!(
            "session {session}: compacted {} messages into a summary",
            plan.cut
        );
        at.compacted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(fresh))
    }

    async fn append(
        &self,
        session: i64,
        inbound_id: i64,
        msg: ChatMessage,
    ) -> Result<i64, StoreError> {
        self.db
            .call(move |s| s.append_message(session, Some(inbound_id), &msg))
            .await
    }
}

/// A started call's output, logged and scrubbed of secrets, with how long
/// it took; a crashed tool becomes an error result.
fn finished(
    at: &At<'_>,
    call: &picoclaw_core::ToolCall,
    joined: Result<(ToolOutput, Duration), tokio::task::JoinError>,
    started: Instant,
) -> (ToolOutput, Duration) {
    let (mut output, took) = joined.unwrap_or_else(|e| {
        (
            ToolOutput::error(format!("tool crashed: {e}")),
            started.elapsed(),
        )
    });
    debug!(
        "tool {} for inbound {}: {} in {} ms",
        call.name,
        at.inbound_id,
        if output.is_error { "error" } else { "ok" },
        took.as_millis()
    );
    // Whatever a tool printed (a key in a file, a token in `env`)
    // reaches neither the model, nor the history, nor the audit log.
    if let Cow::Owned(clean) = redact::scrub(&output.content) {
        output.content = clean;
    }
    (output, took)
}

/// Puts the turn's pictures on the turn's own message: the last user
/// message, when only this turn's tool rounds follow it (a chat's turns run
/// one at a time, and a turn's final answer ends it). When trimming dropped
/// that message, the last user message kept is an earlier turn's, followed
/// by its answer: the pictures are left out rather than put on it.
fn attach_images(messages: &mut [ChatMessage], images: &[Image]) {
    let Some(i) = messages.iter().rposition(|m| m.role == Role::User) else {
        return;
    };
    let only_rounds = messages[i + 1..]
        .iter()
        .all(|m| m.role == Role::Tool || (m.role == Role::Assistant && !m.tool_calls.is_empty()));
    if only_rounds {
        messages[i].images = images.to_vec();
    }
}

/// Awaits a blocking provider call, giving up when the turn is cancelled.
/// The abandoned HTTP request finishes on its pool thread and is dropped.
async fn wait_or_cancel(
    mut job: tokio::task::JoinHandle<Result<Completion, ProviderError>>,
    cancel: &Cancel,
) -> Result<Completion, ProviderError> {
    loop {
        tokio::select! {
            res = &mut job => {
                return res.unwrap_or_else(|e| Err(ProviderError::Transport(format!("provider task failed: {e}"))));
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if cancel.is_cancelled() {
                    return Err(ProviderError::Cancelled);
                }
            }
        }
    }
}

fn provider_failure(e: &ProviderError) -> Reply {
    match e {
        // The provider chain says this once, when it happens.
        ProviderError::Unreachable { .. } => debug!("model call failed: {e}"),
        _ => warn!("model call failed: {e}"),
    }
    match e {
        ProviderError::Unreachable { url, reason, hint } => Reply::failed(format!(
            "I can't reach the model at {url} ({reason}). To fix it: {hint}."
        )),
        ProviderError::ContextLength { .. } => Reply::failed(
            "This conversation is too long for the model, even after summarising the older part. Send /new to start a fresh one.",
        ),
        ProviderError::Request { status, message } => Reply::failed(format!(
            "The model provider rejected the request (HTTP {status}: {}). If this keeps happening, /new starts a fresh conversation.",
            prompt::cut(message, 300)
        )),
        other => Reply::failed(format!(
            "Sorry, I couldn't get an answer from the model ({}). Please try again in a little while.",
            prompt::cut(&other.to_string(), 300)
        )),
    }
}

fn short_store_error(e: &StoreError) -> &'static str {
    match e {
        StoreError::DiskFull { .. } => "the disk is full",
        StoreError::ReadOnly { .. } => "the database is read-only",
        StoreError::Busy { .. } => "the database is busy",
        StoreError::Corrupt { .. } => "the database is damaged",
        _ => "a storage error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture() -> Vec<Image> {
        vec![Image {
            media_type: "image/png",
            data: Arc::from(&b"\x89PNG"[..]),
        }]
    }

    fn call() -> ChatMessage {
        ChatMessage::calls(vec![picoclaw_core::ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: "{}".into(),
        }])
    }

    #[test]
    fn pictures_go_on_the_turns_message_across_its_tool_rounds_and_never_on_an_older_one() {
        let mut current = vec![
            ChatMessage::user("old question"),
            ChatMessage::assistant("old answer"),
            ChatMessage::user("[photo saved at inbox/p.png] what is it?"),
            call(),
            ChatMessage::tool_result("c1", "..."),
        ];
        attach_images(&mut current, &picture());
        let with: Vec<usize> = (0..current.len())
            .filter(|&i| !current[i].images.is_empty())
            .collect();
        assert_eq!(with, [2]);
        // Trimming dropped the turn's message: the last user message left is
        // an earlier turn's, answered since.
        let mut trimmed = vec![
            ChatMessage::user("old question"),
            ChatMessage::assistant("old answer"),
            call(),
            ChatMessage::tool_result("c1", "..."),
        ];
        attach_images(&mut trimmed, &picture());
        assert!(trimmed.iter().all(|m| m.images.is_empty()));
    }
}
