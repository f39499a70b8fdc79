use std::time::Duration;

use crate::msg::{ChatMessage, ToolSpec, Usage};

/// Everything a provider needs for one completion call.
#[derive(Debug, Clone)]
pub struct CompletionRequest<'a> {
    pub system: &'a str,
    pub messages: &'a [ChatMessage],
    /// Empty means "answer without tools" (used at the tool-iteration cap).
    pub tools: &'a [ToolSpec],
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    ToolCalls,
    /// Output hit `max_tokens`; the text is usable but cut.
    Length,
    /// The provider's safety system refused or filtered the answer.
    Refusal,
    Other,
}

/// One model answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Always `Role::Assistant`; may carry tool calls.
    pub message: ChatMessage,
    pub usage: Usage,
    pub finish: FinishReason,
    /// `name/model` of the provider that answered (after fallback).
    pub served_by: String,
}

/// A provider call failure, classified for the retry/fallback policy.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Connection refused/reset, DNS, TLS or timeout. Retryable.
    #[error("transport error: {0}")]
    Transport(String),
    /// Nothing answers at the provider's address: connection refused, no
    /// route, or the host name does not resolve (a local server that is
    /// not started, a typo in `base_url`). Retryable; `hint` says what to
    /// start or set.
    #[error("cannot reach {url} ({reason}); {hint}")]
    Unreachable {
        url: String,
        reason: String,
        hint: String,
    },
    /// HTTP 429. Retryable after `retry_after` when the server said so.
    #[error("rate limited (HTTP 429){}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// HTTP 5xx (and 529 overloaded). Retryable.
    #[error("server error: HTTP {status}")]
    Server { status: u16 },
    /// HTTP 401/403: this provider's credentials are wrong. Not retryable,
    /// but the next provider may work, so fallback is allowed.
    #[error("authentication failed: HTTP {status}: {message}")]
    Auth { status: u16, message: String },
    /// The prompt is longer than the model's context window (OpenAI's
    /// `context_length_exceeded`, Anthropic's "prompt is too long", llama.cpp's
    /// "exceeds the available context size"). Not retried as is: the agent
    /// compacts the conversation and tries once more.
    #[error("the conversation is too long for the model: {message}")]
    ContextLength { message: String },
    /// Other HTTP 4xx: the request itself was refused. Neither retried nor
    /// sent to a fallback; the message is reported to the user.
    #[error("request rejected: HTTP {status}: {message}")]
    Request { status: u16, message: String },
    /// The body was not the JSON shape the API documents. Retryable: proxies
    /// and overloaded servers send truncated or HTML bodies.
    #[error("malformed response: {0}")]
    Decode(String),
    /// The turn was cancelled (`/stop`, shutdown).
    #[error("cancelled")]
    Cancelled,
}

fn retry_hint(after: &Option<Duration>) -> String {
    match after {
        Some(d) => format!(", retry after {}s", d.as_secs()),
        None => String::new(),
    }
}

impl ProviderError {
    /// Worth another attempt at the same provider.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Transport(_)
                | ProviderError::Unreachable { .. }
                | ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }
                | ProviderError::Decode(_)
        )
    }

    /// Worth trying the next configured provider once retries are spent.
    pub fn allows_fallback(&self) -> bool {
        !matches!(
            self,
            ProviderError::Request { .. }
                | ProviderError::ContextLength { .. }
                | ProviderError::Cancelled
        )
    }
}

/// An LLM endpoint. Implementations are blocking (ureq); the agent calls them
/// from the bounded blocking pool, never from the event loop thread.
pub trait Provider: Send + Sync {
    /// `name/model`, for logs, `/status` and usage records.
    fn label(&self) -> String;

    fn complete(&self, req: &CompletionRequest<'_>) -> Result<Completion, ProviderError>;
}

/// Speech to text: an OpenAI-compatible `/audio/transcriptions` endpoint
/// (OpenAI and Groq Whisper, local whisper servers). Blocking, called from
/// the blocking pool.
pub trait Transcriber: Send + Sync {
    /// The words in `audio` (`len` bytes, sent under `name`), streamed from
    /// the file rather than read into memory.
    fn transcribe(
        &self,
        audio: std::fs::File,
        len: u64,
        name: &str,
    ) -> Result<String, ProviderError>;
}
