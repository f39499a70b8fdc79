//! The file as written: every field optional, unknown keys rejected. Turned
//! into [`crate::Config`] by `resolve`, which holds every default.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub agent: Option<RawAgent>,
    pub store: Option<RawStore>,
    pub log: Option<RawLog>,
    pub channels: Option<RawChannels>,
    pub providers: Option<Vec<RawProvider>>,
    pub tools: Option<RawTools>,
    pub sandbox: Option<RawSandbox>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub workspace: Option<String>,
    pub max_tool_iterations: Option<u32>,
    pub context_window: Option<u32>,
    pub max_history_messages: Option<u32>,
    pub tool_result_max_bytes: Option<u32>,
    pub group_sessions_per_user: Option<bool>,
    pub system_prompt: Option<String>,
    pub shutdown_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub dir: Option<String>,
    pub cache_size_kib: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannels {
    pub telegram: Option<RawTelegram>,
}

/// Telegram user ids are numbers; usernames are strings. TOML arrays may
/// mix them, so both are accepted.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IdOrName {
    Id(i64),
    Name(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelegram {
    pub enabled: Option<bool>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub api_base: Option<String>,
    pub proxy: Option<String>,
    pub allow_from: Option<Vec<IdOrName>>,
    pub group_trigger: Option<String>,
    pub poll_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    pub proxy: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTools {
    pub exec: Option<RawExec>,
    pub files: Option<RawFiles>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExec {
    pub enabled: Option<bool>,
    pub timeout_secs: Option<u64>,
    pub max_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFiles {
    pub enabled: Option<bool>,
    pub max_read_bytes: Option<u64>,
    pub max_write_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    pub mode: Option<String>,
    pub backend: Option<String>,
    pub tool_user: Option<IdOrName>,
    pub allow_net_ports: Option<Vec<u16>>,
    pub extra_read_paths: Option<Vec<String>>,
    pub cpu_secs: Option<u64>,
    pub memory_mib: Option<u64>,
    pub file_size_mib: Option<u64>,
    pub max_processes: Option<u64>,
    pub max_open_files: Option<u64>,
    pub output_limit_kib: Option<u64>,
}
