//! LLM providers for picoclaw: the OpenAI-compatible Chat Completions API
//! (OpenAI, OpenRouter, Groq, DeepSeek, Ollama, vLLM, llama.cpp, LM
//! Studio...), the Anthropic Messages API, and a [`Chain`] that retries
//! transient failures with backoff and falls back to the next configured
//! model. Pictures go to models marked `vision`; [`Whisper`] transcribes
//! voice notes through an OpenAI-compatible `/audio/transcriptions`.
//!
//! Each provider implements [`picoclaw_core::Provider`]: blocking calls over
//! the shared `picoclaw-http` client, no streaming. HTTP statuses are turned
//! into [`ProviderError`] classes in one place so both wire formats retry and
//! fall back alike. This crate does not read config files, persist usage or
//! decide what to tell the user; the agent does.

mod anthropic;
mod chain;
mod image;
mod openai;
mod reach;
mod status;
mod transcribe;

use std::time::Duration;

pub use anthropic::Anthropic;
pub use chain::{build, Chain, RetryPolicy};
pub use openai::OpenAi;
pub use picoclaw_core::ProviderError;
pub use transcribe::{TranscriptionOptions, Whisper};

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// `POST {base_url}/chat/completions`, `Authorization: Bearer`.
    OpenAi,
    /// `POST {base_url}/v1/messages`, `x-api-key`.
    Anthropic,
}

impl ProviderKind {
    /// The vendor's public endpoint, used when `base_url` is empty.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

/// One configured provider/model, already resolved from config (secrets
/// read, defaults applied).
#[derive(Debug, Clone)]
pub struct ProviderOptions {
    /// Short name for logs and `served_by`, e.g. "openrouter".
    pub name: String,
    pub kind: ProviderKind,
    /// Empty means [`ProviderKind::default_base_url`]. A trailing `/` is
    /// ignored.
    pub base_url: String,
    /// `None` for local servers (Ollama, llama.cpp) that need no key.
    pub api_key: Option<String>,
    pub model: String,
    pub max_tokens: u32,
    /// `None` leaves the server's default.
    pub temperature: Option<f32>,
    /// Whole-request deadline. Models can think for a while; keep it long.
    pub timeout: Duration,
    /// Extra headers sent with every request (OpenRouter's `HTTP-Referer`,
    /// `X-Title`; a gateway's routing header...).
    pub headers: Vec<(String, String)>,
    /// Explicit proxy URL; `None` uses `HTTPS_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// The model takes pictures: user messages' images go out as image
    /// parts. Otherwise they are left out (the text names the saved file).
    pub vision: bool,
}

impl ProviderOptions {
    /// Options with the defaults picoclaw's config uses: vendor base URL,
    /// no key, 1024 output tokens, server-default temperature, 120 s.
    pub fn new(kind: ProviderKind, model: impl Into<String>) -> ProviderOptions {
        ProviderOptions {
            name: kind.as_str().to_string(),
            kind,
            base_url: String::new(),
            api_key: None,
            model: model.into(),
            max_tokens: 1024,
            temperature: None,
            timeout: Duration::from_secs(120),
            headers: Vec::new(),
            proxy: None,
            vision: false,
        }
    }

    /// `name/model`, the label used in logs and usage records.
    pub fn label(&self) -> String {
        format!("{}/{}", self.name, self.model)
    }

    fn base(&self) -> &str {
        let b = self.base_url.trim().trim_end_matches('/');
        if b.is_empty() {
            self.kind.default_base_url()
        } else {
            b
        }
    }
}

/// Builds the HTTP client for one provider and registers its key for log
/// redaction.
fn client_for(opts: &ProviderOptions) -> Result<picoclaw_http::Client, ProviderError> {
    if let Some(key) = &opts.api_key {
        picoclaw_core::redact::register(key);
    }
    let http = picoclaw_http::HttpOptions {
        connect_timeout: opts.timeout.min(Duration::from_secs(10)),
        timeout: opts.timeout,
        proxy: opts.proxy.clone(),
        ..picoclaw_http::HttpOptions::default()
    };
    picoclaw_http::Client::new(&http).map_err(|e| ProviderError::Request {
        // No HTTP exchange happened: status 0 marks a configuration error.
        status: 0,
        message: format!("provider {}: {e}", opts.label()),
    })
}

/// Builds one provider from its options.
pub fn provider(opts: &ProviderOptions) -> Result<Box<dyn picoclaw_core::Provider>, ProviderError> {
    Ok(match opts.kind {
        ProviderKind::OpenAi => Box::new(OpenAi::new(opts.clone())?),
        ProviderKind::Anthropic => Box::new(Anthropic::new(opts.clone())?),
    })
}
