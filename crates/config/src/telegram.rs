//! `[channels.telegram]`: the Bot API long-poll channel.

use std::fmt::Write;
use std::time::Duration;

use picoclaw_agent::DmPolicy;
use picoclaw_channels::telegram::{DEFAULT_API_BASE, DEFAULT_POLL_TIMEOUT};
use serde::Deserialize;

use crate::access;
use crate::ctx::Ctx;
use crate::raw::IdOrName;
use crate::render::{list, q, secret};
use crate::secret::is_env_only;
use crate::{ConfigError, Secret, SecretSource};

const T: &str = "channels.telegram";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelegram {
    pub enabled: Option<bool>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub api_base: Option<String>,
    pub proxy: Option<String>,
    pub allow_from: Option<Vec<IdOrName>>,
    pub group_trigger: Option<String>,
    pub poll_timeout_secs: Option<u64>,
    pub dm_policy: Option<String>,
    pub owners: Option<Vec<IdOrName>>,
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    pub token: Secret,
    pub token_source: SecretSource,
    pub api_base: String,
    pub proxy: Option<String>,
    /// Numeric ids, `@usernames`, or `*`.
    pub allow_from: Vec<String>,
    /// What a direct message from anyone else gets.
    pub dm_policy: DmPolicy,
    /// Numeric ids with the owner role.
    pub owners: Vec<String>,
    pub group_trigger: Option<String>,
    pub poll_timeout: Duration,
}

/// `None` when the section is absent or `enabled = false`.
pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<RawTelegram>,
) -> Result<Option<TelegramConfig>, ConfigError> {
    let t = match raw {
        Some(t) if t.enabled.unwrap_or(true) => t,
        _ => return Ok(None),
    };
    let (token, token_source) = ctx
        .secret(T, "token", t.token.as_deref(), t.token_file.as_deref())?
        .ok_or_else(|| {
            ctx.invalid(
                "channels.telegram.token",
                "missing: set token (or token_file, or token = \"${TELEGRAM_BOT_TOKEN}\"), or enabled = false",
            )
        })?;
    let api_base = ctx.url(
        "channels.telegram.api_base",
        t.api_base.unwrap_or_else(|| String::from(DEFAULT_API_BASE)),
    )?;
    let mut allow_from = Vec::new();
    for (i, entry) in t.allow_from.unwrap_or_default().into_iter().enumerate() {
        let key = format!("{T}.allow_from[{i}]");
        allow_from.push(match entry {
            IdOrName::Id(id) => id.to_string(),
            IdOrName::Name(n) if n == "*" => n,
            IdOrName::Name(n) if n.starts_with('@') && n.len() > 1 => n,
            IdOrName::Name(n) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => n,
            IdOrName::Name(n) => {
                return Err(ctx.invalid(
                    &key,
                    format!(
                    "{n:?} is neither a numeric user id nor an @username (or \"*\" for everyone)"
                ),
                ))
            }
        });
    }
    let dm_policy = access::dm_policy(ctx, T, t.dm_policy.as_deref(), &allow_from)?;
    Ok(Some(TelegramConfig {
        token,
        token_source,
        api_base,
        proxy: t.proxy.filter(|p| !p.is_empty()),
        allow_from,
        dm_policy,
        owners: access::owners(ctx, T, t.owners)?,
        group_trigger: t.group_trigger.filter(|g| !g.trim().is_empty()),
        poll_timeout: ctx.secs(
            "channels.telegram.poll_timeout_secs",
            t.poll_timeout_secs,
            DEFAULT_POLL_TIMEOUT,
            1,
            50,
        )?,
    }))
}

/// The key of an inline (not `${ENV}`) token, for the permission check.
pub(crate) fn inline_secret(raw: &RawTelegram) -> Option<String> {
    (raw.enabled.unwrap_or(true) && raw.token.as_deref().is_some_and(|v| !is_env_only(v)))
        .then(|| format!("{T}.token"))
}

pub(crate) fn render(t: &Option<TelegramConfig>, o: &mut String) {
    let Some(t) = t else {
        let _ = writeln!(o, "[{T}]\nenabled = false\n");
        return;
    };
    let _ = writeln!(
        o,
        "[{T}]\nenabled = true\ntoken = {}",
        secret(&t.token, t.token_source)
    );
    let _ = writeln!(o, "api_base = {}", q(&t.api_base));
    if let Some(p) = &t.proxy {
        let _ = writeln!(o, "proxy = {}", q(p));
    }
    let _ = writeln!(o, "allow_from = {}", list(&t.allow_from, true));
    access::render_people(t.dm_policy, &t.owners, o);
    if let Some(g) = &t.group_trigger {
        let _ = writeln!(o, "group_trigger = {}", q(g));
    }
    let _ = writeln!(o, "poll_timeout_secs = {}\n", t.poll_timeout.as_secs());
}
