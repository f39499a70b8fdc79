//! The file's top level as written: every field optional, unknown keys
//! rejected. Each section's own raw struct lives in its section's module,
//! beside the code that resolves it and every default it applies.

use serde::Deserialize;

use crate::agent::RawAgent;
use crate::audit::RawAudit;
use crate::discord::RawDiscord;
use crate::heartbeat::RawHeartbeat;
use crate::http::RawHttp;
use crate::mcp::RawMcp;
use crate::media::{RawMedia, RawTranscription};
use crate::providers::RawProvider;
use crate::sandbox::RawSandbox;
use crate::scheduler::RawScheduler;
use crate::skills::RawSkills;
use crate::store::{RawLog, RawStore};
use crate::telegram::RawTelegram;
use crate::tools::RawTools;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub agent: Option<RawAgent>,
    pub store: Option<RawStore>,
    pub log: Option<RawLog>,
    pub audit: Option<RawAudit>,
    pub http: Option<RawHttp>,
    pub channels: Option<RawChannels>,
    pub providers: Option<Vec<RawProvider>>,
    pub tools: Option<RawTools>,
    pub sandbox: Option<RawSandbox>,
    pub scheduler: Option<RawScheduler>,
    pub heartbeat: Option<RawHeartbeat>,
    pub mcp: Option<RawMcp>,
    pub skills: Option<RawSkills>,
    pub media: Option<RawMedia>,
    pub transcription: Option<RawTranscription>,
}

/// `[channels.*]`: one optional table per chat network.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannels {
    pub telegram: Option<RawTelegram>,
    pub discord: Option<RawDiscord>,
}

/// User ids are numbers on Telegram; usernames are strings. TOML arrays may
/// mix them, so both are accepted.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum IdOrName {
    Id(i64),
    Name(String),
}
