//! `[media]` (files received from and sent to chats) and `[transcription]`
//! (speech to text for voice notes).

use std::fmt::Write;
use std::time::Duration;

use picoclaw_agent::MediaOptions;
use picoclaw_providers::TranscriptionOptions;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::{q, secret};
use crate::secret::is_env_only;
use crate::{ConfigError, Secret, SecretSource};

const M: &str = "media";
const T: &str = "transcription";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMedia {
    pub max_file_bytes: Option<u64>,
    pub photo_max_side: Option<u32>,
    pub photo_max_bytes: Option<u64>,
    pub send_files: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTranscription {
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub timeout_secs: Option<u64>,
    pub proxy: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub max_file_bytes: u64,
    pub photo_max_side: u32,
    pub photo_max_bytes: u64,
    pub send_files: bool,
}

impl MediaConfig {
    /// The agent's options; the caller adds what is not config (vision,
    /// owner, transcriber).
    pub fn options(&self) -> MediaOptions {
        MediaOptions {
            max_file_bytes: self.max_file_bytes,
            photo_max_side: self.photo_max_side,
            photo_max_bytes: self.photo_max_bytes,
            send_files: self.send_files,
            ..MediaOptions::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct TranscriptionConfig {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub api_key_source: Option<SecretSource>,
    pub timeout: Duration,
    pub proxy: Option<String>,
}

impl TranscriptionConfig {
    pub fn options(&self) -> TranscriptionOptions {
        TranscriptionOptions {
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            api_key: self.api_key.as_ref().map(|k| k.expose().to_string()),
            timeout: self.timeout,
            proxy: self.proxy.clone(),
        }
    }
}

const DEFAULT_TRANSCRIPTION_URL: &str = "https://api.openai.com/v1";
const DEFAULT_TRANSCRIPTION_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawMedia>) -> Result<MediaConfig, ConfigError> {
    let m = raw.unwrap_or_default();
    let d = MediaOptions::default();
    let k = |name: &str| format!("{M}.{name}");
    Ok(MediaConfig {
        max_file_bytes: ctx.range(
            &k("max_file_bytes"),
            m.max_file_bytes,
            d.max_file_bytes,
            1_024,
            2 << 30,
        )?,
        photo_max_side: ctx.range(
            &k("photo_max_side"),
            m.photo_max_side,
            d.photo_max_side,
            64,
            10_000,
        )?,
        photo_max_bytes: ctx.range(
            &k("photo_max_bytes"),
            m.photo_max_bytes,
            d.photo_max_bytes,
            1_024,
            20 << 20,
        )?,
        send_files: m.send_files.unwrap_or(d.send_files),
    })
}

/// `None` when no model is set: voice notes are saved, not transcribed.
pub(crate) fn resolve_transcription(
    ctx: &Ctx<'_>,
    raw: Option<RawTranscription>,
) -> Result<Option<TranscriptionConfig>, ConfigError> {
    let Some(t) = raw else {
        return Ok(None);
    };
    let k = |name: &str| format!("{T}.{name}");
    let model = match t.model {
        Some(m) if !m.trim().is_empty() => m,
        _ if t.base_url.is_some() || t.api_key.is_some() || t.api_key_file.is_some() => {
            return Err(ctx.invalid(
                &k("model"),
                "missing: set the transcription model, e.g. model = \"whisper-1\"",
            ))
        }
        _ => return Ok(None),
    };
    let base_url = ctx.url(
        &k("base_url"),
        t.base_url
            .unwrap_or_else(|| DEFAULT_TRANSCRIPTION_URL.to_string()),
    )?;
    let key = ctx.secret(
        T,
        "api_key",
        t.api_key.as_deref(),
        t.api_key_file.as_deref(),
    )?;
    Ok(Some(TranscriptionConfig {
        base_url,
        model,
        api_key_source: key.as_ref().map(|(_, s)| *s),
        api_key: key.map(|(s, _)| s),
        timeout: ctx.secs(
            &k("timeout_secs"),
            t.timeout_secs,
            DEFAULT_TRANSCRIPTION_TIMEOUT,
            1,
            3_600,
        )?,
        proxy: t.proxy.filter(|p| !p.is_empty()),
    }))
}

/// The key of an inline (not `${ENV}`) transcription key, for the
/// permission check.
pub(crate) fn inline_secret(raw: &RawTranscription) -> Option<String> {
    let key = raw.api_key.as_deref()?;
    (!is_env_only(key)).then(|| format!("{T}.api_key"))
}

pub(crate) fn render(m: &MediaConfig, t: &Option<TranscriptionConfig>, o: &mut String) {
    let _ = writeln!(
        o,
        "[{M}]\nmax_file_bytes = {}\nphoto_max_side = {}\nphoto_max_bytes = {}\nsend_files = {}\n",
        m.max_file_bytes, m.photo_max_side, m.photo_max_bytes, m.send_files
    );
    let Some(t) = t else {
        return;
    };
    let _ = writeln!(
        o,
        "[{T}]\nbase_url = {}\nmodel = {}",
        q(&t.base_url),
        q(&t.model)
    );
    if let (Some(k), Some(s)) = (&t.api_key, t.api_key_source) {
        let _ = writeln!(o, "api_key = {}", secret(k, s));
    }
    let _ = writeln!(o, "timeout_secs = {}", t.timeout.as_secs());
    if let Some(p) = &t.proxy {
        let _ = writeln!(o, "proxy = {}", q(p));
    }
    o.push('\n');
}
