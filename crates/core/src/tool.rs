use std::path::PathBuf;
use std::time::Duration;

use crate::cancel::Cancel;
use crate::channel::OutFile;
use crate::msg::ToolSpec;

/// Whom a tool call is made for: the conversation the turn answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// Channel name ("telegram", "cli").
    pub channel: String,
    pub chat_id: String,
    /// The person whose message started the turn.
    pub sender_id: String,
    /// A group chat rather than a direct one.
    pub group: bool,
}

impl Caller {
    /// `channel:sender id`: the scope of what belongs to this person
    /// (memories, for example).
    pub fn owner(&self) -> String {
        format!("{}:{}", self.channel, self.sender_id)
    }
}

/// What a tool call may touch and how long it may take.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// Canonical path of the session's workspace; tools stay inside it.
    pub workspace: PathBuf,
    /// Session key, for logs and per-session state.
    pub session: String,
    pub caller: Caller,
    /// Upper bound for this call (a tool may use less).
    pub timeout: Duration,
    pub cancel: Cancel,
}

/// A tool's answer, fed back to the model as the tool result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub content: String,
    /// The call failed (bad arguments, refused path, non-zero exit...). The
    /// model sees the content either way; the flag drives the "same failing
    /// call three times" guard and provider `is_error` fields.
    pub is_error: bool,
    /// A command's exit status (exec), for the audit log.
    pub exit_code: Option<i32>,
    /// What the sandbox enforced for this call (exec's enforcement label),
    /// for the audit log.
    pub sandbox: Option<String>,
    /// Files to deliver to the chat (`send_file`). The agent queues them in
    /// the outbox in the same transaction that records this result, so a
    /// crash either re-runs the call or sends them, never both.
    pub files: Vec<OutFile>,
}

impl ToolOutput {
    pub fn ok(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: false,
            exit_code: None,
            sandbox: None,
            files: Vec::new(),
        }
    }

    pub fn error(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: true,
            exit_code: None,
            sandbox: None,
            files: Vec::new(),
        }
    }

    /// The same output, with how a command ended and under what sandbox.
    pub fn with_run(mut self, exit_code: Option<i32>, sandbox: impl Into<String>) -> Self {
        self.exit_code = exit_code;
        self.sandbox = Some(sandbox.into());
        self
    }

    /// This result, also asking for `file` to be sent to the chat.
    pub fn with_file(mut self, file: OutFile) -> Self {
        self.files.push(file);
        self
    }
}

/// Something the model can call. Implementations are blocking and run on the
/// blocking pool; they must never panic on model-supplied arguments.
pub trait Tool: Send + Sync {
    fn spec(&self) -> ToolSpec;

    fn call(&self, ctx: &ToolContext, args: &serde_json::Value) -> ToolOutput;
}
