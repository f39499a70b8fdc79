//! `spawn`: a subagent. The tool runs a child turn — its own short
//! history (the task alone), a restricted subset of the parent's tools, the
//! same provider and sandbox — and hands its final answer back as the tool
//! result. Bounded three ways: depth (a child at the last level gets no
//! `spawn`), concurrency (a shared slot count; spawn calls in one model
//! reply run side by side), and a wall-clock timeout.
//!
//! Why the child runs as one blocking tool call and records nothing in
//! the parent's history but its result: the agent's resume rule is "a tool
//! call whose result is not recorded runs again", and a child is one such
//! call. After a crash the parent's turn resumes and re-runs the spawn from
//! the task, as it re-runs any tool — the child's own tool calls are
//! at-least-once, like the parent's. Recording the child's steps under the
//! parent's turn would make them look like the parent's own steps to the
//! resume logic and to every later prompt. What must survive a crash is
//! recorded at once: the child's token usage (budgets count it) goes to
//! the store after each of its model calls, and files it asks to send ride
//! on its result, which the parent records with them in one transaction.

use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use picoclaw_core::{
    redact, warn, Cancel, ChatMessage, CompletionRequest, OutFile, Provider, Tool, ToolContext,
    ToolOutput, ToolSpec,
};
use picoclaw_tools::{Args, ToolSet};
use serde_json::{json, Value};

use crate::audit;
use crate::db::Db;
use crate::trim;

/// Limits on subagents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubagentOptions {
    /// Levels below the parent: 1 lets the parent spawn, 2 lets its
    /// children spawn too. Never more than 2.
    pub max_depth: u32,
    /// Child turns running at once, over all levels.
    pub max_concurrent: usize,
    /// Wall-clock limit of one child turn, waiting for a slot included.
    pub timeout: Duration,
    /// Model↔tool rounds a child may take before it must answer.
    pub max_tool_iterations: u32,
}

impl Default for SubagentOptions {
    fn default() -> Self {
        SubagentOptions {
            max_depth: 2,
            max_concurrent: 2,
            timeout: Duration::from_secs(300),
            max_tool_iterations: 10,
        }
    }
}

/// The hard ceiling on depth, whatever the options say.
pub const MAX_DEPTH: u32 = 2;

const PROMPT: &str = "You are a subagent of picoclaw, working on one task for it. Use your \
tools as needed, then answer with the result only: it is handed back as the tool result. \
Paths are relative to the shared workspace.";

/// What every `spawn` tool of one agent shares.
pub(crate) struct Kit {
    pub provider: Arc<dyn Provider>,
    pub db: Db,
    pub opts: SubagentOptions,
    /// Prompt budget of a child, in tokens.
    pub context_window: usize,
    running: Mutex<usize>,
    freed: Condvar,
}

