//! Speech to text over the OpenAI-compatible `POST {base}/audio/transcriptions`
//! (OpenAI and Groq Whisper, whisper.cpp's and faster-whisper's servers):
//! a multipart upload of `model` and `file`, answered with `{"text": ...}`.
//! The audio is streamed from disk, never read into memory.

use std::time::Duration;

use picoclaw_core::{ProviderError, Transcriber};
use picoclaw_http::Multipart;

use crate::status;

/// A transcription endpoint, resolved from `[transcription]`.
#[derive(Debug, Clone)]
pub struct TranscriptionOptions {
    /// E.g. `https://api.openai.com/v1`, `https://api.groq.com/openai/v1`.
    pub base_url: String,
    /// `whisper-1`, `whisper-large-v3-turbo`...
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub proxy: Option<String>,
}

/// A [`Transcriber`] for one endpoint.
pub struct Whisper {
    client: picoclaw_http::Client,
    url: String,
    auth: Option<String>,
    model: String,
}

impl Whisper {
    pub fn new(opts: &TranscriptionOptions) -> Result<Whisper, ProviderError> {
        if let Some(key) = &opts.api_key {
            picoclaw_core::redact::register(key);
        }
        let client = picoclaw_http::Client::new(&picoclaw_http::HttpOptions {
            connect_timeout: opts.timeout.min(Duration::from_secs(10)),
            timeout: opts.timeout,
            proxy: opts.proxy.clone(),
            ..picoclaw_http::HttpOptions::default()
        })
        .map_err(|e| ProviderError::Request {
            status: 0,
            message: format!("transcription: {e}"),
        })?;
        Ok(Whisper {
            client,
            url: format!(
                "{}/audio/transcriptions",
                opts.base_url.trim_end_matches('/')
            ),
            auth: opts
                .api_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .map(|k| format!("Bearer {k}")),
            model: opts.model.clone(),
        })
    }
}

#[derive(serde::Deserialize)]
struct Answer {
    text: String,
}

impl Transcriber for Whisper {
    fn transcribe(
        &self,
        mut audio: std::fs::File,
        len: u64,
        name: &str,
    ) -> Result<String, ProviderError> {
        let form = Multipart::new()
            .text("model", &self.model)
            .text("response_format", "json");
        let content_type = form.content_type();
        let (mut body, total) = form.file(
            "file",
            name,
            picoclaw_http::guess_mime(name),
            &mut audio,
            len,
        );
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(1);
        if let Some(auth) = &self.auth {
            headers.push(("authorization", auth));
        }
        let resp = self
            .client
            .post_reader(&self.url, &headers, &content_type, &mut body, total, None)
            .map_err(status::from_http)?;
        if !resp.is_success() {
            return Err(status::classify(&resp));
        }
        let answer: Answer = status::decode(&resp.body)?;
        Ok(answer.text.trim().to_string())
    }
}
