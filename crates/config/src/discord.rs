//! `[channels.discord]`: the Gateway WebSocket channel.

use std::fmt::Write;
use std::time::Duration;

use picoclaw_agent::DmPolicy;
use picoclaw_channels::discord::{DEFAULT_API_BASE, DEFAULT_GATEWAY_TIMEOUT};
use serde::Deserialize;

use crate::access;
use crate::ctx::Ctx;
use crate::raw::IdOrName;
use crate::render::{list, q, secret};
use crate::secret::is_env_only;
use crate::{ConfigError, Secret, SecretSource};

const T: &str = "channels.discord";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiscord {
    pub enabled: Option<bool>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub api_base: Option<String>,
    pub proxy: Option<String>,
    pub allow_from: Option<Vec<IdOrName>>,
    pub allow_guilds: Option<Vec<IdOrName>>,
    pub allow_channels: Option<Vec<IdOrName>>,
    pub mention_only: Option<bool>,
    pub gateway_timeout_secs: Option<u64>,
    pub dm_policy: Option<String>,
    pub owners: Option<Vec<IdOrName>>,
}

#[derive(Debug, Clone)]
pub struct DiscordConfig {
    pub token: Secret,
    pub token_source: SecretSource,
    pub api_base: String,
    pub proxy: Option<String>,
    /// User ids (snowflakes), or `*`.
    pub allow_from: Vec<String>,
    /// What a direct message from anyone else gets.
    pub dm_policy: DmPolicy,
    /// User ids with the owner role.
    pub owners: Vec<String>,
    /// Guild ids; empty is every guild the bot is in.
    pub allow_guilds: Vec<String>,
    /// Channel ids; empty is every channel.
    pub allow_channels: Vec<String>,
    pub mention_only: bool,
    pub gateway_timeout: Duration,
}

/// Snowflake ids, written as numbers or strings of digits; `star` also
/// accepts `"*"`.
fn ids(
    ctx: &Ctx<'_>,
    name: &str,
    raw: Option<Vec<IdOrName>>,
    what: &str,
    star: bool,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in raw.unwrap_or_default().into_iter().enumerate() {
        out.push(match entry {
            IdOrName::Id(id) if id > 0 => id.to_string(),
            IdOrName::Name(n) if star && n == "*" => n,
            IdOrName::Name(n)
                if !n.is_empty() && n.len() <= 20 && n.chars().all(|c| c.is_ascii_digit()) =>
            {
                n
            }
            other => {
                let shown = match other {
                    IdOrName::Id(id) => id.to_string(),
                    IdOrName::Name(n) => format!("{n:?}"),
                };
                let or_star = if star { " (or \"*\" for everyone)" } else { "" };
                return Err(ctx.invalid(
                    &format!("{T}.{name}[{i}]"),
                    format!(
                        "{shown} is not a Discord {what} id{or_star}; copy it with Developer \
                         Mode on (User Settings → Advanced), right-click → Copy ID"
                    ),
                ));
            }
        });
    }
    Ok(out)
}

/// `None` when the section is absent or `enabled = false`.
pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<RawDiscord>,
) -> Result<Option<DiscordConfig>, ConfigError> {
    let d = match raw {
        Some(d) if d.enabled.unwrap_or(true) => d,
        _ => return Ok(None),
    };
    let (token, token_source) = ctx
        .secret(T, "token", d.token.as_deref(), d.token_file.as_deref())?
        .ok_or_else(|| {
            ctx.invalid(
                "channels.discord.token",
                "missing: set token (or token_file, or token = \"${DISCORD_BOT_TOKEN}\"), or enabled = false",
            )
        })?;
    let api_base = ctx.url(
        "channels.discord.api_base",
        d.api_base.unwrap_or_else(|| String::from(DEFAULT_API_BASE)),
    )?;
    let allow_from = ids(ctx, "allow_from", d.allow_from, "user", true)?;
    let dm_policy = access::dm_policy(ctx, T, d.dm_policy.as_deref(), &allow_from)?;
    Ok(Some(DiscordConfig {
        token,
        token_source,
        api_base,
        proxy: d.proxy.filter(|p| !p.is_empty()),
        allow_from,
        dm_policy,
        owners: ids(ctx, "owners", d.owners, "user", false)?,
        allow_guilds: ids(ctx, "allow_guilds", d.allow_guilds, "server (guild)", false)?,
        allow_channels: ids(ctx, "allow_channels", d.allow_channels, "channel", false)?,
        mention_only: d.mention_only.unwrap_or(true),
        gateway_timeout: ctx.secs(
            "channels.discord.gateway_timeout_secs",
            d.gateway_timeout_secs,
            DEFAULT_GATEWAY_TIMEOUT,
            1,
            120,
        )?,
    }))
}

/// The key of an inline (not `${ENV}`) token, for the permission check.
pub(crate) fn inline_secret(raw: &RawDiscord) -> Option<String> {
    (raw.enabled.unwrap_or(true) && raw.token.as_deref().is_some_and(|v| !is_env_only(v)))
        .then(|| format!("{T}.token"))
}

pub(crate) fn render(d: &Option<DiscordConfig>, o: &mut String) {
    let Some(d) = d else {
        let _ = writeln!(o, "[{T}]\nenabled = false\n");
        return;
    };
    let _ = writeln!(
        o,
        "[{T}]\nenabled = true\ntoken = {}",
        secret(&d.token, d.token_source)
    );
    let _ = writeln!(o, "api_base = {}", q(&d.api_base));
    if let Some(p) = &d.proxy {
        let _ = writeln!(o, "proxy = {}", q(p));
    }
    let _ = writeln!(o, "allow_from = {}", list(&d.allow_from, true));
    access::render_people(d.dm_policy, &d.owners, o);
    let _ = writeln!(o, "allow_guilds = {}", list(&d.allow_guilds, true));
    let _ = writeln!(o, "allow_channels = {}", list(&d.allow_channels, true));
    let _ = writeln!(o, "mention_only = {}", d.mention_only);
    let _ = writeln!(
        o,
        "gateway_timeout_secs = {}\n",
        d.gateway_timeout.as_secs()
    );
}