impl Kit {
    pub fn new(
        provider: Arc<dyn Provider>,
        db: Db,
        opts: SubagentOptions,
        context_window: u32,
    ) -> Kit {
        Kit {
            provider,
            db,
            opts: SubagentOptions {
                max_depth: opts.max_depth.min(MAX_DEPTH),
                max_concurrent: opts.max_concurrent.max(1),
                ..opts
            },
            context_window: context_window as usize,
            running: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// A slot, waiting until `deadline` when `wait`, else only if one is
    /// free now. A child asking for a grandchild does not wait: its parent
    /// may hold the other slots waiting for it.
    fn slot(self: &Arc<Self>, wait: bool, deadline: Instant, cancel: &Cancel) -> Option<Slot> {
        let mut n = self.running.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= self.opts.max_concurrent {
            let now = Instant::now();
            if !wait || now >= deadline || cancel.is_cancelled() {
                return None;
            }
            let step = (deadline - now).min(Duration::from_millis(100));
            n = self
                .freed
                .wait_timeout(n, step)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *n += 1;
        Some(Slot(self.clone()))
    }
}

/// A running child's claim on the concurrency limit, released when the
/// child's thread ends (not when its parent stops waiting for it).
struct Slot(Arc<Kit>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.0.freed.notify_all();
    }
}

/// The `spawn` tool at one depth.
pub(crate) struct Spawn {
    pub kit: Arc<Kit>,
    /// What a child may be given: the spawner's tools without `spawn`.
    pub tools: Arc<ToolSet>,
    /// The depth of the children this tool starts (1 for the parent's).
    pub depth: u32,
}

impl Tool for Spawn {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: String::from("spawn"),
            description: format!(
                "Delegate a self-contained task to a subagent (fresh context, your tools or a subset) and get its final answer. Up to {} run at once; several spawn calls in one reply run in parallel.",
                self.kit.opts.max_concurrent
            ),
            parameters: json!({"type": "object", "properties": {
                "task": {"type": "string", "description": "Everything the subagent needs to know"},
                "tools": {"type": "array", "items": {"type": "string"}, "description": "Tool names it may use (default: all of yours)"}
            }, "required": ["task"]}),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        match self.run(ctx, args) {
            Ok(out) => out,
            Err(e) => ToolOutput::error(e),
        }
    }
}

impl Spawn {
    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
        let a = Args::new(args)?;
        let task = a.required_str("task")?.trim().to_string();
        if task.is_empty() {
            return Err(String::from(
                "'task' is empty: say what the subagent should do",
            ));
        }
        let tools = self.child_tools(args.get("tools"))?;
        let started = Instant::now();
        let deadline = started + self.kit.opts.timeout;
        let limit = self.kit.opts.max_concurrent;
        let Some(slot) = self.kit.slot(self.depth == 1, deadline, &ctx.cancel) else {
            return Err(if self.depth == 1 && !ctx.cancel.is_cancelled() {
                format!(
                    "no subagent slot freed up within {} s (at most {limit} run at once)",
                    self.kit.opts.timeout.as_secs()
                )
            } else {
                format!("at most {limit} subagents run at once and none is free; do this part yourself or spawn it later")
            });
        };
        let child_cancel = Cancel::new();
        let child = Child {
            kit: self.kit.clone(),
            tools,
            task,
            ctx: ToolContext {
                cancel: child_cancel.clone(),
                ..ctx.clone()
            },
            deadline,
        };
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("subagent-{}", self.depth))
            .spawn(move || {
                let _slot = slot;
                let _ = tx.send(child.run());
            });
        if let Err(e) = spawned {
            return Err(format!("cannot start the subagent: {e}"));
        }
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok((answer, files))) => {
                    let mut out = ToolOutput::ok(answer);
                    out.files = files;
                    return Ok(out);
                }
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(String::from("the subagent crashed"))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if ctx.cancel.is_cancelled() {
                child_cancel.cancel();
                return Err(String::from("stopped"));
            }
            if Instant::now() >= deadline {
                // The child stops at its next step; a model call in flight
                // ends by the provider's own timeout, its slot with it.
                child_cancel.cancel();
                warn!(
                    "subagent timed out after {} s",
                    self.kit.opts.timeout.as_secs()
                );
                return Err(format!(
                    "the subagent did not finish within {} s and was stopped; work it did may be in the workspace",
                    self.kit.opts.timeout.as_secs()
                ));
            }
        }
    }

    /// The child's tools: the named subset (all when none are named), plus
    /// `spawn` one level down while the depth allows.
    fn child_tools(&self, names: Option<&Value>) -> Result<ToolSet, String> {
        let available: Vec<&str> = self.tools.specs().iter().map(|s| s.name.as_str()).collect();
        let base = match names {
            None | Some(Value::Null) => self.tools.filtered(|_| true),
            Some(Value::Array(list)) => {
                let mut wanted = Vec::with_capacity(list.len());
                for v in list {
                    let Some(name) = v.as_str() else {
                        return Err(String::from("'tools' must be a list of tool names"));
                    };
                    if name == "spawn" {
                        if self.depth < self.kit.opts.max_depth {
                            continue;
                        }
                        return Err(format!(
                            "subagents at depth {} cannot spawn their own",
                            self.kit.opts.max_depth
                        ));
                    }
                    if !available.contains(&name) {
                        return Err(format!(
                            "'tools' names {name:?}, which is not one of your tools ({})",
                            available.join(", ")
                        ));
                    }
                    wanted.push(name.to_string());
                }
                self.tools.filtered(|n| wanted.iter().any(|w| w == n))
            }
            Some(_) => return Err(String::from("'tools' must be a list of tool names")),
        };
        if self.depth >= self.kit.opts.max_depth {
            return Ok(base);
        }
        let inner = Arc::new(base.filtered(|_| true));
        Ok(base.with_more(vec![Arc::new(Spawn {
            kit: self.kit.clone(),
            tools: inner,
            depth: self.depth + 1,
        })]))
    }
}

