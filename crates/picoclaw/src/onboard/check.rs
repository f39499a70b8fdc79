//! Onboarding's key checks: each key is tried against the endpoint it is
//! for, once, with a short deadline. A refused key stops onboarding (or
//! asks again); an endpoint that cannot be reached is said and skipped,
//! so onboarding works offline.

use std::time::Duration;

use picoclaw_channels::discord::{Discord, DiscordOptions};
use picoclaw_channels::telegram::{Telegram, TelegramOptions};
use picoclaw_core::ChannelError;
use picoclaw_http::{Client, HttpOptions};

use super::Answers;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The endpoint accepted the key; the text says what it answered.
    Accepted(String),
    /// The endpoint refused it.
    Rejected(String),
    /// No answer about the key (offline, no model list there).
    Unchecked(String),
}

const DEADLINE: Duration = Duration::from_secs(10);

/// The provider key (or a keyless local server) against its model list:
/// `GET {base}/models` (OpenAI-compatible) or `GET {base}/v1/models`
/// (Anthropic).
pub fn provider(a: &Answers) -> Verdict {
    let http = HttpOptions {
        connect_timeout: Duration::from_secs(5),
        timeout: DEADLINE,
        ..HttpOptions::default()
    };
    let client = match Client::new(&http) {
        Ok(c) => c,
        Err(e) => return Verdict::Unchecked(format!("no HTTP client: {e}")),
    };
    let key = a.api_key.as_deref().unwrap_or_default();
    let auth = format!("Bearer {key}");
    let (url, headers): (String, Vec<(&str, &str)>) = if a.preset.anthropic {
        (
            format!("{}/v1/models", a.base_url),
            vec![("x-api-key", key), ("anthropic-version", "2023-06-01")],
        )
    } else if key.is_empty() {
        (format!("{}/models", a.base_url), Vec::new())
    } else {
        (
            format!("{}/models", a.base_url),
            vec![("authorization", auth.as_str())],
        )
    };
    let resp = match client.get_with(&url, &headers, Some(DEADLINE)) {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Unchecked(format!(
                "cannot reach {} ({e}); the key was not checked",
                a.base_url
            ))
        }
    };
    match resp.status {
        200..=299 => {
            let listed = model_ids(&resp.body);
            let mut text = format!(
                "{} answered: {} model(s) available",
                a.base_url,
                listed.len()
            );
            if !listed.is_empty() && !listed.iter().any(|m| m == &a.model) {
                text.push_str(&format!(
                    "; {:?} is not among them{}",
                    a.model,
                    if a.preset.name == "ollama" {
                        format!(" (run `ollama pull {}`)", a.model)
                    } else {
                        String::from(" (check the model name)")
                    }
                ));
            }
            Verdict::Accepted(text)
        }
        401 | 403 => Verdict::Rejected(format!(
            "{} refused the key (HTTP {}: {})",
            a.base_url,
            resp.status,
            resp.body_snippet()
        )),
        other => Verdict::Unchecked(format!(
            "{url} answered HTTP {other}; the key was not checked"
        )),
    }
}

/// `data[].id` of a model list, either vendor's shape.
fn model_ids(body: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v.get("data")
        .and_then(|d| d.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|m| m.get("id").and_then(|i| i.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The Telegram token with `getMe`.
pub fn telegram(token: &str, api_base: &str) -> Verdict {
    let mut o = TelegramOptions::new(token);
    o.api_base = api_base.to_string();
    channel(Telegram::connect(o).map(|t| format!("bot @{}", t.bot_username())))
}

/// The Discord token with `GET /users/@me`.
pub fn discord(token: &str, api_base: &str) -> Verdict {
    let mut o = DiscordOptions::new(token);
    o.api_base = api_base.to_string();
    channel(Discord::connect(o).map(|d| format!("bot {}", d.bot_username())))
}

fn channel(r: Result<String, ChannelError>) -> Verdict {
    match r {
        Ok(who) => Verdict::Accepted(format!("token accepted, {who}")),
        Err(ChannelError::Fatal(m)) => Verdict::Rejected(m),
        Err(e) => Verdict::Unchecked(format!(
            "cannot reach the API right now ({e}); the token was not checked"
        )),
    }
}