/// One child turn, run on its own thread.
struct Child {
    kit: Arc<Kit>,
    tools: ToolSet,
    task: String,
    ctx: ToolContext,
    deadline: Instant,
}

impl Child {
    /// The model ↔ tools loop over the child's own history.
    fn run(self) -> Result<(String, Vec<OutFile>), String> {
        let session: Option<i64> = self.ctx.session.parse().ok();
        let specs = self.tools.specs().to_vec();
        let tools_tokens: usize = specs
            .iter()
            .map(|s| {
                trim::estimate_tokens(&s.description)
                    + trim::estimate_tokens(&s.parameters.to_string())
            })
            .sum();
        let budget = self
            .kit
            .context_window
            .saturating_sub(trim::estimate_tokens(PROMPT) + tools_tokens);
        let mut history = vec![ChatMessage::user(self.task.clone())];
        let mut files = Vec::new();
        let max = self.kit.opts.max_tool_iterations;
        for round in 0..=max {
            if self.ctx.cancel.is_cancelled() {
                return Err(String::from("stopped"));
            }
            let tools_allowed = round < max;
            let start = trim::keep_from(&history, |m| m, budget);
            let mut messages = history[start..].to_vec();
            if !tools_allowed {
                messages.push(ChatMessage::user(
                    "[system] The tool-call limit for this task was reached. Answer now with what you have.",
                ));
            }
            let req = CompletionRequest {
                system: PROMPT,
                messages: &messages,
                tools: if tools_allowed { &specs } else { &[] },
            };
            let done = self
                .kit
                .provider
                .complete(&req)
                .map_err(|e| format!("the subagent's model call failed: {e}"))?;
            if let Some(session) = session {
                let (by, usage) = (done.served_by.clone(), done.usage);
                if let Err(e) = self
                    .kit
                    .db
                    .blocking(|s| s.record_usage(session, &by, usage))
                {
                    warn!("cannot record a subagent's token usage: {e}");
                }
            }
            let mut message = done.message;
            if !tools_allowed {
                message.tool_calls.clear();
            }
            if message.tool_calls.is_empty() {
                let text = message.content.trim().to_string();
                return Ok((
                    if text.is_empty() {
                        String::from("(the subagent returned an empty answer)")
                    } else {
                        text
                    },
                    files,
                ));
            }
            let calls = message.tool_calls.clone();
            history.push(message);
            for call in &calls {
                if self.ctx.cancel.is_cancelled() {
                    return Err(String::from("stopped"));
                }
                let left = self.deadline.saturating_duration_since(Instant::now());
                let ctx = ToolContext {
                    timeout: self.ctx.timeout.min(left.max(Duration::from_secs(1))),
                    ..self.ctx.clone()
                };
                let started = Instant::now();
                let mut out = self.tools.call(&call.name, &ctx, &call.arguments);
                // As for the parent's own calls: secrets a tool printed reach
                // neither the model nor the log, and every call is audited.
                if let std::borrow::Cow::Owned(clean) = redact::scrub(&out.content) {
                    out.content = clean;
                }
                let row = audit::by_subagent(&self.ctx.caller, call, &out, started.elapsed());
                if let Err(e) = self.kit.db.blocking(|s| s.record_tool_call(&row)) {
                    warn!("cannot audit a subagent's tool call: {e}");
                }
                if !out.is_error {
                    files.extend(std::mem::take(&mut out.files));
                }
                history.push(ChatMessage::tool_result(call.id.clone(), out.content));
            }
        }
        Err(String::from("the subagent ended without an answer"))
    }
}
